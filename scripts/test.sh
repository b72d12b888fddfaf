#!/usr/bin/env bash
# Runs every test suite against the normal build and the ASan+UBSan build,
# the threaded parts under TSan, cppcheck, compiles the build matrix, then
# prints one summary line: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
passed=0
failed=0
log=$(mktemp -d)

# Runs one suite; its last line must read "<name>: N passed, N failed".
run_suite() {
  local label=$1
  shift
  echo "== $label"
  "$@" 2>&1 | tee "$log/out"
  local rc=${PIPESTATUS[0]}
  local line
  line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log/out" | tail -n 1)
  if [ -z "$line" ]; then
    echo "$label: no summary line (exit $rc): counted as one failure"
    failed=$((failed + 1))
    return
  fi
  local p f
  p=$(sed -E 's/.* ([0-9]+) passed, ([0-9]+) failed.*/\1/' <<<"$line")
  f=$(sed -E 's/.* ([0-9]+) passed, ([0-9]+) failed.*/\2/' <<<"$line")
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "$label: exited $rc with no failed test: counted as one failure"
    failed=$((failed + 1))
  fi
}

if [ ! -d tests/integration/node_modules ]; then
  (cd tests/integration && npm ci --no-audit --no-fund --loglevel=error) || echo "npm ci failed: the npm-client tests will fail"
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
run_suite "unit (build)" build/unit-tests
run_suite "unit (asan+ubsan)" build-asan/unit-tests
run_suite "integration (build)" node tests/integration/run.mjs build
run_suite "integration (asan+ubsan)" node tests/integration/run.mjs build-asan
# The same integration tests with every tollgate serving TLS (tests/integration/lib/tls.mjs).
tlsdir="$log/tls"
mkdir -p "$tlsdir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$tlsdir/key.pem" -out "$tlsdir/cert.pem" 2>/dev/null
run_suite "integration over TLS (asan+ubsan)" env TG_IT_TLS_DIR="$tlsdir" NODE_EXTRA_CA_CERTS="$tlsdir/cert.pem" \
  node tests/integration/run.mjs build-asan
run_suite "fuzz smoke" make --no-print-directory fuzz-smoke
# The unit tests and the integration files where threads meet (workers, the
# thread pool, the ACME manager), under ThreadSanitizer: about 1.5 minutes;
# scripts/tsan.sh names the files and why, scripts/tsan.supp the library
# reports that are not races.
run_suite "tsan" scripts/tsan.sh build-tsan
# Static analysis of src/ with the build's flags (scripts/cppcheck.sh).
run_suite "cppcheck" make --no-print-directory cppcheck
# The folders of src/ form a graph without cycles (tools/folder-graph.sh
# reads the objects of build-asan/; a folder with an edge on a cycle fails).
run_suite "folder graph" tools/folder-graph.sh build-asan
# make install/uninstall into a DESTDIR, the man pages, the systemd unit
# (systemd-analyze), logrotate, the default config path, readiness on
# $NOTIFY_SOCKET (tests/packaging/run.sh, about 10 s).
run_suite "packaging" tests/packaging/run.sh build
# Every C file as the committed .clang-format has it (make format).
run_suite "format" scripts/format-check.sh
# Compiles only: -O0, -O2 without LTO, clang, and CFLAGS=-O0 (scripts/build-matrix.sh).
run_suite "build matrix" scripts/build-matrix.sh
rm -rf "$log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
