/* The public face of src/config: defaults, loading, freeing, and the value
 * parsers (addresses, durations, sizes) that the flags share with the
 * config file. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "syntax.h"
#include "tollgate/acme.h"
#include "tollgate/shared.h"
#include "tollgate/admission.h"
#include "tollgate/auth.h"
#include "tollgate/tls.h"
#include "tollgate/limits.h"
#include "tollgate/process-conf.h"

#define TG_CFG_MAX_FILE (16u << 20) /* a config larger than this is a mistake */

int tg_cfg_upstream_defaults(tg_upstream_conf *u, const char *name) {
  *u = (tg_upstream_conf){
      .dial_timeout_ms = 10 * 1000,
      .header_timeout_ms = 10 * 60 * 1000,
      .idle_timeout_ms = 5 * 60 * 1000,
      .keepalive = 32,
      .keepalive_timeout_ms = 60 * 1000,
      .balance = TG_BALANCE_MODEL,
      .health = {.interval_ms = 5 * 1000, .timeout_ms = 2 * 1000, .fails = 3, .passes = 2},
      .model = {.fairness_ms = 30 * 1000,
                .queue_max = 1024,
                .queue_timeout_ms = 30 * 1000,
                .affinity_table = 65536,
                .affinity_slack_ms = UINT64_MAX},
  };
  u->name = strdup(name);
  u->host_header = strdup("localhost:11434");
  return u->name && u->host_header ? 0 : -1;
}

int tg_cfg_site_defaults(tg_site_conf *s, const char *name) {
  *s = (tg_site_conf){
      .max_body_bytes = 100u << 20,
      .body_buffer_bytes = 1u << 20,
      .header_timeout_ms = 60 * 1000,
      .body_timeout_ms = 60 * 1000,
      .keepalive_timeout_ms = 75 * 1000,
      .send_timeout_ms = 60 * 1000,
      .tunnel_timeout_ms = 60 * 60 * 1000,
      .max_header_bytes = 16u << 10,
  };
  s->name = strdup(name);
  s->mount = strdup("");
  s->body_temp_dir = tg_cfg_body_temp_default();
  return s->name && s->mount && s->body_temp_dir ? 0 : -1;
}

tg_server_conf *tg_upstream_add_server(tg_upstream_conf *u, tg_hostport addr) {
  tg_server_conf *v = u->nservers < TG_MAX_SERVERS ? realloc(u->servers, (u->nservers + 1) * sizeof *v) : NULL;
  if (!v) return NULL;
  u->servers = v;
  v[u->nservers] = (tg_server_conf){.addr = addr, .slots = 1, .weight = 1};
  return &v[u->nservers++];
}

void tg_cfg_upstream_clear(tg_upstream_conf *u) {
  free(u->name);
  for (size_t i = 0; i < u->nservers; i++) free(u->servers[i].addr.host);
  free(u->servers);
  free(u->host_header);
  memset(u, 0, sizeof *u);
}

void tg_cfg_site_clear(tg_site_conf *s) {
  free(s->name);
  for (size_t i = 0; i < s->nlistens; i++) free(s->listens[i].host);
  free(s->mount);
  free(s->body_temp_dir);
  tg_auth_conf_free(s->auth);
  tg_limits_conf_free(s->limits);
  tg_tls_conf_free(s->tls);
  memset(s, 0, sizeof *s);
}

void tg_config_free(tg_config *cfg) {
  if (!cfg) return;
  for (size_t i = 0; i < cfg->nupstreams; i++) tg_cfg_upstream_clear(&cfg->upstreams[i]);
  for (size_t i = 0; i < cfg->nsites; i++) tg_cfg_site_clear(&cfg->sites[i]);
  free(cfg->upstreams);
  free(cfg->sites);
  free(cfg->path);
  if (cfg->admin) free(cfg->admin->host);
  free(cfg->admin);
  free(cfg->access_log);
  free(cfg->error_log);
  tg_acme_conf_free(cfg->acme);
  tg_process_conf_free(cfg->process);
  tg_shared_conf_free(cfg->shared);
  tg_cfg_origins_free(cfg->origins);
  free(cfg);
}

/* An empty config: top-level defaults, no upstream, no site. */
static tg_config *config_new_empty(void) {
  tg_config *cfg = calloc(1, sizeof *cfg);
  if (!cfg) return NULL;
  cfg->drain_timeout_ms = 5 * 60 * 1000;
  cfg->access_log = strdup("stdout");
  cfg->error_log = strdup("stderr");
  if (!cfg->access_log || !cfg->error_log) {
    tg_config_free(cfg);
    return NULL;
  }
  return cfg;
}

tg_config *tg_config_new_default(void) {
  tg_config *cfg = config_new_empty();
  if (!cfg) return NULL;
  cfg->upstreams = calloc(1, sizeof *cfg->upstreams);
  cfg->sites = calloc(1, sizeof *cfg->sites);
  if (!cfg->upstreams || !cfg->sites) goto fail;
  cfg->nupstreams = cfg->nsites = 1;
  tg_upstream_conf *u = &cfg->upstreams[0];
  tg_site_conf *s = &cfg->sites[0];
  if (tg_cfg_upstream_defaults(u, "default") < 0 || tg_cfg_site_defaults(s, "_") < 0) goto fail;
  char *host = strdup("127.0.0.1");
  if (!host || !tg_upstream_add_server(u, (tg_hostport){host, 11434})) {
    free(host);
    goto fail;
  }
  s->listens[0] = (tg_hostport){strdup("127.0.0.1"), 8080};
  s->nlistens = 1;
  s->upstream = u;
  tg_admission_plan(s);
  if (!s->listens[0].host) goto fail;
  return cfg;
fail:
  tg_config_free(cfg);
  return NULL;
}

tg_config *tg_config_parse(const char *name, const char *text, size_t len, FILE *err, int *nerrors) {
  tg_cfg_errors errs = {0};
  tg_cfg_node root;
  tg_config *cfg = config_new_empty();
  if (!cfg || (name && !(cfg->path = strdup(name)))) errs.oom = 1;
  if (!errs.oom && tg_cfg_parse_tree(text, len, &errs, &root) == 0) {
    tg_cfg_apply(cfg, &root, &errs);
    tg_cfg_node_free(&root);
  }
  if (errs.oom && errs.nerrs == 0) errs.nerrs = 1;
  int n = errs.nerrs;
  tg_cfg_errors_flush(&errs, name, err);
  if (nerrors) *nerrors = n;
  if (n == 0) return cfg;
  tg_config_free(cfg);
  return NULL;
}

/* Reads a whole file into a NUL-terminated buffer; sets errno on failure. */
static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    n += fread(buf + n, 1, cap - n - 1, f);
    if (ferror(f) || feof(f)) break;
    char *bigger = cap >= TG_CFG_MAX_FILE ? NULL : realloc(buf, cap * 2);
    if (!bigger) {
      errno = cap >= TG_CFG_MAX_FILE ? EFBIG : ENOMEM;
      free(buf);
    }
    buf = bigger;
    cap *= 2;
  }
  if (buf && ferror(f)) { /* errno is fread's: EISDIR, EIO... */
    free(buf);
    buf = NULL;
  }
  fclose(f);
  if (buf) buf[n] = '\0';
  *len = n;
  return buf;
}

tg_config *tg_config_load(const char *path, FILE *err, int *nerrors) {
  size_t len;
  char *text = read_file(path, &len);
  if (!text) {
    if (err) fprintf(err, "%s: cannot read: %s\n", path, strerror(errno));
    if (nerrors) *nerrors = 1;
    return NULL;
  }
  tg_config *cfg = tg_config_parse(path, text, len, err, nerrors);
  free(text);
  return cfg;
}

/* ---- values ---- */

int tg_cfg_parse_uint(const char *s, uint64_t max, uint64_t *out) {
  uint64_t v = 0;
  if (!*s) return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return -1;
    unsigned d = (unsigned)(*s - '0');
    if (d > max || v > (max - d) / 10) return -1;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

/* Splits "123unit" into its number and unit; the number may not overflow. */
static int split_number(const char *s, uint64_t *v, const char **unit) {
  size_t n = 0;
  while (s[n] >= '0' && s[n] <= '9') n++;
  char digits[24];
  if (n == 0 || n >= sizeof digits) return -1;
  memcpy(digits, s, n);
  digits[n] = '\0';
  *unit = s + n;
  return tg_cfg_parse_uint(digits, UINT64_MAX, v);
}

static int scale(uint64_t v, uint64_t mult, uint64_t *out) {
  if (mult && v > UINT64_MAX / mult) return -1;
  *out = v * mult;
  return 0;
}

int tg_duration_parse(const char *s, uint64_t *ms) {
  static const struct {
    const char *unit;
    uint64_t ms;
  } units[] = {
      {"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
  };
  uint64_t v;
  const char *unit;
  if (split_number(s, &v, &unit) < 0) return -1;
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
    if (strcmp(unit, units[i].unit) == 0) return scale(v, units[i].ms, ms);
  return -1;
}

int tg_size_parse(const char *s, uint64_t *bytes) {
  uint64_t v;
  const char *unit;
  if (split_number(s, &v, &unit) < 0) return -1;
  if (unit[0] && unit[1]) return -1;
  switch (tolower((unsigned char)unit[0])) {
  case '\0': return scale(v, 1, bytes);
  case 'k': return scale(v, 1ull << 10, bytes);
  case 'm': return scale(v, 1ull << 20, bytes);
  case 'g': return scale(v, 1ull << 30, bytes);
  default: return -1;
  }
}

static int valid_host_name(const char *h, size_t n) {
  if (n > 253) return 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)h[i]) && !strchr(".-_", h[i])) return 0;
  return 1;
}

static int valid_ipv6(const char *h, size_t n) {
  if (n < 2 || n > 64 || !memchr(h, ':', n)) return 0;
  for (size_t i = 0; i < n; i++)
    if (!isxdigit((unsigned char)h[i]) && !strchr(":.%", h[i]) &&
        !(memchr(h, '%', i) && isalnum((unsigned char)h[i]))) /* a zone: fe80::1%eth0 */
      return 0;
  return 1;
}

int tg_hostport_parse(const char *s, tg_hostport *out) {
  const char *host = s, *port = s;
  size_t hlen = 0;
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (!close || close[1] != ':') return -1;
    host = s + 1;
    hlen = (size_t)(close - host);
    if (!valid_ipv6(host, hlen)) return -1;
    port = close + 2;
  } else if (strchr(s, ':')) {
    const char *colon = strchr(s, ':');
    if (strchr(colon + 1, ':')) return -1; /* a bare IPv6 address needs brackets */
    hlen = (size_t)(colon - s);
    port = colon + 1;
    if (hlen == 1 && s[0] == '*') hlen = 0; /* "*:8080" as in nginx */
    if (!valid_host_name(host, hlen)) return -1;
  }
  uint64_t p;
  if (strlen(port) > 5 || tg_cfg_parse_uint(port, 65535, &p) < 0 || p == 0) return -1;
  char *h = strndup(host, hlen);
  if (!h) return -1;
  out->host = h;
  out->port = (uint16_t)p;
  return 0;
}
