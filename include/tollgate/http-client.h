/* tg_http_call: one outgoing HTTP/1.1 request on a libuv loop, for every
 * call tollgate makes on its own behalf (forward auth, ACME and `tollgate
 * doctor` today; health checks and catalogue polling are meant to follow). It dials the target
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
#include "tollgate/tls.h"
#include "tollgate/upstream-error.h"

/* Where a call goes. */
typedef struct tg_http_target {
  const struct sockaddr *addr; /* resolved beforehand: no DNS on a loop */
  SSL_CTX *tls;                /* NULL: plain HTTP; else a client context (its verify mode applies) */
  const char *server_name;     /* TLS: SNI and the name the certificate must carry (DNS name or IP) */
  /* TLS with a context that verifies nothing in the handshake: the call
   * checks the certificate itself once the handshake is through and stops
   * before the request when it did not verify (TG_UPERR_TLS, the handshake's
   * facts in tg_http_response.tls), so that a caller can say why. */
  unsigned verify_after : 1;
} tg_http_target;

/* Called with each piece of the response body as the parser gives it
 * (chunk framing removed), whether kept or not, and the time of the read
 * that brought it (uv_hrtime(), ns: the pieces of one read share it). */
typedef void (*tg_http_body_cb)(void *data, const char *p, size_t n, uint64_t read_ns);

/* What a call sends, and how much of the answer it accepts. */
typedef struct tg_http_request {
  const char *method;
  const char *target;  /* origin-form: /path?query */
  const char *host;    /* the Host field */
  const char *headers; /* more field lines, each ending in "\r\n", or NULL */
  const char *body;    /* sent with a Content-Length when not NULL */
  size_t body_len;
  const char *upgrade;     /* a protocol to ask for ("websocket": Upgrade and Connection: Upgrade go
                             instead of Connection: close); the call ends with the 101's head */
  size_t max_response;     /* cap on the head's bytes, and on the body's (past it the call fails) */
  size_t keep_body;        /* 0: as above; else the body may be any length: its first keep_body
                              bytes are kept, the rest only counted (tg_http_response.body_len) */
  uint64_t timeout_ms;     /* the whole call: dial, request, response; 0: no limit */
  uint64_t connect_ms;     /* 0, or a limit on the dial and the TLS handshake */
  uint64_t idle_ms;        /* 0, or a limit on each wait once the connection is ready: the request's
                              writes, and the time from one read of the response to the next */
  tg_http_body_cb on_body; /* NULL, or told of each piece of body as it arrives */
  void *on_body_data;
} tg_http_request;

/* When each step of a call happened: uv_hrtime() ns, 0 when it did not. */
typedef struct tg_http_times {
  uint64_t start;      /* tg_http_call_start */
  uint64_t connect;    /* the TCP connection was made */
  uint64_t tls;        /* the TLS handshake finished */
  uint64_t sent;       /* the whole request was handed to the socket */
  uint64_t first_byte; /* the read that brought the response's first byte */
  uint64_t head;       /* the read that completed the final response head */
  uint64_t end;        /* the call ended (the callback) */
} tg_http_times;

/* The outcome handed to the callback; valid only while it runs. */
typedef struct tg_http_response {
  int status;        /* 0 unless a whole response arrived */
  int head_status;   /* the final head's status once it arrived, even if the body then failed */
  tg_head head;      /* reason phrase (head.target) and fields */
  tg_buf body;       /* chunked framing removed; with keep_body, its first bytes */
  uint64_t body_len; /* the body's bytes that arrived, kept or not */
  tg_up_error error; /* TG_UPERR_NONE when a whole response arrived */
  const char *why;   /* a fixed text behind error, or NULL */
  tg_http_times times;
  tg_tls_peer tls;        /* TLS: what the handshake showed (times.tls != 0) */
  unsigned connected : 1; /* the TCP connection (and TLS handshake) was made */
  unsigned sent : 1;      /* the whole request was handed to the socket */
} tg_http_response;

typedef struct tg_http_call tg_http_call;

/* Called once per call, never from inside tg_http_call_start. The call and
 * its connection are closed and freed after it returns. */
typedef void (*tg_http_done_cb)(tg_http_response *r, void *data);

/* Starts a call on loop. A timeout (the whole call's, or one wait's) is
 * reported by the phase it caught: TG_UPERR_TIMEOUT while dialling or in
 * the handshake, TG_UPERR_HEADER_TIMEOUT before the response head,
 * TG_UPERR_IDLE_TIMEOUT during its body. Returns 0, or -1
 * when nothing could be started (out of memory: cb will not be called). */
int tg_http_call_start(uv_loop_t *loop, const tg_http_target *to, const tg_http_request *rq, tg_http_done_cb cb,
                       void *data);

#endif
