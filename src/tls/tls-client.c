/* Client contexts for the calls tollgate makes on its own behalf over TLS
 * (tollgate/tls.h): ACME and `tollgate doctor` today, health checks next;
 * and what a client's handshake showed. */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tollgate/tls.h"

SSL_CTX *tg_tls_client_ctx(const char *cafile, int verify, char *err, size_t errlen) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) {
    snprintf(err, errlen, "OpenSSL: cannot create a client context");
    return NULL;
  }
  SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
  /* A peer that closes without close_notify ends the response (HTTP's own
   * framing tells a cut answer), as every HTTPS client reads it. */
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  static const unsigned char alpn[] = "\x08http/1.1";
  int ok = SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 &&
           SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1) == 0;
  if (ok) ok = (cafile ? SSL_CTX_load_verify_locations(ctx, cafile, NULL) : SSL_CTX_set_default_verify_paths(ctx)) == 1;
  ERR_clear_error();
  if (ok) return ctx;
  snprintf(err, errlen, "cannot load CA certificates from %s", cafile ? cafile : "the system store");
  SSL_CTX_free(ctx);
  return NULL;
}

void tg_tls_peer_read(const tg_tls_conn *tc, tg_tls_peer *out) {
  memset(out, 0, sizeof *out);
  snprintf(out->version, sizeof out->version, "%s", SSL_get_version(tc->ssl));
  snprintf(out->cipher, sizeof out->cipher, "%s", SSL_get_cipher_name(tc->ssl));
  out->verify = SSL_get_verify_result(tc->ssl); /* computed under SSL_VERIFY_NONE too */
  X509 *cert = SSL_get1_peer_certificate(tc->ssl);
  if (!cert) return;
  out->has_cert = 1;
  X509_NAME_oneline(X509_get_subject_name(cert), out->subject, sizeof out->subject);
  X509_NAME_oneline(X509_get_issuer_name(cert), out->issuer, sizeof out->issuer);
  int days = 0, secs = 0;
  if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(cert))) out->secs_left = days * 86400LL + secs;
  X509_free(cert);
}
