/* Running the gateway: generations of worker threads, listeners, signals. */
#ifndef TOLLGATE_WORKER_H
#define TOLLGATE_WORKER_H

#include "tollgate/config.h"

/* Command-line settings that win over the config file, on start and on
 * every reload. */
typedef struct tg_overrides {
  unsigned workers;       /* 0: keep the config's */
  const char *access_log; /* NULL: keep the config's */
} tg_overrides;

/* Remembers the command line and the binary's path for a SIGUSR2 binary
 * upgrade (src/process/upgrade.c); main calls it first. */
void tg_upgrade_remember(char **argv);

/* Runs the gateway with cfg (which tg_run now owns) until SIGTERM or
 * SIGINT: binds every listener (one SO_REUSEPORT socket per worker and
 * address), starts the workers, and then:
 *   SIGHUP          re-reads config_path (when not NULL); a valid config
 *                   starts new workers on the same sockets and the old ones
 *                   drain; an invalid one is refused and the old one stays;
 *   SIGTERM/SIGINT  stops accepting and lets live exchanges finish, up to
 *                   drain_timeout; a second signal stops at once.
 * Returns the process exit code: 0 after a signal, 1 when the first
 * configuration could not be put to work (the reason is logged). */
int tg_run(tg_config *cfg, const char *config_path, const tg_overrides *ov);

/* Applies the overrides to cfg. Returns 0 or -1 (out of memory). */
int tg_overrides_apply(tg_config *cfg, const tg_overrides *ov);

#endif
