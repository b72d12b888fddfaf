/* The TLS listener's side of ACME (tollgate/tls.h): TLS-ALPN-01 answered
 * when a client offers the ALPN protocol acme-tls/1 (RFC 8737
 * section 3) with the challenge certificate for its server name, and a
 * `tls auto` site that has no certificate yet refusing other handshakes at
 * once, with a log line, instead of leaving the client to time out. */
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include <openssl/ssl.h>
#include <openssl/tls1.h>

#include "tollgate/access-log.h"
#include "tollgate/acme.h"
#include "tollgate/tls.h"

#define ACME_TLS_ALPN "acme-tls/1"

/* Finds proto in an ALPN list (length-prefixed names); its offset, or -1. */
static long alpn_find(const unsigned char *in, size_t inlen, const char *proto) {
  size_t plen = strlen(proto);
  for (size_t i = 0; i < inlen;) {
    size_t len = in[i];
    if (i + 1 + len > inlen) break;
    if (len == plen && memcmp(in + i + 1, proto, plen) == 0) return (long)i + 1;
    i += 1 + len;
  }
  return -1;
}

int tg_tls_acme_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                     unsigned inlen) {
  long at = alpn_find(in, inlen, ACME_TLS_ALPN);
  if (at < 0) return -1;
  const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  X509 *cert = NULL;
  EVP_PKEY *key = NULL;
  int ok = name && tg_acme_alpn_lookup(name, &cert, &key) == 0 && SSL_use_certificate(ssl, cert) == 1 &&
           SSL_use_PrivateKey(ssl, key) == 1;
  X509_free(cert);
  EVP_PKEY_free(key);
  if (!ok) return SSL_TLSEXT_ERR_ALERT_FATAL; /* acme-tls/1 for a name with no challenge under way */
  *out = in + at;
  *outlen = (unsigned char)strlen(ACME_TLS_ALPN);
  return SSL_TLSEXT_ERR_OK;
}

/* The server name of the ClientHello under way into out ("" for none). */
static void hello_server_name(SSL *ssl, char *out, size_t cap) {
  const unsigned char *p;
  size_t len;
  out[0] = 0;
  /* server_name_list length (2), name_type (1) host_name = 0, length (2), name */
  if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len) || len < 5 || p[2] != 0) return;
  size_t n = (size_t)p[3] << 8 | p[4];
  if (n > len - 5 || n >= cap) return;
  for (size_t i = 0; i < n; i++) out[i] = (p[5 + i] > ' ' && p[5 + i] < 0x7f) ? (char)p[5 + i] : '?';
  out[n] = 0;
}

static int hello_offers_acme(SSL *ssl) {
  const unsigned char *p;
  size_t len;
  if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &p, &len) || len < 2)
    return 0;
  return alpn_find(p + 2, len - 2, ACME_TLS_ALPN) >= 0;
}

int tg_tls_acme_client_hello(SSL *ssl, int *alert, void *arg) {
  const tg_tls_conf *t = arg;
  if (t->ncerts || hello_offers_acme(ssl)) return SSL_CLIENT_HELLO_SUCCESS;
  /* One line a second at most: a client retrying in a loop must not flood the log. */
  static _Atomic long last;
  long now = (long)time(NULL), seen = atomic_load(&last);
  if (now != seen && atomic_compare_exchange_strong(&last, &seen, now)) {
    char name[256];
    hello_server_name(ssl, name, sizeof name);
    tg_log_warn("tls: handshake for %s refused: no certificate yet (tls auto: ACME is obtaining one)",
                name[0] ? name : "a client without SNI");
  }
  *alert = SSL_AD_UNRECOGNIZED_NAME;
  return SSL_CLIENT_HELLO_ERROR;
}
