/* The generation cap (`limit concurrency N [per user M]`) counted in the
 * shared store: a slot is a lease, a member of a sorted set per site
 * (PREFIX "conc:" SITE) and per user (... ":u:" USER) scored by its expiry
 * on Redis's clock. A lease lives LEASE_MS and is renewed every RENEW_MS
 * while its exchange runs, so the slots of an instance that died (or lost
 * the store) come back by themselves within LEASE_MS. Expired members are
 * swept by the script that takes a slot.
 *
 * The first try rides on the request's one round trip (the rates' script,
 * rate-shared.c, takes the lease last, for a request it lets through at
 * once). A request that did not get one (the cap full, a delay first,
 * others already waiting here) waits in its worker's FIFO queue as with
 * the local cap (queue.c: the bound Q and the timeout T are per instance);
 * the oldest waiter of each worker asks the store again every POLL_MS, and
 * at once when this worker gives a slot back. Slots are counted across
 * instances; the order is FIFO within a worker.
 *
 * The leases a worker holds are on a list of that thread's (the exchange
 * finds its own at its end). */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limit-wait.h"
#include "policy.h"
#include "tollgate/metrics.h"
#include "tollgate/shared.h"

#define LEASE_MS 10000u
#define RENEW_MS 3000
#define POLL_MS 20
#define KEY_MAX 320

struct tg_lease {
  uv_timer_t renew;
  tg_exchange *x; /* what it is for (held while a take is out; a held lease is given back before x ends) */
  struct tg_lease *next;
  int nkeys;              /* 1, or 2 with the user's */
  unsigned max, user_max; /* N, and M when the user's key is there */
  size_t len[2];
  char keys[2][KEY_MAX];
  char id[33];
};

static _Thread_local tg_lease *held;    /* this worker's leases in use */
static _Thread_local int asking;        /* a queued request's try is in flight */
static _Thread_local uint64_t asked_ms; /* when the last one went */

/* KEYS: the site's lease key [, the user's]; ARGV[1]: "" (Redis's clock)
 * or now; ARGV[2]: the spec. Returns 1 taken, 0 full. */
static const char take_lua[] =
    "local now = tonumber(ARGV[1])\n"
    "if not now then local t = redis.call('TIME') now = t[1] * 1000 + math.floor(t[2] / 1000) end\n" TG_LEASE_LUA
    "return lease(ARGV[2], KEYS[1], KEYS[2], #KEYS, now)\n";

/* KEYS as above; ARGV[1]: the id; ARGV[2]: the lease's time. Moves its
 * expiry on (XX: a lease the store lost is not made again). */
static const char renew_lua[] = "local t = redis.call('TIME')\n"
                                "local exp = t[1] * 1000 + math.floor(t[2] / 1000) + tonumber(ARGV[2])\n"
                                "for i = 1, #KEYS do\n"
                                "  redis.call('ZADD', KEYS[i], 'XX', exp, ARGV[1])\n"
                                "  redis.call('PEXPIRE', KEYS[i], 2 * tonumber(ARGV[2]))\n"
                                "end\n"
                                "return 1\n";

static tg_shared_script take_script, renew_script;
static uv_once_t scripts_once = UV_ONCE_INIT;

static void scripts_init(void) {
  tg_shared_script_init(&take_script, take_lua);
  tg_shared_script_init(&renew_script, renew_lua);
}

static int capped(const tg_exchange *x) {
  const tg_limits_conf *l = x->site->limits;
  return l && l->gen_max && (l->gen_routes & (1u << x->route_kind));
}

tg_lease *tg_lease_new(tg_exchange *x) {
  if (!capped(x)) return NULL;
  uv_once(&scripts_once, scripts_init);
  const tg_limits_conf *l = x->site->limits;
  const tg_shared_conf *sc = x->w->cfg->shared;
  tg_lease *ls = calloc(1, sizeof *ls);
  if (!ls) return NULL;
  ls->x = x;
  ls->max = l->gen_max;
  int n = snprintf(ls->keys[0], KEY_MAX, "%sconc:%s", sc->prefix, x->site->name);
  ls->nkeys = 1;
  if (l->gen_user_max && x->adm.user) { /* anonymous requests share only the site cap, as here */
    ls->user_max = l->gen_user_max;
    int u = snprintf(ls->keys[1], KEY_MAX, "%sconc:%s:u:%s", sc->prefix, x->site->name, x->adm.user);
    if (u < 0 || u >= KEY_MAX) n = -1;
    ls->len[1] = (size_t)u;
    ls->nkeys = 2;
  }
  if (n < 0 || n >= KEY_MAX) {
    free(ls);
    return NULL;
  }
  ls->len[0] = (size_t)n;
  tg_request_id_new(x->w, ls->id); /* 128 random bits: unique across instances */
  return ls;
}

int tg_lease_args(const tg_lease *ls, char *spec, size_t cap, const char **argv, size_t *lens, int at) {
  snprintf(spec, cap, "%s:%u:%u:%u", ls->id, ls->max, ls->user_max, LEASE_MS);
  for (int k = 0; k < ls->nkeys; k++) {
    argv[at + k] = ls->keys[k];
    lens[at + k] = ls->len[k];
  }
  return ls->nkeys;
}

static void renew_reply(void *data, const redisReply *r) {
  (void)data;
  (void)r; /* a renewal lost: the next one, or the lease's time, settles it */
}

static void renew_tick(uv_timer_t *t) {
  tg_lease *ls = t->data;
  tg_shared_conn *s = ls->x->w->shared;
  char ttl[16];
  if (!s) return;
  snprintf(ttl, sizeof ttl, "%u", LEASE_MS);
  const char *argv[4] = {ls->keys[0], ls->keys[1], ls->id, ttl};
  size_t lens[4] = {ls->len[0], ls->len[1], strlen(ls->id), strlen(ttl)};
  if (ls->nkeys == 1) argv[1] = ls->id, lens[1] = lens[2], argv[2] = ttl, lens[2] = lens[3];
  tg_shared_eval(s, &renew_script, ls->nkeys, 2, argv, lens, renew_reply, NULL);
}

void tg_lease_hold(tg_lease *ls) {
  tg_exchange *x = ls->x;
  uv_timer_init(&x->w->loop, &ls->renew);
  ls->renew.data = ls;
  uv_timer_start(&ls->renew, renew_tick, RENEW_MS, RENEW_MS);
  ls->next = held;
  held = ls;
  x->adm.limit_held |= TG_HELD_SHARED;
}

static void give_back(tg_shared_conn *s, const tg_lease *ls) {
  for (int k = 0; s && k < ls->nkeys; k++) {
    const char *argv[3] = {"ZREM", ls->keys[k], ls->id};
    size_t lens[3] = {4, ls->len[k], strlen(ls->id)};
    tg_shared_command(s, 3, argv, lens, renew_reply, NULL); /* not up: the lease's time gives it back */
  }
}

void tg_lease_drop(tg_lease *ls, int granted) {
  if (granted) give_back(ls->x->w->shared, ls);
  free(ls);
}

static void lease_closed(uv_handle_t *h) { free(h->data); }

void tg_lease_release(tg_exchange *x) {
  tg_lease **p = &held;
  while (*p && (*p)->x != x) p = &(*p)->next;
  x->adm.limit_held &= (uint8_t)~TG_HELD_SHARED;
  if (!*p) return;
  tg_lease *ls = *p;
  *p = ls->next;
  give_back(x->w->shared, ls);
  uv_close((uv_handle_t *)&ls->renew, lease_closed);
  asked_ms = 0; /* a slot given back here: the queue asks at once */
}

/* ---- the phase ---- */

/* The store did not answer: on_failure. */
static tg_adm_rc cap_store_failed(tg_exchange *x) {
  tg_shared_failure policy = x->w->cfg->shared->on_failure;
  tg_metrics_shared_fallback((int)policy);
  if (policy == TG_SHARED_OPEN) return TG_ADM_NEXT;
  if (policy == TG_SHARED_LOCAL) return tg_gen_admit_here(x);
  tg_limit_refuse(x, 503, "shared", "shared store", "the generation slot store does not answer, please try again",
                  1000);
  return TG_ADM_DONE;
}

/* A try for one request: the lease asked for, the request held. */
typedef struct take {
  tg_limit_wait w; /* the phase's own try: x->adm.limit_wait (kind TG_WAIT_SHARED) while it is out */
  tg_lease *ls;
  const void *wait; /* the queue entry it was for (compared, never read), or NULL from the phase */
  int in_queue;
} take;

static int granted(const redisReply *r) { return r && r->type == REDIS_REPLY_INTEGER && r->integer == 1; }

static void take_reply(void *data, const redisReply *r) {
  take *tk = data;
  tg_exchange *x = tk->ls->x;
  int alive = tg_exchange_live(x), got = granted(r);
  if (tk->in_queue) {
    asking = 0;
    tg_limit_wait *wt = alive ? x->adm.limit_wait : NULL;
    if (alive && got && wt == tk->wait) { /* still first in line: started */
      tg_gen_dequeue(x, wt);
      tg_limit_wait_end(wt);
      tg_lease_hold(tk->ls);
      tg_admission_resume(x);
    } else tg_lease_drop(tk->ls, got);
  } else if (alive && x->adm.limit_wait == &tk->w) { /* the phase's own try, its exchange still waiting */
    x->adm.limit_wait = NULL;
    if (got) {
      tg_lease_hold(tk->ls);
      tg_admission_resume(x);
    } else {
      tg_lease_drop(tk->ls, 0);
      tg_adm_rc rc = r && r->type == REDIS_REPLY_INTEGER ? tg_gen_enqueue(x) : cap_store_failed(x);
      if (rc == TG_ADM_NEXT) tg_admission_resume(x);
    }
  } else tg_lease_drop(tk->ls, got);
  tg_exchange_release(x);
  free(tk);
}

/* Sends the take script for ls; holds its exchange. Returns 0 or -1. */
static int take_send(tg_lease *ls, const void *wait, int in_queue) {
  take *tk = malloc(sizeof *tk);
  if (!tk) return -1;
  tk->ls = ls, tk->wait = wait, tk->in_queue = in_queue;
  tk->w.x = ls->x, tk->w.kind = TG_WAIT_SHARED;
  char spec[96];
  const char *argv[4];
  size_t lens[4];
  int nl = tg_lease_args(ls, spec, sizeof spec, argv, lens, 0);
  argv[nl] = "", lens[nl] = 0, argv[nl + 1] = spec, lens[nl + 1] = strlen(spec);
  if (tg_shared_eval(ls->x->w->shared, &take_script, nl, 2, argv, lens, take_reply, tk) < 0) {
    free(tk);
    return -1;
  }
  tg_exchange_hold(ls->x);
  if (!in_queue) ls->x->adm.limit_wait = &tk->w;
  return 0;
}

tg_adm_rc tg_gen_shared_admit(tg_exchange *x) {
  if (!capped(x) || (x->adm.limit_held & TG_HELD_SHARED)) return TG_ADM_NEXT; /* none, or taken by the rates' trip */
  if (!tg_shared_conn_up(x->w->shared)) return cap_store_failed(x);
  if (tg_gen_queued_here(x)) return tg_gen_enqueue(x); /* FIFO: behind those already waiting */
  tg_lease *ls = tg_lease_new(x);
  if (!ls) return cap_store_failed(x);
  if (take_send(ls, NULL, 0) < 0) {
    tg_lease_drop(ls, 0);
    return cap_store_failed(x);
  }
  return TG_ADM_AGAIN;
}

void tg_gen_shared_pump(tg_limit_wait *head) {
  tg_exchange *x = head->x;
  uint64_t now = uv_now(&x->w->loop);
  if (asking || now - asked_ms < POLL_MS || !tg_shared_conn_up(x->w->shared)) return;
  tg_lease *ls = tg_lease_new(x);
  if (!ls) return;
  asked_ms = now;
  if (take_send(ls, head, 1) < 0) tg_lease_drop(ls, 0);
  else asking = 1;
}
