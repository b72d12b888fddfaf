/* The merged progress of a pull or create sent to several servers
 * (docs/upstreams.md#pull-create-delete-copy): each server's NDJSON lines
 * go to the client as they come, each with "server" added; a server's own
 * "success" is passed as "success on ADDR" (a client stops reading at the
 * first "success"), its "error" is kept back. The last line is
 * {"status":"success"} when every server succeeded, else an {"error":...}
 * that names the servers that failed and why. With "stream":false the
 * client gets that last object alone. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "fanout-int.h"
#include "tollgate/limits.h"

#define FAN_LINE_MAX (1u << 20) /* a longer line is no progress line: dropped */

/* Writes bytes of the stream: a chunk of its own when chunked. */
static void stream_write(fanout *f, const char *p, size_t n) {
  tg_exchange *x = f->x;
  tg_client *c = x->conn;
  char size[24];
  uv_buf_t b[3];
  unsigned nb = 0;
  if (f->chunked) b[nb++] = uv_buf_init(size, (unsigned)snprintf(size, sizeof size, "%zx\r\n", n));
  b[nb++] = uv_buf_init((char *)p, (unsigned)n);
  if (f->chunked) b[nb++] = uv_buf_init("\r\n", 2);
  int rc = tg_sink_writev(&c->sink, b, nb);
  if (rc >= 0) x->rec.bytes_out += n;
  if (rc > 0) tg_client_arm_timer(c); /* queued: a client that stops reading meets the send timeout */
}

static void stream_head(fanout *f) {
  tg_exchange *x = f->x;
  tg_client *c = x->conn;
  if (!x->req_done || !f->chunked) c->keep_alive = 0; /* the end of the body is the end of the connection */
  tg_buf h = {0};
  int rc = tg_buf_puts(&h, "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n");
  if (f->chunked) rc |= tg_buf_puts(&h, "Transfer-Encoding: chunked\r\n");
  if (x->request_id[0]) rc |= tg_buf_printf(&h, "X-Request-Id: %s\r\n", x->request_id);
  if (x->site->limits) rc |= tg_cors_lines(x, &h);
  if (!c->keep_alive) rc |= tg_buf_puts(&h, "Connection: close\r\n");
  rc |= tg_buf_puts(&h, "\r\n");
  if (rc == 0) {
    uv_buf_t b = uv_buf_init(h.data, (unsigned)h.len);
    if (tg_sink_writev(&c->sink, &b, 1) >= 0) x->rec.bytes_out += h.len;
  }
  tg_buf_free(&h);
  x->status = 200;
  x->resp_head_sent = 1;
  x->resp_chunked = f->chunked;
  x->rec.t_first_ns = uv_hrtime();
  f->head_sent = 1;
}

/* One line of a server's answer. */
static void stream_line(fan_call *k, const char *p, size_t n) {
  fanout *f = k->f;
  json_t *o = json_loadb(p, n, 0, NULL);
  if (!json_is_object(o)) goto done; /* not a progress line: nothing to pass on */
  json_t *err = json_object_get(o, "error");
  if (err) {
    snprintf(k->why, sizeof k->why, "%s", json_is_string(err) ? json_string_value(err) : "failed");
    goto done;
  }
  json_t *status = json_object_get(o, "status");
  if (json_is_string(status) && strcmp(json_string_value(status), "success") == 0) {
    k->success = 1;
    char text[96];
    snprintf(text, sizeof text, "success on %s", k->server);
    json_object_set_new(o, "status", json_string(text));
  }
  if (!f->streaming || !tg_exchange_live(f->x)) goto done;
  json_object_set_new(o, "server", json_string(k->server));
  char *line = json_dumps(o, JSON_COMPACT);
  if (line) {
    size_t len = strlen(line);
    line[len] = '\n'; /* in place of the NUL: the length says where it ends */
    if (!f->head_sent) stream_head(f);
    stream_write(f, line, len + 1);
    free(line);
  }
done:
  json_decref(o);
}

void tg_fanout_stream_data(void *data, const char *p, size_t n, uint64_t read_ns) {
  (void)read_ns;
  fan_call *k = data;
  while (n) {
    const char *nl = memchr(p, '\n', n);
    size_t take = nl ? (size_t)(nl - p) : n;
    if (k->line.len + take <= FAN_LINE_MAX) tg_buf_append(&k->line, p, take);
    else k->line.len = FAN_LINE_MAX + 1; /* too long: dropped at its end */
    if (!nl) return;
    if (k->line.len <= FAN_LINE_MAX) stream_line(k, k->line.data ? k->line.data : "", k->line.len);
    k->line.len = 0;
    p = nl + 1, n -= take + 1;
  }
}

int tg_fanout_stream_ok(const fan_call *k) { return k->status == 200 && k->success && !k->why[0]; }

void tg_fanout_stream_call_end(fan_call *k) {
  if (k->line.len && k->line.len <= FAN_LINE_MAX) stream_line(k, k->line.data, k->line.len); /* no final newline */
  k->line.len = 0;
  if (k->why[0]) return;
  if (k->status && k->status != 200) snprintf(k->why, sizeof k->why, "answered %d", k->status);
  else if (k->status && !k->success) snprintf(k->why, sizeof k->why, "ended without success");
}

void tg_fanout_stream_end(fanout *f) {
  tg_exchange *x = f->x;
  int ok = 1, answered = 0;
  for (unsigned i = 0; i < f->n; i++) ok &= tg_fanout_stream_ok(&f->calls[i]), answered |= f->calls[i].status != 0;
  tg_buf msg = {0};
  if (!ok) {
    tg_buf_printf(&msg, "%s failed on ", f->kind == TG_FANOUT_PULL ? "pull" : "create");
    tg_fanout_list_servers(f, 0, tg_fanout_stream_ok, &msg);
    int any = 0;
    for (unsigned i = 0; i < f->n; i++) any |= tg_fanout_stream_ok(&f->calls[i]);
    if (any) tg_buf_puts(&msg, "; succeeded on "), tg_fanout_list_servers(f, 1, tg_fanout_stream_ok, &msg);
  }
  json_t *last = ok ? json_pack("{s:s}", "status", "success") : json_pack("{s:s%}", "error", msg.data, msg.len);
  char *text = last ? json_dumps(last, JSON_COMPACT) : NULL;
  json_decref(last);
  tg_buf_free(&msg);
  if (!text) {
    tg_exchange_fail(x, 500, "out of memory");
    return;
  }
  size_t len = strlen(text);
  if (f->head_sent) {
    text[len] = '\n';
    stream_write(f, text, len + 1);
    if (f->chunked) {
      uv_buf_t b = uv_buf_init("0\r\n\r\n", 5);
      if (tg_sink_writev(&x->conn->sink, &b, 1) >= 0) x->rec.bytes_out += 5;
    }
    x->resp_done = 1;
    tg_exchange_done(x);
  } else if (ok) {
    text[len] = '\n';
    tg_fanout_reply(x, 200, f->streaming ? "application/x-ndjson" : "application/json; charset=utf-8", text,
                    len + (size_t)f->streaming);
  } else {
    tg_fanout_reply(x, answered ? 500 : 502, "application/json; charset=utf-8", text, len);
  }
  free(text);
}
