/* The per-model queue at the gateway of `balance model`
 * (src/policy/model-queue.c, docs/upstreams.md#balance-model). */
#ifndef TOLLGATE_MODEL_QUEUE_H
#define TOLLGATE_MODEL_QUEUE_H

typedef struct tg_client tg_client;

#define MODEL_QUEUE_MAX 1024          /* requests held at once, every model and worker */
#define MODEL_QUEUE_TIMEOUT_MS 30000u /* held longer: 503 */

/* Holds c (its model, c->x->facts.model, named; every server with it busy)
 * until ready(c) says the choice would find a server, then hands it to the
 * relay again (w->ops->admitted); answers 503 when the queue is full or its
 * timeout passes. The access log's queued_ms says how long it waited. */
void tg_model_queue_hold(tg_client *c, int (*ready)(tg_client *c));

#endif
