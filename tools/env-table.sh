#!/usr/bin/env bash
# env-table.sh [BUILD_DIR]: prints the Markdown table of every environment
# variable the daemons read, from each daemon's own --help (the env tables
# in services/*/main.c and libcommon/cx_daemon.h are the single source).
set -euo pipefail
b=${1:-build}
for d in auth rooms media webhook gateway; do
  "$b/cx-$d" --help | awk -v d="$d" '/ default: /{
      name=$1; i=index($0, "default: "); rest=substr($0, i+9);
      n=index(rest, " "); def=(n ? substr(rest, 1, n-1) : rest); help=(n ? substr(rest, n) : "");
      gsub(/^ +/, "", help); print name "\t" def "\t" d "\t" help }'
done | sort -t$'\t' -k1,1 -s | awk -F'\t' '
  { if ($1 == last) { who[$1] = who[$1] ", " $3 } else { order[++n] = $1; def[$1] = $2; who[$1] = $3; help[$1] = $4 } last = $1 }
  END {
    print "| variable | default | read by | meaning |"
    print "|---|---|---|---|"
    for (i = 1; i <= n; i++) { k = order[i]; w = who[k]; if (w == "auth, gateway, media, rooms, webhook") w = "all";
      printf "| `%s` | `%s` | %s | %s |\n", k, def[k], w, help[k] }
  }'
