/* The figures `balance model` learns (tollgate/model-stats.h): one table
 * of named entries under one lock, open addressing by FNV-1a. Each
 * entry's key is a scope (a server's "UPSTREAM HOST:PORT" or an
 * upstream's name), a newline and a model ("" for every model). A full
 * table learns nothing more: its lookups give the defaults. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "tollgate/hash.h"
#include "tollgate/metrics-view.h"
#include "tollgate/metrics.h"
#include "tollgate/model-stats.h"

#define ENTRIES 1024 /* a power of two */
#define KEY_MAX 296  /* a server's key, '\n', a model's normal form */
#define COLD_RUNS 8  /* a model none is held for and none sent for this many runs is cold */

typedef struct entry {
  char key[KEY_MAX];
  uint32_t load_ms; /* mean of the loads seen (0: none yet) */
  uint32_t run_ms;  /* mean run of a request (0: none yet) */
  unsigned waiting; /* held at the gateway now */
  uint8_t held;     /* an upstream's model: some request was held for it (a metrics row) */
  uint8_t sent;     /* a server's model: variant holds the runner options it was last sent with */
  uint32_t variant;
  uint64_t sent_ns;  /* the last request for it sent to a server (uv_hrtime) */
  uint64_t load_ns;  /* a server's entry: when a request started a load of it there */
  uint64_t since_ns; /* an upstream's model: when its queue was last empty (0: empty now) */
} entry;

static struct {
  pthread_mutex_t lock;
  entry v[ENTRIES];
} T = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The entry of (scope, model), made when make; NULL when absent (or the
 * table is full). Under the lock. */
static entry *find(const char *scope, const char *model, int make) {
  char key[KEY_MAX];
  int n = snprintf(key, sizeof key, "%s\n%s", scope, model ? model : "");
  if (n < 0 || (size_t)n >= sizeof key) return NULL;
  uint64_t h = tg_fnv1a64(key, (size_t)n);
  for (unsigned k = 0; k < ENTRIES; k++) {
    entry *e = &T.v[(h + k) & (ENTRIES - 1)];
    if (!e->key[0]) {
      if (!make) return NULL;
      memcpy(e->key, key, (size_t)n + 1);
      return e;
    }
    if (strcmp(e->key, key) == 0) return e;
  }
  return NULL;
}

/* The mean moves a quarter of the way to each new figure. */
static void mean_add(uint32_t *m, int64_t ns) {
  uint64_t ms = (uint64_t)ns / 1000000;
  if (ms == 0) ms = 1;
  if (ms > UINT32_MAX / 4) ms = UINT32_MAX / 4;
  *m = *m ? (uint32_t)((*m * 3ull + ms) / 4) : (uint32_t)ms;
}

void tg_model_learned(tg_server_state *st, const char *model, int64_t load_ns, int64_t total_ns) {
  if (!st) return;
  int loaded = load_ns >= TG_MODEL_LOADED_NS;
  if (loaded) tg_server_load_seen(st, load_ns);
  int64_t run = total_ns >= 0 ? total_ns - (load_ns > 0 ? load_ns : 0) : -1;
  pthread_mutex_lock(&T.lock);
  entry *e;
  if (loaded && (e = find(st->key, model, 1))) mean_add(&e->load_ms, load_ns);
  if (loaded && (e = find(st->upstream, model, 1))) mean_add(&e->load_ms, load_ns);
  if (run > 0 && (e = find(st->upstream, model, 1))) mean_add(&e->run_ms, run);
  if (run > 0 && (e = find(st->key, NULL, 1))) mean_add(&e->run_ms, run);
  pthread_mutex_unlock(&T.lock);
}

uint64_t tg_model_load_ms(const tg_server_state *st, const char *model) {
  if (!st) return TG_MODEL_LOAD_DEFAULT_MS;
  pthread_mutex_lock(&T.lock);
  const entry *e = find(st->key, model, 0);
  uint32_t ms = e ? e->load_ms : 0;
  if (!ms && (e = find(st->upstream, model, 0))) ms = e->load_ms;
  pthread_mutex_unlock(&T.lock);
  return ms ? ms : TG_MODEL_LOAD_DEFAULT_MS;
}

uint64_t tg_model_service_ms(const tg_server_state *st, const char *model) {
  if (!st) return TG_MODEL_SERVICE_DEFAULT_MS;
  pthread_mutex_lock(&T.lock);
  const entry *e = model ? find(st->upstream, model, 0) : find(st->key, NULL, 0);
  uint32_t ms = e ? e->run_ms : 0;
  pthread_mutex_unlock(&T.lock);
  return ms ? ms : TG_MODEL_SERVICE_DEFAULT_MS;
}

/* d more held for model of upstream, counted in the model's entry and the
 * upstream's total. Under the lock. */
static void waiting_move(const char *upstream, const char *model, int d) {
  const char *models[2] = {model, NULL};
  for (int k = 0; k < 2; k++) {
    entry *e = find(upstream, models[k], d > 0);
    if (e && (d > 0 || e->waiting >= (unsigned)-d)) e->waiting += (unsigned)d;
    if (e && d > 0) e->held = 1;
    if (e && d > 0 && !e->since_ns) e->since_ns = uv_hrtime();
    if (e && !e->waiting) e->since_ns = 0;
  }
}

/* The metrics' rows of the requests held per upstream and model
 * (tollgate/metrics.h): the entries of a model some request was held for. */
static size_t held_rows(tg_metrics_held_row *rows, size_t cap) {
  size_t k = 0;
  pthread_mutex_lock(&T.lock);
  for (unsigned i = 0; i < ENTRIES && k < cap; i++) {
    const entry *e = &T.v[i];
    const char *nl = e->held ? strchr(e->key, '\n') : NULL;
    if (!nl || !nl[1]) continue;
    snprintf(rows[k].upstream, sizeof rows[k].upstream, "%.*s", (int)(nl - e->key), e->key);
    snprintf(rows[k].model, sizeof rows[k].model, "%s", nl + 1);
    rows[k++].depth = e->waiting;
  }
  pthread_mutex_unlock(&T.lock);
  return k;
}

int tg_model_waiting_hold(const char *upstream, const char *model, unsigned max) {
  static int sourced;
  pthread_mutex_lock(&T.lock);
  if (!sourced) sourced = 1, tg_metrics_held_source(held_rows);
  const entry *e = find(upstream, NULL, 0);
  int full = (e ? e->waiting : 0) >= max;
  if (!full) waiting_move(upstream, model, 1);
  pthread_mutex_unlock(&T.lock);
  return full ? -1 : 0;
}

void tg_model_waiting_leave(const char *upstream, const char *model) {
  pthread_mutex_lock(&T.lock);
  waiting_move(upstream, model, -1);
  pthread_mutex_unlock(&T.lock);
}

unsigned tg_model_waiting(const char *upstream, const char *model) {
  pthread_mutex_lock(&T.lock);
  const entry *e = find(upstream, model, 0);
  unsigned n = e ? e->waiting : 0;
  pthread_mutex_unlock(&T.lock);
  return n;
}

size_t tg_model_waiting_list(const char *upstream, tg_model_held *rows, size_t cap) {
  size_t k = 0, len = strlen(upstream);
  uint64_t now = uv_hrtime();
  pthread_mutex_lock(&T.lock);
  for (unsigned i = 0; i < ENTRIES && k < cap; i++) {
    const entry *e = &T.v[i];
    if (!e->waiting || strncmp(e->key, upstream, len) || e->key[len] != '\n' || !e->key[len + 1]) continue;
    snprintf(rows[k].model, sizeof rows[k].model, "%s", e->key + len + 1);
    rows[k].waiting = e->waiting;
    rows[k++].waited_ms = e->since_ns && now > e->since_ns ? (now - e->since_ns) / 1000000 : 0;
  }
  pthread_mutex_unlock(&T.lock);
  return k;
}

void tg_model_sent(const char *upstream, const char *model) {
  uint64_t now = uv_hrtime();
  pthread_mutex_lock(&T.lock);
  entry *e = find(upstream, model, 1);
  if (e) e->sent_ns = now;
  pthread_mutex_unlock(&T.lock);
}

void tg_model_load_started(const tg_server_state *st, const char *model) {
  if (!st) return;
  uint64_t now = uv_hrtime();
  pthread_mutex_lock(&T.lock);
  entry *e = find(st->key, model, 1);
  if (e) e->load_ns = now;
  pthread_mutex_unlock(&T.lock);
}

int tg_model_fresh(const tg_server_state *st, const char *model) {
  if (!st) return 0;
  uint64_t span_ns = (tg_model_load_ms(st, model) + tg_model_service_ms(st, model)) * 1000000ull, now = uv_hrtime();
  pthread_mutex_lock(&T.lock);
  const entry *e = find(st->key, model, 0);
  int fresh = e && e->load_ns && now - e->load_ns < span_ns;
  pthread_mutex_unlock(&T.lock);
  return fresh;
}

int tg_model_cold(const tg_server_state *st, const char *model) {
  if (!st) return 1;
  uint64_t quiet_ns = tg_model_service_ms(st, model) * COLD_RUNS * 1000000ull, now = uv_hrtime();
  pthread_mutex_lock(&T.lock);
  const entry *e = find(st->upstream, model, 0);
  int cold = !e || (!e->waiting && now - e->sent_ns >= quiet_ns);
  pthread_mutex_unlock(&T.lock);
  return cold;
}

void tg_model_variant_sent(const tg_server_state *st, const char *model, uint32_t variant) {
  if (!st) return;
  pthread_mutex_lock(&T.lock);
  entry *e = find(st->key, model, 1);
  if (e) e->sent = 1, e->variant = variant;
  pthread_mutex_unlock(&T.lock);
}

int tg_model_loaded_as(const tg_server_state *st, const char *model, uint32_t variant) {
  int loaded = tg_server_has_loaded(st, model);
  if (loaded != 1) return loaded;
  pthread_mutex_lock(&T.lock);
  const entry *e = find(st->key, model, 0);
  int same = e && e->sent ? e->variant == variant : variant == 0;
  pthread_mutex_unlock(&T.lock);
  return same;
}
