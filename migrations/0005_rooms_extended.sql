-- +up
-- API-ROOMS.md "Room, extended" and "Meeting codes" (issue 16).
ALTER TABLE rooms
    ADD COLUMN description      text NOT NULL DEFAULT '' CHECK (char_length(description) <= 500),
    ADD COLUMN code             text,
    ADD COLUMN access           text NOT NULL DEFAULT 'open' CHECK (access IN ('open','knock','invite')),
    ADD COLUMN locked           boolean NOT NULL DEFAULT false,
    ADD COLUMN scheduled_at     timestamptz,
    ADD COLUMN started_at       timestamptz,
    ADD COLUMN scheduled_end_at timestamptz,
    ADD COLUMN password_hash    text,          -- Argon2id (libsodium crypto_pwhash_str)
    ADD COLUMN deleted_at       timestamptz;   -- DELETE /rooms/{id}: gone for every route

-- Ten random lowercase letters. The rooms service draws its codes with
-- libsodium; this is for the rows that exist already and the default of a
-- row inserted by hand.
CREATE FUNCTION cx_random_room_code() RETURNS text LANGUAGE sql VOLATILE AS
$$ SELECT string_agg(chr(97 + floor(random() * 26)::int), '') FROM generate_series(1, 10) $$;

-- Rooms that exist already: started when created, and a code each
-- (retried on the rare collision).
UPDATE rooms SET started_at = created_at WHERE status <> 'pending';
DO $$
DECLARE
    r record;
    c text;
BEGIN
    FOR r IN SELECT id FROM rooms WHERE code IS NULL LOOP
        LOOP
            c := cx_random_room_code();
            EXIT WHEN NOT EXISTS (SELECT 1 FROM rooms WHERE code = c);
        END LOOP;
        UPDATE rooms SET code = c WHERE id = r.id;
    END LOOP;
END $$;
ALTER TABLE rooms ALTER COLUMN code SET NOT NULL,
    ALTER COLUMN code SET DEFAULT cx_random_room_code(),
    ADD CONSTRAINT rooms_code_format CHECK (code ~ '^[a-z]{10}$');
-- unique among rooms that are not deleted
CREATE UNIQUE INDEX rooms_code_live_key ON rooms (code) WHERE deleted_at IS NULL;
-- the sweeper's scheduled steps
CREATE INDEX rooms_pending_sched_idx ON rooms (scheduled_at) WHERE status = 'pending';
CREATE INDEX rooms_sched_end_idx ON rooms (scheduled_end_at)
    WHERE scheduled_end_at IS NOT NULL AND status <> 'ended';
-- +down
DROP INDEX rooms_sched_end_idx;
DROP INDEX rooms_pending_sched_idx;
DROP INDEX rooms_code_live_key;
ALTER TABLE rooms
    DROP CONSTRAINT rooms_code_format,
    DROP COLUMN deleted_at,
    DROP COLUMN password_hash,
    DROP COLUMN scheduled_end_at,
    DROP COLUMN started_at,
    DROP COLUMN scheduled_at,
    DROP COLUMN locked,
    DROP COLUMN access,
    DROP COLUMN code,
    DROP COLUMN description;
DROP FUNCTION cx_random_room_code();
