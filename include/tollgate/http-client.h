/* tg_http_call: one outgoing HTTP/1.1 request on a libuv loop, for every
 * call tollgate makes on its own behalf (forward auth today; health checks,
 * catalogue polling and ACME are meant to follow). It dials the target
 * (plain TCP, or TLS over tg_tls_conn when the target has an SSL_CTX),
 * writes the request, parses the response with llhttp in strict mode under
 * a size cap, and calls back once with the status, fields and body, or with
 * why it failed (tollgate/upstream-error.h).
 *
 * Each call dials its own connection and closes it after the response.
 * Inside, the connection (socket, TLS, timer, output) and the exchange
 * (request bytes, parser, response) are kept apart, so that a pool can later
 * hand a call an open connection instead of a dial (h2o's socketpool and
 * http1client split the same way). Not for the proxy leg, which streams
 * (src/relay/). */
#ifndef TOLLGATE_HTTP_CLIENT_H
#define TOLLGATE_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <openssl/ssl.h>
#include <uv.h>

#include "tollgate/buf.h"
#include "tollgate/head.h"
#include "tollgate/upstream-error.h"

/* Where a call goes. */
typedef struct tg_http_target {
  const struct sockaddr *addr; /* resolved beforehand: no DNS on a loop */
  SSL_CTX *tls;                /* NULL: plain HTTP; else a client context (its verify mode applies) */
  const char *server_name;     /* TLS: SNI and the name the certificate must carry (DNS name or IP) */
} tg_http_target;

/* What a call sends, and how much of the answer it accepts. */
typedef struct tg_http_request {
  const char *method;
  const char *target;  /* origin-form: /path?query */
  const char *host;    /* the Host field */
  const char *headers; /* more field lines, each ending in "\r\n", or NULL */
  const char *body;    /* sent with a Content-Length when not NULL */
  size_t body_len;
  size_t max_response; /* cap on the head's bytes, and on the body's */
  uint64_t timeout_ms; /* the whole call: dial, request, response */
} tg_http_request;

/* The outcome handed to the callback; valid only while it runs. */
typedef struct tg_http_response {
  int status;             /* 0 unless a whole response arrived */
  tg_head head;           /* reason phrase (head.target) and fields */
  tg_buf body;            /* chunked framing removed */
  tg_up_error error;      /* TG_UPERR_NONE when a whole response arrived */
  const char *why;        /* a fixed text behind error, or NULL */
  unsigned connected : 1; /* the TCP connection (and TLS handshake) was made */
  unsigned sent : 1;      /* the whole request was handed to the socket */
} tg_http_response;

typedef struct tg_http_call tg_http_call;

/* Called once per call, never from inside tg_http_call_start. The call and
 * its connection are closed and freed after it returns. */
typedef void (*tg_http_done_cb)(tg_http_response *r, void *data);

/* Starts a call on loop. A timeout is reported by the phase it caught:
 * TG_UPERR_TIMEOUT while dialling, TG_UPERR_HEADER_TIMEOUT before the
 * response head, TG_UPERR_IDLE_TIMEOUT during its body. Returns 0, or -1
 * when nothing could be started (out of memory: cb will not be called). */
int tg_http_call_start(uv_loop_t *loop, const tg_http_target *to, const tg_http_request *rq, tg_http_done_cb cb,
                       void *data);

#endif
