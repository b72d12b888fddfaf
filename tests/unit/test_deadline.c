/* tg_deadline: lazy moves, earlier deadlines, stops and other callbacks,
 * on a real libuv loop. */
#include "tg_test.h"
#include "tollgate/deadline.h"

typedef struct {
  tg_deadline d;
  int passed, other;
  uint64_t at;
} owner;

static void owner_cb(uv_timer_t *t) {
  owner *o = t->data;
  if (!tg_deadline_passed(&o->d, owner_cb)) return;
  o->passed++;
  o->at = uv_now(t->loop);
}

static void other_cb(uv_timer_t *t) { ((owner *)t->data)->other++; }

static void setup(uv_loop_t *loop, owner *o) {
  uv_loop_init(loop);
  *o = (owner){0};
  tg_deadline_init(loop, &o->d);
  o->d.timer.data = o;
}

static void teardown(uv_loop_t *loop, owner *o) {
  uv_close((uv_handle_t *)&o->d.timer, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
}

static void test_deadline_later_is_lazy_earlier_restarts(void) {
  uv_loop_t loop;
  owner o;
  setup(&loop, &o);
  uint64_t t0 = uv_now(&loop);
  TG_CHECK(tg_deadline_set(&o.d, 30, owner_cb) == 0);
  uint64_t armed = uv_timer_get_due_in(&o.d.timer);
  TG_CHECK(tg_deadline_set(&o.d, 60, owner_cb) == 0); /* later: only recorded */
  TG_CHECK(uv_timer_get_due_in(&o.d.timer) == armed);
  TG_CHECK(tg_deadline_set(&o.d, 10, owner_cb) == 0); /* earlier: the timer restarts */
  TG_CHECK(uv_timer_get_due_in(&o.d.timer) <= 10);
  TG_CHECK(tg_deadline_set(&o.d, 40, owner_cb) == 0); /* fires at 10, re-arms, passes at 40 */
  uv_run(&loop, UV_RUN_DEFAULT);
  int ok = o.passed == 1 && o.at - t0 >= 40;
  teardown(&loop, &o);
  TG_CHECK(ok);
}

static void test_deadline_stop_and_touch(void) {
  uv_loop_t loop;
  owner o;
  setup(&loop, &o);
  tg_deadline_set(&o.d, 10, owner_cb);
  tg_deadline_stop(&o.d); /* lazily: the timer fires and does nothing */
  uv_run(&loop, UV_RUN_DEFAULT);
  int stopped = o.passed == 0 && !tg_deadline_busy(&o.d);
  uint64_t t0 = uv_now(&loop);
  tg_deadline_set(&o.d, 20, owner_cb);
  uv_sleep(15);
  uv_update_time(&loop);
  tg_deadline_touch(&o.d); /* 20 ms again from now */
  uv_run(&loop, UV_RUN_DEFAULT);
  int touched = o.passed == 1 && o.at - t0 >= 35;
  teardown(&loop, &o);
  TG_CHECK(stopped);
  TG_CHECK(touched);
}

static void test_deadline_other_callback_and_busy(void) {
  uv_loop_t loop;
  owner o;
  setup(&loop, &o);
  TG_CHECK(!tg_deadline_busy(&o.d));
  tg_deadline_set(&o.d, 50, owner_cb);
  tg_deadline_other(&o.d, other_cb, 5); /* takes the timer over: the deadline is gone */
  int busy = tg_deadline_busy(&o.d);
  uv_run(&loop, UV_RUN_DEFAULT);
  int ran = o.other == 1 && o.passed == 0;
  tg_deadline_other(&o.d, other_cb, 50);
  tg_deadline_stop(&o.d); /* stops another callback's timer at once */
  uv_run(&loop, UV_RUN_DEFAULT);
  int stopped = o.other == 1;
  teardown(&loop, &o);
  TG_CHECK(busy);
  TG_CHECK(ran);
  TG_CHECK(stopped);
}

/* A poll: wakes every 10 ms before a 45 ms deadline, passed only at it. */
typedef struct {
  tg_deadline d;
  int wakes, passed;
  uint64_t at;
} poller;

static void poller_cb(uv_timer_t *t) {
  poller *p = t->data;
  if (tg_deadline_passed(&p->d, poller_cb)) {
    p->passed++;
    p->at = uv_now(t->loop);
    return;
  }
  p->wakes++;
  tg_deadline_wake(&p->d, 10, poller_cb);
}

static void test_deadline_wake_polls_before_the_deadline(void) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  poller p = {0};
  tg_deadline_init(&loop, &p.d);
  p.d.timer.data = &p;
  uint64_t t0 = uv_now(&loop);
  TG_CHECK(tg_deadline_set(&p.d, 45, poller_cb) == 0);
  TG_CHECK(tg_deadline_wake(&p.d, 10, poller_cb) == 0);
  TG_CHECK(uv_timer_get_due_in(&p.d.timer) <= 10);
  TG_CHECK(tg_deadline_wake(&p.d, 30, poller_cb) == 0); /* armed sooner already: unchanged */
  TG_CHECK(uv_timer_get_due_in(&p.d.timer) <= 10);
  uv_run(&loop, UV_RUN_DEFAULT);
  int ok = p.passed == 1 && p.wakes >= 3 && p.wakes <= 5 && p.at - t0 >= 45;
  TG_CHECK(tg_deadline_set(&p.d, 20, poller_cb) == 0);
  TG_CHECK(tg_deadline_wake(&p.d, 1000, poller_cb) == 0); /* past the deadline: the deadline's time */
  TG_CHECK(uv_timer_get_due_in(&p.d.timer) <= 20);
  uv_close((uv_handle_t *)&p.d.timer, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  TG_CHECK(ok);
}

void tg_suite_deadline(void) {
  TG_RUN(test_deadline_wake_polls_before_the_deadline);
  TG_RUN(test_deadline_later_is_lazy_earlier_restarts);
  TG_RUN(test_deadline_stop_and_touch);
  TG_RUN(test_deadline_other_callback_and_busy);
}
