-- +up
-- The visit trigger looks up an identity's latest visit joined before a
-- leave (a leave without its session's visit: ORDER BY joined_at DESC,
-- id DESC LIMIT 1). With the index on (room_id, identity, joined_at) only
-- visits_room_idx (room_id, joined_at DESC, id DESC) gives that order, and
-- a plan made while the table had no statistics walked it: every visit of
-- the room read, filtered on the identity (measured in the webhook bench:
-- 2.8 million index entries read for 1,309 leaves, groups of 9 rows taking
-- 13 ms, ingest falling from 3,300 to 1,500 events/s as the room grew). This
-- index gives the order for one identity, so that lookup is one short range
-- scan whatever the statistics say; the other lookups by (room, identity[,
-- joined_at]) use it as they used the old one.
CREATE INDEX visits_identity_newest_idx ON visits (room_id, identity, joined_at DESC, id DESC);
DROP INDEX visits_identity_idx;

-- +down
CREATE INDEX visits_identity_idx ON visits (room_id, identity, joined_at);
DROP INDEX visits_identity_newest_idx;
