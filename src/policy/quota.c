/* Token quotas: a table of per-user counts shared by the worker threads,
 * split into shards with a lock each, as the limit tables are
 * (limit-table.c): a check and an account each take one shard lock for a
 * few dozen nanoseconds. Memory is fixed when the store is made; a new
 * user takes a set's entry whose day is over, else the least recently used
 * one (that user's counts are then forgotten: size the table for the
 * users you have). */
#include <stdlib.h>
#include <string.h>

#include "quota-store.h"
#include "tollgate/hash.h"

tg_quota_store *tg_quota_store_new(size_t entries) {
  tg_quota_store *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->refs = 1;
  s->nsets = entries / (TG_QUOTA_SHARDS * TG_QUOTA_WAYS);
  if (s->nsets == 0) s->nsets = 1;
  for (size_t i = 0; i < TG_QUOTA_SHARDS; i++) {
    pthread_mutex_init(&s->shards[i].lock, NULL);
    if (!(s->shards[i].sets = calloc(s->nsets * TG_QUOTA_WAYS, sizeof(tg_quota_entry)))) {
      tg_quota_store_free(s);
      return NULL;
    }
  }
  return s;
}

void tg_quota_store_free(tg_quota_store *s) {
  if (!s) return;
  for (size_t i = 0; i < TG_QUOTA_SHARDS; i++) {
    free(s->shards[i].sets);
    pthread_mutex_destroy(&s->shards[i].lock);
  }
  free(s->path);
  free(s);
}

void tg_quota_conf_free(tg_quota_conf *q) {
  if (!q) return;
  tg_quota_store_release(q->store);
  free(q);
}

/* An entry's hash is never 0, which marks a free entry. */
static uint64_t user_hash(const char *k) {
  uint64_t h = tg_fnv1a64_str(k);
  return h ? h : 1;
}

tg_quota_shard *tg_quota_shard_of(tg_quota_store *s, const char *user) {
  return &s->shards[user_hash(user) % TG_QUOTA_SHARDS];
}

tg_quota_entry *tg_quota_lookup(tg_quota_store *s, tg_quota_shard *sh, const char *user, int create) {
  uint64_t h = user_hash(user);
  tg_quota_entry *set = &sh->sets[(h >> 6) % s->nsets * TG_QUOTA_WAYS], *victim = NULL;
  for (int i = 0; i < TG_QUOTA_WAYS; i++) {
    tg_quota_entry *e = &set[i];
    if (e->hash == h && strcmp(e->user, user) == 0) {
      e->lru = ++sh->tick;
      return e;
    }
    if (!victim || !e->hash || (victim->hash && e->day < victim->day) ||
        (victim->hash && e->day == victim->day && e->lru < victim->lru))
      victim = e;
  }
  if (!create || strlen(user) > TG_USER_MAX) return NULL;
  memset(victim, 0, sizeof *victim);
  victim->hash = h;
  strcpy(victim->user, user);
  victim->lru = ++sh->tick;
  return victim;
}

void tg_quota_roll(tg_quota_entry *e, int64_t now) {
  int64_t minute = now - now % 60, day = now - now % 86400;
  if (e->minute != minute) e->minute = minute, e->minute_used = 0;
  if (e->day != day) e->day = day, e->day_used = 0;
}

int tg_quota_check(const tg_quota_conf *q, const char *user, int64_t now, int64_t *reset_at, int *per_day) {
  tg_quota_shard *sh = tg_quota_shard_of(q->store, user);
  int over = 0;
  pthread_mutex_lock(&sh->lock);
  tg_quota_entry *e = tg_quota_lookup(q->store, sh, user, 0);
  if (e) {
    tg_quota_roll(e, now);
    if (q->per_day && e->day_used >= q->per_day) over = 1, *per_day = 1, *reset_at = e->day + 86400;
    else if (q->per_minute && e->minute_used >= q->per_minute) over = 1, *per_day = 0, *reset_at = e->minute + 60;
  }
  pthread_mutex_unlock(&sh->lock);
  return over;
}

void tg_quota_add(const tg_quota_conf *q, const char *user, int64_t now, uint64_t tokens) {
  if (!tokens) return;
  tg_quota_shard *sh = tg_quota_shard_of(q->store, user);
  pthread_mutex_lock(&sh->lock);
  tg_quota_entry *e = tg_quota_lookup(q->store, sh, user, 1);
  if (e) {
    tg_quota_roll(e, now);
    e->minute_used += tokens;
    e->day_used += tokens;
  }
  pthread_mutex_unlock(&sh->lock);
  atomic_store(&q->store->dirty, 1);
}

void tg_quota_used(const tg_quota_conf *q, const char *user, int64_t now, uint64_t *minute, uint64_t *day) {
  tg_quota_shard *sh = tg_quota_shard_of(q->store, user);
  *minute = *day = 0;
  pthread_mutex_lock(&sh->lock);
  tg_quota_entry *e = tg_quota_lookup(q->store, sh, user, 0);
  if (e) {
    tg_quota_roll(e, now);
    *minute = e->minute_used;
    *day = e->day_used;
  }
  pthread_mutex_unlock(&sh->lock);
}
