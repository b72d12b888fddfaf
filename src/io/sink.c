/* Non-blocking ordered output with backpressure (see tollgate/sink.h). */
#include "tollgate/sink.h"

#include <string.h>

void tg_sink_init_io(tg_sink *s, const tg_io_engine *io, uv_stream_t *stream, tg_sink_drain_cb on_drain) {
  memset(s, 0, sizeof *s);
  s->stream = stream;
  s->io = io;
  s->on_drain = on_drain;
}

void tg_sink_init(tg_sink *s, uv_stream_t *stream, tg_sink_drain_cb on_drain) {
  tg_sink_init_io(s, &tg_io_epoll, stream, on_drain);
}

static int sink_queue(tg_buf *q, const uv_buf_t *bufs, unsigned n, size_t skip) {
  for (unsigned i = 0; i < n; i++) {
    size_t len = bufs[i].len;
    if (skip >= len) {
      skip -= len;
      continue;
    }
    if (tg_buf_append(q, bufs[i].base + skip, len - skip) < 0) return UV_ENOMEM;
    skip = 0;
  }
  return 0;
}

static void sink_write_cb(uv_write_t *req, int status);

static int sink_start(tg_sink *s) {
  uv_buf_t b = uv_buf_init(s->inflight.data, (unsigned)s->inflight.len);
  int rc = s->io->write(&s->req, s->stream, &b, 1, sink_write_cb);
  if (rc < 0) return rc;
  s->busy = 1;
  return 1;
}

static void sink_write_cb(uv_write_t *req, int status) {
  tg_sink *s = (tg_sink *)((char *)req - offsetof(tg_sink, req));
  s->busy = 0;
  tg_buf_free(&s->inflight);
  if (status < 0) {
    s->failed = 1;
    tg_buf_free(&s->waiting);
    if (status != UV_ECANCELED) s->on_drain(s, status);
    return;
  }
  if (s->waiting.len) {
    s->inflight = s->waiting;
    memset(&s->waiting, 0, sizeof s->waiting);
    int rc = sink_start(s);
    if (rc < 0) s->on_drain(s, rc);
    return;
  }
  s->on_drain(s, 0);
}

int tg_sink_writev(tg_sink *s, const uv_buf_t *bufs, unsigned n) {
  if (s->codec && !s->failed) return s->codec->encode(s->codec, bufs, n);
  return tg_sink_writev_raw(s, bufs, n);
}

int tg_sink_writev_raw(tg_sink *s, const uv_buf_t *bufs, unsigned n) {
  if (s->failed) return UV_EPIPE;
  if (s->busy) return sink_queue(&s->waiting, bufs, n, 0) < 0 ? UV_ENOMEM : 1;
  size_t total = 0;
  for (unsigned i = 0; i < n; i++) total += bufs[i].len;
  if (total == 0) return 0;
  int w = s->io->try_write(s->stream, bufs, n);
  if (w < 0 && w != UV_EAGAIN) {
    s->failed = 1;
    return w;
  }
  size_t done = w > 0 ? (size_t)w : 0;
  if (done == total) return 0;
  if (sink_queue(&s->inflight, bufs, n, done) < 0) return UV_ENOMEM;
  return sink_start(s);
}

void tg_sink_free(tg_sink *s) {
  tg_buf_free(&s->inflight);
  tg_buf_free(&s->waiting);
}

void tg_batch_begin(tg_batch *b, tg_sink *sink) {
  if (b->n) tg_batch_flush(b);
  b->n = 0;
  b->used = 0;
  b->bytes = 0;
  b->sink = sink;
  b->status = 0;
}

int tg_batch_flush(tg_batch *b) {
  if (b->n == 0) return 0;
  int rc = tg_sink_writev(b->sink, b->iov, b->n);
  b->n = 0;
  b->used = 0;
  if (rc < 0 || (rc > 0 && b->status == 0)) b->status = rc;
  return rc;
}

/* A uv_buf_t's length is an unsigned int: a longer span goes in pieces. */
#define BATCH_PIECE_MAX (1u << 30)

void tg_batch_add(tg_batch *b, const char *p, size_t n) {
  if (n == 0) return;
  while (n > BATCH_PIECE_MAX) {
    tg_batch_add(b, p, BATCH_PIECE_MAX);
    p += BATCH_PIECE_MAX;
    n -= BATCH_PIECE_MAX;
  }
  if (b->n == TG_BATCH_IOV) tg_batch_flush(b);
  b->iov[b->n++] = uv_buf_init((char *)p, (unsigned)n);
  b->bytes += n;
}

void tg_batch_add_copy(tg_batch *b, const char *p, size_t n) {
  if (b->used + n > sizeof b->scratch || b->n == TG_BATCH_IOV) tg_batch_flush(b);
  if (n > sizeof b->scratch) { /* too big to copy: written now, while p is still valid */
    tg_batch_add(b, p, n);
    tg_batch_flush(b);
    return;
  }
  char *dst = b->scratch + b->used;
  memcpy(dst, p, n);
  b->used += n;
  b->iov[b->n++] = uv_buf_init(dst, (unsigned)n);
  b->bytes += n;
}
