/* Abuse control and route policy (src/policy/limit*.c, queue.c, cors.c,
 * src/config/limit-directives.c; docs/limits.md):
 *
 *   limit-table.c  the bounded, sharded state tables (striped locks, LRU
 *                  eviction inside small sets) and nginx's leaky bucket
 *   limits.c       the limits' admission phases (the order is in
 *                  admission.c): trusted proxies, per-route body limits,
 *                  admin routes, connection and rate limits
 *   queue.c        the generation cap: a shared atomic count, per-worker
 *                  FIFO queues, the queue timeout
 *   cors.c         CORS decided at the edge: preflights and response headers
 *
 * The configuration (tg_limits_conf) is built at load, read-only afterwards,
 * except the tables and counters it points to, which worker threads share
 * through striped locks and atomics (never one global lock). */
#ifndef TOLLGATE_LIMITS_H
#define TOLLGATE_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#include "tollgate/admission.h"
#include "tollgate/buf.h"

typedef struct tg_client tg_client;
typedef struct tg_worker tg_worker;
typedef struct tg_shard_table tg_limit_table; /* tollgate/shard-table.h */

typedef enum tg_limit_key { TG_LIMIT_BY_IP, TG_LIMIT_BY_USER } tg_limit_key;

#define TG_LIMIT_NODELAY UINT64_MAX
#define TG_LIMIT_RATES_MAX 16 /* `limit rate` lines per site (one shared-store script evaluates them all) */

/* `limit rate R [burst N] [nodelay|delay N] per ip|user [on ROUTES...]`,
 * in nginx's units: milli-requests. */
typedef struct tg_rate_rule {
  uint64_t rate;  /* milli-requests per second (5r/s = 5000) */
  uint64_t burst; /* milli-requests (burst 10 = 10000) */
  uint64_t delay; /* excess passed without delay; TG_LIMIT_NODELAY, default 0 */
  tg_limit_key key;
  unsigned routes; /* bit (1u << tg_route_kind) per route kind it applies to */
  tg_limit_table *table;
} tg_rate_rule;

/* The shared side of a generation cap. */
typedef struct tg_gen_cap tg_gen_cap;

typedef struct tg_cidr {
  uint8_t addr[16]; /* IPv4 as ::ffff:a.b.c.d */
  unsigned bits;    /* prefix length over the 128-bit form */
} tg_cidr;

typedef struct tg_cors_conf {
  char **origins; /* "https://a.example", "*.example.org" (any scheme), "*" */
  size_t norigins;
  int credentials;
  char *expose;       /* Access-Control-Expose-Headers value, or NULL */
  char *methods;      /* Access-Control-Allow-Methods; default "GET, POST, PUT, DELETE, HEAD, OPTIONS" */
  char *headers;      /* Access-Control-Allow-Headers, NULL = echo the request's */
  uint64_t max_age_s; /* Access-Control-Max-Age; default 600 */
} tg_cors_conf;

typedef struct tg_limits_conf {
  int status; /* `limit_status`: the refusal status of rate and conn limits; default 429 */
  tg_rate_rule *rates;
  size_t nrates;
  unsigned conn; /* `limit conn N per ip`: requests in flight per address; 0 = none */
  tg_limit_table *conn_table;
  /* `limit concurrency N [per user M] [queue Q] [timeout T] [on ROUTES...]` */
  unsigned gen_max;        /* 0 = no cap */
  unsigned gen_user_max;   /* 0 = no per-user cap */
  unsigned gen_queue;      /* waiting requests, over every worker */
  uint64_t gen_timeout_ms; /* longest wait in the queue; default 30 s */
  unsigned gen_routes;
  tg_gen_cap *cap;
  tg_limit_table *user_table;
  /* `admins NAME...;` */
  char **admins;
  size_t nadmins;
  /* `trusted_proxies CIDR...;` */
  tg_cidr *trusted;
  size_t ntrusted;
  tg_cors_conf *cors;            /* `cors { ... }`, or NULL */
  struct tg_models_conf *models; /* `models USER NAME...;` lines (tollgate/quota.h), or NULL */
  struct tg_quota_conf *quota;   /* `quota tokens ...;` and `quota_state` (tollgate/quota.h), or NULL */
} tg_limits_conf;

/* The generation routes, the default of `on`: generate, chat, embed, openai. */
unsigned tg_limit_default_routes(void);

tg_limits_conf *tg_limits_conf_new(void);
void tg_limits_conf_free(tg_limits_conf *l);
/* Creates the tables and counters the rules need (at the end of a site's
 * load). Returns 0 or -1 (out of memory). */
int tg_limits_conf_finish(tg_limits_conf *l);

/* --- admission phases (limits.c; the order is admission.c's) --- */

/* The client address: the peer's, or with trusted proxies the one their
 * Forwarded or X-Forwarded-For names. */
tg_adm_rc tg_policy_address(tg_exchange *x);
/* The body limit of the request's route (or site): 413 for a declared
 * Content-Length over it (a chunked body is refused as it arrives, relay.c). */
tg_adm_rc tg_policy_body_size(tg_exchange *x);
/* Admin routes: 403 unless x's user is one of `admins`. */
tg_adm_rc tg_policy_admin(tg_exchange *x);
/* `limit conn`: takes one of the address's requests in flight, or refuses. */
tg_adm_rc tg_policy_conn(tg_exchange *x);
/* `limit rate`: refuses, or lets through now, or after a delay (AGAIN,
 * holding its exchange). */
tg_adm_rc tg_policy_rate(tg_exchange *x);
/* The exchange of x is over (logged): gives back what it held (its
 * connection count, its generation slot, its place in a queue). */
void tg_policy_exchange_end(tg_exchange *x);
/* The response is complete (the relay calls it before its last bytes go to
 * the client): the quota is charged and the connection count and
 * generation slot given back, so that a client sending its next request the
 * moment it has the answer, on any worker, finds them free. */
void tg_policy_response_done(tg_exchange *x);
/* Frees what a worker keeps (at worker exit). */
void tg_limits_worker_free(tg_worker *w);

/* --- tables and the leaky bucket (limit-table.c) --- */

/* A table of at most about `entries` keys (rounded to whole sets; a key
 * longer than 71 bytes is not counted). */
tg_limit_table *tg_limit_table_new(size_t entries);
void tg_limit_table_free(tg_limit_table *t);

/* nginx's limit_req over one key: returns 0 when the request passes (with
 * *delay_ms, 0 for at once) or 1 when refused (with *retry_ms, when the
 * next request would pass). now_ms on a monotonic clock. A table full of
 * keys in use lets the request pass. */
int tg_limit_rate_check(const tg_rate_rule *r, const char *key, uint64_t now_ms, uint64_t *delay_ms,
                        uint64_t *retry_ms);
/* The bucket itself, for one key's state (pure): excess in milli-requests,
 * last in ms; fresh for a key seen for the first time. */
int tg_leaky_bucket(const tg_rate_rule *r, int64_t *excess, uint64_t *last, int fresh, uint64_t now_ms,
                    uint64_t *delay_ms, uint64_t *retry_ms);
/* A count per key (connections, generations): takes one when fewer than
 * max are taken (returns 1), else returns 0; -1 when the table has no room
 * (not counted). */
int tg_limit_count_take(tg_limit_table *t, const char *key, unsigned max);
void tg_limit_count_give(tg_limit_table *t, const char *key);

/* --- `limit rate` in the shared store (rate-shared.c) --- */

/* The Lua script that checks a request's token quota and counts it
 * against each of its rules' buckets (KEYS: the quota's key when ARGV[2]
 * is not "", then the buckets; ARGV: "now" in ms or "" for Redis's TIME,
 * "per_minute:per_day" or "", then rate, burst and delay (-1 for nodelay)
 * per bucket, in milli-requests; returns {0, delay_ms}, {1, i, retry_ms}
 * with i from 1, or {2, 1 minute | 2 day, ms to the window's end}):
 * nginx's limit_req as tg_leaky_bucket computes it. */
const struct tg_shared_script *tg_rate_shared_script(void);
/* The script that charges tokens to a user's quota (quota-shared.c):
 * KEYS[1] the user's key; ARGV "now" or "", tokens, "per_minute:per_day";
 * returns {0, 0} or {1 | 2, ms until the used-up window ends}. */
const struct tg_shared_script *tg_quota_charge_script(void);

/* --- addresses (limits.c) --- */

/* Parses "10.0.0.0/8", "::1", "fd00::/8". Returns 0 or -1. */
int tg_cidr_parse(const char *s, tg_cidr *out);
/* Is the textual address ip inside one of the n ranges? */
int tg_cidr_match(const tg_cidr *v, size_t n, const char *ip);
/* The client address from X-Forwarded-For values (comma-separated, oldest
 * first): the rightmost address that is not a trusted proxy, written into
 * out. Returns 1 when one was found, 0 otherwise. */
int tg_xff_client(const tg_cidr *v, size_t n, const char *xff, size_t len, char *out, size_t cap);

/* --- the generation cap (queue.c) --- */

tg_gen_cap *tg_gen_cap_new(void);
void tg_gen_cap_free(tg_gen_cap *k);
/* Admission phase: on the capped routes, takes a slot for x, or queues it
 * (AGAIN, holding its exchange, resumed when a slot is x's; 503 when the queue is
 * full or the wait times out). */
tg_adm_rc tg_gen_admit(tg_exchange *x);
/* Gives x's slot back (and wakes this worker's queue), or takes x out of
 * the queue. */
void tg_gen_release(tg_exchange *x);

/* --- CORS (cors.c) --- */

/* Does the origin (n bytes) match the policy? */
int tg_cors_origin_allowed(const tg_cors_conf *cc, const char *origin, size_t n);
/* Admission phase: a preflight (OPTIONS with Origin and
 * Access-Control-Request-Method) under a CORS policy is answered (204 or
 * 403: DONE); anything else goes on. */
tg_adm_rc tg_cors_preflight(tg_exchange *x);
/* The response head in out (written by tg_rewrite_response): the
 * upstream's Access-Control-* fields removed, the edge's added when the
 * request's Origin is allowed. Returns 0 or -1. */
int tg_cors_response(const tg_exchange *x, tg_buf *out);
/* Appends the CORS header lines for x's Origin (each ending in CRLF) to
 * out, for gateway-made answers. Returns 0 or -1. */
int tg_cors_lines(const tg_exchange *x, tg_buf *out);
/* Removes from a written head every field whose name starts with prefix
 * (ASCII case ignored). */
void tg_head_out_remove_prefix(tg_buf *out, const char *prefix);

#endif
