#!/usr/bin/env bash
# bench/run.sh: the Calixio benchmark (what `./calixio bench` runs after a
# Release build). See bench/README.md for what each figure means.
#
# It starts throw-away nats-server, PostgreSQL and Redis on loopback
# (tests/harness/stores.sh), applies the migrations (cx-migrate), starts the
# five daemons from $BENCH_BUILD_DIR (default build/) with LOG_LEVEL=warn and
# RATE_LIMIT_RPS=0, then hands over to bench/driver.mjs, which prepares data,
# loads every scenario and reference point with wrk, and prints the table
# (also written to bench/last-run.md). Everything is stopped at the end.
#
# Settings (environment): BENCH_DURATION (10s), BENCH_REPEATS (3),
# BENCH_CONNECTIONS (64), BENCH_THREADS (2, wrk threads), BENCH_WARMUP (2s),
# BENCH_LOGIN_CONNECTIONS (8), BENCH_ONLY (comma list of scenario names),
# BENCH_BUILD_DIR, BENCH_KEEP=1 (keep the temp dir with the daemon logs),
# BENCH_DAEMON_ENV ("VAR=value ..." added to every daemon's environment).
#
# Exit status: 0 when everything could run (whatever the figures), 1 when
# something could not run (a daemon missing or not starting, wrk failing).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
BUILD=${BENCH_BUILD_DIR:-$ROOT/build}
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "bench: no build dir $BUILD" >&2; exit 1; }
DAEMONS=(auth rooms media webhook gateway)
T0=$(date +%s)

die() { echo "bench: $*" >&2; exit 1; }

# ---- tools ----------------------------------------------------------------
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null; }
  fi
  command -v wrk >/dev/null || die "wrk is missing (apt-get install wrk)"
fi
command -v node >/dev/null || die "node is missing"
if [ ! -d "$BENCH/node-peer/node_modules/livekit-server-sdk" ]; then
  (cd "$BENCH/node-peer" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci in bench/node-peer failed"
fi
if [ ! -d "$ROOT/tests/node_modules/livekit-server-sdk" ]; then
  (cd "$ROOT/tests" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci in tests failed"
fi
for b in "${DAEMONS[@]/#/cx-}" cx-migrate mhd_ceiling nats_floor pwhash_time token_cost hist_query; do
  [ -x "$BUILD/$b" ] || die "$BUILD/$b is not built (./calixio build $BUILD Release)"
done

# ---- stack ----------------------------------------------------------------
WORK=$(mktemp -d /tmp/cx-bench.XXXXXX)
chmod 755 "$WORK"
declare -A PID=()

cleanup() {
  local rc=$?
  set +e
  for d in gateway auth rooms media webhook; do
    local p=${PID[$d]:-}
    [ -n "$p" ] || continue
    kill "$p" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$p" 2>/dev/null
  done
  "$ROOT/tests/harness/stores.sh" stop "$WORK" >/dev/null 2>&1
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: kept $WORK" >&2; else rm -rf "$WORK"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$ROOT/tests/harness/stores.sh" start "$WORK" >/dev/null || die "cannot start the stores"
# shellcheck disable=SC1091
. "$WORK/env"
HTTP_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

DAEMON_ENV=(
  PATH="$PATH"
  NATS_URL="$NATS_URL" DATABASE_URL="$DATABASE_URL" REDIS_ADDR="$REDIS_ADDR"
  HTTP_ADDR="127.0.0.1:$HTTP_PORT"
  JWT_SECRET=bench-jwt-secret-0123456789abcdef
  ACCESS_TOKEN_TTL=1h
  LIVEKIT_API_KEY=devkey LIVEKIT_API_SECRET=secret LIVEKIT_PUBLIC_URL=ws://127.0.0.1:7880
  LOG_LEVEL=warn RATE_LIMIT_RPS=0
  MIGRATIONS_DIR="$ROOT/migrations"
)
# BENCH_DAEMON_ENV: extra VAR=value words for every daemon (tuning experiments)
# shellcheck disable=SC2206
[ -n "${BENCH_DAEMON_ENV:-}" ] && DAEMON_ENV+=($BENCH_DAEMON_ENV)

env -i "${DAEMON_ENV[@]}" "$BUILD/cx-migrate" up >"$WORK/migrate.log" 2>&1 ||
  { cat "$WORK/migrate.log" >&2; die "cx-migrate up failed"; }

for d in "${DAEMONS[@]}"; do
  env -i "${DAEMON_ENV[@]}" "$BUILD/cx-$d" >"$WORK/$d.log" 2>&1 </dev/null &
  PID[$d]=$!
done

ok=0
for _ in $(seq 1 200); do
  for d in "${DAEMONS[@]}"; do
    kill -0 "${PID[$d]}" 2>/dev/null || { tail -20 "$WORK/$d.log" >&2; die "cx-$d exited at start"; }
  done
  if curl -fsS "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null 2>&1; then ok=1; break; fi
  sleep 0.1
done
[ $ok = 1 ] || { curl -s "http://127.0.0.1:$HTTP_PORT/readyz" >&2; die "the stack did not become ready in 20 s"; }

# ---- measure --------------------------------------------------------------
pids=""
for d in "${DAEMONS[@]}"; do pids+="$d:${PID[$d]},"; done
set +e
BENCH_WORK="$WORK" BENCH_BUILD="$BUILD" BENCH_ROOT="$ROOT" BENCH_T0="$T0" \
  BENCH_URL="http://127.0.0.1:$HTTP_PORT" BENCH_PIDS="${pids%,}" \
  NATS_URL="$NATS_URL" DATABASE_URL="$DATABASE_URL" REDIS_PORT="$REDIS_PORT" \
  node "$BENCH/driver.mjs"
rc=$?
set -e
exit $rc
