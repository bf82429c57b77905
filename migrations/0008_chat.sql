-- +up
-- Chat of API-ROOMS.md, owned by the rooms daemon. seq orders a room's
-- messages (cursor paging: the page before a message is seq < its seq);
-- a deleted message keeps its row (deleted_at, text erased) so a cursor
-- naming it still works, and is left out of every list. Deleting a room
-- (soft, rooms.deleted_at) deletes these rows in the same path; the
-- foreign keys also cascade a hard delete.
CREATE TABLE chat_messages (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    room_id         uuid NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    seq             bigint GENERATED ALWAYS AS IDENTITY,
    sender_identity text NOT NULL CHECK (char_length(sender_identity) BETWEEN 1 AND 64),
    sender_name     text NOT NULL,
    sender_role     text NOT NULL CHECK (sender_role IN ('host','moderator','participant','guest')),
    sender_user_id  uuid,           -- NULL for guests and once the account is deleted
    text            text NOT NULL CHECK (char_length(text) <= 4000),
    reply_to        uuid REFERENCES chat_messages(id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    edited_at       timestamptz,
    deleted_at      timestamptz
);
-- the page: latest live messages of a room older than a seq
CREATE INDEX chat_messages_room_seq_idx ON chat_messages (room_id, seq DESC)
    WHERE deleted_at IS NULL;
-- account deletion renames the sender of its messages
CREATE INDEX chat_messages_sender_user_idx ON chat_messages (sender_user_id)
    WHERE sender_user_id IS NOT NULL;

-- Signed-in users who were in a room (a participant_joined of their
-- identity, told by the webhook service's room event, or a room token of
-- theirs used on a chat route): they may read its chat with their access
-- token afterwards.
CREATE TABLE chat_readers (
    room_id  uuid NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id  uuid NOT NULL,
    since    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, user_id)
);

-- Accounts deleted (AccountDeleted events seen): a room token minted
-- before the deletion may still post until it expires; such a message is
-- stored as sent by "Deleted user" too. Holds only the id.
CREATE TABLE chat_deleted_users (
    user_id    uuid PRIMARY KEY,
    deleted_at timestamptz NOT NULL DEFAULT now()
);
-- +down
DROP TABLE chat_deleted_users;
DROP TABLE chat_readers;
DROP TABLE chat_messages;
