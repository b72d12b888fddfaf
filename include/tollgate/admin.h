/* The admin listener: Prometheus metrics on /metrics, /healthz and /readyz,
 * on an address of its own (never the public one), served by the main
 * thread's loop. */
#ifndef TOLLGATE_ADMIN_H
#define TOLLGATE_ADMIN_H

#include <uv.h>

#include "tollgate/config.h"

/* Starts listening on addr, or on fd when it is not -1 (a listening socket
 * bound to addr, inherited from the process tollgate replaces). Returns 0,
 * or -1 after logging why, starting with where ("file:line:col: " of the
 * admin directive, or ""). */
int tg_admin_start(uv_loop_t *loop, const tg_hostport *addr, int fd, const char *where);

/* The admin listener's socket, or -1 when none listens. */
int tg_admin_fd(void);

/* addr as a socket address for bind(2) (a numeric IP); 0 or a libuv error. */
int tg_admin_sockaddr(const tg_hostport *addr, struct sockaddr_storage *ss);

/* Stops listening and closes open admin connections. */
void tg_admin_stop(void);

#endif
