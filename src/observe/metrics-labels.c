/* Label tables (see metrics-view.h): rows are looked up without a lock and
 * added under one. Adding is rare (the first time a user asks for a
 * model, a refusal reason or an upstream is seen), at most cap times for
 * the process, so the lock is off the request path. */
#include "tollgate/metrics-view.h"

#include <stdio.h>
#include <string.h>

/* The row of (a, b) among rows [from, n), or -1. */
static long find(const tg_metrics_labels *t, size_t from, size_t n, const char *a, const char *b) {
  for (size_t i = from; i < n; i++)
    if (!strcmp(t->rows[i].a, a) && !strcmp(t->rows[i].b, b)) return (long)i;
  return -1;
}

size_t tg_metrics_label_rows(tg_metrics_labels *t) { return atomic_load_explicit(&t->n, memory_order_acquire); }

long tg_metrics_label_row(tg_metrics_labels *t, const char *a, const char *b) {
  size_t n = tg_metrics_label_rows(t);
  long i = find(t, 0, n, a, b);
  if (i >= 0 || n == t->cap) return i;
  pthread_mutex_lock(&t->lock);
  size_t now = atomic_load_explicit(&t->n, memory_order_relaxed);
  i = find(t, n, now, a, b); /* another thread may have added it meanwhile */
  if (i < 0 && now < t->cap) {
    tg_metrics_label *r = &t->rows[now];
    snprintf(r->a, sizeof r->a, "%s", a);
    snprintf(r->b, sizeof r->b, "%s", b);
    atomic_store_explicit(&t->n, now + 1, memory_order_release); /* the row is whole before it is seen */
    i = (long)now;
  }
  pthread_mutex_unlock(&t->lock);
  return i;
}
