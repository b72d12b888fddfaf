/* Requests signed by the ollama CLI. With OLLAMA_AUTH set (and always
 * toward ollama.com) the CLI signs "METHOD,PATH?ts=UNIXTIME" with its
 * ed25519 key (~/.ollama/id_ed25519), adds ts=UNIXTIME to the query and
 * sends `Authorization: <public key>:<signature>`: the base64 SSH
 * wire-format public key (the middle field of id_ed25519.pub) and the
 * base64 raw 64-byte signature (ollama api/client.go, auth/auth.go).
 * Some ollama code paths send the same token after "Bearer ".
 *
 * tollgate admits such a request when the key is registered, the
 * signature verifies, ts is within the window of now, and the same
 * signature was not seen within the window (one table for the process,
 * under a mutex). The CLI's signature depends only on method, path and the
 * second: the same request twice in one second is refused the second time. */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy.h"

#define REPLAY_SLOTS 16384

int tg_ollama_verify(const char *challenge, size_t clen, const char *pub, size_t pn, const char *sig, size_t sn,
                     unsigned char key[32]) {
  unsigned char blob[128], raw[80];
  long bn = tg_b64_decode(pub, pn, blob, sizeof blob);
  if (bn < 0 || tg_ssh_ed25519_key(blob, bn, key) < 0) return 0;
  if (tg_b64_decode(sig, sn, raw, sizeof raw) != 64) return 0;
  EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, key, 32);
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  int ok = pk && md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pk) == 1 &&
           EVP_DigestVerify(md, raw, 64, (const unsigned char *)challenge, clen) == 1;
  EVP_MD_CTX_free(md);
  EVP_PKEY_free(pk);
  return ok;
}

typedef struct replay_slot {
  unsigned char sig[32];
  int64_t until; /* wall-clock seconds after which it cannot be replayed anyway */
} replay_slot;

static replay_slot replay[REPLAY_SLOTS];
static pthread_mutex_t replay_lock = PTHREAD_MUTEX_INITIALIZER;

#define REPLAY_PROBES 4

/* Records the signed request, keyed by SHA-256 of the public key and the
 * signed challenge (not by the signature's text: base64 has several
 * spellings of one signature, and ed25519 signatures of one message by one
 * key are interchangeable for replay purposes). Returns 1 when it was
 * already seen, or when no slot can hold it (refusing is the safe side). */
static int replay_seen(const unsigned char key[32], const char *chal, size_t cl, int64_t until, int64_t now) {
  unsigned char k[32], msg[32 + 2048];
  unsigned int klen = 0;
  if (cl > sizeof msg - 32) return 1;
  memcpy(msg, key, 32);
  memcpy(msg + 32, chal, cl);
  if (EVP_Digest(msg, 32 + cl, k, &klen, EVP_sha256(), NULL) != 1) return 1;
  uint32_t h = (uint32_t)k[0] | (uint32_t)k[1] << 8 | (uint32_t)k[2] << 16 | (uint32_t)k[3] << 24;
  int seen = 1;
  pthread_mutex_lock(&replay_lock);
  replay_slot *free_slot = NULL;
  for (int i = 0; i < REPLAY_PROBES; i++) {
    replay_slot *s = &replay[(h + (uint32_t)i) % REPLAY_SLOTS];
    if (s->until >= now && memcmp(s->sig, k, 32) == 0) goto out; /* a replay */
    if (!free_slot && s->until < now) free_slot = s;
  }
  if (free_slot) {
    memcpy(free_slot->sig, k, 32);
    free_slot->until = until;
    seen = 0;
  }
out:
  pthread_mutex_unlock(&replay_lock);
  return seen;
}

/* The value of the ts parameter in the query of target, or NULL. */
static const char *query_ts(const char *t, size_t n, size_t *len) {
  const char *q = memchr(t, '?', n), *end = t + n;
  if (!q) return NULL;
  for (const char *p = q + 1; p < end;) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    if (!amp) amp = end;
    if (amp - p > 3 && memcmp(p, "ts=", 3) == 0) {
      *len = (size_t)(amp - p - 3);
      return p + 3;
    }
    p = amp + 1;
  }
  return NULL;
}

int tg_ollama_try(tg_exchange *x, const tg_auth_conf *a, const char *token, size_t n) {
  const char *colon = a->ollama ? memchr(token, ':', n) : NULL;
  if (!colon) return TG_AUTH_NOT_MINE;
  const char *t = tg_head_str(&x->req, x->req.target) + x->target_skip;
  size_t tn = x->req.target.len - x->target_skip, tsl = 0;
  const char *ts = query_ts(t, tn, &tsl);
  char digits[24];
  int digits_only = ts != NULL;
  for (size_t i = 0; ts && i < tsl; i++) digits_only &= ts[i] >= '0' && ts[i] <= '9';
  if (!ts || tsl == 0 || tsl >= sizeof digits || !digits_only)
    return tg_auth_deny(x, "a signed request needs a ts parameter", 1);
  memcpy(digits, ts, tsl);
  digits[tsl] = '\0';
  int64_t when = strtoll(digits, NULL, 10), now = (int64_t)time(NULL), win = (int64_t)(a->ollama_window_ms / 1000);
  if (when < now - win || when > now + win)
    return tg_auth_deny(x, "the signature has expired (check the client's clock)", 1);
  const char *q = memchr(t, '?', tn);
  size_t pl = q ? (size_t)(q - t) : tn;
  char chal[2048];
  int cl = snprintf(chal, sizeof chal, "%s,%.*s?ts=%s", llhttp_method_name(x->method), pl ? (int)pl : 1, pl ? t : "/",
                    digits);
  unsigned char key[32];
  char user[TG_USER_MAX + 1];
  const char *sig = colon + 1;
  size_t sn = n - (size_t)(sig - token);
  tg_authfile_refresh(a->ollama);
  if (cl < 0 || (size_t)cl >= sizeof chal ||
      !tg_ollama_verify(chal, (size_t)cl, token, (size_t)(colon - token), sig, sn, key) ||
      !tg_authfile_match_pub(a->ollama, key, user))
    return tg_auth_deny(x, "invalid signature or unknown key", 1);
  if (replay_seen(key, chal, (size_t)cl, when + win, now)) return tg_auth_deny(x, "this signature was already used", 1);
  return tg_auth_accept(x, user, "ollama");
}
