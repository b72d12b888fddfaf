/* The live windows: what happened in the last 10 s, 1 min and 15 min,
 * server-side (docs/observability.md, "The live view"). Each thread counts
 * into a ring of its own, one bucket a second over 15 minutes, without a
 * lock or a shared atomic; a reader adds every thread's buckets of the
 * window up (src/observe/live-window.c). Rates, errors by reason, and the
 * time to first token and each stream's tokens per second as small
 * histograms, from which the reader takes p50 and p95. */
#ifndef TOLLGATE_LIVE_WINDOW_H
#define TOLLGATE_LIVE_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#define TG_LW_SECONDS 900 /* the ring: 15 minutes of 1 s buckets */
#define TG_LW_HBUCKETS 16 /* a histogram's buckets, each twice the one before */

/* Why an exchange failed, for the errors by reason. */
typedef enum tg_lw_error {
  TG_LW_OK,       /* not an error (or one not counted by reason) */
  TG_LW_AUTH,     /* 401, 403: refused by auth */
  TG_LW_RATE,     /* 429 by a rate or connection limit */
  TG_LW_QUOTA,    /* 429 by a token quota */
  TG_LW_QUEUE,    /* 503 or 429: the generation queue was full or its wait ran out */
  TG_LW_DOWN,     /* the upstream could not be reached (refused, unreachable, no server) */
  TG_LW_TIMEOUT,  /* the upstream timed out (dial, head, idle) or 504 */
  TG_LW_UPSTREAM, /* any other 5xx: the upstream failed or answered an error */
  TG_LW_NERR
} tg_lw_error;

/* The name of a reason in /status.json: "auth", "rate", "quota", "queue",
 * "upstream_down", "timeout", "upstream_error". */
const char *tg_lw_error_name(tg_lw_error e);

/* A histogram of TG_LW_HBUCKETS buckets: bucket i holds values below
 * base * 2^i (and at least base * 2^(i-1)); the last holds the rest. */
typedef struct tg_lw_hist {
  uint32_t b[TG_LW_HBUCKETS];
} tg_lw_hist;

/* The bucket of v in a histogram of that base. */
unsigned tg_lw_hist_index(double v, double base);

/* The q-quantile (0 < q < 1) of h, interpolated inside its bucket; 0 when
 * h is empty. A value in the last bucket reads as that bucket's floor. */
double tg_lw_hist_quantile(const tg_lw_hist *h, double base, double q);

#define TG_LW_TTFT_BASE 0.01 /* seconds: 10 ms, 20 ms... 5.5 min */
#define TG_LW_TPS_BASE 1.0   /* tokens per second: 1, 2... 32768 */

/* One second of one thread (or added up). */
typedef struct tg_lw_bucket {
  uint64_t sec; /* the second it holds (tg_lw_now); 0 while it is reset */
  uint64_t requests, errors, gen_tokens, prompt_tokens;
  uint64_t err[TG_LW_NERR];
  tg_lw_hist ttft, tps;
} tg_lw_bucket;

/* The monotonic clock in whole seconds, at least 1 (coarse: cheap). */
uint64_t tg_lw_now(void);

/* ---- counting: the calling thread's ring ---- */

/* n more tokens generated at second sec (tg_lw_now's clock; a worker
 * passes its loop's cached time, so that a chunk reads no clock): counted
 * as the stream goes. */
void tg_lw_tokens(uint64_t n, uint64_t sec);

/* A stream's first token came ttft_s after its request began, at sec. */
void tg_lw_ttft(double ttft_s, uint64_t sec);

/* tg_lw_now's second of a time in nanoseconds of the monotonic clock. */
static inline uint64_t tg_lw_sec_of(uint64_t ns) { return ns / 1000000000ull + 1; }

/* The same of a time in milliseconds (a loop's uv_now). */
static inline uint64_t tg_lw_sec_of_ms(uint64_t ms) { return ms / 1000 + 1; }

/* An exchange ended at second sec: its status (the error reason too, when
 * why is not TG_LW_OK; a status >= 400 without a reason counts in errors
 * only), prompt tokens (< 0: not reported), its tokens per second (< 0:
 * not a stream that generated). */
void tg_lw_done(int status, tg_lw_error why, int64_t prompt_tokens, double tokens_per_s, uint64_t sec);

/* The calling thread ends: its ring goes to the next thread that counts. */
void tg_lw_thread_done(void);

/* ---- reading ---- */

/* The buckets of every thread whose second is in [now - seconds, now)
 * (the last `seconds` whole seconds) added up into *out (zeroed here). */
void tg_lw_sum(tg_lw_bucket *out, uint64_t now, unsigned seconds);

/* The same, as `steps` sums of `step` seconds each, oldest first, ending
 * at now (a series for a chart). */
void tg_lw_series(tg_lw_bucket *out, size_t steps, unsigned step, uint64_t now);

/* For tests: a ring of its own (not the thread's) counted into at second
 * `sec` and summed alone. */
typedef struct tg_lw_ring tg_lw_ring;
tg_lw_ring *tg_lw_ring_new(void);
void tg_lw_ring_free(tg_lw_ring *r);
tg_lw_bucket *tg_lw_ring_at(tg_lw_ring *r, uint64_t sec);
void tg_lw_ring_sum(const tg_lw_ring *r, tg_lw_bucket *out, uint64_t from, uint64_t to);

#endif
