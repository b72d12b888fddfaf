#!/usr/bin/env bash
# Starts tollgate on 127.0.0.1:8080 in front of Ollama on 127.0.0.1:11434.
# When nothing listens on 11434, starts the bundled mock Ollama there first
# (a test tool that streams canned answers) and says so.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
listen=${TOLLGATE_LISTEN:-127.0.0.1:8080}
upstream=${TOLLGATE_UPSTREAM:-127.0.0.1:11434}
mock_pid=""
cleanup() { [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null || true; }
trap cleanup EXIT INT TERM

if ! (exec 3<>"/dev/tcp/${upstream%:*}/${upstream##*:}") 2>/dev/null; then
  echo "run: nothing listens on $upstream: starting the bundled mock Ollama there (not a real model)" >&2
  "$build/mock-ollama" --listen "$upstream" &
  mock_pid=$!
  for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/${upstream%:*}/${upstream##*:}") 2>/dev/null && break
    sleep 0.1
  done
fi
echo "run: try  curl -N http://$listen/api/generate -d '{\"model\":\"llama3.2\",\"prompt\":\"Write 10 words only.\"}'" >&2
"$build/tollgate" --listen "$listen" --upstream "http://$upstream" &
tg_pid=$!
trap 'kill $tg_pid 2>/dev/null; cleanup' EXIT INT TERM
wait $tg_pid
