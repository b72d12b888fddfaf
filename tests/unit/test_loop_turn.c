/* tg_loop_turn: odd while the callbacks of a turn's poll run, even in a
 * timer callback, a new odd value each turn; it keeps no loop alive. */
#include <sys/socket.h>
#include <unistd.h>

#include "tg_test.h"
#include "tollgate/loop-turn.h"

typedef struct {
  tg_loop_turn turn;
  uv_poll_t poll;
  uv_timer_t timer;
  int fds[2];
  int reads;
  uint64_t seen[2];  /* the count in the first two poll callbacks */
  int polling[2];    /* and whether it said "polling" there */
  int timer_polling; /* what it said in the timer callback */
  uint64_t timer_n;
} fixture;

static void on_readable(uv_poll_t *h, int status, int events) {
  fixture *f = h->data;
  (void)status, (void)events;
  char b;
  if (read(f->fds[0], &b, 1) != 1) return;
  f->seen[f->reads] = f->turn.n;
  f->polling[f->reads] = tg_loop_turn_polling(&f->turn);
  if (++f->reads == 1) { /* the next byte: seen in a later turn */
    if (write(f->fds[1], "y", 1) != 1) f->reads = 99;
    return;
  }
  uv_close((uv_handle_t *)&f->poll, NULL);
}

static void on_timer(uv_timer_t *t) {
  fixture *f = t->data;
  f->timer_polling = tg_loop_turn_polling(&f->turn);
  f->timer_n = f->turn.n;
  uv_close((uv_handle_t *)&f->timer, NULL);
}

static void test_loop_turn_odd_in_poll_even_in_timers(void) {
  uv_loop_t loop;
  fixture f = {0};
  uv_loop_init(&loop);
  TG_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, f.fds) == 0);
  tg_loop_turn_start(&loop, &f.turn);
  uv_poll_init(&loop, &f.poll, f.fds[0]);
  uv_timer_init(&loop, &f.timer);
  f.poll.data = f.timer.data = &f;
  uv_poll_start(&f.poll, UV_READABLE, on_readable);
  uv_timer_start(&f.timer, on_timer, 0, 0);
  TG_CHECK(write(f.fds[1], "x", 1) == 1);
  for (int i = 0; i < 1000 && uv_run(&loop, UV_RUN_NOWAIT); i++) continue;
  TG_CHECK(!uv_loop_alive(&loop)); /* the turn's handles keep nothing alive */
  TG_CHECK(f.reads == 2);
  TG_CHECK(f.polling[0] == 1 && f.polling[1] == 1);
  TG_CHECK(f.seen[0] % 2 == 1 && f.seen[1] % 2 == 1);
  TG_CHECK(f.seen[1] > f.seen[0]); /* another turn, another count */
  TG_CHECK(f.timer_polling == 0);
  TG_CHECK(f.timer_n % 2 == 0);
  tg_loop_turn_close(&f.turn);
  tg_loop_turn_close(&f.turn); /* twice is harmless */
  uv_run(&loop, UV_RUN_DEFAULT);
  TG_CHECK(uv_loop_close(&loop) == 0);
  close(f.fds[0]);
  close(f.fds[1]);
}

/* Deferred tasks: run after every callback of the poll that queued them,
 * in their order, not polling then, a cancelled one never; a task queued
 * by a task runs in the same check. */
typedef struct {
  tg_loop_turn turn;
  uv_poll_t polls[2];
  int fds[2][2];
  int log[8]; /* what ran, in order: 10+i for poll i, 20+k for task k */
  int nlog;
  int task_polling;
  uint64_t poll_n, task_n;
  tg_turn_task tasks[4];
} defer_fixture;

static defer_fixture *defer_f;

static void defer_log(int what) {
  if (defer_f->nlog < 8) defer_f->log[defer_f->nlog++] = what;
}

static void task_run(tg_turn_task *task) {
  int k = (int)(task - defer_f->tasks);
  defer_log(20 + k);
  defer_f->task_polling = tg_loop_turn_polling(&defer_f->turn);
  defer_f->task_n = defer_f->turn.n;
  if (k == 0) tg_loop_turn_defer(&defer_f->turn, &defer_f->tasks[3], task_run); /* queued from a task */
}

static void defer_on_readable(uv_poll_t *h, int status, int events) {
  defer_fixture *f = h->data;
  (void)status, (void)events;
  int i = (int)(h - f->polls);
  char b;
  if (read(f->fds[i][0], &b, 1) != 1) return;
  defer_log(10 + i);
  f->poll_n = f->turn.n;
  if (f->nlog == 1) { /* the first callback of the poll queues three, and cancels one */
    tg_loop_turn_defer(&f->turn, &f->tasks[0], task_run);
    tg_loop_turn_defer(&f->turn, &f->tasks[1], task_run);
    tg_loop_turn_defer(&f->turn, &f->tasks[0], task_run); /* not twice */
    tg_loop_turn_defer(&f->turn, &f->tasks[2], task_run);
    tg_loop_turn_cancel(&f->turn, &f->tasks[1]);
  }
  uv_close((uv_handle_t *)h, NULL);
}

static void test_loop_turn_defer_after_poll_callbacks(void) {
  uv_loop_t loop;
  defer_fixture f = {0};
  defer_f = &f;
  uv_loop_init(&loop);
  tg_loop_turn_start(&loop, &f.turn);
  for (int i = 0; i < 2; i++) {
    TG_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, f.fds[i]) == 0);
    uv_poll_init(&loop, &f.polls[i], f.fds[i][0]);
    f.polls[i].data = &f;
    uv_poll_start(&f.polls[i], UV_READABLE, defer_on_readable);
    TG_CHECK(write(f.fds[i][1], "x", 1) == 1); /* both readable for the same poll */
  }
  for (int i = 0; i < 1000 && uv_run(&loop, UV_RUN_NOWAIT); i++) continue;
  TG_CHECK(f.nlog == 5);
  TG_CHECK(f.log[0] / 10 == 1 && f.log[1] / 10 == 1 && f.log[0] != f.log[1]); /* both polls first */
  TG_CHECK(f.log[2] == 20 && f.log[3] == 22 && f.log[4] == 23);               /* then the tasks, in order */
  TG_CHECK(f.task_polling == 0);
  TG_CHECK(f.task_n == f.poll_n + 1); /* in the same turn's check */
  TG_CHECK(!f.tasks[1].queued && !f.turn.head && !f.turn.tail);
  tg_loop_turn_close(&f.turn);
  uv_run(&loop, UV_RUN_DEFAULT);
  TG_CHECK(uv_loop_close(&loop) == 0);
  for (int i = 0; i < 2; i++) close(f.fds[i][0]), close(f.fds[i][1]);
}

void tg_suite_loop_turn(void) {
  TG_RUN(test_loop_turn_odd_in_poll_even_in_timers);
  TG_RUN(test_loop_turn_defer_after_poll_callbacks);
}
