#!/usr/bin/env bash
# cppcheck (Debian's) over src/ with the build's -I and -D flags, which
# `make cppcheck` passes from FINAL_CPPFLAGS so that they cannot drift.
# A finding is fixed in src/, or suppressed with its reason: one finding
# where it is (/* cppcheck-suppress ID ; why */), a whole class in
# scripts/cppcheck.supp. Prints each finding, then
# "cppcheck: 1 passed, 0 failed" when there is none (0 passed, 1 failed else).
#   scripts/cppcheck.sh [CPPFLAGS...]     (make cppcheck)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
if ! command -v cppcheck >/dev/null 2>&1; then
  echo "cppcheck is not installed (make test installs it; or apt-get install cppcheck)"
  echo "cppcheck: 0 passed, 1 failed"
  exit 1
fi
flags=()
for f in "$@"; do
  case $f in -I* | -D* | -U*) flags+=("$f") ;; esac
done
# No system include paths: cppcheck reads libc, POSIX and GNU from its
# library files (--library) instead, as its manual advises. Style is on: it
# found conditions written twice; its two noisy classes are in cppcheck.supp.
if cppcheck -q -j"${JOBS:-2}" --std=c11 --language=c --library=posix --library=gnu \
  --enable=warning,performance,portability,style --inline-suppr \
  --suppressions-list=scripts/cppcheck.supp --error-exitcode=1 \
  --template='{file}:{line}:{column}: {severity}: {message} [{id}]' "${flags[@]}" src 2>&1; then
  echo "cppcheck: 1 passed, 0 failed"
else
  echo "cppcheck: 0 passed, 1 failed"
  exit 1
fi
