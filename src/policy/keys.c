/* API keys: `Authorization: Bearer <key>`. The keys file holds one
 * `NAME SHA256-HEX` line per key (what `tollgate key new NAME` prints); a
 * request's key is hashed and compared in constant time with every line. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

#include "policy.h"
#include "tollgate/hex.h"

static void sha256(const char *p, size_t n, unsigned char out[32]) {
  unsigned len = 32;
  EVP_Digest(p, n, out, &len, EVP_sha256(), NULL);
}

void tg_key_hash_hex(const char *key, size_t n, char hex[65]) {
  unsigned char d[32];
  sha256(key, n, d);
  tg_hex_encode(d, sizeof d, hex);
}

int tg_keys_try(tg_exchange *x, const tg_auth_conf *a, const char *token, size_t n) {
  if (!a->keys || n == 0) return TG_AUTH_NOT_MINE;
  unsigned char d[32];
  char user[TG_USER_MAX + 1];
  tg_authfile_refresh(a->keys);
  sha256(token, n, d);
  if (!tg_authfile_match_key(a->keys, d, user)) return TG_AUTH_NOT_MINE;
  return tg_auth_accept(x, user, "key");
}
