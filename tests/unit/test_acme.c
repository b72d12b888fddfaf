/* Tests for src/acme/ and src/tls/acme*.c: base64url, the JWK thumbprint against RFC
 * 7638's example, JWS verified with OpenSSL against the JWK's public key,
 * the CSR parsed back, key authorizations, the RFC 8737 certificate, the
 * store (round trip, modes, renewal point), the CA's JSON, the challenge
 * table, and the acme config block. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "tg_test.h"
#include "tollgate/acme.h"
#include "tollgate/tls.h"

void tg_suite_acme(void);

/* ---- helpers ---- */

/* The base64url member key of obj, decoded into out. */
static long member_b64(json_t *obj, const char *key, unsigned char *out, size_t cap) {
  const char *s = json_string_value(json_object_get(obj, key));
  return s ? tg_b64url_decode(s, strlen(s), out, cap) : -1;
}

/* A P-256 public key from a JWK's x and y, as a verifier would build it. */
static EVP_PKEY *key_from_jwk(json_t *jwk) {
  unsigned char pub[65] = {0x04};
  if (member_b64(jwk, "x", pub + 1, 32) != 32 || member_b64(jwk, "y", pub + 33, 32) != 32) return NULL;
  OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0);
  OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub);
  OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(b);
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
  EVP_PKEY *k = NULL;
  if (ctx && EVP_PKEY_fromdata_init(ctx) == 1) EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params);
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(b);
  return k;
}

/* Verifies an ES256 r||s signature over data with key. 1 when valid. */
static int es256_verify(EVP_PKEY *key, const char *data, const unsigned char rs[64]) {
  ECDSA_SIG *sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(sig, BN_bin2bn(rs, 32, NULL), BN_bin2bn(rs + 32, 32, NULL));
  unsigned char *der = NULL;
  int len = i2d_ECDSA_SIG(sig, &der);
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  int ok = len > 0 && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
           EVP_DigestVerify(md, der, (size_t)len, (const unsigned char *)data, strlen(data)) == 1;
  EVP_MD_CTX_free(md);
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
  return ok;
}

static json_t *decode_json_member(json_t *obj, const char *key) {
  unsigned char buf[2048];
  long n = member_b64(obj, key, buf, sizeof buf);
  return n < 0 ? NULL : json_loadb((const char *)buf, (size_t)n, 0, NULL);
}

static char g_dir[256];

static const char *tmp_store(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/tg-acme-unit-XXXXXX");
  return mkdtemp(g_dir);
}

static void rm_rf(const char *dir) {
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "  (could not remove %s)\n", dir);
}

/* A certificate for names signed by key itself, valid from nb to na. */
static char *self_signed_pem(EVP_PKEY *key, const char *const *names, size_t n, time_t nb, time_t na) {
  X509 *x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
  ASN1_TIME_set(X509_getm_notBefore(x), nb);
  ASN1_TIME_set(X509_getm_notAfter(x), na);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)names[0], -1, -1, 0);
  X509_set_issuer_name(x, X509_get_subject_name(x));
  X509_set_pubkey(x, key);
  char san[512] = "";
  for (size_t i = 0; i < n; i++)
    snprintf(san + strlen(san), sizeof san - strlen(san), "%sDNS:%s", i ? "," : "", names[i]);
  X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
  X509_add_ext(x, e, -1);
  X509_EXTENSION_free(e);
  X509_sign(x, key, EVP_sha256());
  BIO *b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, x);
  char *p;
  long len = BIO_get_mem_data(b, &p);
  char *out = strndup(p, (size_t)len);
  BIO_free(b);
  X509_free(x);
  return out;
}

/* ---- base64url, JWK, JWS ---- */

static void test_b64url(void) {
  char *s = tg_b64url("\xfb\xff\xfe", 3);
  TG_CHECK_STR(s, "-__-");
  free(s);
  s = tg_b64url("ab", 2);
  TG_CHECK_STR(s, "YWI");
  unsigned char out[8];
  TG_CHECK(tg_b64url_decode(s, strlen(s), out, sizeof out) == 2 && memcmp(out, "ab", 2) == 0);
  free(s);
  TG_CHECK(tg_b64url_decode("YW=", 3, out, sizeof out) == -1);
  TG_CHECK(tg_b64url_decode("Y", 1, out, sizeof out) == -1);
  TG_CHECK(tg_b64url_decode("YWJ", 3, out, 1) == -1); /* does not fit */
}

static void test_thumbprint_rfc7638(void) {
  /* RFC 7638 section 3.1: the RSA key and its thumbprint. */
  static const char jwk[] =
      "{\"kty\":\"RSA\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
      "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
      "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-"
      "bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw\","
      "\"e\":\"AQAB\",\"alg\":\"RS256\",\"kid\":\"2011-04-29\"}";
  char tp[44];
  TG_CHECK(tg_acme_jwk_thumbprint(jwk, tp) == 0);
  TG_CHECK_STR(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  TG_CHECK(tg_acme_jwk_thumbprint("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\"}", tp) == -1); /* no y */
  TG_CHECK(tg_acme_jwk_thumbprint("{\"kty\":\"oct\",\"k\":\"AA\"}", tp) == -1);
  TG_CHECK(tg_acme_jwk_thumbprint("not json", tp) == -1);
}

static void test_jwk_of_key(void) {
  EVP_PKEY *k = tg_acme_key_new();
  char *jwk = tg_acme_jwk(k);
  TG_CHECK(jwk && strncmp(jwk, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"", 31) == 0);
  json_t *j = json_loads(jwk, 0, NULL);
  EVP_PKEY *pub = key_from_jwk(j);
  TG_CHECK(pub && EVP_PKEY_eq(pub, k) == 1); /* the JWK is the key's public half */
  char tp1[44], tp2[44];
  TG_CHECK(tg_acme_jwk_thumbprint(jwk, tp1) == 0 && strlen(tp1) == 43);
  json_object_set_new(j, "use", json_string("sig")); /* members beyond the required ones do not count */
  char *more = json_dumps(j, JSON_INDENT(1));
  TG_CHECK(tg_acme_jwk_thumbprint(more, tp2) == 0);
  TG_CHECK_STR(tp1, tp2);
  free(more);
  json_decref(j);
  EVP_PKEY_free(pub);
  free(jwk);
  EVP_PKEY_free(k);
}

static void test_jws_verifies(void) {
  EVP_PKEY *k = tg_acme_key_new();
  char *jws = tg_acme_jws(k, NULL, "nonce-1", "https://ca.test/new-acct", "{\"termsOfServiceAgreed\":true}");
  json_t *j = jws ? json_loads(jws, 0, NULL) : NULL;
  TG_CHECK(j && json_object_size(j) == 3);
  json_t *hdr = decode_json_member(j, "protected");
  TG_CHECK(hdr != NULL);
  TG_CHECK_STR(json_string_value(json_object_get(hdr, "alg")), "ES256");
  TG_CHECK_STR(json_string_value(json_object_get(hdr, "nonce")), "nonce-1");
  TG_CHECK_STR(json_string_value(json_object_get(hdr, "url")), "https://ca.test/new-acct");
  TG_CHECK(json_object_get(hdr, "kid") == NULL);
  EVP_PKEY *pub = key_from_jwk(json_object_get(hdr, "jwk")); /* verify with what the CA sees */
  unsigned char rs[80];
  TG_CHECK(pub && member_b64(j, "signature", rs, sizeof rs) == 64);
  char input[4096];
  snprintf(input, sizeof input, "%s.%s", json_string_value(json_object_get(j, "protected")),
           json_string_value(json_object_get(j, "payload")));
  TG_CHECK(es256_verify(pub, input, rs));
  rs[5] ^= 1;
  TG_CHECK(!es256_verify(pub, input, rs));
  json_t *payload = decode_json_member(j, "payload");
  TG_CHECK(json_is_true(json_object_get(payload, "termsOfServiceAgreed")));
  json_decref(payload);
  json_decref(hdr);
  json_decref(j);
  free(jws);
  /* with a kid, and POST-as-GET: no jwk, an empty payload */
  jws = tg_acme_jws(k, "https://ca.test/acct/1", "n2", "https://ca.test/order/1", "");
  j = jws ? json_loads(jws, 0, NULL) : NULL;
  hdr = decode_json_member(j, "protected");
  TG_CHECK(hdr && json_object_get(hdr, "jwk") == NULL);
  TG_CHECK_STR(json_string_value(json_object_get(hdr, "kid")), "https://ca.test/acct/1");
  TG_CHECK_STR(json_string_value(json_object_get(j, "payload")), "");
  snprintf(input, sizeof input, "%s.", json_string_value(json_object_get(j, "protected")));
  TG_CHECK(member_b64(j, "signature", rs, sizeof rs) == 64 && es256_verify(pub, input, rs));
  json_decref(hdr);
  json_decref(j);
  free(jws);
  EVP_PKEY_free(pub);
  EVP_PKEY_free(k);
}

static void test_key_authorization(void) {
  char *ka = tg_acme_key_authorization("evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA",
                                       "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  TG_CHECK_STR(ka, "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  free(ka);
}

/* ---- CSR and the ALPN certificate ---- */

static void test_csr_parses_back(void) {
  EVP_PKEY *k = tg_acme_key_new();
  const char *names[] = {"a.test", "www.a.test", "b.test"};
  char *csr = tg_acme_csr(k, names, 3);
  unsigned char der[4096];
  long n = csr ? tg_b64url_decode(csr, strlen(csr), der, sizeof der) : -1;
  TG_CHECK(n > 0);
  const unsigned char *p = der;
  X509_REQ *req = d2i_X509_REQ(NULL, &p, n);
  TG_CHECK(req && X509_REQ_verify(req, k) == 1);
  char cn[64];
  TG_CHECK(X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName, cn, sizeof cn) > 0);
  TG_CHECK_STR(cn, "a.test");
  STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
  GENERAL_NAMES *sans = NULL;
  for (int i = 0; i < sk_X509_EXTENSION_num(exts) && !sans; i++) {
    X509_EXTENSION *e = sk_X509_EXTENSION_value(exts, i);
    if (OBJ_obj2nid(X509_EXTENSION_get_object(e)) == NID_subject_alt_name) sans = X509V3_EXT_d2i(e);
  }
  TG_CHECK(sans && sk_GENERAL_NAME_num(sans) == 3);
  for (int i = 0; i < 3; i++) {
    GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
    TG_CHECK(g->type == GEN_DNS);
    TG_CHECK_STR((const char *)ASN1_STRING_get0_data(g->d.dNSName), names[i]);
  }
  GENERAL_NAMES_free(sans);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  X509_REQ_free(req);
  free(csr);
  EVP_PKEY_free(k);
}

static void test_alpn_cert(void) {
  X509 *x = NULL;
  EVP_PKEY *k = NULL;
  const char *ka = "token.thumb";
  TG_CHECK(tg_acme_alpn_cert("a.test", ka, &x, &k) == 0);
  TG_CHECK(X509_verify(x, k) == 1 && X509_check_private_key(x, k) == 1);
  TG_CHECK(X509_check_host(x, "a.test", 0, 0, NULL) == 1);
  ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
  int i = X509_get_ext_by_OBJ(x, oid, -1);
  ASN1_OBJECT_free(oid);
  TG_CHECK(i >= 0);
  X509_EXTENSION *e = X509_get_ext(x, i);
  TG_CHECK(X509_EXTENSION_get_critical(e) == 1);
  ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(e);
  unsigned char want[34] = {0x04, 0x20};
  SHA256((const unsigned char *)ka, strlen(ka), want + 2);
  TG_CHECK(ASN1_STRING_length(v) == 34 && memcmp(ASN1_STRING_get0_data(v), want, 34) == 0);
  X509_free(x);
  EVP_PKEY_free(k);
}

/* ---- the store ---- */

static void test_store_account(void) {
  const char *dir = tmp_store();
  char err[300], path[400];
  struct stat st;
  TG_CHECK(dir && tg_acme_store_open(dir, err, sizeof err) == 0);
  EVP_PKEY *k1 = tg_acme_store_account_key(dir, err, sizeof err);
  snprintf(path, sizeof path, "%s/account.key", dir);
  TG_CHECK(k1 && stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
  EVP_PKEY *k2 = tg_acme_store_account_key(dir, err, sizeof err); /* loaded, not made again */
  TG_CHECK(k2 && EVP_PKEY_eq(k1, k2) == 1);
  TG_CHECK(tg_acme_store_account_url(dir, "https://ca.test/dir") == NULL);
  TG_CHECK(tg_acme_store_set_account_url(dir, "https://ca.test/dir", "https://ca.test/acct/7") == 0);
  TG_CHECK(tg_acme_store_set_account_url(dir, "https://other.test/dir", "https://other.test/a/1") == 0);
  char *u = tg_acme_store_account_url(dir, "https://ca.test/dir");
  TG_CHECK_STR(u, "https://ca.test/acct/7");
  free(u);
  EVP_PKEY_free(k1);
  EVP_PKEY_free(k2);
  rm_rf(dir);
}

static void test_store_cert_round_trip(void) {
  const char *dir = tmp_store();
  char err[300], path[400];
  const char *names[] = {"a.test", "www.a.test"};
  tg_acme_names set = {(char **)names, 2};
  EVP_PKEY *k = tg_acme_key_new(), *other = tg_acme_key_new();
  time_t now = time(NULL), nb = now - 3600, na = nb + 90 * 86400;
  char *pem = self_signed_pem(k, names, 2, nb, na);
  tg_acme_cert_state cs;
  TG_CHECK(tg_acme_store_check(dir, &set, now, &cs) == 0 && !cs.present);
  TG_CHECK(tg_acme_store_save(dir, &set, pem, strlen(pem), other, err, sizeof err) == -1); /* not its key */
  TG_CHECK(tg_acme_store_save(dir, &set, pem, strlen(pem), k, err, sizeof err) == 0);
  struct stat st;
  TG_CHECK(tg_acme_store_path(dir, &set, "key.pem", path, sizeof path) == 0);
  TG_CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
  TG_CHECK(tg_acme_store_check(dir, &set, now, &cs) == 1);
  TG_CHECK(cs.present && cs.covers && cs.valid && cs.not_before == nb && cs.not_after == na);
  TG_CHECK(cs.renew_at == nb + 60 * 86400);
  TG_CHECK(tg_acme_store_check(dir, &set, nb + 60 * 86400, &cs) == 0 && cs.valid); /* due for renewal */
  TG_CHECK(tg_acme_store_check(dir, &set, na + 1, &cs) == 0 && !cs.valid);         /* expired */
  const char *more[] = {"a.test", "api.a.test"};
  tg_acme_names wider = {(char **)more, 2};
  TG_CHECK(tg_acme_store_check(dir, &wider, now, &cs) == 0 && cs.present && !cs.covers);
  free(pem);
  EVP_PKEY_free(k);
  EVP_PKEY_free(other);
  rm_rf(dir);
}

static void test_renew_at(void) {
  TG_CHECK(tg_acme_renew_at(0, 90 * 86400) == 60 * 86400);
  TG_CHECK(tg_acme_renew_at(1000, 1030) == 1020);
  TG_CHECK(tg_acme_renew_at(1000, 900) == 1000);
}

/* ---- what the CA sends ---- */

static void test_problem_text(void) {
  char out[400], type[64];
  const char *p = "{\"type\":\"urn:ietf:params:acme:error:connection\",\"detail\":\"127.0.0.1: Fetching "
                  "http://a.test:5002/.well-known/acme-challenge/x: Connection refused\",\"status\":400}";
  TG_CHECK(tg_acme_problem_text(p, strlen(p), out, sizeof out, type, sizeof type) == 0);
  TG_CHECK_STR(type, "connection");
  TG_CHECK_STR(out, "the CA could not connect: 127.0.0.1: Fetching http://a.test:5002/.well-known/acme-challenge/x: "
                    "Connection refused");
  p = "{\"type\":\"urn:ietf:params:acme:error:badNonce\",\"detail\":\"JWS has an invalid anti-replay nonce\"}";
  TG_CHECK(tg_acme_problem_text(p, strlen(p), out, sizeof out, type, sizeof type) == 0);
  TG_CHECK_STR(type, "badNonce");
  p = "{\"type\":\"urn:ietf:params:acme:error:rejectedIdentifier\",\"detail\":\"some names refused\","
      "\"subproblems\":[{\"type\":\"urn:ietf:params:acme:error:rejectedIdentifier\",\"detail\":\"blocked\","
      "\"identifier\":{\"type\":\"dns\",\"value\":\"b.test\"}}]}";
  TG_CHECK(tg_acme_problem_text(p, strlen(p), out, sizeof out, type, sizeof type) == 0);
  TG_CHECK_STR(out, "some names refused (b.test: blocked)");
  TG_CHECK(tg_acme_problem_text("<html>", 6, out, sizeof out, type, sizeof type) == -1);
  TG_CHECK_STR(out, "an error without a problem document");
  TG_CHECK(tg_acme_problem_text("{}", 2, out, 8, type, sizeof type) == -1 && strlen(out) == 7); /* cut to fit */
}

static void test_parse_directory_order_authz(void) {
  char err[200];
  const char *d =
      "{\"newNonce\":\"https://ca/nonce\",\"newAccount\":\"https://ca/acct\",\"newOrder\":\"https://ca/order\","
      "\"meta\":{\"termsOfService\":\"https://ca/tos\"}}";
  tg_acme_directory dir;
  TG_CHECK(tg_acme_directory_parse(d, strlen(d), &dir, err, sizeof err) == 0);
  TG_CHECK_STR(dir.new_order, "https://ca/order");
  TG_CHECK_STR(dir.terms, "https://ca/tos");
  tg_acme_directory_free(&dir);
  TG_CHECK(tg_acme_directory_parse("{\"newNonce\":1}", 14, &dir, err, sizeof err) == -1);
  tg_acme_directory_free(&dir);
  const char *o = "{\"status\":\"invalid\",\"authorizations\":[\"https://ca/az/1\",\"https://ca/az/2\"],"
                  "\"finalize\":\"https://ca/fin/1\",\"error\":{\"detail\":\"no\"}}";
  tg_acme_order ord;
  TG_CHECK(tg_acme_order_parse(o, strlen(o), &ord, err, sizeof err) == 0);
  TG_CHECK(ord.status == TG_ACME_ST_INVALID && ord.nauthz == 2 && ord.certificate == NULL);
  TG_CHECK_STR(ord.authz[1], "https://ca/az/2");
  TG_CHECK_STR(ord.problem, "no");
  tg_acme_order_free(&ord);
  TG_CHECK(tg_acme_order_parse("{\"status\":\"valid\",\"authorizations\":[1]}", 39, &ord, err, sizeof err) == -1);
  tg_acme_order_free(&ord);
  const char *a = "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.test\"},\"challenges\":["
                  "{\"type\":\"http-01\",\"url\":\"https://ca/ch/1\",\"token\":\"tok\",\"status\":\"pending\"},"
                  "{\"type\":\"tls-alpn-01\",\"url\":\"https://ca/ch/2\",\"token\":\"tok2\",\"status\":\"invalid\","
                  "\"error\":{\"type\":\"urn:ietf:params:acme:error:tls\",\"detail\":\"bad ALPN\"}}]}";
  tg_acme_authz az;
  TG_CHECK(tg_acme_authz_parse(a, strlen(a), &az, err, sizeof err) == 0);
  TG_CHECK(az.status == TG_ACME_ST_PENDING && az.nchall == 2 && !az.wildcard);
  TG_CHECK_STR(az.name, "a.test");
  TG_CHECK_STR(az.chall[1].token, "tok2");
  TG_CHECK_STR(az.chall[1].problem, "the CA's TLS connection failed: bad ALPN");
  tg_acme_authz_free(&az);
  TG_CHECK(tg_acme_authz_parse("[]", 2, &az, err, sizeof err) == -1);
  tg_acme_authz_free(&az);
}

/* ---- the challenge table ---- */

static void test_challenge_table(void) {
  char out[128];
  TG_CHECK(tg_acme_http01_put("tok1", "tok1.thumb") == 0);
  TG_CHECK(tg_acme_http01_put("tok2", "tok2.thumb") == 0);
  TG_CHECK(tg_acme_http01_lookup("tok1", 4, out, sizeof out) == 10);
  TG_CHECK_STR(out, "tok1.thumb");
  TG_CHECK(tg_acme_http01_lookup("tok1x", 4, out, sizeof out) == 10); /* only len bytes count */
  TG_CHECK(tg_acme_http01_lookup("tok", 3, out, sizeof out) == -1);
  TG_CHECK(tg_acme_http01_lookup("tok1", 4, out, 10) == -1); /* no room for the NUL */
  TG_CHECK(tg_acme_http01_put("tok1", "tok1.other") == 0);   /* replaces */
  TG_CHECK(tg_acme_http01_lookup("tok1", 4, out, sizeof out) == 10);
  TG_CHECK_STR(out, "tok1.other");
  tg_acme_http01_remove("tok1");
  TG_CHECK(tg_acme_http01_lookup("tok1", 4, out, sizeof out) == -1);
  TG_CHECK(tg_acme_http01_lookup("tok2", 4, out, sizeof out) == 10);
  X509 *x = NULL, *got = NULL;
  EVP_PKEY *k = NULL, *gotk = NULL;
  TG_CHECK(tg_acme_alpn_cert("a.test", "t.k", &x, &k) == 0 && tg_acme_alpn_put("a.test", x, k) == 0);
  TG_CHECK(tg_acme_alpn_lookup("A.TEST", &got, &gotk) == 0 && got == x && gotk == k);
  X509_free(got);
  EVP_PKEY_free(gotk);
  TG_CHECK(tg_acme_alpn_lookup("b.test", &got, &gotk) == -1);
  X509_free(x);
  EVP_PKEY_free(k); /* the table keeps its own references */
  TG_CHECK(tg_acme_alpn_lookup("a.test", &got, &gotk) == 0 && X509_check_host(got, "a.test", 0, 0, NULL) == 1);
  X509_free(got);
  EVP_PKEY_free(gotk);
  tg_acme_challenges_clear();
  TG_CHECK(tg_acme_alpn_lookup("a.test", &got, &gotk) == -1);
  TG_CHECK(tg_acme_http01_lookup("tok2", 4, out, sizeof out) == -1);
}

/* ---- the config block ---- */

static char g_err[4096];

static tg_config *parse(const char *text) {
  char *buf = NULL;
  size_t size = 0;
  int n = 0;
  FILE *f = open_memstream(&buf, &size);
  tg_config *cfg = tg_config_parse("/etc/tg/t.conf", text, strlen(text), f, &n);
  fclose(f);
  snprintf(g_err, sizeof g_err, "%s", buf ? buf : "");
  free(buf);
  return cfg;
}

#define BASE "upstream o { server 127.0.0.1:11434; }\nsite s { listen :8080; }\n"

static void test_config_block(void) {
  tg_config *cfg =
      parse(BASE "acme {\n  directory letsencrypt-staging;\n  ca_bundle pebble.pem;\n"
                 "  email admin@example.com;\n  storage acme;\n  challenge tls-alpn-01;\n"
                 "  agree_tos on;\n  names A.test www.a.test;\n  names b.test;\n  names www.a.test a.test;\n"
                 "  retry 2s 1m;\n}\n");
  TG_CHECK_STR(g_err, "");
  TG_CHECK(cfg && cfg->acme);
  tg_acme_conf *c = cfg->acme;
  TG_CHECK_STR(c->directory, TG_ACME_LETSENCRYPT_STAGING);
  TG_CHECK_STR(c->ca_bundle, "/etc/tg/pebble.pem");
  TG_CHECK_STR(c->storage, "/etc/tg/acme");
  TG_CHECK_STR(c->email, "admin@example.com");
  TG_CHECK(c->challenge == TG_ACME_TLSALPN01 && c->agree_tos == 1);
  TG_CHECK(c->retry_min_ms == 2000 && c->retry_max_ms == 60000);
  size_t n;
  const tg_acme_names *sets = tg_acme_name_sets(cfg, &n);
  TG_CHECK(n == 2 && sets[0].n == 2 && sets[1].n == 1); /* the same set twice is one certificate */
  TG_CHECK_STR(sets[0].v[0], "a.test");
  tg_acme_conf *d = tg_acme_conf_dup(c);
  TG_CHECK(d && d->nsets == 2 && strcmp(d->sets[1].v[0], "b.test") == 0 && d->retry_max_ms == 60000);
  tg_acme_conf_free(d);
  tg_config_free(cfg);
  cfg = parse(BASE "acme { }\n");
  TG_CHECK(cfg && cfg->acme);
  TG_CHECK_STR(cfg->acme->directory, TG_ACME_LETSENCRYPT);
  TG_CHECK_STR(cfg->acme->storage, TG_ACME_DEFAULT_STORAGE);
  TG_CHECK(cfg->acme->challenge == TG_ACME_HTTP01 && !cfg->acme->agree_tos && cfg->acme->retry_min_ms == 60000);
  tg_config_free(cfg);
  cfg = parse(BASE);
  TG_CHECK(cfg && cfg->acme == NULL && tg_acme_name_sets(cfg, &n) == NULL && n == 0);
  tg_config_free(cfg);
}

static void test_config_errors(void) {
  TG_CHECK(parse(BASE "acme {\n  directory http://ca.test/dir;\n  challenge dns-01;\n  agree_tos yes;\n"
                      "  names 10.0.0.1;\n  names *.a.test;\n  email nobody;\n  retry 1m 1s;\n  colour blue;\n"
                      "  storage a b;\n  email x@y.test;\n  email z@y.test;\n}\n") == NULL);
  TG_CHECK_STR(g_err,
               "/etc/tg/t.conf:4:13: 'directory' takes an https:// URL, letsencrypt or letsencrypt-staging, not "
               "'http://ca.test/dir'\n"
               "/etc/tg/t.conf:5:13: 'challenge' takes http-01 or tls-alpn-01, not 'dns-01'\n"
               "/etc/tg/t.conf:6:13: 'agree_tos' takes on or off, not 'yes'\n"
               "/etc/tg/t.conf:7:9: '10.0.0.1' is not a DNS name ACME can issue for here (no IP address, no wildcard)\n"
               "/etc/tg/t.conf:8:9: '*.a.test' is not a DNS name ACME can issue for here (no IP address, no wildcard)\n"
               "/etc/tg/t.conf:9:9: 'email' takes an address such as admin@example.com, not 'nobody'\n"
               "/etc/tg/t.conf:10:12: invalid longest wait '1s' for 'retry' (from the first wait to 7d)\n"
               "/etc/tg/t.conf:11:3: unknown directive 'colour' in acme (directory, ca_bundle, email, storage, "
               "challenge, agree_tos, names, retry)\n"
               "/etc/tg/t.conf:12:3: 'storage' takes a directory\n"
               "/etc/tg/t.conf:13:3: duplicate 'email' (first at 9:3)\n"
               "/etc/tg/t.conf:14:3: duplicate 'email' (first at 9:3)\n");
  TG_CHECK(parse(BASE "acme { names a.test b.test; names a.test c.test; names b.test a.test; }\n") == NULL);
  TG_CHECK_STR(g_err, "/etc/tg/t.conf:3:35: another certificate's names also start with 'a.test' (each first name is a "
                      "directory in the store)\n");
  TG_CHECK(parse(BASE "acme;\n") == NULL);
  TG_CHECK_STR(g_err, "/etc/tg/t.conf:3:1: 'acme' takes a block: acme { email admin@example.com; agree_tos on; }\n");
  TG_CHECK(parse(BASE "acme { }\nacme { }\n") == NULL);
  TG_CHECK_STR(g_err, "/etc/tg/t.conf:4:1: duplicate 'acme' (first at 3:1)\n");
  TG_CHECK(parse(BASE "site t { listen :8081; acme { } }\n") == NULL);
  TG_CHECK_STR(g_err, "/etc/tg/t.conf:3:24: 'acme' is not allowed in a site (it goes at the top level)\n");
}

static void test_tls_auto_sites(void) {
  const char *dir = tmp_store();
  char text[2048], err[300];
  /* a stored certificate for b.test, none for a.test */
  const char *bnames[] = {"b.test"};
  tg_acme_names bset = {(char **)bnames, 1};
  EVP_PKEY *k = tg_acme_key_new();
  char *pem = self_signed_pem(k, bnames, 1, time(NULL) - 60, time(NULL) + 86400);
  TG_CHECK(tg_acme_store_save(dir, &bset, pem, strlen(pem), k, err, sizeof err) == 0);
  snprintf(text, sizeof text,
           "upstream o { server 127.0.0.1:11434; }\n"
           "site a.test { listen 127.0.0.1:8443 tls; tls auto; }\n"
           "site x { listen 127.0.0.1:8444 tls; tls auto B.test; }\n"
           "acme { storage %s; agree_tos on; names b.test; }\n",
           dir);
  tg_config *cfg = parse(text);
  TG_CHECK_STR(g_err, "");
  size_t n;
  const tg_acme_names *sets = tg_acme_name_sets(cfg, &n);
  TG_CHECK(n == 2); /* b.test once: from names and from tls auto */
  TG_CHECK_STR(sets[0].v[0], "b.test");
  TG_CHECK_STR(sets[1].v[0], "a.test");
  const tg_tls_conf *ta = cfg->sites[0].tls, *tb = cfg->sites[1].tls;
  TG_CHECK(ta->ncerts == 0 && ta->pending_ctx != NULL); /* no certificate yet */
  TG_CHECK(tb->ncerts == 1 && tb->certs[0].ctx != NULL && tb->pending_ctx == NULL);
  TG_CHECK(tg_tls_cert_for(tb, "b.test") == &tb->certs[0]);
  tg_config_free(cfg);
  TG_CHECK(parse(BASE "site t { listen :8443 tls; tls auto; }\n") == NULL);
  TG_CHECK_STR(
      g_err, "/etc/tg/t.conf:3:28: 'tls auto' needs an acme block: acme { email admin@example.com; agree_tos on; }\n");
  TG_CHECK(parse(BASE "site _ { listen :8443 tls; tls auto; }\nacme { }\n") == NULL);
  TG_CHECK_STR(
      g_err, "/etc/tg/t.conf:3:28: 'tls auto' needs names: the site's name '_' is not a DNS name (tls auto NAME...)\n");
  free(pem);
  EVP_PKEY_free(k);
  rm_rf(dir);
}

static void test_name_valid(void) {
  TG_CHECK(tg_acme_name_valid("a.test") && tg_acme_name_valid("xn--bcher-kva.example") && tg_acme_name_valid("a1.b2"));
  TG_CHECK(tg_acme_name_valid("localhost"));
  TG_CHECK(!tg_acme_name_valid("") && !tg_acme_name_valid("a..b") && !tg_acme_name_valid(".a") &&
           !tg_acme_name_valid("a."));
  TG_CHECK(!tg_acme_name_valid("-a.test") && !tg_acme_name_valid("a-.test") && !tg_acme_name_valid("a_b.test"));
  TG_CHECK(!tg_acme_name_valid("1.2.3.4") && !tg_acme_name_valid("*.a.test") && !tg_acme_name_valid("a/b"));
  char long_label[80];
  memset(long_label, 'a', 64);
  long_label[64] = 0;
  TG_CHECK(!tg_acme_name_valid(long_label));
}

void tg_suite_acme(void) {
  TG_RUN(test_b64url);
  TG_RUN(test_thumbprint_rfc7638);
  TG_RUN(test_jwk_of_key);
  TG_RUN(test_jws_verifies);
  TG_RUN(test_key_authorization);
  TG_RUN(test_csr_parses_back);
  TG_RUN(test_alpn_cert);
  TG_RUN(test_store_account);
  TG_RUN(test_store_cert_round_trip);
  TG_RUN(test_renew_at);
  TG_RUN(test_problem_text);
  TG_RUN(test_parse_directory_order_authz);
  TG_RUN(test_challenge_table);
  TG_RUN(test_config_block);
  TG_RUN(test_config_errors);
  TG_RUN(test_tls_auto_sites);
  TG_RUN(test_name_valid);
}
