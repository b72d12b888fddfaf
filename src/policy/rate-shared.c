/* `limit rate` counted in the shared store (tollgate/shared.h): every
 * instance that names the same Redis and prefix keeps one bucket per key.
 *
 * The bucket is nginx's limit_req, exactly as limit-table.c computes it
 * (tg_leaky_bucket): an excess in milli-requests and the time it was last
 * accounted, which is GCRA's state written nginx's way, so the answers,
 * delays and Retry-After are the local limiter's to the millisecond. It
 * runs in one Lua script for all the rules a request falls under (one
 * round trip however many), on Redis's clock (TIME), so the instances'
 * clocks do not matter. Each key expires by itself once its excess has
 * drained, when it is the same as a key never seen.
 *
 * A key refused is remembered on the connection until the time it would
 * pass again (tg_shared_over_note): until then the same key is refused
 * here with no round trip. Only the first rule a request falls under is
 * looked up there, since a request the first rule lets through charges it
 * before a later one refuses (as the local limiter does).
 *
 * While the store cannot answer, the shared block's on_failure decides:
 * local (tg_rate_local), open, or closed (503). */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limit-wait.h"
#include "policy.h"
#include "tollgate/metrics.h"
#include "tollgate/quota.h"
#include "tollgate/shared.h"

/* KEYS: the user's quota key first when ARGV[2] is not "", then a bucket
 * per rule, then the generation cap's lease keys when ARGV[3] is not ""
 * (the site's, and the user's when the spec's M is not 0); ARGV[1]: "now"
 * in ms for the tests, "" for Redis's TIME; ARGV[2]: "per_minute:per_day"
 * (0 for none) or ""; ARGV[3]: a lease "ID:N:M:TTL_MS" or ""; then rate,
 * burst (both in milli-requests) and delay (-1 for nodelay) per rule. The
 * quota is checked first, the lease taken last and only for a request let
 * through at once (the local order: quota, rates, then the cap). Returns
 * {0, delay_ms, 1 when the lease was taken}, {1, i, retry_ms} (rule i from
 * 1) or {2, 1 for the minute | 2 for the day, ms until its window ends}. */
static const char rate_lua[] =
    "local now = tonumber(ARGV[1])\n"
    "if not now then local t = redis.call('TIME') now = t[1] * 1000 + math.floor(t[2] / 1000) end\n" TG_LEASE_LUA
    "local nl = 0\n"
    "if ARGV[3] ~= '' then nl = lease_keys(ARGV[3]) end\n"
    "local k0 = 0\n"
    "if ARGV[2] ~= '' then\n"
    "  k0 = 1\n"
    "  local pm, pd = string.match(ARGV[2], '^(%d+):(%d+)$')\n"
    "  pm, pd = tonumber(pm), tonumber(pd)\n"
    "  local day, minute = now - now % 86400000, now - now % 60000\n"
    "  if pd > 0 and tonumber(redis.call('GET', KEYS[1] .. ':d:' .. day) or '0') >= pd then\n"
    "    return {2, 2, day + 86400000 - now}\n"
    "  end\n"
    "  if pm > 0 and tonumber(redis.call('GET', KEYS[1] .. ':m:' .. minute) or '0') >= pm then\n"
    "    return {2, 1, minute + 60000 - now}\n"
    "  end\n"
    "end\n"
    "local delay = 0\n"
    "for i = 1, #KEYS - k0 - nl do\n"
    "  local key = KEYS[i + k0]\n"
    "  local rate, burst, dl = tonumber(ARGV[3*i+1]), tonumber(ARGV[3*i+2]), tonumber(ARGV[3*i+3])\n"
    "  local ex, last = 0, now\n"
    "  local s = redis.call('GET', key)\n"
    "  if s then\n"
    "    local e0, l0 = string.match(s, '^(%d+):(%d+)$')\n"
    "    e0, last = tonumber(e0), tonumber(l0)\n"
    "    local ms = now - last\n"
    "    if ms < 0 then ms = 0 end\n"
    "    ex = e0 - math.floor(rate * ms / 1000) + 1000\n"
    "    if ex < 0 then ex = 0 end\n"
    "    if ex > burst then\n"
    "      local wait = math.floor(((e0 + 1000 - burst) * 1000 + rate - 1) / rate) - ms\n"
    "      if wait < 1 then wait = 1 end\n"
    "      return {1, i, wait}\n"
    "    end\n"
    "    if ms > 0 then last = now end\n"
    "  end\n"
    "  redis.call('SET', key, ex .. ':' .. last, 'PX', math.floor((ex + 1000) * 1000 / rate) + 1000)\n"
    "  if dl >= 0 and ex > dl then\n"
    "    local d = math.floor((ex - dl) * 1000 / rate)\n"
    "    if d > delay then delay = d end\n"
    "  end\n"
    "end\n"
    "local leased = 0\n"
    "if nl > 0 and delay == 0 then leased = lease(ARGV[3], KEYS[#KEYS - nl + 1], KEYS[#KEYS], nl, now) end\n"
    "return {0, delay, leased}\n";

static tg_shared_script rate_script;
static uv_once_t rate_once = UV_ONCE_INIT;

static void rate_script_init(void) { tg_shared_script_init(&rate_script, rate_lua); }

const tg_shared_script *tg_rate_shared_script(void) {
  uv_once(&rate_once, rate_script_init);
  return &rate_script;
}

/* The round trip of one request: a wait of kind TG_WAIT_SHARED (holding
 * its exchange), freed by its reply; the keys sent (the quota's first when quota is
 * set) and the rule of each bucket, for the refused key's note. */
typedef struct rate_ask {
  tg_limit_wait w;
  int quota;                               /* keys[0] is the user's quota key */
  tg_lease *lease;                         /* the generation cap's slot asked for, or NULL */
  uint8_t rule[TG_LIMIT_RATES_MAX];        /* the rule of bucket i */
  uint16_t key_at[TG_LIMIT_RATES_MAX + 2]; /* key k is keys[key_at[k] .. key_at[k + 1]) */
  char keys[];
} rate_ask;

#define KEYS_MAX 4096

int tg_shared_key(char *out, size_t cap, const tg_exchange *x, long i, const char *key) {
  const tg_shared_conf *sc = x->w->cfg->shared;
  int n = i < 0 ? snprintf(out, cap, "%squota:%s:%s", sc->prefix, x->site->name, key)
                : snprintf(out, cap, "%srate:%s:%ld:%s", sc->prefix, x->site->name, i, key);
  return n > 0 && (size_t)n < cap ? n : -1;
}

/* This instance alone: the quota, then the rates. */
static tg_adm_rc count_here(tg_exchange *x) {
  if (x->adm.quota_on && tg_quota_refuse_here(x)) return TG_ADM_DONE;
  return x->site->limits->nrates ? tg_rate_local(x) : TG_ADM_NEXT;
}

/* The store did not answer (down, slow, an error): the on_failure policy. */
static tg_adm_rc store_failed(tg_exchange *x) {
  tg_shared_failure policy = x->w->cfg->shared->on_failure;
  tg_metrics_shared_fallback((int)policy);
  switch (policy) {
  case TG_SHARED_OPEN: return TG_ADM_NEXT;
  case TG_SHARED_CLOSED:
    tg_limit_refuse(x, 503, "shared", "shared store", "the rate limit store does not answer, please try again", 1000);
    return TG_ADM_DONE;
  default: return count_here(x);
  }
}

static const char *key_of(const rate_ask *a, int k, size_t *len) {
  *len = (size_t)(a->key_at[k + 1] - a->key_at[k]);
  return a->keys + a->key_at[k];
}

/* Refuses c for the quota (which window: 1 the minute, 2 the day) for ms
 * more, and remembers the user's key over until then. */
static tg_adm_rc quota_over(tg_exchange *x, const rate_ask *a, long long which, uint64_t ms) {
  size_t len;
  const char *key = key_of(a, 0, &len);
  tg_shared_over_note(x->w->shared, key, len, tg_auth_now_ms() + ms);
  tg_quota_refuse_until(x, which == 2, ms);
  return TG_ADM_DONE;
}

/* The script's answer for the exchange still waiting on it. */
static tg_adm_rc rate_answer(tg_exchange *x, const rate_ask *a, const redisReply *r) {
  const tg_limits_conf *l = x->site->limits;
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2 || r->element[0]->type != REDIS_REPLY_INTEGER ||
      r->element[1]->type != REDIS_REPLY_INTEGER)
    return store_failed(x);
  long long verdict = r->element[0]->integer, v1 = r->element[1]->integer;
  long long ms = r->elements > 2 && r->element[2]->type == REDIS_REPLY_INTEGER ? r->element[2]->integer : 0;
  if (verdict == 0 && a->lease && ms == 1) { /* the cap's slot is c's (ms: the lease's flag here) */
    tg_lease_hold(a->lease);
    ((rate_ask *)a)->lease = NULL;
  }
  if (verdict == 0) return v1 > 0 ? tg_limit_delay(x, (uint64_t)v1) : TG_ADM_NEXT;
  if (verdict == 2 && a->quota && ms > 0) return quota_over(x, a, v1, (uint64_t)ms);
  long long i = v1 - 1, k = i + a->quota;
  if (verdict != 1 || i < 0 || i >= TG_LIMIT_RATES_MAX || !a->key_at[k + 1] || ms < 1) return store_failed(x);
  size_t len;
  const char *key = key_of(a, (int)k, &len);
  tg_shared_over_note(x->w->shared, key, len, tg_auth_now_ms() + (uint64_t)ms);
  tg_limit_refuse(x, l->status, "rate", tg_rate_refused_by(&l->rates[a->rule[i]]), TG_RATE_MESSAGE, (uint64_t)ms);
  return TG_ADM_DONE;
}

/* Did the script grant the lease it was asked for? */
static int lease_granted(const rate_ask *a, const redisReply *r) {
  return a->lease && r && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
         r->element[0]->type == REDIS_REPLY_INTEGER && r->element[0]->integer == 0 &&
         r->element[2]->type == REDIS_REPLY_INTEGER && r->element[2]->integer == 1;
}

static void rate_reply(void *data, const redisReply *r) {
  rate_ask *a = data;
  tg_exchange *x = a->w.x;
  if (tg_exchange_live(x) && x->adm.limit_wait == &a->w) {
    x->adm.limit_wait = NULL;
    if (rate_answer(x, a, r) == TG_ADM_NEXT) tg_admission_resume(x);
  }
  if (a->lease) tg_lease_drop(a->lease, lease_granted(a, r)); /* not taken up: one granted is given back */
  tg_exchange_release(x);
  free(a);
}

/* Appends key k (the quota's when i < 0, else rule i's for key) to a and
 * argv. Returns 0 or -1 (no room). */
static int add_key(tg_exchange *x, rate_ask *a, int k, long i, const char *key, const char **argv, size_t *lens) {
  size_t at = a->key_at[k];
  int kn = tg_shared_key(a->keys + at, KEYS_MAX - at, x, i, key);
  if (kn < 0) return -1;
  argv[k] = a->keys + at;
  lens[k] = (size_t)kn;
  a->key_at[k + 1] = (uint16_t)(at + (size_t)kn);
  return 0;
}

/* The keys of c's quota (when it counts against one) and of the rules it
 * falls under, into a and argv, with each rule's numbers in num. Returns
 * the number of rules, or -1. */
static int collect(tg_exchange *x, rate_ask *a, const char **argv, size_t *lens, char (*num)[24]) {
  const tg_limits_conf *l = x->site->limits;
  unsigned bit = 1u << x->route_kind;
  int n = 0;
  a->key_at[0] = 0;
  a->quota = x->adm.quota_on && l->quota;
  if (a->quota && add_key(x, a, 0, -1, x->adm.user, argv, lens) < 0) return -1;
  for (size_t i = 0; i < l->nrates; i++) {
    const tg_rate_rule *r = &l->rates[i];
    const char *key = r->key == TG_LIMIT_BY_IP ? x->ip : x->adm.user;
    if (!(r->routes & bit) || !key) continue; /* nginx: an empty key is not limited */
    if (add_key(x, a, a->quota + n, (long)i, key, argv, lens) < 0) return -1;
    a->rule[n] = (uint8_t)i;
    snprintf(num[3 * n], sizeof num[0], "%llu", (unsigned long long)r->rate);
    snprintf(num[3 * n + 1], sizeof num[0], "%llu", (unsigned long long)r->burst);
    snprintf(num[3 * n + 2], sizeof num[0], "%lld", r->delay == TG_LIMIT_NODELAY ? -1LL : (long long)r->delay);
    n++;
  }
  return n;
}

/* The arguments after the nkeys keys: "" (Redis's clock), the quota
 * ("per_minute:per_day" or ""), the lease's spec (or ""), then each rule's
 * three numbers. Returns their number. */
static int arguments(const tg_exchange *x, const rate_ask *a, int nkeys, int n, const char **argv, size_t *lens,
                     char (*num)[24], char *quota, size_t qcap, const char *spec) {
  const tg_quota_conf *q = x->site->limits->quota;
  quota[0] = 0;
  if (a->quota) snprintf(quota, qcap, "%llu:%llu", (unsigned long long)q->per_minute, (unsigned long long)q->per_day);
  argv[nkeys] = "";
  lens[nkeys] = 0;
  argv[nkeys + 1] = quota;
  lens[nkeys + 1] = strlen(quota);
  argv[nkeys + 2] = spec;
  lens[nkeys + 2] = strlen(spec);
  for (int k = 0; k < 3 * n; k++) {
    argv[nkeys + 3 + k] = num[k];
    lens[nkeys + 3 + k] = strlen(num[k]);
  }
  return 3 + 3 * n;
}

/* A key known over its limit: refused with no round trip. The user's
 * quota, then the first rule (a request the first rule lets through is
 * charged by it, even when a later one refuses). Returns 1 when refused. */
static int known_over(tg_exchange *x, const rate_ask *a, int n) {
  tg_shared_conn *s = x->w->shared;
  const tg_limits_conf *l = x->site->limits;
  uint64_t now = tg_auth_now_ms(), until;
  size_t len;
  const char *key;
  if (a->quota && (key = key_of(a, 0, &len), until = tg_shared_over_until(s, key, len, now))) {
    tg_quota_refuse_until(x, -1, until - now);
    return 1;
  }
  if (!n || !(key = key_of(a, a->quota, &len), until = tg_shared_over_until(s, key, len, now))) return 0;
  tg_limit_refuse(x, l->status, "rate", tg_rate_refused_by(&l->rates[a->rule[0]]), TG_RATE_MESSAGE, until - now);
  return 1;
}

_Static_assert(1 + TG_LIMIT_RATES_MAX + 2 + 3 + 3 * TG_LIMIT_RATES_MAX <= TG_SHARED_EVAL_MAX,
               "a request's quota key, buckets, lease keys and their arguments fit in one script call");

tg_adm_rc tg_rate_shared_admit(tg_exchange *x) {
  tg_shared_conn *s = x->w->shared;
  const char *argv[TG_SHARED_EVAL_MAX];
  size_t lens[TG_SHARED_EVAL_MAX];
  char num[3 * TG_LIMIT_RATES_MAX][24], quota[48], spec[96] = "";
  rate_ask *a = malloc(sizeof *a + KEYS_MAX);
  if (!a) return store_failed(x);
  int n = collect(x, a, argv, lens, num), nl = 0;
  /* the cap's slot asked for in the same round trip, unless others wait for it here (FIFO) */
  a->lease = n >= 0 && !tg_gen_queued_here(x) ? tg_lease_new(x) : NULL;
  if (a->lease) nl = tg_lease_args(a->lease, spec, sizeof spec, argv, lens, a->quota + n);
  tg_adm_rc rc = n < 0 ? store_failed(x) : n + a->quota + nl == 0 ? TG_ADM_NEXT : TG_ADM_AGAIN;
  if (rc == TG_ADM_AGAIN && known_over(x, a, n)) rc = TG_ADM_DONE;
  if (rc != TG_ADM_AGAIN) {
    if (a->lease) tg_lease_drop(a->lease, 0);
    free(a);
    return rc;
  }
  int nkeys = a->quota + n + nl, nargs = arguments(x, a, nkeys, n, argv, lens, num, quota, sizeof quota, spec);
  a->w.x = x;
  a->w.kind = TG_WAIT_SHARED;
  if (tg_shared_eval(s, tg_rate_shared_script(), nkeys, nargs, argv, lens, rate_reply, a) < 0) {
    if (a->lease) tg_lease_drop(a->lease, 0);
    free(a);
    return store_failed(x);
  }
  tg_exchange_hold(x);
  x->adm.limit_wait = &a->w;
  return TG_ADM_AGAIN;
}
