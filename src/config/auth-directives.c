/* The auth directives of a site (docs/auth.md):
 *   auth basic FILE [realm NAME] [plain];
 *   auth keys FILE;
 *   auth ollama FILE [window DURATION];
 *   auth forward http://HOST[:PORT]/PATH [{ copy_headers NAME...; timeout D; }]
 *   auth_cache DURATION;
 *   route [=] PATH { auth off|on; }
 * Credential files are read here, at load: a problem in one is reported as
 * "FILE:LINE: message" at the directive that names it (a weak password hash
 * as a warning, which does not refuse the config). */
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate/rewrite.h"
#include "syntax.h"
#include "tollgate/auth.h"

#define ERR(errs, tok, ...) tg_cfg_error_at((errs), (tok)->line, (tok)->col, __VA_ARGS__)

typedef struct report_ctx {
  tg_cfg_errors *errs;
  const tg_cfg_token *at;
} report_ctx;

static void report(void *ctx, int warning, const char *msg) {
  report_ctx *r = ctx;
  if (warning) tg_cfg_warn_at(r->errs, r->at->line, r->at->col, "%s", msg);
  else ERR(r->errs, r->at, "%s", msg);
}

static tg_auth_conf *auth_of(tg_site_conf *s, tg_cfg_errors *errs) {
  if (!s->auth && !(s->auth = tg_auth_conf_new())) errs->oom = 1;
  return s->auth;
}

char *tg_cfg_resolve_path(const char *config_path, const char *name) {
  const char *slash = config_path ? strrchr(config_path, '/') : NULL;
  if (name[0] == '/' || !slash) return strdup(name);
  size_t d = (size_t)(slash - config_path) + 1, n = strlen(name);
  char *p = malloc(d + n + 1);
  if (!p) return NULL;
  memcpy(p, config_path, d);
  memcpy(p + d, name, n + 1);
  return p;
}

static tg_authfile *load_file(const tg_cfg_node *n, const char *config_path, tg_authfile_kind kind, int allow_plain,
                              tg_cfg_errors *errs) {
  char *path = tg_cfg_resolve_path(config_path, n->args[1].text);
  if (!path) {
    errs->oom = 1;
    return NULL;
  }
  report_ctx r = {errs, &n->args[1]};
  tg_authfile *f = tg_authfile_load(path, kind, allow_plain, report, &r);
  free(path);
  return f;
}

/* Reads t, a duration argument (never NULL: ERR reads its position). */
static int take_duration(const tg_cfg_token *t, uint64_t *ms, tg_cfg_errors *errs) {
  if (tg_duration_parse(t->text, ms) == 0 && *ms <= 365ull * 86400 * 1000) return 0;
  ERR(errs, t, "invalid duration '%s' (use ms, s, m, h or d)", t->text);
  return -1;
}

static void auth_basic(tg_auth_conf *a, const tg_cfg_node *n, const char *cp, tg_cfg_errors *errs) {
  int plain = 0;
  for (size_t i = 2; i < n->nargs; i++) {
    const char *w = n->args[i].text;
    if (strcmp(w, "plain") == 0) {
      plain = 1;
    } else if (strcmp(w, "realm") == 0 && i + 1 < n->nargs && !strpbrk(n->args[i + 1].text, "\"\\\r\n")) {
      char *r = strdup(n->args[++i].text);
      if (!r) errs->oom = 1;
      free(a->realm);
      a->realm = r;
    } else {
      ERR(errs, &n->args[i], "'auth basic' takes FILE [realm NAME] [plain], not '%s'", w);
      return;
    }
  }
  a->allow_plain = plain;
  a->basic = load_file(n, cp, TG_AF_HTPASSWD, plain, errs);
}

static void auth_ollama(tg_auth_conf *a, const tg_cfg_node *n, const char *cp, tg_cfg_errors *errs) {
  if (n->nargs == 4 && strcmp(n->args[2].text, "window") == 0) {
    if (take_duration(&n->args[3], &a->ollama_window_ms, errs) < 0) return;
  } else if (n->nargs != 2) {
    ERR(errs, &n->args[2], "'auth ollama' takes FILE [window DURATION]");
    return;
  }
  a->ollama = load_file(n, cp, TG_AF_OLLAMA, 0, errs);
}

/* http://HOST[:PORT][/PATH], resolved now (no DNS on a loop thread). */
static int forward_url(tg_forward_conf *f, const tg_cfg_token *t, tg_cfg_errors *errs) {
  const char *u = t->text;
  if (strncmp(u, "http://", 7) != 0) {
    ERR(errs, t, "'auth forward' takes an http:// URL (https is not supported yet)");
    return -1;
  }
  u += 7;
  size_t hl = strcspn(u, "/?");
  f->host = strndup(u, hl);
  f->path = strdup(u[hl] ? u + hl : "/");
  if (!f->host || !f->path || !(f->url = strdup(t->text))) return errs->oom = 1, -1;
  if (f->path[0] == '?') {
    char *p = malloc(strlen(f->path) + 2);
    if (!p) return errs->oom = 1, -1;
    p[0] = '/';
    strcpy(p + 1, f->path);
    free(f->path);
    f->path = p;
  }
  char *hp = strchr(f->host, ':') || f->host[0] == '[' ? strdup(f->host) : NULL;
  if (!hp && asprintf(&hp, "%s:80", f->host) < 0) hp = NULL;
  tg_hostport h = {0};
  int bad = !hp || tg_hostport_parse(hp, &h) < 0 || !h.host[0];
  free(hp);
  char port[8];
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
  snprintf(port, sizeof port, "%u", h.port);
  if (bad || getaddrinfo(h.host, port, &hints, &res) != 0 || !res) {
    ERR(errs, t, "cannot resolve the host of '%s'", t->text);
    free(h.host);
    return -1;
  }
  memcpy(&f->addr, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  free(h.host);
  return 0;
}

static void forward_block(tg_forward_conf *f, const tg_cfg_node *n, tg_cfg_errors *errs) {
  for (size_t i = 0; i < n->nkids; i++) {
    const tg_cfg_node *k = &n->kids[i];
    if (strcmp(k->name.text, "copy_headers") == 0 && k->nargs && !k->has_block) {
      char **v = calloc(k->nargs + 1, sizeof *v);
      if (!v) return (void)(errs->oom = 1);
      for (size_t j = 0; j < k->nargs; j++) {
        if (!(v[j] = strdup(k->args[j].text))) errs->oom = 1;
        static const tg_head no_head;
        if (strpbrk(k->args[j].text, ":\r\n \t")) ERR(errs, &k->args[j], "invalid header name '%s'", k->args[j].text);
        else if (tg_is_hop_by_hop(&no_head, k->args[j].text, strlen(k->args[j].text)))
          ERR(errs, &k->args[j], "'%s' cannot be copied: tollgate writes framing, Host and forwarding headers itself",
              k->args[j].text);
      }
      for (char **p = f->copy; p && *p; p++) free(*p);
      free(f->copy);
      f->copy = v;
    } else if (strcmp(k->name.text, "timeout") == 0 && k->nargs == 1 && !k->has_block) {
      if (take_duration(&k->args[0], &f->timeout_ms, errs) == 0 && f->timeout_ms == 0)
        ERR(errs, &k->args[0], "'timeout' must be more than 0");
    } else {
      ERR(errs, &k->name, "'auth forward' takes 'copy_headers NAME...;' and 'timeout D;', not '%s'", k->name.text);
    }
  }
}

static void auth_forward(tg_auth_conf *a, const tg_cfg_node *n, tg_cfg_errors *errs) {
  if (n->nargs != 2) {
    ERR(errs, &n->args[n->nargs > 2 ? 2 : 0], "'auth forward' takes one URL and an optional block");
    return;
  }
  tg_forward_conf *f = calloc(1, sizeof *f);
  if (!f) return (void)(errs->oom = 1);
  f->timeout_ms = 5000;
  a->forward = f; /* freed with a, even when incomplete */
  if (forward_url(f, &n->args[1], errs) == 0) forward_block(f, n, errs);
}

void tg_cfg_auth_directive(tg_site_conf *s, const tg_cfg_node *n, const char *cp, tg_cfg_errors *errs) {
  tg_auth_conf *a = auth_of(s, errs);
  if (!a) return;
  const char *kind = n->args[0].text;
  int is_forward = strcmp(kind, "forward") == 0;
  if (n->has_block && !is_forward) {
    tg_cfg_error_at(errs, n->bline, n->bcol, "only 'auth forward' takes a block");
    return;
  }
  if (n->nargs < 2) {
    ERR(errs, &n->name, "'auth' takes basic FILE, keys FILE, ollama FILE or forward URL");
    return;
  }
  tg_authfile **slot = strcmp(kind, "basic") == 0    ? &a->basic
                       : strcmp(kind, "keys") == 0   ? &a->keys
                       : strcmp(kind, "ollama") == 0 ? &a->ollama
                                                     : NULL;
  if ((slot && *slot) || (is_forward && a->forward)) {
    ERR(errs, &n->args[0], "duplicate 'auth %s'", kind);
  } else if (strcmp(kind, "basic") == 0) {
    auth_basic(a, n, cp, errs);
  } else if (strcmp(kind, "keys") == 0) {
    if (n->nargs > 2) ERR(errs, &n->args[2], "'auth keys' takes one FILE");
    else a->keys = load_file(n, cp, TG_AF_KEYS, 0, errs);
  } else if (strcmp(kind, "ollama") == 0) {
    auth_ollama(a, n, cp, errs);
  } else if (is_forward) {
    auth_forward(a, n, errs);
  } else {
    ERR(errs, &n->args[0], "'auth' takes basic, keys, ollama or forward, not '%s'%s", kind,
        strcmp(kind, "off") == 0 ? " ('auth off' goes in a route)" : "");
  }
}

void tg_cfg_auth_cache_directive(tg_site_conf *s, const tg_cfg_node *n, tg_cfg_errors *errs) {
  tg_auth_conf *a = auth_of(s, errs);
  uint64_t ms;
  if (a && take_duration(&n->args[0], &ms, errs) == 0) a->cache_ms = ms;
}

void tg_cfg_route_directive(tg_site_conf *s, const tg_cfg_node *n, tg_cfg_errors *errs) {
  tg_auth_conf *a = auth_of(s, errs);
  if (!a) return;
  int exact = n->nargs == 2 && strcmp(n->args[0].text, "=") == 0;
  const tg_cfg_token *pt = &n->args[exact ? 1 : 0];
  if ((n->nargs == 2 && !exact) || pt->text[0] != '/') {
    ERR(errs, pt, "'route' takes a path starting with '/' ('route = PATH' for an exact match)");
    return;
  }
  size_t len = strlen(pt->text);
  char *norm = malloc(len + 2);
  long nl = norm ? tg_path_normalize(pt->text, len, norm, len + 2) : -1;
  if (nl < 0 || strchr(pt->text, '?')) {
    ERR(errs, pt, "invalid route path '%s'", pt->text);
    free(norm);
    return;
  }
  if (!exact && nl > 1 && norm[nl - 1] == '/') norm[--nl] = '\0'; /* a prefix matches at '/' anyway */
  tg_route_conf r = {.path = norm, .exact = exact, .auth_off = -1};
  for (size_t i = 0; i < n->nkids; i++) {
    const tg_cfg_node *k = &n->kids[i];
    if (strcmp(k->name.text, "auth") == 0 && k->nargs == 1 && !k->has_block &&
        (strcmp(k->args[0].text, "off") == 0 || strcmp(k->args[0].text, "on") == 0))
      r.auth_off = strcmp(k->args[0].text, "off") == 0;
    else if (strcmp(k->name.text, "client_max_body_size") == 0 && k->nargs == 1 && !k->has_block) {
      if (tg_size_parse(k->args[0].text, &r.max_body) == 0) r.has_max_body = 1;
      else ERR(errs, &k->args[0], "invalid size '%s' (use a number with an optional k, m or g)", k->args[0].text);
    } else ERR(errs, &k->name, "a route takes 'auth off|on;' or 'client_max_body_size SIZE;', not '%s'", k->name.text);
  }
  for (size_t i = 0; i < a->nroutes; i++)
    if (a->routes[i].exact == exact && strcmp(a->routes[i].path, norm) == 0) {
      ERR(errs, pt, "duplicate route '%s'", pt->text);
      free(norm);
      return;
    }
  if (r.auth_off < 0) r.auth_off = 0;
  tg_route_conf *v = realloc(a->routes, (a->nroutes + 1) * sizeof *v);
  if (!v) {
    free(norm);
    errs->oom = 1;
    return;
  }
  a->routes = v;
  a->routes[a->nroutes++] = r;
}
