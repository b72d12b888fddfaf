/* Forward auth, as nginx auth_request and Caddy forward_auth: for each
 * request, a subrequest on the worker's loop (tollgate/http-client.h: a
 * fresh HTTP/1.1 connection, `Connection: close`) to the auth server with
 * the original method and URI (X-Forwarded-Method/-Uri and X-Original-URI),
 * Host, X-Forwarded-For, -Proto (https on a TLS listener), -Host, and the
 * client's Cookie and Authorization, without a body. This file is the
 * policy: what to send, which fields to copy, what the status means.
 *   2xx: the request goes on; the `copy_headers` fields of the answer are
 *        added to the upstream request and the same names sent by the
 *        client are dropped, so they cannot be forged.
 *   any other status: that answer (a 401, a 302 to a login page...) goes
 *        back to the client with its body and headers.
 *   unreachable: 502; no complete answer within the timeout: 503.
 * The client is held while the subrequest runs; if it goes away meanwhile,
 * the answer is dropped. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy.h"
#include "tollgate/http-client.h"
#include "tollgate/metrics.h"

#define FWD_MAX_RESPONSE (64 * 1024)

static int is_listed(char *const *list, const char *name, size_t n) {
  for (; list && *list; list++)
    if (strlen(*list) == n && strncasecmp(*list, name, n) == 0) return 1;
  return 0;
}

/* Appends "Name: value\r\n" for each field of h that keep(name) accepts;
 * ends lines with a NUL. Returns 0 or -1. */
static int field_lines(tg_buf *out, const tg_head *h, int (*keep)(const tg_head *, uint32_t, const void *),
                       const void *arg) {
  int rc = 0;
  for (uint32_t i = 0; i < h->nfields; i++) {
    const tg_field *fl = &h->fields[i];
    if (!keep(h, i, arg)) continue;
    rc |= tg_buf_append(out, tg_head_str(h, fl->name), fl->name.len);
    rc |= tg_buf_puts(out, ": ");
    rc |= tg_buf_append(out, tg_head_str(h, fl->value), fl->value.len);
    rc |= tg_buf_puts(out, "\r\n");
  }
  rc |= tg_buf_append(out, "", 1);
  return rc ? -1 : 0;
}

static int is_copied(const tg_head *h, uint32_t i, const void *conf) {
  const tg_forward_conf *f = conf;
  return is_listed(f->copy, tg_head_str(h, h->fields[i].name), h->fields[i].name.len);
}

/* The fields of a refusal worth passing on: how to log in, what to retry. */
static int is_passed_back(const tg_head *h, uint32_t i, const void *unused) {
  static const char *const keep[] = {"content-type", "location", "www-authenticate", "set-cookie", "cache-control",
                                     "retry-after",  NULL};
  (void)unused;
  for (int k = 0; keep[k]; k++)
    if (tg_head_name_is(h, i, keep[k])) return 1;
  return 0;
}

/* 2xx: the copy_headers fields become header lines for the upstream, and
 * the user it names is the request's. */
static void fwd_allow(tg_exchange *x, const tg_http_response *r) {
  const tg_forward_conf *conf = x->site->auth->forward;
  tg_buf lines = {0};
  if (field_lines(&lines, &r->head, is_copied, conf) < 0) {
    tg_buf_free(&lines);
    tg_exchange_fail(x, 500, "out of memory");
    return;
  }
  x->adm.auth_headers = lines.data;
  x->adm.auth_drop = (const char *const *)conf->copy;
  int u = tg_head_find(&r->head, "x-auth-request-user");
  if (u < 0) u = tg_head_find(&r->head, "remote-user");
  tg_span v = u >= 0 ? r->head.fields[u].value : (tg_span){0};
  if (v.len && v.len <= TG_USER_MAX) {
    snprintf(x->adm.user_buf, sizeof x->adm.user_buf, "%.*s", (int)v.len, tg_head_str(&r->head, v));
    x->adm.user = x->adm.user_buf;
  }
  tg_admission_resume(x);
}

/* Any other status: the auth server's answer goes to the client. */
static void fwd_pass_back(tg_exchange *x, const tg_http_response *r) {
  tg_buf hdrs = {0};
  if (r->status < 200 || r->status > 299) tg_metrics_refused("auth", "forward_denied");
  if (field_lines(&hdrs, &r->head, is_passed_back, NULL) < 0) tg_exchange_fail(x, 500, "out of memory");
  else tg_exchange_reply(x, r->status, hdrs.data, r->body.data ? r->body.data : "", r->body.len);
  tg_buf_free(&hdrs);
}

/* The subrequest's outcome, for a client that may have left meanwhile. */
static void fwd_done(tg_http_response *r, void *data) {
  tg_exchange *x = data;
  if (!tg_exchange_release(x)) return;
  x->adm.auth_how = "forward";
  if (r->error == TG_UPERR_TIMEOUT || r->error == TG_UPERR_HEADER_TIMEOUT || r->error == TG_UPERR_IDLE_TIMEOUT)
    tg_exchange_fail(x, 503, "the auth server did not answer in time");
  else if (r->error && !r->sent) tg_exchange_fail(x, 502, "auth server unreachable");
  else if (r->error) tg_exchange_fail(x, 502, "the auth server sent an invalid or incomplete answer");
  else if (r->status >= 200 && r->status < 300) fwd_allow(x, r);
  else fwd_pass_back(x, r);
}

/* Copies the client's fields named name into the subrequest, as `as`. */
static int copy_field(tg_buf *out, const tg_head *h, const char *name, const char *as) {
  int rc = 0;
  for (uint32_t i = 0; i < h->nfields; i++)
    if (tg_head_name_is(h, i, name))
      rc |= tg_buf_printf(out, "%s: %.*s\r\n", as, (int)h->fields[i].value.len, tg_head_str(h, h->fields[i].value));
  return rc;
}

/* The subrequest's fields past Host: what the auth server needs to judge
 * the client's request. X-Forwarded-Proto is the listener's, as upstream. */
static int fwd_fields(tg_buf *out, const tg_exchange *x, const char *method) {
  const tg_client *c = x->conn;
  const tg_head *h = &x->req;
  const char *uri = tg_head_str(h, h->target);
  int un = (int)h->target.len;
  int host = tg_head_find(h, "host");
  int rc = tg_buf_printf(out, "X-Forwarded-Method: %s\r\nX-Forwarded-Proto: %s\r\n", method,
                         tg_client_tls(c) ? "https" : "http");
  rc |= tg_buf_printf(out, "X-Forwarded-Uri: %.*s\r\nX-Original-URI: %.*s\r\n", un, uri, un, uri);
  rc |= tg_buf_printf(out, "X-Forwarded-For: %s\r\n", x->ip);
  if (host >= 0)
    rc |= tg_buf_printf(out, "X-Forwarded-Host: %.*s\r\n", (int)h->fields[host].value.len,
                        tg_head_str(h, h->fields[host].value));
  rc |= copy_field(out, h, "authorization", "Authorization");
  rc |= copy_field(out, h, "cookie", "Cookie");
  return rc ? -1 : 0;
}

tg_adm_rc tg_forward_start(tg_exchange *x, const tg_auth_conf *a) {
  const tg_forward_conf *conf = a->forward;
  const char *method = llhttp_method_name(x->method);
  int bodyless = x->method == HTTP_GET || x->method == HTTP_HEAD;
  tg_buf fields = {0};
  tg_http_target to = {.addr = (const struct sockaddr *)&conf->addr};
  tg_http_request rq = {
      .method = method,
      .target = conf->path,
      .host = conf->host,
      .body = bodyless ? NULL : "", /* the original method, with an empty body */
      .max_response = FWD_MAX_RESPONSE,
      .timeout_ms = conf->timeout_ms,
  };
  int rc = fwd_fields(&fields, x, method);
  rq.headers = fields.data;
  if (rc == 0) rc = tg_http_call_start(&x->w->loop, &to, &rq, fwd_done, x);
  tg_buf_free(&fields);
  if (rc < 0) {
    tg_exchange_fail(x, 500, "out of memory");
    return TG_ADM_DONE;
  }
  tg_exchange_hold(x);
  return TG_ADM_AGAIN;
}
