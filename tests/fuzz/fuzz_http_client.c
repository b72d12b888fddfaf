/* libFuzzer target for the response side of the HTTP client
 * (src/upstream/http-client.c, included here to reach its parser): what a
 * server answers to a call tollgate makes (forward auth, ACME), fed to
 * call_parse as reads would be, then the peer's close.
 *
 * Byte 0: bits 0-2 the read size (all, 1, 2, 3, 7, 16, 64, 512), bit 3 the
 * call was a HEAD, bit 4 a small size cap (64 bytes) instead of 64 KiB,
 * bit 5 keep_body at the cap (the body any length, its first bytes kept,
 * the rest counted). The rest is the server's bytes.
 *
 * Invariants: the callback runs exactly once, whatever the reads; the
 * outcome (status, error; and for a whole response its reason, fields and
 * body) is the same when the bytes come at once and when they come in
 * pieces; a status is given exactly
 * when the response is whole, never past the cap, and a HEAD's answer has
 * no body; the body's count is never below what was kept, and equals it
 * without keep_body; the call's handles close and its memory is freed (the leak
 * checker). */
#include "../../src/upstream/http-client.c"

#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct outcome {
  int called;
  int status;
  tg_up_error error;
  tg_buf text; /* reason, fields and body, written out */
  size_t cap;  /* the call's size cap */
  int head;    /* the call was a HEAD */
  int keep;    /* keep_body at the cap */
} outcome;

static void record(tg_http_response *r, void *arg) {
  outcome *o = arg;
  o->called++;
  o->status = r->status;
  o->error = r->error;
  const tg_head *h = &r->head;
  if (h->target.len) tg_buf_append(&o->text, tg_head_str(h, h->target), h->target.len);
  for (uint32_t i = 0; i < h->nfields; i++) {
    tg_buf_printf(&o->text, "\n%.*s: ", (int)h->fields[i].name.len, tg_head_str(h, h->fields[i].name));
    tg_buf_append(&o->text, tg_head_str(h, h->fields[i].value), h->fields[i].value.len);
  }
  tg_buf_printf(&o->text, "\n\n%zu %llu\n", r->body.len, (unsigned long long)r->body_len);
  if (r->body.len) tg_buf_append(&o->text, r->body.data, r->body.len);
  if (r->status && (r->error != TG_UPERR_NONE || r->status < 100 || r->status > 599)) __builtin_trap();
  if (!r->status && r->error == TG_UPERR_NONE) __builtin_trap();
  if (r->body.len > o->cap || (o->head && r->body.len)) __builtin_trap();
  if (r->body_len < r->body.len || (!o->keep && r->body_len != r->body.len)) __builtin_trap();
  if (r->status && r->head_status != r->status) __builtin_trap();
}

/* One call answered with p, read step bytes at a time, then closed. */
static void run(uv_loop_t *loop, const char *p, size_t n, size_t step, int head, size_t cap, int keep, outcome *o) {
  tg_http_call *call = calloc(1, sizeof *call);
  if (!call) abort();
  http_conn *cn = &call->conn;
  tg_sink_init(&cn->out, (uv_stream_t *)&cn->tcp, call_drained); /* its owner: cn->tcp.data, set below */
  o->cap = cap;
  o->head = head;
  o->keep = keep;
  call->cb = record;
  call->data = o;
  call->opt.max_response = cap;
  call->opt.keep_body = keep ? cap : 0;
  call->head_only = head;
  call->resp.connected = call->resp.sent = 1;
  llhttp_init(&call->parser, HTTP_RESPONSE, &response_settings);
  call->parser.data = call;
  uv_tcp_init(loop, &cn->tcp);
  uv_timer_init(loop, &cn->timer);
  cn->tcp.data = cn->timer.data = call;
  for (size_t i = 0; i < n && !call->done; i += step) call_parse(call, p + i, n - i < step ? n - i : step);
  call_parse(call, NULL, 0);    /* the peer closes: nothing once the call is done */
  uv_run(loop, UV_RUN_DEFAULT); /* the close callbacks free the call */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const size_t steps[8] = {0, 1, 2, 3, 7, 16, 64, 512};
  static uv_loop_t loop;
  static int ready;
  if (!ready) ready = uv_loop_init(&loop) == 0;
  if (size < 1 || !ready) return 0;
  const char *p = (const char *)data + 1;
  size_t n = size - 1, step = steps[data[0] & 7] ? steps[data[0] & 7] : n + 1;
  int head = (data[0] >> 3) & 1;
  size_t cap = data[0] & 16 ? 64 : 65536;
  int keep = (data[0] >> 5) & 1;
  outcome whole = {0}, pieces = {0};
  run(&loop, p, n, n + 1, head, cap, keep, &whole);
  run(&loop, p, n, step, head, cap, keep, &pieces);
  if (whole.called != 1 || pieces.called != 1) __builtin_trap();
  /* what a failed call had collected depends on where the reads split it; only a whole response is compared */
  int same_text = whole.text.len == pieces.text.len && !memcmp(whole.text.data, pieces.text.data, whole.text.len);
  if (whole.status != pieces.status || whole.error != pieces.error || (whole.error == TG_UPERR_NONE && !same_text)) {
    fprintf(stderr, "at once: %d/%d, in pieces of %zu: %d/%d\n", whole.status, (int)whole.error, step, pieces.status,
            (int)pieces.error);
    __builtin_trap();
  }
  tg_buf_free(&whole.text);
  tg_buf_free(&pieces.text);
  return 0;
}
