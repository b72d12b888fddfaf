#!/usr/bin/env bash
# Compiles everything (no tests run) with the flags a packager or a
# developer might use, each into its own directory under build-matrix/:
# gcc -O0 (where -Wformat-truncation and friends see no value ranges),
# gcc -O2 without LTO, clang -O2, and gcc with CFLAGS=-O0 (which must add
# to the flags the code needs, not replace them). Prints one line per
# build and "build matrix: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-2}
passed=0
failed=0
# name|make arguments
builds=(
  "gcc -O0|CC=gcc OPT=-O0"
  "gcc -O2|CC=gcc OPT=-O2"
  "clang -O2|CC=clang OPT=-O2"
  "gcc CFLAGS=-O0|CC=gcc CFLAGS=-O0"
)
for b in "${builds[@]}"; do
  name=${b%%|*}
  dir=build-matrix/$(tr -c 'A-Za-z0-9\n' _ <<<"$name")
  log=$(mktemp)
  # shellcheck disable=SC2086 # the make arguments are words
  if make --no-print-directory -j"$jobs" BUILD="$dir" ${b#*|} all >"$log" 2>&1; then
    echo "ok $name ($dir)"
    passed=$((passed + 1))
  else
    echo "FAIL $name ($dir):"
    grep -E 'error:|warning:|\*\*\*' "$log" | head -n 20
    failed=$((failed + 1))
  fi
  rm -f "$log"
done
# The user's CFLAGS add to the required flags: -std=c11 and -Werror stay.
if make --no-print-directory -n -B BUILD=build-matrix/flags CFLAGS=-O0 build-matrix/flags/src/main.o 2>&1 |
  grep -q -- '-std=c11 .*-Werror.* -O0'; then
  echo "ok CFLAGS=-O0 keeps -std=c11 and -Werror"
  passed=$((passed + 1))
else
  echo "FAIL CFLAGS=-O0 drops -std=c11 or -Werror"
  failed=$((failed + 1))
fi
echo "build matrix: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
