/* The zero-downtime binary upgrade (see upgrade.c). */
#ifndef TOLLGATE_UPGRADE_H
#define TOLLGATE_UPGRADE_H

#include <stddef.h>
#include <uv.h>

#include "tollgate/worker.h" /* tg_upgrade_remember */

/* Called once the new process serves (ok = 1) or has failed (ok = 0, the
 * reason logged). */
typedef void (*tg_upgrade_cb)(int ok);

/* Starts the binary at the remembered path with the same command line,
 * handing it the n listening sockets fds. Returns 0 (cb follows), or -1
 * (logged) when it could not be started. */
int tg_upgrade_start(uv_loop_t *loop, const int *fds, size_t n, tg_upgrade_cb cb);

/* Whether a new process was started and has not yet served or failed. */
int tg_upgrade_pending(void);

/* Closes the upgrade's handles (the main loop is ending). */
void tg_upgrade_close(void);

/* In the new process: takes the descriptor it reports readiness on
 * ($TOLLGATE_UPGRADE_FD, cleared), if any. */
void tg_upgrade_child_init(void);

/* In the new process, once every listener accepts: tells the old one. */
void tg_upgrade_child_ready(void);

#endif
