/* One API over several servers (docs/upstreams.md#one-api-over-several-servers):
 * on an upstream of several servers, the requests that are about the
 * servers rather than one model go to each of them and tollgate answers
 * with one reply made of theirs. The listings (/api/tags, /v1/models,
 * /api/ps) are merged; model management (/api/pull, /api/create,
 * /api/delete, /api/copy) goes to every server concerned, or to the one
 * named by X-Tollgate-Server, and each server's outcome is reported.
 *
 *   src/policy/fanout-route.c  the table of those routes, and the
 *                              admission phase that reads their bodies whole
 *   src/relay/fanout.c         the calls (tollgate's HTTP client, on the
 *                              worker's loop) and the whole answers
 *   src/relay/fanout-stream.c  the merged NDJSON progress of pull and create
 *   src/relay/fanout-merge.c   the JSON merges of the listings (pure) */
#ifndef TOLLGATE_FANOUT_H
#define TOLLGATE_FANOUT_H

#include <stddef.h>

#include "tollgate/admission.h"

struct tg_exchange;

typedef enum tg_fanout_kind {
  TG_FANOUT_NONE,
  TG_FANOUT_TAGS,   /* GET /api/tags: the union of the catalogues */
  TG_FANOUT_MODELS, /* GET /v1/models: the same in OpenAI's list shape */
  TG_FANOUT_PS,     /* GET /api/ps: every server's loaded models */
  TG_FANOUT_PULL,   /* POST /api/pull: every up server, progress merged */
  TG_FANOUT_CREATE, /* POST /api/create: the same */
  TG_FANOUT_DELETE, /* DELETE /api/delete: every server that lists the model */
  TG_FANOUT_COPY,   /* POST /api/copy: every server that lists the source */
  TG_FANOUT_COUNT
} tg_fanout_kind;

/* The first kind whose request has a body (read whole before the calls). */
#define TG_FANOUT_FIRST_BODY TG_FANOUT_PULL

/* The kind of a request (llhttp's method, the normalised path). */
tg_fanout_kind tg_fanout_kind_of(int method, const char *path, size_t len);

/* The admission phase (sites whose upstream has several servers): the
 * body of a request of a kind with a body is read whole, up to
 * client_body_buffer_size (413 past it). */
tg_adm_rc tg_fanout_body_admit(tg_exchange *x);

/* The relay's entry: when x's request is of a fan-out kind, starts the
 * calls and returns 1 (x is answered when they end); else 0. Only for an
 * upstream of several servers (the caller checks). */
struct tg_pool_group;
int tg_fanout_take(struct tg_exchange *x, struct tg_pool_group *g);

/* --- the merges (src/relay/fanout-merge.c): outside input, pure ---------- */

/* One server's answer to a listing. */
typedef struct tg_fanout_part {
  const char *body;
  size_t len;
  const char *server; /* "HOST:PORT", for /api/ps's entries */
} tg_fanout_part;

/* Merges the answers to a listing of kind TG_FANOUT_TAGS (models by name,
 * the newest modified_at kept, newest first), TG_FANOUT_MODELS (data by
 * id, the newest created kept, newest first) or TG_FANOUT_PS (every entry,
 * each with "server"). A part that is not such a listing is left out;
 * *used says how many were taken. Returns the JSON text (malloc'd,
 * NUL-terminated, its length in *out_len), or NULL when out of memory. */
char *tg_fanout_merge(tg_fanout_kind kind, const tg_fanout_part *parts, size_t n, size_t *out_len, size_t *used);

/* An RFC 3339 time ("2024-05-01T10:00:00.5-07:00") as seconds since 1970
 * (UTC) and nanoseconds. Returns 0, or -1 when it is not one. */
int tg_fanout_time(const char *s, long long *sec, long *nsec);

#endif
