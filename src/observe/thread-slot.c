/* Blocks taken by a thread and given back (see tollgate/thread-slot.h). */
#include "tollgate/thread-slot.h"

#include <stdlib.h>

void *tg_thread_slot_take(tg_thread_slots *k, size_t size) {
  pthread_mutex_lock(&k->lock);
  tg_thread_slot *s = k->all;
  while (s && s->in_use) s = s->next;
  if (!s && (s = calloc(1, size))) { /* none free: a new one */
    s->next = k->all;
    k->all = s;
  }
  if (s) s->in_use = 1;
  pthread_mutex_unlock(&k->lock);
  return s;
}

void tg_thread_slot_give(tg_thread_slots *k, void *block) {
  pthread_mutex_lock(&k->lock);
  ((tg_thread_slot *)block)->in_use = 0;
  pthread_mutex_unlock(&k->lock);
}
