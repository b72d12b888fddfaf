/* The generation cap: `limit concurrency N [per user M] queue Q timeout T`.
 * The slots in use are one atomic count per site, shared by the workers;
 * the per-user counts live in a sharded table. A request that finds no
 * free slot waits in its worker's FIFO queue (Q bounds the waiting
 * requests over every worker, through a second atomic count). A slot given
 * back wakes its own worker's queue at once; the other workers' queues
 * look again every POLL_MS, so a freed slot is taken within that time
 * whichever worker holds the oldest waiter (the order is FIFO within a
 * worker, not strictly across workers). A waiting exchange is held by its
 * wait: one whose client disconnects leaves the queue from the close path
 * (tg_policy_exchange_end). */
#include <stdatomic.h>
#include <stdlib.h>

#include "limit-wait.h"
#include "policy.h"
#include "tollgate/metrics.h"

#define POLL_MS 10

struct tg_gen_cap {
  _Atomic unsigned active; /* slots taken */
  _Atomic unsigned queued; /* requests waiting, every worker */
};

typedef struct limits_worker {
  tg_limit_wait *head, *tail; /* the queue, oldest first */
} limits_worker;

static const char busy_msg[] = "server busy, please try again.  maximum pending requests exceeded";

tg_gen_cap *tg_gen_cap_new(void) { return calloc(1, sizeof(tg_gen_cap)); }

void tg_gen_cap_free(tg_gen_cap *k) { free(k); }

static limits_worker *worker_of(tg_worker *w) {
  if (!w->limits) w->limits = calloc(1, sizeof(limits_worker));
  return w->limits;
}

void tg_limits_worker_free(tg_worker *w) {
  free(w->limits);
  w->limits = NULL;
}

/* Takes a user slot and a site slot for c; returns 1, or 0 (nothing taken). */
static int take_slot(tg_exchange *x, const tg_limits_conf *l) {
  if (l->gen_user_max && x->adm.user) { /* anonymous requests share only the site cap */
    int rc = tg_limit_count_take(l->user_table, x->adm.user, l->gen_user_max);
    if (rc == 0) return 0;
    if (rc == 1) x->adm.limit_held |= TG_HELD_USER;
  }
  unsigned a = atomic_load(&l->cap->active);
  while (a < l->gen_max)
    if (atomic_compare_exchange_weak(&l->cap->active, &a, a + 1)) {
      x->adm.limit_held |= TG_HELD_GEN;
      return 1;
    }
  if (x->adm.limit_held & TG_HELD_USER) tg_limit_count_give(l->user_table, x->adm.user);
  x->adm.limit_held &= (uint8_t)~TG_HELD_USER;
  return 0;
}

void tg_gen_dequeue(tg_exchange *x, tg_limit_wait *wt) {
  limits_worker *lw = x->w->limits;
  if (wt->prev) wt->prev->next = wt->next;
  else lw->head = wt->next;
  if (wt->next) wt->next->prev = wt->prev;
  else lw->tail = wt->prev;
  wt->next = wt->prev = NULL;
  atomic_fetch_sub(&x->site->limits->cap->queued, 1);
  tg_metrics_queued(-1);
}

/* Starts the oldest waiters that can take a slot now. Each start may close
 * clients (a failing dial), so the walk begins again from the head. With a
 * shared store the head asks the store (gen-shared.c), which starts it. */
static void queue_pump(limits_worker *lw) {
  if (lw->head && lw->head->x->w->shared) return tg_gen_shared_pump(lw->head);
  for (;;) {
    tg_limit_wait *wt = lw->head;
    while (wt && !take_slot(wt->x, wt->x->site->limits)) wt = wt->next;
    if (!wt) return;
    tg_exchange *x = wt->x;
    tg_gen_dequeue(x, wt);
    tg_limit_wait_end(wt);
    tg_admission_resume(x);
  }
}

/* A waiter's timer: every POLL_MS (tg_deadline_wake) until its deadline,
 * the queue's timeout. */
static void queue_tick(uv_timer_t *t) {
  tg_limit_wait *wt = t->data;
  tg_exchange *x = wt->x;
  int over = tg_deadline_passed(&wt->deadline, queue_tick);
  queue_pump(x->w->limits);
  if (x->adm.limit_wait != wt) return; /* started (wt is freed only by its close callback) */
  if (!over) {
    tg_deadline_wake(&wt->deadline, POLL_MS, queue_tick);
    return;
  }
  tg_gen_dequeue(x, wt);
  tg_limit_wait_end(wt);
  tg_limit_refuse(x, 503, "queue_timeout", "concurrency queue timeout",
                  "server busy, please try again.  timed out waiting in the queue", 1000);
}

/* Is another request for the same cap already waiting in this worker? */
static int queued_ahead(const limits_worker *lw, const tg_limits_conf *l) {
  for (const tg_limit_wait *wt = lw->head; wt; wt = wt->next)
    if (wt->x->site->limits == l) return 1;
  return 0;
}

int tg_gen_queued_here(const tg_exchange *x) {
  const limits_worker *lw = x->w->limits;
  return lw && queued_ahead(lw, x->site->limits);
}

tg_adm_rc tg_gen_admit(tg_exchange *x) {
  if (x->w->shared) return tg_gen_shared_admit(x);
  return tg_gen_admit_here(x);
}

tg_adm_rc tg_gen_admit_here(tg_exchange *x) {
  const tg_limits_conf *l = x->site->limits;
  if (!l || !l->gen_max || !(l->gen_routes & (1u << x->route_kind))) return TG_ADM_NEXT;
  limits_worker *lw = worker_of(x->w);
  if (!lw) {
    tg_exchange_fail(x, 500, "out of memory");
    return TG_ADM_DONE;
  }
  if (!queued_ahead(lw, l) && take_slot(x, l)) return TG_ADM_NEXT;
  return tg_gen_enqueue(x);
}

tg_adm_rc tg_gen_enqueue(tg_exchange *x) {
  const tg_limits_conf *l = x->site->limits;
  limits_worker *lw = worker_of(x->w);
  if (!lw) {
    tg_exchange_fail(x, 500, "out of memory");
    return TG_ADM_DONE;
  }
  if (atomic_fetch_add(&l->cap->queued, 1) >= l->gen_queue) {
    atomic_fetch_sub(&l->cap->queued, 1);
    tg_limit_refuse(x, 503, "queue_full", "concurrency queue full", busy_msg, 1000);
    return TG_ADM_DONE;
  }
  tg_metrics_queued(1);
  tg_limit_wait *wt = tg_limit_wait_start(x, TG_WAIT_QUEUE, l->gen_timeout_ms, queue_tick);
  if (!wt) {
    atomic_fetch_sub(&l->cap->queued, 1);
    tg_metrics_queued(-1);
    return TG_ADM_DONE;
  }
  tg_deadline_wake(&wt->deadline, POLL_MS, queue_tick);
  wt->prev = lw->tail;
  if (lw->tail) lw->tail->next = wt;
  else lw->head = wt;
  lw->tail = wt;
  return TG_ADM_AGAIN;
}

void tg_gen_release(tg_exchange *x) {
  const tg_limits_conf *l = x->site->limits;
  if (x->adm.limit_held & TG_HELD_SHARED) tg_lease_release(x);
  if (x->adm.limit_held & TG_HELD_USER) tg_limit_count_give(l->user_table, x->adm.user);
  if (x->adm.limit_held & TG_HELD_GEN) atomic_fetch_sub(&l->cap->active, 1);
  x->adm.limit_held &= (uint8_t) ~(TG_HELD_GEN | TG_HELD_USER);
  limits_worker *lw = x->w->limits;
  if (lw && lw->head) tg_deadline_wake(&lw->head->deadline, 0, queue_tick); /* on the next loop turn */
}
