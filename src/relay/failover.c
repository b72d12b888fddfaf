/* Failover before the first response byte (docs/upstreams.md#failover):
 * a dial that fails, a connection closed or reset before any response
 * byte, Ollama's 503 (busy), or a 404 for a model another server has,
 * sends the request to the next server the choice gives, up to
 * TG_FAILOVER_MAX servers per request. Never for model management (pull,
 * push, create, copy, delete: TG_ROUTE_ADMIN), and, once the request has
 * gone up, only when it can be sent again: it has no body, or its body was
 * read whole before dialling. */
#include "tollgate/proxy.h"

#define TG_FAILOVER_MAX 4

/* Could the request go to another server now? sent: the request (or part
 * of it) went to the last one. */
int tg_failover_can(tg_exchange *x, int sent) {
  if (x->resp_head_sent || x->route_kind == TG_ROUTE_ADMIN || x->leg.attempts >= TG_FAILOVER_MAX) return 0;
  if (sent && x->req_framing != TG_FRAME_NONE && !x->adm.gathered) return 0;
  tg_pool_group *g = tg_worker_group_for(x->w, x->site->upstream);
  return g && g->n > 1 && tg_servers_any(g->views, g->n, x->leg.tried);
}

/* A 404 is worth another server when the request names a model that some
 * server not tried yet lists. */
static int model_elsewhere(tg_exchange *x) {
  if (x->facts.model_state != TG_MODEL_OK) return 0;
  tg_pool_group *g = tg_worker_group_for(x->w, x->site->upstream);
  for (unsigned i = 0; g && i < g->n; i++)
    if (!(x->leg.tried >> i & 1) && tg_server_has_model(g->pools[i].st, x->facts.model) == 1) return 1;
  return 0;
}

int tg_failover_on_answer(tg_exchange *x, int status) {
  if (status != 503 && status != 404) return 0;
  if (status == 404) tg_model_pick_missing(x); /* before model_elsewhere: not this server */
  if (!tg_failover_can(x, 1)) return 0;
  return status == 503 || model_elsewhere(x);
}

void tg_failover_go(tg_exchange *x, const char *why) {
  const tg_pool *p = x->leg.pool;
  tg_log(TG_LOG_WARN, x->request_id[0] ? x->request_id : NULL, "upstream %s: server %s %s: trying another",
         p->conf->name, p->addr_text, why);
  tg_server_failover(p->st);
  tg_relay_abort(x);
  tg_relay_start(x);
}
