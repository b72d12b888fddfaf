#!/usr/bin/env bash
# bench/instructions.sh: instructions tollgate executes per small request or
# per streamed chunk, under valgrind's callgrind. Unlike req/s, the count does
# not move with whatever else runs on the machine, so it is the figure to
# compare before and after a change to the hot path.
#
#   bench/instructions.sh plain [N]    N GET /api/version, keep-alive (default 4000)
#   bench/instructions.sh tls [N]      the same over TLS 1.3 (8 handshakes included)
#   bench/instructions.sh stream [S]   S streams of 100 tokens (default 200)
#
# One worker, access log off, the mock Ollama on a free port. Requests come
# from one curl with 8 connections in parallel (curl --parallel -K), streams
# from bench/streamclient.c; warm-up first, counters zeroed after it
# (callgrind_control -z), so start-up is not counted. Prints the total and
# the per-request (or per-chunk) figure; the profile stays in $OUT
# (callgrind_annotate $OUT/callgrind.out.*.1 shows where they go).
# Needs valgrind and curl. BUILD=dir picks the build (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-plain}
build=${BUILD:-build}
out=${OUT:-$(mktemp -d /tmp/tg-instr.XXXXXX)}
[ -x "$build/tollgate" ] && [ -x "$build/mock-ollama" ] || make --no-print-directory "$build/tollgate" "$build/mock-ollama"
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null || {
  echo "instructions.sh: needs valgrind (apt-get install valgrind)" >&2
  exit 2
}
# shellcheck source=bench/common.sh
. bench/common.sh
mock_port=$(free_port)
port=$(free_port)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null' EXIT
"$build/mock-ollama" --listen "127.0.0.1:$mock_port" --threads 2 --quiet &
pids+=($!)

scheme=http listen="listen 127.0.0.1:$port;"
if [ "$mode" = tls ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$out/key.pem" -out "$out/cert.pem" \
    -days 2 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 2>/dev/null
  scheme=https listen="listen 127.0.0.1:$port tls; tls cert $out/cert.pem key $out/key.pem;"
fi
printf 'workers 1;\naccess_log off;\nerror_log %s/error.log;\nupstream ollama { server 127.0.0.1:%s; }\nsite _ { %s proxy ollama; }\n' \
  "$out" "$mock_port" "$listen" >"$out/tollgate.conf"
valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out.%p" "$build/tollgate" -c "$out/tollgate.conf" 2>"$out/valgrind.err" &
vg=$!
pids+=("$vg")
url=$scheme://127.0.0.1:$port/api/version
for _ in $(seq 150); do curl -sk -o /dev/null "$url" && break; sleep 0.2; done

requests() { # N: N GETs over 8 keep-alive connections
  for _ in $(seq "$1"); do printf 'url = "%s"\noutput = "/dev/null"\n' "$url"; done >"$out/urls"
  curl -sk --parallel --parallel-max 8 -K "$out/urls"
}
client=$build/streamclient
if [ "$mode" = stream ]; then
  cc -O2 -Wall -Wextra -o "$client" bench/streamclient.c -lssl -lcrypto
  "$client" --port "$port" --streams 20 --tokens 5 --delay-ms 5 >/dev/null
else
  requests 500
fi
callgrind_control -z "$vg" >/dev/null 2>&1
if [ "$mode" = stream ]; then
  n=${2:-200}
  "$client" --port "$port" --streams "$n" --tokens 100 --delay-ms 20 --timeout-s 120 | tail -n 1
  units=$((n * 101)) what=chunk # 100 tokens and the final line
else
  n=${2:-4000}
  requests "$n"
  units=$n what=request
fi
callgrind_control -d "$vg" >/dev/null 2>&1
total=$(callgrind_annotate "$(ls "$out"/callgrind.out.*.1 | head -n 1)" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
echo "$mode: $total instructions, $((total / units)) per $what (profile: $out)"
