-- +up
-- API-ROOMS.md "Joining, extended", "Waiting room", "Invites", "Moderation"
-- (issue 17). Owned by the rooms service; media reads room_bans and
-- room_roles only to tell a plain open join (its fast path) from one that
-- rooms decides.

-- Invites: only the SHA-256 of the code is kept (the code is >= 128 random
-- bits, so a fast hash is enough; the code itself is shown once).
CREATE TABLE room_invites (
    id          uuid PRIMARY KEY,
    room_id     uuid NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    code_hash   bytea NOT NULL UNIQUE CHECK (octet_length(code_hash) = 32),
    label       text NOT NULL DEFAULT '' CHECK (char_length(label) <= 64),
    role        text NOT NULL DEFAULT 'participant' CHECK (role IN ('participant','moderator')),
    expires_at  timestamptz,
    max_uses    integer CHECK (max_uses BETWEEN 1 AND 10000),
    uses        integer NOT NULL DEFAULT 0 CHECK (uses >= 0),
    created_by  text NOT NULL DEFAULT '',          -- identity or user id of the creator
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CHECK (max_uses IS NULL OR uses <= max_uses)
);
CREATE INDEX room_invites_room_idx ON room_invites (room_id, created_at DESC);

-- Waiting entries of knock rooms.
CREATE TABLE room_waiting (
    id           uuid PRIMARY KEY,
    room_id      uuid NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    identity     text NOT NULL,
    name         text NOT NULL,
    user_id      uuid,
    role         text NOT NULL CHECK (role IN ('participant','guest')),
    status       text NOT NULL DEFAULT 'waiting'
                 CHECK (status IN ('waiting','approved','rejected','expired','left')),
    reason       text CHECK (char_length(reason) <= 200),
    requested_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    decided_at   timestamptz,
    answer       bytea                                -- the minted JoinReply, once polled
);
CREATE INDEX room_waiting_room_idx ON room_waiting (room_id, requested_at)
    WHERE status = 'waiting';

-- Bans: by identity and, for signed-in users, by account.
CREATE TABLE room_bans (
    room_id    uuid NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    identity   text NOT NULL,
    user_id    uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, identity)
);
CREATE INDEX room_bans_user_idx ON room_bans (room_id, user_id) WHERE user_id IS NOT NULL;

-- Roles given inside a room (promote/demote, moderator invites): they win
-- over the role in the participant's room token, and a later join of the
-- same account (identity = user id) keeps them.
CREATE TABLE room_roles (
    room_id  uuid NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    identity text NOT NULL,
    user_id  uuid,
    role     text NOT NULL CHECK (role IN ('moderator','participant')),
    PRIMARY KEY (room_id, identity)
);

-- Every moderation act, for the audit log of a later issue.
CREATE TABLE room_audit (
    id             bigserial PRIMARY KEY,
    room_id        uuid NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    at             timestamptz NOT NULL DEFAULT now(),
    actor_identity text,
    actor_user_id  uuid,
    actor_name     text NOT NULL DEFAULT '',
    action         text NOT NULL,
    target         text,
    details        jsonb
);
CREATE INDEX room_audit_room_idx ON room_audit (room_id, id DESC);
-- Whether a room has a password, readable without the hash (media's join
-- decides "gated or not" from it; only rooms may read password_hash).
ALTER TABLE rooms ADD COLUMN has_password boolean
    GENERATED ALWAYS AS (password_hash IS NOT NULL) STORED;

-- +down
ALTER TABLE rooms DROP COLUMN has_password;
DROP TABLE room_audit;
DROP TABLE room_roles;
DROP TABLE room_bans;
DROP TABLE room_waiting;
DROP TABLE room_invites;
