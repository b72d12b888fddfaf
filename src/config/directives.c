/* The directive pass: every directive tollgate knows, in one table (name,
 * where it may appear, its shape, a usage line and a handler), and the
 * checks that span the whole file (upstream references, listen overlaps).
 * Adding a directive is one table row and one handler. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "syntax.h"
#include "tollgate/admission.h"
#include "tollgate/tls.h"

#define NTIMEOUTS 5 /* most timeout names in one block */
#define MAX_TIMEOUT_MS (365ull * 86400 * 1000)
#define ERR(a, tok, ...) tg_cfg_error_at((a)->errs, (tok)->line, (tok)->col, __VA_ARGS__)

typedef enum ctx_kind { CTX_TOP, CTX_UPSTREAM, CTX_SITE } ctx_kind;

/* What the pass remembers about a site besides its tg_site_conf. */
typedef struct site_extra {
  const tg_cfg_node *node;
  const tg_cfg_token *proxy;
  const tg_cfg_token *listen[TG_MAX_LISTENS];
} site_extra;

typedef struct apply {
  tg_config *cfg;
  tg_cfg_errors *errs;
  const tg_cfg_node **upstream_nodes;           /* parallel to cfg->upstreams */
  site_extra *sites;                            /* parallel to cfg->sites */
  const tg_cfg_token *timeout_first[NTIMEOUTS]; /* per block, per timeout name */
  int saw_upstream, saw_site;
} apply;

typedef void (*handler)(apply *a, const tg_cfg_node *n, void *target);

enum { BLOCK = 1, REPEAT = 2, OPT_BLOCK = 4 /* a block is allowed, not required */ };

typedef struct directive {
  const char *name;
  ctx_kind ctx;
  unsigned flags;
  size_t min_args, max_args;
  const char *usage;
  handler fn;
} directive;

static void set_string(apply *a, char **field, const char *v) {
  char *d = strdup(v);
  if (!d) {
    a->errs->oom = 1;
    return;
  }
  free(*field);
  *field = d;
}

static int is_visible_ascii(const char *s) {
  for (; *s; s++)
    if (*s <= ' ' || *s > '~') return 0;
  return 1;
}

static int has_kid(const tg_cfg_node *n, const char *name) {
  for (size_t i = 0; i < n->nkids; i++)
    if (strcmp(n->kids[i].name.text, name) == 0) return 1;
  return 0;
}

/* ---- top level ---- */

static void do_workers(apply *a, const tg_cfg_node *n, void *target) {
  tg_config *cfg = target;
  uint64_t w;
  if (strcmp(n->args[0].text, "auto") == 0) cfg->workers = 0;
  else if (tg_cfg_parse_uint(n->args[0].text, 256, &w) == 0 && w >= 1) cfg->workers = (unsigned)w;
  else ERR(a, &n->args[0], "'workers' takes 'auto' or a number from 1 to 256");
}

static void do_drain_timeout(apply *a, const tg_cfg_node *n, void *target) {
  tg_config *cfg = target;
  uint64_t ms;
  if (tg_duration_parse(n->args[0].text, &ms) == 0 && ms <= MAX_TIMEOUT_MS) cfg->drain_timeout_ms = ms;
  else ERR(a, &n->args[0], "invalid duration '%s' for 'drain_timeout' (use ms, s, m, h or d)", n->args[0].text);
}

static int parse_address(apply *a, const tg_cfg_token *t, const char *v, tg_hostport *out);

static void do_admin(apply *a, const tg_cfg_node *n, void *target) {
  tg_config *cfg = target;
  tg_hostport hp;
  if (parse_address(a, &n->args[0], n->args[0].text, &hp) < 0) return;
  tg_hostport *copy = malloc(sizeof *copy);
  if (!copy) {
    free(hp.host);
    a->errs->oom = 1;
    return;
  }
  *copy = hp;
  cfg->admin = copy;
  tg_cfg_origin_note(cfg, copy->host, &n->args[0], a->errs);
}

static void do_access_log(apply *a, const tg_cfg_node *n, void *target) {
  tg_config *cfg = target;
  if (!n->args[0].text[0]) ERR(a, &n->args[0], "'access_log' takes stdout, stderr, off or a file path");
  else set_string(a, &cfg->access_log, n->args[0].text);
  tg_cfg_origin_note(cfg, cfg->access_log, &n->args[0], a->errs);
}

static void do_error_log(apply *a, const tg_cfg_node *n, void *target) {
  tg_config *cfg = target;
  const char *v = n->args[0].text;
  if (strcmp(v, "off") == 0) ERR(a, &n->args[0], "'error_log' cannot be off (use stderr, stdout or a file path)");
  else if (!v[0]) ERR(a, &n->args[0], "'error_log' takes stderr, stdout or a file path");
  else set_string(a, &cfg->error_log, v);
  tg_cfg_origin_note(cfg, cfg->error_log, &n->args[0], a->errs);
}

static void apply_block(apply *a, const tg_cfg_node *block, ctx_kind ctx, void *target);

static void do_upstream(apply *a, const tg_cfg_node *n, void *target) {
  tg_config *cfg = target;
  const tg_cfg_token *name = &n->args[0];
  int dup = 0;
  if (!name->text[0]) {
    ERR(a, name, "an upstream needs a name");
    dup = 1;
  }
  for (size_t i = 0; i < cfg->nupstreams && !dup; i++) {
    if (strcmp(cfg->upstreams[i].name, name->text) != 0) continue;
    ERR(a, name, "duplicate upstream '%s' (first defined at %u:%u)", name->text, a->upstream_nodes[i]->name.line,
        a->upstream_nodes[i]->name.col);
    dup = 1;
  }
  tg_upstream_conf u;
  if (tg_cfg_upstream_defaults(&u, name->text) < 0) a->errs->oom = 1;
  apply_block(a, n, CTX_UPSTREAM, &u); /* a duplicate is still checked */
  if (!u.nservers && !has_kid(n, "server")) ERR(a, name, "upstream '%s' has no 'server'", name->text);
  tg_cfg_upstream_check(&u, n, a->errs);
  if (dup || a->errs->oom) {
    tg_cfg_upstream_clear(&u);
    return;
  }
  a->upstream_nodes[cfg->nupstreams] = n;
  cfg->upstreams[cfg->nupstreams++] = u;
}

static void do_site(apply *a, const tg_cfg_node *n, void *target) {
  tg_config *cfg = target;
  tg_site_conf *s = &cfg->sites[cfg->nsites];
  if (!n->args[0].text[0]) ERR(a, &n->args[0], "a site needs a name (use '_' for any)");
  a->sites[cfg->nsites] = (site_extra){.node = n};
  cfg->nsites++; /* now, so that tg_config_free sees it on every path */
  if (tg_cfg_site_defaults(s, n->args[0].text) < 0) {
    a->errs->oom = 1;
    return;
  }
  apply_block(a, n, CTX_SITE, s);
  if (!s->nlistens && !has_kid(n, "listen")) ERR(a, &n->args[0], "site '%s' has no 'listen'", s->name);
}

/* ---- shared by upstream and site ---- */

static int parse_address(apply *a, const tg_cfg_token *t, const char *v, tg_hostport *out) {
  if (tg_hostport_parse(v, out) == 0) return 0;
  ERR(a, t, "invalid address '%s' (use HOST:PORT, [IPv6]:PORT or :PORT)", t->text);
  return -1;
}

typedef struct timeout_key {
  const char *name;
  size_t offset; /* of a uint64_t in the target */
} timeout_key;

static void set_timeouts(apply *a, const tg_cfg_node *n, void *target, const timeout_key *keys, const char *where,
                         const char *names) {
  for (size_t i = 0; i < n->nargs; i += 2) {
    const tg_cfg_token *key = &n->args[i], *val = i + 1 < n->nargs ? &n->args[i + 1] : NULL;
    size_t k = 0;
    while (k < NTIMEOUTS && keys[k].name && strcmp(keys[k].name, key->text) != 0) k++;
    if (k == NTIMEOUTS || !keys[k].name) {
      ERR(a, key, "'timeout' in %s takes %s, not '%s'", where, names, key->text);
      continue;
    }
    if (a->timeout_first[k]) {
      ERR(a, key, "duplicate 'timeout %s' (first at %u:%u)", key->text, a->timeout_first[k]->line,
          a->timeout_first[k]->col);
      continue;
    }
    a->timeout_first[k] = key;
    uint64_t ms;
    if (!val) ERR(a, key, "missing duration after 'timeout %s'", key->text);
    else if (tg_duration_parse(val->text, &ms) < 0)
      ERR(a, val, "invalid duration '%s' (use ms, s, m, h or d)", val->text);
    else if (ms == 0) ERR(a, val, "'timeout %s' must be more than 0", key->text);
    else if (ms > MAX_TIMEOUT_MS) ERR(a, val, "'timeout %s' is too long (at most 365d)", key->text);
    else *(uint64_t *)(void *)((char *)target + keys[k].offset) = ms;
  }
}

/* ---- upstream ---- */

static void do_server(apply *a, const tg_cfg_node *n, void *target) {
  tg_cfg_server_directive(target, n, a->cfg, a->errs);
}

static void do_balance(apply *a, const tg_cfg_node *n, void *target) { tg_cfg_balance_directive(target, n, a->errs); }

static void do_health(apply *a, const tg_cfg_node *n, void *target) { tg_cfg_health_directive(target, n, a->errs); }

static void do_fairness(apply *a, const tg_cfg_node *n, void *target) { tg_cfg_fairness_directive(target, n, a->errs); }

static void do_model_queue(apply *a, const tg_cfg_node *n, void *target) { tg_cfg_queue_directive(target, n, a->errs); }

static void do_affinity_table(apply *a, const tg_cfg_node *n, void *target) {
  tg_cfg_affinity_table_directive(target, n, a->errs);
}

static void do_affinity_slack(apply *a, const tg_cfg_node *n, void *target) {
  tg_cfg_affinity_slack_directive(target, n, a->errs);
}

static void do_host_header(apply *a, const tg_cfg_node *n, void *target) {
  tg_upstream_conf *u = target;
  const char *v = n->args[0].text;
  if (strcmp(v, "preserve") == 0) {
    free(u->host_header);
    u->host_header = NULL;
  } else if (!v[0] || !is_visible_ascii(v)) {
    ERR(a, &n->args[0], "invalid Host '%s' for 'host_header' (use HOST[:PORT] or preserve)", v);
  } else {
    set_string(a, &u->host_header, v);
  }
}

static const timeout_key upstream_timeouts[NTIMEOUTS] = {
    {"dial", offsetof(tg_upstream_conf, dial_timeout_ms)},
    {"header", offsetof(tg_upstream_conf, header_timeout_ms)},
    {"idle", offsetof(tg_upstream_conf, idle_timeout_ms)},
    {"keepalive", offsetof(tg_upstream_conf, keepalive_timeout_ms)},
};

static void do_upstream_timeout(apply *a, const tg_cfg_node *n, void *target) {
  set_timeouts(a, n, target, upstream_timeouts, "an upstream", "dial, header, idle or keepalive");
}

static void do_keepalive(apply *a, const tg_cfg_node *n, void *target) {
  tg_upstream_conf *u = target;
  uint64_t v;
  if (tg_cfg_parse_uint(n->args[0].text, 100000, &v) == 0) u->keepalive = (unsigned)v;
  else ERR(a, &n->args[0], "'keepalive' takes a number from 0 to 100000");
}

/* ---- site ---- */

static site_extra *extra_of(apply *a, const tg_site_conf *s) { return &a->sites[s - a->cfg->sites]; }

static void do_listen(apply *a, const tg_cfg_node *n, void *target) {
  tg_site_conf *s = target;
  tg_hostport hp;
  if (s->nlistens == TG_MAX_LISTENS) {
    ERR(a, &n->name, "too many 'listen' in site '%s' (at most %d)", s->name, TG_MAX_LISTENS);
    return;
  }
  uint8_t kind = TG_LISTEN_PLAIN;
  if (n->nargs == 2) {
    const char *k = n->args[1].text;
    if (strcmp(k, "tls") == 0) kind = TG_LISTEN_TLS;
    else if (strcmp(k, "redirect") == 0) kind = TG_LISTEN_REDIRECT;
    else if (strcmp(k, "h2c") == 0) kind = TG_LISTEN_H2C;
    else {
      ERR(a, &n->args[1], "'listen' takes 'tls', 'redirect' or 'h2c' after the address, not '%s'", k);
      return;
    }
  }
  if (parse_address(a, &n->args[0], n->args[0].text, &hp) < 0) return;
  extra_of(a, s)->listen[s->nlistens] = &n->args[0];
  s->listen_kind[s->nlistens] = kind;
  s->listens[s->nlistens++] = hp;
  tg_cfg_origin_note(a->cfg, hp.host, &n->args[0], a->errs);
}

static void do_mount(apply *a, const tg_cfg_node *n, void *target) {
  tg_site_conf *s = target;
  const char *v = n->args[0].text;
  if (v[0] != '/' || !is_visible_ascii(v) || strpbrk(v, "?#")) {
    ERR(a, &n->args[0], "'mount' takes a path prefix starting with '/', not '%s'", v);
    return;
  }
  size_t len = strlen(v);
  while (len && v[len - 1] == '/') len--; /* "/" becomes "" (no prefix) */
  char *m = strndup(v, len);
  if (!m) {
    a->errs->oom = 1;
    return;
  }
  free(s->mount);
  s->mount = m;
}

static int parse_size_arg(apply *a, const tg_cfg_token *t, uint64_t *out) {
  if (tg_size_parse(t->text, out) == 0) return 0;
  ERR(a, t, "invalid size '%s' (use a number with an optional k, m or g)", t->text);
  return -1;
}

static void do_client_max_body_size(apply *a, const tg_cfg_node *n, void *target) {
  tg_site_conf *s = target;
  uint64_t v;
  if (parse_size_arg(a, &n->args[0], &v) == 0) s->max_body_bytes = v;
}

static void do_max_header_size(apply *a, const tg_cfg_node *n, void *target) {
  tg_site_conf *s = target;
  uint64_t v;
  if (parse_size_arg(a, &n->args[0], &v) < 0) return;
  if (v < 1024 || v > 1024 * 1024)
    ERR(a, &n->args[0], "'max_header_size' must be from 1k to 1m, not '%s'", n->args[0].text);
  else s->max_header_bytes = (size_t)v;
}

static void do_client_body_buffer_size(apply *a, const tg_cfg_node *n, void *target) {
  tg_site_conf *s = target;
  uint64_t v;
  if (parse_size_arg(a, &n->args[0], &v) < 0) return;
  if (v < 1024 || v > (1ull << 30))
    ERR(a, &n->args[0], "'client_body_buffer_size' must be from 1k to 1g, not '%s'", n->args[0].text);
  else s->body_buffer_bytes = v;
}

static void do_client_body_temp_path(apply *a, const tg_cfg_node *n, void *target) {
  tg_cfg_body_temp_path(target, n, a->cfg->path, a->errs);
}

static const timeout_key site_timeouts[NTIMEOUTS] = {
    {"header", offsetof(tg_site_conf, header_timeout_ms)},       {"body", offsetof(tg_site_conf, body_timeout_ms)},
    {"keepalive", offsetof(tg_site_conf, keepalive_timeout_ms)}, {"send", offsetof(tg_site_conf, send_timeout_ms)},
    {"tunnel", offsetof(tg_site_conf, tunnel_timeout_ms)},
};

static void do_site_timeout(apply *a, const tg_cfg_node *n, void *target) {
  set_timeouts(a, n, target, site_timeouts, "a site", "header, body, keepalive, send or tunnel");
}

static void do_forward_credentials(apply *a, const tg_cfg_node *n, void *target) {
  tg_site_conf *s = target;
  const char *v = n->args[0].text;
  if (strcmp(v, "on") == 0 || strcmp(v, "off") == 0) s->forward_credentials = strcmp(v, "on") == 0;
  else ERR(a, &n->args[0], "'forward_credentials' takes on or off, not '%s'", v);
}

static void do_http2(apply *a, const tg_cfg_node *n, void *target) {
  tg_site_conf *s = target;
  const char *v = n->args[0].text;
  if (strcmp(v, "on") == 0 || strcmp(v, "off") == 0) s->http2_off = strcmp(v, "off") == 0;
  else ERR(a, &n->args[0], "'http2' takes on or off, not '%s'", v);
}

static void do_auth(apply *a, const tg_cfg_node *n, void *target) {
  tg_cfg_auth_directive(target, n, a->cfg->path, a->errs);
}

static void do_auth_cache(apply *a, const tg_cfg_node *n, void *target) {
  tg_cfg_auth_cache_directive(target, n, a->errs);
}

static void do_route(apply *a, const tg_cfg_node *n, void *target) { tg_cfg_route_directive(target, n, a->errs); }

static void do_limit(apply *a, const tg_cfg_node *n, void *target) { tg_cfg_limit_directive(target, n, a->errs); }

static void do_limit_status(apply *a, const tg_cfg_node *n, void *target) {
  tg_cfg_limit_status_directive(target, n, a->errs);
}

static void do_admins(apply *a, const tg_cfg_node *n, void *target) { tg_cfg_admins_directive(target, n, a->errs); }

static void do_trusted_proxies(apply *a, const tg_cfg_node *n, void *target) {
  tg_cfg_trusted_proxies_directive(target, n, a->errs);
}

static void do_cors(apply *a, const tg_cfg_node *n, void *target) { tg_cfg_cors_directive(target, n, a->errs); }

static void do_tls(apply *a, const tg_cfg_node *n, void *target) {
  tg_cfg_tls_directive(target, n, a->cfg->path, a->errs);
}

static void do_models(apply *a, const tg_cfg_node *n, void *target) { tg_cfg_models_directive(target, n, a->errs); }

static void do_quota(apply *a, const tg_cfg_node *n, void *target) { tg_cfg_quota_directive(target, n, a->errs); }

static void do_quota_state(apply *a, const tg_cfg_node *n, void *target) {
  tg_cfg_quota_state_directive(target, n, a->cfg->path, a->errs);
}
static void do_acme(apply *a, const tg_cfg_node *n, void *target) { tg_cfg_acme_directive(target, n, a->errs); }
static void do_user(apply *a, const tg_cfg_node *n, void *target) { tg_cfg_user_directive(target, n, a->errs); }
static void do_pid_file(apply *a, const tg_cfg_node *n, void *target) { tg_cfg_pid_file_directive(target, n, a->errs); }
static void do_io_engine(apply *a, const tg_cfg_node *n, void *target) {
  tg_cfg_io_engine_directive(target, n, a->errs);
}
static void do_shared(apply *a, const tg_cfg_node *n, void *target) { tg_cfg_shared_directive(target, n, a->errs); }

static void do_proxy(apply *a, const tg_cfg_node *n, void *target) {
  extra_of(a, target)->proxy = &n->args[0]; /* resolved once every upstream is known */
}

/* ---- the table ---- */

static const directive directives[] = {
    {"workers", CTX_TOP, 0, 1, 1, "'workers' takes 'auto' or a number from 1 to 256", do_workers},
    {"admin", CTX_TOP, 0, 1, 1, "'admin' takes one address: admin 127.0.0.1:9090", do_admin},
    {"drain_timeout", CTX_TOP, 0, 1, 1, "'drain_timeout' takes a duration such as 5m", do_drain_timeout},
    {"access_log", CTX_TOP, 0, 1, 1, "'access_log' takes stdout, stderr, off or a file path", do_access_log},
    {"error_log", CTX_TOP, 0, 1, 1, "'error_log' takes stderr, stdout or a file path", do_error_log},
    {"upstream", CTX_TOP, BLOCK | REPEAT, 1, 1,
     "'upstream' takes a name and a block: upstream NAME { server HOST:PORT; }", do_upstream},
    {"site", CTX_TOP, BLOCK | REPEAT, 1, 1, "'site' takes a name and a block: site NAME { listen HOST:PORT; }",
     do_site},
    {"acme", CTX_TOP, BLOCK, 0, 0, "'acme' takes a block: acme { email admin@example.com; agree_tos on; }", do_acme},
    {"user", CTX_TOP, 0, 1, 2, "'user' takes a user name and optionally a group: user tollgate;", do_user},
    {"pid_file", CTX_TOP, 0, 1, 1, "'pid_file' takes a file path", do_pid_file},
    {"io_engine", CTX_TOP, 0, 1, 1, "'io_engine' takes auto, epoll or io_uring", do_io_engine},
    {"server", CTX_UPSTREAM, REPEAT, 1, 7,
     "'server' takes an address and options: server HOST:PORT [slots N] [weight N] [backup] [drain]", do_server},
    {"balance", CTX_UPSTREAM, 0, 1, 1, "'balance' takes model, least_conn or round_robin", do_balance},
    {"health", CTX_UPSTREAM, 0, 2, 8, "'health' takes names and values: health interval 5s timeout 2s fails 3 passes 2",
     do_health},
    {"fairness", CTX_UPSTREAM, 0, 1, 1, "'fairness' takes a duration such as 30s", do_fairness},
    {"queue", CTX_UPSTREAM, 0, 1, 3, "'queue' takes a number and optionally a timeout: queue 1024 timeout 30s",
     do_model_queue},
    {"affinity_table", CTX_UPSTREAM, 0, 1, 1, "'affinity_table' takes a number of entries such as 65536 (0: off)",
     do_affinity_table},
    {"affinity_slack", CTX_UPSTREAM, 0, 1, 1, "'affinity_slack' takes auto or a duration such as 500ms",
     do_affinity_slack},
    {"shared", CTX_TOP, OPT_BLOCK, 1, 1, "'shared' takes the store's address: shared redis://127.0.0.1:6379 { ... }",
     do_shared},
    {"host_header", CTX_UPSTREAM, 0, 1, 1, "'host_header' takes HOST[:PORT] or preserve", do_host_header},
    {"timeout", CTX_UPSTREAM, REPEAT, 2, SIZE_MAX, "'timeout' takes names and durations: timeout dial 10s header 10m",
     do_upstream_timeout},
    {"keepalive", CTX_UPSTREAM, 0, 1, 1, "'keepalive' takes a number from 0 to 100000", do_keepalive},
    {"listen", CTX_SITE, REPEAT, 1, 2, "'listen' takes an address and optionally tls, redirect or h2c: listen :443 tls",
     do_listen},
    {"mount", CTX_SITE, 0, 1, 1, "'mount' takes a path prefix starting with '/'", do_mount},
    {"client_max_body_size", CTX_SITE, 0, 1, 1, "'client_max_body_size' takes a size such as 100m (0 = unlimited)",
     do_client_max_body_size},
    {"client_body_buffer_size", CTX_SITE, 0, 1, 1, "'client_body_buffer_size' takes a size from 1k to 1g",
     do_client_body_buffer_size},
    {"client_body_temp_path", CTX_SITE, 0, 1, 1, "'client_body_temp_path' takes a directory", do_client_body_temp_path},
    {"max_header_size", CTX_SITE, 0, 1, 1, "'max_header_size' takes a size from 1k to 1m", do_max_header_size},
    {"timeout", CTX_SITE, REPEAT, 2, SIZE_MAX, "'timeout' takes names and durations: timeout header 60s send 60s",
     do_site_timeout},
    {"forward_credentials", CTX_SITE, 0, 1, 1, "'forward_credentials' takes on or off", do_forward_credentials},
    {"proxy", CTX_SITE, 0, 1, 1, "'proxy' takes the name of an upstream", do_proxy},
    {"http2", CTX_SITE, 0, 1, 1, "'http2' takes on or off", do_http2},
    {"auth", CTX_SITE, REPEAT | OPT_BLOCK, 1, 6, "'auth' takes basic FILE, keys FILE, ollama FILE or forward URL",
     do_auth},
    {"auth_cache", CTX_SITE, 0, 1, 1, "'auth_cache' takes a duration such as 5m (0 = off)", do_auth_cache},
    {"route", CTX_SITE, BLOCK | REPEAT, 1, 2, "'route' takes a path and a block: route /api/version { auth off; }",
     do_route},
    {"limit", CTX_SITE, REPEAT, 2, SIZE_MAX,
     "'limit' takes rate R ... per ip|user, conn N per ip, or concurrency N ...", do_limit},
    {"limit_status", CTX_SITE, 0, 1, 1, "'limit_status' takes a status from 400 to 599", do_limit_status},
    {"admins", CTX_SITE, 0, 1, SIZE_MAX, "'admins' takes user names", do_admins},
    {"trusted_proxies", CTX_SITE, 0, 1, SIZE_MAX, "'trusted_proxies' takes addresses or ranges: 10.0.0.0/8",
     do_trusted_proxies},
    {"cors", CTX_SITE, BLOCK, 0, 0, "'cors' takes a block: cors { origins https://a.example; }", do_cors},
    {"tls", CTX_SITE, REPEAT, 1, 4, "'tls' takes cert FILE key FILE, auto [NAME...] or protocols 1.2 1.3", do_tls},
    {"models", CTX_SITE, REPEAT, 2, SIZE_MAX, "'models' takes a user (or *) and model names: models alice llama3.2;",
     do_models},
    {"quota", CTX_SITE, 0, 4, SIZE_MAX, "'quota' takes tokens LIMIT... per user: quota tokens 100k/d 10k/m per user;",
     do_quota},
    {"quota_state", CTX_SITE, 0, 1, 1, "'quota_state' takes a file path", do_quota_state},
};

#define NDIRECTIVES (sizeof directives / sizeof directives[0])

static const char *const ctx_where[] = {"at the top level", "in an upstream", "in a site"};
static const char *const ctx_home[] = {"at the top level", "in an upstream block", "in a site block"};

static const directive *lookup(apply *a, const tg_cfg_node *n, ctx_kind ctx) {
  const char *name = n->name.text;
  const directive *elsewhere = NULL;
  for (size_t i = 0; i < NDIRECTIVES; i++) {
    if (strcmp(directives[i].name, name) != 0) continue;
    if (directives[i].ctx == ctx) return &directives[i];
    elsewhere = &directives[i];
  }
  if (elsewhere) {
    ERR(a, &n->name, "'%s' is not allowed %s (it goes %s)", name, ctx_where[ctx], ctx_home[elsewhere->ctx]);
    return NULL;
  }
  const char *names[NDIRECTIVES];
  size_t k = 0;
  for (size_t i = 0; i < NDIRECTIVES; i++)
    if (directives[i].ctx == ctx) names[k++] = directives[i].name;
  char hint[200];
  ERR(a, &n->name, "unknown directive '%s'%s", name, tg_cfg_suggest(name, names, k, hint, sizeof hint));
  return NULL;
}

/* The first argument on a later line than the name: a sign that the ';'
 * ending the directive was forgotten. */
static const tg_cfg_token *first_on_new_line(const tg_cfg_node *n) {
  for (size_t i = 0; i < n->nargs; i++)
    if (n->args[i].line > n->name.line) return &n->args[i];
  return NULL;
}

/* Checks a directive's argument count and block against its table row. */
static int shape_ok(apply *a, const directive *d, const tg_cfg_node *n) {
  const tg_cfg_token *lost = first_on_new_line(n);
  int wants_block = (d->flags & BLOCK) != 0, may_block = (d->flags & (BLOCK | OPT_BLOCK)) != 0;
  char text[80];
  if (lost && n->nargs > d->max_args) {
    ERR(a, lost, "expected ';' after '%s'", tg_cfg_node_text(n, n->name.line, text, sizeof text));
    return 0;
  }
  if (!may_block && n->has_block) {
    tg_cfg_error_at(a->errs, n->bline, n->bcol, "'%s' does not take a block", n->name.text);
    return 0;
  }
  if (n->nargs < d->min_args || n->nargs > d->max_args) {
    ERR(a, n->nargs < d->min_args ? &n->name : &n->args[d->max_args], "%s", d->usage);
    return 0;
  }
  if (wants_block && !n->has_block) {
    ERR(a, &n->name, "%s", d->usage);
    return 0;
  }
  return 1;
}

static void apply_block(apply *a, const tg_cfg_node *block, ctx_kind ctx, void *target) {
  const tg_cfg_node *first[NDIRECTIVES] = {0};
  memset(a->timeout_first, 0, sizeof a->timeout_first);
  for (size_t i = 0; i < block->nkids; i++) {
    const tg_cfg_node *n = &block->kids[i];
    const directive *d = lookup(a, n, ctx);
    if (!d || !shape_ok(a, d, n)) continue;
    size_t k = (size_t)(d - directives);
    if (!(d->flags & REPEAT) && first[k]) {
      ERR(a, &n->name, "duplicate '%s' (first at %u:%u)", n->name.text, first[k]->name.line, first[k]->name.col);
      continue;
    }
    first[k] = n;
    d->fn(a, n, target);
  }
}

/* ---- whole-file checks ---- */

/* Whether some top-level 'upstream NAME' was written, even one rejected for
 * an error of its own (then a reference to it is not a second error). */
static int upstream_written(const tg_cfg_node *root, const char *name) {
  for (size_t i = 0; i < root->nkids; i++) {
    const tg_cfg_node *n = &root->kids[i];
    if (strcmp(n->name.text, "upstream") == 0 && n->nargs && strcmp(n->args[0].text, name) == 0) return 1;
  }
  return 0;
}

static void resolve_proxy(apply *a, const tg_cfg_node *root, tg_site_conf *s, const site_extra *x) {
  tg_config *cfg = a->cfg;
  if (x->proxy) {
    for (size_t i = 0; i < cfg->nupstreams; i++)
      if (strcmp(cfg->upstreams[i].name, x->proxy->text) == 0) s->upstream = &cfg->upstreams[i];
    if (!s->upstream && !upstream_written(root, x->proxy->text))
      ERR(a, x->proxy, "site '%s' proxies to unknown upstream '%s'", s->name, x->proxy->text);
  } else if (cfg->nupstreams == 1) {
    s->upstream = &cfg->upstreams[0];
  } else if (cfg->nupstreams > 1) {
    ERR(a, &x->node->args[0], "site '%s' has no 'proxy' and there are %zu upstreams to choose from", s->name,
        cfg->nupstreams);
  }
}

/* Two listens that cannot both bind: the same address and port, or every
 * address (host "") and an IPv4 address or name on the same port. An IPv6
 * literal next to "" is left to bind() since it depends on the address
 * family the core picks for "". */
static int listens_overlap(const tg_hostport *x, const tg_hostport *y) {
  if (x->port != y->port) return 0;
  if (strcmp(x->host, y->host) == 0) return 1;
  if (!x->host[0]) return !strchr(y->host, ':');
  if (!y->host[0]) return !strchr(x->host, ':');
  return 0;
}

static void check_listen_overlaps(apply *a) {
  tg_config *cfg = a->cfg;
  for (size_t i = 0; i < cfg->nsites; i++)
    for (size_t j = 0; j < cfg->sites[i].nlistens; j++)
      for (size_t k = 0; k <= i; k++)
        for (size_t l = 0; l < (k == i ? j : cfg->sites[k].nlistens); l++) {
          if (!listens_overlap(&cfg->sites[i].listens[j], &cfg->sites[k].listens[l])) continue;
          const tg_cfg_token *t = a->sites[i].listen[j], *u = a->sites[k].listen[l];
          ERR(a, t, "'listen %s' overlaps 'listen %s' at %u:%u", t->text, u->text, u->line, u->col);
          k = i + 1; /* one report per listen */
          break;
        }
}

/* A TLS listen needs certificates, and certificates need a TLS listen;
 * then every certificate file is loaded. */
static void check_tls(apply *a, tg_site_conf *s, const site_extra *x) {
  const tg_tls_conf *t = s->tls;
  int has_certs = t && (t->ncerts || t->auto_certs), has_tls_listen = 0;
  for (size_t i = 0; i < s->nlistens; i++) {
    if (s->listen_kind[i] != TG_LISTEN_TLS) continue;
    has_tls_listen = 1;
    if (!has_certs)
      ERR(a, x->listen[i], "'listen %s tls' needs 'tls cert FILE key FILE;' or 'tls auto;' in site '%s'",
          x->listen[i]->text, s->name);
  }
  if (t && !has_tls_listen) ERR(a, &x->node->args[0], "site '%s' has 'tls' but no 'listen ADDR tls'", s->name);
  if (t && has_tls_listen) {
    tg_cfg_acme_site(a->cfg, s, x->node, a->errs);
    tg_cfg_tls_check_site(s, x->node, a->errs);
  }
}

/* `http2 off;` in a site with a listener that serves HTTP/2 alone. */
static void check_http2(apply *a, const tg_site_conf *s, const site_extra *x) {
  for (size_t i = 0; s->http2_off && i < s->nlistens; i++) {
    if (s->listen_kind[i] != TG_LISTEN_H2C) continue;
    for (size_t k = 0; k < x->node->nkids; k++)
      if (strcmp(x->node->kids[k].name.text, "http2") == 0)
        ERR(a, &x->node->kids[k].args[0], "'http2 off' in a site that has 'listen %s h2c' (which serves HTTP/2 alone)",
            x->listen[i]->text);
    return;
  }
}

static void check_file(apply *a, const tg_cfg_node *root) {
  tg_config *cfg = a->cfg;
  for (size_t i = 0; i < cfg->nsites; i++) check_tls(a, &cfg->sites[i], &a->sites[i]);
  for (size_t i = 0; i < cfg->nsites; i++) check_http2(a, &cfg->sites[i], &a->sites[i]);
  if (cfg->shared)
    for (size_t i = 0; i < cfg->nsites; i++) tg_cfg_shared_check_site(a->sites[i].node, a->errs);
  if (!a->saw_upstream) tg_cfg_error_at(a->errs, 1, 1, "no 'upstream' block (a site needs one to proxy to)");
  if (!a->saw_site) tg_cfg_error_at(a->errs, 1, 1, "no 'site' block (nothing to listen on)");
  for (size_t i = 0; i < cfg->nsites; i++) resolve_proxy(a, root, &cfg->sites[i], &a->sites[i]);
  for (size_t i = 0; i < cfg->nsites; i++) tg_admission_plan(&cfg->sites[i]);
  check_listen_overlaps(a);
}

static size_t count_named(const tg_cfg_node *root, const char *name) {
  size_t n = 0;
  for (size_t i = 0; i < root->nkids; i++) n += strcmp(root->kids[i].name.text, name) == 0;
  return n;
}

int tg_cfg_apply(tg_config *cfg, const tg_cfg_node *root, tg_cfg_errors *errs) {
  apply a = {.cfg = cfg, .errs = errs};
  size_t nup = count_named(root, "upstream"), nsite = count_named(root, "site");
  a.saw_upstream = nup > 0;
  a.saw_site = nsite > 0;
  a.upstream_nodes = calloc(nup + 1, sizeof *a.upstream_nodes);
  a.sites = calloc(nsite + 1, sizeof *a.sites);
  cfg->upstreams = calloc(nup + 1, sizeof *cfg->upstreams);
  cfg->sites = calloc(nsite + 1, sizeof *cfg->sites);
  if (!a.upstream_nodes || !a.sites || !cfg->upstreams || !cfg->sites) errs->oom = 1;
  if (!errs->oom) apply_block(&a, root, CTX_TOP, cfg);
  /* cppcheck-suppress duplicateCondition ; apply_block sets errs->oom (a.errs) when it runs out of memory */
  if (!errs->oom) check_file(&a, root);
  free(a.upstream_nodes);
  free(a.sites);
  return errs->oom ? -1 : 0;
}
