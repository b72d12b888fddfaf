# bench/h2.sh: sourced by bench/run.sh: the h2 scenario (issue 16 item 9).
#
# Every server over TLS with HTTP/2 offered in ALPN (variant h2 in
# bench/peers.sh; the same self-signed P-256 certificate), in front of the
# same mock Ollama. Per server and round:
#   h2load  GET /api/version, h2load over TLS (ALPN h2): few connections with
#           many streams each (H2_FEW, default `-c 4 -m 32`) and many
#           connections (H2_MANY, default `-c 256 -m 2`), H2_REQUESTS each
#           (default 200000): requests/s, and the server's CPU per request
#   idle    RSS growth per idle HTTP/2 connection: H2_IDLE connections (default
#           1000), each one's SETTINGS exchanged and a PING answered
#           (bench/h2hold.mjs), on a fresh server after hold_warmup, RSS of
#           all the server's processes before and after, as `hold` does
#   streams RSS growth per live HTTP/2 stream: H2_STREAM_CONNS connections
#           (default 10) opened first (the baseline), then H2_STREAMS_PER
#           (default 100) slow `POST /api/generate` streams on each (a token
#           every 5 s), measured once every stream has its first chunk.
# For the comparison with HTTP/1 over TLS, tollgate's per-stream figure of the
# `hold` measurement over TLS (streamclient, one connection a stream) is
# taken in the same run at the same number of streams.
# Uses from run.sh: start_server, stop_server, emit, tag, log, cpu_ticks, secs,
# now, run_hold, $srv_pids, $srv_pid, $srv_port, $mock_pid, $out, $client.

h2_few=${H2_FEW:--c 4 -m 32}
h2_many=${H2_MANY:--c 256 -m 2}
h2_requests=${H2_REQUESTS:-200000}
h2_threads=${H2_THREADS:-1}
h2_idle=${H2_IDLE:-1000}
h2_stream_conns=${H2_STREAM_CONNS:-10}
h2_streams_per=${H2_STREAMS_PER:-100}
if [ "$quick" = 1 ]; then
  h2_requests=${H2_REQUESTS:-20000} h2_idle=${H2_IDLE:-100} h2_stream_conns=${H2_STREAM_CONNS:-2} h2_streams_per=${H2_STREAMS_PER:-50}
fi

run_h2load() { # NAME ROUND LABEL H2LOAD-ARGS...
  local name=$1 round=$2 label=$3 f c0 c1 m0 m1 t0 t1 fields
  shift 3
  f=$out/h2load-$name-$label-r$round.txt
  c0=$(cpu_ticks "${srv_pids[@]}"); m0=$(cpu_ticks "$mock_pid"); t0=$(now)
  # shellcheck disable=SC2086 # the -c/-m pairs are word lists on purpose
  h2load -t "$h2_threads" "$@" -n "$h2_requests" "https://127.0.0.1:$srv_port/api/version" >"$f" 2>&1
  t1=$(now); c1=$(cpu_ticks "${srv_pids[@]}"); m1=$(cpu_ticks "$mock_pid")
  # "finished in 5.01s, 39920.10 req/s, ..."; "requests: N total, N started,
  # N done, N succeeded, N failed, N errored, N timeout"; "status codes: N 2xx"
  # ; "Application protocol: h2"
  fields=$(awk '
    /^finished in/ {gsub(/,/, ""); rps = $4}
    /^requests:/ {gsub(/,/, ""); done = $6; ok = $8; failed = $10; errored = $12}
    /^status codes:/ {gsub(/,/, ""); s2 = $3}
    /^Application protocol:/ {proto = $3}
    END {printf "\"rps\":%.0f,\"done\":%d,\"succeeded\":%d,\"failed\":%d,\"errored\":%d,\"status_2xx\":%d,\"proto\":\"%s\"", rps, done, ok, failed, errored, s2, proto}' "$f")
  emit "{\"kind\":\"h2load\",$(tag "$name" h2 "$round"),\"load\":\"$label\",\"args\":\"$* -n $h2_requests -t $h2_threads\",$fields,\"proxy_cpu_s\":$(secs $((c1 - c0))),\"mock_cpu_s\":$(secs $((m1 - m0))),\"wall_s\":$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b - a}')}"
}

# h2_hold NAME ROUND WHAT(idle|streams): on a freshly started server
h2_hold() {
  local name=$1 round=$2 what=$3 f r0 r1 cpid ready n conns per=0
  hold_warmup "$client" https "$srv_port" --tls
  f=$out/h2hold-$name-$what-r$round.txt
  if [ "$what" = idle ]; then
    conns=$h2_idle n=$h2_idle
  else
    conns=$h2_stream_conns per=$h2_streams_per n=$((h2_stream_conns * h2_streams_per))
    # the connections alone first: their cost is not the streams'
    node bench/h2hold.mjs --port "$srv_port" --conns "$conns" --timeout-s 60 >"$f.base" 2>&1 &
    cpid=$!
    for _ in $(seq 600); do grep -q '^READY\|^FAILED' "$f.base" 2>/dev/null && break; kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
    sleep 1
  fi
  mapfile -t srv_pids < <(tree_pids "$srv_pid")
  r0=$(rss_kb "${srv_pids[@]}")
  if [ "$what" = streams ]; then
    kill -TERM "$cpid" 2>/dev/null
    wait "$cpid" 2>/dev/null
    sleep 1
    mapfile -t srv_pids < <(tree_pids "$srv_pid")
    r0=$(rss_kb "${srv_pids[@]}") # after the connections came and went: what the streams add
  fi
  node bench/h2hold.mjs --port "$srv_port" --conns "$conns" --streams "$per" --delay-ms 5000 --timeout-s $((n / 50 + 60)) >"$f" 2>&1 &
  cpid=$!
  for _ in $(seq $(((n / 50 + 60) * 10))); do grep -q '^READY\|^FAILED' "$f" 2>/dev/null && break; kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
  sleep 1
  mapfile -t srv_pids < <(tree_pids "$srv_pid")
  r1=$(rss_kb "${srv_pids[@]}")
  ready=$(sed -n 's/^READY //p' "$f")
  [ -n "$ready" ] || ready="{\"error\":$(jstr "$(tail -n 1 "$f")")}"
  kill -TERM "$cpid" 2>/dev/null
  wait "$cpid" 2>/dev/null
  emit "{\"kind\":\"h2hold\",$(tag "$name" h2 "$round"),\"what\":\"$what\",\"n\":$n,\"rss0_kb\":$r0,\"rss_kb\":$r1,\"per_kb\":$(awk -v a="$r0" -v b="$r1" -v n="$n" 'BEGIN{printf "%.2f", (b - a) / n}'),\"procs\":${#srv_pids[@]},${ready#\{}"
}

run_h2() { # ROUND ORDER
  local round=$1 name
  shift
  for name in "$@"; do
    [ "$name" = direct ] && continue
    case $name in tollgate_uring) continue ;; esac
    log "$name over HTTP/2 (round $round)"
    if start_server "$name" h2; then
      # shellcheck disable=SC2086
      run_h2load "$name" "$round" few $h2_few
      # shellcheck disable=SC2086
      run_h2load "$name" "$round" many $h2_many
      stop_server
    fi
    for what in idle streams; do
      start_server "$name" h2 || continue
      h2_hold "$name" "$round" "$what"
      stop_server
    done
    if [ "$name" = tollgate ]; then # HTTP/1 over TLS at the same number of streams
      start_server tollgate tls || continue
      run_hold tollgate tls "$round" $((h2_stream_conns * h2_streams_per))
      stop_server
    fi
  done
}
