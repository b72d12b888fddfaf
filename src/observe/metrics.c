/* Metrics: what the workers count (see tollgate/metrics.h), each into its
 * own thread's counters (metrics-slab.c), and the view a reader takes of
 * them (metrics-view.h). */
#include "tollgate/metrics.h"
#include "tollgate/metrics-view.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

const double tg_metrics_bucket_le[TG_METRICS_NBUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                          2.5,   5,    10,    30,   60,  120,  300};

static tg_metrics_label token_rows[TG_METRICS_TOKEN_ROWS - 1];
static tg_metrics_label refusal_rows[TG_METRICS_REFUSAL_ROWS];
static tg_metrics_label upstream_rows[TG_METRICS_UPSTREAM_ROWS];
static tg_metrics_labels tokens = TG_METRICS_LABELS_INIT(token_rows, TG_METRICS_TOKEN_ROWS - 1);
static tg_metrics_labels refusals = TG_METRICS_LABELS_INIT(refusal_rows, TG_METRICS_REFUSAL_ROWS);
static tg_metrics_labels upstreams = TG_METRICS_LABELS_INIT(upstream_rows, TG_METRICS_UPSTREAM_ROWS);

/* An upstream's state is one value whoever wrote it last, not a count, so
 * it is shared: 0 none yet, 1 down, 2 up. */
static _Atomic int upstream_state[TG_METRICS_UPSTREAM_ROWS];

static void observe(tg_metrics_histogram *h, double s) {
  size_t i = 0;
  while (i < TG_METRICS_NBUCKETS && s > tg_metrics_bucket_le[i]) i++;
  tg_metrics_add(&h->bucket[i], 1);
  tg_metrics_add(&h->sum_us, (uint64_t)(s * 1e6));
  tg_metrics_add(&h->count, 1);
}

/* The user's tokens for the model; once 255 pairs have rows, every other
 * pair shares the last row (`_other`). */
static void count_tokens(tg_metrics_counts *m, const tg_metrics_req *r) {
  long i = tg_metrics_label_row(&tokens, r->user && r->user[0] ? r->user : "_anonymous",
                                r->model && r->model[0] ? r->model : "_unknown");
  uint64_t *row = m->tokens[i < 0 ? TG_METRICS_TOKEN_ROWS - 1 : i];
  tg_metrics_add(&row[TG_METRICS_PROMPT], r->prompt_tokens > 0 ? (uint64_t)r->prompt_tokens : 0);
  tg_metrics_add(&row[TG_METRICS_OUTPUT], r->output_tokens > 0 ? (uint64_t)r->output_tokens : 0);
  tg_metrics_add(&row[TG_METRICS_REQUESTS], 1);
}

void tg_metrics_request_done(const tg_metrics_req *r) {
  tg_metrics_counts *m = tg_metrics_mine();
  if (!m) return;
  tg_route_kind k = r->kind < TG_ROUTE_COUNT ? r->kind : TG_ROUTE_OTHER;
  if (r->status >= 100 && r->status < 600) tg_metrics_add(&m->requests[k][r->status - 100], 1);
  if (r->client_aborted) tg_metrics_add(&m->aborted[k], 1);
  if (r->ttfb_s >= 0) observe(&m->ttfb[k], r->ttfb_s);
  observe(&m->duration[k], r->duration_s);
  if (r->prompt_tokens >= 0 || r->output_tokens >= 0) count_tokens(m, r);
}

void tg_metrics_live(int delta) {
  tg_metrics_counts *m = tg_metrics_mine();
  if (m) tg_metrics_add(&m->live, (uint64_t)(int64_t)delta);
}

void tg_metrics_queued(int delta) {
  tg_metrics_counts *m = tg_metrics_mine();
  if (m) tg_metrics_add(&m->queued, (uint64_t)(int64_t)delta);
}

void tg_metrics_upstream(const char *name, int healthy) {
  long i = tg_metrics_label_row(&upstreams, name, "");
  if (i < 0) return;
  int state = healthy ? 2 : 1;
  if (atomic_load_explicit(&upstream_state[i], memory_order_relaxed) != state) /* most dials change nothing */
    atomic_store_explicit(&upstream_state[i], state, memory_order_relaxed);
}

void tg_metrics_refused(const char *layer, const char *reason) {
  tg_metrics_counts *m = tg_metrics_mine();
  long i = m ? tg_metrics_label_row(&refusals, layer, reason) : -1;
  if (i >= 0) tg_metrics_add(&m->refusals[i], 1);
}

/* ---- TLS ---- */

void tg_metrics_tls_handshake(int ok, int resumed) {
  tg_metrics_counts *m = tg_metrics_mine();
  if (m) tg_metrics_add(&m->handshakes[!ok ? 2 : resumed ? 1 : 0], 1);
}

uint64_t tg_metrics_tls_handshakes(void) {
  tg_metrics_counts sum; /* only handshakes[] is filled */
  memset(sum.handshakes, 0, sizeof sum.handshakes);
  tg_metrics_sum(&sum, offsetof(tg_metrics_counts, handshakes), sizeof sum.handshakes);
  return sum.handshakes[0] + sum.handshakes[1] + sum.handshakes[2];
}

/* ---- the shared store ---- */

const double tg_metrics_rtt_le[TG_METRICS_RTT_NBUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                           0.01,   0.025,   0.05,   0.1,   0.25};

static _Atomic int shared_configured;

void tg_metrics_shared_conn(int delta) {
  tg_metrics_counts *m = tg_metrics_mine();
  if (m) tg_metrics_add(&m->shared_conns, (uint64_t)(int64_t)delta);
}

void tg_metrics_shared_round_trip(uint64_t us) {
  tg_metrics_counts *m = tg_metrics_mine();
  if (!m) return;
  size_t i = 0;
  while (i < TG_METRICS_RTT_NBUCKETS && (double)us > tg_metrics_rtt_le[i] * 1e6) i++;
  tg_metrics_add(&m->shared_rtt[i], 1);
  tg_metrics_add(&m->shared_rtt_sum_us, us);
  tg_metrics_add(&m->shared_rtt_count, 1);
}

void tg_metrics_shared_fallback(int policy) {
  tg_metrics_counts *m = tg_metrics_mine();
  if (m && policy >= 0 && policy < 3) tg_metrics_add(&m->shared_fallbacks[policy], 1);
}

void tg_metrics_set_shared(int configured) { atomic_store(&shared_configured, configured); }

static _Atomic unsigned workers;

int tg_metrics_shared_up(void) {
  if (!atomic_load(&shared_configured)) return -1;
  tg_metrics_counts sum; /* only shared_conns is filled */
  sum.shared_conns = 0;
  tg_metrics_sum(&sum, offsetof(tg_metrics_counts, shared_conns), sizeof sum.shared_conns);
  int64_t up = (int64_t)sum.shared_conns;
  return up > 0 && up >= (int64_t)atomic_load(&workers);
}

/* The certificates are written by the main thread at each configuration
 * load and read when the metrics are: both rare, so they keep a lock. */
static pthread_mutex_t certs_lock = PTHREAD_MUTEX_INITIALIZER;
static tg_metrics_cert_row certs[TG_METRICS_CERT_ROWS];
static size_t ncerts;

void tg_metrics_certs_reset(void) {
  pthread_mutex_lock(&certs_lock);
  ncerts = 0;
  pthread_mutex_unlock(&certs_lock);
}

void tg_metrics_cert(const char *name, int64_t not_after) {
  pthread_mutex_lock(&certs_lock);
  if (ncerts < TG_METRICS_CERT_ROWS) {
    snprintf(certs[ncerts].name, sizeof certs[ncerts].name, "%s", name ? name : "");
    certs[ncerts++].not_after = not_after;
  }
  pthread_mutex_unlock(&certs_lock);
}

/* ---- the servers of the upstreams ---- */

static _Atomic(tg_metrics_servers_fn) servers_fn;

void tg_metrics_servers_source(tg_metrics_servers_fn fn) { atomic_store(&servers_fn, fn); }

/* ---- the model queue ---- */

static _Atomic(tg_metrics_held_fn) held_fn;

void tg_metrics_held_source(tg_metrics_held_fn fn) { atomic_store(&held_fn, fn); }

static struct {
  char model[128];
  _Atomic int depth;
} model_rows[TG_METRICS_MODEL_ROWS];
static _Atomic size_t nmodel_rows; /* rows filled (written under model_lock) */
static pthread_mutex_t model_lock = PTHREAD_MUTEX_INITIALIZER;

void tg_metrics_model_queue(const char *model, int delta) {
  size_t n = atomic_load(&nmodel_rows);
  for (size_t i = 0; i < n; i++)
    if (!strcmp(model_rows[i].model, model)) {
      atomic_fetch_add(&model_rows[i].depth, delta);
      return;
    }
  pthread_mutex_lock(&model_lock);
  size_t i = 0;
  for (n = atomic_load(&nmodel_rows); i < n && strcmp(model_rows[i].model, model); i++) {}
  if (i == n && n < TG_METRICS_MODEL_ROWS) {
    snprintf(model_rows[i].model, sizeof model_rows[i].model, "%s", model);
    atomic_store(&nmodel_rows, n + 1);
  }
  if (i < TG_METRICS_MODEL_ROWS) atomic_fetch_add(&model_rows[i].depth, delta);
  pthread_mutex_unlock(&model_lock);
}

/* ---- the process ---- */

static _Atomic uint64_t started_ns;

void tg_metrics_set_workers(unsigned n) {
  atomic_store(&workers, n);
  uint64_t zero = 0;
  atomic_compare_exchange_strong(&started_ns, &zero, uv_hrtime());
}

void tg_metrics_view_take(tg_metrics_view *v) {
  v->tokens = token_rows;
  v->ntokens = tg_metrics_label_rows(&tokens);
  v->refusals = refusal_rows;
  v->nrefusals = tg_metrics_label_rows(&refusals);
  v->upstreams = upstream_rows;
  v->nupstreams = tg_metrics_label_rows(&upstreams);
  for (size_t i = 0; i < v->nupstreams; i++) v->upstream_up[i] = atomic_load(&upstream_state[i]) - 1;
  tg_metrics_sum(&v->sum, 0, sizeof v->sum);
  pthread_mutex_lock(&certs_lock);
  memcpy(v->certs, certs, ncerts * sizeof *certs);
  v->ncerts = ncerts;
  pthread_mutex_unlock(&certs_lock);
  tg_metrics_servers_fn fn = atomic_load(&servers_fn);
  v->nservers = fn ? fn(v->servers, TG_METRICS_SERVER_ROWS) : 0;
  v->nmodel_queue = atomic_load(&nmodel_rows);
  for (size_t i = 0; i < v->nmodel_queue; i++) {
    memcpy(v->model_queue[i].model, model_rows[i].model, sizeof v->model_queue[i].model);
    v->model_queue[i].depth = atomic_load(&model_rows[i].depth);
  }
  tg_metrics_held_fn held = atomic_load(&held_fn);
  v->nheld = held ? held(v->held, TG_METRICS_MODEL_ROWS) : 0;
  v->workers = atomic_load(&workers);
  v->shared = atomic_load(&shared_configured);
  v->uptime_s = (uv_hrtime() - atomic_load(&started_ns)) / 1000000000ull;
}
