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

void tg_suite_loop_turn(void) { TG_RUN(test_loop_turn_odd_in_poll_even_in_timers); }
