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
  SSL_CTX *tls;              /* NULL: plain HTTP; else a client context (tg_tls_client_ctx) */
  unsigned verify_after : 1; /* as tg_http_target's */
} tg_http_place;

/* The outcome, owned by the caller until tg_http_result_free. */
typedef struct tg_http_result {
  tg_http_response resp; /* the last dial's call: status, head (tg_head_value_copy), body, error, times, tls */
  char why[200];         /* the reason behind resp.error, "" when none (resp.why: NULL when resolving failed) */
  char addr[64];         /* the address of the last dial: "1.2.3.4:443", "[::1]:443" */
} tg_http_result;

/* Makes the call rq (its limits bound each address's try; rq->on_body is
 * called as the body arrives, before this returns) and fills
 * out. Returns 0 when a whole response arrived (any status), -1 otherwise
 * (out->error, out->why). */
int tg_http_fetch(const tg_http_place *to, const tg_http_request *rq, tg_http_result *out);
void tg_http_result_free(tg_http_result *r);

#endif
