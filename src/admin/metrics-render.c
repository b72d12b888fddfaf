/* The metrics as Prometheus text and as the status page's JSON, from one
 * view of every thread's counters (metrics-view.h). A label row whose
 * count is still 0 was added by a thread that has not counted into it
 * yet: it is left for the next read, as if it were not there. */
#include "tollgate/metrics.h"
#include "tollgate/metrics-view.h"

#include "live-render.h"

#include <stdlib.h>
#include <string.h>

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

static int render_requests(tg_buf *o, const tg_metrics_view *v) {
  int rc = tg_buf_puts(o, "# HELP tollgate_requests_total Requests answered, by route kind and status.\n"
                          "# TYPE tollgate_requests_total counter\n");
  for (int k = 0; k < TG_ROUTE_COUNT; k++)
    for (int s = 0; s < TG_METRICS_NSTATUS; s++) {
      uint64_t n = v->sum.requests[k][s];
      if (n)
        rc |= tg_buf_printf(o, "tollgate_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                            tg_route_kind_name((tg_route_kind)k), s + 100, (unsigned long long)n);
    }
  rc |= tg_buf_puts(o, "# HELP tollgate_client_aborts_total Exchanges the client left before the response ended.\n"
                       "# TYPE tollgate_client_aborts_total counter\n");
  for (int k = 0; k < TG_ROUTE_COUNT; k++)
    rc |= tg_buf_printf(o, "tollgate_client_aborts_total{route=\"%s\"} %llu\n", tg_route_kind_name((tg_route_kind)k),
                        (unsigned long long)v->sum.aborted[k]);
  rc |= tg_buf_printf(o,
                      "# HELP tollgate_live_streams Exchanges in flight.\n# TYPE tollgate_live_streams gauge\n"
                      "tollgate_live_streams %lld\n",
                      (long long)(int64_t)v->sum.live);
  rc |= tg_buf_puts(o, "# HELP tollgate_queue_depth Requests waiting for a generation slot.\n"
                       "# TYPE tollgate_queue_depth gauge\n");
  rc |= tg_buf_printf(o, "tollgate_queue_depth %ld\n", (long)(int64_t)v->sum.queued);
  return rc;
}

static int render_histogram(tg_buf *o, const char *name, const char *help, const tg_metrics_histogram *h) {
  int rc = tg_buf_printf(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
  for (int k = 0; k < TG_ROUTE_COUNT; k++) {
    const char *route = tg_route_kind_name((tg_route_kind)k);
    uint64_t cum = 0;
    for (int i = 0; i <= TG_METRICS_NBUCKETS; i++) {
      cum += h[k].bucket[i];
      if (i < TG_METRICS_NBUCKETS)
        rc |= tg_buf_printf(o, "%s_bucket{route=\"%s\",le=\"%g\"} %llu\n", name, route, tg_metrics_bucket_le[i],
                            (unsigned long long)cum);
      else rc |= tg_buf_printf(o, "%s_bucket{route=\"%s\",le=\"+Inf\"} %llu\n", name, route, (unsigned long long)cum);
    }
    rc |= tg_buf_printf(o, "%s_sum{route=\"%s\"} %.6f\n%s_count{route=\"%s\"} %llu\n", name, route,
                        (double)h[k].sum_us / 1e6, name, route, (unsigned long long)h[k].count);
  }
  return rc;
}

#define OTHER_ROW (TG_METRICS_TOKEN_ROWS - 1)

/* The token rows to show, into rows: the pairs in the order they were
 * first seen, then `_other`. Returns their number. */
static size_t token_rows(const tg_metrics_view *v, size_t rows[TG_METRICS_TOKEN_ROWS]) {
  size_t n = 0;
  for (size_t i = 0; i < v->ntokens; i++)
    if (v->sum.tokens[i][TG_METRICS_REQUESTS]) rows[n++] = i;
  if (v->sum.tokens[OTHER_ROW][TG_METRICS_REQUESTS]) rows[n++] = OTHER_ROW;
  return n;
}

static const tg_metrics_label other = {"_other", "_other"};

static const tg_metrics_label *token_label(const tg_metrics_view *v, size_t row) {
  return row == OTHER_ROW ? &other : &v->tokens[row];
}

static int render_tokens(tg_buf *o, const tg_metrics_view *v) {
  int rc =
      tg_buf_puts(o, "# HELP tollgate_tokens_total Tokens reported by the upstream, by user, model and direction.\n"
                     "# TYPE tollgate_tokens_total counter\n");
  size_t rows[TG_METRICS_TOKEN_ROWS], n = token_rows(v, rows);
  for (size_t i = 0; i < n; i++) {
    const tg_metrics_label *t = token_label(v, rows[i]);
    const uint64_t *count = v->sum.tokens[rows[i]];
    for (int dir = 0; dir < 2; dir++)
      rc |= tg_buf_puts(o, "tollgate_tokens_total{user=\"") | put_label(o, t->a) | tg_buf_puts(o, "\",model=\"") |
            put_label(o, t->b) |
            tg_buf_printf(o, "\",kind=\"%s\"} %llu\n", dir ? "output" : "prompt",
                          (unsigned long long)count[dir ? TG_METRICS_OUTPUT : TG_METRICS_PROMPT]);
  }
  return rc;
}

static int render_tables(tg_buf *o, const tg_metrics_view *v) {
  int rc = render_tokens(o, v);
  rc |= tg_buf_puts(o, "# HELP tollgate_refusals_total Requests refused by the auth and limit layers, by reason.\n"
                       "# TYPE tollgate_refusals_total counter\n");
  for (size_t i = 0; i < v->nrefusals; i++)
    if (v->sum.refusals[i])
      rc |= tg_buf_printf(o, "tollgate_refusals_total{layer=\"%s\",reason=\"%s\"} %llu\n", v->refusals[i].a,
                          v->refusals[i].b, (unsigned long long)v->sum.refusals[i]);
  rc |= tg_buf_puts(o, "# HELP tollgate_upstream_up Whether the upstream answered its last connection (1) or not (0).\n"
                       "# TYPE tollgate_upstream_up gauge\n");
  for (size_t i = 0; i < v->nupstreams; i++)
    if (v->upstream_up[i] >= 0)
      rc |= tg_buf_puts(o, "tollgate_upstream_up{upstream=\"") | put_label(o, v->upstreams[i].a) |
            tg_buf_printf(o, "\"} %d\n", v->upstream_up[i]);
  return rc;
}

/* The servers of the upstreams, one family per fact, labelled upstream
 * and server. */
static int render_servers(tg_buf *o, const tg_metrics_view *v) {
  static const struct {
    const char *name, *type, *help;
  } fam[11] = {
      {"tollgate_server_up", "gauge", "Whether the server is up (1) or taken out by failed checks or requests (0)."},
      {"tollgate_server_in_flight", "gauge", "Requests the server carries now, from every worker."},
      {"tollgate_server_slots", "gauge", "Requests the server runs at once, as configured (slots)."},
      {"tollgate_server_failovers_total", "counter", "Requests sent on to another server after this one failed them."},
      {"tollgate_server_errors_total", "counter", "Requests the server failed before the response's first byte."},
      {"tollgate_server_loads_total", "counter",
       "Model loads the server's answers reported (load_duration past 100 ms)."},
      {"tollgate_server_load_seconds_total", "counter", "Time those loads took, from their load_duration."},
      {"tollgate_affinity_hits_total", "counter",
       "Requests sent to the server with a prefix of their prompt predicted in its cache (conversation affinity)."},
      {"tollgate_affinity_matched_tokens", "counter", "The prompt tokens predicted in its cache for those requests."},
      {"tollgate_server_prompt_tokens_evaluated_total", "counter",
       "Prompt tokens the server's answers say it evaluated (prompt_eval_count less prompt_eval_cached_count)."},
      {"tollgate_server_prompt_tokens_cached_total", "counter",
       "Prompt tokens the server's answers say its cache served (prompt_eval_cached_count)."},
  };
  int rc = 0;
  for (int f = 0; f < 11 && v->nservers; f++) {
    rc |= tg_buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help, fam[f].name, fam[f].type);
    for (size_t i = 0; i < v->nservers; i++) {
      const tg_metrics_server_row *r = &v->servers[i];
      unsigned long long x = f == 0   ? (unsigned long long)r->up
                             : f == 1 ? r->in_flight
                             : f == 2 ? r->slots
                             : f == 3 ? r->failovers
                             : f == 4 ? r->errors
                             : f == 5 ? r->loads
                             : f == 6 ? r->load_ms
                             : f == 7 ? r->affinity_hits
                             : f == 8 ? r->affinity_tokens
                             : f == 9 ? r->prompt_evaluated
                                      : r->prompt_cached;
      rc |= tg_buf_printf(o, "%s{upstream=\"", fam[f].name) | put_label(o, r->upstream) |
            tg_buf_puts(o, "\",server=\"") | put_label(o, r->server) |
            (f == 6 ? tg_buf_printf(o, "\"} %llu.%03llu\n", x / 1000, x % 1000) : tg_buf_printf(o, "\"} %llu\n", x));
    }
  }
  return rc;
}

static int render_model_queue(tg_buf *o, const tg_metrics_view *v) {
  int rc = 0;
  if (v->nmodel_queue) {
    rc |= tg_buf_puts(o, "# HELP tollgate_model_queue_depth Requests held at the gateway for a server with their "
                         "model (balance model).\n# TYPE tollgate_model_queue_depth gauge\n");
    for (size_t i = 0; i < v->nmodel_queue; i++)
      rc |= tg_buf_puts(o, "tollgate_model_queue_depth{model=\"") | put_label(o, v->model_queue[i].model) |
            tg_buf_printf(o, "\"} %d\n", v->model_queue[i].depth);
  }
  if (v->nheld) {
    rc |= tg_buf_puts(o, "# HELP tollgate_upstream_queue_depth Requests held at the gateway for a server of the "
                         "upstream with their model (balance model).\n# TYPE tollgate_upstream_queue_depth gauge\n");
    for (size_t i = 0; i < v->nheld; i++)
      rc |= tg_buf_puts(o, "tollgate_upstream_queue_depth{upstream=\"") | put_label(o, v->held[i].upstream) |
            tg_buf_puts(o, "\",model=\"") | put_label(o, v->held[i].model) |
            tg_buf_printf(o, "\"} %u\n", v->held[i].depth);
  }
  return rc;
}

static int render_tls(tg_buf *o, const tg_metrics_view *v) {
  static const char *const kinds[3] = {"new", "resumed", "failed"};
  int rc = tg_buf_puts(o, "# HELP tollgate_tls_handshakes_total TLS handshakes: new, resumed from a ticket, failed.\n"
                          "# TYPE tollgate_tls_handshakes_total counter\n");
  for (int i = 0; i < 3; i++)
    rc |= tg_buf_printf(o, "tollgate_tls_handshakes_total{result=\"%s\"} %llu\n", kinds[i],
                        (unsigned long long)v->sum.handshakes[i]);
  rc |= tg_buf_puts(o, "# HELP tollgate_tls_certificate_expiry_seconds When a served certificate expires (Unix time).\n"
                       "# TYPE tollgate_tls_certificate_expiry_seconds gauge\n");
  for (size_t i = 0; i < v->ncerts; i++)
    rc |= tg_buf_puts(o, "tollgate_tls_certificate_expiry_seconds{name=\"") | put_label(o, v->certs[i].name) |
          tg_buf_printf(o, "\"} %lld\n", (long long)v->certs[i].not_after);
  return rc;
}

static int render_h2(tg_buf *o, const tg_metrics_view *v) {
  const tg_h2_counters *h = &v->sum.h2;
  int rc =
      tg_buf_printf(o,
                    "# HELP tollgate_http2_streams_total HTTP/2 streams whose request head was accepted.\n"
                    "# TYPE tollgate_http2_streams_total counter\ntollgate_http2_streams_total %llu\n"
                    "# HELP tollgate_http2_refused_streams_total Streams refused past max concurrent streams.\n"
                    "# TYPE tollgate_http2_refused_streams_total counter\ntollgate_http2_refused_streams_total %llu\n"
                    "# HELP tollgate_http2_malformed_total Request header blocks refused (stream PROTOCOL_ERROR).\n"
                    "# TYPE tollgate_http2_malformed_total counter\ntollgate_http2_malformed_total %llu\n"
                    "# HELP tollgate_http2_resets_total RST_STREAM frames received or sent.\n"
                    "# TYPE tollgate_http2_resets_total counter\ntollgate_http2_resets_total %llu\n",
                    (unsigned long long)h->streams, (unsigned long long)h->refused, (unsigned long long)h->malformed,
                    (unsigned long long)h->resets);
  const struct {
    const char *reason;
    uint64_t n;
  } ended[] = {{"rapid_reset", h->rapid_reset},
               {"ping_flood", h->ping_flood},
               {"settings_flood", h->settings_flood},
               {"empty_data_flood", h->empty_data_flood},
               {"continuation_flood", h->continuation_flood},
               {"protocol_error", h->protocol_error}};
  rc |= tg_buf_puts(o, "# HELP tollgate_http2_connections_ended_total HTTP/2 connections ended with a GOAWAY "
                       "for a flood past its limit or a protocol error.\n"
                       "# TYPE tollgate_http2_connections_ended_total counter\n");
  for (size_t i = 0; i < sizeof ended / sizeof ended[0]; i++)
    rc |= tg_buf_printf(o, "tollgate_http2_connections_ended_total{reason=\"%s\"} %llu\n", ended[i].reason,
                        (unsigned long long)ended[i].n);
  return rc;
}

static int json_str(tg_buf *o, const char *s) {
  return tg_buf_append(o, "\"", 1) | tg_buf_json_str(o, s, strlen(s)) | tg_buf_append(o, "\"", 1);
}

/* ,"loaded":[...] from a list of names each ended by '\n' (a name cut
 * short, without its '\n', is left out). */
static int json_loaded(tg_buf *o, const char *list) {
  int rc = tg_buf_puts(o, ",\"loaded\":[");
  for (const char *p = list, *end; (end = strchr(p, '\n')); p = end + 1)
    rc |= tg_buf_puts(o, p == list ? "\"" : ",\"") | tg_buf_json_str(o, p, (size_t)(end - p)) | tg_buf_puts(o, "\"");
  return rc | tg_buf_puts(o, "]");
}

static int json_routes(tg_buf *o, const tg_metrics_view *v, uint64_t *total) {
  int rc = tg_buf_puts(o, ",\"routes\":{");
  for (int k = 0; k < TG_ROUTE_COUNT; k++) {
    uint64_t n = 0;
    for (int s = 0; s < TG_METRICS_NSTATUS; s++) n += v->sum.requests[k][s];
    *total += n;
    rc |= tg_buf_printf(o, "%s\"%s\":%llu", k ? "," : "", tg_route_kind_name((tg_route_kind)k), (unsigned long long)n);
  }
  return rc | tg_buf_puts(o, "}");
}

static int json_tables(tg_buf *o, const tg_metrics_view *v) {
  int rc = tg_buf_puts(o, ",\"tokens\":[");
  size_t rows[TG_METRICS_TOKEN_ROWS], n = token_rows(v, rows);
  for (size_t i = 0; i < n; i++) {
    const tg_metrics_label *t = token_label(v, rows[i]);
    const uint64_t *count = v->sum.tokens[rows[i]];
    rc |= tg_buf_puts(o, i ? ",{\"user\":" : "{\"user\":") | json_str(o, t->a) | tg_buf_puts(o, ",\"model\":") |
          json_str(o, t->b) |
          tg_buf_printf(o, ",\"requests\":%llu,\"prompt\":%llu,\"output\":%llu}",
                        (unsigned long long)count[TG_METRICS_REQUESTS], (unsigned long long)count[TG_METRICS_PROMPT],
                        (unsigned long long)count[TG_METRICS_OUTPUT]);
  }
  rc |= tg_buf_puts(o, "],\"upstreams\":[");
  int first = 1;
  for (size_t i = 0; i < v->nupstreams; i++)
    if (v->upstream_up[i] >= 0) {
      rc |= tg_buf_puts(o, first ? "{\"name\":" : ",{\"name\":") | json_str(o, v->upstreams[i].a) |
            tg_buf_printf(o, ",\"up\":%s}", v->upstream_up[i] ? "true" : "false");
      first = 0;
    }
  rc |= tg_buf_puts(o, "],\"servers\":[");
  for (size_t i = 0; i < v->nservers; i++) {
    const tg_metrics_server_row *r = &v->servers[i];
    rc |= tg_buf_puts(o, i ? ",{\"upstream\":" : "{\"upstream\":") | json_str(o, r->upstream) |
          tg_buf_puts(o, ",\"server\":") | json_str(o, r->server) |
          tg_buf_printf(o, ",\"up\":%s,\"in_flight\":%u,\"slots\":%u,\"failovers\":%llu,\"errors\":%llu,\"models\":%u",
                        r->up ? "true" : "false", r->in_flight, r->slots, (unsigned long long)r->failovers,
                        (unsigned long long)r->errors, r->models) |
          tg_buf_printf(o, ",\"loads\":%llu,\"load_seconds\":%llu.%03llu", (unsigned long long)r->loads,
                        (unsigned long long)r->load_ms / 1000, (unsigned long long)r->load_ms % 1000) |
          tg_buf_printf(o,
                        ",\"affinity_hits\":%llu,\"affinity_matched_tokens\":%llu,\"prompt_tokens_evaluated\":%llu,"
                        "\"prompt_tokens_cached\":%llu",
                        (unsigned long long)r->affinity_hits, (unsigned long long)r->affinity_tokens,
                        (unsigned long long)r->prompt_evaluated, (unsigned long long)r->prompt_cached) |
          json_loaded(o, r->loaded) | tg_buf_puts(o, "}");
  }
  rc |= tg_buf_puts(o, "],\"queues\":[");
  for (size_t i = 0; i < v->nheld; i++)
    rc |= tg_buf_puts(o, i ? ",{\"upstream\":" : "{\"upstream\":") | json_str(o, v->held[i].upstream) |
          tg_buf_puts(o, ",\"model\":") | json_str(o, v->held[i].model) |
          tg_buf_printf(o, ",\"depth\":%u}", v->held[i].depth);
  rc |= tg_buf_printf(o, "],\"queued\":%ld", (long)(int64_t)v->sum.queued);
  rc |= tg_buf_puts(o, ",\"certs\":[");
  for (size_t i = 0; i < v->ncerts; i++)
    rc |= tg_buf_puts(o, i ? ",{\"name\":" : "{\"name\":") | json_str(o, v->certs[i].name) |
          tg_buf_printf(o, ",\"not_after\":%lld}", (long long)v->certs[i].not_after);
  return rc | tg_buf_puts(o, "]");
}

/* A view of every thread's counters, on the heap (it is tens of KB), or NULL. */
static tg_metrics_view *view_new(void) {
  tg_metrics_view *v = calloc(1, sizeof *v);
  if (v) tg_metrics_view_take(v);
  return v;
}

/* The shared store, with a shared block: whether every worker's connection
 * is up, the round trips, the requests decided by on_failure. */
static int render_shared(tg_buf *o, const tg_metrics_view *v) {
  static const char *const policy[] = {"local", "open", "closed"};
  int64_t conns = (int64_t)v->sum.shared_conns;
  if (!v->shared) return 0;
  int rc = tg_buf_printf(o,
                         "# HELP tollgate_shared_up 1 when every worker's connection to the shared store is up.\n"
                         "# TYPE tollgate_shared_up gauge\ntollgate_shared_up %d\n"
                         "# HELP tollgate_shared_connections Workers' connections to the shared store that are up.\n"
                         "# TYPE tollgate_shared_connections gauge\ntollgate_shared_connections %lld\n",
                         conns > 0 && conns >= (int64_t)v->workers, (long long)conns);
  rc |= tg_buf_puts(o, "# HELP tollgate_shared_round_trip_seconds Round trips to the shared store (answered).\n"
                       "# TYPE tollgate_shared_round_trip_seconds histogram\n");
  uint64_t cum = 0;
  for (int i = 0; i <= TG_METRICS_RTT_NBUCKETS; i++) {
    cum += v->sum.shared_rtt[i];
    if (i < TG_METRICS_RTT_NBUCKETS)
      rc |= tg_buf_printf(o, "tollgate_shared_round_trip_seconds_bucket{le=\"%g\"} %llu\n", tg_metrics_rtt_le[i],
                          (unsigned long long)cum);
    else
      rc |= tg_buf_printf(o, "tollgate_shared_round_trip_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
  }
  rc |= tg_buf_printf(o, "tollgate_shared_round_trip_seconds_sum %.6f\ntollgate_shared_round_trip_seconds_count %llu\n",
                      (double)v->sum.shared_rtt_sum_us / 1e6, (unsigned long long)v->sum.shared_rtt_count);
  rc |= tg_buf_puts(o, "# HELP tollgate_shared_fallbacks_total Requests decided by on_failure: the store did not "
                       "answer.\n# TYPE tollgate_shared_fallbacks_total counter\n");
  for (int i = 0; i < 3; i++)
    rc |= tg_buf_printf(o, "tollgate_shared_fallbacks_total{policy=\"%s\"} %llu\n", policy[i],
                        (unsigned long long)v->sum.shared_fallbacks[i]);
  return rc;
}

int tg_metrics_render_json(tg_buf *o) {
  tg_metrics_view *v = view_new();
  if (!v) return -1;
  uint64_t total = 0;
  int rc = tg_buf_printf(o, "{\"version\":\"%s\",\"uptime_s\":%llu,\"workers\":%u,\"live\":%lld", TG_VERSION,
                         (unsigned long long)v->uptime_s, v->workers, (long long)(int64_t)v->sum.live);
  rc |= json_routes(o, v, &total);
  rc |= tg_buf_printf(o, ",\"requests\":%llu", (unsigned long long)total);
  rc |= json_tables(o, v);
  if (v->shared) {
    int64_t conns = (int64_t)v->sum.shared_conns;
    rc |= tg_buf_printf(o, ",\"shared\":{\"up\":%s,\"connections\":%lld,\"round_trips\":%llu}",
                        conns > 0 && conns >= (int64_t)v->workers ? "true" : "false", (long long)conns,
                        (unsigned long long)v->sum.shared_rtt_count);
  }
  rc |= tg_live_render_json(o);
  rc |= tg_buf_puts(o, "}\n");
  free(v);
  return rc ? -1 : 0;
}

int tg_metrics_render(tg_buf *o) {
  tg_metrics_view *v = view_new();
  if (!v) return -1;
  int rc = render_requests(o, v);
  rc |= render_histogram(o, "tollgate_ttfb_seconds", "Time to the first response byte, by route kind.", v->sum.ttfb);
  rc |= render_histogram(o, "tollgate_request_duration_seconds", "Whole exchange, by route kind.", v->sum.duration);
  rc |= render_tables(o, v);
  rc |= render_servers(o, v);
  rc |= render_model_queue(o, v);
  rc |= render_tls(o, v);
  rc |= render_h2(o, v);
  rc |= render_shared(o, v);
  free(v);
  return rc ? -1 : 0;
}
