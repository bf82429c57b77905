#!/usr/bin/env bash
# run.sh SECONDS: build every libFuzzer target in tests/fuzz with clang
# (ASan+UBSan) and run each for SECONDS on a scratch copy of its seed corpus
# (tests/fuzz/corpus/<name>/). Fails if a target crashes, leaks or trips a
# sanitizer. Findings are left in build-fuzz/findings/.
set -euo pipefail
secs=${1:-30}
root=$(cd "$(dirname "$0")/../.." && pwd)
bdir="$root/build-fuzz"
CC=clang cmake -S "$root" -B "$bdir" -DCX_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
targets=()
for f in "$root"/tests/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
cmake --build "$bdir" -j"$(nproc)" --target "${targets[@]}" >/dev/null
mkdir -p "$bdir/findings"
status=0
for t in "${targets[@]}"; do
  name=${t#fuzz_}
  work="$bdir/corpus/$name"
  rm -rf "$work"; mkdir -p "$work"
  [ -d "$root/tests/fuzz/corpus/$name" ] && cp -r "$root/tests/fuzz/corpus/$name/." "$work/"
  echo "fuzz $t for ${secs}s (seeds: $(ls "$work" | wc -l))"
  if ! "$bdir/$t" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$bdir/findings/$t-" -print_final_stats=1 "$work" >"$bdir/$t.log" 2>&1; then
    echo "  $t FAILED: see $bdir/$t.log"; tail -n 30 "$bdir/$t.log"; status=1
  else
    grep -E "stat::number_of_executed_units|stat::new_units_added" "$bdir/$t.log" | sed 's/^/  /'
  fi
done
exit $status
