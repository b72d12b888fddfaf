/* Per-user model allow-lists and token quotas (docs/limits.md):
 *
 *   models.c       model names compared as Ollama compares them, the
 *                  allow-lists, the check of a request body's model and
 *                  the filtering of /api/tags, /api/ps and /v1/models
 *   quota.c        token quotas: a sharded counter table shared by the
 *                  worker threads, the admission check, the accounting
 *   quota-state.c  the state file (JSON; temp file, fsync, rename) and the
 *                  registry that keeps a file's counters across reloads
 *   inspect.c      the glue with the relay: which requests are read whole
 *                  before the upstream is dialled, the include_usage
 *                  rewrite, the usage-only chunk taken out again
 *
 * Like the limit tables, the counters are shared through striped locks
 * (one shard lock per check and per account), never a global one. */
#ifndef TOLLGATE_QUOTA_H
#define TOLLGATE_QUOTA_H

#include <stddef.h>
#include <stdint.h>

#include "tollgate/admission.h"
#include "tollgate/buf.h"

typedef struct tg_client tg_client;

/* --- model names and allow-lists (models.c) --- */

/* `models USER|* NAME...;`: user NULL is the `*` line (everyone without a
 * line of their own, anonymous requests included). A NAME may be `*` (any
 * model) or end in `:*` (any tag). */
typedef struct tg_model_list {
  char *user;
  char **names; /* normal forms (tg_model_normal), `*`, or a normal form with the tag `*` */
  size_t n;
} tg_model_list;

typedef struct tg_models_conf {
  tg_model_list *lists;
  size_t n;
} tg_models_conf;

void tg_models_conf_free(tg_models_conf *m);

/* Does the model (its normal form, tollgate/model-name.h; NULL for a
 * name Ollama does not take) match the pattern (`*`, a normal form, or one
 * whose tag is `*`)? */
int tg_model_match(const char *pattern, const char *normal);
/* The list that applies to user (NULL: anonymous), or NULL when there is
 * none (every model allowed). */
const tg_model_list *tg_models_for(const tg_models_conf *m, const char *user);
/* May the list's user use the model? A NULL list allows everything. The
 * first takes a normal form (NULL: not a name Ollama takes, which only
 * `*` admits), the second a name as written (n bytes) and normalises it. */
int tg_models_allowed_normal(const tg_model_list *l, const char *normal);
int tg_models_allowed(const tg_model_list *l, const char *name, size_t n);
/* Filters a listing body (n bytes of JSON): `models[].name` (/api/tags,
 * /api/ps) or `data[].id` (/v1/models), keeping the entries l allows.
 * The result goes to out (compact JSON). Returns 0, or -1 when the body
 * is not such a listing. */
int tg_models_filter_listing(const tg_model_list *l, const char *body, size_t n, tg_buf *out);

/* What a request body says, as Ollama (Go's encoding/json) reads it. */
typedef struct tg_body_facts {
  int stream;             /* "stream": 1 true, 0 false, -1 absent */
  int include_usage;      /* "stream_options"."include_usage" is true */
  int has_stream_options; /* "stream_options" is present */
} tg_body_facts;

typedef struct json_t json_t;
/* Parses a request body: a JSON object, keys matched the way Go matches
 * struct fields (case-insensitively), a key given twice refused. Returns
 * the parsed object (json_decref it) with *f filled, or NULL with a
 * message in err. */
json_t *tg_body_inspect(const char *body, size_t n, tg_body_facts *f, char *err, size_t errlen);
/* The body with "stream_options":{"include_usage":true} added (the bytes
 * kept as they are when the client sent no stream_options), into out.
 * Returns 0 or -1. */
int tg_body_ask_usage(json_t *root, const tg_body_facts *f, const char *body, size_t n, tg_buf *out);
/* Takes the usage-only SSE event (`"choices":[]` with `"usage":`) out of
 * n bytes of one chunk, in place. Returns the length left. */
size_t tg_sse_strip_usage(char *p, size_t n);

/* --- token quotas (quota.c, quota-state.c) --- */

typedef struct tg_quota_store tg_quota_store;

/* `quota tokens N/m N/d per user [on ROUTES...];` and `quota_state PATH;` */
typedef struct tg_quota_conf {
  uint64_t per_minute;   /* tokens per minute; 0 = none */
  uint64_t per_day;      /* tokens per UTC day; 0 = none */
  unsigned routes;       /* route kinds counted and checked (default: the generation routes) */
  tg_quota_store *store; /* the counters; shared with other configs naming the same state file */
} tg_quota_conf;

void tg_quota_conf_free(tg_quota_conf *q);

/* Is user past a quota at now (unix seconds)? Returns 0, or 1 with the
 * unix time the exhausted window ends in *reset_at and which limit in
 * *per_day. */
int tg_quota_check(const tg_quota_conf *q, const char *user, int64_t now, int64_t *reset_at, int *per_day);
/* Counts tokens used by user at now. */
void tg_quota_add(const tg_quota_conf *q, const char *user, int64_t now, uint64_t tokens);
/* The tokens user used in the current minute and day (tests, status). */
void tg_quota_used(const tg_quota_conf *q, const char *user, int64_t now, uint64_t *minute, uint64_t *day);

/* A fresh private store (no state file): at most about `entries` users. */
tg_quota_store *tg_quota_store_new(size_t entries);
/* The store of a state file: the one already in memory for that path
 * (reloads keep counting in it), else a new one read from the file (a
 * missing file is an empty store). NULL with a message in err when the
 * file cannot be read or is not a complete state file. */
tg_quota_store *tg_quota_store_open(const char *path, char *err, size_t errlen);
/* Drops a reference; the last one writes the file (when counters changed)
 * and frees the store. */
void tg_quota_store_release(tg_quota_store *s);
/* Writes the store's counters to path: a temp file in the same directory,
 * fsync, rename, fsync of the directory. Returns 0 or -1 (errno set). */
int tg_quota_state_write(tg_quota_store *s, const char *path, int64_t now);
/* Reads a state file into s (all or nothing). Returns 1 loaded, 0 no
 * file, -1 refused (message in err). */
int tg_quota_state_read(tg_quota_store *s, const char *path, char *err, size_t errlen);
/* The same from n bytes already in memory. */
int tg_quota_state_parse(tg_quota_store *s, const char *text, size_t n, char *err, size_t errlen);
/* Writes every store with a state file whose counters changed (the main
 * thread's periodic timer). */
void tg_quota_flush_all(void);

/* --- the glue (inspect.c) --- */

/* Admission phase, after auth, before the limits: the quota check (429),
 * the model of a GET /v1/models/NAME (403), and whether x's body must be
 * read whole first (TG_ADM_AGAIN: tg_inspect_body_done goes on). */
tg_adm_rc tg_inspect_admit(tg_exchange *x);
/* Starts reading x's body whole (a 100 Continue first when the client
 * waits for it): it goes into x->adm.whole, nothing goes upstream, and
 * tg_inspect_body_done follows at the message's end. */
void tg_inspect_gather(tg_exchange *x);
/* The whole body of a gathered request has arrived (server.c): the model
 * check and the include_usage rewrite, then the pipeline resumes. */
void tg_inspect_body_done(tg_exchange *x);
/* The exchange ended: counts its tokens against the user's quota. */
void tg_inspect_exchange_end(tg_exchange *x);
/* Counts the exchange's tokens against its user's quota, once. The relay
 * calls it as soon as the response is complete, before its last bytes go
 * to the client: a client that sends its next request the moment it has
 * the answer finds the quota already charged. */
void tg_inspect_charge(tg_exchange *x);
/* Frees what x keeps for inspection (at the end of each exchange). */
void tg_inspect_reset(tg_exchange *x);

#endif
