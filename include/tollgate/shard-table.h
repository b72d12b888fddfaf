/* A fixed-size table of keyed entries shared by threads (the state behind
 * rate and count limits, and token quotas): TG_SHARD_COUNT shards with a
 * lock each, a shard an array of sets of TG_SHARD_WAYS entries. A key's
 * FNV-1a hash (tollgate/hash.h) picks its shard and its set; two threads
 * contend only when they touch the same shard at the same moment. A new key
 * takes a free entry of its set, else the entry the caller's eviction rule
 * puts first; colliding keys cost at most one set's walk, never a chain.
 * Memory is fixed when the table is made, as an nginx zone is.
 *
 * An entry is a hash, a key (a string of at most key_max bytes) and a value
 * of value_size bytes the caller lays out (alignment at most 8). Every
 * call on entries takes a shard locked with tg_shard_table_lock: the
 * caller reads and writes the value between that and tg_shard_unlock. */
#ifndef TOLLGATE_SHARD_TABLE_H
#define TOLLGATE_SHARD_TABLE_H

#include <stddef.h>
#include <stdint.h>

#define TG_SHARD_COUNT 64
#define TG_SHARD_WAYS 8

typedef struct tg_shard_table tg_shard_table;
typedef struct tg_shard tg_shard;

/* Which entry of a full set a new key takes; both act on values of
 * entries in use. */
typedef struct tg_shard_evict {
  /* Nonzero for a value that must not be evicted (NULL: none is kept). */
  int (*keep)(const void *value);
  /* Nonzero when a goes before b; of equals, the first in the set goes. */
  int (*before)(const void *a, const void *b);
} tg_shard_evict;

/* A table of about `entries` entries (at least one set a shard), or NULL
 * when out of memory. rule is copied. */
tg_shard_table *tg_shard_table_new(size_t entries, size_t key_max, size_t value_size, const tg_shard_evict *rule);
void tg_shard_table_free(tg_shard_table *t);

/* The shard of key, locked; *hash is the key's hash for tg_shard_find. */
tg_shard *tg_shard_table_lock(tg_shard_table *t, const char *key, uint64_t *hash);
void tg_shard_unlock(tg_shard *s);

/* In the locked shard s: the value of key (of hash h, from
 * tg_shard_table_lock), *fresh = 0. Absent, with create: a zeroed value in
 * a free entry of the key's set, else in the set's first entry the rule
 * evicts, *fresh = 1. NULL when absent and not created, when the key is
 * longer than key_max, or when the rule keeps every entry of the set. */
void *tg_shard_find(tg_shard_table *t, tg_shard *s, uint64_t h, const char *key, int create, int *fresh);

/* The locked shard's clock, advanced by one: a least-recently-used stamp
 * for values. */
uint64_t tg_shard_tick(tg_shard *s);

/* Calls fn on every entry in use of shard i (0 to TG_SHARD_COUNT - 1), in
 * the order of the shard's array, under that shard's lock: fn should be
 * short (copy out what it needs) and must not call the table. */
void tg_shard_table_each(tg_shard_table *t, size_t i, void (*fn)(const char *key, const void *value, void *arg),
                         void *arg);
/* Entries a shard can hold (what tg_shard_table_each may call fn on). */
size_t tg_shard_table_per_shard(const tg_shard_table *t);

#endif
