/* An exchange's downstream: how its answer reaches the client it came
 * from, whatever carries it. The admission phases, the relay and fan-out
 * answer the client, and learn what it does, only through the exchange's
 * table (x->down), never through its connection: HTTP/1 implements it
 * over the connection the exchange is the current exchange of
 * (src/http/h1-down.c, tg_h1_downstream); an HTTP/2 stream will implement
 * it over its session (docs/http2.md). The response's head and body go
 * through the exchange's response filters (tollgate/resp-filter.h) to the
 * writer filter the table names, between out_begin and out_flush. */
#ifndef TOLLGATE_DOWNSTREAM_H
#define TOLLGATE_DOWNSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "tollgate/exchange.h"

typedef struct tg_downstream {
  uint8_t writer; /* the response filter that frames the answer for this client (tg_resp_filters) */
  /* A gateway-made error (Ollama's or OpenAI's JSON shape; extra: header
   * lines ending in CRLF, or NULL) when no response head went out yet,
   * else the response cut short; either way the exchange ends. */
  void (*fail)(tg_exchange *x, int status, const char *message, const char *extra);
  /* An answer tollgate did not make itself (an auth server's, a preflight,
   * a fan-out's whole answer): status, header lines, body; the exchange ends. */
  void (*reply)(tg_exchange *x, int status, const char *headers, const char *body, size_t len);
  void (*done)(tg_exchange *x);              /* both directions complete: logged and ended */
  int (*gone)(const tg_exchange *x);         /* the client side is closed: nothing more goes to it */
  void (*out_begin)(tg_exchange *x);         /* response events follow: the output is opened */
  int (*out_flush)(tg_exchange *x);          /* and pushed: 0; > 0 the client is slower (kept); < 0 it is gone */
  void (*send_wait)(tg_exchange *x);         /* the upstream waits for the client to drain: the send timeout runs */
  void (*send_continue)(tg_exchange *x);     /* 100 Continue, to a client that waits for it before its body */
  void (*body_go)(tg_exchange *x);           /* read the request body on (upstream connected, or read whole) */
  void (*body_hold)(tg_exchange *x);         /* the upstream (or the disk) cannot take more of it now */
  void (*body_more)(tg_exchange *x);         /* it took what was queued: reading goes on if it waited for that */
  int (*body_waiting)(const tg_exchange *x); /* body bytes read with the head wait to be parsed */
} tg_downstream;

/* The HTTP/1 connection's (src/http/h1-down.c). */
extern const tg_downstream tg_h1_downstream;

static inline void tg_exchange_fail(tg_exchange *x, int status, const char *message) {
  x->down->fail(x, status, message, NULL);
}
static inline void tg_exchange_fail_with(tg_exchange *x, int status, const char *message, const char *extra) {
  x->down->fail(x, status, message, extra);
}
static inline void tg_exchange_reply(tg_exchange *x, int status, const char *headers, const char *body, size_t len) {
  x->down->reply(x, status, headers, body, len);
}
static inline void tg_exchange_done(tg_exchange *x) { x->down->done(x); }
static inline int tg_exchange_gone(const tg_exchange *x) { return x->down->gone(x); }

#endif
