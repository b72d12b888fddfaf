/* One HTTP/2 connection toward a client, over libnghttp2: the SETTINGS and
 * limits tollgate serves with, the floods nghttp2 does not limit counted
 * here (GOAWAY ENHANCE_YOUR_CALM past them), each request's header block
 * translated by h2-head.h, and a callback table upward through which the
 * layer above (the exchange side, not wired yet) is told of streams and
 * feeds their responses.
 *
 * No sockets and no clock: bytes come in through tg_h2_session_recv with
 * the time of their read and go out through the table's write callback,
 * so that the session is driven in memory by tests and by the connection
 * alike. Flow control is the caller's: a stream's window (and the
 * connection's) reopens only when it calls tg_h2_consume for bytes it has
 * forwarded, so a stalled upstream holds back that stream's client only.
 * The model is nghttpx's Http2Upstream (nghttp2's src/shrpx_http2_upstream.cc). */
#ifndef TOLLGATE_H2_SESSION_H
#define TOLLGATE_H2_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "tollgate/h2-head.h"

/* The settings and limits of a connection (docs/http2.md). */
typedef struct tg_h2_settings {
  uint32_t max_concurrent_streams; /* SETTINGS_MAX_CONCURRENT_STREAMS (see tg_h2_counters.refused) */
  uint32_t initial_window;         /* SETTINGS_INITIAL_WINDOW_SIZE: a stream's request body in flight */
  uint32_t connection_window;      /* the connection's receive window */
  uint32_t header_table_size;      /* SETTINGS_HEADER_TABLE_SIZE: the client's HPACK table toward us */
  uint32_t deflate_table_size;     /* our HPACK table toward the client */
  size_t max_header_list;          /* SETTINGS_MAX_HEADER_LIST_SIZE: max_header_size */
  uint32_t max_continuations;      /* CONTINUATION frames after one HEADERS */
  uint32_t resets_per_second;      /* RST_STREAM either way (rapid reset) */
  uint32_t pings_per_second;
  uint32_t settings_per_second;
  uint32_t empty_data_per_second; /* DATA frames without payload nor END_STREAM */
} tg_h2_settings;

/* The defaults: 128 streams, 64 KiB windows (1 MiB for the connection),
 * 4 KiB HPACK tables, 16 KiB header lists, 8 CONTINUATION frames, 100
 * resets, 50 PINGs, 20 SETTINGS and 100 empty DATA frames a second. */
void tg_h2_settings_default(tg_h2_settings *s);

/* What the connections of a worker have seen; the metrics read them. */
typedef struct tg_h2_counters {
  uint64_t streams;            /* streams whose request head was translated */
  uint64_t refused;            /* REFUSED_STREAM sent: past max_concurrent_streams before the client
                                  acknowledged our SETTINGS (after, nghttp2 ends the connection) */
  uint64_t malformed;          /* header blocks refused: stream PROTOCOL_ERROR */
  uint64_t resets;             /* RST_STREAM received or sent */
  uint64_t rapid_reset;        /* connections ended past resets_per_second */
  uint64_t ping_flood;         /* ... past pings_per_second */
  uint64_t settings_flood;     /* ... past settings_per_second */
  uint64_t empty_data_flood;   /* ... past empty_data_per_second */
  uint64_t continuation_flood; /* ... past max_continuations */
  uint64_t protocol_error;     /* connections ended for a protocol error (GOAWAY sent) or a fatal one */
} tg_h2_counters;

typedef struct tg_h2_session tg_h2_session;

/* One stream: its request and the layer above's pointer. Owned by the
 * session; freed after the close callback. */
typedef struct tg_h2_stream {
  tg_h2_session *session;
  int32_t id;
  tg_h2_req req;       /* the translated head (valid from the open callback) */
  void *user;          /* the layer above's exchange, set in open */
  uint64_t unconsumed; /* body bytes handed up and not yet consumed */
  uint8_t opened;      /* open was called: close will be */
  uint8_t responding;  /* tg_h2_respond was called */
  struct tg_h2_stream *next;
} tg_h2_stream;

/* The response body's read callback returns this when it has nothing yet
 * (call tg_h2_resume when it has). */
#define TG_H2_DEFER (-2)

/* The layer above. ctx is the pointer given to tg_h2_session_new. */
typedef struct tg_h2_up {
  /* A request head is complete and translated (st->req). end_stream: no
   * body follows. Returns 0, or -1 to reset the stream (INTERNAL_ERROR). */
  int (*open)(void *ctx, tg_h2_stream *st, int end_stream);
  /* n bytes of the request body, to be given back with tg_h2_consume once
   * they have gone on. Returns 0, or -1 to reset the stream. */
  int (*data)(void *ctx, tg_h2_stream *st, const uint8_t *p, size_t n);
  /* The request body is complete (its content-length checked). */
  void (*body_end)(void *ctx, tg_h2_stream *st);
  /* The stream is gone: error 0 when it ended as it should, else the
   * RST_STREAM code (either side's) or the GOAWAY's. st is freed after. */
  void (*close)(void *ctx, tg_h2_stream *st, uint32_t error);
  /* The response body: up to n bytes into buf; returns how many (and sets
   * *eof with the last), TG_H2_DEFER, or -1 to reset the stream. */
  long (*read)(void *ctx, tg_h2_stream *st, uint8_t *buf, size_t n, int *eof);
  /* Bytes for the client. Returns 0, or -1 (the connection is over). */
  int (*write)(void *ctx, const uint8_t *p, size_t n);
} tg_h2_up;

/* A server session; our SETTINGS are queued at once (call
 * tg_h2_session_send). counters is the worker's, shared by its sessions.
 * Returns NULL when out of memory. */
tg_h2_session *tg_h2_session_new(const tg_h2_settings *set, const tg_h2_up *up, void *ctx, tg_h2_counters *counters);

/* Closes every stream still open (close with CANCEL) and frees s. */
void tg_h2_session_free(tg_h2_session *s);

/* Bytes read from the client at now_ms (the loop's clock). Returns 0, or
 * -1 when the connection must end: send what is queued (a GOAWAY) and
 * close. A protocol error nghttp2 answers with its own GOAWAY returns 0:
 * after tg_h2_session_send, tg_h2_session_done says the connection may
 * close (as after a GOAWAY the client sent, or a drain). */
int tg_h2_session_recv(tg_h2_session *s, const uint8_t *p, size_t n, uint64_t now_ms);

/* Writes whatever is ready through up->write. Returns 0 or -1. */
int tg_h2_session_send(tg_h2_session *s);

/* Nothing more to read nor to write: the connection may close. */
int tg_h2_session_done(const tg_h2_session *s);

/* The response's head: status and the fields of an HTTP/1 head (names
 * lowercased, connection-specific fields left out). has_body: the read
 * callback gives the body; else the stream ends with the head. Returns 0
 * or -1. */
int tg_h2_respond(tg_h2_stream *st, int status, const tg_head *fields, int has_body);

/* The read callback has more (after TG_H2_DEFER). */
int tg_h2_resume(tg_h2_stream *st);

/* n body bytes of st have been forwarded: their window reopens. */
int tg_h2_consume(tg_h2_stream *st, size_t n);

/* Resets st with an HTTP/2 error code (RFC 9113 7). */
int tg_h2_reset(tg_h2_stream *st, uint32_t error);

/* How many response bytes st may send now (its window and the
 * connection's, the smaller): 0 while the client holds the window shut,
 * which the connection times (timeout send). */
int32_t tg_h2_send_window(const tg_h2_stream *st);

/* Drain: GOAWAY NO_ERROR with the last stream id; streams in progress go on. */
int tg_h2_drain(tg_h2_session *s);

/* Number of streams open (opened or not yet). */
size_t tg_h2_session_streams(const tg_h2_session *s);

#endif
