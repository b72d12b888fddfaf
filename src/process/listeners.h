/* Listening sockets kept by the main thread (see listeners.c). */
#ifndef TOLLGATE_LISTENERS_H
#define TOLLGATE_LISTENERS_H

#include <stddef.h>

#include "tollgate/config.h"

/* Fills out (room for every listen of cfg, in site then listen order) with
 * duplicates of worker `worker`'s sockets, opening the ones that do not
 * exist yet; marks them used by cfg (call for worker 0 first). Returns 0,
 * or -1 after logging why a socket could not be opened. */
int tg_listeners_for(const tg_config *cfg, unsigned worker, int *out, size_t *n);

/* Closes the sockets the newest configuration does not use, and those of
 * worker indexes at or past nworkers. */
void tg_listeners_prune(unsigned nworkers);

/* Keeps only the sockets cfg uses, for nworkers workers (after a reload
 * that failed half-way). */
void tg_listeners_keep_only(const tg_config *cfg, unsigned nworkers);

/* Fills out with every socket the main thread holds (at most cap); returns
 * their count. For a binary upgrade, which hands them to the new process. */
size_t tg_listeners_fds(int *out, size_t cap);

/* Closes every socket the main thread holds. */
void tg_listeners_close_all(void);

#endif
