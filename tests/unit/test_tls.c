/* TLS: certificate names for SNI, loading and its errors, the tls
 * directives. Certificates are made here with OpenSSL (P-256, self-signed). */
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tg_test.h"
#include "tollgate/config.h"
#include "tollgate/tls.h"

static char dir[64];

/* Writes dir/NAME.pem and dir/NAME.key: a certificate for the SAN list
 * ("DNS:a.test,DNS:*.b.test"), or for the CN alone when san is NULL. */
static int make_cert(const char *name, const char *cn, const char *san, int days) {
  EVP_PKEY *key = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  int ok = key && x;
  if (ok) {
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, n);
    if (san) {
      X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
      ok = ext && X509_add_ext(x, ext, -1);
      X509_EXTENSION_free(ext);
    }
    ok = ok && X509_sign(x, key, EVP_sha256());
  }
  char path[128];
  snprintf(path, sizeof path, "%s/%s.pem", dir, name);
  FILE *f = ok ? fopen(path, "w") : NULL;
  ok = f && PEM_write_X509(f, x);
  if (f) fclose(f);
  snprintf(path, sizeof path, "%s/%s.key", dir, name);
  f = ok ? fopen(path, "w") : NULL;
  ok = f && PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
  if (f) fclose(f);
  X509_free(x);
  EVP_PKEY_free(key);
  return ok ? 0 : -1;
}

static tg_tls_conf *conf_with(const char *const *pairs) {
  tg_tls_conf *t = calloc(1, sizeof *t);
  char cert[128], key[128];
  for (size_t i = 0; pairs[i]; i++) {
    snprintf(cert, sizeof cert, "%s/%s.pem", dir, pairs[i]);
    snprintf(key, sizeof key, "%s/%s.key", dir, pairs[i]);
    tg_tls_conf_add_cert(t, cert, key);
  }
  return t;
}

static void test_tls_load_and_names(void) {
  TG_CHECK(make_cert("multi", "ignored.test", "DNS:A.test,DNS:*.b.test,IP:127.0.0.1", 30) == 0);
  TG_CHECK(make_cert("cn", "cn.test", NULL, 10) == 0);
  tg_tls_conf *t = conf_with((const char *[]){"multi", "cn", NULL});
  char err[512] = "";
  TG_CHECK(tg_tls_cert_build(t, 0, err, sizeof err) == 0);
  TG_CHECK(tg_tls_cert_build(t, 1, err, sizeof err) == 0);
  TG_CHECK(t->certs[0].nnames == 2); /* DNS names only, lower-cased; the CN is not used beside a SAN */
  TG_CHECK_STR(t->certs[0].names[0], "a.test");
  TG_CHECK_STR(t->certs[0].names[1], "*.b.test");
  TG_CHECK(t->certs[1].nnames == 1);
  TG_CHECK_STR(t->certs[1].names[0], "cn.test");
  int64_t left = t->certs[1].not_after - (int64_t)time(NULL);
  TG_CHECK(left > 10 * 86400 - 60 && left <= 10 * 86400);
  TG_CHECK(tg_tls_cert_for(t, "a.test") == &t->certs[0]);
  TG_CHECK(tg_tls_cert_for(t, "A.TEST") == &t->certs[0]);
  TG_CHECK(tg_tls_cert_for(t, "x.b.test") == &t->certs[0]);
  TG_CHECK(tg_tls_cert_for(t, "b.test") == NULL);     /* a wildcard needs a label */
  TG_CHECK(tg_tls_cert_for(t, "x.y.b.test") == NULL); /* and covers only one */
  TG_CHECK(tg_tls_cert_for(t, ".b.test") == NULL);
  TG_CHECK(tg_tls_cert_for(t, "cn.test") == &t->certs[1]);
  TG_CHECK(tg_tls_cert_for(t, "other.test") == NULL);
  tg_tls_conf_free(t);
}

static void test_tls_exact_beats_wildcard(void) {
  TG_CHECK(make_cert("wild", "w", "DNS:*.c.test", 30) == 0);
  TG_CHECK(make_cert("exact", "e", "DNS:x.c.test", 30) == 0);
  tg_tls_conf *t = conf_with((const char *[]){"wild", "exact", NULL});
  char err[512];
  TG_CHECK(tg_tls_cert_build(t, 0, err, sizeof err) == 0 && tg_tls_cert_build(t, 1, err, sizeof err) == 0);
  TG_CHECK(tg_tls_cert_for(t, "x.c.test") == &t->certs[1]);
  TG_CHECK(tg_tls_cert_for(t, "y.c.test") == &t->certs[0]);
  tg_tls_conf_free(t);
}

static void test_tls_load_errors(void) {
  TG_CHECK(make_cert("k1", "k1", "DNS:k1.test", 30) == 0);
  TG_CHECK(make_cert("k2", "k2", "DNS:k2.test", 30) == 0);
  char err[512], cert[128], key[128], junk[128];
  tg_tls_conf *t = calloc(1, sizeof *t);
  snprintf(cert, sizeof cert, "%s/k1.pem", dir);
  snprintf(key, sizeof key, "%s/k2.key", dir);
  snprintf(junk, sizeof junk, "%s/junk.pem", dir);
  FILE *f = fopen(junk, "w");
  fputs("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n", f);
  fclose(f);
  tg_tls_conf_add_cert(t, cert, key);
  tg_tls_conf_add_cert(t, "/nonexistent/c.pem", key);
  tg_tls_conf_add_cert(t, junk, key);
  TG_CHECK(tg_tls_cert_build(t, 0, err, sizeof err) < 0);
  TG_CHECK(strstr(err, "does not match the certificate") != NULL);
  TG_CHECK(t->certs[0].ctx == NULL); /* a failed load keeps nothing */
  TG_CHECK(tg_tls_cert_build(t, 1, err, sizeof err) < 0);
  TG_CHECK_STR(err, "cannot read certificate /nonexistent/c.pem: No such file or directory");
  TG_CHECK(tg_tls_cert_build(t, 2, err, sizeof err) < 0);
  TG_CHECK(strncmp(err, "cannot load certificate ", 24) == 0);
  tg_tls_conf_free(t);
}

static tg_config *parse(const char *text, char *errs, size_t cap) {
  FILE *f = fmemopen(errs, cap, "w");
  int n = 0;
  tg_config *cfg = tg_config_parse("t.conf", text, strlen(text), f, &n);
  fclose(f);
  return cfg;
}

static void test_tls_directives(void) {
  char errs[2048] = "";
  char text[1024];
  snprintf(text, sizeof text,
           "upstream o { server 127.0.0.1:1; }\n"
           "site s {\n  listen 127.0.0.1:1443 tls;\n  listen 127.0.0.1:1080 redirect;\n"
           "  tls cert %s/k1.pem key %s/k1.key;\n  tls protocols 1.3;\n}\n",
           dir, dir);
  tg_config *cfg = parse(text, errs, sizeof errs);
  TG_CHECK(cfg != NULL);
  if (!cfg) return;
  const tg_site_conf *s = &cfg->sites[0];
  TG_CHECK(s->listen_kind[0] == TG_LISTEN_TLS && s->listen_kind[1] == TG_LISTEN_REDIRECT);
  TG_CHECK(s->tls && s->tls->ncerts == 1 && s->tls->certs[0].ctx != NULL);
  TG_CHECK(s->tls->min_version == TLS1_3_VERSION);
  tg_config_free(cfg);
  memset(errs, 0, sizeof errs);
  cfg = parse("upstream o { server 127.0.0.1:1; }\n"
              "site s { listen 127.0.0.1:1443 tls; tls auto a.test bad_name; tls frob; }\n",
              errs, sizeof errs);
  TG_CHECK(cfg == NULL);
  TG_CHECK_STR(errs, "t.conf:2:37: 'tls auto' needs an acme block: acme { email admin@example.com; agree_tos on; }\n"
                     "t.conf:2:53: 'tls auto' takes DNS names, not 'bad_name'\n"
                     "t.conf:2:67: 'tls' takes cert FILE key FILE, auto [NAME...] or protocols 1.2 1.3, not 'frob'\n");
  tg_config_free(cfg);
}

void tg_suite_tls(void) {
  snprintf(dir, sizeof dir, "/tmp/tg-unit-tls-XXXXXX");
  if (!mkdtemp(dir)) return;
  TG_RUN(test_tls_load_and_names);
  TG_RUN(test_tls_exact_beats_wildcard);
  TG_RUN(test_tls_load_errors);
  TG_RUN(test_tls_directives);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}
