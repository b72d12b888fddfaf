/* Each thread's counters (a slab), written by that thread alone and added
 * up by a reader. Slabs are never freed: a worker's counts must outlive
 * it, since a reload ends workers and counters live for the process. A
 * slab whose thread ended is handed to the next thread that starts
 * counting, so reloads reuse slabs instead of adding new ones.
 *
 * The one lock (slabs_lock) is taken when a thread takes or gives back its
 * slab, and by a reader walking the list: never per request. */
#include "tollgate/metrics-view.h"

#include <stdlib.h>

#include "tollgate/live-streams.h"
#include "tollgate/live-window.h"
#include "tollgate/metrics.h"

_Static_assert(sizeof(tg_metrics_counts) % sizeof(uint64_t) == 0, "the counters are whole words");

typedef struct slab {
  tg_metrics_counts c; /* first: a thread knows its slab by its counters */
  struct slab *next;   /* every slab, in use or not */
  int in_use;          /* under slabs_lock */
} slab;

static pthread_mutex_t slabs_lock = PTHREAD_MUTEX_INITIALIZER;
static slab *slabs;
_Thread_local tg_metrics_counts *tg_metrics_here;

tg_metrics_counts *tg_metrics_take(void) {
  pthread_mutex_lock(&slabs_lock);
  slab *s = slabs;
  while (s && s->in_use) s = s->next;
  if (!s && (s = calloc(1, sizeof *s))) { /* none free: a new one */
    s->next = slabs;
    slabs = s;
  }
  if (s) s->in_use = 1;
  pthread_mutex_unlock(&slabs_lock);
  return tg_metrics_here = s ? &s->c : NULL;
}

void tg_metrics_thread_done(void) {
  tg_lw_thread_done(); /* the live windows' ring and registry go the same way */
  tg_live_thread_done();
  slab *s = (slab *)tg_metrics_here;
  if (!s) return;
  pthread_mutex_lock(&slabs_lock); /* also orders this thread's last counts before the next owner's */
  s->in_use = 0;
  pthread_mutex_unlock(&slabs_lock);
  tg_metrics_here = NULL;
}

void tg_metrics_sum(tg_metrics_counts *out, size_t off, size_t len) {
  uint64_t *o = (uint64_t *)((char *)out + off);
  size_t words = len / sizeof(uint64_t);
  pthread_mutex_lock(&slabs_lock);
  for (const slab *s = slabs; s; s = s->next) {
    const uint64_t *w = (const uint64_t *)((const char *)&s->c + off);
    for (size_t i = 0; i < words; i++) o[i] += __atomic_load_n(&w[i], __ATOMIC_RELAXED);
  }
  pthread_mutex_unlock(&slabs_lock);
}
