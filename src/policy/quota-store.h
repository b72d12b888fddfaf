/* Internal to src/policy: the counter table behind token quotas (quota.c)
 * and its state file (quota-state.c). */
#ifndef TG_POLICY_QUOTA_STORE_H
#define TG_POLICY_QUOTA_STORE_H

#include <stdatomic.h>

#include "tollgate/auth.h"
#include "tollgate/quota.h"
#include "tollgate/shard-table.h"

/* One user's counts: fixed windows, a minute and a UTC day (unix seconds
 * of their start), so a reset time is a wall-clock time that survives a
 * restart. The value of a user's entry in the store's table. */
typedef struct tg_quota_entry {
  int64_t minute, day; /* the windows counted */
  uint64_t minute_used, day_used;
  uint64_t lru; /* the shard's clock at the last use */
} tg_quota_entry;

struct tg_quota_store {
  char *path;                  /* the state file, NULL for a private store */
  unsigned refs;               /* configs using it (main thread only) */
  atomic_int dirty;            /* counted since the last write */
  struct tg_quota_store *next; /* the registry */
  tg_shard_table *users;       /* user name -> tg_quota_entry */
};

void tg_quota_store_free(tg_quota_store *s);
/* The entry of user in its shard, locked with tg_shard_table_lock(s->users,
 * user, &h); created (evicting a set's entry whose day is over, else its
 * least recently used one) when create is set, else NULL when absent. */
tg_quota_entry *tg_quota_lookup(tg_quota_store *s, tg_shard *sh, uint64_t h, const char *user, int create);
/* Starts new windows when now has left the counted ones. */
void tg_quota_roll(tg_quota_entry *e, int64_t now);

#endif
