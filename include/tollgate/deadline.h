/* A deadline on one libuv timer that moves lazily.
 *
 * Setting a deadline at or after the time the timer is armed for only
 * records it; when the timer fires early, it re-arms for the recorded one.
 * A shorter deadline restarts the timer at once; stopping only clears the
 * record. So a connection whose deadlines move forward with every request
 * or read (keep-alive, head, body, idle) touches libuv's timer heap about
 * once a timeout period, not several times a request.
 *
 * The timer is its owner's one timer, and its callback the owner's: it
 * begins with `if (!tg_deadline_passed(d, itself)) return;`. The timer can
 * also run another callback for a while (tg_deadline_other: a lingering
 * close, a drain's short wait), which a later tg_deadline_set replaces.
 * timer.data belongs to the owner. The state is two words beside the
 * handle, as small as the hand-written versions it replaces. */
#ifndef TOLLGATE_DEADLINE_H
#define TOLLGATE_DEADLINE_H

#include <stdint.h>
#include <uv.h>

typedef struct tg_deadline {
  uv_timer_t timer;
  uint64_t due;       /* uv_now when the deadline passes; 0: none runs */
  uint32_t armed_at;  /* the low 32 bits of the uv_now the timer is armed for */
  uint32_t len : 31;  /* the running deadline's length in ms, for tg_deadline_touch */
  uint32_t armed : 1; /* the timer runs the deadline's callback */
} tg_deadline;

/* The longest the timer is armed for at once (about 24 days): a longer
 * deadline fires early and re-arms, so armed_at stays comparable. */
#define TG_DEADLINE_STEP_MAX 0x7fffffffu

/* Initialises d's timer on loop (it cannot fail: it only fills the handle). */
void tg_deadline_init(uv_loop_t *loop, tg_deadline *d);

/* The deadline is now + ms (ms 0: as soon as the loop turns); cb is the
 * owner's timer callback. Returns 0, or a libuv error when the timer could
 * not be started. */
int tg_deadline_set(tg_deadline *d, uint64_t ms, uv_timer_cb cb);

/* In cb: 1 when the deadline has passed (the owner acts on it), 0 when it
 * was stopped or moved on since the timer was armed (then re-armed). */
int tg_deadline_passed(tg_deadline *d, uv_timer_cb cb);

/* The owner's callback runs within ms even when the deadline is later (a
 * poll: a queue looking for a free slot); tg_deadline_passed in it answers
 * 0, and re-arms, until the deadline itself has passed. Returns 0 or a
 * libuv error. */
int tg_deadline_wake(tg_deadline *d, uint64_t ms, uv_timer_cb cb);

/* The running deadline starts again from now, with the same length: an
 * idle timeout after each read. No timer operation. */
void tg_deadline_touch(tg_deadline *d);

/* No deadline runs; a timer running another callback is stopped. */
void tg_deadline_stop(tg_deadline *d);

/* Runs cb on d's timer after ms instead of the deadline. */
void tg_deadline_other(tg_deadline *d, uv_timer_cb cb, uint64_t ms);

/* Is a deadline running, or the timer busy with another callback? */
int tg_deadline_busy(const tg_deadline *d);

#endif
