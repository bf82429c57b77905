-- bench/history-data.sql: the generated data of the history benchmark
-- (issue 18), shared by bench/history.sh (SQL only) and
-- bench/history-http.mjs (through the gateway). psql variables:
--   user_id     the user with n_user visits (one visit per room, every 17 min)
--   room_id     the room with n_room visits (guests, one every second)
--   audit_room  the room with n_audit audit entries
--   n_user, n_room, n_audit
-- Plus n_room visits of other users in other rooms and n_audit / 10 audit
-- entries of 1,000 other rooms, newer than the audited room's, so that the
-- indexes are not single-key and a plan that walks the primary key (newest
-- first) and filters on the room would have to skip them; and one
-- history_rooms row per room the user visited, so the LEFT JOIN finds one.
-- Run as a superuser (the stores' postgres user): the per-row triggers are
-- skipped for the bulk load (session_replication_role) and the room's
-- totals are set here instead.
\set ON_ERROR_STOP 1
SET session_replication_role = replica;
DELETE FROM visits WHERE user_id = :'user_id' OR room_id = :'room_id' OR participant_sid LIKE 'PA_bg%';
DELETE FROM audit_entries WHERE room_id = :'audit_room' OR event_id LIKE 'bench-bg-%';
DELETE FROM history_rooms WHERE name = 'Bench room';
-- background: other users and rooms
INSERT INTO visits (room_id, identity, participant_sid, user_id, name, role, joined_at, left_at, leave_reason, closed_by)
SELECT gen_random_uuid(), 'u' || g, 'PA_bg' || g, gen_random_uuid(), 'Someone', 'participant',
       now() - (g || ' minutes')::interval, now() - (g || ' minutes')::interval + interval '20 minutes', 'left', 'event'
FROM generate_series(1, :n_room) g;
-- the user: one visit per room, spread over the last months
INSERT INTO history_rooms (room_id, owner_user_id, name, participants, total_seconds)
SELECT md5(:'user_id' || '-' || g)::uuid, gen_random_uuid(), 'Bench room', 2, 3600
FROM generate_series(1, :n_user) g;
INSERT INTO visits (room_id, identity, participant_sid, user_id, name, role, joined_at, left_at, leave_reason, closed_by)
SELECT md5(:'user_id' || '-' || g)::uuid, :'user_id', 'PA_u' || g, :'user_id', 'Bench User', 'participant',
       now() - (g * 17 || ' minutes')::interval, now() - (g * 17 || ' minutes')::interval + interval '30 minutes', 'left', 'event'
FROM generate_series(1, :n_user) g;
-- the big room
INSERT INTO visits (room_id, identity, participant_sid, user_id, name, role, joined_at, left_at, leave_reason, closed_by)
SELECT :'room_id', 'guest-' || g, 'PA_r' || g, NULL, 'Guest ' || g, 'guest',
       now() - (g || ' seconds')::interval, now() - (g || ' seconds')::interval + interval '5 minutes', 'left', 'event'
FROM generate_series(1, :n_room) g;
INSERT INTO history_rooms (room_id, owner_user_id, name, participants, total_seconds)
VALUES (:'room_id', :'user_id', 'Big room', :n_room, :n_room * 300)
ON CONFLICT (room_id) DO UPDATE SET participants = EXCLUDED.participants, total_seconds = EXCLUDED.total_seconds;
-- the audited room
INSERT INTO audit_entries (room_id, event_id, at, actor_identity, actor_user_id, actor_name, action, target)
SELECT :'audit_room', 'bench-' || g, now() - ((:n_audit - g) || ' seconds')::interval, '', :'user_id', 'Host',
       (ARRAY['room.updated','participant.muted','participant.removed','invite.created'])[1 + g % 4], 'guest-' || (g % 500)
FROM generate_series(1, :n_audit) g;
-- other rooms' entries, after (so newer than) the audited room's
INSERT INTO audit_entries (room_id, event_id, at, actor_identity, actor_user_id, actor_name, action, target)
SELECT md5('bench-bg-room-' || (g % 1000))::uuid, 'bench-bg-' || g, now(), '', NULL, 'Host', 'room.updated', ''
FROM generate_series(1, :n_audit / 10) g;
SET session_replication_role = origin;
-- as a table in use would be: statistics and the visibility map up to
-- date, and no autovacuum of the bulk load running during the measurement
VACUUM (ANALYZE) visits, audit_entries, history_rooms;
