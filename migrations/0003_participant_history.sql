-- +up
-- Append-only history of joins and leaves from LiveKit webhooks. event_id is
-- LiveKit's event id, so a repeated delivery is not stored twice.
CREATE TABLE participant_events (
    event_id      text PRIMARY KEY,
    livekit_room  text NOT NULL,
    room_id       uuid,
    event         text NOT NULL,
    identity      text NOT NULL DEFAULT '',
    participant_sid text NOT NULL DEFAULT '',
    name          text NOT NULL DEFAULT '',
    occurred_at   timestamptz NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX participant_events_room_idx ON participant_events (livekit_room, occurred_at);
-- +down
DROP TABLE participant_events;
