/* The auth dispatcher: per request, the route decides whether auth
 * applies; then the Authorization header is tried against the configured
 * methods (Basic, API keys, ollama signatures), and forward auth, when
 * configured, decides what they did not. Also the failure throttle (one
 * table for the process, under a mutex: attempts from one address spread
 * over every worker) and the 401/429 answers. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "policy.h"
#include "tollgate/hash.h"
#include "tollgate/metrics.h"

#define THROTTLE_SLOTS 4096
#define THROTTLE_MAX_FAILURES 10
#define THROTTLE_WINDOW_MS 60000

uint64_t tg_auth_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* --- config objects --- */

tg_auth_conf *tg_auth_conf_new(void) {
  tg_auth_conf *a = calloc(1, sizeof *a);
  if (!a) return NULL;
  a->realm = strdup("Ollama");
  a->ollama_window_ms = 5 * 60 * 1000;
  a->cache_ms = 5 * 60 * 1000;
  if (!a->realm) {
    free(a);
    return NULL;
  }
  return a;
}

static void forward_conf_free(tg_forward_conf *f) {
  if (!f) return;
  free(f->url);
  free(f->host);
  free(f->path);
  for (char **p = f->copy; p && *p; p++) free(*p);
  free(f->copy);
  free(f);
}

void tg_auth_conf_free(tg_auth_conf *a) {
  if (!a) return;
  tg_authfile_free(a->basic);
  tg_authfile_free(a->keys);
  tg_authfile_free(a->ollama);
  forward_conf_free(a->forward);
  for (size_t i = 0; i < a->nroutes; i++) free(a->routes[i].path);
  free(a->routes);
  free(a->realm);
  free(a);
}

int tg_auth_enabled(const tg_auth_conf *a) { return a && (a->basic || a->keys || a->ollama || a->forward); }

/* --- per-worker state --- */

tg_auth_worker *tg_auth_worker_of(tg_worker *w) {
  if (!w->auth) w->auth = calloc(1, sizeof(tg_auth_worker));
  return w->auth;
}

void tg_auth_worker_free(tg_worker *w) {
  tg_auth_worker *aw = w->auth;
  if (!aw) return;
  tg_basic_worker_free(aw);
  free(aw);
  w->auth = NULL;
}

/* --- the failure throttle --- */

typedef struct throttle_slot {
  char ip[48];
  uint64_t start_ms;
  unsigned failures;
} throttle_slot;

static throttle_slot throttle[THROTTLE_SLOTS];
static pthread_mutex_t throttle_lock = PTHREAD_MUTEX_INITIALIZER;

static throttle_slot *throttle_slot_of(const char *ip) { return &throttle[tg_fnv1a64_str(ip) % THROTTLE_SLOTS]; }

void tg_auth_note_failure(const char *ip) {
  uint64_t now = tg_auth_now_ms();
  pthread_mutex_lock(&throttle_lock);
  throttle_slot *s = throttle_slot_of(ip);
  if (strcmp(s->ip, ip) != 0 || now - s->start_ms >= THROTTLE_WINDOW_MS) {
    snprintf(s->ip, sizeof s->ip, "%s", ip);
    s->start_ms = now;
    s->failures = 0;
  }
  s->failures++;
  pthread_mutex_unlock(&throttle_lock);
}

int tg_auth_throttled(tg_exchange *x) {
  uint64_t now = tg_auth_now_ms(), left = 0;
  pthread_mutex_lock(&throttle_lock);
  throttle_slot *s = throttle_slot_of(x->ip);
  if (strcmp(s->ip, x->ip) == 0 && s->failures >= THROTTLE_MAX_FAILURES && now - s->start_ms < THROTTLE_WINDOW_MS)
    left = s->start_ms + THROTTLE_WINDOW_MS - now;
  pthread_mutex_unlock(&throttle_lock);
  if (!left) return 0;
  char extra[48];
  snprintf(extra, sizeof extra, "Retry-After: %llu\r\n", (unsigned long long)(left + 999) / 1000);
  x->adm.auth_how = "throttled";
  x->rec.refused_by = "auth failures per ip";
  tg_metrics_refused("auth", "throttled");
  tg_exchange_fail_with(x, 429, "too many failed authentication attempts", extra);
  return 1;
}

/* --- answers --- */

tg_adm_rc tg_auth_accept(tg_exchange *x, const char *user, const char *how) {
  if (user) {
    snprintf(x->adm.user_buf, sizeof x->adm.user_buf, "%s", user);
    x->adm.user = x->adm.user_buf;
  }
  x->adm.auth_how = how;
  return TG_ADM_NEXT;
}

tg_adm_rc tg_auth_deny(tg_exchange *x, const char *message, int failed) {
  const tg_auth_conf *a = x->site->auth;
  char extra[256];
  extra[0] = '\0';
  if (a->basic) snprintf(extra, sizeof extra, "WWW-Authenticate: Basic realm=\"%s\", charset=\"UTF-8\"\r\n", a->realm);
  else if (a->keys || a->ollama) snprintf(extra, sizeof extra, "WWW-Authenticate: Bearer realm=\"%s\"\r\n", a->realm);
  if (failed) tg_auth_note_failure(x->ip);
  if (!x->adm.auth_how) x->adm.auth_how = "denied";
  tg_metrics_refused("auth", failed ? "bad_credentials" : "no_credentials");
  tg_exchange_fail_with(x, 401, message, extra[0] ? extra : NULL);
  return TG_ADM_DONE;
}

/* --- the dispatcher --- */

/* Does the route of c's path turn auth off? -1 when the site has routes
 * and the path does not normalise (answered). */
static int route_is_open(tg_exchange *x, const tg_auth_conf *a) {
  if (!a->nroutes) return 0;
  if (!x->path.len) {
    tg_exchange_fail(x, 400, "invalid request path");
    return -1;
  }
  return x->route && x->route->auth_off;
}

/* The Authorization value split into scheme and credentials. */
static int scheme_is(const char *v, size_t n, const char *scheme, const char **cred, size_t *cn) {
  size_t s = strlen(scheme);
  if (n <= s || strncasecmp(v, scheme, s) != 0 || v[s] != ' ') return 0;
  v += s;
  n -= s;
  while (n && *v == ' ') v++, n--;
  *cred = v;
  *cn = n;
  return 1;
}

/* Tries the Authorization header: TG_AUTH_NOT_MINE when no method took
 * charge, else the method's outcome. */
static int try_credentials(tg_exchange *x, const tg_auth_conf *a, const char *v, size_t n) {
  const char *cred;
  size_t cn;
  while (n && v[n - 1] == ' ') n--;
  if (scheme_is(v, n, "Basic", &cred, &cn)) return tg_basic_try(x, a, cred, cn);
  if (scheme_is(v, n, "Bearer", &cred, &cn)) {
    if ((a->keys || a->ollama) && tg_auth_throttled(x)) return TG_ADM_DONE;
    int rc = tg_keys_try(x, a, cred, cn);
    return rc != TG_AUTH_NOT_MINE ? rc : tg_ollama_try(x, a, cred, cn);
  }
  if (a->ollama && memchr(v, ':', n) && !memchr(v, ' ', n)) { /* the ollama CLI: KEY:SIGNATURE */
    if (tg_auth_throttled(x)) return TG_ADM_DONE;
    return tg_ollama_try(x, a, v, n);
  }
  return TG_AUTH_NOT_MINE;
}

tg_adm_rc tg_auth_admit(tg_exchange *x) {
  const tg_auth_conf *a = x->site->auth;
  if (!a) return TG_ADM_NEXT;
  /* The identity headers forward auth copies are tollgate's to set: the
   * client's own are dropped however the request is admitted (open route,
   * key, Basic), so that none can be forged. */
  if (a->forward) x->adm.auth_drop = (const char *const *)a->forward->copy;
  int open = route_is_open(x, a);
  if (open < 0) return TG_ADM_DONE;
  if (open || !tg_auth_enabled(a)) return TG_ADM_NEXT;
  const tg_head *h = &x->req;
  int count = tg_head_count(h, "authorization");
  if (count > 1) return tg_auth_deny(x, "more than one Authorization header", 1);
  if (count == 1) {
    tg_span v = h->fields[tg_head_find(h, "authorization")].value;
    int rc = try_credentials(x, a, tg_head_str(h, v), v.len);
    if (rc != TG_AUTH_NOT_MINE) return (tg_adm_rc)rc;
  }
  if (a->forward) return tg_forward_start(x, a);
  return tg_auth_deny(x, count ? "invalid credentials" : "authentication required", count > 0);
}
