/* The JSON access log: one line per request, written off the loop thread.
 * Each worker formats lines into its own buffer and hands the buffer to the
 * libuv thread pool (uv_fs_write) every TG_ACCESS_LOG_FLUSH_MS, or sooner
 * once TG_ACCESS_LOG_BATCH bytes wait; lines that arrive meanwhile wait in a
 * second buffer. If the log cannot keep up and that buffer passes
 * TG_ACCESS_LOG_MAX, lines are dropped rather than blocking; dropped lines
 * and failed writes are reported in the error log, once a second at most. */
#ifndef TOLLGATE_ACCESS_LOG_H
#define TOLLGATE_ACCESS_LOG_H

#include <stdint.h>
#include <uv.h>

#include "tollgate/buf.h"
#include "tollgate/log.h"

#define TG_ACCESS_LOG_MAX (4u << 20)
#define TG_ACCESS_LOG_BATCH (64u << 10)
#define TG_ACCESS_LOG_FLUSH_MS 20

/* What one request did, gathered while it runs. */
typedef struct tg_access_rec {
  uint64_t t_start_ns;    /* uv_hrtime() when its first byte arrived */
  uint64_t t_first_ns;    /* when its first response byte was sent, 0 if none */
  uint64_t bytes_in;      /* request bytes read: head and body */
  uint64_t bytes_out;     /* response bytes written: head and body */
  uint64_t t_body_ns;     /* when the first response body byte (first token) was sent, 0 if none */
  const char *refused_by; /* the limit that answered 429/503 ("rate per ip"), a static string, or NULL */
  uint32_t queued_ms;     /* held in a model queue at the gateway (at least 1), 0 if never */
} tg_access_rec;

/* The request's protocol, Host, User-Agent and TLS, as the client sent or
 * negotiated them: each NULL (logged as null) when there is none. The
 * strings need not end with a NUL: their lengths are given. */
typedef struct tg_access_conn {
  const char *proto;       /* "HTTP/1.1", "HTTP/1.0" */
  const char *tls_version; /* "TLSv1.3" */
  const char *tls_cipher;  /* "TLS_AES_128_GCM_SHA256" */
  const char *host, *ua;
  size_t host_len, ua_len;
} tg_access_conn;

/* The fields of one line. */
typedef struct tg_access_entry {
  const char *client;
  const char *method;
  const char *path; /* without the query string: it may carry secrets */
  size_t path_len;
  int status;
  const char *upstream;       /* "127.0.0.1:11434", or NULL when none was reached */
  const char *upstream_error; /* "refused", "timeout"... (tollgate/upstream-error.h), or NULL */
  const char *server;         /* the server of the upstream it went to last, or NULL (docs/upstreams.md) */
  unsigned failovers;         /* servers it left for another before its answer (0: none) */
  unsigned affinity;          /* conversation affinity: the prompt's blocks predicted cached where it went */
  int affinity_on;            /* affinity followed it (else no field) */
  const char *user;           /* who asked (auth), NULL = anonymous; never a credential */
  const char *auth;           /* how auth decided ("basic", "basic-cached", "key"...), or NULL */
  const tg_access_rec *rec;
  const tg_access_conn *conn; /* proto, host, ua, tls; NULL: all null */
  uint64_t now_ns;
  int client_aborted; /* the client left before the response ended */
  const char *request_id;
  const char *route;                             /* route kind: generate, chat, embed, openai, admin, other */
  const char *model;                             /* "" when the request named none */
  int64_t prompt_tokens, output_tokens, eval_ns; /* -1: not reported */
} tg_access_entry;

typedef struct tg_access_log {
  int fd; /* -1: off */
  uv_loop_t *loop;
  uv_fs_t req;
  uv_timer_t timer;
  tg_buf inflight;
  tg_buf waiting;
  int busy;
  uint64_t dropped;       /* lines not queued (backlog full, no memory) since the last complaint */
  uint64_t lost_bytes;    /* bytes whose write failed since the last complaint */
  uint64_t complained_ms; /* uv_now of the last error-log line about either */
} tg_access_log;

/* Opens the destination named in the config ("stdout", "stderr", "off" or a
 * path, appended to). Returns an fd, -1 for off, or -2 with errno set. */
int tg_access_log_open(const char *spec);

void tg_access_log_init(tg_access_log *l, uv_loop_t *loop, int fd);

/* Formats e as one JSON line into out (no trailing newline is missing). */
int tg_access_format(tg_buf *out, const tg_access_entry *e);

/* Queues the line for e. */
void tg_access_log_write(tg_access_log *l, const tg_access_entry *e);

/* Writes what waits and closes the timer (the worker is stopping). */
void tg_access_log_stop(tg_access_log *l);

/* Frees buffers; call when the loop is done. */
void tg_access_log_free(tg_access_log *l);

#endif
