#!/usr/bin/env bash
# The soak with faults (issue 3): 2,000 concurrent streams through tollgate
# for 10 minutes while the mock resets, closes and stalls streams, clients
# vanish, and tollgate is reloaded (SIGHUP) every 30 s. Proves no chunk is
# lost, duplicated or reordered on the streams that were not cut on purpose,
# that the cut ones end truncated and in time, and that tollgate's memory,
# file descriptors and threads return to their resting level afterwards.
# A bench script, not part of `make test`. See docs/operations.md.
#
#   bench/soak.sh                          # 2000 streams, 10 minutes
#   bench/soak.sh --streams 200 --minutes 1
#   BUILD=build-asan bench/soak.sh --streams 200 --minutes 1   # under ASan+UBSan
#   TOLLGATE_BIN=/path/tollgate MOCK_BIN=/path/mock-ollama bench/soak.sh   # prebuilt, no make
#
# Other options go to bench/soak.mjs: --control N (direct-to-mock streams,
# default streams/20), --fault-pct P (20), --reload-every S (30), --warmup S
# (30), --settle S (10), --idle-timeout-ms MS (3000), --keepalive-pct P (50),
# --seed N, --rss-tolerance-mib M (8), --rss-tolerance-pct P (25).
# Raw figures: bench/results/soak-<time>.json; logs in bench/results/soak-<time>/.
# Exit status: 0 when every invariant holds, 1 when one fails.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=${OUT:-bench/results}
run="$out/soak-$stamp"
mkdir -p "$run"

if [ -n "${TOLLGATE_BIN:-}${MOCK_BIN:-}" ]; then
  : # prebuilt binaries given: no build
elif [ "$build" = build-asan ]; then
  make --no-print-directory -j2 SAN=1 build-asan/tollgate build-asan/mock-ollama >&2
else
  make --no-print-directory -j2 BUILD="$build" "$build/tollgate" "$build/mock-ollama" >&2
fi
tollgate=${TOLLGATE_BIN:-$build/tollgate}
mock=${MOCK_BIN:-$build/mock-ollama}

# The soak holds ~2 fds per stream in tollgate, one in the client, one in the mock.
ulimit -n "$(ulimit -Hn)"
echo "soak: ulimit -n $(ulimit -n)" >&2

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
mock_port=$(free_port)
tg_port=$(free_port)
while [ "$tg_port" = "$mock_port" ]; do tg_port=$(free_port); done

mock_pid="" tg_pid=""
cleanup() {
  [ -n "$tg_pid" ] && kill -KILL "$tg_pid" 2>/dev/null || true
  [ -n "$mock_pid" ] && kill -TERM "$mock_pid" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ASan: no leak report on the mock (not under test); tollgate's goes to its log.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
"$mock" --listen "127.0.0.1:$mock_port" --threads 2 --quiet 2>"$run/mock.err" &
mock_pid=$!
node bench/soak.mjs --print-config --port "$tg_port" --mock-port "$mock_port" \
  --access-log "$PWD/$run/access.log" "$@" >"$run/tollgate.conf"
# tollgate runs in the run directory, so that a core dump lands there.
tollgate_abs=$(cd "$(dirname "$tollgate")" && pwd)/$(basename "$tollgate")
(cd "$run" && ulimit -c unlimited 2>/dev/null; exec "$tollgate_abs" -c tollgate.conf 2>tollgate.err) &
tg_pid=$!
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$tg_port") 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$mock_port") 2>/dev/null && break
  sleep 0.1
done
echo "soak: mock pid $mock_pid :$mock_port, tollgate pid $tg_pid :$tg_port ($tollgate), logs in $run" >&2

set +e
node --max-old-space-size=2048 bench/soak.mjs --port "$tg_port" --mock-port "$mock_port" \
  --tg-pid "$tg_pid" --mock-pid "$mock_pid" --config "$run/tollgate.conf" \
  --access-log "$PWD/$run/access.log" --err-log "$run/tollgate.err" \
  --out "$out/soak-$stamp.json" "$@"
rc=$?
set -e

# A clean stop: SIGTERM with no stream live must end tollgate at once, status 0.
stop_rc=""
if kill -0 "$tg_pid" 2>/dev/null; then
  kill -TERM "$tg_pid"
  for _ in $(seq 100); do kill -0 "$tg_pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$tg_pid" 2>/dev/null; then
    echo "soak: FAIL: tollgate still running 10 s after SIGTERM" >&2
    rc=1
  else
    stop_rc=0; wait "$tg_pid" || stop_rc=$?
    [ "$stop_rc" = 0 ] || { echo "soak: FAIL: tollgate exited with status $stop_rc after SIGTERM" >&2; rc=1; }
  fi
  tg_pid=""
else
  stop_rc=0; wait "$tg_pid" || stop_rc=$?
  echo "soak: FAIL: tollgate is not running at the end (status $stop_rc$([ "$stop_rc" -gt 128 ] && echo ", signal $((stop_rc - 128))"))" >&2
  ls "$run"/core* 2>/dev/null && echo "soak: core dump above; gdb -batch -ex bt $tollgate_abs $run/core*" >&2
  rc=1
fi
if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$run/tollgate.err"; then
  echo "soak: FAIL: sanitizer report in $run/tollgate.err" >&2
  rc=1
fi
echo "soak: tollgate stopped (status ${stop_rc:-none}); error log $run/tollgate.err ($(wc -l <"$run/tollgate.err") lines)" >&2
# The access log is large and already counted: keep it only when asked.
[ -n "${KEEP_ACCESS_LOG:-}" ] || rm -f "$run/access.log"
[ "$rc" = 0 ] && echo "soak: PASSED" >&2 || echo "soak: FAILED (status $rc)" >&2
exit "$rc"
