/* The cryptography of ACME with OpenSSL 3: the ES256 (P-256)
 * account key, its JWK and RFC 7638 thumbprint, JWS in flattened JSON
 * (RFC 7515 section 7.2.2, RFC 8555 section 6.2), key authorizations, the
 * CSR for finalize, and the RFC 8737 TLS-ALPN-01 certificate. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "tollgate/acme.h"
#include "tollgate/buf.h"

/* ---- keys and JWK ---- */

/* A BIGNUM parameter of key as 32 big-endian bytes, base64url. */
static char *coord_b64(EVP_PKEY *key, const char *param) {
  BIGNUM *bn = NULL;
  unsigned char bin[32];
  char *out = NULL;
  if (EVP_PKEY_get_bn_param(key, param, &bn) == 1 && BN_bn2binpad(bn, bin, sizeof bin) == sizeof bin)
    out = tg_b64url(bin, sizeof bin);
  BN_free(bn);
  return out;
}

char *tg_acme_jwk(EVP_PKEY *key) {
  char *x = coord_b64(key, OSSL_PKEY_PARAM_EC_PUB_X), *y = coord_b64(key, OSSL_PKEY_PARAM_EC_PUB_Y);
  tg_buf b = {0};
  int rc = !x || !y || tg_buf_printf(&b, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", x, y) < 0 ||
           tg_buf_append(&b, "", 1) < 0;
  free(x);
  free(y);
  if (rc) tg_buf_free(&b);
  return rc ? NULL : b.data;
}

/* base64url(SHA-256(data)) into out (44 bytes). */
static int sha256_b64(const void *data, size_t n, char out[44]) {
  unsigned char md[32];
  unsigned int mdlen = 0;
  if (EVP_Digest(data, n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) return -1;
  char *s = tg_b64url(md, sizeof md);
  if (!s) return -1;
  memcpy(out, s, 44);
  free(s);
  return 0;
}

int tg_acme_jwk_thumbprint(const char *jwk_json, char out[44]) {
  static const char *const ec[] = {"crv", "kty", "x", "y", NULL};
  static const char *const rsa[] = {"e", "kty", "n", NULL};
  static const char *const okp[] = {"crv", "kty", "x", NULL};
  json_t *jwk = json_loads(jwk_json, 0, NULL), *canon = json_object();
  const char *kty = json_string_value(json_object_get(jwk, "kty"));
  const char *const *req = !kty                  ? NULL
                           : !strcmp(kty, "EC")  ? ec
                           : !strcmp(kty, "RSA") ? rsa
                           : !strcmp(kty, "OKP") ? okp
                                                 : NULL;
  char *text = NULL;
  int rc = -1;
  if (!req || !canon) goto out;
  for (size_t i = 0; req[i]; i++) {
    json_t *v = json_object_get(jwk, req[i]);
    if (!json_is_string(v) || json_object_set(canon, req[i], v) < 0) goto out;
  }
  text = json_dumps(canon, JSON_COMPACT | JSON_SORT_KEYS);
  if (text) rc = sha256_b64(text, strlen(text), out);
out:
  free(text);
  json_decref(canon);
  json_decref(jwk);
  return rc;
}

char *tg_acme_key_authorization(const char *token, const char *thumbprint) {
  size_t a = strlen(token), b = strlen(thumbprint);
  char *s = malloc(a + b + 2);
  if (!s) return NULL;
  memcpy(s, token, a);
  s[a] = '.';
  memcpy(s + a + 1, thumbprint, b + 1);
  return s;
}

/* ---- JWS ---- */

/* ES256 over data: the DER signature OpenSSL makes turned into r||s. */
static int es256_sign(EVP_PKEY *key, const char *data, size_t n, unsigned char rs[64]) {
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  unsigned char der[80];
  size_t derlen = sizeof der;
  ECDSA_SIG *sig = NULL;
  int rc = -1;
  if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
      EVP_DigestSign(md, der, &derlen, (const unsigned char *)data, n) != 1)
    goto out;
  const unsigned char *p = der;
  if (!(sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen))) goto out;
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig), rs, 32) == 32 && BN_bn2binpad(ECDSA_SIG_get0_s(sig), rs + 32, 32) == 32)
    rc = 0;
out:
  ECDSA_SIG_free(sig);
  EVP_MD_CTX_free(md);
  return rc;
}

static char *protected_header(EVP_PKEY *key, const char *kid, const char *nonce, const char *url) {
  json_t *h = json_pack("{s:s, s:s, s:s}", "alg", "ES256", "nonce", nonce, "url", url);
  char *out = NULL;
  if (!h) return NULL;
  if (kid) {
    if (json_object_set_new(h, "kid", json_string(kid)) < 0) goto out;
  } else {
    char *jwk = tg_acme_jwk(key);
    json_t *j = jwk ? json_loads(jwk, 0, NULL) : NULL;
    free(jwk);
    if (!j || json_object_set_new(h, "jwk", j) < 0) goto out;
  }
  out = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS);
out:
  json_decref(h);
  return out;
}

char *tg_acme_jws(EVP_PKEY *key, const char *kid, const char *nonce, const char *url, const char *payload) {
  char *hdr = protected_header(key, kid, nonce, url);
  char *h64 = hdr ? tg_b64url(hdr, strlen(hdr)) : NULL, *p64 = tg_b64url(payload, strlen(payload));
  char *s64 = NULL, *out = NULL;
  tg_buf input = {0}, jws = {0};
  unsigned char rs[64];
  if (!h64 || !p64 || tg_buf_printf(&input, "%s.%s", h64, p64) < 0) goto out;
  if (es256_sign(key, input.data, input.len, rs) < 0 || !(s64 = tg_b64url(rs, sizeof rs))) goto out;
  if (tg_buf_printf(&jws, "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}", h64, p64, s64) < 0 ||
      tg_buf_append(&jws, "", 1) < 0)
    goto out;
  out = jws.data;
  jws.data = NULL;
out:
  tg_buf_free(&jws);
  tg_buf_free(&input);
  free(hdr);
  free(h64);
  free(p64);
  free(s64);
  return out;
}

/* ---- CSR and certificates ---- */

/* subjectAltName with a dNSName per name. */
static X509_EXTENSION *san_extension(const char *const *names, size_t n) {
  GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
  X509_EXTENSION *ext = NULL;
  if (!gens) return NULL;
  for (size_t i = 0; i < n; i++) {
    GENERAL_NAME *g = GENERAL_NAME_new();
    ASN1_IA5STRING *s = ASN1_IA5STRING_new();
    if (!g || !s || ASN1_STRING_set(s, names[i], (int)strlen(names[i])) != 1) {
      GENERAL_NAME_free(g);
      ASN1_IA5STRING_free(s);
      goto out;
    }
    GENERAL_NAME_set0_value(g, GEN_DNS, s);
    if (!sk_GENERAL_NAME_push(gens, g)) {
      GENERAL_NAME_free(g);
      goto out;
    }
  }
  ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens);
out:
  GENERAL_NAMES_free(gens);
  return ext;
}

static int set_cn(X509_NAME *nm, const char *name) {
  /* A CN is at most 64 bytes (RFC 5280); a longer first name goes in the SANs only. */
  if (strlen(name) > 64) return 0;
  return X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)name, -1, -1, 0) == 1 ? 0 : -1;
}

char *tg_acme_csr(EVP_PKEY *key, const char *const *names, size_t n) {
  X509_REQ *req = X509_REQ_new();
  STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
  X509_EXTENSION *san = n ? san_extension(names, n) : NULL;
  unsigned char *der = NULL;
  char *out = NULL;
  if (!req || !exts || !san || !sk_X509_EXTENSION_push(exts, san)) goto out;
  san = NULL; /* the stack owns it */
  if (X509_REQ_set_version(req, 0) != 1 || set_cn(X509_REQ_get_subject_name(req), names[0]) < 0 ||
      X509_REQ_set_pubkey(req, key) != 1 || X509_REQ_add_extensions(req, exts) != 1 ||
      X509_REQ_sign(req, key, EVP_sha256()) <= 0)
    goto out;
  int len = i2d_X509_REQ(req, &der);
  if (len > 0) out = tg_b64url(der, (size_t)len);
out:
  OPENSSL_free(der);
  X509_EXTENSION_free(san);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  X509_REQ_free(req);
  return out;
}

/* The acmeIdentifier extension: critical, its value the DER of an OCTET
 * STRING holding SHA-256(key authorization) (RFC 8737 section 3). */
static X509_EXTENSION *acme_identifier(const char *key_authz) {
  unsigned char der[34] = {0x04, 0x20};
  unsigned int mdlen = 0;
  if (EVP_Digest(key_authz, strlen(key_authz), der + 2, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) return NULL;
  ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
  ASN1_OCTET_STRING *val = ASN1_OCTET_STRING_new();
  X509_EXTENSION *ext = NULL;
  if (oid && val && ASN1_OCTET_STRING_set(val, der, sizeof der) == 1)
    ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 1, val);
  ASN1_OBJECT_free(oid);
  ASN1_OCTET_STRING_free(val);
  return ext;
}

/* Serial, validity (a week around now) and names of a self-signed certificate. */
static int alpn_cert_fields(X509 *x, const char *name) {
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return -1;
  serial[0] &= 0x7f; /* a positive serial */
  BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
  int ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) && X509_set_version(x, 2) == 1 &&
           X509_gmtime_adj(X509_getm_notBefore(x), -86400) && X509_gmtime_adj(X509_getm_notAfter(x), 7 * 86400) &&
           set_cn(X509_get_subject_name(x), name) == 0 && X509_set_issuer_name(x, X509_get_subject_name(x)) == 1;
  BN_free(bn);
  return ok ? 0 : -1;
}

int tg_acme_alpn_cert(const char *name, const char *key_authz, X509 **cert, EVP_PKEY **key) {
  EVP_PKEY *k = tg_acme_key_new();
  X509 *x = X509_new();
  X509_EXTENSION *san = san_extension(&name, 1), *id = acme_identifier(key_authz);
  int rc = -1;
  if (!k || !x || !san || !id || alpn_cert_fields(x, name) < 0 || X509_set_pubkey(x, k) != 1 ||
      X509_add_ext(x, san, -1) != 1 || X509_add_ext(x, id, -1) != 1 || X509_sign(x, k, EVP_sha256()) <= 0)
    goto out;
  *cert = x;
  *key = k;
  x = NULL;
  k = NULL;
  rc = 0;
out:
  X509_EXTENSION_free(san);
  X509_EXTENSION_free(id);
  X509_free(x);
  EVP_PKEY_free(k);
  return rc;
}
