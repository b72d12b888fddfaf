/* HTTP/2 toward a client (tollgate/h2-conn.h): the connection's session
 * fed from its reads and written to its sink, and each stream an exchange.
 *
 * A stream's exchange takes the translated head (h2-head.c) as its request
 * head and goes through the proxy's table (w->ops) exactly as an HTTP/1
 * request does: admission, the relay, the response filters. Its answer
 * comes back through tg_h2_downstream and the writer filter tg_h2_writer:
 * the head becomes the stream's HEADERS, body bytes wait in the stream's
 * `out` until nghttp2 frames them (its read callback), so a chunk from
 * Ollama becomes a DATA frame in the same loop turn. A stream whose `out`
 * holds more than H2_OUT_HIGH tells the relay the client is slower, and
 * the upstream's reading of that stream alone pauses until it drains.
 * Request body bytes go upstream as they come once the relay asks for
 * them (body_go), else wait in `in`; the stream's window reopens only for
 * bytes that went on (tg_h2_consume), so a client cannot outrun a slow
 * upstream.
 *
 * Lifetimes: an `h2x` lives from the stream's open to the later of its
 * close and its exchange's end. The exchange ends when its answer is
 * complete (done), or when the stream closes first (a client RST_STREAM,
 * the connection's end): then its upstream request is cancelled at once,
 * as a disconnect does over HTTP/1. nghttp2 may not be re-entered from its
 * own callbacks: sends asked for while it reads are made after. A send
 * asked for while the loop runs its poll's callbacks waits for the end of
 * them (tg_loop_turn_defer), so that the answers of every stream whose
 * upstream spoke in this turn leave in one write; the frames of one send
 * are gathered into one buffer and written with one system call.
 *
 * A stream whose client keeps its window shut (its `out` over the mark)
 * longer than the site's `timeout send` is reset (CANCEL), which cancels
 * its upstream request: over HTTP/1 the same client would meet the send
 * timeout on its connection. The connection's timer looks once a second
 * while any stream is held back. */
#include <llhttp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tollgate/h2-conn.h"
#include "tollgate/h2-session.h"
#include "tollgate/loop-turn.h"
#include "tollgate/metrics-view.h"
#include "tollgate/metrics.h"
#include "tollgate/proxy.h"

#define H2_OUT_HIGH (64 * 1024) /* a stream's unsent answer past which its upstream's reading pauses */

typedef struct h2x h2x;

struct tg_h2_conn {
  tg_client *c;
  tg_h2_session *s;
  h2x *streams;           /* every h2x of the connection */
  tg_h2_counters spare;   /* counts when the worker's metrics could not be had (out of memory) */
  uv_timer_t stall_timer; /* while a stream is held back: its send timeout */
  tg_turn_task send_task; /* a send waiting for the end of this turn's poll callbacks */
  tg_buf out;             /* the frames of one send, written at once */
  unsigned in_recv : 1;   /* inside tg_h2_session_recv: sends wait */
  unsigned want_send : 1; /* a send was asked for meanwhile */
  unsigned closing : 1;   /* the connection is closing: no new stream */
  unsigned draining : 1;  /* GOAWAY sent: closes once the streams have ended */
  unsigned stall_on : 1;  /* stall_timer runs */
  unsigned waking : 1;    /* inside conn_wake */
};

struct h2x {
  struct tg_h2_conn *hc;
  tg_h2_stream *st; /* the session's, until its close callback */
  tg_exchange *x;   /* NULL once the exchange has ended */
  h2x *next, *prev;
  tg_buf out;          /* answer bytes nghttp2 has not framed yet */
  tg_buf in;           /* request body bytes that came before the relay asked for them */
  uint8_t eof;         /* the answer is complete in `out` */
  uint8_t cut;         /* the answer failed midway: the stream is reset after `out` */
  uint8_t body_go;     /* the relay takes body bytes as they come */
  uint8_t body_ended;  /* END_STREAM seen (and the content-length checked) */
  uint8_t throttled;   /* the relay was told this client is slower */
  uint8_t req_counted; /* its request end went to the relay */
  uint8_t closed_ok;   /* the stream ended as it should: both sides complete */
  uint64_t stalled_ms; /* when it was last held back (uv_now), 0 while it is not */
  uint8_t logged;      /* its exchange's log line is written */
};

static tg_h2_conn *conn_of(const tg_client *c) { return c->h2; }

/* --- sending ----------------------------------------------------------- */

static void conn_wake(tg_h2_conn *hc);

/* Whether an exchange of hc has not ended yet (its stream may be closed
 * already, its last bytes sent from within the relay that ends it next). */
static int conn_has_exchanges(const tg_h2_conn *hc) {
  for (const h2x *hx = hc->streams; hx; hx = hx->next)
    if (hx->x) return 1;
  return 0;
}

/* Frames what is ready and writes it in one system call. */
static void conn_send_now(tg_h2_conn *hc) {
  tg_client *c = hc->c;
  if (c->state == TG_C_CLOSING) return;
  int rc = tg_h2_session_send(hc->s);
  if (rc == 0 && hc->out.len) {
    uv_buf_t b = uv_buf_init(hc->out.data, (unsigned)hc->out.len);
    rc = tg_sink_writev(&c->sink, &b, 1) < 0 ? -1 : 0;
  }
  hc->out.len = 0;
  if (rc < 0) {
    c->client_gone = 1;
    tg_client_close(c);
    return;
  }
  conn_wake(hc);
  if (c->state == TG_C_CLOSING) return;
  if ((tg_h2_session_done(hc->s) || (hc->draining && !tg_h2_session_streams(hc->s))) && !conn_has_exchanges(hc)) {
    tg_client_close_after_flush(c);
    return;
  }
  /* the connection's timer: keep-alive while no stream is open, else the send timeout alone */
  c->state = tg_h2_session_streams(hc->s) ? TG_C_SENT : TG_C_IDLE;
  tg_client_arm_timer(c);
}

static void send_run(tg_turn_task *task) {
  tg_h2_conn *hc = (tg_h2_conn *)((char *)task - offsetof(tg_h2_conn, send_task));
  conn_send_now(hc);
}

/* A send: after nghttp2's read when inside it, at the end of the poll's
 * callbacks when inside them, else now. */
static void conn_send(tg_h2_conn *hc) {
  if (hc->in_recv) {
    hc->want_send = 1;
    return;
  }
  tg_worker *w = tg_client_worker(hc->c);
  if (tg_loop_turn_polling(&w->turn)) tg_loop_turn_defer(&w->turn, &hc->send_task, send_run);
  else conn_send_now(hc);
}

static int up_write(void *ctx, const uint8_t *p, size_t n) {
  tg_h2_conn *hc = ctx;
  return tg_buf_append(&hc->out, p, n) < 0 ? -1 : 0;
}

/* Streams whose answer drained below half the mark read their upstream on.
 * A stream's relay may send, which may close and free any h2x of the
 * connection (a stream fully sent): the walk begins again after each. */
static void conn_wake(tg_h2_conn *hc) {
  if (hc->waking) return; /* the walk under way sees what a nested send changed */
  hc->waking = 1;
  for (h2x *hx = hc->streams; hx;) {
    if (!hx->throttled || !hx->x || hx->out.len > H2_OUT_HIGH / 2 || hc->c->sink.busy) {
      hx = hx->next;
      continue;
    }
    hx->throttled = 0;
    hx->stalled_ms = 0;
    hx->x->w->ops->client_drained(hx->x);
    hx = hc->streams;
  }
  hc->waking = 0;
}

/* Once a second while a stream is held back: those held back past the
 * send timeout are reset. */
static void stall_tick(uv_timer_t *t) {
  tg_h2_conn *hc = t->data;
  uint64_t now = uv_now(t->loop), limit = hc->c->site->send_timeout_ms;
  int held = 0;
  for (h2x *hx = hc->streams; hx; hx = hx->next) {
    if (!hx->stalled_ms || !hx->st) continue;
    if (now - hx->stalled_ms < limit) {
      held = 1;
      continue;
    }
    hx->stalled_ms = 0;
    tg_h2_reset(hx->st, 8 /* CANCEL: its close cancels the upstream request */);
  }
  if (!held) {
    uv_timer_stop(t);
    hc->stall_on = 0;
  }
  conn_send(hc);
}

/* --- an exchange's end ----------------------------------------------------- */

static void h2x_free(h2x *hx) {
  tg_h2_conn *hc = hx->hc;
  if (hx->prev) hx->prev->next = hx->next;
  else hc->streams = hx->next;
  if (hx->next) hx->next->prev = hx->prev;
  tg_buf_free(&hx->out);
  tg_buf_free(&hx->in);
  free(hx);
}

static void exchange_log(h2x *hx, int aborted) {
  if (hx->logged) return;
  hx->logged = 1;
  tg_exchange_log(hx->x, llhttp_method_name(hx->x->method), "h2", aborted);
}

/* The exchange is over: logged, counted and ended. While the connection
 * closes, the h2x stays until its free (code up the stack may still ask
 * whether its client is gone). */
static void exchange_finish(h2x *hx, int aborted) {
  tg_exchange *x = hx->x;
  if (!x) return;
  exchange_log(hx, aborted);
  hx->x = NULL;
  tg_exchange_end(&x->w->xcache, x);
  if (!hx->st && !hx->hc->closing) h2x_free(hx);
}

/* The stream is gone before its answer was complete (a client
 * RST_STREAM, the connection's end): the upstream request is cancelled. */
static void exchange_abort(h2x *hx) {
  tg_exchange *x = hx->x;
  if (!x) return;
  x->w->ops->abort(x);
  exchange_finish(hx, !x->resp_done);
}

/* --- the request --------------------------------------------------------- */

/* n body bytes to the relay (between body_begin and body_end, as a read's
 * would be); their window reopens once they went on. */
static void body_pass(h2x *hx, const char *p, size_t n) {
  tg_exchange *x = hx->x;
  const tg_exchange_ops *ops = x->w->ops;
  int chunked = x->req_framing == TG_FRAME_CHUNKED;
  ops->body_begin(x);
  int rc = chunked ? ops->chunk_header(x, n) : 0;
  if (rc == 0) rc = ops->body(x, p, n);
  if (rc == 0 && chunked) rc = ops->chunk_complete(x);
  ops->body_end(x);
  if (hx->st) {
    tg_h2_consume(hx->st, n);
    conn_send(hx->hc); /* the WINDOW_UPDATE (after the read, when inside one) */
  }
  if (rc != 0 && hx->x && !x->resp_head_sent) tg_exchange_fail(x, 400, "the request body could not be passed on");
}

/* The body's end: the relay finishes the upstream request (its last chunk),
 * and the exchange goes on as at the end of an HTTP/1 request. */
static void request_end(h2x *hx) {
  tg_exchange *x = hx->x;
  const tg_exchange_ops *ops = x->w->ops;
  hx->req_counted = 1;
  if (x->req_framing == TG_FRAME_CHUNKED) {
    ops->body_begin(x);
    ops->request_complete(x);
    ops->body_end(x);
    if (!hx->x) return;
  }
  x->req_done = 1;
  if (x->adm.gathering) ops->body_gathered(x);
  else if (x->resp_done) ops->finish(x);
}

/* Passes what waits in `in`, then the body's end when it came. */
static void body_flow(h2x *hx) {
  if (hx->in.len) {
    tg_buf in = hx->in; /* taken: a re-entered call finds it empty */
    hx->in = (tg_buf){0};
    body_pass(hx, in.data, in.len);
    tg_buf_free(&in);
  }
  if (hx->x && hx->body_go && hx->body_ended && !hx->req_counted) request_end(hx);
}

static int up_open(void *ctx, tg_h2_stream *st, int end_stream) {
  tg_h2_conn *hc = ctx;
  tg_client *c = hc->c;
  tg_worker *w = tg_client_worker(c);
  if (hc->closing || hc->draining) return -1;
  h2x *hx = calloc(1, sizeof *hx);
  tg_exchange *x = hx ? tg_exchange_new(&w->xcache, c, &tg_h2_downstream, w, c->site, c->ip) : NULL;
  if (!x) {
    free(hx);
    return -1;
  }
  hx->hc = hc;
  hx->st = st;
  hx->x = x;
  hx->next = hc->streams;
  if (hc->streams) hc->streams->prev = hx;
  hc->streams = hx;
  st->user = hx;
  x->down_ctx = hx;
  tg_head spare = x->req; /* the stream's translated head becomes the exchange's; the session frees the spare */
  x->req = st->req.head;
  st->req.head = spare;
  x->rec.t_start_ns = uv_hrtime();
  x->method = (uint8_t)st->req.method;
  x->http_minor = 1;
  x->head_only = x->method == HTTP_HEAD;
  x->req_cl = st->req.content_length > 0 ? (uint64_t)st->req.content_length : 0;
  x->req_framing = end_stream || st->req.content_length == 0 ? TG_FRAME_NONE
                   : st->req.content_length > 0              ? TG_FRAME_LENGTH
                                                             : TG_FRAME_CHUNKED;
  tg_exchange_request_id(x);
  x->live_counted = 1;
  tg_metrics_live(1);
  c->state = TG_C_SENT;
  tg_client_arm_timer(c);
  w->ops->head(x); /* the admission phases, then the relay */
  return 0;
}

static int up_data(void *ctx, tg_h2_stream *st, const uint8_t *p, size_t n) {
  (void)ctx;
  h2x *hx = st->user;
  if (!hx->x) { /* answered already: the rest of the body is not wanted */
    tg_h2_consume(st, n);
    return 0;
  }
  hx->x->rec.bytes_in += n;
  if (hx->body_go && !hx->in.len) {
    body_pass(hx, (const char *)p, n);
    return 0;
  }
  return tg_buf_append(&hx->in, p, n) < 0 ? -1 : 0;
}

static void up_body_end(void *ctx, tg_h2_stream *st) {
  (void)ctx;
  h2x *hx = st->user;
  hx->body_ended = 1;
  if (hx->x && hx->body_go && !hx->in.len) body_flow(hx);
}

static void up_close(void *ctx, tg_h2_stream *st, uint32_t error) {
  (void)ctx;
  h2x *hx = st->user;
  if (!hx) return;
  hx->st = NULL;
  st->user = NULL;
  if (!hx->x) {
    if (!hx->hc->closing) h2x_free(hx);
    return;
  }
  /* an answer whose last bytes went out from within the relay, which ends
   * the exchange next, is left to end as it does */
  hx->closed_ok = error == 0 && hx->x->resp_done;
  if (!hx->closed_ok || hx->hc->closing) exchange_abort(hx);
}

/* --- the answer ------------------------------------------------------------ */

static long up_read(void *ctx, tg_h2_stream *st, uint8_t *buf, size_t n, int *eof) {
  (void)ctx;
  h2x *hx = st->user;
  if (!hx) return -1;
  if (!hx->out.len) {
    if (!hx->eof) return TG_H2_DEFER;
    if (hx->cut) return -1; /* reset: the client sees the answer cut short */
    *eof = 1;
    return 0;
  }
  if (n > hx->out.len) n = hx->out.len;
  memcpy(buf, hx->out.data, n);
  tg_buf_consume(&hx->out, n);
  if (hx->x) hx->x->rec.bytes_out += n;
  if (!hx->out.len && hx->eof && !hx->cut) *eof = 1;
  return (long)n;
}

/* Adds "Name: value" CRLF lines (an extra head, CORS) to h. */
static int head_add_lines(tg_head *h, const char *p, size_t n, size_t max) {
  while (n) {
    const char *eol = memchr(p, '\n', n);
    size_t len = eol ? (size_t)(eol - p) + 1 : n, line = len;
    while (line && (p[line - 1] == '\n' || p[line - 1] == '\r')) line--;
    const char *colon = memchr(p, ':', line);
    if (colon) {
      const char *v = colon + 1, *end = p + line;
      while (v < end && (*v == ' ' || *v == '\t')) v++;
      if (tg_head_add_name(h, p, (size_t)(colon - p), max) < 0 || tg_head_add_value(h, v, (size_t)(end - v), max) < 0)
        return -1;
    }
    p += len, n -= len;
  }
  return 0;
}

/* What every answer's head carries besides its own fields: X-Request-Id and CORS. */
static int head_add_ours(tg_exchange *x, tg_head *h) {
  tg_buf cors = {0};
  int rc = 0;
  if (x->request_id[0])
    rc |= tg_head_add_name(h, "x-request-id", 12, SIZE_MAX) |
          tg_head_add_value(h, x->request_id, strlen(x->request_id), SIZE_MAX);
  if (x->site->limits) rc |= x->w->ops->cors_lines(x, &cors);
  if (!rc && cors.len) rc |= head_add_lines(h, cors.data, cors.len, SIZE_MAX);
  tg_buf_free(&cors);
  return rc ? -1 : 0;
}

static int add_length(tg_head *h, size_t n) {
  char len[24];
  int k = snprintf(len, sizeof len, "%zu", n);
  return tg_head_add_name(h, "content-length", 14, SIZE_MAX) | tg_head_add_value(h, len, (size_t)k, SIZE_MAX);
}

/* A whole answer made here: status, header lines, body. */
static void answer_whole(tg_exchange *x, int status, const char *lines, const char *body, size_t len, int ours) {
  h2x *hx = x->down_ctx;
  tg_head h = {0};
  int has_body = status != 204 && status != 304 && !x->head_only;
  int rc = lines ? head_add_lines(&h, lines, strlen(lines), SIZE_MAX) : 0;
  if (ours) rc |= head_add_ours(x, &h);
  if (status != 204) rc |= add_length(&h, len);
  x->status = (uint16_t)status;
  x->resp_head_sent = x->resp_done = 1;
  x->rec.t_first_ns = uv_hrtime();
  if (rc == 0 && has_body && len) rc = tg_buf_append(&hx->out, body, len);
  hx->eof = 1;
  if (rc || tg_h2_respond(hx->st, status, &h, has_body && len) < 0) tg_h2_reset(hx->st, 2 /* INTERNAL_ERROR */);
  tg_head_free(&h);
}

static void h2_fail(tg_exchange *x, int status, const char *message, const char *extra) {
  h2x *hx = x->down_ctx;
  x->w->ops->abort(x);
  if (!hx->st) {
    exchange_finish(hx, 1);
    return;
  }
  if (x->resp_head_sent) { /* too late for a status: the stream is reset after what was sent */
    x->truncated = 1;
    x->resp_done = 1;
    hx->eof = hx->cut = 1;
    tg_h2_resume(hx->st);
  } else {
    x->w->ops->response_done(x);
    tg_buf body = {0}, lines = {0};
    int rc = tg_exchange_error_body(x, status, message, &body);
    rc |= tg_buf_printf(&lines, "content-type: application/json; charset=utf-8\r\n%s", extra ? extra : "");
    if (rc == 0) answer_whole(x, status, lines.data, body.data, body.len, 1);
    else tg_h2_reset(hx->st, 2 /* INTERNAL_ERROR */);
    tg_buf_free(&body);
    tg_buf_free(&lines);
  }
  tg_h2_conn *hc = hx->hc;
  exchange_finish(hx, 0);
  conn_send(hc);
}

static void h2_reply(tg_exchange *x, int status, const char *headers, const char *body, size_t len) {
  h2x *hx = x->down_ctx;
  if (!hx->st || x->resp_head_sent) return;
  x->w->ops->response_done(x);
  answer_whole(x, status, headers, body, len, 0);
  tg_h2_conn *hc = hx->hc;
  exchange_finish(hx, 0);
  conn_send(hc);
}

static void h2_done(tg_exchange *x) {
  h2x *hx = x->down_ctx;
  tg_h2_conn *hc = hx->hc;
  exchange_finish(hx, 0);
  conn_send(hc);
}

static int h2_gone(const tg_exchange *x) {
  const h2x *hx = x->down_ctx;
  return (!hx->st && !hx->closed_ok) || hx->hc->closing;
}

static void h2_out_begin(tg_exchange *x) { (void)x; }

static int h2_out_flush(tg_exchange *x) {
  h2x *hx = x->down_ctx;
  if (hx->hc->closing) return -1;
  if (!hx->st) return hx->closed_ok ? 0 : -1;
  if (hx->st->responding && (hx->out.len || hx->eof)) tg_h2_resume(hx->st);
  tg_h2_conn *hc = hx->hc;
  conn_send(hc);
  if (hc->closing || hc->c->state == TG_C_CLOSING) return -1;
  if (hx->out.len <= H2_OUT_HIGH) return 0;
  hx->throttled = 1;
  if (!hx->stalled_ms) hx->stalled_ms = uv_now(&x->w->loop);
  if (!hc->stall_on) {
    uv_timer_start(&hc->stall_timer, stall_tick, 1000, 1000);
    hc->stall_on = 1;
  }
  return 1;
}

static void h2_send_wait(tg_exchange *x) { (void)x; }     /* the connection's send timeout covers its sink */
static void h2_send_continue(tg_exchange *x) { (void)x; } /* a client that expects 100 sends its body anyway */

static void h2_body_go(tg_exchange *x) {
  h2x *hx = x->down_ctx;
  hx->body_go = 1;
  body_flow(hx);
}

static void h2_body_hold(tg_exchange *x) {
  h2x *hx = x->down_ctx;
  hx->body_go = 0;
}

static void h2_body_more(tg_exchange *x) {
  h2x *hx = x->down_ctx;
  if (hx->req_counted) return;
  hx->body_go = 1;
  body_flow(hx);
}

static int h2_body_waiting(const tg_exchange *x) {
  (void)x;
  return 0;
}

const tg_downstream tg_h2_downstream = {
    .writer = TG_RF_H2_WRITER,
    .fail = h2_fail,
    .reply = h2_reply,
    .done = h2_done,
    .gone = h2_gone,
    .out_begin = h2_out_begin,
    .out_flush = h2_out_flush,
    .send_wait = h2_send_wait,
    .send_continue = h2_send_continue,
    .body_go = h2_body_go,
    .body_hold = h2_body_hold,
    .body_more = h2_body_more,
    .body_waiting = h2_body_waiting,
};

/* --- the writer: the end of an HTTP/2 exchange's response chain ------------ */

/* Fields the upstream's head carries that HTTP/2 frames itself. */
static int framing_field(const tg_head *h, const tg_field *f) {
  static const char *const names[] = {"content-length",   "transfer-encoding", "connection", "keep-alive",
                                      "proxy-connection", "upgrade",           "te"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (f->name.len == strlen(names[i]) && strncasecmp(tg_head_str(h, f->name), names[i], f->name.len) == 0) return 1;
  return 0;
}

static int w_head(tg_exchange *x, unsigned at, const tg_resp_head *r) {
  (void)at;
  h2x *hx = x->down_ctx;
  const tg_head *up = r->fields;
  tg_head h = {0};
  int rc = 0;
  for (uint32_t i = 0; up && i < up->nfields && rc == 0; i++) {
    const tg_field *f = &up->fields[i];
    if (framing_field(up, f)) continue;
    rc |= tg_head_add_name(&h, tg_head_str(up, f->name), f->name.len, SIZE_MAX);
    rc |= tg_head_add_value(&h, tg_head_str(up, f->value), f->value.len, SIZE_MAX);
  }
  if (r->framing == TG_FRAME_LENGTH) rc |= add_length(&h, (size_t)r->content_length);
  rc |= head_add_ours(x, &h);
  int has_body = !r->no_body && !x->head_only;
  if (rc == 0 && hx->st) rc = tg_h2_respond(hx->st, r->status, &h, has_body);
  tg_head_free(&h);
  x->status = (uint16_t)r->status;
  x->resp_head_sent = 1;
  x->rec.t_first_ns = uv_hrtime();
  if (!has_body) hx->eof = 1;
  return rc ? -1 : 0;
}

static int w_frame(tg_exchange *x, unsigned at, uint64_t size) {
  (void)x, (void)at, (void)size;
  return 0;
}

static int w_data(tg_exchange *x, unsigned at, const char *p, size_t n, unsigned flags) {
  (void)at, (void)flags;
  h2x *hx = x->down_ctx;
  if (x->head_only) return 0;
  return tg_buf_append(&hx->out, p, n) < 0 ? -1 : 0;
}

static int w_frame_end(tg_exchange *x, unsigned at) {
  (void)x, (void)at;
  return 0;
}

static int w_end(tg_exchange *x, unsigned at, const char *failure) {
  (void)at;
  h2x *hx = x->down_ctx;
  hx->eof = 1;
  if (failure) hx->cut = 1;
  return 0;
}

const tg_resp_filter tg_h2_writer = {NULL, w_head, w_frame, w_data, w_frame_end, w_end};

/* --- the connection ---------------------------------------------------------- */

static const tg_h2_up up_table = {
    .open = up_open,
    .data = up_data,
    .body_end = up_body_end,
    .close = up_close,
    .read = up_read,
    .write = up_write,
};

int tg_h2_conn_start(tg_client *c) {
  tg_h2_conn *hc = calloc(1, sizeof *hc);
  if (!hc) return -1;
  tg_h2_settings set;
  tg_h2_settings_default(&set);
  set.max_header_list = c->site->max_header_bytes;
  hc->c = c;
  tg_metrics_counts *m = tg_metrics_mine();
  if (!(hc->s = tg_h2_session_new(&set, &up_table, hc, m ? &m->h2 : &hc->spare))) {
    free(hc);
    return -1;
  }
  uv_timer_init(c->tcp.loop, &hc->stall_timer);
  hc->stall_timer.data = hc;
  c->h2 = hc; /* our SETTINGS go with the first tg_h2_conn_flush */
  return 0;
}

void tg_h2_conn_bytes(tg_client *c, const char *p, size_t n) {
  tg_h2_conn *hc = conn_of(c);
  hc->in_recv = 1;
  int rc = tg_h2_session_recv(hc->s, (const uint8_t *)p, n, uv_now(c->tcp.loop));
  hc->in_recv = 0;
  if (c->state == TG_C_CLOSING) return;
  hc->want_send = 0;
  if (rc == 0) {
    conn_send(hc);
    return;
  }
  conn_send_now(hc); /* the GOAWAY, before the close */
  if (c->state != TG_C_CLOSING) tg_client_close_after_flush(c);
}

void tg_h2_conn_flush(tg_client *c) {
  tg_h2_conn *hc = conn_of(c);
  conn_send(hc);
}

void tg_h2_conn_close(tg_client *c) {
  tg_h2_conn *hc = conn_of(c);
  if (!hc || hc->closing) return;
  hc->closing = 1;
  /* as an HTTP/1 connection's: the upstream requests cancelled and the
   * lines logged now, the exchanges ended with the connection's free */
  for (h2x *hx = hc->streams; hx; hx = hx->next) {
    if (!hx->x) continue;
    hx->x->w->ops->abort(hx->x);
    exchange_log(hx, !hx->x->resp_done);
  }
}

static void conn_freed(uv_handle_t *h) { free(h->data); }

void tg_h2_conn_free(tg_client *c) {
  tg_h2_conn *hc = conn_of(c);
  if (!hc) return;
  hc->closing = 1;
  tg_h2_session_free(hc->s); /* each open stream's close ends its exchange */
  while (hc->streams) {
    exchange_finish(hc->streams, 1);
    h2x_free(hc->streams);
  }
  c->h2 = NULL;
  tg_loop_turn_cancel(&tg_client_worker(c)->turn, &hc->send_task);
  tg_buf_free(&hc->out);
  uv_close((uv_handle_t *)&hc->stall_timer, conn_freed); /* hc goes with its timer */
}

void tg_h2_conn_drain(tg_client *c) {
  tg_h2_conn *hc = conn_of(c);
  if (hc->draining) return;
  hc->draining = 1;
  tg_h2_drain(hc->s);
  conn_send(hc);
}
