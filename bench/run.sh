#!/usr/bin/env bash
# First benchmark: the mock Ollama direct versus through tollgate, in one
# run, alternating, two rounds each; prints a markdown table of medians.
# (Peers — nginx, HAProxy, Caddy, h2o — join this harness in bench/peers.)
#   small requests: wrk -t2 -c64 GET /api/version (req/s, p99)
#   streaming: N concurrent generations, 100 tokens 20 ms apart (added latency per chunk)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
streams=${STREAMS:-200}
out=${OUT:-bench/results}
mkdir -p "$out"
command -v wrk >/dev/null || scripts/deps.sh wrk

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
mock_port=$(free_port)
tg_port=$(free_port)
"$build/mock-ollama" --listen "127.0.0.1:$mock_port" --threads 1 --quiet 2>/dev/null &
mock_pid=$!
"$build/tollgate" --listen "127.0.0.1:$tg_port" --upstream "http://127.0.0.1:$mock_port" --workers 2 --access-log off 2>/dev/null &
tg_pid=$!
trap 'kill $mock_pid $tg_pid 2>/dev/null' EXIT
sleep 0.5

wrk_run() { # port -> "rps p99_ms"
  wrk -t2 -c64 -d5s --latency "http://127.0.0.1:$1/api/version" | awk '
    /Requests\/sec/ {rps=$2} / 99%/ {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000} p99=v}
    END {printf "%d %.2f\n", rps, p99}'
}
stream_run() { node bench/stream-latency.mjs --port "$1" --streams "$streams" --tokens 100 --delay-ms 20; }
median2() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

: > "$out/raw.txt"
if [ -n "${REUSE:-}" ]; then cp "$REUSE" "$out/raw.txt"; else
for round in 1 2; do
  for target in direct tollgate; do
    port=$mock_port; [ "$target" = tollgate ] && port=$tg_port
    echo "wrk $target round $round $(wrk_run "$port")" >> "$out/raw.txt"
    echo "stream $target round $round $(stream_run "$port")" >> "$out/raw.txt"
  done
done
fi
cat "$out/raw.txt" >&2

field() { grep "^$1 $2 " "$out/raw.txt" | sed -E "s/.*\"$3\":([0-9.]+).*/\1/" | median2; }
wrk_col() { grep "^wrk $1 " "$out/raw.txt" | awk -v c="$2" '{print $(4+c)}' | median2; }
d_rps=$(wrk_col direct 1); t_rps=$(wrk_col tollgate 1)
echo
echo "| figure | direct | tollgate | tollgate/direct |"
echo "|---|---|---|---|"
echo "| GET /api/version req/s (wrk -t2 -c64) | $d_rps | $t_rps | $(awk -v a="$t_rps" -v b="$d_rps" 'BEGIN{printf "%.2f", a/b}') |"
echo "| GET /api/version p99 ms | $(wrk_col direct 2) | $(wrk_col tollgate 2) | |"
for f in p50_us p99_us ttfc_p50_ms lost; do
  echo "| $streams streams: $f | $(field stream direct $f) | $(field stream tollgate $f) | |"
done
