/* Each thread's counters (a slab), written by that thread alone and added
 * up by a reader. Slabs are never freed: a worker's counts must outlive
 * it, since a reload ends workers and counters live for the process. A
 * slab whose thread ended is handed to the next thread that starts
 * counting, so reloads reuse slabs instead of adding new ones.
 *
 * The one lock (slabs.lock, tollgate/thread-slot.h) is taken when a thread
 * takes or gives back its slab, and by a reader walking the list: never
 * per request. */
#include "tollgate/metrics-view.h"

#include <stdlib.h>

#include "tollgate/live-streams.h"
#include "tollgate/live-window.h"
#include "tollgate/metrics.h"
#include "tollgate/thread-slot.h"

_Static_assert(sizeof(tg_metrics_counts) % sizeof(uint64_t) == 0, "the counters are whole words");

typedef struct slab {
  /* cppcheck-suppress unusedStructMember ; read through the tg_thread_slot pointers of the list */
  tg_thread_slot slot; /* first (tollgate/thread-slot.h) */
  tg_metrics_counts c;
} slab;

static tg_thread_slots slabs = TG_THREAD_SLOTS_INIT;
_Thread_local tg_metrics_counts *tg_metrics_here;

tg_metrics_counts *tg_metrics_take(void) {
  slab *s = tg_thread_slot_take(&slabs, sizeof *s);
  return tg_metrics_here = s ? &s->c : NULL;
}

void tg_metrics_thread_done(void) {
  tg_lw_thread_done(); /* the live windows' ring and registry go the same way */
  tg_live_thread_done();
  if (!tg_metrics_here) return;
  tg_thread_slot_give(&slabs, (char *)tg_metrics_here - offsetof(slab, c));
  tg_metrics_here = NULL;
}

void tg_metrics_sum(tg_metrics_counts *out, size_t off, size_t len) {
  uint64_t *o = (uint64_t *)((char *)out + off);
  size_t words = len / sizeof(uint64_t);
  pthread_mutex_lock(&slabs.lock);
  for (const tg_thread_slot *t = slabs.all; t; t = t->next) {
    const uint64_t *w = (const uint64_t *)((const char *)&((const slab *)t)->c + off);
    for (size_t i = 0; i < words; i++) o[i] += __atomic_load_n(&w[i], __ATOMIC_RELAXED);
  }
  pthread_mutex_unlock(&slabs.lock);
}
