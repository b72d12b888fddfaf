/* An exchange's end in the access log (one JSON line, tollgate/access-log.h)
 * and the process-wide metrics (tollgate/metrics.h), whatever carried it:
 * what it read, where it went, what it cost. The proxy's table releases its
 * admission state first (w->ops->exchange_end). */
#include <string.h>

#include "tollgate/affinity.h"
#include "tollgate/metrics.h"
#include "tollgate/proxy.h"
#include "tollgate/tls.h"
#include "tollgate/upstream-error.h"

/* The exchange's figures into the process-wide metrics. */
static void exchange_count(tg_exchange *x, const tg_access_entry *e) {
  x->w->ops->exchange_end(x);
  if (x->live_counted) tg_metrics_live(-1);
  x->live_counted = 0;
  tg_metrics_req m = {
      .kind = (tg_route_kind)x->route_kind,
      .status = e->status,
      .ttfb_s = x->rec.t_first_ns ? (double)(x->rec.t_first_ns - x->rec.t_start_ns) / 1e9 : -1,
      .duration_s = (double)(e->now_ns - x->rec.t_start_ns) / 1e9,
      .user = e->user,
      .model = x->facts.model,
      .prompt_tokens = x->facts.prompt_tokens,
      .output_tokens = x->facts.output_tokens,
      .client_aborted = e->client_aborted,
  };
  tg_metrics_request_done(&m);
}

/* A field's value in the request head: *v and *n, or NULL. */
static void head_value(const tg_head *h, const char *name, const char **v, size_t *n) {
  int i = h->buf.data ? tg_head_find(h, name) : -1;
  *v = i < 0 ? NULL : tg_head_str(h, h->fields[i].value);
  *n = i < 0 ? 0 : h->fields[i].value.len;
}

/* The request's protocol, Host, User-Agent and TLS for its log line. */
static void exchange_log_conn(const tg_exchange *x, const char *proto, tg_access_conn *k) {
  const struct tg_tls_conn *tls = tg_client_tls(x->conn); /* the connection's, which every exchange of it shares */
  k->proto = proto;
  head_value(&x->req, "host", &k->host, &k->host_len);
  head_value(&x->req, "user-agent", &k->ua, &k->ua_len);
  if (tls && (k->tls_cipher = tg_tls_conn_cipher(tls))) k->tls_version = tg_tls_conn_version(tls);
}

void tg_exchange_log(tg_exchange *x, const char *method, const char *proto, int aborted) {
  const char *t = x->req.buf.data ? tg_head_str(&x->req, x->req.target) : "";
  size_t n = x->req.target.len;
  const char *q = x->req.buf.data ? memchr(t, '?', n) : NULL;
  const tg_pool *pool = x->leg.up_reached || x->leg.up_error ? x->leg.pool : NULL;
  tg_access_conn conn = {0};
  if (x->w->log.fd >= 0) exchange_log_conn(x, proto, &conn); /* only the log line shows them */
  tg_access_entry e = {
      .client = x->ip,
      .method = method,
      .path = x->req.buf.data ? t : "",
      .path_len = q ? (size_t)(q - t) : (x->req.buf.data ? n : 0),
      .status = x->status ? x->status : 499,
      .upstream = pool ? pool->addr_text : NULL,
      .upstream_error = tg_up_error_name((tg_up_error)x->leg.up_error),
      .server = x->leg.pool ? x->leg.pool->addr_text : NULL,
      .failovers = x->leg.attempts > 1 ? x->leg.attempts - 1u : 0,
      .affinity = x->leg.aff ? x->leg.aff->matched : 0,
      .affinity_on = x->leg.aff && x->leg.aff->server >= 0,
      .user = x->adm.user,
      .auth = x->adm.auth_how,
      .rec = &x->rec,
      .conn = &conn,
      .now_ns = uv_hrtime(),
      .client_aborted = aborted,
      .request_id = x->request_id,
      .route = x->req.buf.data ? tg_route_kind_name((tg_route_kind)x->route_kind) : NULL,
      .model = x->facts.model,
      .prompt_tokens = x->facts.prompt_tokens,
      .output_tokens = x->facts.output_tokens,
      .eval_ns = x->facts.eval_ns,
  };
  tg_access_log_write(&x->w->log, &e);
  exchange_count(x, &e);
}
