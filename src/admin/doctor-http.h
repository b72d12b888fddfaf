/* doctor-http: the small blocking HTTP/1.1 client behind `tollgate doctor`.
 * One connection per request (plain TCP or OpenSSL), a limit on every
 * operation (connect, handshake, each write, each wait for bytes), llhttp
 * to parse the response, and the arrival time of every read that carried
 * body bytes. It blocks: `tollgate doctor` and the ACME manager thread
 * use it, never a worker loop. */
#ifndef TOLLGATE_DOCTOR_HTTP_H
#define TOLLGATE_DOCTOR_HTTP_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "tollgate/buf.h"
#include "tollgate/head.h"
#include "tollgate/http-url.h"

/* What the TLS handshake showed (https only). */
typedef struct dh_tls_info {
  char version[32];
  char cipher[64];
  char subject[160];
  char issuer[160];
  long verify; /* X509_V_OK or the verification error */
  int has_cert;
  long long secs_left; /* until the leaf certificate's notAfter */
} dh_tls_info;

typedef struct dh_client {
  const tg_http_url *url;
  SSL_CTX *ctx;           /* NULL for http */
  int insecure;           /* go on when the certificate does not verify */
  int connect_ms;         /* limit for connect and the TLS handshake */
  const char *user_agent; /* the User-Agent product, NULL for tollgate-doctor */
  char addr[64];          /* the address the last connection reached */
  double connect_s;       /* how long its TCP connect took */
  dh_tls_info tls;        /* its handshake */
} dh_client;

/* Prepares a client; cacert replaces the system CA store when set.
 * Returns 0, or -1 with a message in err. */
int dh_client_init(dh_client *c, const tg_http_url *u, const char *cacert, int insecure, int connect_ms, char *err,
                   size_t errlen);
void dh_client_free(dh_client *c);

typedef struct dh_req {
  const char *method;
  const char *path;     /* appended to the URL's base */
  const char *abs_path; /* used as is instead of base + path when set */
  const char *headers;  /* extra field lines, each ending in "\r\n", or NULL */
  const char *body;
  size_t body_len;
  int read_ms;   /* limit on each wait for bytes */
  int keep_open; /* no "Connection: close" (upgrades) */
} dh_req;

typedef enum dh_err {
  DH_OK = 0,
  DH_ERR_CONNECT, /* resolve or TCP connect failed */
  DH_ERR_TLS,     /* handshake failed, or the certificate did not verify */
  DH_ERR_TIMEOUT, /* an operation took longer than its limit */
  DH_ERR_CLOSED,  /* the peer closed before the response was complete */
  DH_ERR_RESET,   /* connection reset */
  DH_ERR_PARSE,   /* not a valid HTTP/1.x response */
  DH_ERR_IO,      /* any other socket or memory error */
} dh_err;

/* One read that carried body bytes: when, and which bytes of body. */
typedef struct dh_arrival {
  double t;
  size_t off, len;
} dh_arrival;

typedef struct dh_resp {
  int status;
  int connected; /* the TCP connection was made */
  int secured;   /* the TLS handshake finished (https; the certificate may still be bad) */
  int got_head;  /* the response head arrived */
  int complete;  /* the whole message arrived (or a 101 head) */
  tg_head head;  /* reason phrase and fields */
  tg_buf body;   /* decoded body (chunk framing removed), capped */
  dh_arrival *arr;
  size_t narr, carr;
  double t_sent; /* seconds from the start: request written */
  double t_head; /* response head complete */
  double t_end;  /* response complete, or the failure */
  dh_err err;
  char errmsg[200];
} dh_resp;

/* Connects, sends the request, reads the response. Returns 0 when a
 * complete response arrived, -1 otherwise (rs->err, rs->errmsg). Times in
 * rs are seconds since the call started. */
int dh_do(dh_client *c, const dh_req *rq, dh_resp *rs);
void dh_resp_free(dh_resp *rs);

/* The value of the first field named name, copied into out (capped), or
 * NULL when there is none. */
const char *dh_field(const dh_resp *rs, const char *name, char *out, size_t outlen);

/* Seconds on CLOCK_MONOTONIC. */
double dh_now(void);

#endif
