/* Prometheus metrics (see tollgate/metrics.h). */
#include "tollgate/metrics.h"
#include "tollgate/limits.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#define NSTATUS 500 /* 100..599 */
#define NBUCKETS 15
#define TOKEN_ROWS 256
#define REFUSAL_ROWS 32
#define UPSTREAM_ROWS 32

static const double bucket_le[NBUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};

typedef struct histogram {
  _Atomic uint64_t bucket[NBUCKETS + 1]; /* the last is +Inf */
  _Atomic uint64_t sum_us;
  _Atomic uint64_t count;
} histogram;

static _Atomic uint64_t requests[TG_ROUTE_COUNT][NSTATUS];
static _Atomic uint64_t aborted[TG_ROUTE_COUNT];
static _Atomic int64_t live;
static histogram ttfb[TG_ROUTE_COUNT], duration[TG_ROUTE_COUNT];

typedef struct token_row {
  char user[64], model[TG_MODEL_MAX + 1];
  uint64_t prompt, output, requests;
} token_row;

typedef struct refusal_row {
  char layer[16], reason[32];
  uint64_t count;
} refusal_row;

typedef struct upstream_row {
  char name[64];
  int healthy;
} upstream_row;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static token_row tokens[TOKEN_ROWS];
static size_t ntokens;
static refusal_row refusals[REFUSAL_ROWS];
static size_t nrefusals;
static upstream_row upstreams[UPSTREAM_ROWS];
static size_t nupstreams;

static void observe(histogram *h, double s) {
  size_t i = 0;
  while (i < NBUCKETS && s > bucket_le[i]) i++;
  atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->sum_us, (uint64_t)(s * 1e6), memory_order_relaxed);
  atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

/* The row for (user, model), the last row standing in for all others once
 * the table is full. Call with the lock held. */
static token_row *token_row_for(const char *user, const char *model) {
  for (size_t i = 0; i < ntokens; i++)
    if (!strcmp(tokens[i].user, user) && !strcmp(tokens[i].model, model)) return &tokens[i];
  if (ntokens == TOKEN_ROWS - 1) {
    token_row *o = &tokens[TOKEN_ROWS - 1];
    strcpy(o->user, "_other");
    strcpy(o->model, "_other");
    return o;
  }
  token_row *r = &tokens[ntokens++];
  snprintf(r->user, sizeof r->user, "%s", user);
  snprintf(r->model, sizeof r->model, "%s", model);
  return r;
}

void tg_metrics_request_done(const tg_metrics_req *r) {
  tg_route_kind k = r->kind < TG_ROUTE_COUNT ? r->kind : TG_ROUTE_OTHER;
  if (r->status >= 100 && r->status < 600)
    atomic_fetch_add_explicit(&requests[k][r->status - 100], 1, memory_order_relaxed);
  if (r->client_aborted) atomic_fetch_add_explicit(&aborted[k], 1, memory_order_relaxed);
  if (r->ttfb_s >= 0) observe(&ttfb[k], r->ttfb_s);
  observe(&duration[k], r->duration_s);
  if (r->prompt_tokens < 0 && r->output_tokens < 0) return;
  pthread_mutex_lock(&lock);
  token_row *t = token_row_for(r->user && r->user[0] ? r->user : "_anonymous",
                               r->model && r->model[0] ? r->model : "_unknown");
  t->prompt += r->prompt_tokens > 0 ? (uint64_t)r->prompt_tokens : 0;
  t->output += r->output_tokens > 0 ? (uint64_t)r->output_tokens : 0;
  t->requests++;
  pthread_mutex_unlock(&lock);
}

void tg_metrics_live(int delta) { atomic_fetch_add_explicit(&live, delta, memory_order_relaxed); }

void tg_metrics_upstream(const char *name, int healthy) {
  pthread_mutex_lock(&lock);
  size_t i = 0;
  while (i < nupstreams && strcmp(upstreams[i].name, name)) i++;
  if (i == nupstreams && nupstreams < UPSTREAM_ROWS) snprintf(upstreams[nupstreams++].name, 64, "%s", name);
  if (i < nupstreams) upstreams[i].healthy = healthy;
  pthread_mutex_unlock(&lock);
}

void tg_metrics_refused(const char *layer, const char *reason) {
  pthread_mutex_lock(&lock);
  size_t i = 0;
  while (i < nrefusals && (strcmp(refusals[i].layer, layer) || strcmp(refusals[i].reason, reason))) i++;
  if (i == nrefusals && nrefusals < REFUSAL_ROWS) {
    snprintf(refusals[i].layer, sizeof refusals[i].layer, "%s", layer);
    snprintf(refusals[i].reason, sizeof refusals[i].reason, "%s", reason);
    nrefusals++;
  }
  if (i < nrefusals) refusals[i].count++;
  pthread_mutex_unlock(&lock);
}

/* A label value: the characters Prometheus needs escaped are escaped. */
static int put_label(tg_buf *o, const char *v) {
  int rc = 0;
  for (; *v; v++) {
    if (*v == '\\' || *v == '"') rc |= tg_buf_append(o, "\\", 1);
    if (*v == '\n') rc |= tg_buf_append(o, "\\n", 2);
    else rc |= tg_buf_append(o, v, 1);
  }
  return rc;
}

static uint64_t ld(_Atomic uint64_t *p) { return atomic_load_explicit(p, memory_order_relaxed); }

static int render_requests(tg_buf *o) {
  int rc = tg_buf_puts(o, "# HELP tollgate_requests_total Requests answered, by route kind and status.\n"
                          "# TYPE tollgate_requests_total counter\n");
  for (int k = 0; k < TG_ROUTE_COUNT; k++)
    for (int s = 0; s < NSTATUS; s++) {
      uint64_t v = ld(&requests[k][s]);
      if (v) rc |= tg_buf_printf(o, "tollgate_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                                 tg_route_kind_name((tg_route_kind)k), s + 100, (unsigned long long)v);
    }
  rc |= tg_buf_puts(o, "# HELP tollgate_client_aborts_total Exchanges the client left before the response ended.\n"
                       "# TYPE tollgate_client_aborts_total counter\n");
  for (int k = 0; k < TG_ROUTE_COUNT; k++)
    rc |= tg_buf_printf(o, "tollgate_client_aborts_total{route=\"%s\"} %llu\n", tg_route_kind_name((tg_route_kind)k),
                        (unsigned long long)ld(&aborted[k]));
  rc |= tg_buf_printf(o, "# HELP tollgate_live_streams Exchanges in flight.\n# TYPE tollgate_live_streams gauge\n"
                         "tollgate_live_streams %lld\n", (long long)atomic_load(&live));
  rc |= tg_buf_puts(o, "# HELP tollgate_queue_depth Requests waiting for a generation slot.\n"
                       "# TYPE tollgate_queue_depth gauge\n");
  rc |= tg_buf_printf(o, "tollgate_queue_depth %ld\n", tg_limits_queue_depth());
  return rc;
}

static int render_histogram(tg_buf *o, const char *name, const char *help, histogram *h) {
  int rc = tg_buf_printf(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
  for (int k = 0; k < TG_ROUTE_COUNT; k++) {
    const char *route = tg_route_kind_name((tg_route_kind)k);
    uint64_t cum = 0;
    for (int i = 0; i <= NBUCKETS; i++) {
      cum += ld(&h[k].bucket[i]);
      if (i < NBUCKETS) rc |= tg_buf_printf(o, "%s_bucket{route=\"%s\",le=\"%g\"} %llu\n", name, route, bucket_le[i], (unsigned long long)cum);
      else rc |= tg_buf_printf(o, "%s_bucket{route=\"%s\",le=\"+Inf\"} %llu\n", name, route, (unsigned long long)cum);
    }
    rc |= tg_buf_printf(o, "%s_sum{route=\"%s\"} %.6f\n%s_count{route=\"%s\"} %llu\n", name, route,
                        (double)ld(&h[k].sum_us) / 1e6, name, route, (unsigned long long)ld(&h[k].count));
  }
  return rc;
}

static int render_tables(tg_buf *o) {
  int rc = tg_buf_puts(o, "# HELP tollgate_tokens_total Tokens reported by the upstream, by user, model and direction.\n"
                          "# TYPE tollgate_tokens_total counter\n");
  pthread_mutex_lock(&lock);
  size_t rows = ntokens + (tokens[TOKEN_ROWS - 1].requests ? 1 : 0); /* the overflow row last */
  for (size_t i = 0; i < rows; i++) {
    const token_row *t = i < ntokens ? &tokens[i] : &tokens[TOKEN_ROWS - 1];
    for (int dir = 0; dir < 2; dir++)
      rc |= tg_buf_puts(o, "tollgate_tokens_total{user=\"") | put_label(o, t->user) | tg_buf_puts(o, "\",model=\"") |
            put_label(o, t->model) |
            tg_buf_printf(o, "\",kind=\"%s\"} %llu\n", dir ? "output" : "prompt",
                          (unsigned long long)(dir ? t->output : t->prompt));
  }
  rc |= tg_buf_puts(o, "# HELP tollgate_refusals_total Requests refused by the auth and limit layers, by reason.\n"
                       "# TYPE tollgate_refusals_total counter\n");
  for (size_t i = 0; i < nrefusals; i++)
    rc |= tg_buf_printf(o, "tollgate_refusals_total{layer=\"%s\",reason=\"%s\"} %llu\n", refusals[i].layer,
                        refusals[i].reason, (unsigned long long)refusals[i].count);
  rc |= tg_buf_puts(o, "# HELP tollgate_upstream_up Whether the upstream answered its last connection (1) or not (0).\n"
                       "# TYPE tollgate_upstream_up gauge\n");
  for (size_t i = 0; i < nupstreams; i++)
    rc |= tg_buf_puts(o, "tollgate_upstream_up{upstream=\"") | put_label(o, upstreams[i].name) |
          tg_buf_printf(o, "\"} %d\n", upstreams[i].healthy);
  pthread_mutex_unlock(&lock);
  return rc;
}

/* ---- TLS ---- */

static _Atomic uint64_t handshakes[3]; /* new, resumed, failed */
#define CERT_ROWS 64
typedef struct cert_row {
  char name[128];
  int64_t not_after;
} cert_row;
static cert_row certs[CERT_ROWS];
static size_t ncerts;

void tg_metrics_tls_handshake(int ok, int resumed) {
  atomic_fetch_add_explicit(&handshakes[!ok ? 2 : resumed ? 1 : 0], 1, memory_order_relaxed);
}

uint64_t tg_metrics_tls_handshakes(void) {
  uint64_t n = 0;
  for (int i = 0; i < 3; i++) n += atomic_load_explicit(&handshakes[i], memory_order_relaxed);
  return n;
}

void tg_metrics_certs_reset(void) {
  pthread_mutex_lock(&lock);
  ncerts = 0;
  pthread_mutex_unlock(&lock);
}

void tg_metrics_cert(const char *name, int64_t not_after) {
  pthread_mutex_lock(&lock);
  if (ncerts < CERT_ROWS) {
    snprintf(certs[ncerts].name, sizeof certs[ncerts].name, "%s", name ? name : "");
    certs[ncerts++].not_after = not_after;
  }
  pthread_mutex_unlock(&lock);
}

static int render_tls(tg_buf *o) {
  static const char *const kinds[3] = {"new", "resumed", "failed"};
  int rc = tg_buf_puts(o, "# HELP tollgate_tls_handshakes_total TLS handshakes: new, resumed from a ticket, failed.\n"
                          "# TYPE tollgate_tls_handshakes_total counter\n");
  for (int i = 0; i < 3; i++)
    rc |= tg_buf_printf(o, "tollgate_tls_handshakes_total{result=\"%s\"} %llu\n", kinds[i],
                        (unsigned long long)ld(&handshakes[i]));
  rc |= tg_buf_puts(o, "# HELP tollgate_tls_certificate_expiry_seconds When a served certificate expires (Unix time).\n"
                       "# TYPE tollgate_tls_certificate_expiry_seconds gauge\n");
  pthread_mutex_lock(&lock);
  for (size_t i = 0; i < ncerts; i++)
    rc |= tg_buf_puts(o, "tollgate_tls_certificate_expiry_seconds{name=\"") | put_label(o, certs[i].name) |
          tg_buf_printf(o, "\"} %lld\n", (long long)certs[i].not_after);
  pthread_mutex_unlock(&lock);
  return rc;
}

static _Atomic unsigned workers;
static _Atomic uint64_t started_ns;

void tg_metrics_set_workers(unsigned n) {
  atomic_store(&workers, n);
  uint64_t zero = 0;
  atomic_compare_exchange_strong(&started_ns, &zero, uv_hrtime());
}

static int json_str(tg_buf *o, const char *s) {
  return tg_buf_append(o, "\"", 1) | tg_buf_json_str(o, s, strlen(s)) | tg_buf_append(o, "\"", 1);
}

static int json_routes(tg_buf *o, uint64_t *total) {
  int rc = tg_buf_puts(o, ",\"routes\":{");
  for (int k = 0; k < TG_ROUTE_COUNT; k++) {
    uint64_t n = 0;
    for (int s = 0; s < NSTATUS; s++) n += ld(&requests[k][s]);
    *total += n;
    rc |= tg_buf_printf(o, "%s\"%s\":%llu", k ? "," : "", tg_route_kind_name((tg_route_kind)k), (unsigned long long)n);
  }
  return rc | tg_buf_puts(o, "}");
}

static int json_tables(tg_buf *o) {
  int rc = tg_buf_puts(o, ",\"tokens\":[");
  pthread_mutex_lock(&lock);
  size_t rows = ntokens + (tokens[TOKEN_ROWS - 1].requests ? 1 : 0);
  for (size_t i = 0; i < rows; i++) {
    const token_row *t = i < ntokens ? &tokens[i] : &tokens[TOKEN_ROWS - 1];
    rc |= tg_buf_puts(o, i ? ",{\"user\":" : "{\"user\":") | json_str(o, t->user) | tg_buf_puts(o, ",\"model\":") |
          json_str(o, t->model) |
          tg_buf_printf(o, ",\"requests\":%llu,\"prompt\":%llu,\"output\":%llu}", (unsigned long long)t->requests,
                        (unsigned long long)t->prompt, (unsigned long long)t->output);
  }
  rc |= tg_buf_puts(o, "],\"upstreams\":[");
  for (size_t i = 0; i < nupstreams; i++)
    rc |= tg_buf_puts(o, i ? ",{\"name\":" : "{\"name\":") | json_str(o, upstreams[i].name) |
          tg_buf_printf(o, ",\"up\":%s}", upstreams[i].healthy ? "true" : "false");
  rc |= tg_buf_puts(o, "],\"certs\":[");
  for (size_t i = 0; i < ncerts; i++)
    rc |= tg_buf_puts(o, i ? ",{\"name\":" : "{\"name\":") | json_str(o, certs[i].name) |
          tg_buf_printf(o, ",\"not_after\":%lld}", (long long)certs[i].not_after);
  pthread_mutex_unlock(&lock);
  return rc | tg_buf_puts(o, "]");
}

int tg_metrics_render_json(tg_buf *o) {
  uint64_t total = 0;
  uint64_t up_ns = uv_hrtime() - atomic_load(&started_ns);
  int rc = tg_buf_printf(o, "{\"version\":\"%s\",\"uptime_s\":%llu,\"workers\":%u,\"live\":%lld", TG_VERSION,
                         (unsigned long long)(up_ns / 1000000000ull), atomic_load(&workers), (long long)atomic_load(&live));
  rc |= json_routes(o, &total);
  rc |= tg_buf_printf(o, ",\"requests\":%llu", (unsigned long long)total);
  rc |= json_tables(o);
  rc |= tg_buf_puts(o, "}\n");
  return rc ? -1 : 0;
}

int tg_metrics_render(tg_buf *o) {
  int rc = render_requests(o);
  rc |= render_histogram(o, "tollgate_ttfb_seconds", "Time to the first response byte, by route kind.", ttfb);
  rc |= render_histogram(o, "tollgate_request_duration_seconds", "Whole exchange, by route kind.", duration);
  rc |= render_tables(o);
  rc |= render_tls(o);
  return rc ? -1 : 0;
}
