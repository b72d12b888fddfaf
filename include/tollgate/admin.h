/* The admin listener: Prometheus metrics on /metrics, /healthz and /readyz,
 * on an address of its own (never the public one), served by the main
 * thread's loop. */
#ifndef TOLLGATE_ADMIN_H
#define TOLLGATE_ADMIN_H

#include <uv.h>

#include "tollgate/config.h"

/* Starts listening on addr. Returns 0, or -1 after logging why, starting
 * with where ("file:line:col: " of the admin directive, or ""). */
int tg_admin_start(uv_loop_t *loop, const tg_hostport *addr, const char *where);

/* Stops listening and closes open admin connections. */
void tg_admin_stop(void);

#endif
