/* Active health checks of upstream servers (docs/upstreams.md#health): on
 * the main thread's loop, every `health interval`, each server's
 * /api/tags then /api/ps through the shared HTTP client (never blocking
 * the loop); a check passes when both answer 200 within `health timeout`.
 * `fails` failed checks in a row (passive failures from the workers count
 * too) take a server down, `passes` good ones bring it back
 * (tollgate/servers.h holds the counts). A server whose catalogue a worker
 * found stale (a 404 for a model it listed: tg_server_forget_model) is
 * checked again within 100 ms rather than at its next interval. */
#ifndef TOLLGATE_HEALTH_H
#define TOLLGATE_HEALTH_H

#include <stddef.h>
#include <uv.h>

#include "tollgate/config.h"

/* Checks the servers of cfg's upstreams that have several servers or a
 * `health` line, in place of the checks of an earlier configuration (a
 * reload); cfg is not kept. Resolves the servers' names (the main thread,
 * at start or reload). Returns 0, or -1 when out of memory. */
int tg_health_start(uv_loop_t *loop, const tg_config *cfg);

/* The models of an /api/tags answer ({"models":[{"name":...},...]}) as
 * tg_server_set_models takes them: normal forms, each ended by '\n', a
 * NUL after the last (malloc'd). NULL when it is not such a list, or out
 * of memory. */
char *tg_health_catalogue(const char *body, size_t n);

/* Stops every check (the process ends); calls under way end on their own. */
void tg_health_stop(void);

#endif
