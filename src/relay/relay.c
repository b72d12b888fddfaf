/* One exchange between a client and an upstream: the request head and body
 * go up as they arrive, the response comes down as it arrives. Body bytes
 * are never gathered: each read is parsed and its spans are written at once
 * (see tollgate/sink.h). The response passes through the exchange's chain
 * of filters (tollgate/resp-filter.h), which ends with the HTTP/1 writer
 * below: a chunked upstream response keeps its chunk boundaries, so an
 * NDJSON line or SSE event the upstream wrote as one chunk reaches the
 * client as one chunk. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "tollgate/body-buffer.h"
#include "tollgate/body-temp.h"
#include "tollgate/fanout.h"
#include "tollgate/limits.h"
#include "tollgate/proxy.h"
#include "tollgate/quota.h"
#include "tollgate/resp-filter.h"
#include "tollgate/upstream-error.h"

#define UP_HEAD_MAX (64 * 1024)

/* Writes a chunk-size line ("1a2b\r\n") into out; returns its length. */
static size_t chunk_line(char out[24], uint64_t size) {
  static const char hex[] = "0123456789abcdef";
  char tmp[16];
  size_t k = 0;
  do {
    tmp[k++] = hex[size & 15];
    size >>= 4;
  } while (size);
  for (size_t i = 0; i < k; i++) out[i] = tmp[k - 1 - i];
  out[k] = '\r', out[k + 1] = '\n';
  return k + 2;
}

static void relay_upstream_done(tg_exchange *x);

/* --- request toward the upstream -------------------------------------- */

/* The server chosen last may be chosen again. */
static void relay_untry(tg_exchange *x) {
  tg_pool *p = x->leg.pool;
  tg_pool_group *g = tg_worker_group_for(x->w, x->site->upstream);
  x->leg.tried &= ~(1ull << (p - g->pools));
  x->leg.attempts--;
}

/* Chooses a server not tried yet for this exchange and asks its pool for
 * a connection. */
void tg_relay_start(tg_exchange *x) {
  tg_pool_group *g = tg_worker_group_for(x->w, x->site->upstream);
  if (g->n > 1 && !x->leg.tried && tg_fanout_take(x, g)) return; /* answered from every server */
  int answered = 0;
  tg_pool *p = g->n > 1 && g->conf->balance == TG_BALANCE_MODEL ? tg_model_pick(x, g, &answered)
                                                                : tg_pool_choose(g, x->leg.tried);
  if (answered) return; /* 404: no server lists the model; or held in its queue */
  if (!p) {
    char msg[160];
    snprintf(msg, sizeof msg, "no server of upstream '%s' can take the request (%s)", g->conf->name,
             x->leg.tried ? "every one tried" : "down or draining");
    x->leg.up_error = (uint8_t)TG_UPERR_UNAVAILABLE;
    tg_exchange_fail(x, 502, msg);
    return;
  }
  x->leg.pool = p;
  x->leg.tried |= 1ull << (p - g->pools);
  x->leg.attempts++;
  tg_pool_acquire(p, x);
}

static llhttp_settings_t response_settings;

/* Can the body bytes read with the head (waiting to be parsed) go up in the
 * head's write? The head then waits in the worker's batch, which the
 * body's parse fills and flushes (tg_relay_body_begin keeps it): one
 * system call instead of two. Not when the client waits for a 100
 * Continue, nor when a failed write of the head could still send the
 * request to another server: that needs the head's own result before
 * the body is consumed. */
static int relay_join_body(tg_exchange *x) {
  return x->down->body_waiting(x) && x->req_framing != TG_FRAME_NONE && !x->adm.gathered && !x->expect_continue &&
         !tg_failover_can(x, 0);
}

static int relay_send_head(tg_exchange *x, tg_upconn *u, int join) {
  tg_client *c = x->conn;
  const tg_head *h = &x->req;
  tg_req_meta m = {
      .method = llhttp_method_name(x->method),
      .target = tg_head_str(h, h->target) + x->target_skip,
      .target_len = h->target.len - x->target_skip,
      .client_ip = x->ip,
      .proto = tg_client_tls(c) ? "https" : "http",
      .framing = x->req_framing,
      .content_length = x->req_cl,
      .websocket = x->websocket,
      .request_id = x->request_id[0] ? x->request_id : NULL,
      .extra = x->adm.auth_headers,
      .drop = x->adm.auth_drop,
  };
  if (m.target_len == 0 || m.target[0] == '?') m.root_slash = 1; /* the mount point itself, query kept */
  const tg_body_temp *file = x->adm.gathered ? x->adm.temp : NULL;
  if (x->adm.gathered) { /* read whole (and maybe rewritten) before dialling: it follows the head */
    m.framing = TG_FRAME_LENGTH;
    m.content_length = file ? tg_body_temp_size(file) : x->adm.whole.len;
  }
  tg_buf *out = &x->w->scratch;
  out->len = 0;
  if (tg_rewrite_request(out, h, &m, x->site) < 0) return UV_ENOMEM;
  if (join) { /* written with the body, when its parse ends (tg_relay_body_end) */
    tg_batch_begin(&x->w->batch, &u->sink);
    tg_batch_add(&x->w->batch, out->data, out->len);
    return 0;
  }
  uv_buf_t b[2] = {uv_buf_init(out->data, (unsigned)out->len),
                   uv_buf_init(x->adm.whole.data, (unsigned)x->adm.whole.len)};
  int rc = tg_sink_writev(&u->sink, b, x->adm.gathered && !file ? 2 : 1);
  if (rc >= 0 && file) tg_body_send_start(x); /* in pieces from its file (body-send.c) */
  return rc < 0 ? rc : 0;
}

void tg_relay_connected(tg_exchange *x, tg_upconn *u, int status, int timed_out) {
  if (!u) {
    char msg[128];
    tg_up_error kind = timed_out ? TG_UPERR_TIMEOUT : tg_up_error_of(status);
    x->leg.up = NULL;
    if (kind != TG_UPERR_LOCAL && tg_failover_can(x, 0)) {
      snprintf(msg, sizeof msg, "could not be dialled (%s)", tg_up_error_name(kind));
      tg_failover_go(x, msg);
      return;
    }
    x->leg.up_error = (uint8_t)kind;
    tg_up_error_dial_message(msg, sizeof msg, kind, status);
    tg_exchange_fail(x, 502, msg);
    return;
  }
  x->leg.up = u;
  x->leg.up_reached = 1;
  u->x = x;
  llhttp_init(&u->parser, HTTP_RESPONSE, &response_settings);
  u->parser.data = u;
  memset(&x->leg.up_head_scan, 0, sizeof x->leg.up_head_scan);
  memset(&x->leg.up_chunk_scan, 0, sizeof x->leg.up_chunk_scan);
  x->leg.up_chunk_check = x->leg.up_chunk_end = 0;
  tg_head_reset(&u->head);
  tg_head_reset(&u->trailer);
  int join = relay_join_body(x);
  int rc = relay_send_head(x, u, join);
  if (rc < 0 && rc != UV_ENOMEM && tg_failover_can(x, 0)) {
    tg_pool_failed(u->pool, uv_strerror(rc));
    tg_failover_go(x, "failed while the request was sent");
    return;
  }
  if (rc < 0) {
    x->leg.up_error = (uint8_t)tg_up_error_of(rc);
    char msg[160];
    if (x->leg.up_error == TG_UPERR_RESET)
      snprintf(msg, sizeof msg, "upstream reset the connection while the request was sent");
    else snprintf(msg, sizeof msg, "upstream connection failed while sending the request: %s", uv_strerror(rc));
    tg_exchange_fail(x, 502, msg);
    return;
  }
  tg_upconn_set_timeout(u, u->pool->conf->header_timeout_ms);
  if (x->expect_continue && x->req_framing != TG_FRAME_NONE && !x->adm.gathered) x->down->send_continue(x);
  x->down->body_go(x);
  /* the body was not parsed at once (a parse of this client under way
   * goes on with it later): the head goes alone */
  if (join && x->w->batch.sink == &u->sink) tg_relay_body_end(x);
}

void tg_relay_body_begin(tg_exchange *x) {
  tg_batch *b = &x->w->batch;
  if (!x->leg.up || x->body_discard) b->sink = NULL;
  else if (b->sink != &x->leg.up->sink || !b->n) tg_batch_begin(b, &x->leg.up->sink);
  /* else the request head waits in the batch: the body joins it (relay_join_body) */
}

void tg_relay_body_end(tg_exchange *x) {
  tg_batch *b = &x->w->batch;
  if (!b->sink) return;
  tg_batch_flush(b);
  b->sink = NULL;
  if (b->status < 0) x->body_discard = 1; /* the upstream stopped reading */
  else if (b->status > 0) x->down->body_hold(x);
}

int tg_relay_on_chunk_header(tg_exchange *x, uint64_t size) {
  uint64_t max = x->adm.max_body;
  if (max && (size > max || x->body_bytes + size > max)) { /* refused before its data arrives */
    x->status = 413;
    return -1;
  }
  x->req_in_chunk = size > 0;
  if (size == 0 || !x->w->batch.sink) return 0;
  char line[24];
  tg_batch_add_copy(&x->w->batch, line, chunk_line(line, size));
  return 0;
}

int tg_relay_on_body(tg_exchange *x, const char *p, size_t n) {
  x->body_bytes += n;
  uint64_t max = x->adm.max_body;
  if (max && x->body_bytes > max) {
    x->status = 413;
    return -1;
  }
  tg_llm_scan_request(&x->scan.req, &x->facts, p, n);
  if (x->adm.gathering) return tg_body_buffer_append(x, p, n); /* in memory, or in a file past the buffer */
  if (x->w->batch.sink) tg_batch_add(&x->w->batch, p, n);
  return 0;
}

int tg_relay_on_chunk_complete(tg_exchange *x) {
  /* llhttp calls this for the last (empty) chunk too; its CRLF comes with
   * the terminator written at the message end. */
  if (x->w->batch.sink && x->req_in_chunk) tg_batch_add_copy(&x->w->batch, "\r\n", 2);
  x->req_in_chunk = 0;
  return 0;
}

int tg_relay_on_request_complete(tg_exchange *x) {
  if (x->req_framing == TG_FRAME_CHUNKED && x->w->batch.sink) tg_batch_add_copy(&x->w->batch, "0\r\n\r\n", 5);
  return 0;
}

void tg_relay_abort(tg_exchange *x) {
  if (!x->leg.up) return;
  tg_upconn_close(x->leg.up);
  x->leg.up = NULL;
}

void tg_relay_upstream_drained(tg_upconn *u, int status) {
  tg_exchange *x = u->x;
  if (!x) return;
  tg_client *c = x->conn;
  if (status < 0 && c->state == TG_C_TUNNEL) {
    tg_client_tunnel_end(c);
    return;
  }
  if (status < 0) x->body_discard = 1;
  else tg_body_send_drained(x); /* a body sent from its file: the next piece */
  x->down->body_more(x);
}

/* --- response toward the client ---------------------------------------- */

static int up_on_status(llhttp_t *p, const char *at, size_t n) {
  tg_upconn *u = p->data;
  return tg_head_add_target(&u->head, at, n, UP_HEAD_MAX) ? -1 : 0;
}

/* llhttp reports a chunked body's trailer fields through the same
 * callbacks as the head's. tollgate drops them (it writes its own last
 * chunk), so they are not kept in the head: neither counted against its
 * limits nor merged into a head still held back (a listing being
 * filtered). Each goes through the same checks (a token name, a value
 * after a name) in u->trailer, emptied after its value. */
static tg_head *up_fields(tg_upconn *u) { return (u->parser.flags & F_TRAILING) ? &u->trailer : &u->head; }

static int up_on_header_field(llhttp_t *p, const char *at, size_t n) {
  tg_upconn *u = p->data;
  return tg_head_add_name(up_fields(u), at, n, UP_HEAD_MAX) ? -1 : 0;
}

static int up_on_header_value(llhttp_t *p, const char *at, size_t n) {
  tg_upconn *u = p->data;
  return tg_head_add_value(up_fields(u), at, n, UP_HEAD_MAX) ? -1 : 0;
}

static int up_on_header_value_complete(llhttp_t *p) {
  tg_upconn *u = p->data;
  if (p->flags & F_TRAILING) tg_head_reset(&u->trailer);
  return 0;
}

/* Chooses how the client receives the body: the upstream's Content-Length
 * when it gave one, else chunked (HTTP/1.1 clients) or until close. */
static tg_framing response_framing(tg_exchange *x, const llhttp_t *p, int no_body) {
  x->leg.up_chunked = (p->flags & F_CHUNKED) != 0;
  x->leg.up_eof_body = !no_body && !x->leg.up_chunked && !(p->flags & F_CONTENT_LENGTH);
  if (no_body) return (p->flags & F_CONTENT_LENGTH) ? TG_FRAME_LENGTH : TG_FRAME_NONE;
  if (p->flags & F_CONTENT_LENGTH) return TG_FRAME_LENGTH;
  if (x->http_minor == 1) return TG_FRAME_CHUNKED;
  return TG_FRAME_CLOSE;
}

/* 101 to a WebSocket handshake: the head goes to the client and llhttp
 * stops (return 2: HPE_PAUSED_UPGRADE); the rest is a tunnel. A 101 nobody
 * asked for is an invalid response. */
static int relay_switch_protocols(tg_exchange *x, tg_upconn *u) {
  if (!x->websocket) return -1;
  tg_buf *out = &x->w->scratch;
  out->len = 0;
  if (tg_rewrite_response(out, &u->head, 101, TG_FRAME_UPGRADE, 0, 0) < 0) return -1;
  tg_batch_add(&x->w->batch, out->data, out->len);
  x->status = 101;
  x->resp_head_sent = 1;
  x->rec.t_first_ns = uv_hrtime();
  tg_head_free(&u->head);
  return 2;
}

/* Writes the client's response head into the batch. Returns 0 or -1. */
static int relay_write_head(tg_exchange *x, tg_upconn *u, const tg_resp_head *h) {
  tg_client *c = x->conn;
  tg_buf *out = &x->w->scratch;
  out->len = 0;
  if (h->framing == TG_FRAME_CLOSE) c->keep_alive = 0; /* the body's end is the connection's */
  if (tg_rewrite_response(out, h->fields, h->status, h->framing, h->content_length, !c->keep_alive) < 0) return -1;
  if (x->request_id[0] && tg_head_out_add(out, "X-Request-Id", x->request_id) < 0) return -1;
  if (x->site->limits && tg_cors_response(x, out) < 0) return -1;
  tg_batch_add(&x->w->batch, out->data, out->len);
  x->status = h->status;
  x->resp_head_sent = 1;
  x->resp_chunked = h->framing == TG_FRAME_CHUNKED;
  x->rec.t_first_ns = uv_hrtime();
  if (u) tg_head_free(&u->head); /* NULL: a head made here (fan-out's stream) */
  return 0;
}

/* --- the HTTP/1 writer: the end of every response chain ----------------- */

static int h1_head(tg_exchange *x, unsigned at, const tg_resp_head *h) {
  (void)at;
  return relay_write_head(x, x->leg.up, h);
}

/* An upstream chunk (or one a filter made) begins: its size line. */
static int h1_frame(tg_exchange *x, unsigned at, uint64_t size) {
  (void)at;
  if (!x->resp_chunked) return 0;
  char line[24];
  tg_batch_add_copy(&tg_client_worker(x->conn)->batch, line, chunk_line(line, size));
  return 0;
}

static int h1_data(tg_exchange *x, unsigned at, const char *p, size_t n, unsigned flags) {
  (void)at;
  tg_batch *b = &tg_client_worker(x->conn)->batch;
  int own_chunk = x->resp_chunked && !x->leg.up_chunked; /* one chunk per read of an until-close body */
  char line[24];
  if (own_chunk) tg_batch_add_copy(b, line, chunk_line(line, n));
  if (flags & TG_RESP_COPY) tg_batch_add_copy(b, p, n);
  else tg_batch_add(b, p, n);
  if (own_chunk) tg_batch_add_copy(b, "\r\n", 2);
  return 0;
}

static int h1_frame_end(tg_exchange *x, unsigned at) {
  (void)at;
  if (x->resp_chunked) tg_batch_add_copy(&tg_client_worker(x->conn)->batch, "\r\n", 2);
  return 0;
}

/* The last chunk ends a complete body; a failed one gets none, so the
 * client sees it cut short (the connection closes: tg_client_fail). */
static int h1_end(tg_exchange *x, unsigned at, const char *failure) {
  (void)at;
  if (!failure && x->resp_chunked) tg_batch_add_copy(&tg_client_worker(x->conn)->batch, "0\r\n\r\n", 5);
  return 0;
}

const tg_resp_filter tg_relay_h1_writer = {NULL, h1_head, h1_frame, h1_data, h1_frame_end, h1_end};

/* --- the upstream's response, parsed and handed to the chain ------------ */

/* The upstream's own framing must be plain HTTP/1.x with at most the
 * chunked coding: anything else could not be relayed faithfully. */
static int upstream_head_ok(const tg_upconn *u) {
  const tg_head *h = &u->head;
  if (u->parser.http_major != 1 || u->parser.status_code < 100 || u->parser.status_code > 599) return 0;
  int n = tg_head_count(h, "transfer-encoding");
  if (n == 0) return 1;
  if (n > 1) return 0;
  tg_span v = h->fields[tg_head_find(h, "transfer-encoding")].value;
  return v.len == 7 && strncasecmp(tg_head_str(h, v), "chunked", 7) == 0;
}

static int up_on_headers_complete(llhttp_t *p) {
  tg_upconn *u = p->data;
  tg_exchange *x = u->x;
  int status = p->status_code;
  if (!upstream_head_ok(u)) return -1;
  if (status == 101) return relay_switch_protocols(x, u);
  if (status >= 100 && status < 200) {
    /* an interim response has no body (RFC 9110 15.2); one that announces
     * one would have its bytes relayed ahead of the real response */
    if ((p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) && p->content_length)) return -1;
    x->leg.in_1xx = 1; /* interim: swallowed, the final one follows */
    tg_head_reset(&u->head);
    return 0;
  }
  if (tg_failover_on_answer(x, status)) { /* its body is not read: the connection goes */
    x->leg.failover = 1;
    return HPE_PAUSED;
  }
  if (status >= 500 && status != 503) tg_pool_failed(u->pool, "a 5xx answer"); /* 503: busy, not broken */
  else tg_pool_answered(u->pool);
  int no_body = x->head_only || status == 204 || status == 304;
  tg_framing f = response_framing(x, p, no_body);
  x->leg.up_chunk_check = x->leg.up_chunked && !no_body;
  tg_upconn_set_timeout(u, u->pool->conf->idle_timeout_ms);
  tg_resp_head h = {
      .fields = &u->head, .content_length = p->content_length, .status = status, .framing = f, .no_body = no_body};
  tg_resp_chain_build(x, &h, x->down->writer);
  if (tg_resp_pass_head(x, 0, &h) < 0) return -1;
  return no_body ? 1 : 0;
}

static int up_on_chunk_header(llhttp_t *p) {
  tg_upconn *u = p->data;
  tg_exchange *x = u->x;
  x->leg.up_in_chunk = p->content_length > 0;
  return x->leg.up_in_chunk ? tg_resp_pass_frame(x, 0, p->content_length) : 0;
}

static int up_on_chunk_complete(llhttp_t *p) {
  tg_upconn *u = p->data;
  tg_exchange *x = u->x;
  int rc = x->leg.up_in_chunk ? tg_resp_pass_frame_end(x, 0) : 0;
  x->leg.up_in_chunk = 0;
  return rc;
}

static int up_on_body(llhttp_t *p, const char *at, size_t n) {
  tg_upconn *u = p->data;
  tg_exchange *x = u->x;
  if (!x->rec.t_body_ns) x->rec.t_body_ns = uv_hrtime();
  return tg_resp_pass_data(x, 0, at, n, 0);
}

static int up_on_message_complete(llhttp_t *p) {
  tg_upconn *u = p->data;
  tg_exchange *x = u->x;
  if (x->leg.in_1xx) {
    x->leg.in_1xx = 0;
    return 0;
  }
  if (x->status == 101) return 0; /* llhttp then stops with HPE_PAUSED_UPGRADE */
  /* llhttp ends a chunked body where the strict reading does not (a bare
   * LF in the trailer section): the end tollgate would write is not the
   * upstream's */
  if (x->leg.up_chunk_check && !x->leg.up_chunk_end) return -1;
  if (tg_resp_pass_end(x, 0, NULL) < 0) return -1;
  x->resp_done = 1;
  return HPE_PAUSED;
}

static llhttp_settings_t response_settings = {
    .on_status = up_on_status,
    .on_header_field = up_on_header_field,
    .on_header_value = up_on_header_value,
    .on_header_value_complete = up_on_header_value_complete,
    .on_headers_complete = up_on_headers_complete,
    .on_chunk_header = up_on_chunk_header,
    .on_chunk_complete = up_on_chunk_complete,
    .on_body = up_on_body,
    .on_message_complete = up_on_message_complete,
};

static void relay_flush_to_client(tg_exchange *x, tg_upconn *u);

/* The response's filters learn that it failed: what they still write goes
 * out before the client's response is cut (or its 502/504 sent). */
static void relay_chain_failed(tg_exchange *x, const char *why) {
  x->down->out_begin(x);
  tg_resp_pass_end(x, 0, why);
  relay_flush_to_client(x, NULL);
}

/* The upstream connection is gone (EOF, reset, bad bytes, timeout) before
 * its response completed. */
static void relay_upstream_lost(tg_exchange *x, int status, tg_up_error kind, const char *why) {
  x->leg.up_error = (uint8_t)kind;
  if (!x->resp_head_sent && x->leg.up) tg_pool_failed(x->leg.up->pool, why);
  if (x->resp.n && !x->resp_done) relay_chain_failed(x, why);
  tg_relay_abort(x);
  if (x->resp_head_sent) tg_log(TG_LOG_ERROR, x->request_id, "upstream response cut short: %s", why);
  tg_exchange_fail(x, status, why);
}

/* A connection that closes before any byte of the answer: a reused
 * keep-alive one, for a request without a body, is retried once on
 * another connection to the same server, as nginx does (it was stale, not
 * the server); otherwise the request may go to another server
 * (failover.c). */
static int relay_retry(tg_exchange *x, tg_upconn *u, const char *why) {
  if (x->resp_head_sent || u->head.buf.len || u->parser.status_code) return 0;
  if (u->reused && tg_exchange_replayable(x)) {
    x->leg.stale_retried = 1;
    tg_relay_abort(x);
    relay_untry(x);
    tg_relay_start(x);
    return 1;
  }
  if (!tg_failover_can(x, 1)) return 0;
  tg_pool_failed(u->pool, why);
  tg_failover_go(x, why);
  return 1;
}

static void relay_flush_to_client(tg_exchange *x, tg_upconn *u) {
  if (x->down->out_flush(x) > 0 && u && !x->resp_done) {
    tg_upconn_read_stop(u); /* until the client drains */
    u->held = 1;            /* the upstream is not idle: we are */
    x->down->send_wait(x);  /* the send timeout runs */
  }
}

static void relay_upstream_eof(tg_upconn *u, ssize_t nread) {
  tg_exchange *x = u->x;
  if (x->resp_done) { /* closed after a complete response: nothing lost */
    tg_relay_abort(x);
    if (x->req_done) tg_relay_finish(x);
    else x->body_discard = 1;
    return;
  }
  if (relay_retry(x, u,
                  tg_up_error_of((int)nread) == TG_UPERR_RESET ? "reset the connection before answering"
                                                               : "closed the connection before answering"))
    return;
  x->down->out_begin(x);
  int e = x->resp_head_sent ? llhttp_finish(&u->parser) : HPE_INVALID_EOF_STATE;
  relay_flush_to_client(x, NULL);
  if (tg_exchange_gone(x)) return;
  if (e == HPE_OK && x->resp_done) {
    tg_relay_abort(x);
    if (x->req_done) tg_relay_finish(x);
    return;
  }
  tg_up_error kind = tg_up_error_of((int)nread);
  if (kind == TG_UPERR_RESET) relay_upstream_lost(x, 502, kind, "upstream reset the connection");
  else if (kind == TG_UPERR_CLOSED) relay_upstream_lost(x, 502, kind, "upstream closed the connection");
  else relay_upstream_lost(x, 502, kind, uv_strerror((int)nread));
}

/* Upstream bytes of a tunnel, on their way down. */
static void relay_tunnel_down(tg_exchange *x, tg_upconn *u, const char *data, size_t n) {
  tg_client *c = x->conn;
  c->tunnel_last = uv_now(u->tcp.loop);
  x->down->out_begin(x);
  tg_batch_add(&x->w->batch, data, n);
  relay_flush_to_client(x, u);
}

void tg_relay_tunnel_up(tg_exchange *x, const char *data, size_t n) {
  tg_client *c = x->conn;
  if (!x->leg.up) return;
  c->tunnel_last = uv_now(c->tcp.loop);
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)n);
  int rc = tg_sink_writev(&x->leg.up->sink, &b, 1);
  if (rc < 0) tg_client_tunnel_end(c);
  else if (rc > 0) tg_client_pause_body(c); /* until the upstream drains */
}

/* Body bytes of a chunked response go to llhttp only as far as the strict
 * reading (tollgate/framing.h) takes them, so nothing past a framing byte
 * a strict reader refuses reaches the client. Returns NULL or what is
 * wrong; *e gets llhttp's result. */
static const char *relay_parse_body(tg_exchange *x, tg_upconn *u, const char *p, size_t n, enum llhttp_errno *e) {
  if (!x->leg.up_chunk_check) {
    *e = llhttp_execute(&u->parser, p, n);
    return NULL;
  }
  int rc;
  size_t ok = tg_chunk_scan_body(&x->leg.up_chunk_scan, p, n, &rc);
  x->leg.up_chunk_end = rc == 1;
  *e = ok ? llhttp_execute(&u->parser, p, ok) : HPE_OK;
  if (*e != HPE_OK) return NULL; /* paused at the end both agree on, or llhttp's own error */
  return rc ? "upstream sent invalid chunked framing" : NULL;
}

/* Parses one read of the response: its first head bytes (checked by the
 * head scan beforehand), then the body bytes behind them. */
static const char *relay_parse(tg_exchange *x, tg_upconn *u, const char *data, size_t n, size_t head,
                               enum llhttp_errno *e) {
  *e = head ? llhttp_execute(&u->parser, data, head) : HPE_OK;
  if (*e != HPE_OK || head == n) return NULL;
  /* the head scan saw the head end here: llhttp must have too (a filter,
   * such as the listing's, may hold the head back until the body is complete) */
  if (!x->resp_head_sent && !x->resp.held) return "upstream sent an invalid HTTP response head";
  return relay_parse_body(x, u, data + head, n - head, e);
}

void tg_relay_upstream_read(tg_upconn *u, ssize_t nread, const char *data) {
  tg_exchange *x = u->x;
  tg_client *c = x->conn;
  if (c->state == TG_C_TUNNEL) {
    if (nread < 0) tg_client_tunnel_end(c);
    else relay_tunnel_down(x, u, data, (size_t)nread);
    return;
  }
  if (nread < 0) {
    relay_upstream_eof(u, nread);
    return;
  }
  if (x->resp_done) { /* bytes after a complete response: not reusable */
    x->leg.up_extra = 1;
    tg_upconn_read_stop(u);
    return;
  }
  tg_deadline_touch(&u->deadline);
  size_t head = 0; /* bytes of this read up to the end of the response head */
  if (!x->leg.up_head_scan.ended && tg_head_scan_response(&x->leg.up_head_scan, data, (size_t)nread, &head)) {
    relay_upstream_lost(x, 502, TG_UPERR_INVALID, "upstream sent an invalid HTTP response head");
    return;
  }
  x->down->out_begin(x);
  enum llhttp_errno e;
  const char *bad = relay_parse(x, u, data, (size_t)nread, head, &e);
  if (e == HPE_PAUSED_UPGRADE && x->status == 101) { /* the rest of this read is tunnel */
    const char *rest = llhttp_get_error_pos(&u->parser);
    tg_batch_add(&x->w->batch, rest, (size_t)(data + nread - rest));
    relay_flush_to_client(x, u);
    tg_deadline_stop(&u->deadline); /* the client's tunnel timer covers both ways */
    if (!tg_exchange_gone(x)) tg_client_tunnel_start(c);
    return;
  }
  if (x->leg.failover) { /* its answer (503, or 404 for a model another server has) is not the client's */
    x->leg.failover = 0;
    x->w->batch.sink = NULL;
    tg_failover_go(x, u->parser.status_code == 503 ? "answered 503" : "answered 404 for a model another server has");
    return;
  }
  if (e == HPE_PAUSED && llhttp_get_error_pos(&u->parser) != data + nread) x->leg.up_extra = 1;
  if (x->resp_done) tg_policy_response_done(x); /* before the answer's end reaches the client */
  relay_flush_to_client(x, u);
  if (tg_exchange_gone(x)) return;
  if (bad) {
    relay_upstream_lost(x, 502, TG_UPERR_INVALID, bad);
    return;
  }
  if (e != HPE_OK && e != HPE_PAUSED) {
    relay_upstream_lost(x, 502, TG_UPERR_INVALID, "upstream sent an invalid HTTP response");
    return;
  }
  if (x->resp_done) relay_upstream_done(x);
}

/* The response is complete; the request may still be streaming up. */
static void relay_upstream_done(tg_exchange *x) {
  if (x->leg.up) tg_upconn_stop_timeout(x->leg.up); /* reading stays on: see tg_upconn_read_start */
  if (x->req_done) tg_relay_finish(x);
}

void tg_relay_finish(tg_exchange *x) {
  tg_upconn *u = x->leg.up;
  if (u) {
    /* After a handshake the upstream declined, its side of the connection may
     * still expect the upgraded protocol: never reuse it. */
    int reusable = llhttp_should_keep_alive(&u->parser) && !x->leg.up_extra && !x->body_discard && !x->websocket &&
                   (!x->adm.temp || tg_body_send_done(x)); /* answered before its end */
    /* after HEAD, 204 or 304 an upstream that wrongly sends a body would
     * have it read as the next request's response: such connections are
     * not reused */
    reusable = reusable && !x->head_only && x->status != 204 && x->status != 304;
    x->leg.up = NULL;
    tg_pool_release(u, reusable);
  }
  tg_exchange_done(x);
}

void tg_relay_upstream_timeout(tg_upconn *u) {
  tg_exchange *x = u->x;
  if (!x) {
    tg_upconn_close(u);
    return;
  }
  if (u->state == TG_UP_DIALING) {
    tg_pool_failed(u->pool, "dial timeout");
    tg_relay_abort(x);
    tg_relay_connected(x, NULL, UV_ETIMEDOUT, 1);
  } else if (!x->resp_head_sent) {
    relay_upstream_lost(x, 504, TG_UPERR_HEADER_TIMEOUT, "upstream sent no response header within the header timeout");
  } else {
    relay_upstream_lost(x, 504, TG_UPERR_IDLE_TIMEOUT, "upstream sent nothing within the idle timeout");
  }
}

void tg_relay_client_drained(tg_exchange *x) {
  tg_upconn *u = x->leg.up;
  if (u && u->held && !x->resp_done && u->state == TG_UP_ACTIVE) {
    u->held = 0;
    tg_deadline_touch(&u->deadline);
    tg_upconn_read_start(u);
  }
}
