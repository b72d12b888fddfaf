/* The ACME store on disk:
 *   DIR/account.key                  the ES256 account key (PEM, 0600)
 *   DIR/accounts.json                {"<directory URL>": "<account URL>", ...}
 *   DIR/certs/<first name>/cert.pem  the full chain, leaf first
 *   DIR/certs/<first name>/key.pem   its private key (PEM, 0600)
 * Directories are 0700. Every file is written with tg_write_file_atomic
 * (a temporary name, fsync, rename, fsync of the directory), so a crash or
 * a reader at the wrong moment sees the old file or the new one, never
 * half of one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "tollgate/acme.h"
#include "tollgate/atomic-file.h"
#include "tollgate/buf.h"

#define STORE_FILE_MAX (1u << 20)

/* Every key tollgate keeps (the account's, each certificate's) is P-256. */
EVP_PKEY *tg_acme_key_new(void) { return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"); }

/* The whole file, NUL-terminated, or NULL (errno). */
static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  tg_buf b = {0};
  char chunk[8192];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len < STORE_FILE_MAX)
    if (tg_buf_append(&b, chunk, n) < 0) break;
  int bad = ferror(f) || b.len >= STORE_FILE_MAX || tg_buf_append(&b, "", 1) < 0;
  fclose(f);
  if (bad) {
    tg_buf_free(&b);
    errno = errno ? errno : EFBIG;
    return NULL;
  }
  if (len) *len = b.len - 1;
  return b.data;
}

static int mkdir_one(const char *path) {
  if (mkdir(path, 0700) == 0 || errno == EEXIST) return 0;
  return -1;
}

/* mkdir -p with mode 0700 for every level it creates. */
static int mkdir_p(const char *dir) {
  char p[4096];
  if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p) return errno = ENAMETOOLONG, -1;
  for (char *s = p + 1; *s; s++) {
    if (*s != '/') continue;
    *s = 0;
    if (mkdir_one(p) < 0) return -1;
    *s = '/';
  }
  return mkdir_one(p);
}

int tg_acme_store_open(const char *dir, char *err, size_t errlen) {
  char certs[4096];
  snprintf(certs, sizeof certs, "%s/certs", dir);
  if (mkdir_p(dir) == 0 && mkdir_one(certs) == 0) return 0;
  snprintf(err, errlen, "cannot create the ACME store %s: %s", dir, strerror(errno));
  return -1;
}

static EVP_PKEY *read_key(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
  fclose(f);
  return k;
}

/* PEM of a private key, malloc'd and NUL-terminated, or NULL. */
static char *key_pem(EVP_PKEY *key, size_t *len) {
  BIO *b = BIO_new(BIO_s_mem());
  char *out = NULL, *p;
  if (b && PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) == 1) {
    long n = BIO_get_mem_data(b, &p);
    if (n > 0 && (out = malloc((size_t)n + 1))) {
      memcpy(out, p, (size_t)n);
      out[n] = 0;
      *len = (size_t)n;
    }
  }
  BIO_free(b);
  return out;
}

/* Writes key as PEM to path, 0600. The PEM is wiped before it is freed. */
static int write_key(const char *path, EVP_PKEY *key) {
  size_t len = 0;
  char *pem = key_pem(key, &len);
  if (!pem) return errno = ENOMEM, -1;
  int rc = tg_write_file_atomic(path, pem, len, 0600);
  OPENSSL_cleanse(pem, len);
  free(pem);
  return rc;
}

EVP_PKEY *tg_acme_store_account_key(const char *dir, char *err, size_t errlen) {
  char path[4096];
  snprintf(path, sizeof path, "%s/account.key", dir);
  EVP_PKEY *k = read_key(path);
  if (k) {
    if (EVP_PKEY_is_a(k, "EC") && EVP_PKEY_get_bits(k) == 256) return k;
    EVP_PKEY_free(k);
    snprintf(err, errlen, "%s is not a P-256 key", path);
    return NULL;
  }
  if (errno != ENOENT && access(path, F_OK) == 0) {
    snprintf(err, errlen, "cannot read the account key %s", path);
    return NULL;
  }
  if (!(k = tg_acme_key_new()) || write_key(path, k) < 0) {
    snprintf(err, errlen, "cannot store a new account key in %s: %s", path, strerror(errno));
    EVP_PKEY_free(k);
    return NULL;
  }
  return k;
}

/* ---- account URLs ---- */

static json_t *load_accounts(const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/accounts.json", dir);
  size_t len;
  char *text = slurp(path, &len);
  json_t *j = text ? json_loadb(text, len, 0, NULL) : NULL;
  free(text);
  if (!json_is_object(j)) {
    json_decref(j);
    j = json_object();
  }
  return j;
}

char *tg_acme_store_account_url(const char *dir, const char *directory_url) {
  json_t *j = load_accounts(dir);
  const char *s = json_string_value(json_object_get(j, directory_url));
  char *out = s && s[0] ? strdup(s) : NULL;
  json_decref(j);
  return out;
}

int tg_acme_store_set_account_url(const char *dir, const char *directory_url, const char *account_url) {
  char path[4096];
  snprintf(path, sizeof path, "%s/accounts.json", dir);
  json_t *j = load_accounts(dir);
  char *text = NULL;
  int rc = -1;
  if (j && json_object_set_new(j, directory_url, json_string(account_url)) == 0 &&
      (text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS)))
    rc = tg_write_file_atomic(path, text, strlen(text), 0600);
  free(text);
  json_decref(j);
  return rc;
}

/* ---- certificates ---- */

int tg_acme_store_path(const char *dir, const tg_acme_names *set, const char *file, char *out, size_t outlen) {
  if (!set->n || !tg_acme_name_valid(set->v[0])) return -1;
  int n = file ? snprintf(out, outlen, "%s/certs/%s/%s", dir, set->v[0], file)
               : snprintf(out, outlen, "%s/certs/%s", dir, set->v[0]);
  return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* Checks that chain_pem starts with a certificate for key. */
static int chain_matches(const char *chain_pem, size_t len, EVP_PKEY *key) {
  BIO *b = BIO_new_mem_buf(chain_pem, (int)len);
  X509 *leaf = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
  int ok = leaf && X509_check_private_key(leaf, key) == 1;
  X509_free(leaf);
  BIO_free(b);
  return ok;
}

int tg_acme_store_save(const char *dir, const tg_acme_names *set, const char *chain_pem, size_t len, EVP_PKEY *key,
                       char *err, size_t errlen) {
  char d[4096], cert[4096], keyp[4096];
  if (tg_acme_store_path(dir, set, NULL, d, sizeof d) < 0 ||
      tg_acme_store_path(dir, set, "cert.pem", cert, sizeof cert) < 0 ||
      tg_acme_store_path(dir, set, "key.pem", keyp, sizeof keyp) < 0)
    return snprintf(err, errlen, "the store path for %s is too long", set->n ? set->v[0] : "?"), -1;
  if (!chain_matches(chain_pem, len, key))
    return snprintf(err, errlen, "the CA sent a certificate chain that does not start with a certificate for our key"),
           -1;
  if (mkdir_p(d) < 0) return snprintf(err, errlen, "cannot create %s: %s", d, strerror(errno)), -1;
  /* The key first: a reader that sees the new chain finds its key in place.
   * Between the two renames the old chain is paired with the new key, which
   * tg_acme_store_check reports as not covering, never as usable. */
  if (write_key(keyp, key) < 0) return snprintf(err, errlen, "cannot write %s: %s", keyp, strerror(errno)), -1;
  if (tg_write_file_atomic(cert, chain_pem, len, 0644) < 0)
    return snprintf(err, errlen, "cannot write %s: %s", cert, strerror(errno)), -1;
  return 0;
}

time_t tg_acme_renew_at(time_t not_before, time_t not_after) {
  if (not_after <= not_before) return not_before;
  return not_before + (time_t)((long long)(not_after - not_before) * 2 / 3);
}

static int asn1_to_time(const ASN1_TIME *t, time_t *out) {
  struct tm tm;
  if (ASN1_TIME_to_tm(t, &tm) != 1) return -1;
  *out = timegm(&tm);
  return 0;
}

/* Whether leaf names every name of set (X509_check_host follows the SANs). */
static int leaf_covers(X509 *leaf, const tg_acme_names *set) {
  for (size_t i = 0; i < set->n; i++)
    if (X509_check_host(leaf, set->v[i], 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) != 1) return 0;
  return 1;
}

int tg_acme_store_check(const char *dir, const tg_acme_names *set, time_t now, tg_acme_cert_state *st) {
  char cert[4096], keyp[4096];
  memset(st, 0, sizeof *st);
  if (tg_acme_store_path(dir, set, "cert.pem", cert, sizeof cert) < 0 ||
      tg_acme_store_path(dir, set, "key.pem", keyp, sizeof keyp) < 0)
    return 0;
  FILE *f = fopen(cert, "rb");
  X509 *leaf = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
  if (f) fclose(f);
  EVP_PKEY *key = leaf ? read_key(keyp) : NULL;
  if (leaf && key && asn1_to_time(X509_get0_notBefore(leaf), &st->not_before) == 0 &&
      asn1_to_time(X509_get0_notAfter(leaf), &st->not_after) == 0) {
    st->present = 1;
    st->covers = leaf_covers(leaf, set) && X509_check_private_key(leaf, key) == 1;
    st->valid = now >= st->not_before && now < st->not_after;
    st->renew_at = tg_acme_renew_at(st->not_before, st->not_after);
  }
  EVP_PKEY_free(key);
  X509_free(leaf);
  return st->present && st->covers && st->valid && now < st->renew_at;
}
