/* The batch planner of `balance model` (src/upstream/model-plan.c,
 * docs/upstreams.md#the-batch-planner): which model each server of an
 * upstream serves, decided from the requests held per model at the
 * gateway, not per request. A server the planner gave a model (its
 * target) takes requests for that model only; one whose target changes
 * stops taking its old model's requests, finishes the ones it runs and
 * loads the new one for the next request. The per-request choice
 * (model-route.c) reads the target with tg_model_plan_says; the ticks run
 * from the requests of the upstream (each new one, each held one's poll),
 * at most every TG_PLAN_TICK_MS. Process-wide, keyed by server state. */
#ifndef TOLLGATE_MODEL_PLAN_H
#define TOLLGATE_MODEL_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "tollgate/servers.h"

#define TG_PLAN_TICK_MS 20u
#define TG_PLAN_BATCH_LOADS 5u /* a batch: this many loads, unless the fairness bound is shorter */

/* One server as a decision sees it. */
typedef struct tg_plan_server {
  const char *catalogue; /* its models, each ended by '\n'; NULL: not known (it takes none) */
  const char *current;   /* the model it serves (its target, else the one loaded); "" none */
  unsigned slots, in_flight;
  uint64_t held_ms; /* how long it has served current */
  uint64_t load_ms; /* a load there */
  uint8_t eligible; /* up, not draining, not a backup */
} tg_plan_server;

/* One model with requests held for it. */
typedef struct tg_plan_model {
  const char *model;
  unsigned waiting;   /* held at the gateway now */
  uint64_t waited_ms; /* since its queue was last empty */
  uint64_t run_ms;    /* a request's run */
} tg_plan_model;

/* The one switch to make now, if any: server *server to model *model
 * (indexes into s and m). 1 when there is one, 0 when none. A batch is
 * TG_PLAN_BATCH_LOADS of the server's loads, at most fairness_ms. A
 * server switches only once its last switch's load and a run have passed
 * (fresh), and to a model with requests held, when
 *   - it serves nothing; or none is held for its model, and the model's
 *     queue would wait at least a load even with this server's slots, or
 *     the model has no home and waited a batch or the server is idle;
 *   - its model has another home and the model's queue waited a batch:
 *     the model has no home, or (the server having served a batch) the
 *     model's queue would wait more than a load longer than its model's
 *     would without it;
 *   - the model has no home, its queue waited a batch and the server
 *     served one, or its queue waited fairness_ms (time-sharing).
 * A second copy of a model never takes the only home of a model with
 * requests held. Of several, a model with no home first, then the order
 * above, the longest wait, the fewest held for the server's model. */
int tg_plan_decide(const tg_plan_server *s, unsigned ns, const tg_plan_model *m, unsigned nm, uint64_t fairness_ms,
                   unsigned *server, unsigned *model);

/* One tick of the planner over an upstream's servers (its views, in the
 * order of its config): targets adopted from what is loaded, then at most
 * one switch. Skipped when the upstream's last tick is under
 * TG_PLAN_TICK_MS old. */
void tg_model_plan_tick(const tg_upstream_conf *up, const tg_server_view *v, unsigned n);

/* What the plan says of model on st: -1 nothing (no target: the
 * per-request rules decide), 1 its target is model, 0 its target is
 * another model. */
int tg_model_plan_says(const tg_server_state *st, const char *model);

#endif
