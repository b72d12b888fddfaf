#!/usr/bin/env bash
# bench/shared.sh: what a `shared` block costs a limited request
# (docs/limits.md, "Several instances"), in one run:
#   1. added latency: p50/p99 of a limited request (GET /api/version under
#      `limit rate ... on all`, never refused) with the rate counted in
#      Redis versus counted locally, one connection, the two tollgates
#      measured alternately (ROUNDS rounds of SECS seconds);
#   2. requests/s of two instances sharing one Redis, both loaded at once,
#      versus one instance alone (wrk -t1 -c32 per instance);
#   3. Redis commands per request (INFO commandstats over the runs).
#
#   bench/shared.sh [ROUNDS] [SECS]      (defaults 3 and 5)
#
# One worker per tollgate, access log off, the mock Ollama and a
# redis-server of its own on free ports (loopback). Needs wrk and
# redis-server. BUILD=dir picks the build (default build). Everything
# shares the machine's cores (2 here): the latency figures are the point,
# the requests/s ones show the shape only.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
secs=${2:-5}
build=${BUILD:-build}
out=${OUT:-$(mktemp -d /tmp/tg-shared-bench.XXXXXX)}
[ -x "$build/tollgate" ] && [ -x "$build/mock-ollama" ] || make --no-print-directory "$build/tollgate" "$build/mock-ollama"
command -v wrk >/dev/null && command -v redis-server >/dev/null || {
  echo "shared.sh: needs wrk and redis-server" >&2
  exit 2
}
# shellcheck source=bench/common.sh
. bench/common.sh
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null' EXIT

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$out" >"$out/redis.log" 2>&1 &
pids+=($!)
mock_port=$(free_port)
"$build/mock-ollama" --listen "127.0.0.1:$mock_port" --threads 2 --quiet &
pids+=($!)

start_tollgate() { # NAME SHARED(0|1): sets port
  local name=$1 shared=""
  port=$(free_port)
  if [ "$2" = 1 ]; then shared="shared redis://127.0.0.1:$redis_port { timeout 50ms; }"; fi
  cat >"$out/$name.conf" <<CONF
workers 1;
access_log off;
$shared
upstream o { server 127.0.0.1:$mock_port; }
site _ { listen 127.0.0.1:$port; proxy o; limit rate 1000000r/s burst 1000000 nodelay per ip on all; }
CONF
  "$build/tollgate" -c "$out/$name.conf" >"$out/$name.log" 2>&1 &
  pids+=($!)
}
start_tollgate local 0
local_port=$port
start_tollgate shared 1
shared_port=$port
start_tollgate shared2 1
shared2_port=$port
for p in "$local_port" "$shared_port" "$shared2_port" "$redis_port"; do
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && break; sleep 0.05; done
done
sleep 0.3 # the workers' connections to Redis
for p in "$local_port" "$shared_port" "$shared2_port"; do curl -s -o /dev/null "http://127.0.0.1:$p/api/version"; done

wrk_fields() { # FILE: "rps p50_us p99_us requests"
  awk 'function us(v) { if (v ~ /us$/) { sub(/us$/, "", v); return v + 0 } if (v ~ /ms$/) { sub(/ms$/, "", v); return v * 1000 }
                        if (v ~ /s$/) { sub(/s$/, "", v); return v * 1e6 } return v }
       /Requests\/sec/ {rps = $2} / 50%/ {p50 = us($2)} / 99%/ {p99 = us($2)} /requests in/ {req = $1}
       END {printf "%d %.0f %.0f %d\n", rps, p50, p99, req}' "$1"
}
evalsha_calls() {
  redis-cli -p "$redis_port" INFO commandstats | awk -F'[=:,]' '/^cmdstat_(evalsha|eval):/ {n += $3} END {print n + 0}'
}
all_calls() {
  redis-cli -p "$redis_port" INFO commandstats | awk -F'[=:,]' '/^cmdstat_/ {n += $3} END {print n + 0}'
}

echo "== 1. a limited request, one connection (wrk -t1 -c1 -d${secs}s): p50 / p99 in microseconds"
printf '%-6s %-8s %8s %8s %8s\n' round counted p50_us p99_us req/s
shared_reqs=0
e0=$(evalsha_calls)
a0=$(all_calls)
for r in $(seq "$rounds"); do
  for v in local shared; do
    port=$local_port
    [ "$v" = shared ] && port=$shared_port
    wrk -t1 -c1 -d"${secs}s" --latency "http://127.0.0.1:$port/api/version" >"$out/lat-$v-$r.txt" 2>&1
    read -r rps p50 p99 req < <(wrk_fields "$out/lat-$v-$r.txt")
    [ "$v" = shared ] && shared_reqs=$((shared_reqs + req))
    printf '%-6s %-8s %8s %8s %8s\n' "$r" "$v" "$p50" "$p99" "$rps"
  done
done
e1=$(evalsha_calls)
a1=$(all_calls)

echo "== 2. requests/s (wrk -t1 -c32 -d${secs}s per instance)"
wrk -t1 -c32 -d"${secs}s" "http://127.0.0.1:$shared_port/api/version" >"$out/one.txt" 2>&1
read -r one_rps _ _ one_req < <(wrk_fields "$out/one.txt")
wrk -t1 -c32 -d"${secs}s" "http://127.0.0.1:$shared_port/api/version" >"$out/two-a.txt" 2>&1 &
wa=$!
wrk -t1 -c32 -d"${secs}s" "http://127.0.0.1:$shared2_port/api/version" >"$out/two-b.txt" 2>&1
wait "$wa"
read -r a_rps _ _ _ < <(wrk_fields "$out/two-a.txt")
read -r b_rps _ _ _ < <(wrk_fields "$out/two-b.txt")
echo "one instance alone:           $one_rps req/s"
echo "two instances, one Redis:     $((a_rps + b_rps)) req/s ($a_rps + $b_rps)"

echo "== 3. Redis commands per limited request (section 1's shared runs)"
awk -v e=$((e1 - e0)) -v a=$((a1 - a0)) -v n="$shared_reqs" \
  'BEGIN { printf "%d requests: %.3f scripts (EVALSHA/EVAL) and %.3f commands counted by Redis (the TIME, GET and SET inside the script and the PINGs included) per request\n", n, e / n, a / n }'
echo "(raw output in $out)"
