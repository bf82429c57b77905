-- +up
CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name          text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 64),
    email         text NOT NULL CHECK (octet_length(email) <= 254),
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (email);

-- One row per login; a refresh rotates the token inside the session
-- (version + 1). All tokens ever issued for a session are kept as hashes in
-- refresh_tokens so a reused, already rotated token is recognised and the
-- whole session (the family) is revoked.
CREATE TABLE sessions (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    version     bigint NOT NULL DEFAULT 1,
    client_ip   text NOT NULL DEFAULT '',
    user_agent  text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    revoke_reason text
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE refresh_tokens (
    token_hash  bytea PRIMARY KEY,           -- SHA-256 of the token, never the token
    session_id  uuid NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    version     bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    rotated_at  timestamptz                  -- set when superseded by the next one
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);
-- +down
DROP TABLE refresh_tokens;
DROP TABLE sessions;
DROP TABLE users;
