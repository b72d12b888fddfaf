/* Forward auth, as nginx auth_request and Caddy forward_auth: for each
 * request, a subrequest on the worker's loop (a fresh HTTP/1.1 connection,
 * `Connection: close`) to the auth server with the original method and URI
 * (X-Forwarded-Method/-Uri and X-Original-URI), Host, X-Forwarded-For,
 * -Proto, -Host, and the client's Cookie and Authorization, without a body.
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
#include "tollgate/metrics.h"

#define FWD_MAX_RESPONSE (64 * 1024)

typedef struct fwd {
  uv_tcp_t tcp;
  uv_connect_t connect;
  uv_write_t write;
  uv_timer_t timer;
  tg_client *c;
  const tg_forward_conf *conf;
  llhttp_t parser;
  tg_head head;               /* the answer's fields */
  tg_buf req;                 /* the subrequest */
  tg_buf body;
  int done;                   /* the client was answered or let through */
  int complete;               /* the whole answer is in */
  int head_only;              /* the subrequest is a HEAD: no body comes */
  int closing;
  char rbuf[8192];
} fwd;

static void fwd_closed(uv_handle_t *h) {
  fwd *f = h->data;
  if (--f->closing) return;
  tg_head_free(&f->head);
  tg_buf_free(&f->req);
  tg_buf_free(&f->body);
  free(f);
}

/* Ends the subrequest: releases the client, then answers it with status
 * (0: let it through) unless it went away. */
static void fwd_finish(fwd *f, int status, const char *message) {
  if (f->done) return;
  f->done = 1;
  tg_client *c = f->c;
  f->closing = 2;
  uv_close((uv_handle_t *)&f->tcp, fwd_closed);
  uv_close((uv_handle_t *)&f->timer, fwd_closed);
  if (!tg_client_release(c)) return;
  if (status) {
    c->x.adm.auth_how = "forward";
    tg_client_fail(c, status, message);
  }
}

static int fwd_on_url(llhttp_t *p, const char *at, size_t n) {
  fwd *f = p->data;
  return tg_head_add_target(&f->head, at, n, FWD_MAX_RESPONSE) ? -1 : 0;
}

static int fwd_on_field(llhttp_t *p, const char *at, size_t n) {
  fwd *f = p->data;
  return tg_head_add_name(&f->head, at, n, FWD_MAX_RESPONSE) ? -1 : 0;
}

static int fwd_on_value(llhttp_t *p, const char *at, size_t n) {
  fwd *f = p->data;
  return tg_head_add_value(&f->head, at, n, FWD_MAX_RESPONSE) ? -1 : 0;
}

static int fwd_on_body(llhttp_t *p, const char *at, size_t n) {
  fwd *f = p->data;
  if (f->body.len + n > FWD_MAX_RESPONSE) return -1;
  return tg_buf_append(&f->body, at, n) < 0 ? -1 : 0;
}

static int fwd_on_headers_complete(llhttp_t *p) {
  fwd *f = p->data;
  return f->head_only ? 1 : 0;
}

static int fwd_on_complete(llhttp_t *p) {
  fwd *f = p->data;
  f->complete = 1;
  return HPE_PAUSED;
}

static const llhttp_settings_t fwd_settings = {
    .on_status = fwd_on_url,
    .on_header_field = fwd_on_field,
    .on_header_value = fwd_on_value,
    .on_headers_complete = fwd_on_headers_complete,
    .on_body = fwd_on_body,
    .on_message_complete = fwd_on_complete,
};

static int is_listed(char *const *list, const char *name, size_t n) {
  for (; list && *list; list++)
    if (strlen(*list) == n && strncasecmp(*list, name, n) == 0) return 1;
  return 0;
}

/* 2xx: the copy_headers fields become header lines for the upstream. */
static void fwd_allow(fwd *f) {
  tg_client *c = f->c;
  tg_buf lines = {0};
  int rc = 0;
  for (uint32_t i = 0; i < f->head.nfields; i++) {
    const tg_field *fl = &f->head.fields[i];
    if (!is_listed(f->conf->copy, tg_head_str(&f->head, fl->name), fl->name.len)) continue;
    rc |= tg_buf_append(&lines, tg_head_str(&f->head, fl->name), fl->name.len);
    rc |= tg_buf_puts(&lines, ": ");
    rc |= tg_buf_append(&lines, tg_head_str(&f->head, fl->value), fl->value.len);
    rc |= tg_buf_puts(&lines, "\r\n");
  }
  rc |= tg_buf_append(&lines, "", 1);
  if (rc) {
    tg_buf_free(&lines);
    fwd_finish(f, 500, "out of memory");
    return;
  }
  f->done = 1;
  f->closing = 2;
  uv_close((uv_handle_t *)&f->tcp, fwd_closed);
  uv_close((uv_handle_t *)&f->timer, fwd_closed);
  if (!tg_client_release(c)) {
    tg_buf_free(&lines);
    return;
  }
  c->x.adm.auth_headers = lines.data;
  c->x.adm.auth_drop = (const char *const *)f->conf->copy;
  int u = tg_head_find(&f->head, "x-auth-request-user");
  if (u < 0) u = tg_head_find(&f->head, "remote-user");
  if (u >= 0 && f->head.fields[u].value.len && f->head.fields[u].value.len <= TG_USER_MAX) {
    snprintf(c->x.adm.user_buf, sizeof c->x.adm.user_buf, "%.*s", (int)f->head.fields[u].value.len,
             tg_head_str(&f->head, f->head.fields[u].value));
    c->x.adm.user = c->x.adm.user_buf;
  }
  c->x.adm.auth_how = "forward";
  tg_policy_admit(c);
}

/* Any other status: the auth server's answer goes to the client. */
static void fwd_pass_back(fwd *f, int status) {
  static const char *const keep[] = {"content-type", "location", "www-authenticate", "set-cookie",
                                     "cache-control", "retry-after", NULL};
  tg_buf hdrs = {0};
  int rc = 0;
  for (uint32_t i = 0; i < f->head.nfields; i++) {
    const tg_field *fl = &f->head.fields[i];
    int k = 0;
    while (keep[k] && !tg_head_name_is(&f->head, i, keep[k])) k++;
    if (!keep[k]) continue;
    rc |= tg_buf_append(&hdrs, tg_head_str(&f->head, fl->name), fl->name.len);
    rc |= tg_buf_puts(&hdrs, ": ");
    rc |= tg_buf_append(&hdrs, tg_head_str(&f->head, fl->value), fl->value.len);
    rc |= tg_buf_puts(&hdrs, "\r\n");
  }
  rc |= tg_buf_append(&hdrs, "", 1);
  tg_client *c = f->c;
  f->done = 1;
  f->closing = 2;
  uv_close((uv_handle_t *)&f->tcp, fwd_closed);
  uv_close((uv_handle_t *)&f->timer, fwd_closed);
  if (tg_client_release(c)) {
    c->x.adm.auth_how = "forward";
    if (status < 200 || status > 299) tg_metrics_refused("auth", "forward_denied");
    if (rc) tg_client_fail(c, 500, "out of memory");
    else tg_client_reply(c, status, hdrs.data, f->body.data ? f->body.data : "", f->body.len);
  }
  tg_buf_free(&hdrs);
}

static void fwd_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  fwd *f = s->data;
  if (f->done || nread == 0) return;
  enum llhttp_errno e = nread > 0 ? llhttp_execute(&f->parser, buf->base, (size_t)nread) : llhttp_finish(&f->parser);
  if (f->complete) {
    int status = f->parser.status_code;
    if (status >= 200 && status < 300) fwd_allow(f);
    else fwd_pass_back(f, status);
  } else if (e != HPE_OK || nread < 0) {
    fwd_finish(f, 502, "the auth server sent an invalid or incomplete answer");
  }
}

static void fwd_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  fwd *f = h->data;
  *buf = uv_buf_init(f->rbuf, sizeof f->rbuf);
}

static void fwd_written(uv_write_t *w, int status) {
  fwd *f = w->data;
  if (status < 0 && !f->done) fwd_finish(f, 502, "auth server unreachable");
}

static void fwd_connected(uv_connect_t *cr, int status) {
  fwd *f = cr->data;
  if (f->done) return;
  if (status < 0) {
    fwd_finish(f, 502, "auth server unreachable");
    return;
  }
  uv_buf_t b = uv_buf_init(f->req.data, (unsigned)f->req.len);
  f->write.data = f;
  if (uv_write(&f->write, (uv_stream_t *)&f->tcp, &b, 1, fwd_written) < 0 ||
      uv_read_start((uv_stream_t *)&f->tcp, fwd_alloc, fwd_read) < 0)
    fwd_finish(f, 502, "auth server unreachable");
}

static void fwd_timeout(uv_timer_t *t) {
  fwd_finish(t->data, 503, "the auth server did not answer in time");
}

/* Copies the client's field named name into the subrequest. */
static int copy_field(tg_buf *out, const tg_head *h, const char *name, const char *as) {
  int rc = 0;
  for (uint32_t i = 0; i < h->nfields; i++)
    if (tg_head_name_is(h, i, name))
      rc |= tg_buf_printf(out, "%s: %.*s\r\n", as, (int)h->fields[i].value.len, tg_head_str(h, h->fields[i].value));
  return rc;
}

static int fwd_build(fwd *f, const tg_client *c) {
  const tg_head *h = &c->x.req;
  const tg_forward_conf *conf = f->conf;
  const char *method = llhttp_method_name(c->parser.method);
  const char *uri = tg_head_str(h, h->target);
  int un = (int)h->target.len;
  int host = tg_head_find(h, "host");
  int rc = tg_buf_printf(&f->req, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, conf->path, conf->host);
  rc |= tg_buf_printf(&f->req, "X-Forwarded-Method: %s\r\nX-Forwarded-Proto: http\r\n", method);
  rc |= tg_buf_printf(&f->req, "X-Forwarded-Uri: %.*s\r\nX-Original-URI: %.*s\r\n", un, uri, un, uri);
  rc |= tg_buf_printf(&f->req, "X-Forwarded-For: %s\r\n", c->ip);
  if (host >= 0)
    rc |= tg_buf_printf(&f->req, "X-Forwarded-Host: %.*s\r\n", (int)h->fields[host].value.len,
                        tg_head_str(h, h->fields[host].value));
  rc |= copy_field(&f->req, h, "authorization", "Authorization");
  rc |= copy_field(&f->req, h, "cookie", "Cookie");
  if (c->parser.method != HTTP_GET && c->parser.method != HTTP_HEAD) rc |= tg_buf_puts(&f->req, "Content-Length: 0\r\n");
  rc |= tg_buf_puts(&f->req, "Connection: close\r\n\r\n");
  return rc ? -1 : 0;
}

void tg_forward_start(tg_client *c, const tg_auth_conf *a) {
  fwd *f = calloc(1, sizeof *f);
  if (!f) {
    tg_client_fail(c, 500, "out of memory");
    return;
  }
  f->c = c;
  f->conf = a->forward;
  if (fwd_build(f, c) < 0) {
    tg_buf_free(&f->req);
    free(f);
    tg_client_fail(c, 500, "out of memory");
    return;
  }
  llhttp_init(&f->parser, HTTP_RESPONSE, &fwd_settings);
  f->parser.data = f;
  f->head_only = c->parser.method == HTTP_HEAD;
  uv_tcp_init(&c->w->loop, &f->tcp);
  uv_timer_init(&c->w->loop, &f->timer);
  f->tcp.data = f->timer.data = f->connect.data = f;
  c->hold++;
  uv_timer_start(&f->timer, fwd_timeout, a->forward->timeout_ms, 0);
  if (uv_tcp_connect(&f->connect, &f->tcp, (const struct sockaddr *)&a->forward->addr, fwd_connected) < 0)
    fwd_finish(f, 502, "auth server unreachable");
}
