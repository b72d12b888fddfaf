/* tollgate top: the live view (docs/observability.md) in a terminal,
 * read from an admin listener's /status.json once a second. */
#ifndef TOLLGATE_TOP_H
#define TOLLGATE_TOP_H

#include "tollgate/buf.h"

/* `tollgate top [--once] [ADDR]`: argv[0] is "top". Returns the exit
 * status: 0, 1 when the admin listener could not be read, 2 on a usage
 * error. */
int tg_top_main(int argc, char **argv);

/* How the streams are ordered. */
typedef enum tg_top_sort { TG_TOP_AGE, TG_TOP_SLOWEST, TG_TOP_TOKENS, TG_TOP_SORTS } tg_top_sort;

/* One screen of the view of a /status.json text (json, n bytes) into out:
 * lines for a terminal width x height (height 0: every stream, no limit),
 * each ending in "\n", no escape sequence. Returns 0, or -1 when the JSON
 * is not a status (out then holds why). */
int tg_top_render(tg_buf *out, const char *json, size_t n, unsigned width, unsigned height, tg_top_sort sort);

#endif
