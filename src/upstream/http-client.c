/* One outgoing HTTP/1.1 call on a libuv loop (tollgate/http-client.h).
 * The connection half (socket, TLS, timer, output) is set up by dialling;
 * the exchange half (request, parser, response) starts once it is ready
 * (call_send), which is where a pooled connection would enter. */
#include "tollgate/http-client.h"

#include <stdlib.h>
#include <string.h>

#include <llhttp.h>
#include <openssl/x509.h>

#include "tollgate/sink.h"
#include "tollgate/tls.h"

#define CALL_READ_SIZE 16384

/* The connection: what a pool could keep between calls. */
typedef struct http_conn {
  uv_tcp_t tcp;
  uv_connect_t connect;
  uv_timer_t timer;
  tg_sink out;
  tg_tls_conn tls; /* used when the target has an SSL_CTX */
  int use_tls;
  char *plain; /* decrypted bytes of one read (TLS only) */
} http_conn;

struct tg_http_call {
  http_conn conn;
  const char *server_name;
  llhttp_t parser;
  tg_buf request;      /* the request's bytes, until written */
  tg_http_request opt; /* the request's limits and hook; its texts are not kept past the start */
  uint64_t deadline;   /* uv_now() ms when the whole call times out; 0: never */
  uint64_t read_ns;    /* when the read being parsed arrived */
  tg_http_response resp;
  tg_http_done_cb cb;
  void *data;
  int closing;            /* handles whose close callback is due */
  unsigned head_only : 1; /* a HEAD: the answer has no body */
  unsigned verify_after : 1;
  unsigned got_head : 1;
  unsigned complete : 1;
  unsigned done : 1; /* the callback ran (or is running) */
  char rbuf[CALL_READ_SIZE];
};

static void call_closed(uv_handle_t *h) {
  tg_http_call *call = h->data;
  if (--call->closing) return;
  tg_sink_free(&call->conn.out);
  if (call->conn.use_tls) tg_tls_conn_free(&call->conn.tls);
  free(call->conn.plain);
  tg_buf_free(&call->request);
  tg_head_free(&call->resp.head);
  tg_buf_free(&call->resp.body);
  free(call);
}

/* Reports the outcome once, then closes the connection. */
static void call_finish(tg_http_call *call) {
  if (call->done) return;
  call->done = 1;
  call->resp.times.end = uv_hrtime();
  if (call->resp.error == TG_UPERR_NONE) call->resp.status = call->parser.status_code;
  call->cb(&call->resp, call->data);
  call->closing = 2;
  uv_close((uv_handle_t *)&call->conn.tcp, call_closed);
  uv_close((uv_handle_t *)&call->conn.timer, call_closed);
}

static void call_fail(tg_http_call *call, tg_up_error e, const char *why) {
  if (call->done) return;
  call->resp.error = e;
  call->resp.why = why;
  call_finish(call);
}

static void call_fail_uv(tg_http_call *call, int uv_err) {
  call_fail(call, tg_up_error_of(uv_err), uv_strerror(uv_err));
}

/* ---- the response ---- */

static tg_http_call *parser_call(llhttp_t *p) { return p->data; }

static int on_status(llhttp_t *p, const char *at, size_t n) {
  tg_http_call *call = parser_call(p);
  return tg_head_add_target(&call->resp.head, at, n, call->opt.max_response) ? -1 : 0;
}

static int on_field(llhttp_t *p, const char *at, size_t n) {
  tg_http_call *call = parser_call(p);
  return tg_head_add_name(&call->resp.head, at, n, call->opt.max_response) ? -1 : 0;
}

static int on_value(llhttp_t *p, const char *at, size_t n) {
  tg_http_call *call = parser_call(p);
  return tg_head_add_value(&call->resp.head, at, n, call->opt.max_response) ? -1 : 0;
}

static int on_headers_complete(llhttp_t *p) {
  tg_http_call *call = parser_call(p);
  /* llhttp takes any number as a status ("HTTP/1.1 1"); the proxy leg refuses what this refuses */
  if (p->http_major != 1 || p->status_code < 100 || p->status_code > 599) return -1;
  call->got_head = 1;
  if (p->status_code >= 200 || p->status_code == 101) {
    call->resp.head_status = p->status_code;
    call->resp.times.head = call->read_ns;
  }
  return call->head_only ? 1 : 0; /* 1: no body follows */
}

static int on_body(llhttp_t *p, const char *at, size_t n) {
  tg_http_call *call = parser_call(p);
  tg_buf *b = &call->resp.body;
  size_t keep = n;
  if (call->opt.keep_body) {
    size_t room = b->len < call->opt.keep_body ? call->opt.keep_body - b->len : 0;
    keep = n < room ? n : room;
  } else if (b->len + n > call->opt.max_response) {
    return -1;
  }
  call->resp.body_len += n;
  if (call->opt.on_body) call->opt.on_body(call->opt.on_body_data, at, n, call->read_ns);
  return keep && tg_buf_append(b, at, keep) < 0 ? -1 : 0;
}

static int on_message_complete(llhttp_t *p) {
  tg_http_call *call = parser_call(p);
  if (p->status_code >= 100 && p->status_code < 200 && p->status_code != 101) {
    /* an interim answer (100 Continue, 103): the real one follows */
    tg_head_reset(&call->resp.head);
    call->got_head = 0;
    return 0;
  }
  call->complete = 1;
  return HPE_PAUSED;
}

static const llhttp_settings_t response_settings = {
    .on_status = on_status,
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* Feeds response bytes (n = 0: the peer closed). Finishes the call when
 * the response is whole or cannot be. */
static void call_parse(tg_http_call *call, const char *p, size_t n) {
  if (call->done) return; /* sending the request failed while this read was decrypted */
  if (n && !call->resp.times.first_byte) call->resp.times.first_byte = call->read_ns;
  enum llhttp_errno e = n ? llhttp_execute(&call->parser, p, n) : llhttp_finish(&call->parser);
  if (call->complete) call_finish(call);
  else if (e == HPE_PAUSED_UPGRADE) call->complete = 1, call_finish(call);
  else if (n == 0) call_fail(call, TG_UPERR_CLOSED, "the connection closed before the response was complete");
  else if (e != HPE_OK) call_fail(call, TG_UPERR_INVALID, "the response is not valid HTTP/1.1 or too large");
}

/* ---- limits ---- */

static void call_timeout(uv_timer_t *t);

/* Arms the timer for the nearer of the call's end and the limit of the
 * wait it is in (connecting, or once ready the next read). */
static void call_arm(tg_http_call *call) {
  uv_timer_t *t = &call->conn.timer;
  uint64_t ms = call->resp.connected ? call->opt.idle_ms : call->opt.connect_ms;
  if (call->deadline) {
    uint64_t now = uv_now(t->loop), left = call->deadline > now ? call->deadline - now : 0;
    if (!ms || left < ms) ms = left ? left : 1;
  }
  if (ms) uv_timer_start(t, call_timeout, ms, 0);
  else uv_timer_stop(t);
}

static void call_timeout(uv_timer_t *t) {
  tg_http_call *call = t->data;
  int whole = call->deadline && uv_now(t->loop) >= call->deadline;
  if (call->resp.error) call_finish(call); /* a dial that failed at once, reported here */
  else if (!call->resp.connected && call->resp.times.connect)
    call_fail(call, TG_UPERR_TIMEOUT, "no TLS handshake within the timeout");
  else if (!call->resp.connected) call_fail(call, TG_UPERR_TIMEOUT, "no connection within the timeout");
  else if (!whole)
    call_fail(call, call->got_head ? TG_UPERR_IDLE_TIMEOUT : TG_UPERR_HEADER_TIMEOUT, "no bytes within the wait limit");
  else if (!call->got_head) call_fail(call, TG_UPERR_HEADER_TIMEOUT, "no response head within the timeout");
  else call_fail(call, TG_UPERR_IDLE_TIMEOUT, "the response did not end within the timeout");
}

/* ---- the exchange on a ready connection ---- */

static void call_sent(tg_http_call *call) {
  call->resp.sent = 1;
  call->resp.times.sent = uv_hrtime();
}

static void call_send(tg_http_call *call) {
  uv_buf_t b = uv_buf_init(call->request.data, (unsigned)call->request.len);
  call->resp.connected = 1;
  if (call->opt.connect_ms || call->opt.idle_ms) call_arm(call); /* the waits from here are idle_ms's */
  int rc = tg_sink_writev(&call->conn.out, &b, 1);
  if (rc < 0) call_fail_uv(call, rc);
  else if (rc == 0) call_sent(call);
}

static void call_drained(tg_sink *s, int status) {
  tg_http_call *call = s->stream->data;
  if (status < 0) call_fail_uv(call, status);
  else call_sent(call);
}

/* The handshake is through: note what it showed, check the certificate
 * when the caller asked, then send. */
static void call_secured(tg_http_call *call) {
  call->resp.times.tls = uv_hrtime();
  tg_tls_peer_read(&call->conn.tls, &call->resp.tls);
  if (call->verify_after && call->resp.tls.verify != X509_V_OK)
    call_fail(call, TG_UPERR_TLS, X509_verify_cert_error_string(call->resp.tls.verify));
  else call_send(call);
}

/* Decrypts one read; the request goes once the handshake is through. */
static void call_read_tls(tg_http_call *call, const char *p, size_t n) {
  http_conn *cn = &call->conn;
  for (int first = 1; !call->done; first = 0) {
    const char *why = NULL;
    int r = tg_tls_conn_read(&cn->tls, first ? p : NULL, first ? n : 0, cn->plain, CALL_READ_SIZE, &why);
    if (cn->tls.handshake_done && !call->resp.times.tls) call_secured(call);
    if (r > 0) call_parse(call, cn->plain, (size_t)r);
    else if (r == TG_TLS_EOF) call_parse(call, NULL, 0);
    else if (r == TG_TLS_ERROR) call_fail(call, TG_UPERR_TLS, why);
    if (r <= 0) return;
  }
}

static void call_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  tg_http_call *call = h->data;
  *buf = uv_buf_init(call->rbuf, sizeof call->rbuf);
}

static void call_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  tg_http_call *call = s->data;
  if (call->done || nread == 0) return;
  call->read_ns = uv_hrtime();
  if (call->opt.idle_ms && call->resp.connected) call_arm(call);
  if (nread == UV_EOF) call_parse(call, NULL, 0);
  else if (nread < 0) call_fail_uv(call, (int)nread);
  else if (call->conn.use_tls) call_read_tls(call, buf->base, (size_t)nread);
  else call_parse(call, buf->base, (size_t)nread);
}

/* ---- the connection ---- */

static void call_connected(uv_connect_t *cr, int status) {
  tg_http_call *call = cr->data;
  http_conn *cn = &call->conn;
  if (call->done) return;
  if (status < 0) {
    call_fail_uv(call, status);
    return;
  }
  call->resp.times.connect = uv_hrtime();
  int rc = uv_read_start((uv_stream_t *)&cn->tcp, call_alloc, call_read);
  if (rc < 0) {
    call_fail_uv(call, rc);
  } else if (!cn->use_tls) {
    call_send(call);
  } else {
    call_read_tls(call, NULL, 0); /* the ClientHello */
  }
}

/* Sets up TLS for the connection when the target asks for it. */
static int conn_tls(http_conn *cn, const tg_http_target *to) {
  if (!to->tls) return 0;
  cn->plain = malloc(CALL_READ_SIZE);
  if (!cn->plain || tg_tls_conn_init_client(&cn->tls, to->tls, to->server_name, &cn->out) < 0) return -1;
  cn->use_tls = 1;
  cn->out.codec = &cn->tls.codec;
  return 0;
}

static int build_request(tg_buf *out, const tg_http_request *rq) {
  int rc = tg_buf_printf(out, "%s %s HTTP/1.1\r\nHost: %s\r\n", rq->method, rq->target, rq->host);
  if (rq->headers) rc |= tg_buf_puts(out, rq->headers);
  if (rq->body) rc |= tg_buf_printf(out, "Content-Length: %zu\r\n", rq->body_len);
  if (rq->upgrade) rc |= tg_buf_printf(out, "Upgrade: %s\r\nConnection: Upgrade\r\n\r\n", rq->upgrade);
  else rc |= tg_buf_puts(out, "Connection: close\r\n\r\n");
  if (rq->body) rc |= tg_buf_append(out, rq->body, rq->body_len);
  return rc ? -1 : 0;
}

int tg_http_call_start(uv_loop_t *loop, const tg_http_target *to, const tg_http_request *rq, tg_http_done_cb cb,
                       void *data) {
  tg_http_call *call = calloc(1, sizeof *call);
  if (!call) return -1;
  http_conn *cn = &call->conn;
  tg_sink_init(&cn->out, (uv_stream_t *)&cn->tcp, call_drained);
  if (build_request(&call->request, rq) < 0 || conn_tls(cn, to) < 0) {
    tg_buf_free(&call->request);
    free(cn->plain);
    free(call);
    return -1;
  }
  call->cb = cb;
  call->data = data;
  call->opt = *rq;
  call->opt.method = call->opt.target = call->opt.host = call->opt.headers = call->opt.body = call->opt.upgrade = NULL;
  call->verify_after = to->verify_after;
  call->head_only = strcmp(rq->method, "HEAD") == 0;
  call->resp.times.start = uv_hrtime();
  llhttp_init(&call->parser, HTTP_RESPONSE, &response_settings);
  call->parser.data = call;
  uv_tcp_init(loop, &cn->tcp); /* cannot fail: no socket is made before connect */
  uv_timer_init(loop, &cn->timer);
  cn->tcp.data = cn->timer.data = cn->connect.data = call;
  int rc = uv_tcp_connect(&cn->connect, &cn->tcp, to->addr, call_connected);
  if (rc < 0) { /* reported from the loop, as every outcome is */
    call->resp.error = tg_up_error_of(rc);
    call->resp.why = uv_strerror(rc);
  }
  if (rc < 0) {
    uv_timer_start(&cn->timer, call_timeout, 0, 0);
  } else {
    call->deadline = rq->timeout_ms ? uv_now(loop) + rq->timeout_ms : 0;
    call_arm(call);
  }
  return 0;
}
