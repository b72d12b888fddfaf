/* The certificates of TLS sites and their SSL_CTXs (tollgate/tls.h):
 * loading, names for SNI, the protocol and cipher defaults, ALPN, and
 * session tickets under process-wide keys that rotate, so that a ticket
 * issued by one worker (or before a reload) resumes on any other. */
#include "tollgate/tls.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* TLS 1.2: forward-secret key exchange and AEAD ciphers only (Mozilla's
 * "intermediate" list without DHE); TLS 1.3 keeps OpenSSL's suites. */
static const char tls12_ciphers[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
static const char groups[] = "X25519:P-256:P-384";

/* ---- session ticket keys ---- */

#define TICKET_ROTATE_S (12 * 3600)

/* A session (and the ticket that carries it) lives as long as the key that
 * issued it is sure to last: a key issues tickets for 12 h and opens them
 * for 12 h more, so a ticket issued just before a rotation can still be
 * opened 12 h later, and never longer. OpenSSL's default is 7,200 s; the
 * ticket lifetime hint a client receives follows this value. */
#define SESSION_LIFETIME_S TICKET_ROTATE_S

typedef struct ticket_key {
  unsigned char name[16], aes[32], hmac[32];
} ticket_key;

/* The current key issues tickets; the previous one still opens them (and
 * asks for a fresh ticket), so a key opens tickets 12 to 24 hours after it
 * issued them; the session inside expires after SESSION_LIFETIME_S. */
static struct {
  pthread_mutex_t mu;
  ticket_key cur, prev;
  int have_prev;
  time_t rotated;
} tk = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int ticket_keys_get(ticket_key *cur, ticket_key *prev, int *have_prev) {
  int rc = 0;
  pthread_mutex_lock(&tk.mu);
  time_t now = time(NULL);
  if (tk.rotated == 0 || now - tk.rotated >= TICKET_ROTATE_S) {
    ticket_key k;
    if (RAND_bytes((unsigned char *)&k, sizeof k) == 1) {
      if (tk.rotated) {
        tk.prev = tk.cur;
        tk.have_prev = 1;
      }
      tk.cur = k;
      tk.rotated = now;
      OPENSSL_cleanse(&k, sizeof k);
    } else if (!tk.rotated) {
      rc = -1;
    }
  }
  *cur = tk.cur;
  *prev = tk.prev;
  *have_prev = tk.have_prev;
  pthread_mutex_unlock(&tk.mu);
  return rc;
}

static int ticket_setup(const ticket_key *k, unsigned char *iv, EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc) {
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac, sizeof k->hmac),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
      OSSL_PARAM_construct_end(),
  };
  if (!EVP_MAC_CTX_set_params(hctx, params)) return -1;
  return EVP_CipherInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv, enc) ? 0 : -1;
}

/* OpenSSL's ticket callback: 1 use this key, 2 it opened but renew the
 * ticket, 0 unknown key (a full handshake), -1 error. */
static int ticket_cb(SSL *s, unsigned char key_name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx,
                     int enc) {
  (void)s;
  ticket_key cur, prev;
  int have_prev, rc = 1;
  if (ticket_keys_get(&cur, &prev, &have_prev) < 0) return -1;
  const ticket_key *k = &cur;
  if (enc) {
    memcpy(key_name, cur.name, sizeof cur.name);
    if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1) rc = -1;
  } else if (memcmp(key_name, cur.name, sizeof cur.name) != 0) {
    if (have_prev && memcmp(key_name, prev.name, sizeof prev.name) == 0) {
      k = &prev;
      rc = 2;
    } else {
      rc = 0;
    }
  }
  if (rc > 0 && ticket_setup(k, iv, cctx, hctx, enc) < 0) rc = -1;
  OPENSSL_cleanse(&cur, sizeof cur);
  OPENSSL_cleanse(&prev, sizeof prev);
  return rc;
}

/* ---- names ---- */

static int name_matches(const char *pattern, const char *name) {
  if (strcasecmp(pattern, name) == 0) return 1;
  if (pattern[0] != '*' || pattern[1] != '.') return 0;
  const char *dot = strchr(name, '.'); /* a wildcard covers exactly one label */
  return dot && dot != name && strcasecmp(pattern + 1, dot) == 0;
}

const tg_tls_cert *tg_tls_cert_for(const tg_tls_conf *t, const char *name) {
  for (int wild = 0; wild < 2; wild++)
    for (size_t i = 0; i < t->ncerts; i++)
      for (size_t k = 0; k < t->certs[i].nnames; k++) {
        const char *p = t->certs[i].names[k];
        if ((p[0] == '*') == wild && name_matches(p, name)) return &t->certs[i];
      }
  return NULL;
}

static int add_name(tg_tls_cert *c, const char *s, size_t n) {
  char **grown = realloc(c->names, (c->nnames + 1) * sizeof *grown);
  if (!grown) return -1;
  c->names = grown;
  char *d = strndup(s, n);
  if (!d) return -1;
  for (char *p = d; *p; p++) *p = (char)tolower((unsigned char)*p);
  c->names[c->nnames++] = d;
  return 0;
}

/* The leaf's DNS names (subjectAltName, else the CN) and its expiry. */
static int cert_read_names(tg_tls_cert *c, X509 *x) {
  GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
  int rc = 0;
  for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens) && rc == 0; i++) {
    const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
    if (g->type != GEN_DNS) continue;
    const ASN1_STRING *s = g->d.dNSName;
    rc = add_name(c, (const char *)ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
  }
  GENERAL_NAMES_free(gens);
  if (rc == 0 && c->nnames == 0) {
    char cn[256];
    int n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn);
    if (n > 0) rc = add_name(c, cn, (size_t)n);
  }
  struct tm tm;
  if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm)) c->not_after = (int64_t)timegm(&tm);
  return rc;
}

/* ---- contexts ---- */

/* The offset of proto (len bytes) in an ALPN list, or -1. */
static long alpn_offer(const unsigned char *in, unsigned inlen, const char *proto, unsigned len) {
  for (unsigned i = 0; i < inlen;) {
    unsigned n = in[i];
    if (i + 1 + n > inlen) break;
    if (n == len && memcmp(in + i + 1, proto, len) == 0) return (long)i + 1;
    i += 1 + n;
  }
  return -1;
}

/* h2 when the client offers it and the site serves it (the server's
 * preference, as nginx), else http/1.1. */
static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in, unsigned inlen,
                   void *arg) {
  const tg_tls_conf *t = arg;
  int acme = tg_tls_acme_alpn(ssl, out, outlen, in, inlen); /* the CA's TLS-ALPN-01 check */
  if (acme >= 0) return acme;
  long at = t->no_h2 ? -1 : alpn_offer(in, inlen, "h2", 2);
  unsigned len = 2;
  if (at < 0) at = alpn_offer(in, inlen, "http/1.1", len = 8);
  if (at < 0) return SSL_TLSEXT_ERR_NOACK; /* neither offered: no ALPN, HTTP/1.1 */
  *out = in + at;
  *outlen = (unsigned char)len;
  return SSL_TLSEXT_ERR_OK;
}

/* SNI: switch to the certificate for the name; an unknown name or none
 * gets certs[0], as nginx serves its default server's certificate. */
static int sni_cb(SSL *ssl, int *alert, void *arg) {
  (void)alert;
  const tg_tls_conf *t = arg;
  const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  const tg_tls_cert *c = name ? tg_tls_cert_for(t, name) : NULL;
  if (c && c->ctx != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, c->ctx);
  return SSL_TLSEXT_ERR_OK;
}

static void openssl_reason(char *err, size_t errlen, const char *what) {
  unsigned long e = ERR_peek_last_error();
  const char *r = e ? ERR_reason_error_string(e) : NULL;
  snprintf(err, errlen, "%s: %s", what, r ? r : "not a valid PEM file");
  ERR_clear_error();
}

static SSL_CTX *ctx_new(const tg_tls_conf *t) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return NULL;
  int ok = SSL_CTX_set_min_proto_version(ctx, t->min_version ? t->min_version : TLS1_2_VERSION) &&
           SSL_CTX_set_cipher_list(ctx, tls12_ciphers) && SSL_CTX_set1_groups_list(ctx, groups);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF); /* stateless: tickets only */
  SSL_CTX_set_num_tickets(ctx, 1);
  SSL_CTX_set_timeout(ctx, SESSION_LIFETIME_S);
  SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"tollgate", 8);
  SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
  SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, (void *)t);
  SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
  SSL_CTX_set_tlsext_servername_arg(ctx, (void *)t);
  SSL_CTX_set_client_hello_cb(ctx, tg_tls_acme_client_hello, (void *)t);
  if (!ok) {
    SSL_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

static int file_readable(const char *path, char *err, size_t errlen, const char *what) {
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, errlen, "cannot read %s %s: %s", what, path, strerror(errno));
    return -1;
  }
  fclose(f);
  return 0;
}

static int cert_load(const tg_tls_conf *t, tg_tls_cert *c, char *err, size_t errlen) {
  char what[600];
  if (file_readable(c->cert_file, err, errlen, "certificate") < 0 || file_readable(c->key_file, err, errlen, "key") < 0)
    return -1;
  if (!(c->ctx = ctx_new(t))) {
    openssl_reason(err, errlen, "cannot set up TLS");
    return -1;
  }
  if (SSL_CTX_use_certificate_chain_file(c->ctx, c->cert_file) != 1) {
    snprintf(what, sizeof what, "cannot load certificate %s", c->cert_file);
    openssl_reason(err, errlen, what);
    goto fail;
  }
  if (SSL_CTX_use_PrivateKey_file(c->ctx, c->key_file, SSL_FILETYPE_PEM) != 1) {
    if (ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH) {
      snprintf(what, sizeof what, "cannot load key %s", c->key_file);
      openssl_reason(err, errlen, what);
      goto fail;
    }
    snprintf(err, errlen, "the key in %s does not match the certificate in %s", c->key_file, c->cert_file);
    ERR_clear_error();
    goto fail;
  }
  if (SSL_CTX_check_private_key(c->ctx) != 1) {
    snprintf(err, errlen, "the key in %s does not match the certificate in %s", c->key_file, c->cert_file);
    ERR_clear_error();
    goto fail;
  }
  if (cert_read_names(c, SSL_CTX_get0_certificate(c->ctx)) < 0) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  return 0;
fail:
  SSL_CTX_free(c->ctx);
  c->ctx = NULL;
  return -1;
}

int tg_tls_conf_add_cert(tg_tls_conf *t, const char *cert_file, const char *key_file) {
  tg_tls_cert *grown = realloc(t->certs, (t->ncerts + 1) * sizeof *grown);
  if (!grown) return -1;
  t->certs = grown;
  tg_tls_cert *c = &t->certs[t->ncerts];
  memset(c, 0, sizeof *c);
  c->cert_file = strdup(cert_file);
  c->key_file = strdup(key_file);
  t->ncerts++;
  return c->cert_file && c->key_file ? 0 : -1;
}

int tg_tls_cert_build(tg_tls_conf *t, size_t i, char *err, size_t errlen) {
  return t->certs[i].ctx ? 0 : cert_load(t, &t->certs[i], err, errlen);
}

int tg_tls_conf_build_pending(tg_tls_conf *t, char *err, size_t errlen) {
  if (t->pending_ctx) return 0;
  if ((t->pending_ctx = ctx_new(t))) return 0;
  openssl_reason(err, errlen, "cannot set up TLS");
  return -1;
}

void tg_tls_conf_free(tg_tls_conf *t) {
  if (!t) return;
  SSL_CTX_free(t->pending_ctx);
  for (size_t i = 0; i < t->ncerts; i++) {
    tg_tls_cert *c = &t->certs[i];
    SSL_CTX_free(c->ctx);
    free(c->cert_file);
    free(c->key_file);
    for (size_t k = 0; k < c->nnames; k++) free(c->names[k]);
    free(c->names);
  }
  free(t->certs);
  for (size_t i = 0; i < t->nauto; i++) free(t->auto_names[i]);
  free(t->auto_names);
  free(t);
}
