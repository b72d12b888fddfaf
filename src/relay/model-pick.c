/* `balance model` on the request path (docs/upstreams.md#balance-model):
 * the choice by the model the body named (read whole before the choice:
 * policy/body-buffer.c), Ollama's 404 when no server lists it, and the
 * queue at the gateway when every server with it is busy. Only an
 * upstream of several servers with `balance model` comes here. */
#include <stdio.h>

#include "tollgate/model-stats.h"

#include "tollgate/model-queue.h"
#include "tollgate/proxy.h"

/* Has c waited its upstream's fairness bound, so that it may make a busy
 * server swap models? */
static int may_swap(const tg_client *c) {
  return uv_hrtime() - c->x->rec.t_start_ns >= c->site->upstream->model.fairness_ms * 1000000ull;
}

/* Would the choice find a server for c now? (the queue's poll: c is held) */
static int model_ready(tg_client *c) {
  tg_pool_group *g = tg_worker_group_for(tg_client_worker(c), c->site->upstream);
  unsigned rr = g->rr;
  tg_model_ask a = {
      .model = c->x->facts.model, .variant = c->x->facts.variant, .may_swap = (uint8_t)may_swap(c), .held = 1};
  int i = tg_servers_choose_model(g->views, g->n, &a, c->x->leg.tried, &rr);
  return i >= 0 || i == TG_MODEL_NOT_FOUND || i == TG_MODEL_NO_SERVER; /* the relay answers those */
}

tg_pool *tg_model_pick(tg_client *c, tg_pool_group *g, int *answered) {
  *answered = 0;
  uint64_t tried = c->x->leg.tried;
  if (c->x->facts.model_state != TG_MODEL_OK) return tg_pool_choose(g, tried); /* no model named: least_conn */
  tg_model_ask a = {.model = c->x->facts.model, .variant = c->x->facts.variant, .may_swap = (uint8_t)may_swap(c)};
  int i = tg_servers_choose_model(g->views, g->n, &a, tried, &g->rr);
  if (i >= 0) {
    tg_model_sent(g->conf->name, c->x->facts.model);
    tg_model_dispatched(g->pools[i].st, &a);
    return &g->pools[i];
  }
  if (tried) return tg_pool_choose(g, tried); /* a failover: whichever server is left, as before */
  if (i == TG_MODEL_NOT_FOUND) {
    char msg[TG_MODEL_MAX + 64];
    snprintf(msg, sizeof msg, "model \"%s\" not found, try pulling it first", c->x->facts.model);
    tg_client_fail(c, 404, msg);
    *answered = 1;
  } else if (i == TG_MODEL_BUSY) {
    tg_model_queue_hold(c, model_ready);
    *answered = 1;
  }
  return NULL;
}

void tg_model_pick_missing(tg_client *c) {
  const tg_pool *p = c->x->leg.pool;
  if (!p || p->conf->nservers < 2 || p->conf->balance != TG_BALANCE_MODEL || c->x->facts.model_state != TG_MODEL_OK)
    return;
  tg_server_forget_model(p->st, c->x->facts.model); /* the health checks read its /api/tags again soon */
}
