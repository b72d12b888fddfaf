/* The live windows (see tollgate/live-window.h). Each thread has a ring of
 * TG_LW_SECONDS buckets, bucket (sec % TG_LW_SECONDS) holding second sec.
 * Only the owning thread writes its ring: a counter is a relaxed load and
 * store, as the metrics' (metrics-view.h). A bucket found holding an older
 * second is reset first, under a sequence of its `sec` (0 while the reset
 * runs, then the new second, released), so a reader that finds `sec`
 * unchanged around its reads took a bucket of that second; one it catches
 * in a reset it skips. Rings are never freed: a thread that ends gives its
 * ring to the next thread that counts, as the metrics' slabs. */
#include "tollgate/live-window.h"
#include "tollgate/thread-slot.h"

#include <stddef.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct tg_lw_ring {
  tg_thread_slot slot; /* first (tollgate/thread-slot.h) */
  tg_lw_bucket b[TG_LW_SECONDS];
};

static tg_thread_slots rings = TG_THREAD_SLOTS_INIT;
static _Thread_local tg_lw_ring *here;

static const char *const error_names[TG_LW_NERR] = {
    [TG_LW_OK] = "ok",           [TG_LW_AUTH] = "auth",
    [TG_LW_RATE] = "rate",       [TG_LW_QUOTA] = "quota",
    [TG_LW_QUEUE] = "queue",     [TG_LW_DOWN] = "upstream_down",
    [TG_LW_TIMEOUT] = "timeout", [TG_LW_UPSTREAM] = "upstream_error",
};

const char *tg_lw_error_name(tg_lw_error e) { return e < TG_LW_NERR ? error_names[e] : "?"; }

uint64_t tg_lw_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec + 1;
}

/* ---- histograms ---- */

unsigned tg_lw_hist_index(double v, double base) {
  unsigned i = 0;
  for (double bound = base; i < TG_LW_HBUCKETS - 1 && v >= bound; bound *= 2) i++;
  return i;
}

double tg_lw_hist_quantile(const tg_lw_hist *h, double base, double q) {
  uint64_t total = 0;
  for (unsigned i = 0; i < TG_LW_HBUCKETS; i++) total += h->b[i];
  if (!total) return 0;
  double rank = q * (double)total, seen = 0, lo = 0, hi = base;
  for (unsigned i = 0; i < TG_LW_HBUCKETS; i++, lo = hi, hi *= 2) {
    if (!h->b[i] || seen + h->b[i] < rank) {
      seen += h->b[i];
      continue;
    }
    if (i == TG_LW_HBUCKETS - 1) return lo;
    return lo + (hi - lo) * (rank - seen) / h->b[i];
  }
  return lo;
}

/* The seqlock's fences. ThreadSanitizer does not model fences (gcc refuses
 * them under -fsanitize=thread); every access here is atomic, so without
 * them a reader can at worst add a bucket caught in its reset. */
#if defined(__SANITIZE_THREAD__)
#define LW_FENCE(order) ((void)0)
#else
#define LW_FENCE(order) __atomic_thread_fence(order)
#endif

/* The counters from requests to err[] are consecutive words, walked as one array. */
_Static_assert(offsetof(tg_lw_bucket, err) == offsetof(tg_lw_bucket, requests) + 4 * sizeof(uint64_t),
               "requests, errors, gen_tokens, prompt_tokens and err[] are consecutive words");

/* ---- counting ---- */

static inline void add64(uint64_t *p, uint64_t d) {
  __atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + d, __ATOMIC_RELAXED);
}

static inline void add32(uint32_t *p) {
  __atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

static void bucket_reset(tg_lw_bucket *b, uint64_t sec) {
  __atomic_store_n(&b->sec, 0, __ATOMIC_RELAXED);
  LW_FENCE(__ATOMIC_RELEASE);
  uint64_t *w = &b->requests;
  for (size_t i = 0; i < 4 + TG_LW_NERR; i++) __atomic_store_n(&w[i], 0, __ATOMIC_RELAXED);
  for (unsigned i = 0; i < TG_LW_HBUCKETS; i++) {
    __atomic_store_n(&b->ttft.b[i], 0, __ATOMIC_RELAXED);
    __atomic_store_n(&b->tps.b[i], 0, __ATOMIC_RELAXED);
  }
  __atomic_store_n(&b->sec, sec, __ATOMIC_RELEASE);
}

tg_lw_bucket *tg_lw_ring_at(tg_lw_ring *r, uint64_t sec) {
  tg_lw_bucket *b = &r->b[sec % TG_LW_SECONDS];
  if (__builtin_expect(b->sec != sec, 0)) bucket_reset(b, sec);
  return b;
}

static tg_lw_ring *ring_take(void) { return here = tg_thread_slot_take(&rings, sizeof(tg_lw_ring)); }

/* This thread's bucket of second sec, or NULL without memory. */
static inline tg_lw_bucket *bucket_at(uint64_t sec) {
  tg_lw_ring *r = here;
  if (__builtin_expect(!r, 0) && !(r = ring_take())) return NULL;
  return tg_lw_ring_at(r, sec);
}

void tg_lw_tokens(uint64_t n, uint64_t sec) {
  tg_lw_bucket *b = bucket_at(sec);
  if (b) add64(&b->gen_tokens, n);
}

void tg_lw_ttft(double ttft_s, uint64_t sec) {
  tg_lw_bucket *b = bucket_at(sec);
  if (b) add32(&b->ttft.b[tg_lw_hist_index(ttft_s, TG_LW_TTFT_BASE)]);
}

void tg_lw_done(int status, tg_lw_error why, int64_t prompt_tokens, double tokens_per_s, uint64_t sec) {
  tg_lw_bucket *b = bucket_at(sec);
  if (!b) return;
  add64(&b->requests, 1);
  if (status >= 400 || why != TG_LW_OK) add64(&b->errors, 1);
  if (why != TG_LW_OK && why < TG_LW_NERR) add64(&b->err[why], 1);
  if (prompt_tokens > 0) add64(&b->prompt_tokens, (uint64_t)prompt_tokens);
  if (tokens_per_s >= 0) add32(&b->tps.b[tg_lw_hist_index(tokens_per_s, TG_LW_TPS_BASE)]);
}

void tg_lw_thread_done(void) {
  if (!here) return;
  tg_thread_slot_give(&rings, here);
  here = NULL;
}

/* ---- reading ---- */

/* Adds b into out when it holds second sec (not caught in a reset). */
static void bucket_add(tg_lw_bucket *out, const tg_lw_bucket *b, uint64_t sec) {
  if (__atomic_load_n(&b->sec, __ATOMIC_ACQUIRE) != sec) return;
  tg_lw_bucket t;
  const uint64_t *w = &b->requests;
  uint64_t *tw = &t.requests;
  /* cppcheck-suppress objectIndex ; consecutive words from requests on (the static assert above) */
  for (size_t i = 0; i < 4 + TG_LW_NERR; i++) tw[i] = __atomic_load_n(&w[i], __ATOMIC_RELAXED);
  for (unsigned i = 0; i < TG_LW_HBUCKETS; i++) {
    t.ttft.b[i] = __atomic_load_n(&b->ttft.b[i], __ATOMIC_RELAXED);
    t.tps.b[i] = __atomic_load_n(&b->tps.b[i], __ATOMIC_RELAXED);
  }
  LW_FENCE(__ATOMIC_ACQUIRE);
  if (__atomic_load_n(&b->sec, __ATOMIC_RELAXED) != sec) return;
  uint64_t *ow = &out->requests;
  /* cppcheck-suppress objectIndex ; consecutive words from requests on (the static assert above) */
  for (size_t i = 0; i < 4 + TG_LW_NERR; i++) ow[i] += tw[i];
  for (unsigned i = 0; i < TG_LW_HBUCKETS; i++) {
    out->ttft.b[i] += t.ttft.b[i];
    out->tps.b[i] += t.tps.b[i];
  }
}

void tg_lw_ring_sum(const tg_lw_ring *r, tg_lw_bucket *out, uint64_t from, uint64_t to) {
  if (to > from + TG_LW_SECONDS) from = to - TG_LW_SECONDS;
  for (uint64_t s = from; s < to; s++) bucket_add(out, &r->b[s % TG_LW_SECONDS], s);
}

void tg_lw_series(tg_lw_bucket *out, size_t steps, unsigned step, uint64_t now) {
  memset(out, 0, steps * sizeof *out);
  uint64_t span = (uint64_t)steps * step, start = now > span ? now - span : 0;
  pthread_mutex_lock(&rings.lock);
  for (const tg_thread_slot *t = rings.all; t; t = t->next)
    for (size_t i = 0; i < steps; i++)
      tg_lw_ring_sum((const tg_lw_ring *)t, &out[i], start + i * step, start + (i + 1) * step);
  pthread_mutex_unlock(&rings.lock);
}

void tg_lw_sum(tg_lw_bucket *out, uint64_t now, unsigned seconds) { tg_lw_series(out, 1, seconds, now); }

tg_lw_ring *tg_lw_ring_new(void) { return calloc(1, sizeof(tg_lw_ring)); }

void tg_lw_ring_free(tg_lw_ring *r) { free(r); }
