#!/usr/bin/env bash
# `make bench`: tollgate side by side with nginx, HAProxy, Caddy and h2o
# (issue 8), on this machine, over loopback, against the mock Ollama.
#
# Starts the mock (2 threads), then, one at a time, tollgate and each peer
# configured for streaming the way the seed and their docs say (bench/peers.sh
# writes the configs), 2 workers each, each from its own temp dir with its own
# pid and log files on a free port. Every scenario runs ROUNDS times (default
# 2), the servers alternating (round 2 runs them in reverse order); the report
# gives medians. Scenarios:
#   wrk     GET /api/version, wrk -t2 -c64, keep-alive: req/s, p99, CPU/request
#   stream  200 and 2,000 concurrent generations, 100 tokens 20 ms apart,
#           through bench/streamclient.c (epoll, one thread): per-chunk latency
#           (arrival minus the mock's CLOCK_MONOTONIC stamp), time to first
#           chunk, chunks lost, CPU per chunk
#   hold    RSS growth per live stream with 1,000 and 9,000 slow streams open
#           (a fresh server each time; RSS of all the server's processes)
#   min     the textbook minimal configs (nginx proxy_pass only, HAProxy
#           without http-no-delay, tollgate with a two-line file): streaming
#   tls     every server over TLS (one self-signed P-256 certificate for all):
#           wrk, 200 streams, RSS per live stream at 1,000
#   handshake  new connections per second through bench/hsclient.c (2
#           processes x 32 connections, each one a handshake and one
#           GET /api/version): TLS 1.3 and 1.2, full and resumed (session
#           tickets), and the same over plain TCP; proxy CPU per connection
#   auth    Basic auth, bcrypt cost 10, keep-alive (when tollgate has `auth basic`)
#   cluster four simulated Ollama servers with different catalogues, 2 s
#           model loads, 2 slots each; 16 clients in a closed loop on a
#           weighted model mix behind each balancer's least-connections
#           policy with retries: completed requests, TTFT, loads, 404s and
#           503s reaching clients (bench/cluster.sh; runs once, not per round)
#   affinity  multi-turn chats over four servers with the model loaded and
#           the mock's per-slot prompt cache (slow prompt evaluation):
#           tollgate with and without conversation affinity, nginx least_conn
#           and nginx hash on a conversation id; follow-up TTFT and prompt
#           tokens evaluated per follow-up (bench/affinity.sh; runs once)
#   h2      every server over TLS with HTTP/2 (ALPN h2): h2load on
#           /api/version, few connections with many streams and many
#           connections; RSS per idle HTTP/2 connection and per live HTTP/2
#           stream (bench/h2.sh, bench/h2hold.mjs)
# Raw figures: bench/results/bench-<time>/ (results.jsonl, wrk outputs, logs);
# the report: docs/benchmarks.md (rewritten below its marker line) and stdout.
#
# Knobs (environment): ROUNDS=2, SERVERS="tollgate nginx haproxy caddy h2o"
# (add tollgate_uring for tollgate with `io_engine io_uring;` beside it),
# SCENARIOS="wrk stream hold min tls handshake auth cluster h2" (any subset: only those
# run; a run of only tls and handshake writes docs/benchmarks-tls.md, any other
# partial run writes no doc unless REPORT_DOC=FILE is given),
# WRK_SECONDS=5, STREAMS="200 2000", HOLDS="1000 9000", HOLD_DELAY_MS=5000,
# HS_SECONDS=5, HS_TLS="1.3 1.2",
# TLS=1, MINIMAL=1, AUTH=auto|0|1, MOCK_THREADS=2, REPORT=1 (0: no docs rewrite),
# QUICK=1 (a smoke run: 1 round, short and small; never writes docs/),
# REPORT_FROM=DIR (only rebuild the report from a previous run's raw files),
# CLUSTER_* (bench/cluster.sh), AFF_* (bench/affinity.sh), H2_* (bench/h2.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${BUILD:-build}

all_scenarios="wrk stream hold min tls handshake auth cluster affinity h2"
scenarios=${SCENARIOS:-$all_scenarios}
for s in $scenarios; do
  case " $all_scenarios " in *" $s "*) ;; *) echo "bench: unknown scenario '$s' (SCENARIOS takes: $all_scenarios)" >&2; exit 2 ;; esac
done
want() { case " $scenarios " in *" $1 "*) return 0 ;; esac; return 1; }
partial=0
for s in $all_scenarios; do want "$s" || partial=1; done
# Which doc the report rewrites (bench/report.mjs, --write auto): a run of
# every scenario, docs/benchmarks.md; of the TLS scenarios alone,
# docs/benchmarks-tls.md (docs/benchmarks.md keeps its figures: a partial run
# never rewrites it); any other subset, none unless REPORT_DOC=FILE.
report_doc=${REPORT_DOC:-auto}

if [ -n "${REPORT_FROM:-}" ]; then
  exec node bench/report.mjs --dir "$REPORT_FROM" --write "$report_doc"
fi

quick=${QUICK:-0}
rounds=${ROUNDS:-2}
servers=${SERVERS:-tollgate nginx haproxy caddy h2o}
wrk_s=${WRK_SECONDS:-5}
stream_counts=${STREAMS:-200 2000}
hold_counts=${HOLDS:-1000 9000}
hold_delay=${HOLD_DELAY_MS:-5000}
hs_s=${HS_SECONDS:-5}
hs_tls=${HS_TLS:-1.3 1.2}
tokens=100
do_tls=${TLS:-1}
do_min=${MINIMAL:-1}
do_auth=${AUTH:-auto}
want tls || do_tls=0
want min || do_min=0
want auth || do_auth=0
mock_threads=${MOCK_THREADS:-2}
report=${REPORT:-1}
if [ "$quick" = 1 ]; then
  export CLUSTER_SECONDS=${CLUSTER_SECONDS:-5} CLUSTER_LOAD_MS=${CLUSTER_LOAD_MS:-500}
  rounds=${ROUNDS:-1} wrk_s=${WRK_SECONDS:-1} stream_counts=${STREAMS:-50 300}
  hold_counts=${HOLDS:-100 500} hold_delay=${HOLD_DELAY_MS:-1000} tokens=20 report=0 hs_s=${HS_SECONDS:-1}
fi

stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=${OUT:-bench/results}/bench-$stamp
mkdir -p "$out"
out=$(cd "$out" && pwd)
raw=$out/results.jsonl
: >"$raw"
log() { echo "bench: $*" >&2; }

# Bench-only tools (the build deps come from `make deps`).
scripts/deps.sh wrk curl openssl node=nodejs nginx=nginx-light haproxy caddy h2o htpasswd=apache2-utils h2load=nghttp2-client || exit 1
[ -x "$build/tollgate" ] && [ -x "$build/mock-ollama" ] || make --no-print-directory "$build/tollgate" "$build/mock-ollama" || exit 1
client=$build/streamclient
cc -O2 -Wall -Wextra -o "$client" bench/streamclient.c -lssl -lcrypto || exit 1
hsclient=$build/hsclient
cc -O2 -Wall -Wextra -o "$hsclient" bench/hsclient.c -lssl -lcrypto || exit 1

ulimit -n "$(ulimit -Hn)"
tmp=$(mktemp -d /tmp/tollgate-bench.XXXXXX)
chmod 755 "$tmp"
started_pids=()
cleanup() {
  for p in "${started_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 0.3
  for p in "${started_pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=bench/common.sh
. bench/common.sh

hz=$(getconf CLK_TCK)
cpu_ticks() { # utime+stime of each pid given, summed
  local t=0 p s
  for p in "$@"; do
    s=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
    set -- $s
    t=$((t + ${12} + ${13}))
  done
  echo "$t"
}
fds() { local t=0 p; for p in "$@"; do t=$((t + $(ls "/proc/$p/fd" 2>/dev/null | wc -l))); done; echo "$t"; }
secs() { awk -v t="$1" -v hz="$hz" 'BEGIN {printf "%.3f", t / hz}'; }
now() { date +%s.%N; }
emit() { echo "$1" >>"$raw"; echo "  $1" >&2; }

# ---------- the certificate, the htpasswd file ----------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
cat "$tmp/cert.pem" "$tmp/key.pem" >"$tmp/bundle.pem"
chmod 644 "$tmp"/*.pem
auth_user=bench auth_pass=bench-secret
auth_hash=$(htpasswd -nbB -C 10 "$auth_user" "$auth_pass" | cut -d: -f2-)
printf '%s:%s\n' "$auth_user" "$auth_hash" >"$tmp/htpasswd"
chmod 644 "$tmp/htpasswd"
auth_b64=$(printf '%s:%s' "$auth_user" "$auth_pass" | base64 -w0)
if [ "$do_auth" = auto ]; then
  printf 'upstream o { server 127.0.0.1:1; }\nsite _ { listen 127.0.0.1:1; auth basic %s; }\n' "$tmp/htpasswd" >"$tmp/auth-check.conf"
  if "$build/tollgate" -t -c "$tmp/auth-check.conf" >/dev/null 2>&1; then do_auth=1; else do_auth=0; fi
fi

# ---------- the mock ----------
mock_port=$(free_port)
"$build/mock-ollama" --listen "127.0.0.1:$mock_port" --threads "$mock_threads" --quiet 2>"$out/mock.err" &
mock_pid=$!
started_pids+=("$mock_pid")
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$mock_port/api/version" && break; sleep 0.1; done

# ---------- servers ----------
# shellcheck source=bench/peers.sh
. bench/peers.sh

srv_pid="" srv_port="" srv_pids=() srv_scheme=http srv_dir=""
start_server() { # NAME VARIANT (tuned|min|tls|auth) -> srv_pid, srv_port, srv_pids
  local name=$1 variant=$2
  srv_port=$(free_port)
  srv_dir=$tmp/$name-$variant-$RANDOM
  mkdir -p "$srv_dir"
  chmod 755 "$srv_dir"
  srv_scheme=http
  [ "$variant" = tls ] || [ "$variant" = h2 ] && srv_scheme=https
  if [ "$name" = direct ]; then
    srv_pid=$mock_pid srv_port=$mock_port srv_pids=("$mock_pid")
    return 0
  fi
  "conf_$name" "$srv_dir" "$srv_port" "$variant" || return 1
  (cd "$srv_dir" && "start_$name" "$srv_dir") >"$srv_dir/stdout.log" 2>"$srv_dir/stderr.log" &
  srv_pid=$!
  started_pids+=("$srv_pid")
  local code=""
  for _ in $(seq 100); do # 200 and the mock's answer (not the server's own)
    code=$(curl -sk -w '%{http_code}' -H "Authorization: Basic $auth_b64" \
      "$srv_scheme://127.0.0.1:$srv_port/api/version" 2>/dev/null)
    case $code in *'"version"'*200) code=200; break ;; esac
    kill -0 "$srv_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ "$code" != 200 ]; then
    log "$name/$variant did not start (last status '$code'); its logs:"
    tail -n 20 "$srv_dir"/*.log >&2
    stop_server
    return 1
  fi
  sleep 0.2
  mapfile -t srv_pids < <(tree_pids "$srv_pid")
}
stop_server() {
  [ -z "$srv_pid" ] || [ "$srv_pid" = "$mock_pid" ] && { srv_pid=""; return; }
  kill -TERM "$srv_pid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$srv_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$srv_pid" 2>/dev/null
  for p in "${srv_pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  wait "$srv_pid" 2>/dev/null
  mkdir -p "$out/logs"
  cp -r "$srv_dir" "$out/logs/" 2>/dev/null
  srv_pid=""
}

# ---------- measurements ----------
tag() { printf '"server":"%s","variant":"%s","round":%d' "$1" "$2" "$3"; }

run_wrk() { # NAME VARIANT ROUND [auth]
  local name=$1 variant=$2 round=$3 extra=() f c0 c1 m0 m1 t0 t1
  [ "${4:-}" = auth ] && extra=(-H "Authorization: Basic $auth_b64")
  f=$out/wrk-$name-$variant-r$round.txt
  c0=$(cpu_ticks "${srv_pids[@]}"); m0=$(cpu_ticks "$mock_pid"); t0=$(now)
  wrk -t2 -c64 -d"${wrk_s}s" --timeout 30s --latency "${extra[@]}" "$srv_scheme://127.0.0.1:$srv_port/api/version" >"$f" 2>&1
  t1=$(now); c1=$(cpu_ticks "${srv_pids[@]}"); m1=$(cpu_ticks "$mock_pid")
  [ "$name" = direct ] && c1=$c0
  local fields
  fields=$(awk '
    function ms(v) { if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 } if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 } if (v ~ /s$/) { sub(/s$/, "", v); return v * 1000 } if (v ~ /m$/) { sub(/m$/, "", v); return v * 60000 } return v }
    /Requests\/sec/ {rps = $2} / 50%/ {p50 = ms($2)} / 99%/ {p99 = ms($2)} /requests in/ {req = $1}
    /Socket errors/ {gsub(/,/, ""); err = $4 + $6 + $8 + $10} /Non-2xx/ {bad = $NF}
    END {printf "\"rps\":%d,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"requests\":%d,\"socket_errors\":%d,\"non2xx\":%d", rps, p50, p99, req, err, bad}' "$f")
  emit "{\"kind\":\"wrk$([ "${4:-}" = auth ] && echo -auth)\",$(tag "$name" "$variant" "$round"),$fields,\"proxy_cpu_s\":$(secs $((c1 - c0))),\"mock_cpu_s\":$(secs $((m1 - m0))),\"wall_s\":$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b - a}')}"
}

run_stream() { # NAME VARIANT ROUND N
  local name=$1 variant=$2 round=$3 n=$4 tls=() c0 c1 m0 m1 res
  [ "$srv_scheme" = https ] && tls=(--tls)
  c0=$(cpu_ticks "${srv_pids[@]}"); m0=$(cpu_ticks "$mock_pid")
  res=$("$client" --port "$srv_port" --streams "$n" --tokens "$tokens" --delay-ms 20 --timeout-s 60 "${tls[@]}" | tail -n 1)
  c1=$(cpu_ticks "${srv_pids[@]}"); m1=$(cpu_ticks "$mock_pid")
  [ "$name" = direct ] && c1=$c0
  [ -n "$res" ] || res='{"error":"client failed"}'
  emit "{\"kind\":\"stream\",$(tag "$name" "$variant" "$round"),\"n\":$n,\"tokens\":$tokens,\"proxy_cpu_s\":$(secs $((c1 - c0))),\"mock_cpu_s\":$(secs $((m1 - m0))),${res#\{}"
}

run_hold() { # NAME VARIANT ROUND N: on a freshly started server
  local name=$1 variant=$2 round=$3 n=$4 tls=() f r0 r1 m0 m1 ready fd1
  [ "$srv_scheme" = https ] && tls=(--tls)
  hold_warmup "$client" "$srv_scheme" "$srv_port" "${tls[@]}"
  mapfile -t srv_pids < <(tree_pids "$srv_pid")
  r0=$(rss_kb "${srv_pids[@]}"); m0=$(rss_kb "$mock_pid")
  f=$out/hold-$name-$variant-$n-r$round.txt
  hold_open "$client" "$srv_port" "$n" "$hold_delay" "$f" "${tls[@]}"
  mapfile -t srv_pids < <(tree_pids "$srv_pid")
  r1=$(rss_kb "${srv_pids[@]}"); m1=$(rss_kb "$mock_pid"); fd1=$(fds "${srv_pids[@]}")
  kill -TERM "$hold_cpid" 2>/dev/null
  wait "$hold_cpid" 2>/dev/null
  ready=${hold_ready#READY }
  # not every stream got its first line in time: the client's final count
  [ -n "$ready" ] || ready=$(tail -n 1 "$f" | sed 's/^{/{"ready_timeout":true,/')
  [ -n "$ready" ] || ready='{"error":"client failed"}'
  emit "{\"kind\":\"hold\",$(tag "$name" "$variant" "$round"),\"n\":$n,\"rss0_kb\":$r0,\"rss_kb\":$r1,\"per_stream_kb\":$(awk -v a="$r0" -v b="$r1" -v n="$n" 'BEGIN{printf "%.2f", (b - a) / n}'),\"mock_rss_growth_kb\":$((m1 - m0)),\"fds\":$fd1,\"procs\":${#srv_pids[@]},${ready#\{}"
}

run_hs() { # NAME VARIANT ROUND TLS(1.3|1.2|none) [resume]: new connections per second
  local name=$1 variant=$2 round=$3 v=$4 extra=() c0 c1 m0 m1 res
  [ "${5:-}" = resume ] && extra=(--resume)
  c0=$(cpu_ticks "${srv_pids[@]}"); m0=$(cpu_ticks "$mock_pid")
  res=$("$hsclient" --port "$srv_port" --procs 2 --conns 32 --seconds "$hs_s" --tls "$v" "${extra[@]}" 2>>"$out/hsclient.err" | tail -n 1)
  c1=$(cpu_ticks "${srv_pids[@]}"); m1=$(cpu_ticks "$mock_pid")
  [ "$name" = direct ] && c1=$c0
  [ -n "$res" ] || res='{"error":"client failed"}'
  emit "{\"kind\":\"handshake\",$(tag "$name" "$variant" "$round"),\"proxy_cpu_s\":$(secs $((c1 - c0))),\"mock_cpu_s\":$(secs $((m1 - m0))),${res#\{}"
}

# ---------- versions ----------
jstr() { printf '"%s"' "$(printf '%s' "$*" | sed 's/\\/\\\\/g; s/"/\\"/g' | tr -d '\n')"; }
{
  echo "{"
  echo "\"date\":$(jstr "$(date -u '+%Y-%m-%d %H:%M UTC')"),"
  echo "\"tollgate\":$(jstr "$("$build/tollgate" --version 2>&1 | head -n 1)"),"
  echo "\"tollgate_commit\":$(jstr "$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- src include 2>/dev/null || echo ' + uncommitted changes in src/ include/')"),"
  echo "\"nginx\":$(jstr "$(nginx -v 2>&1 | head -n 1) ($(dpkg-query -W -f='${Package} ${Version}\n' nginx-light nginx 2>/dev/null | head -n 1))"),"
  echo "\"haproxy\":$(jstr "$(haproxy -v 2>&1 | head -n 1 | sed 's/ - https.*//')"),"
  echo "\"caddy\":$(jstr "caddy $(caddy version 2>&1 | head -n 1)"),"
  echo "\"h2o\":$(jstr "$(h2o --version 2>&1 | head -n 1)"),"
  echo "\"wrk\":$(jstr "$(wrk --version 2>&1 | head -n 1 | sed 's/ Copyright.*//')"),"
  echo "\"h2load\":$(jstr "$(h2load --version 2>&1 | head -n 1)"),"
  echo "\"kernel\":$(jstr "$(uname -srm)"),"
  echo "\"cpus\":$(jstr "$(nproc) x $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"),"
  echo "\"memory\":$(jstr "$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"),"
  echo "\"nofile\":$(jstr "$(ulimit -Sn)/$(ulimit -Hn)"),"
  echo "\"loadavg\":$(jstr "$(cut -d' ' -f1-3 /proc/loadavg)"),"
  echo "\"busy_at_start\":$(jstr "$(top -bn1 -w 200 | awk 'NR > 7 && $9 + 0 >= 20 {printf "%s%s (%s%% CPU)", sep, $12, $9; sep = ", "}')"),"
  echo "\"mock_threads\":$mock_threads,\"rounds\":$rounds,\"wrk_seconds\":$wrk_s,\"tokens\":$tokens,\"hold_delay_ms\":$hold_delay,\"hs_seconds\":$hs_s,"
  echo "\"scenarios\":$(jstr "$scenarios"),\"partial\":$([ "$partial" = 1 ] && echo true || echo false),\"servers\":$(jstr "$servers"),"
  echo "\"auth\":$([ "$do_auth" = 1 ] && echo true || echo false),\"quick\":$([ "$quick" = 1 ] && echo true || echo false)"
  echo "}"
} >"$out/versions.json"
log "raw figures in $out"
cat "$out/versions.json" >&2

# ---------- the rounds ----------
t_start=$(date +%s)
if [ "$quick" != 1 ] && want stream; then # is the Node client good enough at the top count? (it is not: see docs)
  top=${stream_counts##* }
  res=$(node bench/stream-latency.mjs --port "$mock_port" --streams "$top" --tokens "$tokens" --delay-ms 20 | tail -n 1)
  emit "{\"kind\":\"node-client\",\"server\":\"direct\",\"variant\":\"tuned\",\"round\":1,\"n\":$top,${res#\{}"
fi
for round in $(seq "$rounds"); do
  order="direct $servers"
  [ $((round % 2)) = 0 ] && order=$(echo "$order" | tr ' ' '\n' | tac | tr '\n' ' ')
  log "round $round: $order"
  for name in $order; do
    # direct streams are the floor of the TLS streaming rows too
    if want wrk || want stream || want handshake || { [ "$name" = direct ] && [ "$do_tls" = 1 ]; }; then
      log "$name (round $round)"
      if start_server "$name" tuned; then
        want wrk && run_wrk "$name" tuned "$round"
        if want stream; then
          for n in $stream_counts; do run_stream "$name" tuned "$round" "$n"; done
        elif [ "$name" = direct ] && [ "$do_tls" = 1 ]; then
          run_stream direct tuned "$round" "${stream_counts%% *}"
        fi
        want handshake && run_hs "$name" tuned "$round" none # the same connections without TLS
        stop_server
      fi
    fi
    [ "$name" = direct ] && continue
    want hold || continue
    for n in $hold_counts; do
      start_server "$name" tuned || continue
      run_hold "$name" tuned "$round" "$n"
      stop_server
    done
  done
  if [ "$do_min" = 1 ]; then
    for name in tollgate nginx haproxy; do
      case " $servers " in *" $name "*) ;; *) continue ;; esac
      log "$name, minimal config (round $round)"
      start_server "$name" min || continue
      run_stream "$name" min "$round" "${stream_counts%% *}"
      stop_server
    done
  fi
  if [ "$do_tls" = 1 ] || want handshake; then
    for name in $order; do
      [ "$name" = direct ] && continue
      log "$name over TLS (round $round)"
      start_server "$name" tls || continue
      if [ "$do_tls" = 1 ]; then
        run_wrk "$name" tls "$round"
        run_stream "$name" tls "$round" "${stream_counts%% *}"
      fi
      if want handshake; then
        for v in $hs_tls; do
          run_hs "$name" tls "$round" "$v"
          run_hs "$name" tls "$round" "$v" resume
        done
      fi
      stop_server
      [ "$do_tls" = 1 ] || continue
      start_server "$name" tls || continue
      run_hold "$name" tls "$round" "${hold_counts%% *}"
      stop_server
    done
  fi
  if want h2; then
    # shellcheck source=bench/h2.sh
    . bench/h2.sh
    # shellcheck disable=SC2086
    run_h2 "$round" $order
  fi
  if [ "$do_auth" = 1 ]; then
    for name in tollgate nginx caddy; do
      case " $servers " in *" $name "*) ;; *) continue ;; esac
      log "$name with Basic auth (round $round)"
      start_server "$name" auth || continue
      run_wrk "$name" auth "$round" auth
      stop_server
    done
  fi
done
if want cluster || want affinity; then
  # shellcheck source=bench/cluster.sh
  . bench/cluster.sh
fi
if want affinity; then
  # shellcheck source=bench/affinity.sh
  . bench/affinity.sh
  run_affinity
fi
if want cluster; then
  run_cluster
fi
log "measured in $(($(date +%s) - t_start)) s"
{
  echo "{\"loadavg\":$(jstr "$(cut -d' ' -f1-3 /proc/loadavg)"),"
  echo "\"busy_at_end\":$(jstr "$(top -bn1 -w 200 | awk 'NR > 7 && $9 + 0 >= 20 {printf "%s%s (%s%% CPU)", sep, $12, $9; sep = ", "}')")}"
} >"$out/end.json"

# ---------- the report ----------
if [ "$report" = 1 ]; then
  node bench/report.mjs --dir "$out" --write "$report_doc"
else
  node bench/report.mjs --dir "$out"
fi
