# bench/common.sh: sourced by bench/run.sh and bench/hold-tls.sh. Process
# figures from /proc and the held-streams measurement both take.

free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 12000))
    ss -Htln "sport = :$p" | grep -q . || { echo "$p"; return; }
  done
}
tree_pids() { # pid and every descendant
  local p=$1 c
  echo "$p"
  for c in $(pgrep -P "$p"); do tree_pids "$c"; done
}
rss_kb() { # VmRSS of each pid given, summed
  local t=0 p v
  for p in "$@"; do
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null) || continue
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

# hold_warmup CLIENT SCHEME PORT [--tls]: a few requests and short streams,
# so that what a server allocates once (pools, per-thread buffers) is in
# the baseline.
hold_warmup() {
  local client=$1 scheme=$2 port=$3
  shift 3
  "$client" --port "$port" --streams 8 --tokens 2 --delay-ms 1 "$@" >/dev/null
  for _ in 1 2 3 4; do curl -sk -o /dev/null "$scheme://127.0.0.1:$port/api/version"; done
  sleep 0.5
}

# hold_open CLIENT PORT N DELAY_MS FILE [--tls]: opens N slow streams
# (bench/streamclient.c --hold, its output in FILE) and returns once every
# one has its first line (or the client gave up), 1 s later. Sets
# hold_cpid (the client, still holding them: kill -TERM it when done) and
# hold_ready (its READY line, empty when not every stream got there).
hold_open() {
  local client=$1 port=$2 n=$3 delay=$4 f=$5
  shift 5
  local wait_s=$((delay / 1000 * 2 + n / 500 + 10))
  "$client" --port "$port" --streams "$n" --tokens 1000 --delay-ms "$delay" --ramp-ms $((n / 5)) \
    --timeout-s $((wait_s + 30)) --hold "$@" >"$f" 2>&1 &
  hold_cpid=$!
  hold_ready=""
  for _ in $(seq $((wait_s * 10))); do
    hold_ready=$(grep '^READY' "$f" 2>/dev/null) && break
    kill -0 "$hold_cpid" 2>/dev/null || break
    sleep 0.1
  done
  sleep 1
}
