/* The HTTP/1 connection as an exchange's downstream (tollgate/downstream.h):
 * the exchange is its connection's current one (c->x), its answer goes
 * into the connection's sink through the worker's output batch, framed by
 * the relay's HTTP/1 writer, and reading the request body is reading the
 * connection. */
#include "tollgate/downstream.h"
#include "tollgate/proxy.h"
#include "tollgate/resp-filter.h"

static void h1_fail(tg_exchange *x, int status, const char *message, const char *extra) {
  tg_client_fail_with(x->conn, status, message, extra);
}

static void h1_reply(tg_exchange *x, int status, const char *headers, const char *body, size_t len) {
  tg_client_reply(x->conn, status, headers, body, len);
}

static void h1_done(tg_exchange *x) { tg_client_exchange_done(x->conn); }

static int h1_gone(const tg_exchange *x) { return x->conn->state == TG_C_CLOSING; }

static void h1_out_begin(tg_exchange *x) { tg_batch_begin(&x->w->batch, &x->conn->sink); }

static int h1_out_flush(tg_exchange *x) {
  tg_batch *b = &x->w->batch;
  tg_batch_flush(b);
  x->rec.bytes_out += b->bytes;
  b->sink = NULL;
  if (b->status < 0) { /* the client is gone */
    x->conn->client_gone = 1;
    tg_client_close(x->conn);
    return -1;
  }
  return b->status > 0;
}

static void h1_send_wait(tg_exchange *x) { tg_client_arm_timer(x->conn); }

static void h1_send_continue(tg_exchange *x) {
  static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
  uv_buf_t b = uv_buf_init((char *)cont, sizeof cont - 1);
  tg_sink_writev(&x->conn->sink, &b, 1);
}

static void h1_body_go(tg_exchange *x) { tg_client_resume_body(x->conn); }

static void h1_body_hold(tg_exchange *x) {
  if (x->conn->state == TG_C_BODY) tg_client_pause_body(x->conn);
}

static void h1_body_more(tg_exchange *x) {
  tg_client *c = x->conn;
  if (c->state == TG_C_BODY || c->state == TG_C_TUNNEL) tg_client_resume_body(c);
}

static int h1_body_waiting(const tg_exchange *x) {
  const tg_client *c = x->conn;
  return c->state == TG_C_WAIT_UP && c->pending.len;
}

const tg_downstream tg_h1_downstream = {
    .writer = TG_RF_H1_WRITER,
    .fail = h1_fail,
    .reply = h1_reply,
    .done = h1_done,
    .gone = h1_gone,
    .out_begin = h1_out_begin,
    .out_flush = h1_out_flush,
    .send_wait = h1_send_wait,
    .send_continue = h1_send_continue,
    .body_go = h1_body_go,
    .body_hold = h1_body_hold,
    .body_more = h1_body_more,
    .body_waiting = h1_body_waiting,
};
