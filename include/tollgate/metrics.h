/* Process-wide metrics. Each thread counts into counters of its own,
 * without a lock or a shared atomic (src/observe/metrics-slab.c); the admin
 * listener adds up every thread's counters when it renders them (the
 * Prometheus text format, the status page's JSON). They live for the
 * process, so reloads do not reset them. */
#ifndef TOLLGATE_METRICS_H
#define TOLLGATE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "tollgate/buf.h"
#include "tollgate/llm.h"

/* One finished exchange. user and model may be NULL or "". Times in seconds
 * (ttfb < 0: no response byte was sent). */
typedef struct tg_metrics_req {
  tg_route_kind kind;
  int status;
  double ttfb_s, duration_s;
  const char *user, *model;
  int64_t prompt_tokens, output_tokens;
  int client_aborted;
} tg_metrics_req;

void tg_metrics_request_done(const tg_metrics_req *r);

/* Live exchanges (streams): +1 when one starts, -1 when it ends, on the
 * same thread. */
void tg_metrics_live(int delta);

/* Requests waiting for a generation slot: +1 when one joins its worker's
 * queue, -1 when it leaves, on the same thread. */
void tg_metrics_queued(int delta);

/* A thread that counted has ended: its counters stay (they are summed
 * still) and the next thread to count takes them over. */
void tg_metrics_thread_done(void);

/* An upstream's last dial or response: healthy (1) or not (0). */
void tg_metrics_upstream(const char *name, int healthy);

/* Where the view finds the servers of the upstreams: a function that fills
 * up to cap rows and returns how many (src/upstream/servers.c sets it; the
 * metrics do not name the layer above them). */
struct tg_metrics_server_row;
typedef size_t (*tg_metrics_servers_fn)(struct tg_metrics_server_row *rows, size_t cap);
void tg_metrics_servers_source(tg_metrics_servers_fn fn);

/* A request held in (1) or out of (-1) the model queue at the gateway
 * (tollgate_model_queue_depth{model}); model is its normal form. A model
 * once seen keeps its row (at most TG_METRICS_MODEL_ROWS). */
void tg_metrics_model_queue(const char *model, int delta);

/* Where the view finds the requests held at the gateway per upstream and
 * model (src/upstream/model-stats.c sets it): the same shape as the
 * servers' source. */
struct tg_metrics_held_row;
typedef size_t (*tg_metrics_held_fn)(struct tg_metrics_held_row *rows, size_t cap);
void tg_metrics_held_source(tg_metrics_held_fn fn);

/* A refusal by the auth or limit layers; reason is a short fixed word. */
void tg_metrics_refused(const char *layer, const char *reason);

/* A TLS handshake ended: ok (resumed from a ticket or not) or failed. */
void tg_metrics_tls_handshake(int ok, int resumed);

/* TLS handshakes so far, of every result (for the main thread's memory trim). */
uint64_t tg_metrics_tls_handshakes(void);

/* The certificates the newest configuration serves: reset, then one call
 * per certificate (its first name and its notAfter, Unix time). */
void tg_metrics_certs_reset(void);
void tg_metrics_cert(const char *name, int64_t not_after);

/* The shared store (tollgate/shared.h), counted by each worker: its
 * connection up (+1) or lost or closed while up (-1); a command's round
 * trip; a request decided by on_failure (policy: TG_SHARED_LOCAL, OPEN or
 * CLOSED) because the store did not answer. */
void tg_metrics_shared_conn(int delta);
void tg_metrics_shared_round_trip(uint64_t us);
void tg_metrics_shared_fallback(int policy);
/* Set by the main thread: whether the newest configuration has a shared
 * block (its metrics are shown only then). */
void tg_metrics_set_shared(int configured);
/* 1 when every worker's connection to the shared store is up, 0 when one
 * is not, -1 without a shared block. */
int tg_metrics_shared_up(void);

/* Facts for the status page: the worker count, set by the main thread. */
void tg_metrics_set_workers(unsigned n);

/* Appends the status page's JSON (totals, routes, tokens, upstreams).
 * Returns 0 or -1. */
int tg_metrics_render_json(tg_buf *out);

/* Appends the Prometheus text exposition. Returns 0 or -1. */
int tg_metrics_render(tg_buf *out);

#endif
