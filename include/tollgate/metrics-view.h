/* What the metrics files share (tollgate/metrics.h is the public side):
 * src/observe counts, src/admin renders.
 *
 *   metrics-slab.c    each thread's counters, written by that thread alone,
 *                     summed by a reader
 *   metrics-labels.c  the label tables (user x model, refusal reasons,
 *                     upstream names): append-only, read without a lock
 *   metrics.c         what the workers call, and the view a reader takes
 *   admin/metrics-render.c  the view as Prometheus text and as the status JSON
 *
 * This is HAProxy's and h2o's model: no counter on the request path is
 * shared between threads, so counting costs neither a lock nor a contended
 * atomic; the reader (the admin listener on the main thread) adds up every
 * thread's counters when /metrics or /status.json is read. */
#ifndef TG_METRICS_VIEW_H
#define TG_METRICS_VIEW_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "tollgate/h2-session.h"
#include "tollgate/llm.h"

#define TG_METRICS_NSTATUS 500 /* 100..599 */
#define TG_METRICS_NBUCKETS 15
#define TG_METRICS_TOKEN_ROWS 256 /* 255 (user, model) pairs, then one `_other` row */
#define TG_METRICS_REFUSAL_ROWS 32
#define TG_METRICS_UPSTREAM_ROWS 32
#define TG_METRICS_CERT_ROWS 64
#define TG_METRICS_SERVER_ROWS 128
#define TG_METRICS_RTT_NBUCKETS 11 /* the shared store's round trips: 100 us to 250 ms */
#define TG_METRICS_MODEL_ROWS 64

extern const double tg_metrics_bucket_le[TG_METRICS_NBUCKETS];
extern const double tg_metrics_rtt_le[TG_METRICS_RTT_NBUCKETS];

typedef struct tg_metrics_histogram {
  uint64_t bucket[TG_METRICS_NBUCKETS + 1]; /* the last is +Inf */
  uint64_t sum_us, count;
} tg_metrics_histogram;

enum { TG_METRICS_PROMPT, TG_METRICS_OUTPUT, TG_METRICS_REQUESTS };

/* Every counter one thread keeps. All are uint64_t, so that adding up the
 * threads is a loop over words. The gauges (live, queued) go up and down
 * on the same thread (an exchange and a queue wait never move between
 * workers); they wrap as unsigned and their sum, read as int64_t, is right. */
typedef struct tg_metrics_counts {
  uint64_t requests[TG_ROUTE_COUNT][TG_METRICS_NSTATUS];
  uint64_t aborted[TG_ROUTE_COUNT];
  tg_metrics_histogram ttfb[TG_ROUTE_COUNT], duration[TG_ROUTE_COUNT];
  uint64_t tokens[TG_METRICS_TOKEN_ROWS][3];  /* by label row; TG_METRICS_PROMPT... */
  uint64_t refusals[TG_METRICS_REFUSAL_ROWS]; /* by label row */
  uint64_t handshakes[3];                     /* new, resumed, failed */
  uint64_t live, queued;
  uint64_t shared_conns;                            /* gauge: workers' connections up */
  uint64_t shared_rtt[TG_METRICS_RTT_NBUCKETS + 1]; /* the last is +Inf */
  uint64_t shared_rtt_sum_us, shared_rtt_count;
  uint64_t shared_fallbacks[3]; /* by on_failure: local, open, closed */
  tg_h2_counters h2;            /* this thread's HTTP/2 sessions (src/h2/h2-session.c counts) */
} tg_metrics_counts;

/* --- metrics-slab.c --- */

/* This thread's counters, once it has counted (see tg_metrics_mine). */
extern _Thread_local tg_metrics_counts *tg_metrics_here;

/* Takes a slab for this thread and sets tg_metrics_here. */
tg_metrics_counts *tg_metrics_take(void);

/* This thread's counters, taken at its first call and kept until
 * tg_metrics_thread_done; NULL only when memory ran out (the event is not
 * counted). Inline: it runs several times a request. */
static inline tg_metrics_counts *tg_metrics_mine(void) {
  tg_metrics_counts *m = tg_metrics_here;
  return __builtin_expect(m != NULL, 1) ? m : tg_metrics_take();
}

/* Adds d to a counter of this thread's own: a plain load and store (no
 * locked instruction), atomic only so that a reader's load sees a whole
 * value. Only the owning thread may call it. */
static inline void tg_metrics_add(uint64_t *p, uint64_t d) {
  __atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + d, __ATOMIC_RELAXED);
}

/* Adds every thread's counters in bytes [off, off + len) of
 * tg_metrics_counts (whole uint64_t words) into the same bytes of *out,
 * which the caller zeroed. Threads that ended count too. */
void tg_metrics_sum(tg_metrics_counts *out, size_t off, size_t len);

/* --- metrics-labels.c --- */

/* One row's label values: (user, model), (layer, reason) or (name, ""). */
typedef struct tg_metrics_label {
  char a[64], b[TG_MODEL_MAX + 1];
} tg_metrics_label;

/* An append-only table of label rows. A row, once published (n), never
 * changes and never moves, so any thread reads rows [0, n) without a lock;
 * the lock is taken only to add a row, at most cap times per process. */
typedef struct tg_metrics_labels {
  pthread_mutex_t lock;
  _Atomic size_t n;
  size_t cap;
  tg_metrics_label *rows;
} tg_metrics_labels;

#define TG_METRICS_LABELS_INIT(rows_, cap_)                                                                            \
  { PTHREAD_MUTEX_INITIALIZER, 0, (cap_), (rows_) }

/* The row of (a, b), added if new. Returns its index, or -1 when the table
 * is full and the pair is not in it. Values are cut to the row's sizes. */
long tg_metrics_label_row(tg_metrics_labels *t, const char *a, const char *b);

/* The rows published so far (an acquire load: their contents are whole). */
size_t tg_metrics_label_rows(tg_metrics_labels *t);

/* --- metrics.c: what a reader renders --- */

typedef struct tg_metrics_cert_row {
  char name[128];
  int64_t not_after;
} tg_metrics_cert_row;

/* One server of an upstream as its state holds it (src/upstream/servers.c
 * fills these through the source set with tg_metrics_servers_source). */
typedef struct tg_metrics_server_row {
  char upstream[64], server[64];
  int up;
  unsigned in_flight, slots;
  uint64_t failovers, errors;
  uint64_t loads, load_ms;                  /* loads its answers reported, and their time */
  uint64_t affinity_hits, affinity_tokens;  /* requests sent with a prefix predicted cached there, its tokens */
  uint64_t prompt_evaluated, prompt_cached; /* prompt tokens its answers say it evaluated, and served from cache */
  unsigned models;                          /* in its catalogue (its last /api/tags) */
  char loaded[256]; /* its last /api/ps: normal forms, each ended by '\n' (cut to whole names) */
} tg_metrics_server_row;

/* A model's requests held in the model queue now. */
typedef struct tg_metrics_model_row {
  char model[128];
  int depth;
} tg_metrics_model_row;

/* The requests of a model held at the gateway for an upstream now (a row
 * once there stays, at 0 when none wait). */
typedef struct tg_metrics_held_row {
  char upstream[64], model[TG_MODEL_MAX + 1];
  unsigned depth;
} tg_metrics_held_row;

typedef struct tg_metrics_view {
  tg_metrics_counts sum; /* every thread's counters added up */
  const tg_metrics_label *tokens, *refusals, *upstreams;
  size_t ntokens, nrefusals, nupstreams;
  int upstream_up[TG_METRICS_UPSTREAM_ROWS]; /* 1, 0, or -1: no answer recorded yet */
  tg_metrics_cert_row certs[TG_METRICS_CERT_ROWS];
  size_t ncerts;
  unsigned workers;
  int shared; /* a shared block is configured */
  uint64_t uptime_s;
  tg_metrics_server_row servers[TG_METRICS_SERVER_ROWS];
  size_t nservers;
  tg_metrics_model_row model_queue[TG_METRICS_MODEL_ROWS];
  size_t nmodel_queue;
  tg_metrics_held_row held[TG_METRICS_MODEL_ROWS];
  size_t nheld;
} tg_metrics_view;

/* Fills v (the caller zeroed it): the label rows first, then the
 * counters, so that every row shown has its counts. */
void tg_metrics_view_take(tg_metrics_view *v);

#endif
