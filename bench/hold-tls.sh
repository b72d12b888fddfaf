#!/usr/bin/env bash
# bench/hold-tls.sh: RSS growth per held TLS stream for tollgate alone, the
# way bench/run.sh's `hold` measures the tls variant (same config as
# bench/peers.sh conf_tollgate tls, same warm-up, same streamclient run), so
# a change to tollgate's memory can be checked without the other servers or
# any throughput run.
#
#   bench/hold-tls.sh [N=1000] [ROUNDS=1]
#
# Each round: a fresh tollgate (2 workers, a self-signed P-256 certificate)
# in front of the mock; the warm-up; RSS of tollgate's processes; N slow
# streams through TLS (streamclient --hold); RSS again 1 s after every
# stream has its first line; (after - before) / N.
# Environment: BUILD=build (holds tollgate and mock-ollama), PLAIN=1 (the
# same without TLS), HEAP=1 (also malloc's bytes in use, mallinfo2 through
# gdb: what is allocated per stream, beside what is resident).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${BUILD:-build}
n=${1:-1000}
rounds=${2:-1}
hold_delay=5000
[ -x "$build/tollgate" ] && [ -x "$build/mock-ollama" ] || { echo "hold-tls: build $build/tollgate and $build/mock-ollama first" >&2; exit 1; }
tmp=$(mktemp -d /tmp/tollgate-hold.XXXXXX)
srv="" mock_pid=""
trap '[ -n "$srv" ] && kill "$srv" 2>/dev/null; [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
client=$tmp/streamclient
cc -O2 -Wall -Wextra -o "$client" bench/streamclient.c -lssl -lcrypto || exit 1
ulimit -n "$(ulimit -Hn)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
scheme=https tls=(--tls) variant=tls
[ -n "${PLAIN:-}" ] && scheme=http tls=() variant=tuned

# shellcheck source=bench/common.sh
. bench/common.sh
# shellcheck source=bench/peers.sh
. bench/peers.sh
heap_bytes() { gdb -p "$1" -batch -ex 'p mallinfo2().uordblks' 2>/dev/null | sed -n 's/^\$1 = //p'; }

mock_port=$(free_port)
"$build/mock-ollama" --listen "127.0.0.1:$mock_port" --threads 2 --quiet 2>"$tmp/mock.err" &
mock_pid=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$mock_port/api/version" && break; sleep 0.1; done

for r in $(seq "$rounds"); do
  port=$(free_port) d=$tmp/r$r
  mkdir -p "$d"
  conf_tollgate "$d" "$port" "$variant"
  "$root/$build/tollgate" -c "$d/tollgate.conf" >"$d/out.log" 2>&1 &
  srv=$!
  for _ in $(seq 100); do
    c=$(curl -sk -w '%{http_code}' "$scheme://127.0.0.1:$port/api/version" 2>/dev/null)
    case $c in *'"version"'*200) break ;; esac
    sleep 0.1
  done
  sleep 0.2
  hold_warmup "$client" "$scheme" "$port" "${tls[@]}"
  [ -n "${HEAP:-}" ] && h0=$(heap_bytes "$srv")
  mapfile -t pids < <(tree_pids "$srv")
  r0=$(rss_kb "${pids[@]}")
  f=$d/hold.txt
  hold_open "$client" "$port" "$n" "$hold_delay" "$f" "${tls[@]}"
  mapfile -t pids < <(tree_pids "$srv")
  r1=$(rss_kb "${pids[@]}")
  [ -n "${HEAP:-}" ] && h1=$(heap_bytes "$srv")
  kill -TERM "$hold_cpid" 2>/dev/null
  wait "$hold_cpid" 2>/dev/null
  awk -v a="$r0" -v b="$r1" -v n="$n" -v r="$r" -v v="${PLAIN:+plain}" \
    'BEGIN {printf "round %d: %d %s streams: rss %d -> %d KB, %.2f KB per stream\n", r, n, v ? v : "TLS", a, b, (b - a) / n}'
  [ -n "${HEAP:-}" ] && echo "  malloc in use: $h0 -> $h1 bytes, $(((h1 - h0) / n)) B per stream"
  [ -n "$hold_ready" ] || echo "  not every stream was ready: $(tail -n 1 "$f")"
  kill -TERM "$srv" 2>/dev/null
  wait "$srv" 2>/dev/null
  srv=""
done
