/* TLS termination (OpenSSL 3): the certificates of a site, chosen by SNI,
 * built into SSL_CTXs when the config is loaded (so `tollgate -t` checks
 * the files and a reload with a bad file is refused while the running
 * generation keeps serving), and the per-connection state that sits
 * between a client socket and the HTTP/1.1 code.
 *
 * A connection's TLS never owns a buffer of its own: ciphertext read from
 * the socket is handed to OpenSSL from the worker's read buffer, plaintext
 * is decrypted into the worker's plaintext buffer, and ciphertext OpenSSL
 * writes is gathered in a per-thread buffer and offered to the socket at
 * once (tg_sink queues only what the socket does not take). With
 * SSL_MODE_RELEASE_BUFFERS an idle connection holds no record buffers. */
#ifndef TOLLGATE_TLS_H
#define TOLLGATE_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "tollgate/sink.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

/* One certificate of a site: a PEM chain and its key, and the DNS names it
 * covers (from subjectAltName, else the subject's CN). */
typedef struct tg_tls_cert {
  char *cert_file, *key_file;
  SSL_CTX *ctx; /* the site's options with this certificate */
  char **names; /* lower case; "*.example.com" for a wildcard */
  size_t nnames;
  int64_t not_after; /* Unix time the leaf expires */
} tg_tls_cert;

typedef struct tg_tls_conf {
  tg_tls_cert *certs; /* certs[0] serves a client that sends no SNI or an unknown name */
  size_t ncerts;
  int min_version;   /* TLS1_2_VERSION (default) or TLS1_3_VERSION */
  int auto_certs;    /* `tls auto`: certificates from ACME */
  char **auto_names; /* the names to obtain; the site's name when none given */
  size_t nauto;
  SSL_CTX *pending_ctx; /* `tls auto` without a certificate yet: serves only acme-tls/1 */
  int no_h2;            /* `http2 off;`: ALPN offers http/1.1 alone */
} tg_tls_conf;

/* Adds a certificate (loaded later by tg_tls_conf_build). Returns 0 or -1. */
int tg_tls_conf_add_cert(tg_tls_conf *t, const char *cert_file, const char *key_file);

/* Loads certificate i of t into an SSL_CTX with tollgate's defaults (TLS
 * 1.2 and 1.3, ECDHE with AEAD ciphers only, ALPN http/1.1, session
 * tickets under process-wide rotating keys). Returns 0, or -1 with what is
 * wrong ("cannot read certificate x.pem: No such file or directory") in err. */
int tg_tls_cert_build(tg_tls_conf *t, size_t i, char *err, size_t errlen);

/* For a `tls auto` site with no certificate yet: a context without one,
 * whose handshakes are refused at once (logged) except the CA's
 * TLS-ALPN-01 check. Returns 0, or -1 with err. */
int tg_tls_conf_build_pending(tg_tls_conf *t, char *err, size_t errlen);

void tg_tls_conf_free(tg_tls_conf *t);

/* --- ACME (tls-acme.c) --- */

/* From the ALPN callback: when in offers acme-tls/1, answers with the
 * TLS-ALPN-01 certificate of the challenge table for the server name
 * (SSL_TLSEXT_ERR_OK) or refuses (SSL_TLSEXT_ERR_ALERT_FATAL); -1 when
 * acme-tls/1 is not offered. */
int tg_tls_acme_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                     unsigned inlen);
/* The ClientHello callback (arg: the site's tg_tls_conf): a site with no
 * certificate fails the handshake at once, logged at most once a second,
 * unless the client offers acme-tls/1. */
int tg_tls_acme_client_hello(SSL *ssl, int *alert, void *arg);

/* Picks the certificate for a server name (exact, then a one-label
 * wildcard); NULL when none matches. */
const tg_tls_cert *tg_tls_cert_for(const tg_tls_conf *t, const char *name);

/* --- tollgate's own calls --- */

/* A client context for outgoing calls: TLS 1.2 or later, ALPN http/1.1, the
 * CA certificates of cafile (PEM; NULL: the system store), and peer
 * verification when verify (a failed check then fails the handshake).
 * Returns it, or NULL with a message in err. */
SSL_CTX *tg_tls_client_ctx(const char *cafile, int verify, char *err, size_t errlen);

/* --- one connection --- */

struct tg_sink;

typedef struct tg_tls_conn {
  tg_sink_codec codec; /* first: what the sink calls to encrypt (tollgate/sink.h) */
  SSL *ssl;
  struct tg_sink *sink; /* where ciphertext goes */
  const char *in;       /* ciphertext not yet taken by OpenSSL */
  size_t in_len;
  unsigned handshake_done : 1;
  unsigned shutdown_sent : 1;
  unsigned failed : 1;
  unsigned client : 1; /* our side dials: its handshakes are not the listeners' metrics */
} tg_tls_conn;

/* Starts the server side of a handshake for t. Returns 0 or -1. */
int tg_tls_conn_init(tg_tls_conn *tc, const tg_tls_conf *t, struct tg_sink *sink);

/* Starts the client side of a handshake with ctx (a client context; its
 * verify mode applies), asking for name (SNI, and the name the certificate
 * must carry: a DNS name or an IP address). The first tg_tls_conn_read
 * (n = 0 is fine) sends the ClientHello. Returns 0 or -1. */
int tg_tls_conn_init_client(tg_tls_conn *tc, SSL_CTX *ctx, const char *name, struct tg_sink *sink);

/* Frees what OpenSSL holds for the connection. */
void tg_tls_conn_free(tg_tls_conn *tc);

/* What tg_tls_conn_read returns besides a byte count. */
enum { TG_TLS_AGAIN = 0, TG_TLS_EOF = -1, TG_TLS_ERROR = -2 };

/* Gives OpenSSL the n ciphertext bytes just read, then decrypts into out
 * (cap bytes): call it again with n = 0 until it returns TG_TLS_AGAIN.
 * Returns plaintext bytes (> 0), TG_TLS_AGAIN when more ciphertext is
 * needed, TG_TLS_EOF on close_notify, TG_TLS_ERROR on a failed handshake
 * or record (the reason in *why). Whatever OpenSSL writes meanwhile
 * (handshake messages, tickets, alerts) goes to the sink. */
int tg_tls_conn_read(tg_tls_conn *tc, const char *data, size_t n, char *out, size_t cap, const char **why);

/* Encrypts the buffers into the sink's raw path, gathering small ones into
 * one record. Returns what the raw write returned (0 written, 1 queued,
 * < 0 error). */
int tg_tls_conn_writev(tg_tls_conn *tc, const uv_buf_t *bufs, unsigned n);

/* Sends close_notify once. */
void tg_tls_conn_shutdown(tg_tls_conn *tc);

/* Frees the calling thread's ciphertext buffer (a worker thread ends). */
void tg_tls_thread_done(void);

/* The protocol version of a finished handshake ("TLSv1.3"), for logs. */
const char *tg_tls_conn_version(const tg_tls_conn *tc);

/* What a client's finished handshake showed, for a caller that reports it
 * (tollgate doctor) or checks the certificate itself (tg_http_target). */
typedef struct tg_tls_peer {
  char version[16];    /* "TLSv1.3" */
  char cipher[64];     /* OpenSSL's name of the cipher suite */
  char subject[160];   /* the leaf certificate's, on one line; "" without one */
  char issuer[160];    /* likewise */
  long verify;         /* X509_V_OK, or why the certificate did not verify */
  long long secs_left; /* until the leaf's notAfter; negative once expired */
  unsigned has_cert : 1;
} tg_tls_peer;

/* Fills out from tc's finished handshake (a client's). */
void tg_tls_peer_read(const tg_tls_conn *tc, tg_tls_peer *out);

/* The cipher suite of a finished handshake ("TLS_AES_128_GCM_SHA256"), or
 * NULL before one. */
const char *tg_tls_conn_cipher(const tg_tls_conn *tc);
/* Whether the handshake chose HTTP/2 (ALPN h2). */
int tg_tls_conn_h2(const tg_tls_conn *tc);

#endif
