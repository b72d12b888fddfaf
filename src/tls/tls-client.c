/* Client contexts for the calls tollgate makes on its own behalf over TLS
 * (tollgate/tls.h): ACME today, `tollgate doctor` and health checks next. */
#include <stdio.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

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
