#!/bin/bash
# lint.sh [BUILD_DIR]: code health of the C sources (issue 19).
#
#   1. clang-format --dry-run --Werror with the committed .clang-format on
#      every C source and header we write (libcommon, services, tools,
#      tests/unit, tests/fuzz, bench); generated protobuf code is not ours.
#   2. cppcheck (Debian's) on every translation unit of BUILD_DIR's
#      compile_commands.json (default: build/, configured by
#      `./calixio build`) plus the fuzz targets, which only tests/fuzz/run.sh
#      builds.
#
# Exit status 0 when both pass, 1 when either finds something, 2 when it
# cannot run (a tool or the build directory is missing): never a pass.
set -u
# CX_LINT_ROOT: the tree to check (tests/lint/selftest.sh points it at a
# small tree of its own); default the repository this script lives in.
ROOT=${CX_LINT_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${1:-$ROOT/build}
cd "$ROOT" || exit 2

for tool in clang-format cppcheck; do
  command -v "$tool" >/dev/null || { echo "lint: $tool is not installed (./calixio deps)" >&2; exit 2; }
done
[ -f "$BUILD/compile_commands.json" ] || {
  echo "lint: $BUILD/compile_commands.json missing: configure first (./calixio build $BUILD)" >&2
  exit 2
}

DIRS=(libcommon services tools tests/unit tests/fuzz bench)
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t SOURCES < <(git ls-files --cached --others --exclude-standard -- \
    "${DIRS[@]/%//*.c}" "${DIRS[@]/%//*.h}" | sort -u)
else
  mapfile -t SOURCES < <(find "${DIRS[@]}" -name '*.[ch]' | sort)
fi
[ "${#SOURCES[@]}" -gt 0 ] || { echo "lint: no C sources found" >&2; exit 2; }
failed=0

# ---- 1. formatting -----------------------------------------------------------------
bad=()
for f in "${SOURCES[@]}"; do
  [ -f "$f" ] || continue  # deleted but still in the index
  clang-format --style=file --dry-run --Werror "$f" 2>/dev/null || bad+=("$f")
done
if [ "${#bad[@]}" -gt 0 ]; then
  echo "lint: ${#bad[@]} of ${#SOURCES[@]} files are not clang-formatted (clang-format -i FILE):"
  printf '  %s\n' "${bad[@]}"
  failed=1
else
  echo "lint: clang-format: ${#SOURCES[@]} files ok"
fi

# ---- 2. cppcheck ---------------------------------------------------------------------
# cppcheck does not read system headers, so the version guard of the
# generated *.pb-c.h files (#if PROTOBUF_C_VERSION_NUMBER < ... #error)
# would hide every file that includes one: give it libprotobuf-c's values.
# Suppressed, each a clear false positive here:
#   readdirCalled - readdir(3) is thread-safe per directory stream in glibc and
#                   readdir_r is deprecated (glibc 2.24); cx-migrate is single-threaded.
#   missingIncludeSystem - system headers are deliberately not parsed.
CPPCHECK_OPTS=(
  --enable=warning,performance,portability --error-exitcode=1 --inline-suppr --quiet
  --std=c11 --library=posix -j2
  -DPROTOBUF_C_VERSION_NUMBER=1004001 -DPROTOBUF_C_MIN_COMPILER_VERSION=1000000
  -DPROTOBUF_C__BEGIN_DECLS= -DPROTOBUF_C__END_DECLS=
  --suppress=readdirCalled --suppress=missingIncludeSystem
  --template='{file}:{line}: {severity}: {message} [{id}]'
)
cppcheck "${CPPCHECK_OPTS[@]}" --project="$BUILD/compile_commands.json" -i"$BUILD" || failed=1
mapfile -t FUZZ < <(printf '%s\n' "${SOURCES[@]}" | grep '^tests/fuzz/.*\.c$')
if [ "${#FUZZ[@]}" -gt 0 ]; then
  cppcheck "${CPPCHECK_OPTS[@]}" -D_GNU_SOURCE -Ilibcommon -I"$BUILD/gen" "${FUZZ[@]}" || failed=1
fi
[ "$failed" = 0 ] && echo "lint: cppcheck ok"
exit "$failed"
