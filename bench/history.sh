#!/usr/bin/env bash
# bench/history.sh: first-page latency of the history queries (issue 18):
# a user with 10,000 visits (GET /users/me/calls), a room with 100,000
# visits (GET /rooms/{id}/history) and a room with 1,000,000 audit entries
# (GET /rooms/{id}/audit). It generates the data with SQL, runs each
# first-page query (the same SQL text as services/webhook/hist_*.c) with
# pgbench (prepared statements, one client), prints p50/p99 per query and
# the EXPLAIN (ANALYZE, BUFFERS) plan of each.
#
#   bench/history.sh                    own throw-away Postgres (stores.sh)
#   DATABASE_URL=... bench/history.sh   an existing, migrated database
#   HIST_SCALE=0.01 bench/history.sh    1% of the data (a quick check)
#   HIST_TX=2000                        executions per query (default 2000)
#
# A benchmark, not a test: it exits non-zero only when something cannot run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
scale="${HIST_SCALE:-1}"
tx="${HIST_TX:-2000}"
tmp="$(mktemp -d)"
own_pg=0
cleanup() {
    if [ "$own_pg" = 1 ]; then "$root/tests/harness/stores.sh" stop "$tmp" >/dev/null 2>&1 || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

if [ -z "${DATABASE_URL:-}" ]; then
    own_pg=1
    eval "$("$root/tests/harness/stores.sh" start "$tmp" pg | grep '^DATABASE_URL=')"
    for f in "$root"/migrations/*.sql; do
        sed -n '/^-- +up/,/^-- +down/p' "$f" | psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 >/dev/null
    done
fi
db="$DATABASE_URL"
n_user=$(awk -v s="$scale" 'BEGIN { printf "%d", 10000 * s }')
n_room=$(awk -v s="$scale" 'BEGIN { printf "%d", 100000 * s }')
n_audit=$(awk -v s="$scale" 'BEGIN { printf "%d", 1000000 * s }')
user_id=00000000-0000-4000-8000-00000000b001
room_id=00000000-0000-4000-8000-00000000b002
audit_room=00000000-0000-4000-8000-00000000b003

echo "generating: $n_user visits of one user, $n_room visits of one room, $n_audit audit entries of one room" >&2
psql "$db" -X -q -v ON_ERROR_STOP=1 <<SQL
SET session_replication_role = replica; -- bulk load: the per-row triggers are skipped, totals set below
DELETE FROM visits WHERE user_id = '$user_id' OR room_id = '$room_id';
DELETE FROM audit_entries WHERE room_id = '$audit_room';
-- background: other users and rooms, so the indexes are not single-key
INSERT INTO visits (room_id, identity, participant_sid, user_id, name, role, joined_at, left_at, leave_reason, closed_by)
SELECT gen_random_uuid(), 'u' || g, 'PA_bg' || g, gen_random_uuid(), 'Someone', 'participant',
       now() - (g || ' minutes')::interval, now() - (g || ' minutes')::interval + interval '20 minutes', 'left', 'event'
FROM generate_series(1, $n_room) g;
-- the user: one visit per room, spread over the last months
INSERT INTO visits (room_id, identity, participant_sid, user_id, name, role, joined_at, left_at, leave_reason, closed_by)
SELECT gen_random_uuid(), '$user_id', 'PA_u' || g, '$user_id', 'Bench User', 'participant',
       now() - (g * 17 || ' minutes')::interval, now() - (g * 17 || ' minutes')::interval + interval '30 minutes', 'left', 'event'
FROM generate_series(1, $n_user) g;
-- the big room
INSERT INTO visits (room_id, identity, participant_sid, user_id, name, role, joined_at, left_at, leave_reason, closed_by)
SELECT '$room_id', 'guest-' || g, 'PA_r' || g, NULL, 'Guest ' || g, 'guest',
       now() - (g || ' seconds')::interval, now() - (g || ' seconds')::interval + interval '5 minutes', 'left', 'event'
FROM generate_series(1, $n_room) g;
INSERT INTO history_rooms (room_id, owner_user_id, name, participants, total_seconds)
VALUES ('$room_id', '$user_id', 'Big room', $n_room, $n_room * 300)
ON CONFLICT (room_id) DO UPDATE SET participants = EXCLUDED.participants, total_seconds = EXCLUDED.total_seconds;
-- the audited room
INSERT INTO audit_entries (room_id, event_id, at, actor_identity, actor_user_id, actor_name, action, target)
SELECT '$audit_room', 'bench-' || g, now() - ((1000000 - g) || ' seconds')::interval, '', '$user_id', 'Host',
       (ARRAY['room.updated','participant.muted','participant.removed','invite.created'])[1 + g % 4], 'guest-' || (g % 500)
FROM generate_series(1, $n_audit) g;
SET session_replication_role = origin;
ANALYZE visits; ANALYZE audit_entries; ANALYZE history_rooms;
SQL

# The first-page statements, as the daemon runs them (limit + 1 rows).
cat > "$tmp/calls.sql" <<SQL
SELECT v.room_id::text, COALESCE(hr.name, ''), CASE WHEN v.user_id = hr.owner_user_id THEN 'host' ELSE v.role END, extract(epoch FROM v.joined_at)::bigint, extract(epoch FROM v.left_at)::bigint, v.leave_reason, history_visit_seconds(v.joined_at, v.left_at), v.id, ((extract(epoch FROM v.joined_at) * 1000000)::numeric)::bigint FROM visits v LEFT JOIN history_rooms hr ON hr.room_id = v.room_id WHERE v.user_id = '$user_id'::uuid AND v.joined_at IS NOT NULL AND v.joined_at >= COALESCE(NULL::timestamptz, '-infinity') AND v.joined_at < COALESCE(NULL::timestamptz, 'infinity') AND (v.joined_at, v.id) < (COALESCE('epoch'::timestamptz + NULL::bigint * interval '1 microsecond', 'infinity'), COALESCE(NULL::bigint, 0)) ORDER BY v.joined_at DESC, v.id DESC LIMIT 21;
SQL
cat > "$tmp/history.sql" <<SQL
SELECT extract(epoch FROM started_at)::bigint, extract(epoch FROM ended_at)::bigint, participants, total_seconds FROM history_rooms WHERE room_id = '$room_id'::uuid;
SELECT v.identity, v.name, v.user_id::text, CASE WHEN v.user_id = hr.owner_user_id THEN 'host' ELSE v.role END, extract(epoch FROM v.joined_at)::bigint, extract(epoch FROM v.left_at)::bigint, v.leave_reason, history_visit_seconds(v.joined_at, v.left_at), v.id, ((extract(epoch FROM v.joined_at) * 1000000)::numeric)::bigint FROM visits v LEFT JOIN history_rooms hr ON hr.room_id = v.room_id WHERE v.room_id = '$room_id'::uuid AND v.joined_at IS NOT NULL AND (v.joined_at, v.id) < (COALESCE('epoch'::timestamptz + NULL::bigint * interval '1 microsecond', 'infinity'), COALESCE(NULL::bigint, 0)) ORDER BY v.joined_at DESC, v.id DESC LIMIT 101;
SQL
cat > "$tmp/audit.sql" <<SQL
SELECT id, extract(epoch FROM at)::bigint, actor_identity, actor_user_id::text, actor_name, action, target, reason, role FROM audit_entries WHERE room_id = '$audit_room'::uuid AND id < COALESCE(NULL::bigint, 9223372036854775807) ORDER BY id DESC LIMIT 51;
SQL

printf '\n| query | data | executions | p50 ms | p99 ms |\n|---|---|---|---|---|\n'
for q in calls:$n_user history:$n_room audit:$n_audit; do
    name=${q%%:*}
    rows=${q##*:}
    (cd "$tmp" && pgbench "$db" -n -M prepared -c 1 -t "$tx" -f "$name.sql" -l --log-prefix="log_$name" >/dev/null 2>&1)
    # pgbench log: client tx latency_us ...
     cat "$tmp"/log_"$name".* | awk '{ print $3 }' | sort -n > "$tmp/$name.lat"
    n=$(wc -l < "$tmp/$name.lat")
    p50=$(awk -v n="$n" 'NR == int(n * 0.50) + 1 { printf "%.2f", $1 / 1000 }' "$tmp/$name.lat")
    p99=$(awk -v n="$n" 'NR == int(n * 0.99) + 1 { printf "%.2f", $1 / 1000 }' "$tmp/$name.lat")
    printf '| %s first page | %s rows | %s | %s | %s |\n' "$name" "$rows" "$n" "$p50" "$p99"
done

for name in calls history audit; do
    printf '\n### %s: EXPLAIN (ANALYZE, BUFFERS)\n\n```\n' "$name"
    grep -v '^$' "$tmp/$name.sql" | tail -1 | sed 's/^/EXPLAIN (ANALYZE, BUFFERS) /' |
        psql "$db" -X -q -v ON_ERROR_STOP=1 -t
    printf '```\n'
done
