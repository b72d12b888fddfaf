/* The directives of an upstream block that describe its servers
 * (docs/upstreams.md):
 *   server HOST:PORT [slots N] [weight N] [max_loaded N] [backup] [drain];
 *   balance model|least_conn|round_robin;
 *   health [interval D] [timeout D] [fails N] [passes N];
 * and the check of the whole block once it is read. */
#include <stdlib.h>
#include <string.h>

#include "syntax.h"

#define ERR(errs, tok, ...) tg_cfg_error_at((errs), (tok)->line, (tok)->col, __VA_ARGS__)
#define MAX_SLOTS 1024
#define MAX_WEIGHT 1000
#define MAX_HEALTH_MS (24ull * 3600 * 1000)

/* "http://host:port/" or "host:port" into addr. Returns 0, or -1 after an error. */
static int server_address(const tg_cfg_token *t, tg_hostport *addr, tg_cfg_errors *errs) {
  const char *v = t->text;
  if (strncmp(v, "http://", 7) == 0) {
    v += 7;
  } else if (strstr(v, "://")) {
    ERR(errs, t, "'server' must be http:// (https and other schemes are not supported yet)");
    return -1;
  }
  char *copy = strdup(v);
  if (!copy) {
    errs->oom = 1;
    return -1;
  }
  size_t len = strlen(copy);
  if (len && copy[len - 1] == '/') copy[len - 1] = '\0'; /* "http://host:port/" */
  int rc = tg_hostport_parse(copy, addr);
  free(copy);
  if (rc < 0) {
    ERR(errs, t, "invalid address '%s' (use HOST:PORT, [IPv6]:PORT or :PORT)", t->text);
    return -1;
  }
  if (!addr->host[0]) {
    ERR(errs, t, "'server' needs a host, as in 127.0.0.1:11434");
    free(addr->host);
    return -1;
  }
  return 0;
}

/* The options after a server's address, into s. Returns 0 or -1. */
static int server_options(const tg_cfg_node *n, tg_server_conf *s, tg_cfg_errors *errs) {
  const tg_cfg_token *seen[5] = {0}; /* slots, weight, max_loaded, backup, drain */
  static const char *const names[5] = {"slots", "weight", "max_loaded", "backup", "drain"};
  unsigned *number[3] = {&s->slots, &s->weight, &s->max_loaded};
  int bad = 0;
  for (size_t i = 1; i < n->nargs; i++) {
    const tg_cfg_token *t = &n->args[i];
    int k = 0;
    while (k < 5 && strcmp(t->text, names[k]) != 0) k++;
    if (k == 5) {
      ERR(errs, t, "'server' takes slots N, weight N, max_loaded N, backup or drain after the address, not '%s'",
          t->text);
      bad = 1;
      continue;
    }
    if (seen[k]) {
      ERR(errs, t, "duplicate '%s' (first at %u:%u)", names[k], seen[k]->line, seen[k]->col);
      bad = 1;
    }
    seen[k] = t;
    if (k >= 3) {
      *(k == 3 ? &s->backup : &s->drain) = 1;
      continue;
    }
    uint64_t v, max = k == 1 ? MAX_WEIGHT : MAX_SLOTS;
    if (i + 1 >= n->nargs) {
      ERR(errs, t, "missing number after '%s'", names[k]);
      return -1;
    }
    t = &n->args[++i];
    if (tg_cfg_parse_uint(t->text, max, &v) < 0 || v == 0) {
      ERR(errs, t, "'%s' takes a number from 1 to %llu, not '%s'", names[k], (unsigned long long)max, t->text);
      bad = 1;
    } else {
      *number[k] = (unsigned)v;
    }
  }
  return bad ? -1 : 0;
}

void tg_cfg_server_directive(tg_upstream_conf *u, const tg_cfg_node *n, tg_config *cfg, tg_cfg_errors *errs) {
  tg_hostport addr;
  if (server_address(&n->args[0], &addr, errs) < 0) return;
  for (size_t i = 0; i < u->nservers; i++) {
    if (strcmp(u->servers[i].addr.host, addr.host) != 0 || u->servers[i].addr.port != addr.port) continue;
    ERR(errs, &n->args[0], "duplicate server '%s' in upstream '%s'", n->args[0].text, u->name);
    free(addr.host);
    return;
  }
  tg_server_conf s = {.addr = addr, .slots = 1, .weight = 1};
  if (server_options(n, &s, errs) < 0) {
    free(addr.host);
    return;
  }
  tg_server_conf *added = tg_upstream_add_server(u, addr);
  if (!added) {
    if (u->nservers < TG_MAX_SERVERS) errs->oom = 1;
    else ERR(errs, &n->name, "too many servers in upstream '%s' (at most %d)", u->name, TG_MAX_SERVERS);
    free(addr.host);
    return;
  }
  *added = s;
  tg_cfg_origin_note(cfg, addr.host, &n->args[0], errs);
}

void tg_cfg_balance_directive(tg_upstream_conf *u, const tg_cfg_node *n, tg_cfg_errors *errs) {
  static const char *const names[] = {"model", "least_conn", "round_robin"};
  for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(n->args[0].text, names[i]) == 0) {
      u->balance = (uint8_t)i;
      return;
    }
  ERR(errs, &n->args[0], "'balance' takes model, least_conn or round_robin, not '%s'", n->args[0].text);
}

void tg_cfg_health_directive(tg_upstream_conf *u, const tg_cfg_node *n, tg_cfg_errors *errs) {
  static const char *const names[4] = {"interval", "timeout", "fails", "passes"};
  const tg_cfg_token *seen[4] = {0};
  tg_health_conf h = u->health;
  for (size_t i = 0; i < n->nargs; i += 2) {
    const tg_cfg_token *key = &n->args[i], *val = i + 1 < n->nargs ? &n->args[i + 1] : NULL;
    int k = 0;
    while (k < 4 && strcmp(key->text, names[k]) != 0) k++;
    if (k == 4) {
      ERR(errs, key, "'health' takes interval, timeout, fails or passes, not '%s'", key->text);
      continue;
    }
    if (seen[k]) {
      ERR(errs, key, "duplicate 'health %s' (first at %u:%u)", key->text, seen[k]->line, seen[k]->col);
      continue;
    }
    seen[k] = key;
    uint64_t v;
    if (!val) {
      ERR(errs, key, "missing %s after 'health %s'", k < 2 ? "duration" : "number", key->text);
    } else if (k < 2) {
      if (tg_duration_parse(val->text, &v) < 0 || v == 0 || v > MAX_HEALTH_MS)
        ERR(errs, val, "'health %s' takes a duration from 1ms to 24h, not '%s'", key->text, val->text);
      else *(k == 0 ? &h.interval_ms : &h.timeout_ms) = v;
    } else if (tg_cfg_parse_uint(val->text, 100, &v) < 0 || v == 0) {
      ERR(errs, val, "'health %s' takes a number from 1 to 100, not '%s'", key->text, val->text);
    } else {
      *(k == 2 ? &h.fails : &h.passes) = (unsigned)v;
    }
  }
  if (h.timeout_ms > h.interval_ms)
    ERR(errs, seen[1] ? seen[1] : &n->name, "'health timeout' must not exceed its interval (%llums)",
        (unsigned long long)h.interval_ms);
  h.written = 1;
  u->health = h;
}

void tg_cfg_upstream_check(const tg_upstream_conf *u, const tg_cfg_node *n, tg_cfg_errors *errs) {
  size_t primaries = 0;
  for (size_t i = 0; i < u->nservers; i++) primaries += !u->servers[i].backup;
  if (u->nservers && !primaries)
    ERR(errs, &n->args[0], "every server of upstream '%s' is a backup (at least one must not be)", u->name);
}
