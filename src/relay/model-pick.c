/* `balance model` on the request path (docs/upstreams.md#balance-model):
 * the choice by the model the body named (read whole before the choice:
 * policy/body-buffer.c), Ollama's 404 when no server lists it, and the
 * queue at the gateway when every server with it is busy. Only an
 * upstream of several servers with `balance model` comes here. */
#include <stdio.h>

#include "tollgate/affinity.h"
#include "tollgate/model-plan.h"
#include "tollgate/model-stats.h"

#include "tollgate/model-queue.h"
#include "tollgate/proxy.h"

/* Has c waited its upstream's fairness bound, so that it may make a busy
 * server swap models? */
static int may_swap(const tg_exchange *x) {
  return uv_hrtime() - x->rec.t_start_ns >= x->site->upstream->model.fairness_ms * 1000000ull;
}

/* Would the choice find a server for c now? (the queue's poll: c is held) */
static int model_ready(tg_exchange *x) {
  tg_pool_group *g = tg_worker_group_for(x->w, x->site->upstream);
  tg_model_plan_tick(g->conf, g->views, g->n);
  unsigned rr = g->rr;
  tg_model_ask a = {.model = x->facts.model, .variant = x->facts.variant, .may_swap = (uint8_t)may_swap(x), .held = 1};
  int i = tg_servers_choose_model(g->views, g->n, &a, x->leg.tried, &rr);
  return i >= 0 || i == TG_MODEL_NOT_FOUND || i == TG_MODEL_NO_SERVER; /* the relay answers those */
}

/* The prompt's blocks, once, from the body read whole in memory (one in a
 * temporary file is not followed). */
static tg_affinity_req *affinity_of(tg_exchange *x, const tg_upstream_conf *u) {
  if (!x->leg.aff && !x->leg.tried && x->adm.gathered && !x->adm.temp && x->adm.whole.len)
    x->leg.aff = tg_affinity_req_new(u->model.affinity_table, u->model.affinity_slack_ms, x->facts.model,
                                     x->adm.whole.data, x->adm.whole.len);
  return x->leg.aff;
}

tg_pool *tg_model_pick(tg_exchange *x, tg_pool_group *g, int *answered) {
  *answered = 0;
  uint64_t tried = x->leg.tried;
  if (x->facts.model_state != TG_MODEL_OK) return tg_pool_choose(g, tried); /* no model named: least_conn */
  tg_model_plan_tick(g->conf, g->views, g->n);
  tg_model_ask a = {.model = x->facts.model,
                    .variant = x->facts.variant,
                    .may_swap = (uint8_t)may_swap(x),
                    .aff = affinity_of(x, g->conf)};
  int i = tg_servers_choose_model(g->views, g->n, &a, tried, &g->rr);
  if (i >= 0) {
    tg_affinity_sent(a.aff, g->pools[i].st, x->facts.model, x->facts.variant);
    tg_model_sent(g->conf->name, x->facts.model);
    tg_model_dispatched(g->pools[i].st, &a);
    return &g->pools[i];
  }
  if (tried) return tg_pool_choose(g, tried); /* a failover: whichever server is left, as before */
  if (i == TG_MODEL_NOT_FOUND) {
    char msg[TG_MODEL_MAX + 64];
    snprintf(msg, sizeof msg, "model \"%s\" not found, try pulling it first", x->facts.model);
    tg_exchange_fail(x, 404, msg);
    *answered = 1;
  } else if (i == TG_MODEL_BUSY) {
    tg_model_queue_hold(x, model_ready);
    *answered = 1;
  }
  return NULL;
}

void tg_model_pick_missing(tg_exchange *x) {
  const tg_pool *p = x->leg.pool;
  if (!p || p->conf->nservers < 2 || p->conf->balance != TG_BALANCE_MODEL || x->facts.model_state != TG_MODEL_OK)
    return;
  tg_server_forget_model(p->st, x->facts.model); /* the health checks read its /api/tags again soon */
}
