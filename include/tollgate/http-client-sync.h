/* tg_http_fetch: one blocking HTTP/1.1 call, for the command line and the
 * ACME manager thread, never a worker loop. It is the non-blocking client
 * (tollgate/http-client.h) on a private libuv loop run until the call's
 * callback, with the name resolved first (getaddrinfo: it may block, which
 * only this caller can afford) and each address tried in turn until one
 * connects. A thread that makes TLS calls calls tg_tls_thread_done before
 * it ends. */
#ifndef TOLLGATE_HTTP_CLIENT_SYNC_H
#define TOLLGATE_HTTP_CLIENT_SYNC_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "tollgate/buf.h"
#include "tollgate/head.h"
#include "tollgate/http-client.h"
#include "tollgate/upstream-error.h"

/* Where a blocking call goes: a name to resolve, not an address. */
typedef struct tg_http_place {
  const char *host; /* a DNS name or an IP address (no brackets) */
  const char *port;
  SSL_CTX *tls; /* NULL: plain HTTP; else a client context (tg_tls_client_ctx) */
} tg_http_place;

/* The outcome, owned by the caller until tg_http_result_free. */
typedef struct tg_http_result {
  int status;        /* 0 unless a whole response arrived */
  tg_head head;      /* reason phrase (head.target) and fields (tg_head_value_copy) */
  tg_buf body;       /* chunked framing removed */
  tg_up_error error; /* TG_UPERR_NONE when a whole response arrived */
  char why[200];     /* the reason behind error, "" when none */
  char addr[64];     /* the address of the last dial: "1.2.3.4:443", "[::1]:443" */
  unsigned connected : 1;
  unsigned sent : 1;
} tg_http_result;

/* Makes the call rq (rq->timeout_ms bounds each address's try) and fills
 * out. Returns 0 when a whole response arrived (any status), -1 otherwise
 * (out->error, out->why). */
int tg_http_fetch(const tg_http_place *to, const tg_http_request *rq, tg_http_result *out);
void tg_http_result_free(tg_http_result *r);

#endif
