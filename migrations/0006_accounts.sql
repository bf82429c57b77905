-- +up
-- Account part of API-ROOMS.md: avatar, settings, video profiles, and the
-- record of deleted accounts (the only thing kept of them: the id).
ALTER TABLE users ADD COLUMN avatar_url text NOT NULL DEFAULT ''
    CHECK (octet_length(avatar_url) <= 512);

-- One row once a user changed a setting; absent means every default.
CREATE TABLE user_settings (
    user_id              uuid PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    microphone_on_join   boolean NOT NULL DEFAULT true,
    camera_on_join       boolean NOT NULL DEFAULT true,
    video_quality        text NOT NULL DEFAULT 'auto'
        CHECK (video_quality IN ('auto','1080p','720p','480p','360p')),
    theme                text NOT NULL DEFAULT 'system' CHECK (theme IN ('system','light','dark')),
    language             text NOT NULL DEFAULT 'en' CHECK (language IN ('en','ru')),
    camera_device_id     text NOT NULL DEFAULT '' CHECK (octet_length(camera_device_id) <= 256),
    microphone_device_id text NOT NULL DEFAULT '' CHECK (octet_length(microphone_device_id) <= 256),
    speaker_device_id    text NOT NULL DEFAULT '' CHECK (octet_length(speaker_device_id) <= 256),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE video_profiles (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id              uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name                 text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 40),
    background           text NOT NULL CHECK (background IN ('none','blur','image')),
    background_image_url text NOT NULL DEFAULT '' CHECK (octet_length(background_image_url) <= 512),
    noise_suppression    text NOT NULL CHECK (noise_suppression IN ('off','low','medium','high')),
    is_default           boolean NOT NULL DEFAULT false,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CHECK (background <> 'image' OR background_image_url <> '')
);
CREATE INDEX video_profiles_user_idx ON video_profiles (user_id, created_at);
-- at most one default per account
CREATE UNIQUE INDEX video_profiles_default_key ON video_profiles (user_id) WHERE is_default;

-- GET /auth/sessions: last_used_at is the newest refresh token of a
-- session, one index descent with this (a long-lived session has thousands
-- of rotated tokens).
CREATE INDEX refresh_tokens_session_created_idx ON refresh_tokens (session_id, created_at);

-- Outbox of the account-deleted event: written in the transaction that
-- deletes the user, published after the commit and again by a periodic
-- task until a publish succeeded. Holds no personal data.
CREATE TABLE account_deletions (
    user_id      uuid PRIMARY KEY,
    deleted_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX account_deletions_pending_idx ON account_deletions (deleted_at)
    WHERE published_at IS NULL;
-- +down
DROP TABLE account_deletions;
DROP INDEX refresh_tokens_session_created_idx;
DROP TABLE video_profiles;
DROP TABLE user_settings;
ALTER TABLE users DROP COLUMN avatar_url;
