/* The servers of an upstream: their shared state and the choice of one
 * (tollgate/servers.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate/metrics-view.h"
#include "tollgate/metrics.h"
#include "tollgate/servers.h"

#include "tollgate/affinity.h"

static struct {
  pthread_mutex_t lock;
  tg_server_state v[TG_SERVER_STATES];
  unsigned n; /* written under lock, read without it (release/acquire) */
} S = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The metrics' view of every server (tollgate/metrics.h). */
static size_t servers_rows(tg_metrics_server_row *rows, size_t cap) {
  unsigned n = __atomic_load_n(&S.n, __ATOMIC_ACQUIRE);
  size_t k = 0;
  for (unsigned i = 0; i < n && k < cap; i++, k++) {
    const tg_server_state *st = &S.v[i];
    tg_metrics_server_row *r = &rows[k];
    snprintf(r->upstream, sizeof r->upstream, "%s", st->upstream);
    snprintf(r->server, sizeof r->server, "%s", st->addr_text);
    r->up = tg_server_up(st);
    r->in_flight = tg_server_in_flight(st);
    r->slots = __atomic_load_n(&st->slots, __ATOMIC_RELAXED);
    r->failovers = __atomic_load_n(&st->failovers, __ATOMIC_RELAXED);
    r->errors = __atomic_load_n(&st->errors, __ATOMIC_RELAXED);
    r->loads = __atomic_load_n(&st->loads, __ATOMIC_RELAXED);
    r->load_ms = __atomic_load_n(&st->load_ms, __ATOMIC_RELAXED);
    tg_affinity_counts ac;
    tg_affinity_server_counts(st, &ac);
    r->affinity_hits = ac.hits, r->affinity_tokens = ac.matched_tokens;
    r->prompt_evaluated = ac.prompt_evaluated, r->prompt_cached = ac.prompt_cached;
    pthread_mutex_lock((pthread_mutex_t *)&st->lock);
    r->models = 0;
    for (const char *p = st->models; p && *p; p++) r->models += *p == '\n';
    snprintf(r->loaded, sizeof r->loaded, "%s", st->loaded ? st->loaded : "");
    pthread_mutex_unlock((pthread_mutex_t *)&st->lock);
  }
  return k;
}

tg_server_state *tg_server_state_of(const tg_upstream_conf *up, const tg_server_conf *s) {
  char key[sizeof S.v[0].key];
  snprintf(key, sizeof key, "%s %s:%u", up->name, s->addr.host, s->addr.port);
  tg_server_state *found = NULL;
  pthread_mutex_lock(&S.lock);
  for (unsigned i = 0; i < S.n && !found; i++)
    if (strcmp(S.v[i].key, key) == 0) found = &S.v[i];
  if (!found && S.n < TG_SERVER_STATES) {
    found = &S.v[S.n];
    memcpy(found->key, key, sizeof key);
    pthread_mutex_init(&found->lock, NULL);
    snprintf(found->addr_text, sizeof found->addr_text, "%s:%u", s->addr.host, s->addr.port);
    snprintf(found->upstream, sizeof found->upstream, "%s", up->name);
    if (S.n == 0) tg_metrics_servers_source(servers_rows);
    __atomic_store_n(&S.n, S.n + 1, __ATOMIC_RELEASE);
  }
  pthread_mutex_unlock(&S.lock);
  if (found) __atomic_store_n(&found->slots, s->slots, __ATOMIC_RELAXED);
  return found;
}

int tg_server_up(const tg_server_state *st) { return !st || !__atomic_load_n(&st->down, __ATOMIC_RELAXED); }

int tg_server_failed(tg_server_state *st, const tg_health_conf *h) {
  if (!st) return 0;
  __atomic_store_n(&st->passes, 0, __ATOMIC_RELAXED);
  unsigned f = __atomic_add_fetch(&st->fails, 1, __ATOMIC_RELAXED);
  if (f < h->fails) return 0;
  return __atomic_exchange_n(&st->down, 1, __ATOMIC_RELAXED) == 0;
}

int tg_server_passed(tg_server_state *st, const tg_health_conf *h, int active) {
  if (!st) return 0;
  if (!__atomic_load_n(&st->down, __ATOMIC_RELAXED)) {
    if (__atomic_load_n(&st->fails, __ATOMIC_RELAXED)) __atomic_store_n(&st->fails, 0, __ATOMIC_RELAXED);
    return 0;
  }
  if (!active) return 0;
  unsigned p = __atomic_add_fetch(&st->passes, 1, __ATOMIC_RELAXED);
  if (p < h->passes) return 0;
  __atomic_store_n(&st->fails, 0, __ATOMIC_RELAXED);
  __atomic_store_n(&st->passes, 0, __ATOMIC_RELAXED);
  return __atomic_exchange_n(&st->down, 0, __ATOMIC_RELAXED) == 1;
}

static void set_list(tg_server_state *st, char **field, char *list) {
  pthread_mutex_lock(&st->lock);
  char *old = *field;
  *field = list;
  pthread_mutex_unlock(&st->lock);
  free(old);
}

void tg_server_set_models(tg_server_state *st, char *models) { set_list(st, &st->models, models); }

void tg_server_set_loaded(tg_server_state *st, char *loaded) { set_list(st, &st->loaded, loaded); }

/* Is normal in list (1), not (0), or the list not known (-1)? Under the
 * state's lock. */
static int scan(const char *list, const char *normal) {
  if (!list) return -1;
  size_t n = strlen(normal);
  for (const char *p = list; *p;) {
    const char *end = strchr(p, '\n');
    if (!end) break;
    if ((size_t)(end - p) == n && memcmp(p, normal, n) == 0) return 1;
    p = end + 1;
  }
  return 0;
}

static int list_has(const tg_server_state *st, char *const *list, const char *normal) {
  pthread_mutex_lock((pthread_mutex_t *)&st->lock);
  int has = scan(*list, normal);
  pthread_mutex_unlock((pthread_mutex_t *)&st->lock);
  return has;
}

int tg_server_has_model(const tg_server_state *st, const char *normal) {
  return st ? list_has(st, &st->models, normal) : -1;
}

int tg_server_has_loaded(const tg_server_state *st, const char *normal) {
  return st ? list_has(st, &st->loaded, normal) : -1;
}

void tg_server_note_loaded(tg_server_state *st, const char *normal) {
  if (!st) return;
  size_t n = strlen(normal);
  pthread_mutex_lock(&st->lock);
  char *list = scan(st->loaded, normal) == 1 ? NULL : malloc(n + 2);
  if (list) {
    memcpy(list, normal, n);
    list[n] = '\n', list[n + 1] = 0;
    free(st->loaded);
    st->loaded = list;
  }
  pthread_mutex_unlock(&st->lock);
}

/* *field copied into buf under the state's lock; NULL copies as "", or
 * fails when unknown_fails. */
static int list_copy(const tg_server_state *st, char *const *field, char *buf, size_t cap, int unknown_fails) {
  pthread_mutex_lock((pthread_mutex_t *)&st->lock);
  const char *list = *field ? *field : "";
  size_t n = strlen(list);
  int fits = n < cap && (*field || !unknown_fails);
  if (fits) memcpy(buf, list, n + 1);
  pthread_mutex_unlock((pthread_mutex_t *)&st->lock);
  return fits ? 0 : -1;
}

int tg_server_loaded_copy(const tg_server_state *st, char *buf, size_t cap) {
  return list_copy(st, &st->loaded, buf, cap, 0);
}

int tg_server_models_copy(const tg_server_state *st, char *buf, size_t cap) {
  return list_copy(st, &st->models, buf, cap, 1);
}

/* normal's line taken out of *list, when there. Under the state's lock. */
static void drop_line(char *list, const char *normal) {
  size_t n = strlen(normal);
  for (char *p = list; p && *p;) {
    char *end = strchr(p, '\n');
    if (!end) return;
    if ((size_t)(end - p) == n && memcmp(p, normal, n) == 0) {
      memmove(p, end + 1, strlen(end + 1) + 1);
      return;
    }
    p = end + 1;
  }
}

void tg_server_forget_model(tg_server_state *st, const char *normal) {
  if (!st) return;
  pthread_mutex_lock(&st->lock);
  drop_line(st->models, normal);
  drop_line(st->loaded, normal);
  pthread_mutex_unlock(&st->lock);
  __atomic_store_n(&st->refresh, 1, __ATOMIC_RELEASE);
}

void tg_server_error(tg_server_state *st) {
  if (st) __atomic_add_fetch(&st->errors, 1, __ATOMIC_RELAXED);
}

void tg_server_failover(tg_server_state *st) {
  if (st) __atomic_add_fetch(&st->failovers, 1, __ATOMIC_RELAXED);
}

void tg_server_load_seen(tg_server_state *st, int64_t load_ns) {
  if (!st || load_ns <= 0) return;
  __atomic_add_fetch(&st->loads, 1, __ATOMIC_RELAXED);
  __atomic_add_fetch(&st->load_ms, (uint64_t)load_ns / 1000000, __ATOMIC_RELAXED);
}

void tg_server_claim(tg_server_state *st) {
  if (st) __atomic_add_fetch(&st->in_flight, 1, __ATOMIC_RELAXED);
}

void tg_server_unclaim(tg_server_state *st) {
  if (st) __atomic_sub_fetch(&st->in_flight, 1, __ATOMIC_RELAXED);
}

unsigned tg_server_in_flight(const tg_server_state *st) {
  return st ? __atomic_load_n(&st->in_flight, __ATOMIC_RELAXED) : 0;
}

int tg_server_eligible(const tg_server_view *v, unsigned i, uint64_t tried, int backup) {
  return !(tried >> i & 1) && !v[i].conf->drain && v[i].conf->backup == backup && tg_server_up(v[i].st);
}

/* Fewest in flight per unit of capacity (slots x weight): a/ca < b/cb. */
int tg_server_less_loaded(const tg_server_view *a, const tg_server_view *b) {
  uint64_t ca = (uint64_t)a->conf->slots * a->conf->weight, cb = (uint64_t)b->conf->slots * b->conf->weight;
  return (uint64_t)tg_server_in_flight(a->st) * cb < (uint64_t)tg_server_in_flight(b->st) * ca;
}

static int choose_least(tg_server_view *v, unsigned n, uint64_t tried, int backup, unsigned *rr) {
  int best = -1;
  unsigned start = n ? *rr % n : 0;
  for (unsigned k = 0; k < n; k++) {
    unsigned i = (start + k) % n;
    if (tg_server_eligible(v, i, tried, backup) && (best < 0 || tg_server_less_loaded(&v[i], &v[best]))) best = (int)i;
  }
  if (best >= 0) *rr = (unsigned)best + 1; /* the next tie goes to the one after */
  return best;
}

/* nginx's smooth weighted round robin: each gains its weight, the largest
 * is chosen and loses the total. */
static int choose_rr(tg_server_view *v, unsigned n, uint64_t tried, int backup) {
  int best = -1, total = 0;
  for (unsigned i = 0; i < n; i++) {
    if (!tg_server_eligible(v, i, tried, backup)) continue;
    v[i].cur_weight += (int)v[i].conf->weight;
    total += (int)v[i].conf->weight;
    if (best < 0 || v[i].cur_weight > v[best].cur_weight) best = (int)i;
  }
  if (best >= 0) v[best].cur_weight -= total;
  return best;
}

int tg_servers_choose(tg_server_view *v, unsigned n, uint8_t balance, uint64_t tried, unsigned *rr) {
  for (int backup = 0; backup <= 1; backup++) {
    int i = balance == TG_BALANCE_ROUND_ROBIN ? choose_rr(v, n, tried, backup) : choose_least(v, n, tried, backup, rr);
    if (i >= 0) return i;
  }
  return -1;
}

int tg_servers_any(const tg_server_view *v, unsigned n, uint64_t tried) {
  for (int backup = 0; backup <= 1; backup++)
    for (unsigned i = 0; i < n; i++)
      if (tg_server_eligible(v, i, tried, backup)) return 1;
  return 0;
}

unsigned tg_server_state_index(const tg_server_state *st) { return (unsigned)(st - S.v); }
