-- +up
CREATE TABLE rooms (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name             text NOT NULL,
    status           text NOT NULL DEFAULT 'active' CHECK (status IN ('pending','active','ended')),
    owner_user_id    uuid NOT NULL,
    max_participants integer NOT NULL,
    empty_timeout    integer NOT NULL,
    metadata         text NOT NULL DEFAULT '',
    livekit_room     text NOT NULL UNIQUE,
    created_at       timestamptz NOT NULL DEFAULT now(),
    ended_at         timestamptz,
    -- LiveKit DeleteRoom still owed after an end whose call failed
    livekit_delete_pending boolean NOT NULL DEFAULT false
);
CREATE INDEX rooms_owner_created_idx ON rooms (owner_user_id, created_at DESC);
CREATE INDEX rooms_active_idx ON rooms (created_at) WHERE status = 'active';
-- +down
DROP TABLE rooms;
