/* What fanout.c and fanout-stream.c share: one request sent to several
 * servers (tollgate/fanout.h). */
#ifndef TOLLGATE_RELAY_FANOUT_INT_H
#define TOLLGATE_RELAY_FANOUT_INT_H

#include "tollgate/buf.h"
#include "tollgate/fanout.h"
#include "tollgate/http-client.h"
#include "tollgate/proxy.h"

/* One server's call. */
typedef struct fan_call {
  struct fanout *f;
  char server[64];     /* "HOST:PORT" as its server line says */
  tg_server_state *st; /* its process-wide state (never freed), NULL past the cap */
  int status;          /* the server's answer, 0 when none came */
  char why[200];       /* why it failed: the server's error, or the call's failure */
  tg_buf body;         /* a whole answer (listings, delete, copy) */
  tg_buf line;         /* streamed: the NDJSON line being read */
  uint8_t success;     /* streamed: its last line said success */
} fan_call;

typedef struct fanout {
  tg_exchange *x; /* the client\'s exchange: held until every call has ended */
  tg_fanout_kind kind;
  uint8_t streaming;            /* pull/create with "stream" not false: progress goes to the client as it comes */
  uint8_t head_sent;            /* the stream's head went out */
  uint8_t chunked;              /* the stream is chunked (HTTP/1.1) */
  char model[TG_MODEL_MAX + 1]; /* the model the body names (copy: its source), normal form, or "" */
  char dest[TG_MODEL_MAX + 1];  /* copy: the destination, normal form, or "" */
  unsigned n, pending;
  fan_call calls[];
} fanout;

/* Writes a whole answer (JSON) with X-Request-Id and the CORS lines. */
void tg_fanout_reply(tg_exchange *x, int status, const char *type, const char *body, size_t len);

/* Streamed kinds: a piece of a server's answer, and its end. */
void tg_fanout_stream_data(void *data, const char *p, size_t n, uint64_t read_ns);
void tg_fanout_stream_call_end(fan_call *k);
/* Did a pull or create end with success on that server? */
int tg_fanout_stream_ok(const fan_call *k);
/* Every call has ended: the last line (or a whole answer). */
void tg_fanout_stream_end(fanout *f);

/* "ADDR (why), ADDR (why)" of the calls that failed (ok == 0) or that
 * succeeded (ok == 1), into out. */
void tg_fanout_list_servers(const fanout *f, int ok, int (*is_ok)(const fan_call *), tg_buf *out);

#endif
