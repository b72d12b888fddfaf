/* Lazy deadlines on one timer (see tollgate/deadline.h). */
#include "tollgate/deadline.h"

/* Arms the timer for the deadline, at most TG_DEADLINE_STEP_MAX ahead. */
static int arm(tg_deadline *d, uint64_t now, uv_timer_cb cb) {
  uint64_t ms = d->due - now;
  if (ms > TG_DEADLINE_STEP_MAX) ms = TG_DEADLINE_STEP_MAX;
  d->armed = 1;
  d->armed_at = (uint32_t)(now + ms);
  return uv_timer_start(&d->timer, cb, ms, 0);
}

void tg_deadline_init(uv_loop_t *loop, tg_deadline *d) {
  uv_timer_init(loop, &d->timer);
  d->due = 0;
  d->armed_at = 0;
  d->len = 0;
  d->armed = 0;
}

int tg_deadline_set(tg_deadline *d, uint64_t ms, uv_timer_cb cb) {
  uint64_t now = uv_now(d->timer.loop);
  if (!ms) ms = 1; /* due at once, yet never 0 (0 means none) */
  d->len = ms > TG_DEADLINE_STEP_MAX ? TG_DEADLINE_STEP_MAX : (uint32_t)ms;
  d->due = now + ms;
  /* armed for this deadline or an earlier one: it fires and re-arms */
  if (d->armed && (int32_t)(d->armed_at - (uint32_t)d->due) <= 0) return 0;
  return arm(d, now, cb);
}

int tg_deadline_passed(tg_deadline *d, uv_timer_cb cb) {
  uint64_t now = uv_now(d->timer.loop);
  d->armed = 0;
  if (!d->due) return 0; /* stopped since it was armed */
  if (now < d->due) {    /* moved on since it was armed */
    arm(d, now, cb);     /* cannot fail: the handle is not closing */
    return 0;
  }
  d->due = 0;
  return 1;
}

int tg_deadline_wake(tg_deadline *d, uint64_t ms, uv_timer_cb cb) {
  uint64_t now = uv_now(d->timer.loop), at = now + ms;
  if (d->due && d->due < at) at = d->due;
  if (d->armed && (int32_t)(d->armed_at - (uint32_t)at) <= 0) return 0; /* armed for then or sooner */
  d->armed = 1;
  d->armed_at = (uint32_t)at;
  return uv_timer_start(&d->timer, cb, at - now, 0);
}

void tg_deadline_touch(tg_deadline *d) {
  if (d->due) d->due = uv_now(d->timer.loop) + d->len;
}

void tg_deadline_stop(tg_deadline *d) {
  d->due = 0;
  if (!d->armed) uv_timer_stop(&d->timer); /* another callback's timer */
}

void tg_deadline_other(tg_deadline *d, uv_timer_cb cb, uint64_t ms) {
  d->due = 0;
  d->armed = 0;
  uv_timer_start(&d->timer, cb, ms, 0);
}

int tg_deadline_busy(const tg_deadline *d) {
  return d->due || (uv_is_active((const uv_handle_t *)&d->timer) && !d->armed);
}
