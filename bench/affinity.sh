# bench/affinity.sh: sourced by bench/run.sh: the multi-turn scenario of
# conversation affinity (issue 21; SCENARIOS=affinity).
#
# AFF_SERVERS simulated Ollama servers (build/mock-ollama's simulator with
# its per-slot prompt cache, docs/mock-ollama.md#the-prompt-cache), each with
# the model loaded before the run, AFF_SLOTS slots, prompt evaluation at
# AFF_EVAL_US microseconds a token not cached (a CPU server: 2000, 500
# tokens a second); AFF_CLIENTS clients holding conversations of AFF_TURNS
# turns with growing histories (bench/affinity-load.mjs) for AFF_SECONDS,
# behind, in one run:
#   tollgate           balance model, conversation affinity on (the default)
#   tollgate-noaff     balance model, affinity_table 0
#   nginx-least_conn   least_conn with its retries (the cluster variant)
#   nginx-hash         hash $http_x_conversation_id consistent (the client
#                      sends its conversation's id: the best a hand-written
#                      config can do, with the client's cooperation)
# Per run: completed turns, TTFT p50/p99 of first and follow-up turns,
# prompt tokens evaluated and served from cache per follow-up.
#
# Knobs: AFF_SECONDS=30, AFF_CLIENTS=12, AFF_SERVERS=4, AFF_SLOTS=4,
# AFF_EVAL_US=2000, AFF_TURNS=6, AFF_THINK_MS=100, AFF_TOKENS=20,
# AFF_DELAY_MS=20, AFF_BALANCERS="tollgate tollgate-noaff nginx-least_conn nginx-hash".
# Uses from run.sh: start_server, stop_server, emit, tag, log, $build, $out,
# $started_pids; from cluster.sh: cluster_ports (which conf_*'s cluster
# variants read), cluster_slots.

aff_s=${AFF_SECONDS:-30}
aff_clients=${AFF_CLIENTS:-12}
aff_nservers=${AFF_SERVERS:-4}
aff_slots=${AFF_SLOTS:-4}
aff_eval_us=${AFF_EVAL_US:-2000}
aff_turns=${AFF_TURNS:-6}
aff_think=${AFF_THINK_MS:-100}
aff_tokens=${AFF_TOKENS:-20}
aff_delay=${AFF_DELAY_MS:-20}
aff_model=llama3.1:8b
aff_balancers=${AFF_BALANCERS:-tollgate tollgate-noaff nginx-least_conn nginx-hash}

aff_start_mocks() {
  local p i
  cluster_ports=() cluster_pids=()
  for i in $(seq "$aff_nservers"); do
    p=$(free_port)
    "$build/mock-ollama" --listen "127.0.0.1:$p" --quiet --models "$aff_model" --slots "$aff_slots" \
      --prompt-eval-us-per-token "$aff_eval_us" --tokens "$aff_tokens" --delay-ms "$aff_delay" \
      2>>"$out/affinity-mock-$i.err" &
    cluster_pids+=($!)
    started_pids+=($!)
    cluster_ports+=("$p")
  done
  for p in "${cluster_ports[@]}"; do
    for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$p/api/version" && break; sleep 0.1; done
    curl -s -o /dev/null -H 'Host: localhost' -d "{\"model\":\"$aff_model\",\"prompt\":\"warm\",\"stream\":false}" \
      "http://127.0.0.1:$p/api/generate" # loaded before the run, as on servers in service
  done
}

run_affinity() {
  local label name variant res
  cluster_slots=$aff_slots
  log "affinity: $aff_nservers servers, $aff_slots slots, ${aff_eval_us} us per prompt token, $aff_clients clients, $aff_turns turns, ${aff_s} s per run"
  for label in $aff_balancers; do
    case $label in
    tollgate) name=tollgate variant=affinity ;;
    tollgate-noaff) name=tollgate variant=affinity-off ;;
    nginx-least_conn) name=nginx variant=cluster ;;
    nginx-hash) name=nginx variant=affinity-hash ;;
    *) log "affinity: unknown balancer '$label'"; continue ;;
    esac
    log "affinity: $label"
    aff_start_mocks
    if ! start_server "$name" "$variant"; then
      cluster_stop_mocks
      continue
    fi
    sleep 1.5 # tollgate's first checks have read /api/ps: the model is loaded everywhere
    res=$(node bench/affinity-load.mjs --port "$srv_port" --model "$aff_model" --clients "$aff_clients" --seconds "$aff_s" \
      --turns "$aff_turns" --think-ms "$aff_think" --seed 1 2>>"$out/affinity-load.err" | tail -n 1)
    stop_server
    cluster_stop_mocks
    [ -n "$res" ] || res='{"error":"load generator failed"}'
    emit "{\"kind\":\"affinity\",$(tag "$label" affinity 1),\"servers\":$aff_nservers,\"slots\":$aff_slots,\"eval_us_per_token\":$aff_eval_us,${res#\{}"
  done
}
