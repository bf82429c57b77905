#!/usr/bin/env bash
# stores.sh: start or stop a throw-away nats-server, PostgreSQL and Redis on
# loopback, each on a free port, with all data under one directory.
#
#   stores.sh start DIR [nats|pg|redis ...]   start (default: all three); writes DIR/env
#   stores.sh stop DIR [nats|pg|redis ...]    stop what start started (by pid file)
#   stores.sh restart DIR pg|redis|nats       stop and start on the same port
#
# redis-cluster (never started by default): a real three-master Redis
# Cluster on loopback (redis-server --cluster-enabled yes x3, then
# redis-cli --cluster create ... --cluster-replicas 0). Its env lines are
# REDIS_CLUSTER_ADDR (the three seeds, comma-separated), REDIS_CLUSTER_PORTS
# (space-separated), and REDIS_ADDR=REDIS_CLUSTER_ADDR plus REDIS_CLUSTER=1
# when no single Redis was started in DIR. `stop DIR` stops it too.
#   stores.sh roles DIR                      set the passwords of the service roles
#                                            (after the migrations created them)
#
# DIR/env holds shell lines: NATS_URL, DATABASE_URL, REDIS_ADDR, *_PORT.
# PostgreSQL refuses to run as root, so as root it runs as user postgres.
#
# With CX_STORES_SECURE=1 at the first start (remembered in DIR/secure), the
# stores run the way production does (issue 12), from the permission table
# deploy/permissions/calixio.tsv through tools/cx-perms: nats-server with
# one user per daemon plus the operator user admin and JetStream on;
# PostgreSQL with scram-sha-256 passwords on TCP; Redis with one ACL user
# per daemon and the default user off. Random passwords go to
# DIR/secrets/{nats,pg,redis}-<principal>.pw (mode 600); DIR/env.<daemon>
# holds that daemon's own credentials (NATS_USER, NATS_PASSWORD_FILE,
# <DAEMON>_DATABASE_URL, REDIS_USER, REDIS_PASSWORD_FILE) and DIR/env the
# operator's (DATABASE_URL as the owner, NATS_ADMIN_*, REDIS_ADMIN_*).
set -euo pipefail

PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
cmd=${1:?usage: stores.sh start|stop|restart DIR [what...]}
dir=${2:?usage: stores.sh start|stop|restart DIR [what...]}
shift 2
what=("$@")
if [ ${#what[@]} -eq 0 ]; then
  what=(nats pg redis)
  [ "$cmd" = stop ] && what+=(redis-cluster)
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
perms="$here/../../tools/cx-perms"
[ "${CX_STORES_SECURE:-0}" = 1 ] && [ "$cmd" = start ] && touch "$dir/secure"
secure() { [ -f "$dir/secure" ]; }

secret() { # store principal -> password (made once)
  local f="$dir/secrets/$1-$2.pw"
  if [ ! -s "$f" ]; then
    # starts with a letter: nats-server parses an environment variable it
    # substitutes like a config value, so "5T2S..." is read as a number and fails
    (umask 077; mkdir -p "$dir/secrets"; printf 'k%s' "$(head -c 24 /dev/urandom | base64 | tr -d '/+=\n')" >"$f")
  fi
  cat "$f"
}

principals() { "$perms" principals "$@"; }

free_port() {
  python3 - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_of() { # name -> saved port or a new free one
  local f="$dir/$1.port"
  if [ -s "$f" ]; then cat "$f"; else free_port | tee "$f"; fi
}

wait_port() { # port seconds
  local i
  for ((i = 0; i < $2 * 20; i++)); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "stores.sh: nothing listens on 127.0.0.1:$1 after $2 s" >&2
  return 1
}

start_nats() {
  local port; port=$(port_of nats)
  [ -f "$dir/nats.pid" ] && kill -0 "$(cat "$dir/nats.pid")" 2>/dev/null && return 0
  # webhooks may be 1 MiB of body plus headers: above nats-server's default
  printf 'max_payload: 2097152\n' >"$dir/nats.conf"
  local -a penv=()
  if secure; then
    "$perms" nats >"$dir/nats-auth.conf"
    mkdir -p "$dir/jetstream"
    printf 'include "nats-auth.conf"\njetstream { store_dir: "%s", max_memory_store: 64MB, max_file_store: 256MB }\n' \
      "$dir/jetstream" >>"$dir/nats.conf"
    for p in $(principals); do
      local v; v=$(echo "$p" | tr a-z- A-Z_)
      penv+=("CALIXIO_NATS_PASSWORD_$v=$(secret nats "$p")")
    done
  fi
  env "${penv[@]}" nats-server -c "$dir/nats.conf" -a 127.0.0.1 -p "$port" --pid "$dir/nats.pid" -l "$dir/nats.log" >/dev/null 2>&1 &
  # (JetStream's start-up takes longer on a loaded machine)
  wait_port "$port" 30 || { tail -20 "$dir/nats.log" >&2; return 1; }
}

start_pg() {
  local port; port=$(port_of pg)
  local data="$dir/pgdata"
  if [ ! -f "$data/PG_VERSION" ]; then
    mkdir -p "$data"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$data" "$dir"
    if secure; then
      secret pg admin >/dev/null
      local pwf="$dir/pg-admin.initdb"
      (umask 077; cp "$dir/secrets/pg-admin.pw" "$pwf")
      [ "$(id -u)" = 0 ] && chown postgres "$pwf"
      as_pg "$PGBIN/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
        --pwfile="$pwf" -E UTF8 --no-sync >"$dir/initdb.log" 2>&1
      rm -f "$pwf"
    else
      as_pg "$PGBIN/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1
    fi
  fi
  if as_pg "$PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then return 0; fi
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
  as_pg "$PGBIN/pg_ctl" -D "$data" -l "$dir/pg.log" -w -t 30 \
    -o "-h 127.0.0.1 -p $port -k $data -c fsync=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null
  pg_admin -tAc "SELECT 1 FROM pg_database WHERE datname='calixio'" | grep -q 1 ||
    pg_admin -qc "CREATE DATABASE calixio" >/dev/null
}

pg_admin() { # psql as the owner over TCP
  local pw=""
  secure && pw=$(secret pg admin)
  PGPASSWORD=$pw as_pg env PGPASSWORD="$pw" "$PGBIN/psql" -h 127.0.0.1 -p "$(cat "$dir/pg.port")" -U postgres -d "${PGDB:-postgres}" "$@"
}

# Gives every service role (made by migrations/0004_roles.sql) its password.
set_roles() {
  secure || return 0
  local p
  for p in $(principals service); do
    PGDB=calixio pg_admin -qc "ALTER ROLE calixio_$p PASSWORD '$(secret pg "$p")'" >/dev/null
  done
}

start_redis() {
  local port; port=$(port_of redis)
  [ -f "$dir/redis.pid" ] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null && return 0
  local -a acl=()
  if secure; then
    for p in $(principals); do secret redis "$p" >/dev/null; done
    (umask 077; "$perms" redis "$dir/secrets" >"$dir/users.acl")
    acl=(--aclfile "$dir/users.acl")
  fi
  redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no "${acl[@]}" \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" >/dev/null
  wait_port "$port" 10
}

# A free port p <= 55535 whose bus port p+10000 is free too (Redis Cluster).
free_cluster_port() {
  python3 - <<'PY'
import random, socket
for _ in range(200):
    p = random.randint(20000, 55535)
    try:
        for q in (p, p + 10000):
            s = socket.socket(); s.bind(("127.0.0.1", q)); s.close()
    except OSError:
        continue
    print(p); break
PY
}

cluster_ports() {
  local i f
  for i in 1 2 3; do
    f="$dir/rc$i.port"
    if [ -s "$f" ]; then cat "$f"; else free_cluster_port | tee "$f"; fi
  done
}

start_redis-cluster() {
  local ports p n i; ports=$(cluster_ports)
  [ -f "$dir/rc1.pid" ] && kill -0 "$(cat "$dir/rc1.pid")" 2>/dev/null && return 0
  local -a acl=() cli=()
  if secure; then # the same ACL users as a single Redis, on every node
    for p in $(principals); do secret redis "$p" >/dev/null; done
    (umask 077; "$perms" redis "$dir/secrets" >"$dir/users.acl")
    acl=(--aclfile "$dir/users.acl")
    cli=(--user calixio_admin --pass "$(secret redis admin)" --no-auth-warning)
  fi
  i=0
  for p in $ports; do
    i=$((i + 1))
    mkdir -p "$dir/rc$i"
    redis-server --bind 127.0.0.1 --port "$p" --save '' --appendonly no "${acl[@]}" \
      --cluster-enabled yes --cluster-config-file "$dir/rc$i/nodes.conf" --cluster-node-timeout 2000 \
      --daemonize yes --pidfile "$dir/rc$i.pid" --logfile "$dir/rc$i.log" --dir "$dir/rc$i" >/dev/null
  done
  for p in $ports; do wait_port "$p" 10; done
  # a restarted node keeps its nodes.conf: the cluster exists already
  p=${ports%% *}
  if ! redis-cli "${cli[@]}" -p "$p" cluster info | grep -q 'cluster_known_nodes:3'; then
    # shellcheck disable=SC2086
    redis-cli "${cli[@]}" --cluster create $(for q in $ports; do printf '127.0.0.1:%s ' "$q"; done) \
      --cluster-replicas 0 --cluster-yes >"$dir/rc-create.log" 2>&1
  fi
  for ((n = 0; n < 200; n++)); do
    local ok=1
    for q in $ports; do redis-cli "${cli[@]}" -p "$q" cluster info 2>/dev/null | grep -q 'cluster_state:ok' || ok=0; done
    [ $ok = 1 ] && return 0
    sleep 0.05
  done
  echo "stores.sh: redis cluster not ok after 10 s" >&2
  return 1
}

stop_pid() { # pidfile
  [ -f "$1" ] || return 0
  local pid; pid=$(cat "$1")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

stop_one() {
  case $1 in
    nats) stop_pid "$dir/nats.pid" ;;
    redis) stop_pid "$dir/redis.pid" ;;
    redis-cluster) for i in 1 2 3; do stop_pid "$dir/rc$i.pid"; done ;;
    pg) [ -d "$dir/pgdata" ] && as_pg "$PGBIN/pg_ctl" -D "$dir/pgdata" -m immediate -w stop >/dev/null 2>&1 || true ;;
  esac
}

write_env() {
  local pgauth=""
  secure && pgauth=":$(secret pg admin)"
  {
    [ -s "$dir/nats.port" ] && echo "NATS_URL=nats://127.0.0.1:$(cat "$dir/nats.port")"
    [ -s "$dir/pg.port" ] && echo "DATABASE_URL=postgres://postgres$pgauth@127.0.0.1:$(cat "$dir/pg.port")/calixio?sslmode=disable"
    [ -s "$dir/redis.port" ] && echo "REDIS_ADDR=127.0.0.1:$(cat "$dir/redis.port")"
    for n in nats pg redis; do [ -s "$dir/$n.port" ] && echo "$(echo $n | tr a-z A-Z)_PORT=$(cat "$dir/$n.port")"; done
    if [ -s "$dir/rc1.port" ]; then
      local seeds ports; ports=$(cat "$dir/rc1.port" "$dir/rc2.port" "$dir/rc3.port" | tr '\n' ' ')
      seeds=$(for q in $ports; do printf '127.0.0.1:%s,' "$q"; done); seeds=${seeds%,}
      echo "REDIS_CLUSTER_ADDR=$seeds"
      echo "REDIS_CLUSTER_PORTS=\"${ports% }\""
      if [ ! -s "$dir/redis.port" ]; then
        echo "REDIS_ADDR=$seeds"
        echo "REDIS_PORT=$(cat "$dir/rc1.port")"
        echo "REDIS_CLUSTER=1"
      fi
    fi
    if secure; then
      echo "CX_SECRETS_DIR=$dir/secrets"
      echo "NATS_ADMIN_USER=admin"
      echo "NATS_ADMIN_PASSWORD=$(secret nats admin)"
      echo "REDIS_ADMIN_USER=calixio_admin"
      echo "REDIS_ADMIN_PASSWORD=$(secret redis admin)"
    fi
  } >"$dir/env"
  secure || return 0
  local p up
  for p in $(principals service) $(principals gateway); do
    up=$(echo "$p" | tr a-z A-Z)
    {
      if [ -s "$dir/nats.port" ]; then # (a test may bring its own NATS)
        secret nats "$p" >/dev/null
        echo "NATS_USER=$p"
        echo "NATS_PASSWORD_FILE=$dir/secrets/nats-$p.pw"
      fi
      if [ "$(principals service | grep -cx "$p")" = 1 ]; then
        [ -s "$dir/pg.port" ] &&
          echo "${up}_DATABASE_URL=postgres://calixio_$p:$(secret pg "$p")@127.0.0.1:$(cat "$dir/pg.port")/calixio?sslmode=disable"
        if [ -s "$dir/redis.port" ] || [ -s "$dir/rc1.port" ]; then
          echo "REDIS_USER=calixio_$p"
          echo "REDIS_PASSWORD_FILE=$dir/secrets/redis-$p.pw"
        fi
      fi
    } >"$dir/env.$p"
  done
  return 0
}

case $cmd in
  start) for w in "${what[@]}"; do "start_$w"; done; write_env; cat "$dir/env" ;;
  stop) for w in "${what[@]}"; do stop_one "$w"; done ;;
  restart) for w in "${what[@]}"; do stop_one "$w"; "start_$w"; done ;;
  roles) set_roles ;;
  *) echo "stores.sh: unknown command $cmd" >&2; exit 2 ;;
esac
