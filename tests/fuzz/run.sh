#!/usr/bin/env bash
# Runs every libFuzzer target built in BUILD (make fuzz-build) for SECONDS
# each, one after the other: first each file of tests/fuzz/regressions/<name>/
# (crash inputs found earlier, replayed as they are), then fuzzing over the
# committed seeds tests/fuzz/corpus/<name>/ with the target's dictionary,
# growing BUILD/corpus/<name>/ (not committed). Crash inputs land in
# BUILD/artifacts/<name>/. Prints "fuzz: N passed, N failed" (N = targets).
#   tests/fuzz/run.sh build-fuzz 60          (make fuzz)
#   tests/fuzz/run.sh build-fuzz 15 smoke    (make fuzz-smoke; make test)
# A smoke run starts from the committed seeds alone with a fixed seed
# (FUZZ_SEED, default 1), so that it explores on a fresh clone what it
# explores here: CI does not fail on what no one here could have seen.
# Run one target only: FUZZ_ONLY=fuzz_proxy_request tests/fuzz/run.sh build-fuzz 600
# More libFuzzer flags: FUZZ_ARGS="-fork=1 -ignore_crashes=1" (go on after a crash)
set -uo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build-fuzz}
seconds=${2:-60}
mode=${3:-full}
passed=0
failed=0

# The target's name without "fuzz_": its corpus, regressions and options.
short() { echo "${1#fuzz_}"; }

dict_for() {
  case "$1" in
    config) echo tests/fuzz/config.dict ;;
    http_head) echo tests/fuzz/http.dict ;;
    *) echo "tests/fuzz/$1.dict" ;;
  esac
}

max_len_for() {
  case "$1" in
    proxy_request | proxy_response | http_head) echo 20000 ;;
    *) echo 4096 ;;
  esac
}

# Replays the regression inputs of one target. Returns the exit code.
replay() {
  local bin=$1 name=$2 log=$3
  local files=(tests/fuzz/regressions/"$name"/*)
  [ -e "${files[0]}" ] || return 0
  "$bin" "${files[@]}" >>"$log" 2>&1
}

run_one() {
  local bin=$1 name
  name=$(short "$(basename "$bin")")
  local log="$build/logs/$name.log" corpus="$build/corpus/$name" art="$build/artifacts/$name/"
  # smoke: start from the committed seeds only, as a fresh clone does
  if [ "$mode" = smoke ]; then corpus="$build/smoke-corpus/$name"; rm -rf "$corpus"; fi
  mkdir -p "$build/logs" "$corpus" "$art"
  : >"$log"
  local rc=0
  replay "$bin" "$name" "$log" || rc=$?
  if [ "$rc" -eq 0 ]; then
    local dict args=()
    dict=$(dict_for "$name")
    [ -f "$dict" ] && args+=("-dict=$dict")
    # A smoke run (make test, CI) is repeatable: a fixed seed, so a fresh
    # machine explores what the last run here explored; `make fuzz` explores.
    [ "$mode" = smoke ] && args+=("-seed=${FUZZ_SEED:-1}")
    "$bin" -max_total_time="$seconds" -max_len="$(max_len_for "$name")" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$art" "${args[@]}" ${FUZZ_ARGS:-} "$corpus" "tests/fuzz/corpus/$name" >>"$log" 2>&1 || rc=$?
  fi
  local last
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
  local crashes
  crashes=$(find "$art" -type f | wc -l)
  [ "$crashes" -gt 0 ] && [ "$rc" -eq 0 ] && rc=1 # -ignore_crashes: still a failure
  if [ "$rc" -eq 0 ]; then
    echo "fuzz $name: ok (${seconds}s) ${last}"
    passed=$((passed + 1))
  else
    echo "fuzz $name: FAILED (exit $rc), log $log, inputs in $art"
    grep -E 'ERROR|invariant|SUMMARY|proxy_harness|Test unit written' "$log" | head -n 20
    failed=$((failed + 1))
  fi
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
for bin in "$build"/fuzz_*; do
  [ -x "$bin" ] || continue
  case "$bin" in *.d | *.o) continue ;; esac
  if [ -n "${FUZZ_ONLY:-}" ] && [ "$(basename "$bin")" != "$FUZZ_ONLY" ]; then continue; fi
  run_one "$bin"
done
[ "$mode" = smoke ] && echo "(smoke run: ${seconds}s per target, seed ${FUZZ_SEED:-1})"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
