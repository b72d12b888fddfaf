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
#include "tollgate/shared.h"

/* KEYS[i]: a rule's bucket; ARGV[1]: "now" in ms for the tests, "" for
 * Redis's TIME; then rate, burst (both in milli-requests) and delay (-1
 * for nodelay) per key. Returns {0, delay_ms} or {1, i, retry_ms}. */
static const char rate_lua[] =
    "local now = tonumber(ARGV[1])\n"
    "if not now then local t = redis.call('TIME') now = t[1] * 1000 + math.floor(t[2] / 1000) end\n"
    "local delay = 0\n"
    "for i = 1, #KEYS do\n"
    "  local rate, burst, dl = tonumber(ARGV[3*i-1]), tonumber(ARGV[3*i]), tonumber(ARGV[3*i+1])\n"
    "  local ex, last = 0, now\n"
    "  local s = redis.call('GET', KEYS[i])\n"
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
    "  redis.call('SET', KEYS[i], ex .. ':' .. last, 'PX', math.floor((ex + 1000) * 1000 / rate) + 1000)\n"
    "  if dl >= 0 and ex > dl then\n"
    "    local d = math.floor((ex - dl) * 1000 / rate)\n"
    "    if d > delay then delay = d end\n"
    "  end\n"
    "end\n"
    "return {0, delay}\n";

static tg_shared_script rate_script;
static uv_once_t rate_once = UV_ONCE_INIT;

static void rate_script_init(void) { tg_shared_script_init(&rate_script, rate_lua); }

const tg_shared_script *tg_rate_shared_script(void) {
  uv_once(&rate_once, rate_script_init);
  return &rate_script;
}

/* The round trip of one request: a wait of kind TG_WAIT_SHARED (holding
 * c), freed by its reply; the rule of each key sent, and the keys (for the
 * refused key's note). */
typedef struct rate_ask {
  tg_limit_wait w;
  uint8_t rule[TG_LIMIT_RATES_MAX];
  uint16_t key_at[TG_LIMIT_RATES_MAX + 1]; /* key i is keys[key_at[i] .. key_at[i + 1]) */
  char keys[];
} rate_ask;

#define KEYS_MAX 4096

/* The bucket's key of rule i for key: PREFIX "rate:" SITE ":" i ":" KEY. */
static int bucket_key(char *out, size_t cap, const tg_client *c, size_t i, const char *key) {
  const tg_shared_conf *sc = tg_client_worker(c)->cfg->shared;
  int n = snprintf(out, cap, "%srate:%s:%zu:%s", sc->prefix, c->site->name, i, key);
  return n > 0 && (size_t)n < cap ? n : -1;
}

/* The store did not answer (down, slow, an error): the on_failure policy. */
static tg_adm_rc store_failed(tg_client *c) {
  tg_shared_failure policy = tg_client_worker(c)->cfg->shared->on_failure;
  tg_metrics_shared_fallback((int)policy);
  switch (policy) {
  case TG_SHARED_OPEN: return TG_ADM_NEXT;
  case TG_SHARED_CLOSED:
    tg_limit_refuse(c, 503, "shared", "shared store", "the rate limit store does not answer, please try again", 1000);
    return TG_ADM_DONE;
  default: return tg_rate_local(c);
  }
}

/* The script's answer for the exchange still waiting on it. */
static tg_adm_rc rate_answer(tg_client *c, const rate_ask *a, const redisReply *r) {
  const tg_limits_conf *l = c->site->limits;
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2 || r->element[0]->type != REDIS_REPLY_INTEGER ||
      r->element[1]->type != REDIS_REPLY_INTEGER)
    return store_failed(c);
  long long delay = r->element[1]->integer;
  if (r->element[0]->integer == 0) return delay > 0 ? tg_limit_delay(c, (uint64_t)delay) : TG_ADM_NEXT;
  long long i = r->element[1]->integer - 1, retry = r->elements > 2 ? r->element[2]->integer : 1000;
  if (i < 0 || i >= TG_LIMIT_RATES_MAX || !a->key_at[i + 1] || retry < 1) return store_failed(c);
  tg_shared_over_note(tg_client_worker(c)->shared, a->keys + a->key_at[i], (size_t)(a->key_at[i + 1] - a->key_at[i]),
                      tg_auth_now_ms() + (uint64_t)retry);
  tg_limit_refuse(c, l->status, "rate", tg_rate_refused_by(&l->rates[a->rule[i]]), TG_RATE_MESSAGE, (uint64_t)retry);
  return TG_ADM_DONE;
}

static void rate_reply(void *data, const redisReply *r) {
  rate_ask *a = data;
  tg_client *c = a->w.c;
  if (c->state != TG_C_CLOSING && c->x.adm.limit_wait == &a->w) {
    c->x.adm.limit_wait = NULL;
    if (rate_answer(c, a, r) == TG_ADM_NEXT) tg_admission_resume(c);
  }
  tg_client_release(c);
  free(a);
}

/* The keys of the rules c falls under, written into a; their count. */
static int collect(tg_client *c, rate_ask *a, const char **argv, size_t *lens, char (*num)[24]) {
  const tg_limits_conf *l = c->site->limits;
  unsigned bit = 1u << c->x.route_kind;
  int n = 0;
  size_t at = 0;
  for (size_t i = 0; i < l->nrates; i++) {
    const tg_rate_rule *r = &l->rates[i];
    const char *key = r->key == TG_LIMIT_BY_IP ? c->ip : c->x.adm.user;
    if (!(r->routes & bit) || !key) continue; /* nginx: an empty key is not limited */
    int kn = bucket_key(a->keys + at, KEYS_MAX - at, c, i, key);
    if (kn < 0) return -1;
    a->rule[n] = (uint8_t)i;
    a->key_at[n] = (uint16_t)at;
    argv[n] = a->keys + at;
    lens[n] = (size_t)kn;
    at += (size_t)kn;
    snprintf(num[3 * n], sizeof num[0], "%llu", (unsigned long long)r->rate);
    snprintf(num[3 * n + 1], sizeof num[0], "%llu", (unsigned long long)r->burst);
    snprintf(num[3 * n + 2], sizeof num[0], "%lld", r->delay == TG_LIMIT_NODELAY ? -1LL : (long long)r->delay);
    n++;
  }
  a->key_at[n] = (uint16_t)at;
  return n;
}

/* Moves the arguments after the n keys: "" (Redis's clock), then each
 * rule's three numbers. */
static int arguments(int n, const char **argv, size_t *lens, char (*num)[24]) {
  argv[n] = "";
  lens[n] = 0;
  for (int k = 0; k < 3 * n; k++) {
    argv[n + 1 + k] = num[k];
    lens[n + 1 + k] = strlen(num[k]);
  }
  return 1 + 3 * n;
}

tg_adm_rc tg_rate_shared_admit(tg_client *c) {
  tg_shared_conn *s = tg_client_worker(c)->shared;
  const char *argv[4 * TG_LIMIT_RATES_MAX + 1];
  size_t lens[4 * TG_LIMIT_RATES_MAX + 1];
  char num[3 * TG_LIMIT_RATES_MAX][24];
  rate_ask *a = malloc(sizeof *a + KEYS_MAX);
  if (!a) return store_failed(c);
  int n = collect(c, a, argv, lens, num);
  if (n <= 0) {
    free(a);
    return n == 0 ? TG_ADM_NEXT : store_failed(c);
  }
  uint64_t now = tg_auth_now_ms(), until = tg_shared_over_until(s, argv[0], lens[0], now);
  if (until) { /* the first rule's key is over its limit until then: no round trip */
    const tg_limits_conf *l = c->site->limits;
    tg_limit_refuse(c, l->status, "rate", tg_rate_refused_by(&l->rates[a->rule[0]]), TG_RATE_MESSAGE, until - now);
    free(a);
    return TG_ADM_DONE;
  }
  int nargs = arguments(n, argv, lens, num);
  a->w.c = c;
  a->w.kind = TG_WAIT_SHARED;
  if (tg_shared_eval(s, tg_rate_shared_script(), n, nargs, argv, lens, rate_reply, a) < 0) {
    free(a);
    return store_failed(c);
  }
  c->hold++;
  c->x.adm.limit_wait = &a->w;
  return TG_ADM_AGAIN;
}
