/* The merged progress of a pull or create sent to several servers
 * (docs/upstreams.md#pull-create-delete-copy): each server's NDJSON lines
 * go to the client as they come, each with "server" added; a server's own
 * "success" is passed as "success on ADDR" (a client stops reading at the
 * first "success"), its "error" is kept back. The last line is
 * {"status":"success"} when every server succeeded, else an {"error":...}
 * that names the servers that failed and why. With "stream":false the
 * client gets that last object alone. The stream goes to the client
 * through its downstream's writer filter, as a relayed response does
 * (HTTP/1 chunks, or HTTP/2 DATA). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "fanout-int.h"
#include "tollgate/downstream.h"
#include "tollgate/limits.h"
#include "tollgate/resp-filter.h"

#define FAN_LINE_MAX (1u << 20) /* a longer line is no progress line: dropped */

static const tg_resp_filter *writer_of(const tg_exchange *x) { return tg_resp_filters[x->down->writer]; }

/* Pushes what the writer was given; a client slower than the servers
 * meets the send timeout. */
static void stream_flush(tg_exchange *x) {
  if (x->down->out_flush(x) > 0) x->down->send_wait(x);
}

/* Bytes of the stream (the writer frames them: a chunk, DATA). */
static void stream_write(fanout *f, const char *p, size_t n) {
  tg_exchange *x = f->x;
  x->down->out_begin(x);
  writer_of(x)->on_data(x, 0, p, n, TG_RESP_COPY);
  stream_flush(x);
}

static void stream_head(fanout *f) {
  tg_exchange *x = f->x;
  tg_head h = {0};
  tg_resp_head r = {.fields = &h, .status = 200, .framing = f->chunked ? TG_FRAME_CHUNKED : TG_FRAME_CLOSE};
  f->head_sent = 1;
  x->down->out_begin(x);
  int rc =
      tg_head_add_name(&h, "Content-Type", 12, SIZE_MAX) | tg_head_add_value(&h, "application/x-ndjson", 20, SIZE_MAX);
  if (rc == 0) writer_of(x)->on_head(x, 0, &r); /* X-Request-Id and CORS are the writer's */
  tg_head_free(&h);
  stream_flush(x);
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
    x->down->out_begin(x);
    writer_of(x)->on_end(x, 0, NULL);
    x->resp_done = 1;
    stream_flush(x);
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
