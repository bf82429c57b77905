#!/bin/sh
# pg-roles.sh: run once by the postgres image on a fresh volume
# (/docker-entrypoint-initdb.d): creates the service roles with their
# passwords (PG_PASSWORD_<NAME>). migrations/0004_roles.sql keeps existing
# roles; cx-migrate then applies the grants of the permission table.
set -eu
for name in auth rooms media webhook; do
  var=PG_PASSWORD_$(echo "$name" | tr a-z A-Z)
  eval "pw=\${$var:-}"
  [ -n "$pw" ] || { echo "pg-roles.sh: $var is not set" >&2; exit 1; }
  psql -v ON_ERROR_STOP=1 -v role="calixio_$name" -v pw="$pw" --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE :"role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD :'pw';
SQL
done
