/* The count of a loop's turns, odd while the poll's callbacks run
 * (tollgate/loop-turn.h). */
#include "tollgate/loop-turn.h"

static void turn_before_poll(uv_prepare_t *h) {
  tg_loop_turn *t = h->data;
  t->n |= 1;
}

static void turn_after_poll(uv_check_t *h) {
  tg_loop_turn *t = h->data;
  t->n = (t->n | 1) + 1;
  tg_turn_task *task;
  while ((task = t->head)) { /* a task may queue others: they run too */
    tg_loop_turn_cancel(t, task);
    task->run(task);
  }
}

void tg_loop_turn_defer(tg_loop_turn *t, tg_turn_task *task, void (*run)(tg_turn_task *task)) {
  if (task->queued) return;
  task->run = run;
  task->queued = 1;
  task->next = NULL;
  task->prev = t->tail;
  if (t->tail) t->tail->next = task;
  else t->head = task;
  t->tail = task;
}

void tg_loop_turn_cancel(tg_loop_turn *t, tg_turn_task *task) {
  if (!task->queued) return;
  if (task->prev) task->prev->next = task->next;
  else t->head = task->next;
  if (task->next) task->next->prev = task->prev;
  else t->tail = task->prev;
  task->next = task->prev = NULL;
  task->queued = 0;
}

void tg_loop_turn_start(uv_loop_t *loop, tg_loop_turn *t) {
  t->n = 0;
  t->head = t->tail = NULL;
  uv_prepare_init(loop, &t->before);
  uv_check_init(loop, &t->after);
  t->before.data = t->after.data = t;
  uv_prepare_start(&t->before, turn_before_poll);
  uv_check_start(&t->after, turn_after_poll);
  uv_unref((uv_handle_t *)&t->before);
  uv_unref((uv_handle_t *)&t->after);
}

void tg_loop_turn_close(tg_loop_turn *t) {
  if (uv_is_closing((uv_handle_t *)&t->before)) return;
  uv_close((uv_handle_t *)&t->before, NULL);
  uv_close((uv_handle_t *)&t->after, NULL);
}
