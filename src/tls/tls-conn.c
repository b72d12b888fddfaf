/* One TLS connection between a client socket and the HTTP/1.1 code
 * (tollgate/tls.h). OpenSSL talks to a BIO of ours: reads come from the
 * bytes the socket just delivered (no copy into a BIO buffer), writes are
 * gathered in a per-thread buffer and handed to the sink's raw path after
 * each OpenSSL call, so a connection owns no I/O buffer of its own. */
#include "tollgate/tls.h"

#include <pthread.h>
#include <stddef.h>
#include <string.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tollgate/buf.h"
#include "tollgate/metrics.h"
#include "tollgate/sink.h"

#define TLS_RECORD_MAX 16384
/* Records written during a handshake (conn_open). */
#define TLS_HANDSHAKE_RECORD_MAX 4096

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

/* Ciphertext OpenSSL wrote during the call under way on this thread. */
static _Thread_local tg_buf tls_out;
/* Small plaintext buffers gathered into one record. */
static _Thread_local char tls_gather[TLS_RECORD_MAX];

static int bio_write(BIO *b, const char *p, int n) {
  (void)b;
  if (n <= 0) return 0;
  return tg_buf_append(&tls_out, p, (size_t)n) < 0 ? -1 : n;
}

static int bio_read(BIO *b, char *p, int n) {
  tg_tls_conn *tc = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  if (tc->in_len == 0) {
    BIO_set_retry_read(b);
    return -1;
  }
  size_t k = (size_t)n < tc->in_len ? (size_t)n : tc->in_len;
  memcpy(p, tc->in, k);
  tc->in += k;
  tc->in_len -= k;
  return (int)k;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)b;
  (void)num;
  (void)ptr;
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b) {
  BIO_set_init(b, 1);
  return 1;
}

static void bio_method_init(void) {
  bio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "tollgate");
  if (!bio_method) return;
  BIO_meth_set_write(bio_method, bio_write);
  BIO_meth_set_read(bio_method, bio_read);
  BIO_meth_set_ctrl(bio_method, bio_ctrl);
  BIO_meth_set_create(bio_method, bio_create);
}

/* A sink's codec is the tg_tls_conn it belongs to (conn_encode, tg_client_tls). */
_Static_assert(offsetof(tg_tls_conn, codec) == 0, "the codec is a tg_tls_conn's first member");

static int conn_encode(const tg_sink_codec *codec, const uv_buf_t *bufs, unsigned n) {
  return tg_tls_conn_writev((tg_tls_conn *)codec, bufs, n); /* codec is its first member */
}

/* An SSL for ctx over our BIO, writing to sink (which encrypts through
 * conn_encode once its owner sets sink->codec). Returns 0 or -1. */
static int conn_open(tg_tls_conn *tc, SSL_CTX *ctx, tg_sink *sink) {
  memset(tc, 0, sizeof *tc);
  pthread_once(&bio_once, bio_method_init);
  if (!bio_method || !ctx) return -1;
  tc->sink = sink;
  tc->codec.encode = conn_encode;
  tc->ssl = SSL_new(ctx);
  BIO *b = tc->ssl ? BIO_new(bio_method) : NULL;
  if (!b) {
    SSL_free(tc->ssl);
    tc->ssl = NULL;
    return -1;
  }
  BIO_set_data(b, tc);
  SSL_set_bio(tc->ssl, b, b); /* one reference, for both directions */
  /* OpenSSL sizes its write buffer by the largest record: 4.4 KB instead of
   * 16.7 KB for the handshake's flights, so the hole each one leaves in the
   * heap among what the connection keeps is smaller (about 0.6 KB less RSS
   * per held stream, docs/benchmarks-tls.md). Full records once the
   * handshake is done (tg_tls_conn_read). */
  SSL_set_max_send_fragment(tc->ssl, TLS_HANDSHAKE_RECORD_MAX);
  return 0;
}

int tg_tls_conn_init(tg_tls_conn *tc, const tg_tls_conf *t, tg_sink *sink) {
  if (conn_open(tc, t->ncerts ? t->certs[0].ctx : t->pending_ctx, sink) < 0) return -1;
  SSL_set_accept_state(tc->ssl);
  return 0;
}

int tg_tls_conn_init_client(tg_tls_conn *tc, SSL_CTX *ctx, const char *name, tg_sink *sink) {
  if (conn_open(tc, ctx, sink) < 0) return -1;
  tc->client = 1;
  SSL_set_connect_state(tc->ssl);
  unsigned char bin[16];
  int ok;
  if (inet_pton(AF_INET, name, bin) == 1 || inet_pton(AF_INET6, name, bin) == 1) {
    ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(tc->ssl), name); /* no SNI for an address */
  } else {
    ok = SSL_set_tlsext_host_name(tc->ssl, name) == 1 && SSL_set1_host(tc->ssl, name) == 1;
  }
  if (ok == 1) return 0;
  tg_tls_conn_free(tc);
  return -1;
}

void tg_tls_conn_free(tg_tls_conn *tc) {
  SSL_free(tc->ssl);
  tc->ssl = NULL;
}

/* Hands what OpenSSL wrote to the socket (or the sink's queue). */
static int flush_out(tg_tls_conn *tc) {
  if (tls_out.len == 0) return 0;
  uv_buf_t b = uv_buf_init(tls_out.data, (unsigned)tls_out.len);
  int rc = tg_sink_writev_raw(tc->sink, &b, 1);
  tls_out.len = 0;
  if (tls_out.cap > 4 * TLS_RECORD_MAX) tg_buf_free(&tls_out); /* keep a thread's buffer small */
  return rc;
}

static int outcome(tg_tls_conn *tc, int r, const char **why) {
  int e = SSL_get_error(tc->ssl, r);
  if (e == SSL_ERROR_WANT_READ) return TG_TLS_AGAIN;
  if (e == SSL_ERROR_ZERO_RETURN) return TG_TLS_EOF;
  unsigned long code = ERR_peek_last_error();
  const char *reason = code ? ERR_reason_error_string(code) : NULL;
  *why = reason ? reason : "TLS protocol error";
  ERR_clear_error();
  tc->failed = 1;
  return TG_TLS_ERROR;
}

int tg_tls_conn_read(tg_tls_conn *tc, const char *data, size_t n, char *out, size_t cap, const char **why) {
  if (n) {
    tc->in = data;
    tc->in_len = n;
  }
  if (tc->failed) return TG_TLS_ERROR;
  /* Every byte handed over is decrypted and taken: another SSL_read would
   * only say so, at the cost of a record-layer pass per request. */
  if (n == 0 && tc->handshake_done && tc->in_len == 0 && SSL_pending(tc->ssl) == 0) return TG_TLS_AGAIN;
  if (!tc->handshake_done) {
    int r = SSL_do_handshake(tc->ssl);
    flush_out(tc);
    if (r != 1) {
      int rc = outcome(tc, r, why);
      if (rc == TG_TLS_ERROR && !tc->client) tg_metrics_tls_handshake(0, 0);
      return rc;
    }
    tc->handshake_done = 1;
    SSL_set_max_send_fragment(tc->ssl, TLS_RECORD_MAX);
    SSL_set_split_send_fragment(tc->ssl, TLS_RECORD_MAX); /* lowered with the first */
    if (!tc->client) tg_metrics_tls_handshake(1, SSL_session_reused(tc->ssl));
  }
  int r = SSL_read(tc->ssl, out, cap > INT32_MAX ? INT32_MAX : (int)cap);
  flush_out(tc);
  return r > 0 ? r : outcome(tc, r, why);
}

static int write_record(tg_tls_conn *tc, const char *p, size_t n) {
  if (SSL_write(tc->ssl, p, (int)n) > 0) return 0;
  ERR_clear_error();
  tc->failed = 1;
  return -1;
}

int tg_tls_conn_writev(tg_tls_conn *tc, const uv_buf_t *bufs, unsigned n) {
  if (tc->failed || !tc->handshake_done) return UV_EPIPE;
  size_t used = 0;
  int rc = 0;
  for (unsigned i = 0; i < n && rc == 0; i++) {
    size_t len = bufs[i].len;
    if (used + len <= sizeof tls_gather) {
      memcpy(tls_gather + used, bufs[i].base, len);
      used += len;
      continue;
    }
    if (used) rc = write_record(tc, tls_gather, used);
    used = 0;
    if (rc) break;
    if (len >= sizeof tls_gather) {
      rc = write_record(tc, bufs[i].base, len);
    } else {
      memcpy(tls_gather, bufs[i].base, len);
      used = len;
    }
  }
  if (rc == 0 && used) rc = write_record(tc, tls_gather, used);
  int w = flush_out(tc);
  return rc < 0 ? UV_EPROTO : w;
}

void tg_tls_conn_shutdown(tg_tls_conn *tc) {
  if (!tc->ssl || tc->shutdown_sent || tc->failed || !tc->handshake_done) return;
  tc->shutdown_sent = 1;
  SSL_shutdown(tc->ssl);
  ERR_clear_error();
  flush_out(tc);
}

int tg_tls_conn_h2(const tg_tls_conn *tc) {
  const unsigned char *p = NULL;
  unsigned n = 0;
  if (tc->ssl) SSL_get0_alpn_selected(tc->ssl, &p, &n);
  return n == 2 && memcmp(p, "h2", 2) == 0;
}

const char *tg_tls_conn_version(const tg_tls_conn *tc) { return tc->ssl ? SSL_get_version(tc->ssl) : ""; }

const char *tg_tls_conn_cipher(const tg_tls_conn *tc) {
  const SSL_CIPHER *c = tc->ssl ? SSL_get_current_cipher(tc->ssl) : NULL;
  return c ? SSL_CIPHER_get_name(c) : NULL;
}

void tg_tls_thread_done(void) { tg_buf_free(&tls_out); }
