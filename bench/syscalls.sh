#!/usr/bin/env bash
# bench/syscalls.sh: system calls per request, by kind, for tollgate, nginx
# and HAProxy in one run (issue 20). Each server in turn, configured as in
# `make bench` (bench/peers.sh, variant tuned: 2 workers or threads, access
# log off, keep-alive to the mock), in front of build/mock-ollama.
#
#   bench/syscalls.sh [N]     N GET /api/version per server (default 4000)
#   POST=1 bench/syscalls.sh  N POST /api/show with a small JSON body instead
#
# The server starts and takes a warm-up (500 requests, so that pools and
# per-thread buffers exist), then `strace -c -f` attaches to every process
# (and so every thread) of it, N requests go through over 8 keep-alive
# connections (one curl --parallel -K, as bench/instructions.sh), and strace
# is detached. Only the server is traced: not the mock, not curl. Counts are
# exact, times are not (strace slows every call): the figure is the number.
# Prints one table, calls per request by kind and the total; the raw strace
# summaries stay in $OUT (default a new /tmp/tg-syscalls.XXXXXX).
#
# Knobs: SERVERS="tollgate nginx haproxy", BUILD=dir (default build), POST=1.
# Needs strace, curl, nginx (nginx-light), haproxy.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC2034 # root, tmp, auth_*: read by bench/peers.sh
root=$PWD
build=${BUILD:-build}
n=${1:-4000}
servers=${SERVERS:-tollgate nginx haproxy}
out=${OUT:-$(mktemp -d /tmp/tg-syscalls.XXXXXX)}
out=$(cd "$out" && pwd)
scripts/deps.sh strace curl nginx=nginx-light haproxy >/dev/null || exit 1
[ -x "$build/tollgate" ] && [ -x "$build/mock-ollama" ] || make --no-print-directory "$build/tollgate" "$build/mock-ollama"
# shellcheck source=bench/common.sh
. bench/common.sh
# shellcheck disable=SC2034
tmp=$out # bench/peers.sh's name for the run's directory
# shellcheck disable=SC2034
auth_user="" auth_hash=""
# shellcheck source=bench/peers.sh
. bench/peers.sh

pids=()
trap 'for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done; wait 2>/dev/null' EXIT
mock_port=$(free_port)
"$build/mock-ollama" --listen "127.0.0.1:$mock_port" --threads 2 --quiet 2>"$out/mock.log" &
pids+=($!)

requests() { # URL N: N GETs (or POSTs) over 8 keep-alive connections
  for i in $(seq "$2"); do
    if [ -n "${POST:-}" ]; then
      [ "$i" = 1 ] || echo next
      printf 'url = "%s"\ndata = "{\\"model\\":\\"llama3.2\\"}"\noutput = "/dev/null"\n' "${1%/api/version}/api/show"
    else
      printf 'url = "%s"\noutput = "/dev/null"\n' "$1"
    fi
  done >"$out/urls"
  curl -sk --no-progress-meter --parallel --parallel-max 8 -K "$out/urls"
}

for name in $servers; do
  dir=$out/$name
  mkdir -p "$dir"
  chmod 755 "$out" "$dir" # nginx workers may run as nobody
  port=$(free_port)
  "conf_$name" "$dir" "$port" tuned
  (cd "$dir" && "start_$name" "$dir") >"$dir/stdout.log" 2>"$dir/stderr.log" &
  spid=$!
  pids+=("$spid")
  url=http://127.0.0.1:$port/api/version
  for _ in $(seq 100); do curl -sf -o /dev/null "$url" && break; sleep 0.1; done
  curl -sf -o /dev/null "$url" || { echo "syscalls: $name did not start: $(tail -n 5 "$dir"/*.log)" >&2; exit 1; }
  requests "$url" 500
  sleep 0.3
  attach=()
  for p in $(tree_pids "$spid"); do attach+=(-p "$p"); done
  strace -c -f -qq -o "$dir/strace.txt" "${attach[@]}" &
  tpid=$!
  sleep 1 # strace has attached to every thread
  requests "$url" "$n"
  kill -INT "$tpid"
  wait "$tpid" 2>/dev/null || true
  kill -TERM "$spid" 2>/dev/null
  wait "$spid" 2>/dev/null || true
done

what="GET /api/version"
[ -z "${POST:-}" ] || what="POST /api/show (a 20-byte body)"

# The table: one row per kind that any server makes at least 0.05 times a
# request, the rest summed as "other"; the total last.
# shellcheck disable=SC2046 # one file per server
awk -v n="$n" -v servers="$servers" -v out="$out" -v what="$what" '
  BEGIN { ns = split(servers, name, " ") }
  FNR == 1 { s++ }
  # rows: % time, seconds, usecs/call, calls, [errors,] syscall
  (NF == 5 || NF == 6) && $1 ~ /^[0-9.]+$/ && $4 ~ /^[0-9]+$/ && $NF != "total" {
    c[s, $NF] += $4; total[s] += $4; kinds[$NF] = 1
  }
  END {
    printf "System calls per request (%d %s, 8 keep-alive connections; strace -c -f)\n\n", n, what
    printf "| call |"; for (i = 1; i <= ns; i++) printf " %s |", name[i]; printf "\n|---|"
    for (i = 1; i <= ns; i++) printf "---:|"; printf "\n"
    m = 0
    for (k in kinds) { keep = 0; for (i = 1; i <= ns; i++) if (c[i, k] / n >= 0.05) keep = 1; if (keep) order[++m] = k; else for (i = 1; i <= ns; i++) other[i] += c[i, k] }
    # most frequent first (summed over the servers)
    for (a = 1; a <= m; a++) for (b = a + 1; b <= m; b++) {
      sa = 0; sb = 0; for (i = 1; i <= ns; i++) { sa += c[i, order[a]]; sb += c[i, order[b]] }
      if (sb > sa) { t = order[a]; order[a] = order[b]; order[b] = t }
    }
    for (a = 1; a <= m; a++) {
      printf "| `%s` |", order[a]; for (i = 1; i <= ns; i++) printf " %.2f |", c[i, order[a]] / n; printf "\n"
    }
    printf "| other |"; for (i = 1; i <= ns; i++) printf " %.2f |", other[i] / n; printf "\n"
    printf "| **total** |"; for (i = 1; i <= ns; i++) printf " **%.2f** |", total[i] / n; printf "\n"
    printf "\n(raw strace summaries: %s/NAME/strace.txt)\n", out
  }' $(for s in $servers; do echo "$out/$s/strace.txt"; done)
