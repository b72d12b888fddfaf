/* Basic auth against an htpasswd file. Every crypt(3) hash (bcrypt,
 * SHA-crypt, yescrypt, md5crypt, DES...) is verified on the libuv thread
 * pool; requests carrying the same credentials while one verification runs
 * wait for it instead of starting their own.
 * A verified credential is remembered per worker for `auth_cache`, keyed by
 * HMAC-SHA256(process key, file, user:password): the password itself is
 * never kept. The file's generation is part of each entry, so a changed
 * file empties the cache in effect. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "tollgate/metrics.h"

#define CACHE_SLOTS 1024
#define CRED_MAX 1024

typedef struct cache_slot {
  unsigned char key[32];
  uint64_t expires_ms;
  uint64_t gen;
  char user[TG_USER_MAX + 1];
} cache_slot;

typedef struct verify_job {
  uv_work_t req;
  struct verify_job *next; /* the worker's verifications in flight */
  tg_basic_worker *bw;
  unsigned char key[32];
  uint64_t gen;
  uint64_t cache_ms;
  char user[TG_USER_MAX + 1];
  char hash[256];
  tg_hash_kind kind;
  int known;
  char password[CRED_MAX];
  size_t plen;
  int result;
  tg_exchange **waiters; /* every request waiting for this answer; held */
  size_t nwaiters, cap;
  char ip[48]; /* who started it */
} verify_job;

/* Slow-hash verifications in flight: per worker, and per client address.
 * The first bounds the thread-pool queue (a flood of distinct passwords
 * cannot delay everyone's login or the access log behind it); the second
 * stops one address from guessing in parallel faster than the failure
 * throttle, which counts a failure only when its verification ends. */
#define VERIFY_MAX_PER_WORKER 64
#define VERIFY_MAX_PER_IP 2

struct tg_basic_worker {
  cache_slot cache[CACHE_SLOTS];
  verify_job *inflight;
  EVP_MAC_CTX *mac; /* HMAC-SHA256 keyed once; re-initialised per request without allocating */
};

static unsigned char hmac_key[32];
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void hmac_key_init(void) {
  if (RAND_bytes(hmac_key, sizeof hmac_key) != 1) abort(); /* no randomness: do not run */
}

/* The worker's keyed HMAC context, made on first use (NULL if OpenSSL
 * cannot: cred_key then falls back to the one-shot HMAC). */
static EVP_MAC_CTX *worker_mac(tg_basic_worker *bw) {
  if (bw->mac) return bw->mac;
  EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
  EVP_MAC_CTX *ctx = m ? EVP_MAC_CTX_new(m) : NULL;
  EVP_MAC_free(m);
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0), OSSL_PARAM_construct_end()};
  if (ctx && EVP_MAC_init(ctx, hmac_key, sizeof hmac_key, params) != 1) {
    EVP_MAC_CTX_free(ctx);
    ctx = NULL;
  }
  return bw->mac = ctx;
}

/* The cache key of a credential: HMAC-SHA256 under a per-process random
 * key of the htpasswd file's identity and "user:password". */
static void cred_key(tg_basic_worker *bw, const tg_authfile *f, const unsigned char *cred, size_t n,
                     unsigned char out[32]) {
  pthread_once(&hmac_once, hmac_key_init);
  EVP_MAC_CTX *ctx = worker_mac(bw);
  size_t len = 0;
  if (ctx && EVP_MAC_init(ctx, NULL, 0, NULL) == 1 && EVP_MAC_update(ctx, (const unsigned char *)&f, sizeof f) == 1 &&
      EVP_MAC_update(ctx, cred, n) == 1 && EVP_MAC_final(ctx, out, &len, 32) == 1 && len == 32)
    return;
  unsigned char buf[sizeof f + CRED_MAX];
  unsigned ulen = 32;
  memcpy(buf, &f, sizeof f);
  memcpy(buf + sizeof f, cred, n);
  HMAC(EVP_sha256(), hmac_key, sizeof hmac_key, buf, sizeof f + n, out, &ulen);
  OPENSSL_cleanse(buf, sizeof buf);
}

static tg_basic_worker *basic_worker(tg_worker *w) {
  tg_auth_worker *aw = tg_auth_worker_of(w);
  if (aw && !aw->basic) aw->basic = calloc(1, sizeof *aw->basic);
  return aw ? aw->basic : NULL;
}

static cache_slot *slot_of(tg_basic_worker *bw, const unsigned char key[32]) {
  uint32_t i;
  memcpy(&i, key, sizeof i);
  return &bw->cache[i % CACHE_SLOTS];
}

static const char *cache_find(tg_basic_worker *bw, const unsigned char key[32], uint64_t gen, uint64_t now) {
  cache_slot *s = slot_of(bw, key);
  if (s->expires_ms <= now || s->gen != gen || CRYPTO_memcmp(s->key, key, 32) != 0) return NULL;
  return s->user;
}

static void cache_put(tg_basic_worker *bw, const verify_job *j, uint64_t now) {
  if (!j->cache_ms) return;
  cache_slot *s = slot_of(bw, j->key);
  memcpy(s->key, j->key, 32);
  s->expires_ms = now + j->cache_ms;
  s->gen = j->gen;
  memcpy(s->user, j->user, sizeof s->user);
}

static void job_free(verify_job *j) {
  OPENSSL_cleanse(j->password, sizeof j->password);
  free(j->waiters);
  free(j);
}

static int job_add_waiter(verify_job *j, tg_exchange *x) {
  if (j->nwaiters == j->cap) {
    size_t cap = j->cap ? j->cap * 2 : 4;
    tg_exchange **v = realloc(j->waiters, cap * sizeof *v);
    if (!v) return -1;
    j->waiters = v;
    j->cap = cap;
  }
  j->waiters[j->nwaiters++] = x;
  tg_exchange_hold(x);
  return 0;
}

static void verify_work(uv_work_t *req) {
  verify_job *j = req->data;
  j->result = tg_hash_verify(j->hash, j->kind, j->password, j->plen);
}

static void verify_done(uv_work_t *req, int status) {
  verify_job *j = req->data;
  tg_basic_worker *bw = j->bw;
  for (verify_job **p = &bw->inflight; *p; p = &(*p)->next)
    if (*p == j) {
      *p = j->next;
      break;
    }
  int ok = status == 0 && j->result == 1 && j->known;
  if (ok) cache_put(bw, j, uv_now(req->loop));
  for (size_t i = 0; i < j->nwaiters; i++) {
    tg_exchange *x = j->waiters[i];
    if (!tg_exchange_release(x)) continue; /* its client left while waiting */
    if (!ok) {
      tg_auth_deny(x, "invalid credentials", 1);
      continue;
    }
    tg_auth_accept(x, j->user, i == 0 ? "basic" : "basic-shared");
    tg_admission_resume(x);
  }
  job_free(j);
}

/* Starts (or joins) the verification of a slow hash for c: TG_ADM_AGAIN,
 * or TG_ADM_DONE when c was answered instead. */
static tg_adm_rc verify_async(tg_exchange *x, tg_basic_worker *bw, verify_job *proto) {
  for (verify_job *j = bw->inflight; j; j = j->next)
    if (j->gen == proto->gen && CRYPTO_memcmp(j->key, proto->key, 32) == 0) {
      if (job_add_waiter(j, x) == 0) return TG_ADM_AGAIN;
      tg_exchange_fail(x, 500, "out of memory");
      return TG_ADM_DONE;
    }
  size_t all = 0, mine = 0;
  for (verify_job *j = bw->inflight; j; j = j->next, all++) mine += strcmp(j->ip, x->ip) == 0;
  if (mine >= VERIFY_MAX_PER_IP || all >= VERIFY_MAX_PER_WORKER) {
    tg_metrics_refused("auth", mine >= VERIFY_MAX_PER_IP ? "verifications_per_ip" : "verifications_busy");
    x->rec.refused_by = mine >= VERIFY_MAX_PER_IP ? "password verifications per ip" : "password verifications busy";
    tg_exchange_fail_with(x, mine >= VERIFY_MAX_PER_IP ? 429 : 503, "too many password verifications in flight",
                          "Retry-After: 1\r\n");
    return TG_ADM_DONE;
  }
  verify_job *j = malloc(sizeof *j);
  if (!j) {
    tg_exchange_fail(x, 500, "out of memory");
    return TG_ADM_DONE;
  }
  *j = *proto;
  snprintf(j->ip, sizeof j->ip, "%s", x->ip);
  j->bw = bw;
  j->req.data = j;
  if (job_add_waiter(j, x) < 0 || uv_queue_work(&x->w->loop, &j->req, verify_work, verify_done) < 0) {
    if (j->nwaiters) x->hold.n--; /* taken just now, nothing came back: x goes on */
    job_free(j);
    tg_exchange_fail(x, 500, "cannot start the password verification");
    return TG_ADM_DONE;
  }
  j->next = bw->inflight;
  bw->inflight = j;
  return TG_ADM_AGAIN;
}

int tg_basic_try(tg_exchange *x, const tg_auth_conf *a, const char *cred, size_t n) {
  if (!a->basic) return TG_AUTH_NOT_MINE;
  tg_basic_worker *bw = basic_worker(x->w);
  verify_job job = {0};
  unsigned char dec[CRED_MAX];
  long dn = tg_b64_decode(cred, n, dec, sizeof dec - 1);
  const unsigned char *colon = dn > 0 ? memchr(dec, ':', (size_t)dn) : NULL;
  size_t ulen = colon ? (size_t)(colon - dec) : 0;
  tg_adm_rc rc = TG_ADM_DONE;
  if (!bw) {
    tg_exchange_fail(x, 500, "out of memory");
    goto done;
  }
  if (!colon || ulen == 0 || ulen > TG_USER_MAX || memchr(dec, 0, ulen)) {
    tg_auth_deny(x, "malformed Basic credentials", 1);
    goto done;
  }
  tg_authfile_refresh(a->basic);
  job.gen = tg_authfile_generation(a->basic);
  job.cache_ms = a->cache_ms;
  cred_key(bw, a->basic, dec, (size_t)dn, job.key);
  memcpy(job.user, dec, ulen);
  const char *cached = a->cache_ms ? cache_find(bw, job.key, job.gen, uv_now(&x->w->loop)) : NULL;
  if (cached) {
    rc = tg_auth_accept(x, cached, "basic-cached");
    goto done;
  }
  if (tg_auth_throttled(x)) goto done;
  job.plen = (size_t)dn - ulen - 1;
  memcpy(job.password, colon + 1, job.plen);
  job.known = tg_authfile_user_hash(a->basic, job.user, job.hash, sizeof job.hash, &job.kind);
  if (job.known < 0) {
    tg_auth_deny(x, "invalid credentials", 1);
  } else if (tg_hash_is_slow(job.kind)) {
    rc = verify_async(x, bw, &job);
  } else {
    int ok = tg_hash_verify(job.hash, job.kind, job.password, job.plen) == 1 && job.known;
    if (ok) {
      cache_put(bw, &job, uv_now(&x->w->loop));
      rc = tg_auth_accept(x, job.user, "basic");
    } else {
      tg_auth_deny(x, "invalid credentials", 1);
    }
  }
done:
  OPENSSL_cleanse(dec, sizeof dec);
  OPENSSL_cleanse(job.password, sizeof job.password);
  return rc;
}

void tg_basic_worker_free(tg_auth_worker *aw) {
  if (aw->basic) EVP_MAC_CTX_free(aw->basic->mac);
  free(aw->basic); /* verifications in flight finished before the loop closed */
  aw->basic = NULL;
}
