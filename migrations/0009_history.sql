-- +up
-- Call history, audit log and call quality (API-ROOMS.md "History, audit,
-- call quality"), owned by the webhook service. Nothing here reads the
-- rooms service's tables: what history needs of a room (owner, name, start,
-- end) is copied from the room events into history_rooms.

-- One row per room seen in a room event or a visit; totals kept by trigger
-- so GET /rooms/{id}/history never aggregates its visits.
CREATE TABLE history_rooms (
    room_id        uuid PRIMARY KEY,
    owner_user_id  uuid,
    name           text NOT NULL DEFAULT '',
    started_at     timestamptz,
    ended_at       timestamptz,
    participants   integer NOT NULL DEFAULT 0,
    total_seconds  bigint NOT NULL DEFAULT 0
);

-- Accounts deleted (from auth's AccountDeleted event): their name is
-- erased from history and stays erased for late rows.
CREATE TABLE history_deleted_users (
    user_id    uuid PRIMARY KEY,
    deleted_at timestamptz NOT NULL DEFAULT now()
);

-- A visit: one LiveKit participant session (room, identity, sid). joined_at
-- is NULL while only its leave is known (a reordered participant_left);
-- such a visit is not shown until its join arrives. closed_by: 'event' (a
-- leave said so) or 'inferred' (the identity joined again, or the room
-- ended); an explicit leave replaces an inferred end when it is earlier.
CREATE TABLE visits (
    id              bigserial PRIMARY KEY,
    room_id         uuid NOT NULL,
    identity        text NOT NULL,
    participant_sid text NOT NULL DEFAULT '',
    user_id         uuid,
    name            text NOT NULL DEFAULT '',
    role            text NOT NULL,
    joined_at       timestamptz,
    left_at         timestamptz,
    leave_reason    text CHECK (leave_reason IN ('left','removed','room_ended','disconnected')),
    closed_by       text CHECK (closed_by IN ('event','inferred'))
);
-- first page of GET /users/me/calls (newest first, keyset on joined_at, id)
CREATE INDEX visits_user_idx ON visits (user_id, joined_at DESC, id DESC)
    WHERE joined_at IS NOT NULL AND user_id IS NOT NULL;
-- first page of GET /rooms/{id}/history, and the trigger's lookups
CREATE INDEX visits_room_idx ON visits (room_id, joined_at DESC, id DESC);
CREATE INDEX visits_identity_idx ON visits (room_id, identity, joined_at);
CREATE UNIQUE INDEX visits_session_key ON visits (room_id, identity, participant_sid)
    WHERE participant_sid <> '';

-- distinct identities per room (the participants total)
CREATE TABLE history_room_people (
    room_id  uuid NOT NULL,
    identity text NOT NULL,
    PRIMARY KEY (room_id, identity)
);

-- Audit log, from the room events (one row per event id).
CREATE TABLE audit_entries (
    id             bigserial PRIMARY KEY,
    room_id        uuid NOT NULL,
    event_id       text NOT NULL UNIQUE,
    at             timestamptz NOT NULL,
    actor_identity text NOT NULL DEFAULT '',
    actor_user_id  uuid,
    actor_name     text NOT NULL DEFAULT '',
    action         text NOT NULL,
    target         text NOT NULL DEFAULT '',
    reason         text NOT NULL DEFAULT '',
    role           text NOT NULL DEFAULT ''
);
-- first page of GET /rooms/{id}/audit (newest first, keyset on id)
CREATE INDEX audit_entries_room_idx ON audit_entries (room_id, id DESC);
CREATE INDEX audit_entries_actor_idx ON audit_entries (actor_user_id) WHERE actor_user_id IS NOT NULL;

-- Call-quality samples (POST /rooms/{id}/stats).
CREATE TABLE call_stats (
    id              bigserial PRIMARY KEY,
    room_id         uuid NOT NULL,
    identity        text NOT NULL,
    user_id         uuid,
    name            text NOT NULL DEFAULT '',
    at              timestamptz NOT NULL DEFAULT now(),
    rtt_ms          double precision NOT NULL,
    jitter_ms       double precision NOT NULL,
    packet_loss_pct double precision NOT NULL,
    bitrate_kbps    integer
);
CREATE INDEX call_stats_room_idx ON call_stats (room_id, identity);
CREATE INDEX call_stats_user_idx ON call_stats (user_id) WHERE user_id IS NOT NULL;

-- erasing a deleted account's name in the raw rows
CREATE INDEX participant_events_identity_idx ON participant_events (identity);

-- Seconds a visit counts for (closed and joined), 0 otherwise.
CREATE FUNCTION history_visit_seconds(j timestamptz, l timestamptz) RETURNS bigint
    LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN j IS NULL OR l IS NULL THEN 0
                ELSE GREATEST(0, floor(extract(epoch FROM l - j)))::bigint END $$;

-- Keeps history_rooms.participants / total_seconds in step with visits.
CREATE FUNCTION history_totals_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    delta bigint;
    added integer := 0;
BEGIN
    delta := history_visit_seconds(NEW.joined_at, NEW.left_at);
    IF TG_OP = 'UPDATE' THEN
        delta := delta - history_visit_seconds(OLD.joined_at, OLD.left_at);
    END IF;
    -- a visit is counted once, when its start becomes known
    IF NEW.joined_at IS NOT NULL AND (TG_OP = 'INSERT' OR OLD.joined_at IS NULL) THEN
        INSERT INTO history_room_people (room_id, identity) VALUES (NEW.room_id, NEW.identity)
            ON CONFLICT DO NOTHING;
        IF FOUND THEN
            added := 1;
        END IF;
    END IF;
    IF delta <> 0 OR added <> 0 THEN
        INSERT INTO history_rooms (room_id, participants, total_seconds)
            VALUES (NEW.room_id, added, delta)
            ON CONFLICT (room_id) DO UPDATE
            SET participants = history_rooms.participants + added,
                total_seconds = history_rooms.total_seconds + delta;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER visits_totals AFTER INSERT OR UPDATE ON visits
    FOR EACH ROW EXECUTE FUNCTION history_totals_apply();

-- A deleted account's later rows are stored without its name.
CREATE FUNCTION history_event_erase() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.identity ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
       AND EXISTS (SELECT 1 FROM history_deleted_users WHERE user_id = NEW.identity::uuid) THEN
        NEW.name := 'Deleted user';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER participant_events_erase BEFORE INSERT ON participant_events
    FOR EACH ROW EXECUTE FUNCTION history_event_erase();

-- Builds visits from each stored participant event (AFTER INSERT: a
-- repeated delivery, skipped by ON CONFLICT (event_id), never gets here).
-- Rules (services/webhook/README.md "History"):
--  join: the session's visit if its leave came first (joined_at filled,
--        the earlier of two joins kept), else a new visit; the identity's
--        other visit still open when this one began is closed then
--        ('disconnected': LiveKit admits an identity once); a join older
--        than the identity's next visit is closed by that one; a join into
--        an ended room is closed at the room's end.
--  leave: the session's visit (by sid; without a sid the identity's latest
--        visit joined before the leave); its end becomes the leave unless
--        an earlier end is known; a leave without any visit and with a sid
--        is kept as a visit without joined_at until its join arrives.
CREATE FUNCTION history_visit_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v visits%ROWTYPE;
    uid uuid;
    ended timestamptz;
    nextj timestamptz;
    older_open boolean;
BEGIN
    IF NEW.room_id IS NULL OR NEW.identity = ''
       OR NEW.event NOT IN ('participant_joined', 'participant_left') THEN
        RETURN NULL;
    END IF;
    IF NEW.identity ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
        uid := NEW.identity::uuid;
    END IF;
    -- one visit-building transaction per identity at a time
    PERFORM pg_advisory_xact_lock(hashtextextended(NEW.room_id::text || '/' || NEW.identity, 0));
    IF NEW.participant_sid <> '' THEN
        SELECT * INTO v FROM visits WHERE room_id = NEW.room_id AND identity = NEW.identity
            AND participant_sid = NEW.participant_sid;
    END IF;

    IF NEW.event = 'participant_joined' THEN
        IF v.id IS NOT NULL THEN
            UPDATE visits SET joined_at = LEAST(COALESCE(joined_at, NEW.occurred_at), NEW.occurred_at),
                              -- GREATEST ignores NULLs: an open visit stays open
                              left_at = CASE WHEN left_at IS NULL THEN NULL
                                             ELSE GREATEST(left_at, LEAST(COALESCE(joined_at, NEW.occurred_at), NEW.occurred_at)) END,
                              name = CASE WHEN name = '' THEN NEW.name ELSE name END
                WHERE id = v.id;
            RETURN NULL;
        END IF;
        -- one probe for the rest: the room's end, the identity's next
        -- session after this one, and whether an older one is still open
        SELECT (SELECT ended_at FROM history_rooms WHERE room_id = NEW.room_id),
               min(o.joined_at) FILTER (WHERE o.joined_at > NEW.occurred_at),
               COALESCE(bool_or(o.joined_at < NEW.occurred_at AND (o.left_at IS NULL
                   OR (o.closed_by = 'inferred' AND o.left_at > NEW.occurred_at))), false)
            INTO ended, nextj, older_open
            FROM visits o WHERE o.room_id = NEW.room_id AND o.identity = NEW.identity;
        INSERT INTO visits (room_id, identity, participant_sid, user_id, name, role, joined_at,
                            left_at, leave_reason, closed_by)
            VALUES (NEW.room_id, NEW.identity, NEW.participant_sid, uid, NEW.name,
                    CASE WHEN uid IS NULL THEN 'guest' ELSE 'participant' END, NEW.occurred_at,
                    CASE WHEN ended IS NOT NULL AND (nextj IS NULL OR ended < nextj)
                              THEN GREATEST(NEW.occurred_at, ended)
                         ELSE nextj END,
                    CASE WHEN ended IS NOT NULL AND (nextj IS NULL OR ended < nextj) THEN 'room_ended'
                         WHEN nextj IS NOT NULL THEN 'disconnected' END,
                    CASE WHEN ended IS NOT NULL OR nextj IS NOT NULL THEN 'inferred' END)
            RETURNING * INTO v;
        IF older_open THEN
            UPDATE visits SET left_at = NEW.occurred_at, leave_reason = 'disconnected', closed_by = 'inferred'
                WHERE room_id = NEW.room_id AND identity = NEW.identity AND id <> v.id
                  AND joined_at < NEW.occurred_at
                  AND (left_at IS NULL OR (closed_by = 'inferred' AND left_at > NEW.occurred_at));
        END IF;
        RETURN NULL;
    END IF;

    -- participant_left
    IF v.id IS NULL THEN
        SELECT * INTO v FROM visits WHERE room_id = NEW.room_id AND identity = NEW.identity
            AND joined_at <= NEW.occurred_at ORDER BY joined_at DESC, id DESC LIMIT 1;
    END IF;
    IF v.id IS NULL THEN
        IF NEW.participant_sid <> '' THEN
            INSERT INTO visits (room_id, identity, participant_sid, user_id, name, role,
                                left_at, leave_reason, closed_by)
                VALUES (NEW.room_id, NEW.identity, NEW.participant_sid, uid, NEW.name,
                        CASE WHEN uid IS NULL THEN 'guest' ELSE 'participant' END,
                        NEW.occurred_at, 'left', 'event');
        END IF;
        RETURN NULL;
    END IF;
    IF v.left_at IS NULL OR NEW.occurred_at < v.left_at
       OR (v.closed_by = 'inferred' AND NEW.occurred_at = v.left_at) THEN
        UPDATE visits SET left_at = GREATEST(NEW.occurred_at, COALESCE(joined_at, NEW.occurred_at)),
                          leave_reason = CASE WHEN leave_reason = 'removed' THEN 'removed' ELSE 'left' END,
                          closed_by = 'event'
            WHERE id = v.id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER participant_events_visits AFTER INSERT ON participant_events
    FOR EACH ROW EXECUTE FUNCTION history_visit_apply();

-- The room ended at e: every visit still open (or inferred to end later)
-- ends then. Idempotent.
CREATE FUNCTION history_room_ended(rid uuid, e timestamptz) RETURNS void
    LANGUAGE sql AS $$
    UPDATE visits SET left_at = GREATEST(joined_at, e), leave_reason = 'room_ended',
                      closed_by = 'inferred'
        WHERE room_id = rid AND joined_at IS NOT NULL
          AND (left_at IS NULL OR (closed_by = 'inferred' AND left_at > e)) $$;

-- A room event told what a room is now (owner, name, start, end): kept,
-- and when it ended, its open visits end then. Idempotent.
CREATE FUNCTION history_room_seen(rid uuid, owner uuid, nm text, started timestamptz,
                                  ended timestamptz) RETURNS void LANGUAGE sql AS $$
    INSERT INTO history_rooms (room_id, owner_user_id, name, started_at, ended_at)
        VALUES (rid, owner, COALESCE(nm, ''), started, ended)
        ON CONFLICT (room_id) DO UPDATE
        SET owner_user_id = COALESCE(EXCLUDED.owner_user_id, history_rooms.owner_user_id),
            name = CASE WHEN nm IS NULL THEN history_rooms.name ELSE EXCLUDED.name END,
            started_at = COALESCE(history_rooms.started_at, EXCLUDED.started_at),
            ended_at = COALESCE(history_rooms.ended_at, EXCLUDED.ended_at);
    SELECT history_room_ended(rid, ended) WHERE ended IS NOT NULL;
$$;

-- Erases a deleted account's name everywhere history keeps it. Idempotent.
CREATE FUNCTION history_erase_user(uid uuid) RETURNS void LANGUAGE sql AS $$
    INSERT INTO history_deleted_users (user_id) VALUES (uid) ON CONFLICT DO NOTHING;
    UPDATE visits SET name = 'Deleted user' WHERE user_id = uid AND name <> 'Deleted user';
    UPDATE participant_events SET name = 'Deleted user'
        WHERE identity = uid::text AND name <> 'Deleted user';
    UPDATE audit_entries SET actor_name = 'Deleted user'
        WHERE actor_user_id = uid AND actor_name <> 'Deleted user';
    UPDATE call_stats SET name = 'Deleted user' WHERE user_id = uid AND name <> 'Deleted user';
$$;
-- +down
DROP TRIGGER participant_events_visits ON participant_events;
DROP TRIGGER participant_events_erase ON participant_events;
DROP FUNCTION history_erase_user(uuid);
DROP FUNCTION history_room_seen(uuid, uuid, text, timestamptz, timestamptz);
DROP FUNCTION history_room_ended(uuid, timestamptz);
DROP FUNCTION history_visit_apply();
DROP FUNCTION history_event_erase();
DROP TABLE visits;
DROP FUNCTION history_totals_apply();
DROP FUNCTION history_visit_seconds(timestamptz, timestamptz);
DROP INDEX participant_events_identity_idx;
DROP TABLE call_stats;
DROP TABLE audit_entries;
DROP TABLE history_room_people;
DROP TABLE history_deleted_users;
DROP TABLE history_rooms;
