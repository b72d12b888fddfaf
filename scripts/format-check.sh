#!/usr/bin/env bash
# Checks that every C file follows the committed .clang-format (Debian's
# clang-format 14; `make format` applies it). Prints the files that do not
# and "format: N passed, N failed" (one count a file).
set -uo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "format: clang-format is missing (apt-get install clang-format)"; echo "format: 0 passed, 1 failed"; exit 1; }
passed=0
failed=0
while IFS= read -r f; do
  if clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
    passed=$((passed + 1))
  else
    echo "not formatted: $f (make format)"
    failed=$((failed + 1))
  fi
done < <(git ls-files 'src/*.[ch]' 'include/*.h' 'tests/unit/*.[ch]' 'tests/fuzz/*.[ch]' 'tools/*.[ch]' 'bench/*.c')
echo "format: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
