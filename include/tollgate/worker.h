/* Running the gateway: worker threads, listeners, signals. */
#ifndef TOLLGATE_WORKER_H
#define TOLLGATE_WORKER_H

#include "tollgate/config.h"

/* Binds every listener (one SO_REUSEPORT socket per worker and address),
 * starts cfg->workers loop threads, and runs until SIGTERM or SIGINT.
 * Returns the process exit code: 0 after a signal, 1 when a listener or
 * upstream address could not be set up (the reason is logged). */
int tg_run(const tg_config *cfg);

#endif
