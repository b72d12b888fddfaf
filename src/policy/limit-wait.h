/* Internal to src/policy: a client waiting on the loop for a limit (a
 * rate-limit delay, or a place in a generation queue). The wait holds the
 * client (c->hold) until its timer's close callback, so a client that
 * disconnects meanwhile is never used after free. */
#ifndef TG_POLICY_LIMIT_WAIT_H
#define TG_POLICY_LIMIT_WAIT_H

#include "tollgate/limits.h"
#include "tollgate/proxy.h"

enum { TG_WAIT_DELAY, TG_WAIT_QUEUE, TG_WAIT_MODEL };
enum { TG_HELD_CONN = 1, TG_HELD_GEN = 2, TG_HELD_USER = 4 };

typedef struct tg_limit_wait {
  tg_deadline deadline; /* when the wait ends (a delay's end, a queue's timeout); its timer.data is the wait */
  tg_client *c;
  int kind;                          /* TG_WAIT_* */
  struct tg_limit_wait *next, *prev; /* the worker's queue */
  uint64_t t0_ns;                    /* when it began (a model queue's queued_ms) */
} tg_limit_wait;

/* Starts a wait on c's loop: holds c, sets c->x->adm.limit_wait, sets the
 * wait's deadline to ms with cb (which starts with tg_deadline_passed). */
tg_limit_wait *tg_limit_wait_start(tg_client *c, int kind, uint64_t ms, uv_timer_cb cb);
/* Ends a wait: c->x->adm.limit_wait cleared, the timer closed; the hold is given
 * back from the close callback. */
void tg_limit_wait_end(tg_limit_wait *wt);
/* Answers a limit refusal: status, message, Retry-After (rounded up to
 * seconds, at least 1), counted in tollgate_refusals_total{layer="limit",
 * reason}; `by` (a static string such as "rate per ip") names the limit in
 * the access log's refused_by. */
void tg_limit_refuse(tg_client *c, int status, const char *reason, const char *by, const char *message,
                     uint64_t retry_ms);
/* queue.c: takes c out of its worker's queue. */
void tg_gen_dequeue(tg_client *c, tg_limit_wait *wt);
/* model-queue.c: the same for the per-model queue. */
void tg_model_dequeue(tg_client *c, tg_limit_wait *wt);

#endif
