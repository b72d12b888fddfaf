/* Internal to src/policy: the counter table behind token quotas (quota.c)
 * and its state file (quota-state.c). */
#ifndef TG_POLICY_QUOTA_STORE_H
#define TG_POLICY_QUOTA_STORE_H

#include <pthread.h>
#include <stdatomic.h>

#include "tollgate/auth.h"
#include "tollgate/quota.h"

#define TG_QUOTA_SHARDS 64
#define TG_QUOTA_WAYS 8

/* One user's counts: fixed windows, a minute and a UTC day (unix seconds
 * of their start), so a reset time is a wall-clock time that survives a
 * restart. */
typedef struct tg_quota_entry {
  uint64_t hash;       /* 0 = free */
  int64_t minute, day; /* the windows counted */
  uint64_t minute_used, day_used;
  uint64_t lru; /* the shard's clock at the last use */
  char user[TG_USER_MAX + 1];
} tg_quota_entry;

typedef struct tg_quota_shard {
  pthread_mutex_t lock;
  tg_quota_entry *sets; /* nsets * TG_QUOTA_WAYS */
  uint64_t tick;
} tg_quota_shard;

struct tg_quota_store {
  char *path;                  /* the state file, NULL for a private store */
  unsigned refs;               /* configs using it (main thread only) */
  atomic_int dirty;            /* counted since the last write */
  struct tg_quota_store *next; /* the registry */
  size_t nsets;
  tg_quota_shard shards[TG_QUOTA_SHARDS];
};

void tg_quota_store_free(tg_quota_store *s);
/* The entry of user in its locked shard; created (evicting a set's entry
 * whose day is over, else its least recently used one) when create is
 * set, else NULL when absent. */
tg_quota_entry *tg_quota_lookup(tg_quota_store *s, tg_quota_shard *sh, const char *user, int create);
tg_quota_shard *tg_quota_shard_of(tg_quota_store *s, const char *user);
/* Starts new windows when now has left the counted ones. */
void tg_quota_roll(tg_quota_entry *e, int64_t now);

#endif
