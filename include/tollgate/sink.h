/* tg_sink: ordered, non-blocking output to one libuv stream with
 * backpressure. Bytes are first offered to the socket directly
 * (uv_try_write, no copy); only what the socket does not take is copied and
 * queued. The owner stops reading its source while the sink is busy and
 * resumes from on_drain, so at most one read's worth is ever held. */
#ifndef TOLLGATE_SINK_H
#define TOLLGATE_SINK_H

#include <uv.h>

#include "tollgate/buf.h"
#include "tollgate/io-engine.h"

typedef struct tg_sink tg_sink;

/* Called when every queued byte is written (status 0) or a write failed
 * (status < 0, a libuv error code). */
typedef void (*tg_sink_drain_cb)(tg_sink *s, int status);

/* A transport that encodes bytes before they go out (TLS, tollgate/tls.h,
 * sets it up): the first member of the transport's object, so that one
 * pointer gives the sink both the function and its object, and the sink
 * knows no transport by name. encode hands the result to
 * tg_sink_writev_raw and returns what tg_sink_writev does. */
typedef struct tg_sink_codec tg_sink_codec;
typedef int (*tg_sink_encode_fn)(const tg_sink_codec *codec, const uv_buf_t *bufs, unsigned n);
struct tg_sink_codec {
  tg_sink_encode_fn encode;
};

struct tg_sink {
  uv_stream_t *stream;
  const tg_io_engine *io; /* how stream is written (and read and closed, by its owner) */
  uv_write_t req;
  tg_buf inflight;            /* bytes handed to uv_write */
  tg_buf waiting;             /* bytes queued behind them */
  tg_sink_drain_cb on_drain;  /* its owner is stream->data */
  const tg_sink_codec *codec; /* set: bytes are encoded before they go out (a tg_tls_conn's) */
  unsigned busy : 1;          /* a uv_write is in flight */
  unsigned failed : 1;        /* a write failed; everything after is dropped */
};

/* A sink on stream, written through the engine io (tg_sink_init: libuv's,
 * tg_io_epoll). */
void tg_sink_init(tg_sink *s, uv_stream_t *stream, tg_sink_drain_cb on_drain);
void tg_sink_init_io(tg_sink *s, const tg_io_engine *io, uv_stream_t *stream, tg_sink_drain_cb on_drain);

/* Writes the buffers in order after anything already queued. Returns 0 when
 * everything went to the socket, 1 when some is queued (the caller should
 * pause its source until on_drain), or a negative libuv error. */
int tg_sink_writev(tg_sink *s, const uv_buf_t *bufs, unsigned n);

/* The same for bytes already on the wire format: what TLS hands over
 * (tg_sink_writev encrypts first when the sink has TLS). */
int tg_sink_writev_raw(tg_sink *s, const uv_buf_t *bufs, unsigned n);

/* Frees queued bytes. Call only after the stream is closed (libuv has then
 * called the write callback with UV_ECANCELED). */
void tg_sink_free(tg_sink *s);

/* A batch of buffers gathered while llhttp parses one read, written with one
 * tg_sink_writev. Small pieces (chunk-size lines) are copied into scratch;
 * body spans point into the read buffer, valid until the read callback
 * returns, which is when the batch is flushed. */
#define TG_BATCH_IOV 64
typedef struct tg_batch {
  uv_buf_t iov[TG_BATCH_IOV];
  unsigned n;
  size_t used;
  size_t bytes;
  tg_sink *sink;
  int status; /* result of the last flush: 0, 1 (queued), < 0 */
  char scratch[2048];
} tg_batch;

/* Starts a batch toward sink (flushing any batch still open). */
void tg_batch_begin(tg_batch *b, tg_sink *sink);

/* Adds n bytes by reference. */
void tg_batch_add(tg_batch *b, const char *p, size_t n);

/* Adds n bytes by copy, so p may be a caller's temporary. Bytes past what
 * scratch holds are flushed at once instead (the sink copies what the
 * socket does not take), so nothing is ever dropped. */
void tg_batch_add_copy(tg_batch *b, const char *p, size_t n);

/* Writes what the batch holds. Returns what tg_sink_writev returned, or 0
 * for an empty batch; the worst result since tg_batch_begin stays in b->status. */
int tg_batch_flush(tg_batch *b);

#endif
