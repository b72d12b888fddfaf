/* The live part of /status.json (src/admin/live-render.c). */
#ifndef TG_ADMIN_LIVE_RENDER_H
#define TG_ADMIN_LIVE_RENDER_H

#include "tollgate/buf.h"

/* Appends ,"time_ms":...,"windows":{...},"series":{...},"streams":[...],
 * "live_models":[...]. Returns 0, or nonzero when the buffer could not grow. */
int tg_live_render_json(tg_buf *o);

#endif
