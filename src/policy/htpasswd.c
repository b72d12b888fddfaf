/* Verifying a password against an htpasswd hash, as nginx does: every
 * crypt(3) scheme through libcrypt's reentrant crypt_rn, Apache MD5
 * ($apr1$), {SHA} and {SSHA} through OpenSSL, and plain text (only when the
 * config allows it). Which kind a field is: hash-class.c. */
#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

static const char itoa64[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static int starts(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

int tg_hash_is_slow(tg_hash_kind k) { return k == TG_HASH_CRYPT; }

static void to64(char **p, unsigned long v, int n) {
  while (n-- > 0) {
    *(*p)++ = itoa64[v & 0x3f];
    v >>= 6;
  }
}

static int md5_parts(EVP_MD_CTX *ctx, unsigned char out[16], const void *a, size_t an, const void *b, size_t bn,
                     const void *c, size_t cn) {
  unsigned len;
  return EVP_DigestInit_ex(ctx, EVP_md5(), NULL) && EVP_DigestUpdate(ctx, a, an) && EVP_DigestUpdate(ctx, b, bn) &&
         EVP_DigestUpdate(ctx, c, cn) && EVP_DigestFinal_ex(ctx, out, &len);
}

/* Poul-Henning Kamp's MD5-crypt with Apache's "$apr1$" magic. */
int tg_apr1_crypt(const char *pw, size_t pl, const char *salt, size_t sl, char *out, size_t cap) {
  static const char magic[] = "$apr1$";
  unsigned char fin[16], alt[16];
  if (sl > 8) sl = 8;
  if (cap < 6 + sl + 1 + 22 + 1) return -1;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int ok = ctx && md5_parts(ctx, alt, pw, pl, salt, sl, pw, pl);
  ok = ok && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) && EVP_DigestUpdate(ctx, pw, pl) &&
       EVP_DigestUpdate(ctx, magic, 6) && EVP_DigestUpdate(ctx, salt, sl);
  for (size_t n = pl; ok && n > 0; n -= n > 16 ? 16 : n) ok = EVP_DigestUpdate(ctx, alt, n > 16 ? 16 : n);
  for (size_t i = pl; ok && i; i >>= 1) ok = EVP_DigestUpdate(ctx, (i & 1) ? "" : pw, 1);
  unsigned len;
  ok = ok && EVP_DigestFinal_ex(ctx, fin, &len);
  for (int i = 0; ok && i < 1000; i++) {
    const void *a = (i & 1) ? (const void *)pw : fin, *c = (i & 1) ? (const void *)fin : pw;
    size_t an = (i & 1) ? pl : 16, cn = (i & 1) ? 16 : pl;
    ok = EVP_DigestInit_ex(ctx, EVP_md5(), NULL) && EVP_DigestUpdate(ctx, a, an) &&
         (i % 3 == 0 || EVP_DigestUpdate(ctx, salt, sl)) && (i % 7 == 0 || EVP_DigestUpdate(ctx, pw, pl)) &&
         EVP_DigestUpdate(ctx, c, cn) && EVP_DigestFinal_ex(ctx, fin, &len);
  }
  EVP_MD_CTX_free(ctx);
  if (!ok) return -1;
  char *p = out;
  memcpy(p, magic, 6);
  p += 6;
  memcpy(p, salt, sl);
  p += sl;
  *p++ = '$';
  static const int idx[5][3] = {{0, 6, 12}, {1, 7, 13}, {2, 8, 14}, {3, 9, 15}, {4, 10, 5}};
  for (int i = 0; i < 5; i++)
    to64(&p, ((unsigned long)fin[idx[i][0]] << 16) | ((unsigned long)fin[idx[i][1]] << 8) | fin[idx[i][2]], 4);
  to64(&p, fin[11], 2);
  *p = '\0';
  return 0;
}

static int equal_ct(const void *a, size_t an, const void *b, size_t bn) {
  return an == bn && CRYPTO_memcmp(a, b, an) == 0;
}

/* crypt_rn, not crypt: verifications run on several pool threads at once.
 * Its answer is the hash recomputed from the stored one's setting. */
static int verify_crypt(const char *hash, const char *pw, size_t pl) {
  if (memchr(pw, 0, pl)) return 0; /* crypt takes a C string: a NUL in the password matches nothing */
  char *copy = strndup(pw, pl);
  struct crypt_data *cd = calloc(1, sizeof *cd);
  int rc = -1;
  if (copy && cd) {
    const char *out = crypt_rn(copy, hash, cd, (int)sizeof *cd);
    rc = out ? equal_ct(out, strlen(out), hash, strlen(hash)) : -1;
  }
  if (copy) OPENSSL_cleanse(copy, pl);
  free(copy);
  if (cd) OPENSSL_cleanse(cd, sizeof *cd);
  free(cd);
  return rc;
}

static int verify_sha1(const char *b64, const char *pw, size_t pl, int salted) {
  unsigned char want[128], got[20];
  long n = tg_b64_decode(b64, strlen(b64), want, sizeof want);
  if (n < 20 || (!salted && n != 20) || (salted && n == 20)) return 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  unsigned len;
  int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) && EVP_DigestUpdate(ctx, pw, pl) &&
           EVP_DigestUpdate(ctx, want + 20, (size_t)n - 20) && EVP_DigestFinal_ex(ctx, got, &len);
  EVP_MD_CTX_free(ctx);
  return ok ? CRYPTO_memcmp(got, want, 20) == 0 : -1;
}

int tg_hash_verify(const char *hash, tg_hash_kind k, const char *pw, size_t pl) {
  switch (k) {
  case TG_HASH_CRYPT: return verify_crypt(hash, pw, pl);
  case TG_HASH_APR1: {
    char out[64];
    const char *salt = hash + 6, *d = strchr(salt, '$');
    if (!d || tg_apr1_crypt(pw, pl, salt, (size_t)(d - salt), out, sizeof out) < 0) return -1;
    return equal_ct(out, strlen(out), hash, strlen(hash));
  }
  case TG_HASH_SHA1: return verify_sha1(hash + 5, pw, pl, 0);
  case TG_HASH_SSHA: return verify_sha1(hash + 6, pw, pl, 1);
  case TG_HASH_PLAIN: {
    const char *p = starts(hash, "{PLAIN}") ? hash + 7 : hash;
    return equal_ct(p, strlen(p), pw, pl);
  }
  default: return 0;
  }
}
