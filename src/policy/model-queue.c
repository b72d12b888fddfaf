/* The per-model queue at the gateway (`balance model`,
 * docs/upstreams.md#balance-model): a request whose model every server
 * that has it is too busy to take waits here, rather than in one server's
 * queue, and goes on the moment a slot frees on a server with the model.
 * Each worker keeps its own queue, oldest first; a waiter looks every
 * POLL_MS whether the choice would find a server now (the ready function
 * the relay gave), the oldest waiter of a model first. The waiters of
 * every worker are counted together per model and per upstream
 * (tollgate/model-stats.h: the choice weighs a model's waiters), and
 * bounded per upstream (`queue N`); one that waits the upstream's `queue
 * ... timeout` gets 503 like the concurrency queue's. A waiting
 * exchange is held by its wait (tg_limit_wait); one whose client disconnects leaves the
 * queue from the close path (tg_policy_exchange_end). */
#include <stdatomic.h>
#include <string.h>

#include "limit-wait.h"
#include "policy.h"
#include "tollgate/metrics.h"
#include "tollgate/model-queue.h"
#include "tollgate/model-stats.h"

#define POLL_MS 10

static __thread tg_limit_wait *head; /* this worker's queue, oldest first */
static __thread tg_limit_wait *tail;
static int (*_Atomic ready_fn)(tg_exchange *x);

static void dequeue(tg_limit_wait *wt) {
  if (wt->prev) wt->prev->next = wt->next;
  else head = wt->next;
  if (wt->next) wt->next->prev = wt->prev;
  else tail = wt->prev;
  wt->next = wt->prev = NULL;
  tg_model_waiting_leave(wt->x->site->upstream->name, wt->x->facts.model);
  tg_metrics_model_queue(wt->x->facts.model, -1);
  uint64_t ms = (uv_hrtime() - wt->t0_ns) / 1000000;
  wt->x->rec.queued_ms = ms ? (uint32_t)ms : 1; /* 0 is "never held" */
}

void tg_model_dequeue(tg_exchange *x, tg_limit_wait *wt) {
  (void)x;
  dequeue(wt);
}

/* Is an older waiter of this worker, before wt, waiting for the same model
 * of the same upstream? */
static int older_same(const tg_limit_wait *wt) {
  const tg_exchange *x = wt->x;
  for (const tg_limit_wait *o = head; o && o != wt; o = o->next)
    if (o->x->site->upstream == x->site->upstream && !strcmp(o->x->facts.model, x->facts.model)) return 1;
  return 0;
}

/* Starts the oldest waiter of each model that a server can take now. Each
 * start may close clients (a failing dial), so the walk begins again. */
static void pump(void) {
  int (*ready)(tg_exchange *) = atomic_load(&ready_fn);
  for (;;) {
    tg_limit_wait *wt = head;
    while (wt && (older_same(wt) || !ready(wt->x))) wt = wt->next;
    if (!wt) return;
    tg_exchange *x = wt->x;
    dequeue(wt);
    tg_limit_wait_end(wt);
    x->w->ops->admitted(x); /* the choice again: it finds the free slot */
  }
}

static void tick(uv_timer_t *t) {
  tg_limit_wait *wt = t->data;
  tg_exchange *x = wt->x;
  int over = tg_deadline_passed(&wt->deadline, tick);
  pump();
  if (x->adm.limit_wait != wt) return; /* started (wt is freed only by its close callback) */
  if (!over) {
    tg_deadline_wake(&wt->deadline, POLL_MS, tick);
    return;
  }
  dequeue(wt);
  tg_limit_wait_end(wt);
  tg_limit_refuse(x, 503, "model_queue_timeout", "model queue timeout",
                  "server busy, please try again.  timed out waiting for a server with the model", 1000);
}

void tg_model_queue_hold(tg_exchange *x, int (*ready)(tg_exchange *x)) {
  atomic_store(&ready_fn, ready);
  const tg_upstream_conf *up = x->site->upstream;
  if (tg_model_waiting_hold(up->name, x->facts.model, up->model.queue_max) < 0) {
    tg_limit_refuse(x, 503, "model_queue_full", "model queue full",
                    "server busy, please try again.  maximum pending requests exceeded", 1000);
    return;
  }
  tg_limit_wait *wt = tg_limit_wait_start(x, TG_WAIT_MODEL, up->model.queue_timeout_ms, tick);
  if (!wt) {
    tg_model_waiting_leave(up->name, x->facts.model);
    return;
  }
  wt->t0_ns = uv_hrtime();
  tg_metrics_model_queue(x->facts.model, 1);
  tg_deadline_wake(&wt->deadline, POLL_MS, tick);
  wt->prev = tail;
  if (tail) tail->next = wt;
  else head = wt;
  tail = wt;
}
