/* Tests for src/base/shard-table.c: a key found again and its value kept,
 * the entry a full set gives up (free first, then the rule's order, kept
 * values never), iteration over a shard's entries, and two threads on
 * different and equal keys (run under build-tsan/ too). */
#include <pthread.h>
#include <stdio.h>

#include "tg_test.h"
#include "tollgate/hash.h"
#include "tollgate/shard-table.h"

void tg_suite_shard_table(void);

typedef struct value {
  uint64_t stamp; /* evicted oldest first */
  int pinned;     /* never evicted */
  uint64_t n;
} value;

static int pinned(const void *v) { return ((const value *)v)->pinned; }
static int older(const void *a, const void *b) { return ((const value *)a)->stamp < ((const value *)b)->stamp; }
static const tg_shard_evict rule = {.keep = pinned, .before = older};

/* The value of key, created when absent (NULL: no room). */
static value *get(tg_shard_table *t, const char *key, int create, int *fresh) {
  uint64_t h;
  tg_shard *s = tg_shard_table_lock(t, key, &h);
  value *v = tg_shard_find(t, s, h, key, create, fresh);
  tg_shard_unlock(s);
  return v;
}

static int has(tg_shard_table *t, const char *key) {
  int fresh;
  return get(t, key, 0, &fresh) != NULL;
}

/* n keys ("k0", "k1", ...) that fall in shard 0; a table of one set a
 * shard puts them all in one set. */
static void same_set_keys(char keys[][16], int n) {
  for (int i = 0, found = 0; found < n; i++) {
    snprintf(keys[found], sizeof keys[found], "k%d", i);
    uint64_t h = tg_fnv1a64_str(keys[found]);
    if ((h ? h : 1) % TG_SHARD_COUNT == 0) found++;
  }
}

static void test_shard_insert_and_find(void) {
  tg_shard_table *t = tg_shard_table_new(1024, 8, sizeof(value), &rule);
  int fresh = -1;
  TG_CHECK(t && tg_shard_table_per_shard(t) == TG_SHARD_WAYS * 2);
  TG_CHECK(!get(t, "alice", 0, &fresh) && fresh == -1);
  value *v = get(t, "alice", 1, &fresh);
  TG_CHECK(v && fresh == 1 && v->n == 0 && v->stamp == 0);
  v->n = 5;
  v = get(t, "alice", 1, &fresh);
  TG_CHECK(v && fresh == 0 && v->n == 5);
  TG_CHECK(get(t, "alice", 0, &fresh) == v && fresh == 0);
  value *b = get(t, "bob", 1, &fresh);
  TG_CHECK(b && b != v && fresh == 1 && b->n == 0);
  TG_CHECK(get(t, "12345678", 1, &fresh) && !get(t, "123456789", 1, &fresh)); /* longer than key_max */
  tg_shard_table_free(t);
  t = tg_shard_table_new(0, 8, sizeof(value), &rule); /* at least one set a shard */
  TG_CHECK(t && tg_shard_table_per_shard(t) == TG_SHARD_WAYS);
  tg_shard_table_free(t);
}

static void test_shard_eviction_order(void) {
  tg_shard_table *t = tg_shard_table_new(1, 15, sizeof(value), &rule);
  char k[TG_SHARD_WAYS + 3][16];
  static const uint64_t stamps[TG_SHARD_WAYS] = {5, 3, 7, 1, 8, 2, 6, 4};
  int fresh;
  TG_CHECK(t);
  same_set_keys(k, TG_SHARD_WAYS + 3);
  for (int i = 0; i < TG_SHARD_WAYS; i++) { /* free entries first: nothing evicted */
    value *v = get(t, k[i], 1, &fresh);
    TG_CHECK(v && fresh);
    v->stamp = stamps[i];
  }
  for (int i = 0; i < TG_SHARD_WAYS; i++) TG_CHECK(has(t, k[i]));
  value *v = get(t, k[8], 1, &fresh); /* takes the oldest: stamp 1 */
  TG_CHECK(v && fresh && !has(t, k[3]) && has(t, k[5]));
  v->stamp = 9;
  get(t, k[5], 0, &fresh)->pinned = 1; /* stamp 2, kept: stamp 3 goes */
  TG_CHECK(get(t, k[9], 1, &fresh) && has(t, k[5]) && !has(t, k[1]) && has(t, k[7]));
  get(t, k[9], 0, &fresh)->stamp = 10;
  for (int i = 0; i < TG_SHARD_WAYS + 2; i++)
    if (has(t, k[i])) get(t, k[i], 0, &fresh)->pinned = 1;
  TG_CHECK(!get(t, k[10], 1, &fresh) && !has(t, k[10])); /* every entry kept: no room */
  tg_shard_table_free(t);
}

typedef struct seen {
  int keys;
  uint64_t sum;
} seen;

static void count_entry(const char *key, const void *v, void *arg) {
  seen *s = arg;
  s->keys += key[0] == 'u';
  s->sum += ((const value *)v)->n;
}

static void test_shard_iteration(void) {
  tg_shard_table *t = tg_shard_table_new(4096, 15, sizeof(value), &rule);
  char key[16];
  int fresh;
  TG_CHECK(t);
  for (int i = 1; i <= 100; i++) {
    snprintf(key, sizeof key, "u%d", i);
    get(t, key, 1, &fresh)->n = (uint64_t)i;
  }
  seen s = {0};
  for (size_t i = 0; i < TG_SHARD_COUNT; i++) tg_shard_table_each(t, i, count_entry, &s);
  TG_CHECK(s.keys == 100 && s.sum == 5050);
  tg_shard_table_free(t);
}

/* ---- two threads ---- */

#define ROUNDS 20000

typedef struct hammer {
  tg_shard_table *t;
  const char *own; /* this thread's key; "both" is the other one */
} hammer;

static void add_one(tg_shard_table *t, const char *key) {
  uint64_t h;
  int fresh;
  tg_shard *s = tg_shard_table_lock(t, key, &h);
  value *v = tg_shard_find(t, s, h, key, 1, &fresh);
  if (v) v->n++, v->stamp = tg_shard_tick(s);
  tg_shard_unlock(s);
}

static void *hammer_keys(void *arg) {
  const hammer *h = arg;
  for (int i = 0; i < ROUNDS; i++) {
    add_one(h->t, h->own);
    add_one(h->t, "both");
  }
  return NULL;
}

static void test_shard_two_threads(void) {
  tg_shard_table *t = tg_shard_table_new(1024, 15, sizeof(value), &rule);
  TG_CHECK(t);
  hammer a = {t, "thread-a"}, b = {t, "thread-b"};
  pthread_t ta, tb;
  TG_CHECK(pthread_create(&ta, NULL, hammer_keys, &a) == 0);
  TG_CHECK(pthread_create(&tb, NULL, hammer_keys, &b) == 0);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  int fresh;
  TG_CHECK(get(t, "thread-a", 0, &fresh)->n == ROUNDS && get(t, "thread-b", 0, &fresh)->n == ROUNDS);
  TG_CHECK(get(t, "both", 0, &fresh)->n == 2 * ROUNDS);
  tg_shard_table_free(t);
}

void tg_suite_shard_table(void) {
  TG_RUN(test_shard_insert_and_find);
  TG_RUN(test_shard_eviction_order);
  TG_RUN(test_shard_iteration);
  TG_RUN(test_shard_two_threads);
}
