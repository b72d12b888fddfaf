/* Password hash formats of htpasswd files, as Apache's htpasswd writes them
 * and nginx reads them: bcrypt ($2y$, $2b$, $2a$) and SHA-crypt ($5$, $6$)
 * through libcrypt, Apache MD5 ($apr1$), {SHA} and {SSHA} through OpenSSL,
 * and plain text (only when the config allows it). */
#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

static const char itoa64[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static int starts(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

tg_hash_kind tg_hash_kind_of(const char *h) {
  if (starts(h, "$2y$") || starts(h, "$2b$") || starts(h, "$2a$")) return TG_HASH_BCRYPT;
  if (starts(h, "$5$")) return TG_HASH_SHA256_CRYPT;
  if (starts(h, "$6$")) return TG_HASH_SHA512_CRYPT;
  if (starts(h, "$apr1$")) return TG_HASH_APR1;
  if (starts(h, "{SHA}")) return TG_HASH_SHA1;
  if (starts(h, "{SSHA}")) return TG_HASH_SSHA;
  if (starts(h, "{PLAIN}")) return TG_HASH_PLAIN;
  return TG_HASH_UNKNOWN;
}

int tg_hash_is_slow(tg_hash_kind k) {
  return k == TG_HASH_BCRYPT || k == TG_HASH_SHA256_CRYPT || k == TG_HASH_SHA512_CRYPT;
}

static int all_in(const char *s, size_t n, const char *set) {
  for (size_t i = 0; i < n; i++)
    if (!s[i] || !strchr(set, s[i])) return 0;
  return 1;
}

/* "$2y$10$" + 22 salt + 31 hash characters of bcrypt's alphabet. */
static const char *check_bcrypt(const char *h) {
  if (strlen(h) != 60) return "a bcrypt hash is 60 characters long";
  if (h[4] < '0' || h[4] > '3' || h[5] < '0' || h[5] > '9' || h[6] != '$')
    return "invalid bcrypt cost";
  int cost = (h[4] - '0') * 10 + (h[5] - '0');
  if (cost < 4 || cost > 31) return "bcrypt cost out of range (4 to 31)";
  if (!all_in(h + 7, 53, itoa64)) return "invalid character in the bcrypt hash";
  return NULL;
}

/* "$5$[rounds=N$]salt$hash": 43 (SHA-256) or 86 (SHA-512) hash characters. */
static const char *check_shacrypt(const char *h, size_t hash_len) {
  const char *p = h + 3;
  if (starts(p, "rounds=")) {
    p += 7;
    char *end;
    unsigned long r = strtoul(p, &end, 10);
    if (end == p || *end != '$' || r < 1000 || r > 999999999) return "invalid SHA-crypt rounds";
    p = end + 1;
  }
  const char *d = strchr(p, '$');
  if (!d || d - p > 16 || d == p) return "invalid SHA-crypt salt";
  if (strlen(d + 1) != hash_len || !all_in(d + 1, hash_len, itoa64)) return "invalid SHA-crypt hash";
  return NULL;
}

const char *tg_hash_check(const char *h, tg_hash_kind k) {
  unsigned char raw[128];
  switch (k) {
    case TG_HASH_BCRYPT: return check_bcrypt(h);
    case TG_HASH_SHA256_CRYPT: return check_shacrypt(h, 43);
    case TG_HASH_SHA512_CRYPT: return check_shacrypt(h, 86);
    case TG_HASH_APR1: {
      const char *d = strchr(h + 6, '$');
      if (!d || d == h + 6 || d - (h + 6) > 8) return "invalid $apr1$ salt";
      if (strlen(d + 1) != 22 || !all_in(d + 1, 22, itoa64)) return "invalid $apr1$ hash";
      return NULL;
    }
    case TG_HASH_SHA1:
      if (tg_b64_decode(h + 5, strlen(h + 5), raw, sizeof raw) != 20) return "a {SHA} hash is base64 of 20 bytes";
      return NULL;
    case TG_HASH_SSHA: {
      long n = tg_b64_decode(h + 6, strlen(h + 6), raw, sizeof raw);
      if (n <= 20) return "a {SSHA} hash is base64 of 20 bytes and a salt";
      return NULL;
    }
    case TG_HASH_PLAIN: return NULL;
    default: return "unknown password hash format";
  }
}

static void to64(char **p, unsigned long v, int n) {
  while (n-- > 0) {
    *(*p)++ = itoa64[v & 0x3f];
    v >>= 6;
  }
}

static int md5_parts(EVP_MD_CTX *ctx, unsigned char out[16], const void *a, size_t an,
                     const void *b, size_t bn, const void *c, size_t cn) {
  unsigned len;
  return EVP_DigestInit_ex(ctx, EVP_md5(), NULL) && EVP_DigestUpdate(ctx, a, an) &&
         EVP_DigestUpdate(ctx, b, bn) && EVP_DigestUpdate(ctx, c, cn) &&
         EVP_DigestFinal_ex(ctx, out, &len);
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

static int verify_crypt(const char *hash, const char *pw, size_t pl) {
  char *copy = strndup(pw, pl); /* crypt_r wants a C string */
  struct crypt_data *cd = calloc(1, sizeof *cd);
  int rc = -1;
  if (copy && cd && strlen(copy) == pl) {
    const char *out = crypt_r(copy, hash, cd);
    rc = out && out[0] != '*' ? equal_ct(out, strlen(out), hash, strlen(hash)) : -1;
  } else if (copy && cd) {
    rc = 0; /* a NUL in the password matches nothing */
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
    case TG_HASH_BCRYPT:
    case TG_HASH_SHA256_CRYPT:
    case TG_HASH_SHA512_CRYPT: return verify_crypt(hash, pw, pl);
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
