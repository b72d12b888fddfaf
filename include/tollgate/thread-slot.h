/* Blocks a thread takes for its own counting and gives back when it ends,
 * for the next thread to take: never freed, since a reader may walk them
 * at any time and their counts outlive the thread (the metrics' slabs, the
 * live windows' rings, the live streams' registries). One lock per kind,
 * taken when a thread takes or gives one and by a reader walking them. */
#ifndef TOLLGATE_THREAD_SLOT_H
#define TOLLGATE_THREAD_SLOT_H

#include <pthread.h>
#include <stddef.h>

/* The head of a block (its first member). */
typedef struct tg_thread_slot {
  struct tg_thread_slot *next; /* every block of the kind, in use or not */
  int in_use;                  /* under the kind's lock */
} tg_thread_slot;

typedef struct tg_thread_slots {
  pthread_mutex_t lock;
  tg_thread_slot *all;
} tg_thread_slots;

#define TG_THREAD_SLOTS_INIT                                                                                           \
  { PTHREAD_MUTEX_INITIALIZER, NULL }

/* A block of size bytes not in use (one given back, else a new zeroed
 * one), now in use; NULL without memory. */
void *tg_thread_slot_take(tg_thread_slots *k, size_t size);

/* Gives a block back (it keeps its contents); the lock also orders the
 * giving thread's last writes before the next owner's. */
void tg_thread_slot_give(tg_thread_slots *k, void *block);

#endif
