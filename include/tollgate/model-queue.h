/* The per-model queue at the gateway of `balance model`
 * (src/policy/model-queue.c, docs/upstreams.md#balance-model). */
#ifndef TOLLGATE_MODEL_QUEUE_H
#define TOLLGATE_MODEL_QUEUE_H

typedef struct tg_exchange tg_exchange;

/* Holds x (its model, x->facts.model, named; every server with it busy)
 * until ready(x) says the choice would find a server, then hands it to the
 * relay again (w->ops->admitted); answers 503 when the upstream's queue is
 * full (`queue N`) or its timeout passes (`queue N timeout D`). The access log's queued_ms says how long it waited. */
void tg_model_queue_hold(tg_exchange *x, int (*ready)(tg_exchange *x));

#endif
