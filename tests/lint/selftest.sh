#!/bin/bash
# selftest.sh: tools/lint.sh on small trees of its own, so that the lint
# stage is known to fail on what it exists to catch (and to pass a clean
# tree, and to refuse to run rather than pass without its inputs).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
LINT="$REPO/tools/lint.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/cx-lint-selftest-XXXXXX")
trap 'rm -rf "$work"' EXIT
fails=0

# tree NAME: a copy of .clang-format, one formatted C file and a compile db
tree() {
  local t="$work/$1"
  mkdir -p "$t/libcommon" "$t/build"
  cp "$REPO/.clang-format" "$t/"
  cat >"$t/libcommon/ok.c" <<'C'
/* ok.c: clean */
int cx_ok_sum(const int *v, int n)
{
    int s = 0;
    for (int i = 0; i < n; i++)
        s += v[i];
    return s;
}
C
  printf '[{"directory":"%s","command":"cc -c libcommon/ok.c","file":"libcommon/ok.c"}]\n' "$t" \
    >"$t/build/compile_commands.json"
  echo "$t"
}

expect() { # WANT_RC WHAT TREE
  local want=$1 what=$2 t=$3 rc
  CX_LINT_ROOT="$t" "$LINT" "$t/build" >"$work/out" 2>&1
  rc=$?
  if [ "$rc" = "$want" ]; then
    echo "ok   $what (exit $rc)"
  else
    echo "FAIL $what: exit $rc, want $want"; sed 's/^/     /' "$work/out"; fails=$((fails + 1))
  fi
}

t=$(tree clean)
expect 0 "a clean tree passes" "$t"

t=$(tree badformat)
printf 'int cx_bad(int a){return a+1;}\n' >"$t/libcommon/bad.c"
expect 1 "a file clang-format would change fails" "$t"
grep -q 'libcommon/bad.c' "$work/out" || { echo "FAIL the misformatted file is not named"; fails=$((fails + 1)); }

t=$(tree cppcheck)
cat >"$t/libcommon/oob.c" <<'C'
/* oob.c: formatted, but writes past the end of an array */
int cx_oob(void)
{
    int a[4];
    for (int i = 0; i <= 4; i++)
        a[i] = i;
    return a[0];
}
C
printf '[{"directory":"%s","command":"cc -c libcommon/oob.c","file":"libcommon/oob.c"}]\n' "$t" \
  >"$t/build/compile_commands.json"
expect 1 "a cppcheck finding fails" "$t"
grep -q 'oob.c:6: error' "$work/out" || { echo "FAIL the cppcheck finding is not reported"; fails=$((fails + 1)); }

t=$(tree nodb)
rm "$t/build/compile_commands.json"
expect 2 "without compile_commands.json it refuses to run (not a pass)" "$t"

[ "$fails" = 0 ] && echo "lint selftest: all passed"
[ "$fails" = 0 ]
