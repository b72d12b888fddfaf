/* Internal to src/policy: a client waiting on the loop for a limit (a
 * rate-limit delay, or a place in a generation queue). The wait holds its
 * exchange (tg_exchange_hold) until its timer's close callback, so an
 * exchange whose client disconnects meanwhile is never used after free. */
#ifndef TG_POLICY_LIMIT_WAIT_H
#define TG_POLICY_LIMIT_WAIT_H

#include "tollgate/limits.h"
#include "tollgate/proxy.h"

/* TG_WAIT_SHARED: a round trip to the shared store (rate-shared.c), whose
 * reply ends it; its timer is not used. */
/* TG_WAIT_MODEL: a place in a model's queue at the gateway (model-queue.c). */
enum { TG_WAIT_DELAY, TG_WAIT_QUEUE, TG_WAIT_SHARED, TG_WAIT_MODEL };
enum { TG_HELD_CONN = 1, TG_HELD_GEN = 2, TG_HELD_USER = 4, TG_HELD_SHARED = 8 /* a lease (gen-shared.c) */ };

typedef struct tg_limit_wait {
  tg_deadline deadline; /* when the wait ends (a delay's end, a queue's timeout); its timer.data is the wait */
  tg_exchange *x;       /* held */
  int kind;             /* TG_WAIT_* */
  struct tg_limit_wait *next, *prev; /* the worker's queue */
  uint64_t t0_ns;                    /* when it began (a model queue's queued_ms) */
} tg_limit_wait;

/* Starts a wait on x's loop: holds x, sets x->adm.limit_wait, sets the
 * wait's deadline to ms with cb (which starts with tg_deadline_passed). */
tg_limit_wait *tg_limit_wait_start(tg_exchange *x, int kind, uint64_t ms, uv_timer_cb cb);
/* Ends a wait: x->adm.limit_wait cleared, the timer closed; the hold is given
 * back from the close callback. */
void tg_limit_wait_end(tg_limit_wait *wt);
/* Answers a limit refusal: status, message, Retry-After (rounded up to
 * seconds, at least 1), counted in tollgate_refusals_total{layer="limit",
 * reason}; `by` (a static string such as "rate per ip") names the limit in
 * the access log's refused_by. */
void tg_limit_refuse(tg_exchange *x, int status, const char *reason, const char *by, const char *message,
                     uint64_t retry_ms);
/* Holds x (and its client) for ms, then resumes its admission after the rate phase:
 * TG_ADM_AGAIN, or TG_ADM_DONE after answering 500 (out of memory). */
tg_adm_rc tg_limit_delay(tg_exchange *x, uint64_t ms);

#define TG_RATE_MESSAGE "rate limit exceeded, please slow down"
/* The access log's refused_by of a rate rule ("rate per ip"). */
const char *tg_rate_refused_by(const tg_rate_rule *r);
/* `limit rate` counted in this instance alone (limits.c): the phase
 * without a shared store, and its `on_failure local`. */
tg_adm_rc tg_rate_local(tg_exchange *x);
/* A key in the shared store (rate-shared.c), into out: rule i's bucket for
 * key (PREFIX "rate:" SITE ":" i ":" KEY), or the user's quota when i < 0
 * (PREFIX "quota:" SITE ":" USER). Returns its length, or -1 (no room). */
int tg_shared_key(char *out, size_t cap, const tg_exchange *x, long i, const char *key);
/* `limit rate` counted in the shared store (rate-shared.c): one round trip
 * (AGAIN, holding its exchange) for every rule the request falls under. */
tg_adm_rc tg_rate_shared_admit(tg_exchange *x);

/* inspect.c: x's quota counted here: 429 and 1 when it is used up, else 0. */
int tg_quota_refuse_here(tg_exchange *x);
/* inspect.c: 429 for x's quota, whose window (the day when per_day, the
 * minute when 0, guessed when -1) ends in ms. */
void tg_quota_refuse_until(tg_exchange *x, int per_day, uint64_t ms);
/* quota-shared.c: counts tokens against x's user's quota in the shared
 * store (the reply notes a quota used up); -1 when the store is not up
 * (the caller counts them here). */
int tg_quota_charge_shared(tg_exchange *x, uint64_t tokens);

/* ---- the generation cap in the shared store (gen-shared.c) ----
 * A slot is a lease: a member of a sorted set per site (and per user for
 * `per user M`) scored by its expiry, renewed while the exchange runs, so
 * that the slots of an instance that died come back by themselves. */

/* Lua shared by the scripts that take a lease: lease_keys(spec) (1 or 2
 * keys) and lease(spec, site key, user key, nkeys, now) (1 taken, 0 full);
 * spec is "ID:N:M:TTL_MS". */
#define TG_LEASE_LUA                                                                                                   \
  "local function lease_keys(spec)\n"                                                                                  \
  "  local m = tonumber(string.match(spec, '^[^:]+:%d+:(%d+):%d+$'))\n"                                                \
  "  if m and m > 0 then return 2 end\n"                                                                               \
  "  return 1\n"                                                                                                       \
  "end\n"                                                                                                              \
  "local function lease(spec, ks, ku, nl, now)\n"                                                                      \
  "  local id, n, m, ttl = string.match(spec, '^([^:]+):(%d+):(%d+):(%d+)$')\n"                                        \
  "  n, m, ttl = tonumber(n), tonumber(m), tonumber(ttl)\n"                                                            \
  "  redis.call('ZREMRANGEBYSCORE', ks, '-inf', now)\n"                                                                \
  "  if redis.call('ZCARD', ks) >= n then return 0 end\n"                                                              \
  "  if nl > 1 then\n"                                                                                                 \
  "    redis.call('ZREMRANGEBYSCORE', ku, '-inf', now)\n"                                                              \
  "    if redis.call('ZCARD', ku) >= m then return 0 end\n"                                                            \
  "    redis.call('ZADD', ku, now + ttl, id)\n"                                                                        \
  "    redis.call('PEXPIRE', ku, 2 * ttl)\n"                                                                           \
  "  end\n"                                                                                                            \
  "  redis.call('ZADD', ks, now + ttl, id)\n"                                                                          \
  "  redis.call('PEXPIRE', ks, 2 * ttl)\n"                                                                             \
  "  return 1\n"                                                                                                       \
  "end\n"

typedef struct tg_lease tg_lease;
/* A lease for x when its route is under the site's generation cap: its
 * keys and a new id, not taken yet (NULL: not capped, or no memory). */
tg_lease *tg_lease_new(tg_exchange *x);
/* Writes the lease's spec ("ID:N:M:TTL_MS") into out; appends its keys to
 * argv/lens from index at. Returns the number of keys (1 or 2). */
int tg_lease_args(const tg_lease *l, char *spec, size_t cap, const char **argv, size_t *lens, int at);
/* The store granted it: x holds the slot (TG_HELD_SHARED), renewed until
 * the exchange ends. */
void tg_lease_hold(tg_lease *l);
/* Not taken up: freed, and given back to the store when it was granted
 * (the exchange went away meanwhile). */
void tg_lease_drop(tg_lease *l, int granted);
/* The exchange of x ends: its lease is given back to the store. */
void tg_lease_release(tg_exchange *x);
/* The generation cap's phase with a shared store (queue.c calls it). */
tg_adm_rc tg_gen_shared_admit(tg_exchange *x);
/* queue.c, for a shared store: starts the oldest waiter when the store
 * grants it a slot (one try in flight per worker). */
void tg_gen_shared_pump(tg_limit_wait *head);
/* queue.c: is another request for x's cap already waiting here? */
int tg_gen_queued_here(const tg_exchange *x);
/* queue.c: puts x in its worker's queue (AGAIN), or refuses it when the
 * queue is full (DONE). */
tg_adm_rc tg_gen_enqueue(tg_exchange *x);
/* queue.c: the generation cap counted here (the phase without a shared
 * store, and on_failure local). */
tg_adm_rc tg_gen_admit_here(tg_exchange *x);

/* queue.c: takes x out of its worker's queue. */
void tg_gen_dequeue(tg_exchange *x, tg_limit_wait *wt);
/* model-queue.c: the same for the per-model queue. */
void tg_model_dequeue(tg_exchange *x, tg_limit_wait *wt);

#endif
