#!/usr/bin/env bash
# bench/history.sh: first-page latency of the history queries (issue 18),
# Postgres only: a user with 10,000 visits (GET /users/me/calls), a room
# with 100,000 visits (GET /rooms/{id}/history) and a room with 1,000,000
# audit entries (GET /rooms/{id}/audit). It generates the data with
# bench/history-data.sql, then runs hist_query (bench/hist_query.c), which
# executes the daemon's own statements (services/webhook/hist_sql.h, the
# header hist_calls.c and hist_audit.c use, so the two cannot drift)
# through cx_pg_exec_prepared with a first page's parameters, and prints
# p50/p99 per route, one "LIMIT name=history_sql_<route>_p99_ms value=...
# target=20" line each, and the EXPLAIN (ANALYZE, BUFFERS) of every
# statement as the warmed-up prepared statement runs it.
# bench/history-http.mjs measures the same pages through the gateway.
#
#   bench/history.sh                    own throw-away Postgres (stores.sh)
#   DATABASE_URL=... bench/history.sh   an existing, migrated database (superuser: the
#                                       load skips the triggers; it deletes and adds bench rows)
#   HIST_SCALE=0.01 bench/history.sh    1% of the data (a quick check)
#   HIST_TX=2000                        measured requests per route (default 2000)
#   CX_BUILD_DIR=build-release          where hist_query is (default build/)
#
# A benchmark, not a test: it exits non-zero only when something cannot run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
scale="${HIST_SCALE:-1}"
tx="${HIST_TX:-2000}"
build="${CX_BUILD_DIR:-${BENCH_BUILD_DIR:-$root/build}}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
hq="$build/hist_query"
[ -x "$hq" ] || { echo "history.sh: no $hq (build first: ./calixio build $build Release)" >&2; exit 1; }
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
export DATABASE_URL
n_user=$(awk -v s="$scale" 'BEGIN { printf "%d", 10000 * s }')
n_room=$(awk -v s="$scale" 'BEGIN { printf "%d", 100000 * s }')
n_audit=$(awk -v s="$scale" 'BEGIN { printf "%d", 1000000 * s }')
user_id=00000000-0000-4000-8000-00000000b001
room_id=00000000-0000-4000-8000-00000000b002
audit_room=00000000-0000-4000-8000-00000000b003

echo "generating: $n_user visits of one user, $n_room visits of one room (+ $n_room of others), $n_audit audit entries of one room" >&2
psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 -v user_id="$user_id" -v room_id="$room_id" \
    -v audit_room="$audit_room" -v n_user="$n_user" -v n_room="$n_room" -v n_audit="$n_audit" \
    -f "$here/history-data.sql" >/dev/null

printf '\nData: %s visits of the user, %s visits of the room, %s audit entries of the room.\n' \
    "$n_user" "$n_room" "$n_audit"
printf 'Load average before: %s\n\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
"$hq" "$user_id" "$room_id" "$audit_room" "$tx"
