/* Token quotas: a table of per-user counts shared by the worker threads,
 * sharded as the limit tables are (tollgate/shard-table.h): a check and an
 * account each take one shard lock for a few dozen nanoseconds. Memory is
 * fixed when the store is made; a new user takes a set's entry whose day
 * is over, else the least recently used one (that user's counts are then
 * forgotten: size the table for the users you have). */
#include <stdlib.h>

#include "quota-store.h"

/* A set's entry whose day is over goes first, then the least recently
 * used. */
static int evict_before(const void *a, const void *b) {
  const tg_quota_entry *x = a, *y = b;
  return x->day < y->day || (x->day == y->day && x->lru < y->lru);
}

static const tg_shard_evict day_then_lru = {.keep = NULL, .before = evict_before};

tg_quota_store *tg_quota_store_new(size_t entries) {
  tg_quota_store *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->refs = 1;
  if (!(s->users = tg_shard_table_new(entries, TG_USER_MAX, sizeof(tg_quota_entry), &day_then_lru))) {
    free(s);
    return NULL;
  }
  return s;
}

void tg_quota_store_free(tg_quota_store *s) {
  if (!s) return;
  tg_shard_table_free(s->users);
  free(s->path);
  free(s);
}

void tg_quota_conf_free(tg_quota_conf *q) {
  if (!q) return;
  tg_quota_store_release(q->store);
  free(q);
}

tg_quota_entry *tg_quota_lookup(tg_quota_store *s, tg_shard *sh, uint64_t h, const char *user, int create) {
  int fresh;
  tg_quota_entry *e = tg_shard_find(s->users, sh, h, user, create, &fresh);
  if (e) e->lru = tg_shard_tick(sh);
  return e;
}

void tg_quota_roll(tg_quota_entry *e, int64_t now) {
  int64_t minute = now - now % 60, day = now - now % 86400;
  if (e->minute != minute) e->minute = minute, e->minute_used = 0;
  if (e->day != day) e->day = day, e->day_used = 0;
}

int tg_quota_check(const tg_quota_conf *q, const char *user, int64_t now, int64_t *reset_at, int *per_day) {
  uint64_t h;
  int over = 0;
  tg_shard *sh = tg_shard_table_lock(q->store->users, user, &h);
  tg_quota_entry *e = tg_quota_lookup(q->store, sh, h, user, 0);
  if (e) {
    tg_quota_roll(e, now);
    if (q->per_day && e->day_used >= q->per_day) over = 1, *per_day = 1, *reset_at = e->day + 86400;
    else if (q->per_minute && e->minute_used >= q->per_minute) over = 1, *per_day = 0, *reset_at = e->minute + 60;
  }
  tg_shard_unlock(sh);
  return over;
}

void tg_quota_add(const tg_quota_conf *q, const char *user, int64_t now, uint64_t tokens) {
  if (!tokens) return;
  uint64_t h;
  tg_shard *sh = tg_shard_table_lock(q->store->users, user, &h);
  tg_quota_entry *e = tg_quota_lookup(q->store, sh, h, user, 1);
  if (e) {
    tg_quota_roll(e, now);
    e->minute_used += tokens;
    e->day_used += tokens;
  }
  tg_shard_unlock(sh);
  atomic_store(&q->store->dirty, 1);
}

void tg_quota_used(const tg_quota_conf *q, const char *user, int64_t now, uint64_t *minute, uint64_t *day) {
  uint64_t h;
  *minute = *day = 0;
  tg_shard *sh = tg_shard_table_lock(q->store->users, user, &h);
  tg_quota_entry *e = tg_quota_lookup(q->store, sh, h, user, 0);
  if (e) {
    tg_quota_roll(e, now);
    *minute = e->minute_used;
    *day = e->day_used;
  }
  tg_shard_unlock(sh);
}
