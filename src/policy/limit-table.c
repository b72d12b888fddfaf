/* The state behind rate and count limits: a table shared by the worker
 * threads, split into shards with a lock each (a key's shard comes from its
 * hash, so two workers contend only when they touch the same shard at the
 * same moment, for a few dozen nanoseconds). A shard is an array of sets of
 * WAYS entries; a key lives in one set, and a new key takes the set's
 * least recently used entry that holds no count. Memory is fixed at load,
 * as an nginx zone is. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate/hash.h"
#include "tollgate/limits.h"

#define SHARDS 64
#define WAYS 8
#define KEY_MAX 72

typedef struct entry {
  uint64_t hash;    /* 0 = free */
  uint64_t last_ms; /* leaky bucket: last accounted; also the LRU clock */
  int64_t excess;   /* leaky bucket: milli-requests */
  uint32_t count;   /* count limits: taken */
  char key[KEY_MAX];
} entry;

typedef struct shard {
  pthread_mutex_t lock;
  entry *sets;   /* nsets * WAYS */
  uint64_t tick; /* LRU clock of count tables */
} shard;

struct tg_limit_table {
  size_t nsets; /* per shard */
  shard shards[SHARDS];
};

tg_limit_table *tg_limit_table_new(size_t entries) {
  tg_limit_table *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->nsets = entries / (SHARDS * WAYS);
  if (t->nsets == 0) t->nsets = 1;
  for (size_t i = 0; i < SHARDS; i++) {
    pthread_mutex_init(&t->shards[i].lock, NULL);
    t->shards[i].sets = calloc(t->nsets * WAYS, sizeof(entry));
    if (!t->shards[i].sets) {
      tg_limit_table_free(t);
      return NULL;
    }
  }
  return t;
}

void tg_limit_table_free(tg_limit_table *t) {
  if (!t) return;
  for (size_t i = 0; i < SHARDS; i++) {
    free(t->shards[i].sets);
    pthread_mutex_destroy(&t->shards[i].lock);
  }
  free(t);
}

/* An entry's hash is never 0, which marks a free entry. */
static uint64_t key_hash(const char *k) {
  uint64_t h = tg_fnv1a64_str(k);
  return h ? h : 1;
}

/* The entry of key in its locked shard: found (*fresh = 0), or a new one
 * in place of the set's least recently used entry without a count
 * (*fresh = 1); NULL when every entry of the set is counted. */
static entry *lookup(tg_limit_table *t, shard *s, uint64_t h, const char *key, int *fresh) {
  entry *set = &s->sets[(h >> 6) % t->nsets * WAYS], *victim = NULL;
  for (int i = 0; i < WAYS; i++) {
    entry *e = &set[i];
    if (e->hash == h && strcmp(e->key, key) == 0) {
      *fresh = 0;
      return e;
    }
    if (e->count) continue;
    if (!victim || !e->hash || (victim->hash && e->last_ms < victim->last_ms)) victim = e;
  }
  if (!victim) return NULL;
  memset(victim, 0, sizeof *victim);
  victim->hash = h;
  snprintf(victim->key, sizeof victim->key, "%s", key);
  *fresh = 1;
  return victim;
}

int tg_leaky_bucket(const tg_rate_rule *r, int64_t *excess, uint64_t *last, int fresh, uint64_t now_ms,
                    uint64_t *delay_ms, uint64_t *retry_ms) {
  *delay_ms = *retry_ms = 0;
  if (fresh) { /* nginx: a new key starts with no excess and passes */
    *excess = 0;
    *last = now_ms;
    return 0;
  }
  int64_t ms = (int64_t)(now_ms - *last);
  if (ms < 0) ms = 0;
  int64_t ex = *excess - (int64_t)r->rate * ms / 1000 + 1000;
  if (ex < 0) ex = 0;
  if ((uint64_t)ex > r->burst) {
    /* passes again once excess + 1000 - rate * wait / 1000 <= burst */
    int64_t need = (*excess + 1000 - (int64_t)r->burst) * 1000;
    int64_t wait = (need + (int64_t)r->rate - 1) / (int64_t)r->rate - ms;
    *retry_ms = wait > 0 ? (uint64_t)wait : 1;
    return 1;
  }
  *excess = ex;
  if (ms) *last = now_ms;
  if (r->delay != TG_LIMIT_NODELAY && (uint64_t)ex > r->delay) *delay_ms = ((uint64_t)ex - r->delay) * 1000 / r->rate;
  return 0;
}

int tg_limit_rate_check(const tg_rate_rule *r, const char *key, uint64_t now_ms, uint64_t *delay_ms,
                        uint64_t *retry_ms) {
  uint64_t h = key_hash(key);
  shard *s = &r->table->shards[h % SHARDS];
  int fresh, rc = 0;
  pthread_mutex_lock(&s->lock);
  entry *e = lookup(r->table, s, h, key, &fresh);
  if (e) rc = tg_leaky_bucket(r, &e->excess, &e->last_ms, fresh, now_ms, delay_ms, retry_ms);
  else *delay_ms = *retry_ms = 0;
  pthread_mutex_unlock(&s->lock);
  return rc;
}

int tg_limit_count_take(tg_limit_table *t, const char *key, unsigned max) {
  uint64_t h = key_hash(key);
  shard *s = &t->shards[h % SHARDS];
  int fresh, rc = -1;
  pthread_mutex_lock(&s->lock);
  entry *e = lookup(t, s, h, key, &fresh);
  if (e) {
    e->last_ms = ++s->tick;
    rc = e->count < max;
    if (rc) e->count++;
  }
  pthread_mutex_unlock(&s->lock);
  return rc;
}

void tg_limit_count_give(tg_limit_table *t, const char *key) {
  uint64_t h = key_hash(key);
  shard *s = &t->shards[h % SHARDS];
  int fresh;
  pthread_mutex_lock(&s->lock);
  entry *e = lookup(t, s, h, key, &fresh);
  if (e && e->count) e->count--;
  pthread_mutex_unlock(&s->lock);
}
