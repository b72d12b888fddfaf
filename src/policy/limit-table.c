/* The state behind rate and count limits: a sharded table shared by the
 * worker threads (tollgate/shard-table.h). A new key takes its set's least
 * recently used entry that holds no count: a key holding connections or
 * requests is never forgotten while it holds them. */
#include "tollgate/limits.h"
#include "tollgate/shard-table.h"

#define KEY_MAX 71 /* an address or a user name (TG_USER_MAX) */

typedef struct entry {
  uint64_t last_ms; /* leaky bucket: last accounted; also the LRU clock */
  int64_t excess;   /* leaky bucket: milli-requests */
  uint32_t count;   /* count limits: taken */
} entry;

static int counted(const void *v) { return ((const entry *)v)->count != 0; }

static int older(const void *a, const void *b) { return ((const entry *)a)->last_ms < ((const entry *)b)->last_ms; }

static const tg_shard_evict lru_uncounted = {.keep = counted, .before = older};

tg_limit_table *tg_limit_table_new(size_t entries) {
  return tg_shard_table_new(entries, KEY_MAX, sizeof(entry), &lru_uncounted);
}

void tg_limit_table_free(tg_limit_table *t) { tg_shard_table_free(t); }

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
  uint64_t h;
  int fresh, rc = 0;
  tg_shard *s = tg_shard_table_lock(r->table, key, &h);
  entry *e = tg_shard_find(r->table, s, h, key, 1, &fresh);
  if (e) rc = tg_leaky_bucket(r, &e->excess, &e->last_ms, fresh, now_ms, delay_ms, retry_ms);
  else *delay_ms = *retry_ms = 0;
  tg_shard_unlock(s);
  return rc;
}

int tg_limit_count_take(tg_limit_table *t, const char *key, unsigned max) {
  uint64_t h;
  int fresh, rc = -1;
  tg_shard *s = tg_shard_table_lock(t, key, &h);
  entry *e = tg_shard_find(t, s, h, key, 1, &fresh);
  if (e) {
    e->last_ms = tg_shard_tick(s);
    rc = e->count < max;
    if (rc) e->count++;
  }
  tg_shard_unlock(s);
  return rc;
}

/* A key not in the table holds no count: nothing to give back. */
void tg_limit_count_give(tg_limit_table *t, const char *key) {
  uint64_t h;
  int fresh;
  tg_shard *s = tg_shard_table_lock(t, key, &h);
  entry *e = tg_shard_find(t, s, h, key, 0, &fresh);
  if (e && e->count) e->count--;
  tg_shard_unlock(s);
}
