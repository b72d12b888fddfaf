# bench/peers.sh: sourced by bench/run.sh. For each server, conf_NAME DIR PORT
# VARIANT writes its configuration into DIR and start_NAME DIR runs it in the
# foreground (exec), from DIR, with its pid and log files there.
#
# Variants: tuned (streaming the way the seed and each server's docs say),
# min (the textbook minimal config), tls (tuned + TLS with $tmp/cert.pem),
# h2 (tls + HTTP/2 offered in ALPN: nginx `listen ... ssl http2`, HAProxy
# `alpn h2,http/1.1`; tollgate, Caddy and h2o offer it over TLS by default),
# auth (tuned + Basic auth against $tmp/htpasswd, bcrypt cost 10),
# cluster (several Ollama servers, $cluster_ports, each balancer's own
# least-connections policy with its retries: bench/cluster.sh).
# Every server: 2 workers or threads, loopback only, no access log.
# Uses from run.sh: $mock_port, $tmp, $build, $auth_user, $auth_hash.

# ---------- tollgate ----------
# The cluster variant. PLACEHOLDER until tollgate takes several servers in one
# upstream (issue 15): bench/cluster.sh runs tollgate in the cluster scenario
# only when `tollgate -t` accepts this block form (tollgate_cluster_ready);
# until then it says so and runs the peers alone. CLUSTER_TOLLGATE=single
# writes the single-upstream form (the first server only) for a look at the
# harness; that row is labelled "tollgate-single" and is no cluster figure.
conf_tollgate_cluster() {
  local d=$1 port=$2 form=${3:-block} p
  {
    echo "workers 2;"
    echo "access_log off;"
    echo "error_log $d/error.log;"
    echo "upstream ollama {"
    if [ "$form" = single ]; then
      echo "    server 127.0.0.1:${cluster_ports[0]};"
    else
      # max_loaded: what each simulated server holds at once, as its OLLAMA_MAX_LOADED_MODELS would be told
      for p in "${cluster_ports[@]}"; do echo "    server 127.0.0.1:$p slots $cluster_slots${cluster_max_loaded:+ max_loaded $cluster_max_loaded};"; done
      echo "    balance model;"
      if [ -n "${CLUSTER_FAIRNESS:-}" ]; then echo "    fairness $CLUSTER_FAIRNESS;"; fi
      [ "$form" = affinity-off ] && echo "    affinity_table 0;"
      [ "$form" = affinity ] || [ "$form" = affinity-off ] && echo "    health interval 1s timeout 1s;"
    fi
    echo "}"
    echo "site _ {"
    echo "    listen 127.0.0.1:$port;"
    echo "    proxy ollama;"
    echo "}"
  } >"$d/tollgate.conf"
}

conf_tollgate() {
  local d=$1 port=$2 v=$3
  if [ "$v" = cluster ]; then
    conf_tollgate_cluster "$d" "$port" "${CLUSTER_TOLLGATE_FORM:-block}"
    return
  fi
  if [ "$v" = affinity ] || [ "$v" = affinity-off ]; then # bench/affinity.sh
    conf_tollgate_cluster "$d" "$port" "$v"
    return
  fi
  if [ "$v" = min ]; then # no tuning at all: the shortest useful file
    printf 'upstream ollama { server 127.0.0.1:%s; }\nsite _ { listen 127.0.0.1:%s; }\n' "$mock_port" "$port" >"$d/tollgate.conf"
    return
  fi
  {
    echo "workers 2;"
    echo "access_log off;"
    echo "error_log $d/error.log;"
    echo "upstream ollama { server 127.0.0.1:$mock_port; }"
    echo "site _ {"
    if [ "$v" = tls ] || [ "$v" = h2 ]; then # a TLS listener offers h2 in ALPN by default
      echo "    listen 127.0.0.1:$port tls;"
      echo "    tls cert $tmp/cert.pem key $tmp/key.pem;"
    else
      echo "    listen 127.0.0.1:$port;"
    fi
    [ "$v" = auth ] && echo "    auth basic $tmp/htpasswd;"
    echo "    proxy ollama;"
    echo "}"
  } >"$d/tollgate.conf"
}
start_tollgate() { exec "$root/$build/tollgate" -c "$1/tollgate.conf"; }

# tollgate with the io_uring engine (src/io/engine-uring.c, a prototype):
# the same file with `io_engine io_uring;` first.
conf_tollgate_uring() {
  conf_tollgate "$@"
  sed -i '1i io_engine io_uring;' "$1/tollgate.conf"
}
start_tollgate_uring() { start_tollgate "$@"; }

# ---------- nginx ----------
conf_nginx() {
  local d=$1 port=$2 v=$3 ssl="" p
  mkdir -p "$d/tmp"
  [ "$v" = tls ] && ssl=" ssl"
  [ "$v" = h2 ] && ssl=" ssl http2" # nginx 1.22: `http2 on;` came in 1.25.1
  {
    echo "worker_processes 2;"
    echo "worker_rlimit_nofile 20000;"
    echo "pid $d/nginx.pid;"
    echo "error_log $d/error.log warn;"
    echo "events { worker_connections 20000; }"
    echo "http {"
    echo "  access_log off;"
    echo "  client_body_temp_path $d/tmp/body; proxy_temp_path $d/tmp/proxy;"
    echo "  fastcgi_temp_path $d/tmp/fcgi; uwsgi_temp_path $d/tmp/uwsgi; scgi_temp_path $d/tmp/scgi;"
    if [ "$v" = min ]; then # the textbook minimal reverse proxy
      echo "  server {"
      echo "    listen 127.0.0.1:$port;"
      echo "    location / { proxy_pass http://127.0.0.1:$mock_port; }"
      echo "  }"
      echo "}"
      return
    fi
    if [ "$v" = cluster ] || [ "$v" = affinity-hash ]; then
      # least_conn (affinity-hash: by the client's conversation id, bench/affinity.sh); a 404 (model not on that server) or 503 (Ollama's queue
      # full) goes to the next server: POST needs non_idempotent for that.
      echo "  upstream ollama {"
      if [ "$v" = affinity-hash ]; then echo "    hash \$http_x_conversation_id consistent;"; else echo "    least_conn;"; fi
      for p in "${cluster_ports[@]}"; do echo "    server 127.0.0.1:$p;"; done
      echo "    keepalive 64;"
      echo "  }"
      echo "  server {"
      echo "    listen 127.0.0.1:$port;"
      echo "    location / {"
      echo "      proxy_pass http://ollama;"
      echo "      proxy_set_header Host localhost:11434;"
      echo "      proxy_http_version 1.1;"
      echo "      proxy_set_header Connection \"\";"
      echo "      proxy_buffering off;"
      echo "      proxy_read_timeout 3600s; proxy_send_timeout 3600s;"
      echo "      proxy_next_upstream error timeout http_404 http_503 non_idempotent;"
      echo "      proxy_next_upstream_tries ${#cluster_ports[@]};"
      echo "    }"
      echo "  }"
      echo "}"
      return
    fi
    # The seed's server block, with an upstream keepalive pool (nginx docs:
    # proxy_http_version 1.1 and an empty Connection for the pool; the seed's
    # map sends "close" when there is no Upgrade, which would defeat it).
    echo "  upstream ollama { server 127.0.0.1:$mock_port; keepalive 64; }"
    echo "  map \$http_upgrade \$connection_upgrade { default upgrade; \"\" \"\"; }"
    echo "  server {"
    echo "    listen 127.0.0.1:$port$ssl;"
    if [ "$v" = tls ] || [ "$v" = h2 ]; then
      echo "    ssl_certificate $tmp/cert.pem; ssl_certificate_key $tmp/key.pem;"
      # nginx before 1.23.4 leaves TLS 1.3 out of its default ssl_protocols
      echo "    ssl_protocols TLSv1.2 TLSv1.3;"
      echo "    ssl_session_cache shared:SSL:10m;"
    fi
    # nginx ends an HTTP/2 connection after keepalive_requests (1000) streams
    # with GOAWAY, which h2load does not follow by reconnecting
    [ "$v" = h2 ] && echo "    keepalive_requests 10000000;"
    echo "    location / {"
    if [ "$v" = auth ]; then
      echo "      auth_basic \"Ollama\"; auth_basic_user_file $tmp/htpasswd;"
    fi
    echo "      proxy_pass http://ollama;"
    echo "      proxy_set_header Host localhost:11434;"
    echo "      proxy_http_version 1.1;"
    echo "      proxy_set_header Upgrade \$http_upgrade;"
    echo "      proxy_set_header Connection \$connection_upgrade;"
    echo "      proxy_buffering off;"
    echo "      proxy_read_timeout 3600s; proxy_send_timeout 3600s;"
    echo "    }"
    echo "  }"
    echo "}"
  } >"$d/nginx.conf"
}
start_nginx() { exec nginx -p "$1" -c "$1/nginx.conf" -e "$1/error.log" -g 'daemon off;'; }

# ---------- HAProxy ----------
conf_haproxy() {
  local d=$1 port=$2 v=$3
  if [ "$v" = min ]; then # the textbook minimal HTTP proxy: no http-no-delay
    cat >"$d/haproxy.cfg" <<EOF
defaults
  mode http
  timeout connect 5s
  timeout client 50s
  timeout server 50s
frontend fe
  bind 127.0.0.1:$port
  default_backend ollama
backend ollama
  server ollama 127.0.0.1:$mock_port
EOF
    return
  fi
  if [ "$v" = cluster ]; then
    # leastconn; L7 retries on a 404 (model not there), a 503 (Ollama's queue
    # full) or a failed connection, each retry redispatched to another pick.
    {
      echo "global"
      echo "  nbthread 2"
      echo "  maxconn 9600"
      echo "  pidfile $d/haproxy.pid"
      echo "  log stderr format short local0 warning"
      echo "defaults"
      echo "  mode http"
      echo "  log global"
      echo "  option http-no-delay"
      echo "  http-reuse always"
      echo "  timeout connect 10s"
      echo "  timeout client 1h"
      echo "  timeout server 1h"
      echo "  timeout http-keep-alive 60s"
      echo "frontend fe"
      echo "  bind 127.0.0.1:$port"
      echo "  default_backend ollama"
      echo "backend ollama"
      echo "  balance leastconn"
      echo "  retry-on conn-failure empty-response response-timeout 404 503"
      echo "  retries $((${#cluster_ports[@]} - 1))"
      echo "  option redispatch 1"
      echo "  http-request set-header Host localhost:11434"
      local i=0 p
      for p in "${cluster_ports[@]}"; do i=$((i + 1)); echo "  server s$i 127.0.0.1:$p maxconn 1000"; done
    } >"$d/haproxy.cfg"
    return
  fi
  local bind="bind 127.0.0.1:$port"
  [ "$v" = tls ] && bind="$bind ssl crt $tmp/bundle.pem"
  [ "$v" = h2 ] && bind="$bind ssl crt $tmp/bundle.pem alpn h2,http/1.1"
  # maxconn 9600: 9,000 streams take two sockets each, under the 20,000 files
  cat >"$d/haproxy.cfg" <<EOF
global
  nbthread 2
  maxconn 9600
  pidfile $d/haproxy.pid
  log stderr format short local0 warning
defaults
  mode http
  log global
  option http-no-delay
  http-reuse always
  timeout connect 10s
  timeout client 1h
  timeout server 1h
  timeout http-keep-alive 60s
frontend fe
  $bind
  maxconn 9600
  default_backend ollama
backend ollama
  http-request set-header Host localhost:11434
  server ollama 127.0.0.1:$mock_port maxconn 9600
EOF
}
start_haproxy() { exec haproxy -db -f "$1/haproxy.cfg"; }

# ---------- Caddy ----------
conf_caddy() {
  local d=$1 port=$2 v=$3 site
  # no host in the site address: a host matcher would answer other Hosts
  # (wrk's 127.0.0.1:PORT, Ollama clients' localhost:11434) with an empty 200
  site="http://:$port"
  [ "$v" = tls ] || [ "$v" = h2 ] && site="https://:$port" # Caddy offers h2 over TLS by default
  {
    echo "{"
    echo "  admin off"
    echo "  auto_https off"
    echo "  storage file_system $d/data"
    echo "  default_sni localhost" # wrk sends no SNI to an IP address
    echo "}"
    echo "$site {"
    echo "  bind 127.0.0.1"
    [ "$v" = tls ] || [ "$v" = h2 ] && echo "  tls $tmp/cert.pem $tmp/key.pem"
    # Caddy 2.6 takes the bcrypt hash base64-encoded
    if [ "$v" = auth ]; then
      echo "  basicauth {"
      echo "    $auth_user $(printf '%s' "$auth_hash" | base64 -w0)"
      echo "  }"
    fi
    if [ "$v" = cluster ]; then
      # least_conn; Caddy retries a failed connection (and POSTs, with
      # lb_retry_match) but has no retry on a response status: the 404s
      # and 503s of the servers reach the client.
      echo "  reverse_proxy$(printf ' 127.0.0.1:%s' "${cluster_ports[@]}") {"
      echo "    lb_policy least_conn"
      echo "    lb_retries $((${#cluster_ports[@]} - 1))"
      echo "    lb_try_duration 10s"
      echo "    lb_retry_match {"
      echo "      method POST"
      echo "    }"
    else
      echo "  reverse_proxy 127.0.0.1:$mock_port {"
    fi
    echo "    header_up Host localhost:11434"
    echo "    flush_interval -1"
    echo "    transport http {"
    echo "      compression off"
    echo "      response_header_timeout 10m"
    echo "      dial_timeout 10s"
    echo "    }"
    echo "  }"
    echo "}"
  } >"$d/Caddyfile"
}
start_caddy() {
  HOME=$1 XDG_DATA_HOME=$1/data XDG_CONFIG_HOME=$1/config GOMAXPROCS=2 \
    exec caddy run --config "$1/Caddyfile" --adapter caddyfile --pidfile "$1/caddy.pid"
}

# ---------- h2o ----------
conf_h2o() {
  local d=$1 port=$2 v=$3
  {
    echo "user: $(id -un)" # run as root, h2o would drop to nobody and lose its pid file
    echo "num-threads: 2"
    echo "max-connections: 20000"
    echo "pid-file: $d/h2o.pid"
    echo "error-log: $d/error.log"
    echo "listen:"
    echo "  host: 127.0.0.1"
    echo "  port: $port"
    if [ "$v" = tls ] || [ "$v" = h2 ]; then # h2o offers h2 over TLS by default
      echo "  ssl:"
      echo "    certificate-file: $tmp/cert.pem"
      echo "    key-file: $tmp/key.pem"
    fi
    echo "proxy.timeout.io: 3600000"
    echo "hosts:"
    echo "  default:"
    echo "    paths:"
    echo "      /:"
    echo "        proxy.reverse.url: http://127.0.0.1:$mock_port/"
  } >"$d/h2o.conf"
}
start_h2o() { exec h2o -c "$1/h2o.conf"; }
