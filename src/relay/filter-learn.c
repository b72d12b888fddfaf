/* What `balance model` learns from an answer that passes through
 * (docs/upstreams.md#balance-model): at the end of a model's answer from
 * a server of an upstream with several (any balance: the loads are
 * counted in the server's metrics too), its `load_duration` and
 * `total_duration` (read by the token scanner, which runs first) go into
 * the learned figures (tollgate/model-stats.h), and a long load_duration
 * marks the model loaded there before the next /api/ps says so. Passes
 * everything on unchanged. */
#include "tollgate/affinity.h"
#include "tollgate/model-stats.h"
#include "tollgate/proxy.h"
#include "tollgate/resp-filter.h"

static int learn_wanted(const tg_exchange *x, const tg_resp_head *h) {
  const tg_pool *p = x->leg.pool;
  return p && p->conf->nservers > 1 && h->status == 200 && x->facts.model_state == TG_MODEL_OK;
}

static int learn_end(tg_exchange *x, unsigned at, const char *failure) {
  tg_pool *p = x->leg.pool;
  if (!failure && p && p->st) {
    tg_model_learned(p->st, x->facts.model, x->facts.load_ns, x->facts.total_ns);
    if (x->facts.load_ns >= TG_MODEL_LOADED_NS) tg_server_note_loaded(p->st, x->facts.model);
    tg_affinity_learned(x->leg.aff, p->st, x->facts.prompt_tokens, x->facts.prompt_cached, x->facts.prompt_eval_ns);
  }
  return tg_resp_pass_end(x, at + 1, failure);
}

const tg_resp_filter tg_filter_learn = {learn_wanted, NULL, NULL, NULL, NULL, learn_end};
