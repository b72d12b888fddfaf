# bench/cluster.sh: sourced by bench/run.sh: the cluster scenario (issue 15).
#
# Several simulated Ollama servers (build/mock-ollama's server simulator,
# docs/mock-ollama.md), each with its own catalogue, room for
# CLUSTER_MAX_LOADED model(s), CLUSTER_SLOTS slots per model and
# CLUSTER_LOAD_MS per load; CLUSTER_CLIENTS clients in a closed loop for
# CLUSTER_SECONDS (bench/cluster-load.mjs), models drawn from CLUSTER_MIX.
# Each balancer in front of fresh servers (every run starts with nothing
# loaded): nginx least_conn with proxy_next_upstream http_404 http_503,
# HAProxy leastconn with retry-on 404 503, Caddy least_conn with its retries
# (bench/peers.sh, variant cluster); tollgate with several servers in one
# upstream once it takes them (see conf_tollgate_cluster). Per run: the
# clients' completed requests, TTFT p50/p99, the 404s, 503s and errors that
# reached them; the servers' loads, share of time spent loading, and the 404s
# and 503s they answered (retried by the balancer, or not).
#
# Knobs: CLUSTER_SECONDS=60 (the closed loop of one minute that
# /work/shared/TARGETS.md's row names), CLUSTER_CLIENTS=16, CLUSTER_LOAD_MS=2000,
# CLUSTER_SLOTS=2, CLUSTER_MAX_LOADED=1, CLUSTER_MAX_QUEUE=512 (Ollama's
# default: 503s come only from a shorter queue), CLUSTER_TOKENS=40,
# CLUSTER_DELAY_MS=25, CLUSTER_ROUNDS=1, CLUSTER_SERVERS (one catalogue per
# server, space-separated, models comma-separated), CLUSTER_MIX
# (MODEL=WEIGHT,...), CLUSTER_FAIRNESS (tollgate's `fairness`; unset:
# tollgate's default, 30 s), CLUSTER_TOLLGATE=auto|single|off, CLUSTER_KILL=1 (a
# second run per balancer in which server 1 crashes halfway: its streams are
# reset and its port refuses from then on; the clients count what failed
# before its first token and what was cut after).
# Uses from run.sh: start_server, stop_server, emit, tag, log, $build, $out,
# $servers, $started_pids; from common.sh: free_port.

cluster_specs=${CLUSTER_SERVERS:-llama3.1:8b,qwen2.5:7b,mistral:7b llama3.1:8b,qwen2.5:7b llama3.1:8b,mistral:7b qwen2.5:7b,gemma2:9b}
cluster_mix=${CLUSTER_MIX:-llama3.1:8b=4,qwen2.5:7b=3,mistral:7b=2,gemma2:9b=1}
cluster_s=${CLUSTER_SECONDS:-60}
cluster_clients=${CLUSTER_CLIENTS:-16}
cluster_load_ms=${CLUSTER_LOAD_MS:-2000}
cluster_slots=${CLUSTER_SLOTS:-2}
cluster_max_loaded=${CLUSTER_MAX_LOADED:-1}
cluster_max_queue=${CLUSTER_MAX_QUEUE:-512}
cluster_tokens=${CLUSTER_TOKENS:-40}
cluster_delay=${CLUSTER_DELAY_MS:-25}
cluster_rounds=${CLUSTER_ROUNDS:-1}
cluster_tollgate=${CLUSTER_TOLLGATE:-auto}
cluster_kill=${CLUSTER_KILL:-0}
cluster_ports=()
cluster_pids=()

cluster_start_mocks() {
  local spec p pid i=0
  cluster_ports=() cluster_pids=()
  for spec in $cluster_specs; do
    i=$((i + 1))
    p=$(free_port)
    "$build/mock-ollama" --listen "127.0.0.1:$p" --quiet --models "$spec" --max-loaded "$cluster_max_loaded" --max-queue "$cluster_max_queue" \
      --slots "$cluster_slots" --load-ms "$cluster_load_ms" --tokens "$cluster_tokens" --delay-ms "$cluster_delay" \
      2>>"$out/cluster-mock-$i.err" &
    pid=$!
    started_pids+=("$pid")
    cluster_ports+=("$p") cluster_pids+=("$pid")
  done
  for p in "${cluster_ports[@]}"; do
    for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$p/api/version" && break; sleep 0.1; done
  done
}

cluster_stop_mocks() {
  local pid
  for pid in "${cluster_pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${cluster_pids[@]}"; do wait "$pid" 2>/dev/null; done
  cluster_pids=()
}

cluster_reset_mocks() {
  local p
  for p in "${cluster_ports[@]}"; do curl -s -o /dev/null -X POST "http://127.0.0.1:$p/_mock/reset"; done
}

# The servers' counters, summed: loads, loading share, 404s and 503s answered.
cluster_mock_totals() {
  local p all="["
  local s
  for p in "${cluster_ports[@]}"; do # a crashed server has no figures
    s=$(curl -s "http://127.0.0.1:$p/_mock/stats") && [ -n "$s" ] && all="$all$s,"
  done
  node -e '
    const s = JSON.parse(process.argv[1].replace(/,$/, "") + "]");
    const sum = (k) => s.reduce((a, x) => a + (x[k] || 0), 0);
    const loading = sum("loading_ms"), elapsed = sum("elapsed_ms");
    process.stdout.write(JSON.stringify({ servers: s.length, loads: sum("loads"), server_completed: sum("completed"),
      loading_share: elapsed ? Math.round((loading / elapsed) * 1000) / 1000 : null,
      server_404: sum("not_found"), server_503: sum("busy"), per_server_loads: s.map((x) => x.loads) }).slice(1, -1));
  ' "$all"
}

# Whether this tollgate takes several servers in one upstream (issue 15's
# block form); until it does, the cluster scenario has no tollgate row.
tollgate_cluster_ready() {
  local d=$tmp/cluster-probe saved=("${cluster_ports[@]}") rc
  mkdir -p "$d"
  cluster_ports=(1 2)
  conf_tollgate_cluster "$d" 1 block
  cluster_ports=("${saved[@]}")
  "$build/tollgate" -t -c "$d/tollgate.conf" >"$d/out.txt" 2>&1
  rc=$?
  return $rc
}

run_cluster() {
  local round name res mocks variant label form
  local ready=0
  tollgate_cluster_ready && ready=1
  log "cluster: $(echo "$cluster_specs" | wc -w) servers ($cluster_specs), mix $cluster_mix, ${cluster_load_ms} ms loads, $cluster_slots slots, $cluster_max_loaded loaded, $cluster_clients clients, ${cluster_s} s per run"
  for round in $(seq "$cluster_rounds"); do
    for name in $servers; do
      case $name in tollgate | nginx | haproxy | caddy) ;; *) continue ;; esac
      label=$name form=block
      if [ "$name" = tollgate ]; then
        if [ "$cluster_tollgate" = off ]; then continue; fi
        if [ "$cluster_tollgate" = single ]; then
          label=tollgate-single form=single
        elif [ "$ready" != 1 ]; then
          log "cluster: tollgate cannot run this scenario yet: it does not take several servers in one upstream (issue 15; \`tollgate -t\` on the block form says: $(head -n 1 "$tmp/cluster-probe/out.txt")). Running the peers only."
          emit "{\"kind\":\"cluster\",$(tag tollgate cluster "$round"),\"skipped\":\"tollgate does not take several servers in one upstream yet\"}"
          continue
        fi
      fi
      for variant in cluster $([ "$cluster_kill" = 1 ] && echo cluster-kill); do
        log "cluster: $label, $variant (round $round)"
        cluster_start_mocks
        if ! CLUSTER_TOLLGATE_FORM=$form start_server "$name" cluster; then
          cluster_stop_mocks
          continue
        fi
        cluster_reset_mocks
        local killer=""
        if [ "$variant" = cluster-kill ]; then
          (sleep "$(awk -v s="$cluster_s" 'BEGIN {print s / 2}')" &&
            curl -s -o /dev/null -X POST -d '{"mode":"crash"}' "http://127.0.0.1:${cluster_ports[0]}/_mock/fault") &
          killer=$!
        fi
        res=$(node bench/cluster-load.mjs --port "$srv_port" --clients "$cluster_clients" --seconds "$cluster_s" \
          --mix "$cluster_mix" --seed "$round" 2>>"$out/cluster-load.err" | tail -n 1)
        [ -n "$killer" ] && wait "$killer"
        mocks=$(cluster_mock_totals)
        stop_server
        cluster_stop_mocks
        [ -n "$res" ] || res='{"error":"load generator failed"}'
        emit "{\"kind\":\"cluster\",$(tag "$label" "$variant" "$round"),\"load_ms\":$cluster_load_ms,\"slots\":$cluster_slots,\"max_loaded\":$cluster_max_loaded,\"max_queue\":$cluster_max_queue,\"tokens\":$cluster_tokens,\"delay_ms\":$cluster_delay,\"mix\":\"$cluster_mix\",\"catalogues\":\"$cluster_specs\",$mocks,${res#\{}"
      done
    done
  done
}
