/* The limit and route-policy directives of a site (docs/limits.md):
 *   limit rate R [burst N] [nodelay|delay N] per ip|user [on ROUTES...];
 *   limit conn N per ip;
 *   limit concurrency N [per user M] [queue Q] [timeout T] [on ROUTES...];
 *   limit_status CODE;
 *   admins NAME...;
 *   trusted_proxies CIDR...;
 *   cors { origins O...; credentials on|off; expose H...; headers H...;
 *          methods M...; max_age D; }
 * ROUTES are route kinds: generate, chat, embed, openai, admin, other, all. */
#include <stdlib.h>
#include <string.h>

#include "syntax.h"
#include "tollgate/limits.h"
#include "tollgate/llm.h"

#define ERR(errs, tok, ...) tg_cfg_error_at((errs), (tok)->line, (tok)->col, __VA_ARGS__)

tg_limits_conf *tg_cfg_site_limits(tg_site_conf *s, tg_cfg_errors *errs) {
  if (!s->limits && !(s->limits = tg_limits_conf_new())) errs->oom = 1;
  return s->limits;
}

/* "5r/s", "30r/m" into milli-requests per second. */
static int parse_rate(const char *s, uint64_t *out) {
  const char *r = strstr(s, "r/");
  if (!r || r == s || (strcmp(r, "r/s") != 0 && strcmp(r, "r/m") != 0)) return -1;
  char num[24];
  size_t n = (size_t)(r - s);
  uint64_t v;
  if (n >= sizeof num) return -1;
  memcpy(num, s, n);
  num[n] = 0;
  if (tg_cfg_parse_uint(num, 1000000, &v) < 0 || v == 0) return -1;
  *out = r[2] == 's' ? v * 1000 : v * 1000 / 60;
  return *out ? 0 : -1;
}

/* Reads t, a number argument (never NULL: ERR reads its position). */
static int parse_count(const tg_cfg_token *t, uint64_t max, uint64_t *out, tg_cfg_errors *errs) {
  if (tg_cfg_parse_uint(t->text, max, out) == 0) return 0;
  ERR(errs, t, "expected a number from 0 to %llu, not '%s'", (unsigned long long)max, t->text);
  return -1;
}

/* `on ROUTES...` from argument i to the end. Returns the bit set, 0 on error. */
unsigned tg_cfg_parse_routes(const tg_cfg_node *n, size_t i, tg_cfg_errors *errs) {
  unsigned set = 0;
  if (i >= n->nargs) ERR(errs, &n->args[i - 1], "'on' takes route kinds: generate chat embed openai admin other all");
  for (; i < n->nargs; i++) {
    const char *w = n->args[i].text;
    int k = -1;
    for (int j = 0; j < TG_ROUTE_COUNT; j++)
      if (strcmp(w, tg_route_kind_name((tg_route_kind)j)) == 0) k = j;
    if (strcmp(w, "all") == 0) set |= (1u << TG_ROUTE_COUNT) - 1;
    else if (k >= 0) set |= 1u << k;
    else {
      ERR(errs, &n->args[i], "unknown route kind '%s' (generate, chat, embed, openai, admin, other, all)", w);
      return 0;
    }
  }
  return set;
}

static void limit_rate(tg_limits_conf *l, const tg_cfg_node *n, tg_cfg_errors *errs) {
  tg_rate_rule r = {.delay = 0, .key = TG_LIMIT_BY_IP, .routes = tg_limit_default_routes()};
  int have_key = 0;
  if (n->nargs < 2 || parse_rate(n->args[1].text, &r.rate) < 0) {
    ERR(errs, &n->args[n->nargs < 2 ? 0 : 1], "'limit rate' takes a rate such as 10r/s or 30r/m");
    return;
  }
  uint64_t v;
  for (size_t i = 2; i < n->nargs; i++) {
    const char *w = n->args[i].text;
    const tg_cfg_token *next = i + 1 < n->nargs ? &n->args[i + 1] : &n->args[i];
    if (strcmp(w, "burst") == 0) {
      if (parse_count(next, 1000000, &v, errs) < 0) return;
      r.burst = v * 1000, i++;
    } else if (strcmp(w, "nodelay") == 0) {
      r.delay = TG_LIMIT_NODELAY;
    } else if (strcmp(w, "delay") == 0) {
      if (parse_count(next, 1000000, &v, errs) < 0) return;
      r.delay = v * 1000, i++;
    } else if (strcmp(w, "per") == 0 && i + 1 < n->nargs &&
               (strcmp(next->text, "ip") == 0 || strcmp(next->text, "user") == 0)) {
      r.key = strcmp(next->text, "ip") == 0 ? TG_LIMIT_BY_IP : TG_LIMIT_BY_USER;
      have_key = 1, i++;
    } else if (strcmp(w, "on") == 0) {
      if (!(r.routes = tg_cfg_parse_routes(n, i + 1, errs))) return;
      break;
    } else {
      ERR(errs, &n->args[i], "'limit rate' takes R [burst N] [nodelay|delay N] per ip|user [on ROUTES...], not '%s'",
          w);
      return;
    }
  }
  if (!have_key) {
    ERR(errs, &n->name, "'limit rate' needs 'per ip' or 'per user'");
    return;
  }
  if (r.delay != TG_LIMIT_NODELAY && r.delay > r.burst) r.delay = r.burst;
  if (l->nrates == TG_LIMIT_RATES_MAX)
    return ERR(errs, &n->name, "a site takes at most %d 'limit rate' lines", TG_LIMIT_RATES_MAX);
  tg_rate_rule *rv = realloc(l->rates, (l->nrates + 1) * sizeof *rv);
  if (!rv) return (void)(errs->oom = 1);
  l->rates = rv;
  l->rates[l->nrates++] = r;
}

static void limit_conn(tg_limits_conf *l, const tg_cfg_node *n, tg_cfg_errors *errs) {
  uint64_t v;
  if (n->nargs != 4 || strcmp(n->args[2].text, "per") != 0 || strcmp(n->args[3].text, "ip") != 0) {
    ERR(errs, &n->name, "'limit conn' takes N per ip");
    return;
  }
  if (l->conn) ERR(errs, &n->name, "duplicate 'limit conn'");
  else if (parse_count(&n->args[1], 1000000, &v, errs) == 0 && v == 0)
    ERR(errs, &n->args[1], "'limit conn' must be at least 1");
  else l->conn = (unsigned)v;
}

static void limit_concurrency(tg_limits_conf *l, const tg_cfg_node *n, tg_cfg_errors *errs) {
  uint64_t v;
  if (l->gen_max) {
    ERR(errs, &n->name, "duplicate 'limit concurrency'");
    return;
  }
  if (n->nargs < 2 || parse_count(&n->args[1], 1000000, &v, errs) < 0 || v == 0) {
    ERR(errs, &n->name, "'limit concurrency' takes N [per user M] [queue Q] [timeout T] [on ROUTES...]");
    return;
  }
  unsigned max = (unsigned)v;
  for (size_t i = 2; i < n->nargs; i++) {
    const char *w = n->args[i].text;
    const tg_cfg_token *next = i + 1 < n->nargs ? &n->args[i + 1] : &n->args[i];
    if (strcmp(w, "per") == 0 && i + 2 < n->nargs && strcmp(next->text, "user") == 0) {
      if (parse_count(&n->args[i + 2], 1000000, &v, errs) < 0) return;
      l->gen_user_max = (unsigned)v, i += 2;
    } else if (strcmp(w, "queue") == 0) {
      if (parse_count(next, 1000000, &v, errs) < 0) return;
      l->gen_queue = (unsigned)v, i++;
    } else if (strcmp(w, "timeout") == 0) {
      if (tg_duration_parse(next->text, &v) < 0 || v == 0 || v > 86400000ull) {
        ERR(errs, next, "invalid duration '%s' (use ms, s, m or h, at most 1d)", next->text);
        return;
      }
      l->gen_timeout_ms = v, i++;
    } else if (strcmp(w, "on") == 0) {
      if (!(l->gen_routes = tg_cfg_parse_routes(n, i + 1, errs))) return;
      break;
    } else {
      ERR(errs, &n->args[i], "'limit concurrency' takes N [per user M] [queue Q] [timeout T] [on ROUTES...], not '%s'",
          w);
      return;
    }
  }
  l->gen_max = max;
}

void tg_cfg_limit_directive(tg_site_conf *s, const tg_cfg_node *n, tg_cfg_errors *errs) {
  tg_limits_conf *l = tg_cfg_site_limits(s, errs);
  if (!l) return;
  const char *kind = n->args[0].text;
  if (strcmp(kind, "rate") == 0) limit_rate(l, n, errs);
  else if (strcmp(kind, "conn") == 0) limit_conn(l, n, errs);
  else if (strcmp(kind, "concurrency") == 0) limit_concurrency(l, n, errs);
  else ERR(errs, &n->args[0], "'limit' takes rate, conn or concurrency, not '%s'", kind);
  if (tg_limits_conf_finish(l) < 0) errs->oom = 1;
}

void tg_cfg_limit_status_directive(tg_site_conf *s, const tg_cfg_node *n, tg_cfg_errors *errs) {
  tg_limits_conf *l = tg_cfg_site_limits(s, errs);
  uint64_t v;
  if (!l) return;
  if (tg_cfg_parse_uint(n->args[0].text, 599, &v) == 0 && v >= 400) l->status = (int)v;
  else ERR(errs, &n->args[0], "'limit_status' takes a status from 400 to 599, not '%s'", n->args[0].text);
}

/* The list *words (*n of them) replaced by a copy of k's arguments. */
static void set_words(char ***words, size_t *n, const tg_cfg_node *k, tg_cfg_errors *errs) {
  char **v = calloc(k->nargs + 1, sizeof *v);
  if (!v) return (void)(errs->oom = 1);
  for (size_t i = 0; i < k->nargs; i++)
    if (!(v[i] = strdup(k->args[i].text))) errs->oom = 1;
  for (size_t i = 0; i < *n; i++) free((*words)[i]);
  free(*words);
  *words = v;
  *n = k->nargs;
}

void tg_cfg_admins_directive(tg_site_conf *s, const tg_cfg_node *n, tg_cfg_errors *errs) {
  tg_limits_conf *l = tg_cfg_site_limits(s, errs);
  if (l) set_words(&l->admins, &l->nadmins, n, errs);
}

void tg_cfg_trusted_proxies_directive(tg_site_conf *s, const tg_cfg_node *n, tg_cfg_errors *errs) {
  tg_limits_conf *l = tg_cfg_site_limits(s, errs);
  if (!l) return;
  tg_cidr *v = calloc(n->nargs, sizeof *v);
  if (!v) return (void)(errs->oom = 1);
  for (size_t i = 0; i < n->nargs; i++)
    if (tg_cidr_parse(n->args[i].text, &v[i]) < 0)
      ERR(errs, &n->args[i], "invalid address or range '%s'", n->args[i].text);
  free(l->trusted);
  l->trusted = v;
  l->ntrusted = n->nargs;
}

/* "A, B, C" from the directive's arguments. */
static char *join_words(const tg_cfg_node *k, tg_cfg_errors *errs) {
  size_t len = 1;
  for (size_t i = 0; i < k->nargs; i++) len += strlen(k->args[i].text) + 2;
  char *out = malloc(len), *p = out;
  if (!out) return errs->oom = 1, NULL;
  for (size_t i = 0; i < k->nargs; i++) {
    if (strpbrk(k->args[i].text, "\r\n\"")) ERR(errs, &k->args[i], "invalid value '%s'", k->args[i].text);
    p += sprintf(p, "%s%s", i ? ", " : "", k->args[i].text);
  }
  *p = 0;
  return out;
}

static void cors_kid(tg_cors_conf *cc, const tg_cfg_node *k, tg_cfg_errors *errs) {
  const char *name = k->name.text;
  char **slot = strcmp(name, "expose") == 0    ? &cc->expose
                : strcmp(name, "headers") == 0 ? &cc->headers
                : strcmp(name, "methods") == 0 ? &cc->methods
                                               : NULL;
  if (k->has_block || !k->nargs) {
    ERR(errs, &k->name, "'%s' in cors takes values and no block", name);
  } else if (strcmp(name, "origins") == 0) {
    set_words(&cc->origins, &cc->norigins, k, errs);
  } else if (strcmp(name, "credentials") == 0 && k->nargs == 1 &&
             (strcmp(k->args[0].text, "on") == 0 || strcmp(k->args[0].text, "off") == 0)) {
    cc->credentials = strcmp(k->args[0].text, "on") == 0;
  } else if (strcmp(name, "max_age") == 0 && k->nargs == 1) {
    uint64_t ms;
    if (tg_duration_parse(k->args[0].text, &ms) == 0 && ms <= 86400000ull * 7) cc->max_age_s = ms / 1000;
    else ERR(errs, &k->args[0], "invalid duration '%s' for 'max_age'", k->args[0].text);
  } else if (slot) {
    char *v = join_words(k, errs);
    if (!v) return;
    free(*slot);
    *slot = v;
  } else {
    ERR(errs, &k->name, "cors takes origins, credentials on|off, expose, headers, methods and max_age, not '%s'", name);
  }
}

void tg_cfg_cors_directive(tg_site_conf *s, const tg_cfg_node *n, tg_cfg_errors *errs) {
  tg_limits_conf *l = tg_cfg_site_limits(s, errs);
  if (!l) return;
  tg_cors_conf *cc = calloc(1, sizeof *cc);
  if (!cc || !(cc->methods = strdup("GET, POST, PUT, DELETE, HEAD, OPTIONS"))) {
    free(cc);
    return (void)(errs->oom = 1);
  }
  cc->max_age_s = 600;
  l->cors = cc; /* freed with l, even when incomplete */
  for (size_t i = 0; i < n->nkids; i++) cors_kid(cc, &n->kids[i], errs);
  if (!cc->norigins) ERR(errs, &n->name, "'cors' needs 'origins'");
  for (size_t i = 0; i < cc->norigins; i++)
    if (cc->credentials && strcmp(cc->origins[i], "*") == 0)
      ERR(errs, &n->name, "'cors' with 'credentials on' cannot allow every origin ('*')");
}
