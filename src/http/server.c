/* The client side: an accepted connection speaking HTTP/1.1. Parses each
 * request head with llhttp (strict mode), checks it, hands it to the relay,
 * feeds the body through the relay, answers pipelined requests in order
 * (the parser pauses at each message end; bytes read meanwhile wait in
 * `pending`), and enforces the client-side timeouts. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>

#include "tollgate/admission.h"
#include "tollgate/acme.h"
#include "tollgate/limits.h"
#include "tollgate/metrics.h"
#include "tollgate/downstream.h"
#include "tollgate/h2-conn.h"
#include "tollgate/proxy.h"
#include "tollgate/tls.h"
#include "tollgate/quota.h"
#include "tollgate/upstream-error.h"

enum { PAUSE_NONE, PAUSE_HEAD, PAUSE_END };

static void client_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* --- llhttp callbacks ------------------------------------------------ */

static int head_rc(tg_client *c, int rc) {
  if (rc == TG_HEAD_TOO_BIG) c->x->status = 431;
  return rc ? -1 : 0;
}

static int on_message_begin(llhttp_t *p) {
  tg_client *c = p->data;
  if (c->state == TG_C_IDLE) {
    c->state = TG_C_HEAD;
    c->x->rec.t_start_ns = uv_hrtime();
    /* the keep-alive wait ends (or a drain's wait for a fresh connection's
     * first request); the head's deadline starts */
    tg_deadline_stop(&c->deadline);
    tg_client_arm_timer(c);
  }
  return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n) {
  tg_client *c = p->data;
  int rc = tg_head_add_target(&c->x->req, at, n, c->site->max_header_bytes);
  if (rc == TG_HEAD_TOO_BIG) c->x->status = 414;
  return rc ? -1 : 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n) {
  tg_client *c = p->data;
  return head_rc(c, tg_head_add_name(&c->x->req, at, n, c->site->max_header_bytes));
}

static int on_header_value(llhttp_t *p, const char *at, size_t n) {
  tg_client *c = p->data;
  return head_rc(c, tg_head_add_value(&c->x->req, at, n, c->site->max_header_bytes));
}

static int on_headers_complete(llhttp_t *p) {
  tg_client *c = p->data;
  c->x->method = (uint8_t)p->method;
  c->x->http_minor = p->http_minor;
  c->pause = PAUSE_HEAD;
  return HPE_PAUSED;
}

static int on_body(llhttp_t *p, const char *at, size_t n) {
  tg_client *c = p->data;
  return tg_client_worker(c)->ops->body(c->x, at, n);
}

static int on_chunk_header(llhttp_t *p) {
  tg_client *c = p->data;
  return tg_client_worker(c)->ops->chunk_header(c->x, p->content_length);
}

static int on_chunk_complete(llhttp_t *p) {
  tg_client *c = p->data;
  return tg_client_worker(c)->ops->chunk_complete(c->x);
}

static int on_message_complete(llhttp_t *p) {
  tg_client *c = p->data;
  c->pause = PAUSE_END;
  return tg_client_worker(c)->ops->request_complete(c->x) < 0 ? -1 : HPE_PAUSED;
}

static const llhttp_settings_t request_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_chunk_header = on_chunk_header,
    .on_chunk_complete = on_chunk_complete,
    .on_message_complete = on_message_complete,
};

/* --- connection life ------------------------------------------------- */

/* The one place an exchange ends: what it holds is freed, the exchange
 * goes back to the worker's cache, and c has none until its next request. */
static void client_exchange_end(tg_client *c) {
  if (!c->x) return;
  tg_exchange_end(&tg_client_worker(c)->xcache, c->x);
  c->x = NULL;
}

static void client_free(tg_client *c) {
  tg_h2_conn_free(c);
  struct tg_tls_conn *tls = tg_client_tls(c);
  if (tls) tg_tls_conn_free(tls);
  free(tls);
  tg_sink_free(&c->sink);
  tg_buf_free(&c->pending);
  client_exchange_end(c);
  free(c);
}

static void client_closed(uv_handle_t *h) {
  tg_client *c = h->data;
  if (--c->closing_handles) return;
  client_free(c); /* async work holds the exchange, not c (tg_exchange_hold) */
}

static void client_unlink(tg_client *c) {
  tg_worker *w = tg_client_worker(c);
  if (c->prev) c->prev->next = c->next;
  else w->clients = c->next;
  if (c->next) c->next->prev = c->prev;
}

static void client_log(tg_client *c, int aborted);

void tg_client_close(tg_client *c) {
  if (c->state == TG_C_CLOSING) return;
  tg_h2_conn_close(c); /* HTTP/2: every stream's exchange ends */
  int mid_exchange = c->x && c->state != TG_C_IDLE && c->state != TG_C_HEAD;
  if (mid_exchange && !c->x->resp_done) client_log(c, 1);
  /* An upstream may still point at c even after its response completed (a
   * write to the client failed in the read that ended it): detach it. */
  if (c->x) tg_client_worker(c)->ops->abort(c->x);
  c->state = TG_C_CLOSING;
  client_unlink(c);
  tg_client_worker(c)->client_gone(tg_client_worker(c));
  c->closing_handles = 2;
  tg_client_io(c)->close((uv_handle_t *)&c->tcp, client_closed);
  uv_close((uv_handle_t *)&c->deadline.timer, client_closed);
}

/* Lingering close, as nginx does: after an answer sent before the request
 * was read to its end, tollgate stops writing (FIN) and reads and drops what
 * the client still sends for up to TG_LINGER_MS, so that the kernel does not
 * reset the connection (which could destroy the answer before the client
 * reads it). */
#define TG_LINGER_MS 2000

static void linger_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  (void)buf;
  if (nread < 0) tg_client_close(s->data);
}

static void linger_timer_cb(uv_timer_t *t) { tg_client_close(t->data); }

static void linger_shutdown_cb(uv_shutdown_t *req, int status) {
  (void)status;
  free(req);
}

/* Runs another callback on c's timer: its timeouts stop. */
static void client_timer_other(tg_client *c, uv_timer_cb cb, uint64_t ms) { tg_deadline_other(&c->deadline, cb, ms); }

static void client_linger(tg_client *c) {
  uv_shutdown_t *req = malloc(sizeof *req);
  if (!req || tg_client_io(c)->shutdown(req, (uv_stream_t *)&c->tcp, linger_shutdown_cb) < 0) {
    free(req);
    tg_client_close(c);
    return;
  }
  c->lingering = 1;
  tg_client_io(c)->read_stop((uv_stream_t *)&c->tcp);
  c->reading = 0;
  if (tg_client_io(c)->read_start((uv_stream_t *)&c->tcp, tg_worker_alloc_cb, linger_read_cb) < 0) {
    tg_client_close(c); /* nothing to linger for: the answer is queued before the FIN */
    return;
  }
  client_timer_other(c, linger_timer_cb, TG_LINGER_MS);
}

/* Closes c once its queued bytes are written: at once when nothing is
 * queued, lingering when the request was not read to its end. */
static void client_close_now_or_linger(tg_client *c) {
  if (c->x && !c->x->req_done && !c->client_gone && !c->lingering) client_linger(c);
  else tg_client_close(c);
}

void tg_client_close_after_flush(tg_client *c) {
  if (tg_client_tls(c) && !c->client_gone)
    tg_tls_conn_shutdown(tg_client_tls(c)); /* close_notify after the last byte */
  if (!c->sink.busy) {
    client_close_now_or_linger(c);
    return;
  }
  c->close_on_drain = 1;
  if (c->reading) tg_client_io(c)->read_stop((uv_stream_t *)&c->tcp);
  c->reading = 0;
  tg_client_arm_timer(c);
}

static void client_drained(tg_sink *s, int status) {
  tg_client *c = s->stream->data;
  if (status < 0) {
    c->client_gone = 1;
    tg_client_close(c);
    return;
  }
  if (c->close_on_drain) {
    client_close_now_or_linger(c);
    return;
  }
  tg_client_arm_timer(c);
  if (c->h2) tg_h2_conn_flush(c);
  else if (c->x) tg_client_worker(c)->ops->client_drained(c->x);
}

static void client_timer_cb(uv_timer_t *t) {
  tg_client *c = t->data;
  if (!tg_deadline_passed(&c->deadline, client_timer_cb)) return;
  if (c->state == TG_C_TUNNEL && !c->sink.busy) {
    uint64_t now = uv_now(c->tcp.loop), end = c->tunnel_last + c->site->tunnel_timeout_ms;
    if (now < end) tg_deadline_set(&c->deadline, end - now, client_timer_cb); /* bytes moved since */
    else tg_client_tunnel_end(c);
    return;
  }
  if (c->sink.busy || c->state == TG_C_IDLE || c->state == TG_C_HEAD) {
    tg_client_close(c); /* send, keep-alive or header timeout: nothing to answer */
    return;
  }
  if (c->state == TG_C_BODY) tg_client_fail(c, 408, "the request body stopped arriving");
}

/* Starts the timeout c's state calls for, or stops it. The deadline moves
 * lazily (tollgate/deadline.h): a request's keep-alive, head and body
 * deadlines cost no timer-heap operation each. */
void tg_client_arm_timer(tg_client *c) {
  const tg_site_conf *s = c->site;
  uint64_t ms = 0;
  if (c->sink.busy) ms = s->send_timeout_ms;
  else if (c->state == TG_C_IDLE) ms = s->keepalive_timeout_ms;
  else if (c->state == TG_C_HEAD) {
    /* the head's deadline runs from its first byte; another timer of c's
     * (linger, drain) stays */
    if (tg_deadline_busy(&c->deadline)) return;
    ms = s->header_timeout_ms;
  } else if (c->state == TG_C_BODY && c->reading) ms = s->body_timeout_ms;
  else if (c->state == TG_C_TUNNEL) ms = s->tunnel_timeout_ms;
  if (ms) tg_deadline_set(&c->deadline, ms, client_timer_cb);
  else tg_deadline_stop(&c->deadline);
}

static void client_read_start(tg_client *c) {
  if (c->reading || c->state == TG_C_CLOSING || c->close_on_drain) return;
  int rc = tg_client_io(c)->read_start((uv_stream_t *)&c->tcp, tg_worker_alloc_cb, client_read_cb);
  if (rc < 0) { /* the socket cannot be read (no longer readable): nothing more can come */
    tg_log_error("client %s: cannot read: %s", c->ip, uv_strerror(rc));
    c->client_gone = 1;
    tg_client_close(c);
    return;
  }
  c->reading = 1;
}

static void client_read_stop(tg_client *c) {
  if (!c->reading) return;
  tg_client_io(c)->read_stop((uv_stream_t *)&c->tcp);
  c->reading = 0;
}

/* Gives c its TLS state (a TLS listener). Returns 0 or -1. */
static int client_tls_init(tg_client *c) {
  struct tg_tls_conn *tls = malloc(sizeof *tls);
  if (!tls || tg_tls_conn_init(tls, c->site->tls, &c->sink) < 0) {
    free(tls);
    return -1;
  }
  c->sink.codec = &tls->codec; /* from here on, tg_client_tls(c) */
  return 0;
}

/* A connection that could not be set up: closed before anyone knows of it. */
static void client_abandon(tg_client *c) {
  c->closing_handles = 2;
  c->state = TG_C_CLOSING;
  tg_client_io(c)->close((uv_handle_t *)&c->tcp, client_closed);
  uv_close((uv_handle_t *)&c->deadline.timer, client_closed);
}

int tg_client_accept(tg_worker *w, int fd, const tg_site_conf *site, uint8_t kind) {
  tg_client *c = calloc(1, sizeof *c);
  if (!c) {
    close(fd);
    return UV_ENOMEM;
  }
  int rc = w->io->open(&w->loop, &c->tcp, fd);
  if (rc < 0) {
    close(fd); /* not the handle's: it refused it */
    w->io->close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
    return rc;
  }
  c->site = site;
  c->listen_kind = kind;
  tg_deadline_init(&w->loop, &c->deadline);
  c->tcp.data = c->deadline.timer.data = c;
  uv_tcp_nodelay(&c->tcp, 1); /* a failure costs latency, not correctness */
  tg_sink_init_io(&c->sink, w->io, (uv_stream_t *)&c->tcp, client_drained);
  if ((kind == TG_LISTEN_TLS && client_tls_init(c) < 0) || (kind == TG_LISTEN_H2C && tg_h2_conn_start(c) < 0)) {
    client_abandon(c);
    return UV_ENOMEM;
  }
  llhttp_init(&c->parser, HTTP_REQUEST, &request_settings);
  c->parser.data = c;
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
    if (ss.ss_family == AF_INET6) uv_ip6_name((struct sockaddr_in6 *)&ss, c->ip, sizeof c->ip);
    else uv_ip4_name((struct sockaddr_in *)&ss, c->ip, sizeof c->ip);
  }
  c->next = w->clients;
  if (w->clients) w->clients->prev = c;
  w->clients = c;
  c->state = TG_C_IDLE;
  client_read_start(c);
  tg_client_arm_timer(c);
  if (c->h2 && c->state != TG_C_CLOSING) tg_h2_conn_flush(c); /* the server's SETTINGS */
  return 0;
}

/* --- answering and logging ------------------------------------------- */

/* The exchange's end in the access log and the metrics, with the method
 * and version as the parser read them (a malformed head's too). */
static void client_log(tg_client *c, int aborted) {
  const char *proto = c->parser.http_major == 1 ? (c->parser.http_minor == 0 ? "HTTP/1.0" : "HTTP/1.1") : NULL;
  tg_exchange_log(c->x, llhttp_method_name(c->parser.method), proto, aborted);
}

/* Writes a gateway-made response: JSON in Ollama's shape, or OpenAI's on /v1/. */
static void client_write_error(tg_client *c, int status, const char *message, int close, const char *extra) {
  tg_buf *out = &tg_client_worker(c)->scratch;
  tg_buf body = {0};
  out->len = 0;
  int rc = tg_exchange_error_body(c->x, status, message, &body);
  tg_buf cors = {0}; /* so that a browser may read the refusal */
  rc |= tg_client_worker(c)->ops->cors_lines(c->x, &cors);
  rc |= tg_buf_printf(out,
                      "HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\n"
                      "Content-Length: %zu\r\n%s%.*s%s\r\n",
                      status, tg_status_reason(status), body.len, extra ? extra : "", (int)cors.len,
                      cors.len ? cors.data : "", close ? "Connection: close\r\n" : "");
  tg_buf_free(&cors);
  if (!c->x->head_only) rc |= tg_buf_append(out, body.data, body.len);
  tg_buf_free(&body);
  if (rc) return;
  uv_buf_t b = uv_buf_init(out->data, (unsigned)out->len);
  if (tg_sink_writev(&c->sink, &b, 1) >= 0) c->x->rec.bytes_out += out->len;
  if (!c->x->rec.t_first_ns) c->x->rec.t_first_ns = uv_hrtime();
}

/* Writes a response given whole: status line, headers, framing, body. */
static void client_write_reply(tg_client *c, int status, const char *headers, const char *body, size_t len, int close) {
  tg_buf *out = &tg_client_worker(c)->scratch;
  out->len = 0;
  char cl[40] = ""; /* a 204 has none (RFC 9110 8.6) */
  if (status != 204) snprintf(cl, sizeof cl, "Content-Length: %zu\r\n", len);
  int rc = tg_buf_printf(out, "HTTP/1.1 %d %s\r\n%s%s%s\r\n", status, tg_status_reason(status), headers ? headers : "",
                         cl, close ? "Connection: close\r\n" : "");
  if (!c->x->head_only) rc |= tg_buf_append(out, body, len);
  if (rc) return;
  uv_buf_t b = uv_buf_init(out->data, (unsigned)out->len);
  if (tg_sink_writev(&c->sink, &b, 1) >= 0) c->x->rec.bytes_out += out->len;
  if (!c->x->rec.t_first_ns) c->x->rec.t_first_ns = uv_hrtime();
}

static void client_answered(tg_client *c, int close) {
  if (close) {
    client_log(c, 0);
    tg_client_close_after_flush(c);
  } else {
    tg_client_exchange_done(c);
  }
}

void tg_client_reply(tg_client *c, int status, const char *headers, const char *body, size_t len) {
  if (c->state == TG_C_CLOSING || c->x->resp_head_sent) return;
  int close = !c->x->req_done || !c->keep_alive;
  c->x->status = status;
  c->x->resp_head_sent = c->x->resp_done = 1;
  tg_client_worker(c)->ops->response_done(c->x); /* before the answer reaches the client, as the relay does */
  client_write_reply(c, status, headers, body, len, close);
  client_answered(c, close);
}

void tg_client_fail(tg_client *c, int status, const char *message) { tg_client_fail_with(c, status, message, NULL); }

/* The error-log line of a gateway-made 5xx: the path without its query
 * string, which can carry a key (as in the access log). */
static void client_log_failure(tg_client *c, int status, const char *message) {
  const char *t = c->x->req.buf.data ? tg_head_str(&c->x->req, c->x->req.target) : "";
  size_t n = c->x->req.buf.data ? c->x->req.target.len : 0;
  const char *q = memchr(t, '?', n);
  tg_log(TG_LOG_ERROR, c->x->request_id, "%s %.*s: %d %s", llhttp_method_name(c->parser.method),
         (int)(q ? (size_t)(q - t) : n), t, status, message);
}

void tg_client_fail_with(tg_client *c, int status, const char *message, const char *extra) {
  if (c->state == TG_C_CLOSING) return;
  tg_client_worker(c)->ops->abort(c->x);
  if (c->x->resp_head_sent) { /* too late for a status: cut the response short */
    c->x->truncated = 1;
    c->x->resp_done = 1;
    client_log(c, 0);
    tg_client_close_after_flush(c);
    return;
  }
  int close = !c->x->req_done || !c->keep_alive;
  c->x->status = status;
  c->x->resp_head_sent = c->x->resp_done = 1;
  if (status >= 500) client_log_failure(c, status, message);
  tg_client_worker(c)->ops->response_done(c->x); /* a client that retries at once finds its count given back */
  client_write_error(c, status, message, close, extra);
  client_answered(c, close);
}

/* --- the request head ------------------------------------------------ */

/* A Host value: a host name, IPv4 or bracketed IPv6 address, and an
 * optional port; nothing else (no spaces, commas, userinfo or paths). */
static int host_is_valid(const tg_head *h, const tg_span *v) {
  const char *s = tg_head_str(h, *v);
  for (uint32_t i = 0; i < v->len; i++) {
    char ch = s[i];
    int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
             ch == '.' || ch == '_' || ch == '~' || ch == ':' || ch == '[' || ch == ']' || ch == '%';
    if (!ok) return 0;
  }
  return 1;
}

/* RFC 9112 6.1 and 6.3: the only transfer coding tollgate takes from a
 * client is chunked, alone, once, on HTTP/1.1, without Content-Length.
 * Returns NULL or the reason for a 400. */
static const char *check_transfer_encoding(const tg_client *c) {
  const tg_head *h = &c->x->req;
  int n = tg_head_count(h, "transfer-encoding");
  if (n == 0) return NULL;
  if (n > 1) return "more than one Transfer-Encoding header";
  if (c->parser.http_minor == 0) return "Transfer-Encoding in an HTTP/1.0 request";
  if (tg_head_find(h, "content-length") >= 0) return "Content-Length together with Transfer-Encoding";
  tg_span v = h->fields[tg_head_find(h, "transfer-encoding")].value;
  const char *s = tg_head_str(h, v), *end = s + v.len;
  /* llhttp 8.1 refuses a tab around the value only after the head is
   * complete; refusing it here too keeps the request from going upstream. */
  while (s < end && *s == ' ') s++;
  while (end > s && end[-1] == ' ') end--;
  /* cppcheck-suppress knownConditionTrueFalse ; the trims move s and end (chunked is accepted: bodies.test.mjs) */
  if (end - s != 7 || strncasecmp(s, "chunked", 7) != 0) return "Transfer-Encoding other than chunked";
  return NULL;
}

#define ACME_CHALLENGE_PATH "/.well-known/acme-challenge/"

/* RFC 8555 section 8.3: the CA fetches /.well-known/acme-challenge/TOKEN
 * over plain HTTP. When the config has an acme block, GET and HEAD there
 * are answered from the challenge table, before the mount prefix, auth
 * (the CA has no credentials) and a redirect listener's 308; an unknown
 * token is a 404. Returns 1 when it answered. */
static int client_acme_challenge(tg_client *c) {
  const tg_head *h = &c->x->req;
  const char *t = tg_head_str(h, h->target);
  size_t n = h->target.len, plen = sizeof ACME_CHALLENGE_PATH - 1;
  if (!tg_client_worker(c)->cfg->acme || n <= plen || memcmp(t, ACME_CHALLENGE_PATH, plen) != 0) return 0;
  if (c->parser.method != HTTP_GET && c->parser.method != HTTP_HEAD) return 0;
  const char *q = memchr(t + plen, '?', n - plen);
  char ka[512];
  long len = tg_acme_http01_lookup(t + plen, (size_t)((q ? q : t + n) - (t + plen)), ka, sizeof ka);
  if (len < 0) tg_client_fail(c, 404, "no such ACME challenge");
  else tg_client_reply(c, 200, "Content-Type: application/octet-stream\r\n", ka, (size_t)len);
  return 1;
}

/* Checks the head against RFC 9112 and the site; returns 0 or answers. */
static int client_check_head(tg_client *c) {
  llhttp_t *p = &c->parser;
  const tg_head *h = &c->x->req;
  const char *t = tg_head_str(h, h->target);
  size_t n = h->target.len;
  if (p->http_major != 1 || p->http_minor > 1) return tg_client_fail(c, 505, "unsupported HTTP version"), -1;
  int hosts = tg_head_count(h, "host");
  if (hosts > 1 || (hosts == 0 && p->http_minor == 1))
    return tg_client_fail(c, 400, "a request needs exactly one Host header"), -1;
  if (hosts == 1 && !host_is_valid(h, &h->fields[tg_head_find(h, "host")].value))
    return tg_client_fail(c, 400, "invalid Host header"), -1;
  const char *te_err = check_transfer_encoding(c);
  if (te_err) return tg_client_fail(c, 400, te_err), -1;
  if (n == 0 || t[0] != '/') return tg_client_fail(c, 400, "the request target must be a path"), -1;
  if (memchr(t, '#', n)) return tg_client_fail(c, 400, "a fragment (#) in the request target"), -1;
  if (client_acme_challenge(c)) return -1;
  size_t m = strlen(c->site->mount);
  if (m && (n < m || memcmp(t, c->site->mount, m) != 0 || (n > m && t[m] != '/' && t[m] != '?')))
    return tg_client_fail(c, 404, "404 page not found"), -1;
  c->x->target_skip = (uint32_t)m; /* m <= n, the target's length under the head's size cap */
  c->x->openai = n - m >= 4 && memcmp(t + m, "/v1/", 4) == 0;
  int e = tg_head_find(h, "expect");
  if (e >= 0) {
    tg_span v = h->fields[e].value;
    if (v.len != 12 || strncasecmp(tg_head_str(h, v), "100-continue", 12) != 0)
      return tg_client_fail(c, 417, "only Expect: 100-continue is understood"), -1;
    c->x->expect_continue = p->http_minor == 1;
  }
  return 0;
}

/* Is this a WebSocket handshake (RFC 6455 4.1): GET, Connection: upgrade,
 * Upgrade: websocket? Other upgrades (h2c, ...) are not passed on: their
 * Upgrade field is dropped like any hop-by-hop field. So is that of a GET
 * that announces a body: a handshake head goes up without framing fields,
 * and the body would follow it as bytes the upstream reads as something
 * else (the next request, or frames before its 101). */
static int client_wants_websocket(const tg_client *c) {
  const tg_head *h = &c->x->req;
  if (!c->parser.upgrade || c->parser.method != HTTP_GET || tg_head_count(h, "upgrade") != 1) return 0;
  if ((c->parser.flags & F_CHUNKED) || c->parser.content_length > 0) return 0;
  tg_span v = h->fields[tg_head_find(h, "upgrade")].value;
  return v.len == 9 && strncasecmp(tg_head_str(h, v), "websocket", 9) == 0;
}

/* The port a redirect to https:// names: the site's first TLS listener's,
 * left out when it is 443 or the site has none. */
static uint16_t redirect_port(const tg_site_conf *s) {
  for (size_t i = 0; i < s->nlistens; i++)
    if (s->listen_kind[i] == TG_LISTEN_TLS) return s->listens[i].port == 443 ? 0 : s->listens[i].port;
  return 0;
}

/* A redirect listener answers every request with 308 to the same target
 * over https:// (308 keeps the method and body, as Caddy's redirect does;
 * nginx's `return 301` would turn a POST into a GET). */
static void client_redirect(tg_client *c) {
  const tg_head *h = &c->x->req;
  int i = tg_head_find(h, "host");
  const char *host = c->site->name;
  size_t hlen = strlen(host);
  if (i >= 0 && h->fields[i].value.len && host_is_valid(h, &h->fields[i].value)) {
    host = tg_head_str(h, h->fields[i].value);
    hlen = h->fields[i].value.len;
    const char *end = host[0] == '[' ? memchr(host, ']', hlen) : memchr(host, ':', hlen);
    if (end) hlen = (size_t)(end - host) + (host[0] == '[');
  } else if (strcmp(host, "_") == 0) {
    tg_client_fail(c, 400, "a redirect to https needs a valid Host header");
    return;
  }
  const char *t = tg_head_str(h, h->target);
  if (h->target.len == 0 || t[0] != '/') {
    tg_client_fail(c, 400, "the request target must be a path");
    return;
  }
  char port[sizeof ":65535"] = "";
  uint16_t p = redirect_port(c->site); /* its type bounds what snprintf writes */
  if (p) snprintf(port, sizeof port, ":%u", (unsigned)p);
  tg_buf loc = {0};
  if (tg_buf_printf(&loc, "Location: https://%.*s%s%.*s\r\nContent-Type: text/plain\r\n", (int)hlen, host, port,
                    (int)h->target.len, t) < 0) {
    tg_client_close(c);
    return;
  }
  static const char body[] = "This site is served over HTTPS.\n";
  tg_client_reply(c, 308, loc.data, body, sizeof body - 1);
  tg_buf_free(&loc);
}

static void client_head_done(tg_client *c) {
  llhttp_t *p = &c->parser;
  c->keep_alive = llhttp_should_keep_alive(p) && !p->upgrade && p->http_minor == 1 && !tg_client_worker(c)->draining;
  c->x->websocket = client_wants_websocket(c);
  c->x->head_only = p->method == HTTP_HEAD;
  if (p->flags & F_CHUNKED) c->x->req_framing = TG_FRAME_CHUNKED;
  else if ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0) c->x->req_framing = TG_FRAME_LENGTH;
  else c->x->req_framing = TG_FRAME_NONE;
  c->x->req_cl = p->content_length;
  tg_exchange_request_id(c->x);
  if (c->listen_kind == TG_LISTEN_REDIRECT) {
    if (p->http_major != 1 || p->http_minor > 1) tg_client_fail(c, 505, "unsupported HTTP version");
    else if (!client_acme_challenge(c)) client_redirect(c); /* HTTP-01 stays on plain HTTP */
    return;
  }
  if (client_check_head(c) < 0) return;
  c->x->live_counted = 1;
  tg_metrics_live(1);
  c->state = TG_C_WAIT_UP;
  tg_client_arm_timer(c);
  tg_client_worker(c)->ops->head(
      c->x); /* the admission phases (policy/admission.c): facts, auth, limits, then the relay */
}

/* --- reading and parsing --------------------------------------------- */

static void client_parse_error(tg_client *c) {
  char msg[160];
  int status = c->x->status ? c->x->status : 400;
  if (c->x->rec.t_start_ns == 0) c->x->rec.t_start_ns = uv_hrtime();
  if (status == 400) snprintf(msg, sizeof msg, "malformed request: %s", llhttp_get_error_reason(&c->parser));
  else snprintf(msg, sizeof msg, "%s", tg_status_reason(status));
  c->x->status = 0;
  tg_client_fail(c, status, msg);
}

/* The raw-byte checks beside llhttp (tollgate/framing.h) over the bytes
 * llhttp just consumed. Returns NULL or what is wrong. */
static const char *client_strict_check(tg_client *c, int was_head, const char *data, size_t used) {
  if (was_head) return tg_head_scan_feed(&c->x->head_scan, data, used);
  if (c->x->req_framing != TG_FRAME_CHUNKED) return NULL;
  int rc = tg_chunk_scan_feed(&c->x->chunk_scan, data, used);
  if (rc < 0) return "malformed chunked framing";
  if ((rc == 1) != (c->pause == PAUSE_END)) return "malformed chunked framing (the body does not end where it should)";
  return NULL;
}

/* Runs the parser over data (from a read, or from c->pending). Bytes after
 * a pause are kept in c->pending before anything acts on the pause. */
static void client_execute(tg_client *c, const char *data, size_t n, int from_pending) {
  /* a request's first byte: its exchange begins (c->x stays until it ends,
   * through its answer, a tunnel or the connection's close) */
  if (!c->x && !(c->x = tg_exchange_new(&tg_client_worker(c)->xcache, c, &tg_h1_downstream, tg_client_worker(c),
                                        c->site, c->ip))) {
    tg_client_close(c);
    return;
  }
  c->pause = PAUSE_NONE;
  int body = c->state == TG_C_BODY;
  int head = c->state == TG_C_IDLE || c->state == TG_C_HEAD;
  if (body) tg_client_worker(c)->ops->body_begin(c->x);
  enum llhttp_errno e = llhttp_execute(&c->parser, data, n);
  size_t used = e == HPE_OK ? n : (size_t)(llhttp_get_error_pos(&c->parser) - data);
  c->x->rec.bytes_in += used;
  const char *bad = (e == HPE_OK || e == HPE_PAUSED) ? client_strict_check(c, head, data, used) : NULL;
  if (bad) tg_client_worker(c)->batch.n = 0; /* nothing of this read goes upstream */
  if (body) tg_client_worker(c)->ops->body_end(c->x);
  if (bad || (e != HPE_OK && e != HPE_PAUSED)) {
    if (from_pending) c->pending.len = 0;
    if (bad) tg_client_fail(c, 400, bad);
    else client_parse_error(c);
    return;
  }
  if (from_pending) tg_buf_consume(&c->pending, used);
  else if (used < n && tg_buf_append(&c->pending, data + used, n - used) < 0) {
    tg_client_close(c);
    return;
  }
  if (c->pause == PAUSE_HEAD) client_head_done(c);
  else if (c->pause == PAUSE_END) {
    c->state = TG_C_SENT;
    c->x->req_done = 1;
    tg_client_arm_timer(c);
    if (c->x->adm.gathering)
      tg_client_worker(c)->ops->body_gathered(c->x); /* read whole before the upstream: the policy goes on */
    else if (c->x->resp_done) tg_client_worker(c)->ops->finish(c->x);
  }
}

/* Parses what waits in c->pending until the parser pauses or it is empty.
 * Re-entered calls (an answer that completes at once) loop here instead of
 * recursing. */
static void client_pump(tg_client *c) {
  if (c->pumping) {
    c->pump_again = 1;
    return;
  }
  c->pumping = 1;
  do {
    c->pump_again = 0;
    if (c->state == TG_C_CLOSING || c->pause != PAUSE_NONE) break;
    if (c->state == TG_C_IDLE && c->pending.len == 0) break;
    client_execute(c, c->pending.data ? c->pending.data : "", c->pending.len, 1);
  } while (c->pump_again);
  c->pumping = 0;
  if (c->state != TG_C_CLOSING && c->pause == PAUSE_NONE && c->pending.len == 0) client_read_start(c);
}

/* Lets the parser go on after a pause and parses what is pending. */
static void client_resume(tg_client *c) {
  c->pause = PAUSE_NONE;
  llhttp_resume(&c->parser);
  client_pump(c);
}

/* The connection ended from the client's side (EOF, reset, close_notify). */
static void client_on_eof(tg_client *c) {
  c->client_gone = 1;
  if (c->state == TG_C_TUNNEL) tg_client_tunnel_end(c);
  else tg_client_close(c);
}

/* Plaintext bytes from the client: a tunnel's, pipelined ones while the
 * parser is paused, or the parser's. */
static void client_on_bytes(tg_client *c, const char *data, size_t n) {
  if (!c->h2 && !c->x && !c->served && tg_client_tls(c) && tg_tls_conn_h2(tg_client_tls(c))) {
    if (tg_h2_conn_start(c) < 0) { /* ALPN chose h2: its first bytes are the client's preface */
      tg_client_close(c);
      return;
    }
    tg_h2_conn_flush(c);
    if (c->state == TG_C_CLOSING) return;
  }
  if (c->h2) {
    tg_h2_conn_bytes(c, data, n);
    return;
  }
  if (c->state == TG_C_TUNNEL) {
    c->x->rec.bytes_in += n;
    tg_client_worker(c)->ops->tunnel_up(c->x, data, n);
    return;
  }
  if (c->pause != PAUSE_NONE || c->pending.len) {
    if (tg_buf_append(&c->pending, data, n) < 0) tg_client_close(c);
    else if (c->pending.len > TG_PENDING_MAX) client_read_stop(c);
    return;
  }
  client_execute(c, data, n, 0);
  if (c->state == TG_C_BODY) tg_client_arm_timer(c);
}

/* Decrypts one read's ciphertext into the worker's plaintext buffer and
 * hands it on in one piece, as a plain read would be. */
static void client_read_tls(tg_client *c, const char *data, size_t n) {
  char *plain = tg_client_worker(c)->tls_plain;
  size_t got = 0;
  const char *why = NULL;
  for (;;) {
    int r = tg_tls_conn_read(tg_client_tls(c), data, n, plain + got, TG_READ_BUF - got, &why);
    n = 0;
    if (r > 0) got += (size_t)r;
    if (got && (r <= 0 || got == TG_READ_BUF)) {
      client_on_bytes(c, plain, got);
      got = 0;
      if (c->state == TG_C_CLOSING) return;
    }
    if (r > 0) continue;
    if (r == TG_TLS_EOF) client_on_eof(c);
    else if (r == TG_TLS_ERROR) {
      c->client_gone = 1; /* a failed handshake or a bad record: nothing more to say */
      tg_client_close(c);
    }
    return;
  }
}

static void client_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  tg_client *c = s->data;
  if (nread == 0) return;
  if (nread < 0) client_on_eof(c);
  else if (tg_client_tls(c)) client_read_tls(c, buf->base, (size_t)nread);
  else client_on_bytes(c, buf->base, (size_t)nread);
}

void tg_client_resume_body(tg_client *c) {
  if (c->state == TG_C_WAIT_UP) {
    c->state = TG_C_BODY;
    client_resume(c);
  } else if ((c->state == TG_C_BODY && c->pause == PAUSE_NONE) || c->state == TG_C_TUNNEL) {
    client_read_start(c);
  }
  tg_client_arm_timer(c);
}

void tg_client_pause_body(tg_client *c) {
  client_read_stop(c);
  tg_client_arm_timer(c);
}

/* A connection kept open while the worker drains (see tg_client_drain). */
#define TG_DRAIN_FRESH_MS 1000
static void drain_fresh_timer_cb(uv_timer_t *t);

void tg_client_exchange_done(tg_client *c) {
  c->served = 1;
  client_log(c, 0);
  if (!c->keep_alive || c->x->truncated) {
    tg_client_close_after_flush(c);
    return;
  }
  client_exchange_end(c);
  c->state = TG_C_IDLE;
  tg_client_arm_timer(c);
  if (tg_client_worker(c)->draining &&
      !c->pending.len) /* its response promised keep-alive: one more request, briefly */
    client_timer_other(c, drain_fresh_timer_cb, TG_DRAIN_FRESH_MS);
  client_resume(c);
}

void tg_client_tunnel_start(tg_client *c) {
  c->state = TG_C_TUNNEL;
  c->pause = PAUSE_NONE;
  c->tunnel_last = uv_now(c->tcp.loop);
  if (c->pending.len) { /* frames the client sent right behind its handshake */
    tg_client_worker(c)->ops->tunnel_up(c->x, c->pending.data, c->pending.len);
    c->x->rec.bytes_in += c->pending.len;
    c->pending.len = 0;
  }
  if (c->state != TG_C_TUNNEL) return;
  if (!c->x->leg.up || !c->x->leg.up->sink.busy) client_read_start(c);
  tg_client_arm_timer(c);
}

void tg_client_tunnel_end(tg_client *c) {
  if (c->state != TG_C_TUNNEL) return;
  client_log(c, 0);
  c->x->resp_done = 1;
  tg_client_worker(c)->ops->abort(c->x);
  tg_client_close_after_flush(c);
}

/* A connection accepted just before a drain began has its first request
 * on the way: it gets TG_DRAIN_FRESH_MS to arrive (and is answered, then
 * closed). */
static void drain_fresh_timer_cb(uv_timer_t *t) {
  tg_client *c = t->data;
  if (c->state == TG_C_IDLE) tg_client_close(c);
}

void tg_client_drain(tg_client *c) {
  if (c->h2) {
    tg_h2_conn_drain(c); /* GOAWAY: the streams in progress finish */
    return;
  }
  /* A response whose head already promised keep-alive is honoured: the
   * client may send one more request on it, which gets Connection: close
   * (tg_client_exchange_done then treats the connection like a fresh one).
   * Otherwise the response under way says Connection: close. */
  if (!(c->x && c->x->resp_head_sent && c->keep_alive)) c->keep_alive = 0;
  if (c->state != TG_C_IDLE || c->pending.len || c->sink.busy) return;
  if (c->served) tg_client_close(c); /* an idle keep-alive connection */
  else client_timer_other(c, drain_fresh_timer_cb, TG_DRAIN_FRESH_MS);
}
