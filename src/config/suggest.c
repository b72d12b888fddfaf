/* What to say after "unknown directive 'X'": the directive an nginx or
 * Caddy user meant, from a table of their names, or else the nearest of
 * tollgate's own by edit distance (a typo). */
#include <stdio.h>
#include <string.h>

#include "syntax.h"

/* Names from nginx.conf and the Caddyfile, and what tollgate has instead. */
static const struct {
  const char *name, *say;
} foreign[] = {
    {"proxy_pass", "nginx's 'proxy_pass' is 'proxy UPSTREAM;', the server going in an 'upstream' block"},
    {"reverse_proxy", "Caddy's 'reverse_proxy' is 'proxy UPSTREAM;', the server going in an 'upstream' block"},
    {"basic_auth", "Caddy's 'basic_auth' is 'auth basic FILE;' (an htpasswd file: tollgate passwd USER)"},
    {"basicauth", "Caddy's 'basicauth' is 'auth basic FILE;' (an htpasswd file: tollgate passwd USER)"},
    {"auth_basic", "nginx's 'auth_basic' is 'auth basic FILE [realm NAME];'"},
    {"auth_basic_user_file", "nginx's 'auth_basic_user_file' is 'auth basic FILE;'"},
    {"auth_request", "nginx's 'auth_request' is 'auth forward URL;'"},
    {"forward_auth", "Caddy's 'forward_auth' is 'auth forward URL;'"},
    {"limit_req", "nginx's 'limit_req' is 'limit rate R [burst N] [nodelay] per ip|user;' (generation routes by "
                  "default)"},
    {"limit_req_zone", "nginx's 'limit_req_zone' is 'limit rate R per ip|user;' in the site (no zone to declare)"},
    {"limit_conn", "nginx's 'limit_conn' is 'limit conn N per ip;'"},
    {"limit_conn_zone", "nginx's 'limit_conn_zone' is 'limit conn N per ip;' in the site (no zone to declare)"},
    {"proxy_read_timeout", "nginx's 'proxy_read_timeout' is 'timeout idle D;' in the upstream block"},
    {"proxy_send_timeout", "nginx's 'proxy_send_timeout' is 'timeout send D;' in the site"},
    {"proxy_connect_timeout", "nginx's 'proxy_connect_timeout' is 'timeout dial D;' in the upstream block"},
    {"send_timeout", "nginx's 'send_timeout' is 'timeout send D;' in the site"},
    {"keepalive_timeout", "nginx's 'keepalive_timeout' is 'timeout keepalive D;' in the site"},
    {"client_header_timeout", "nginx's 'client_header_timeout' is 'timeout header D;' in the site"},
    {"client_body_timeout", "nginx's 'client_body_timeout' is 'timeout body D;' in the site"},
    {"large_client_header_buffers", "nginx's 'large_client_header_buffers' is 'max_header_size SIZE;'"},
    {"server_name", "nginx's 'server_name' is the site's name: 'site NAME { ... }'"},
    {"location", "nginx's 'location' is 'route PATH { ... }' (auth and body size per path)"},
    {"ssl_certificate", "nginx's 'ssl_certificate' is 'tls cert FILE key FILE;' (and 'listen ... tls;')"},
    {"ssl_certificate_key", "nginx's 'ssl_certificate_key' is 'tls cert FILE key FILE;'"},
    {"ssl_protocols", "nginx's 'ssl_protocols' is 'tls protocols 1.2 1.3;'"},
    {"worker_processes", "nginx's 'worker_processes' is 'workers auto|N;'"},
    {"pid", "nginx's 'pid' is 'pid_file PATH;'"},
    {"request_body", "Caddy's 'request_body { max_size }' is 'client_max_body_size SIZE;'"},
    {"add_header", "tollgate sets no custom response headers; CORS is 'cors { ... }'"},
};

/* Levenshtein distance, capped: anything past max counts as max + 1. */
static size_t distance(const char *a, const char *b, size_t max) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 40 || lb > 40) return max + 1;
  size_t prev[41], cur[41];
  for (size_t j = 0; j <= lb; j++) prev[j] = j;
  for (size_t i = 1; i <= la; i++) {
    cur[0] = i;
    size_t best = cur[0];
    for (size_t j = 1; j <= lb; j++) {
      size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
      size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
      cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
      if (cur[j] < best) best = cur[j];
    }
    if (best > max) return max + 1;
    memcpy(prev, cur, (lb + 1) * sizeof *prev);
  }
  return prev[lb];
}

const char *tg_cfg_suggest(const char *unknown, const char *const *names, size_t n, char *buf, size_t size) {
  for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++)
    if (strcmp(unknown, foreign[i].name) == 0) {
      snprintf(buf, size, ": %s", foreign[i].say);
      return buf;
    }
  size_t len = strlen(unknown), max = len < 5 ? 1 : len < 9 ? 2 : 3, best = max + 1;
  const char *near = NULL;
  for (size_t i = 0; i < n; i++) {
    size_t d = distance(unknown, names[i], max);
    if (d < best) best = d, near = names[i];
  }
  if (!near) return "";
  snprintf(buf, size, " (did you mean '%s'?)", near);
  return buf;
}
