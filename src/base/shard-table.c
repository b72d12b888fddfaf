/* The sharded table (tollgate/shard-table.h). An entry is laid out as
 * [hash][value, padded to 8][key and its NUL], padded to 8; hash 0 marks a
 * free entry (a key hashing to 0 is given 1). The shard comes from the
 * hash's low bits (hash % TG_SHARD_COUNT), the set from the bits above
 * them, so that the keys of one shard spread over all its sets. */
#include "tollgate/shard-table.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate/hash.h"

#define ALIGN8(n) (((n) + 7) & ~(size_t)7)

struct tg_shard {
  pthread_mutex_t lock;
  unsigned char *sets; /* nsets * TG_SHARD_WAYS entries of t->entry_size */
  uint64_t tick;
};

struct tg_shard_table {
  size_t nsets;      /* per shard */
  size_t entry_size; /* bytes of one entry */
  size_t key_at;     /* offset of the key in an entry */
  size_t key_max;
  tg_shard_evict rule;
  tg_shard shards[TG_SHARD_COUNT];
};

typedef struct slot {
  uint64_t hash;
  unsigned char value[]; /* then the key, at key_at */
} slot;

tg_shard_table *tg_shard_table_new(size_t entries, size_t key_max, size_t value_size, const tg_shard_evict *rule) {
  tg_shard_table *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->nsets = entries / (TG_SHARD_COUNT * TG_SHARD_WAYS);
  if (t->nsets == 0) t->nsets = 1;
  t->key_at = sizeof(slot) + ALIGN8(value_size);
  t->entry_size = ALIGN8(t->key_at + key_max + 1);
  t->key_max = key_max;
  t->rule = *rule;
  for (size_t i = 0; i < TG_SHARD_COUNT; i++) {
    pthread_mutex_init(&t->shards[i].lock, NULL);
    if (!(t->shards[i].sets = calloc(t->nsets * TG_SHARD_WAYS, t->entry_size))) {
      tg_shard_table_free(t);
      return NULL;
    }
  }
  return t;
}

void tg_shard_table_free(tg_shard_table *t) {
  if (!t) return;
  for (size_t i = 0; i < TG_SHARD_COUNT; i++) {
    free(t->shards[i].sets);
    pthread_mutex_destroy(&t->shards[i].lock);
  }
  free(t);
}

tg_shard *tg_shard_table_lock(tg_shard_table *t, const char *key, uint64_t *hash) {
  uint64_t h = tg_fnv1a64_str(key);
  *hash = h ? h : 1;
  tg_shard *s = &t->shards[*hash % TG_SHARD_COUNT];
  pthread_mutex_lock(&s->lock);
  return s;
}

void tg_shard_unlock(tg_shard *s) { pthread_mutex_unlock(&s->lock); }

uint64_t tg_shard_tick(tg_shard *s) { return ++s->tick; }

static slot *entry_at(const tg_shard_table *t, const tg_shard *s, size_t i) {
  return (slot *)(s->sets + i * t->entry_size);
}

static char *key_of(const tg_shard_table *t, slot *e) { return (char *)e + t->key_at; }

/* The entry of the set (from first) a new key takes: the last free one,
 * else the first of those the rule does not keep that no other goes
 * before; NULL when the rule keeps them all. */
static slot *victim_of(const tg_shard_table *t, const tg_shard *s, size_t first) {
  slot *victim = NULL;
  for (size_t i = first; i < first + TG_SHARD_WAYS; i++) {
    slot *e = entry_at(t, s, i);
    if (!e->hash) victim = e;
    else if (t->rule.keep && t->rule.keep(e->value)) continue;
    else if (!victim || (victim->hash && t->rule.before(e->value, victim->value))) victim = e;
  }
  return victim;
}

void *tg_shard_find(tg_shard_table *t, tg_shard *s, uint64_t h, const char *key, int create, int *fresh) {
  size_t first = h / TG_SHARD_COUNT % t->nsets * TG_SHARD_WAYS;
  for (size_t i = first; i < first + TG_SHARD_WAYS; i++) {
    slot *e = entry_at(t, s, i);
    if (e->hash == h && strcmp(key_of(t, e), key) == 0) {
      *fresh = 0;
      return e->value;
    }
  }
  size_t n = create ? strlen(key) : 0;
  slot *e = create && n <= t->key_max ? victim_of(t, s, first) : NULL;
  if (!e) return NULL;
  memset(e, 0, t->entry_size);
  e->hash = h;
  memcpy(key_of(t, e), key, n + 1);
  *fresh = 1;
  return e->value;
}

void tg_shard_table_each(tg_shard_table *t, size_t i, void (*fn)(const char *key, const void *value, void *arg),
                         void *arg) {
  tg_shard *s = &t->shards[i];
  pthread_mutex_lock(&s->lock);
  for (size_t j = 0; j < t->nsets * TG_SHARD_WAYS; j++) {
    slot *e = entry_at(t, s, j);
    if (e->hash) fn(key_of(t, e), e->value, arg);
  }
  pthread_mutex_unlock(&s->lock);
}

size_t tg_shard_table_per_shard(const tg_shard_table *t) { return t->nsets * TG_SHARD_WAYS; }
