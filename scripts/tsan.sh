#!/usr/bin/env bash
# The threaded parts of tollgate under ThreadSanitizer (build-tsan/, from
# `make SAN=thread all`): the unit tests, then the integration files that
# run threads side by side. Prints "tsan: N passed, N failed"; a TSan report
# fails the test it appeared in (tests/integration/lib/proc.mjs).
#   scripts/tsan.sh [BUILD_DIR]
#
# The whole integration suite runs clean under TSan too (about 4 minutes);
# these files are the ones where threads meet, about 1.5 minutes:
#   auth          crypt(3) verification on the libuv thread pool, its
#                 result cache shared by the workers (also matches the
#                 forward-auth tests of auth-forward)
#   models-quota  the token quota store shared by the workers, its state
#                 file written from the thread pool
#   lifecycle     SIGHUP reloads and SIGTERM drains: the main thread starts
#                 and joins generations of workers under load
#   accesslog     the access log written from the thread pool
#   acme          the ACME manager thread and the reload it asks for
#   limits        connection, rate and concurrency limits shared by the
#                 workers (also matches one smuggling test)
#   observe       metrics written by every worker, read by the admin loop
#   tls           certificates and session tickets shared by the workers
#   upstreams     each server's state shared by the workers (in flight,
#                 failures, its catalogue) and the main thread's health
#                 checks
#   shared        each worker's connection to the shared store (Redis), the
#                 resolver on the thread pool, the shared store's metrics
#                 read by the admin loop
#   model-route   the loaded models a worker notes and the checks replace,
#                 the model queue's count and its metrics rows
#   affinity      conversation affinity's table and per-server counts,
#                 shared by the workers, read by the admin loop
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
build=${1:-build-tsan}
# Library reports that are not tollgate's races, each with its reason.
export TSAN_OPTIONS=${TSAN_OPTIONS:-suppressions=$PWD/scripts/tsan.supp:second_deadlock_stack=1}
files=(auth models-quota lifecycle accesslog acme limits observe tls upstreams shared model-route body-temp affinity)
passed=0
failed=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# Adds the last "<name>: N passed, N failed" line of $out to the totals;
# a run that exits non-zero with no failed test counts as one failure.
tally() {
  local rc=$1 line p f
  line=$(grep -E '^[a-z]+: [0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
  p=$(sed -E 's/.* ([0-9]+) passed.*/\1/' <<<"${line:-x 0 passed}")
  f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"${line:-x 0 failed}")
  if { [ -z "$line" ] || [ "$rc" -ne 0 ]; } && [ "$f" -eq 0 ]; then f=1; fi
  passed=$((passed + p))
  failed=$((failed + f))
}

# The unit tests exit 66 (TSan's exit code) after a report.
echo "== unit ($build)"
"$build/unit-tests" >"$out" 2>&1
rc=$?
grep -E 'ThreadSanitizer|^FAIL|passed, [0-9]+ failed' "$out"
tally "$rc"
for f in "${files[@]}"; do
  echo "== integration ($build) $f"
  node tests/integration/run.mjs "$build" "$f: " >"$out" 2>&1
  rc=$?
  grep -v '^ok ' "$out"
  tally "$rc"
done
echo "tsan: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
