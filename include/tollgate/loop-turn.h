/* Which turn of its loop a worker is in, and whether it is handling the
 * events of the turn's poll.
 *
 * libuv's loop on Linux polls once a turn (epoll_wait, level-triggered)
 * and then runs the callbacks of the events that poll returned. So while
 * those callbacks run, a socket whose read callback has not run yet in
 * this turn was not readable when the turn polled (or is still to be
 * handled in this turn's batch). The upstream pool uses that to skip the
 * recv(MSG_PEEK) it would spend on a pooled connection before reuse
 * (src/upstream/pool.c: tg_pool_acquire).
 *
 * A prepare handle (just before the poll) and a check handle (just after
 * its callbacks) each add one to the count: it is odd while the poll's
 * callbacks run, even in the rest of the turn (timers, deferred callbacks,
 * closes). Neither handle keeps the loop alive. One exception libuv
 * makes: when one poll returns 1,024 events (its batch size) it polls
 * again at once, in the same turn.
 *
 * Work can also wait for the end of the poll's callbacks (tg_loop_turn_defer):
 * the check handle runs it, in the order it was queued, once every
 * callback of this turn's poll has run. The pool holds a request with a
 * body there before it writes it on a pooled connection, so that the
 * connection's EOF or stray bytes, if this poll found any, are read first
 * (src/upstream/pool.c). */
#ifndef TOLLGATE_LOOP_TURN_H
#define TOLLGATE_LOOP_TURN_H

#include <stdint.h>
#include <uv.h>

/* Work that waits for the end of a turn's poll callbacks: embedded in its
 * owner, which finds itself from it. */
typedef struct tg_turn_task tg_turn_task;
struct tg_turn_task {
  tg_turn_task *next, *prev;
  void (*run)(tg_turn_task *task);
  uint8_t queued;
};

typedef struct tg_loop_turn {
  uv_prepare_t before;
  uv_check_t after;
  uint64_t n;                /* odd while the turn's poll callbacks run */
  tg_turn_task *head, *tail; /* waiting for the check handle, oldest first */
} tg_loop_turn;

/* Starts counting on loop (it cannot fail: both handles only fill in). */
void tg_loop_turn_start(uv_loop_t *loop, tg_loop_turn *t);
/* Closes both handles (before the loop closes). */
void tg_loop_turn_close(tg_loop_turn *t);

/* Queues task: run(task) once this turn's poll callbacks have all run (in
 * the check handle, after the count has moved on: not polling then). Call
 * it only while polling (tg_loop_turn_polling): otherwise the next poll,
 * which may block, comes first. A queued task is not queued twice. */
void tg_loop_turn_defer(tg_loop_turn *t, tg_turn_task *task, void (*run)(tg_turn_task *task));
/* Takes task off the queue when it is on it (its owner goes away). */
void tg_loop_turn_cancel(tg_loop_turn *t, tg_turn_task *task);

/* Is the loop running the callbacks of its turn's poll? */
static inline int tg_loop_turn_polling(const tg_loop_turn *t) { return (int)(t->n & 1); }

#endif
