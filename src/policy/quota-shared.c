/* Token quotas counted in the shared store (tollgate/shared.h): per user,
 * one counter per UTC minute and one per UTC day, on Redis's clock, each
 * expiring a minute after its window ends. The check is part of the
 * rates' round trip at admission (rate-shared.c); this file charges the
 * tokens an exchange used, when its response is complete, with one
 * script (INCRBY both windows, PEXPIREAT their ends). The charge is not
 * on any request's path: its reply only notes a quota used up (the user's
 * key over until its window ends), so that the user's next requests are
 * refused with no round trip. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limit-wait.h"
#include "policy.h"
#include "tollgate/quota.h"
#include "tollgate/shared.h"

/* KEYS[1]: the user's quota key; ARGV[1]: "now" in ms or "" for TIME;
 * ARGV[2]: tokens; ARGV[3]: "per_minute:per_day". Returns {0, 0}, or
 * {1 the minute | 2 the day, ms until it ends} when a window is used up. */
static const char charge_lua[] =
    "local now = tonumber(ARGV[1])\n"
    "if not now then local t = redis.call('TIME') now = t[1] * 1000 + math.floor(t[2] / 1000) end\n"
    "local n = tonumber(ARGV[2])\n"
    "local pm, pd = string.match(ARGV[3], '^(%d+):(%d+)$')\n"
    "pm, pd = tonumber(pm), tonumber(pd)\n"
    "local day, minute = now - now % 86400000, now - now % 60000\n"
    "local kd, km = KEYS[1] .. ':d:' .. day, KEYS[1] .. ':m:' .. minute\n"
    "local d = redis.call('INCRBY', kd, n)\n"
    "redis.call('PEXPIREAT', kd, day + 86400000 + 60000)\n"
    "local m = redis.call('INCRBY', km, n)\n"
    "redis.call('PEXPIREAT', km, minute + 60000 + 60000)\n"
    "if pd > 0 and d >= pd then return {2, day + 86400000 - now} end\n"
    "if pm > 0 and m >= pm then return {1, minute + 60000 - now} end\n"
    "return {0, 0}\n";

static tg_shared_script charge_script;
static uv_once_t charge_once = UV_ONCE_INIT;

static void charge_script_init(void) { tg_shared_script_init(&charge_script, charge_lua); }

const tg_shared_script *tg_quota_charge_script(void) {
  uv_once(&charge_once, charge_script_init);
  return &charge_script;
}

/* One charge in flight: the connection it went on and the user's key. */
typedef struct charge {
  tg_shared_conn *s;
  size_t len;
  char key[];
} charge;

static void charged(void *data, const redisReply *r) {
  charge *ch = data;
  /* NULL: lost (the tokens are not counted anywhere; a store that does
   * not answer loses the charges in flight, as a restarted one loses all) */
  if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_INTEGER &&
      r->element[0]->integer > 0 && r->element[1]->type == REDIS_REPLY_INTEGER && r->element[1]->integer > 0)
    tg_shared_over_note(ch->s, ch->key, ch->len, tg_auth_now_ms() + (uint64_t)r->element[1]->integer);
  free(ch);
}

int tg_quota_charge_shared(tg_exchange *x, uint64_t tokens) {
  tg_shared_conn *s = x->w->shared;
  const tg_quota_conf *q = x->site->limits->quota;
  if (!tg_shared_conn_up(s)) return -1;
  char key[512], n[24], limits[48];
  int kn = tg_shared_key(key, sizeof key, x, -1, x->adm.user);
  if (kn < 0) return -1;
  snprintf(n, sizeof n, "%llu", (unsigned long long)tokens);
  snprintf(limits, sizeof limits, "%llu:%llu", (unsigned long long)q->per_minute, (unsigned long long)q->per_day);
  charge *ch = malloc(sizeof *ch + (size_t)kn + 1);
  if (!ch) return -1;
  ch->s = s;
  ch->len = (size_t)kn;
  memcpy(ch->key, key, (size_t)kn + 1);
  const char *argv[4] = {ch->key, "", n, limits};
  size_t lens[4] = {(size_t)kn, 0, strlen(n), strlen(limits)};
  if (tg_shared_eval(s, tg_quota_charge_script(), 1, 3, argv, lens, charged, ch) < 0) {
    free(ch);
    return -1;
  }
  return 0;
}
