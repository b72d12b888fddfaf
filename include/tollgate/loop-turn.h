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
 * again at once, in the same turn. */
#ifndef TOLLGATE_LOOP_TURN_H
#define TOLLGATE_LOOP_TURN_H

#include <stdint.h>
#include <uv.h>

typedef struct tg_loop_turn {
  uv_prepare_t before;
  uv_check_t after;
  uint64_t n; /* odd while the turn's poll callbacks run */
} tg_loop_turn;

/* Starts counting on loop (it cannot fail: both handles only fill in). */
void tg_loop_turn_start(uv_loop_t *loop, tg_loop_turn *t);
/* Closes both handles (before the loop closes). */
void tg_loop_turn_close(tg_loop_turn *t);

/* Is the loop running the callbacks of its turn's poll? */
static inline int tg_loop_turn_polling(const tg_loop_turn *t) { return (int)(t->n & 1); }

#endif
