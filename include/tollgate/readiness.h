/* Readiness for /readyz (src/admin/readiness.c): not draining, and at
 * least one upstream server answered its last check. Main thread only. */
#ifndef TOLLGATE_READINESS_H
#define TOLLGATE_READINESS_H

#include <uv.h>

#include "tollgate/config.h"

/* Called with the answer: ready (1) or not, and a one-line reason when
 * not ("draining", "no upstream has answered: 127.0.0.1:11434 refused"). */
typedef void (*tg_readiness_cb)(void *arg, int ready, const char *reason);

/* The servers to check: those of cfg (the newest configuration), resolved
 * now. Checks run on loop. */
void tg_readiness_set_targets(uv_loop_t *loop, const tg_config *cfg);

/* From now on, not ready: the process is draining. */
void tg_readiness_draining(void);

/* Answers through cb, at once when the last result is under 1 s old or
 * the answer needs no check, else when a check of every server ends. */
void tg_readiness_check(tg_readiness_cb cb, void *arg);

/* The caller identified by arg is gone: its pending cb is not called. */
void tg_readiness_cancel(const void *arg);

#endif
