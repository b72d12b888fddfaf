/* The live part of /status.json (docs/observability.md, "The live view"):
 * the windows (tollgate/live-window.h), a 15-minute series for the charts,
 * the live streams (tollgate/live-streams.h) and the models they run. One
 * read takes every thread's buckets and every registry's rows once. */
#include "live-render.h"

#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <uv.h>

#include "tollgate/live-streams.h"
#include "tollgate/live-window.h"
#include "tollgate/llm.h"

#define SERIES_STEP 10 /* seconds a chart's point sums */
#define SERIES_POINTS (TG_LW_SECONDS / SERIES_STEP)

static int str(tg_buf *o, const char *s) {
  return tg_buf_puts(o, "\"") | tg_buf_json_str(o, s, strlen(s)) | tg_buf_puts(o, "\"");
}

static int window(tg_buf *o, const char *name, const tg_lw_bucket *w, unsigned seconds) {
  double s = seconds;
  int rc = tg_buf_printf(o,
                         "\"%s\":{\"seconds\":%u,\"requests\":%llu,\"errors\":%llu,\"requests_per_s\":%.2f,"
                         "\"tokens_per_s\":%.1f,\"prompt_tokens_per_s\":%.1f,",
                         name, seconds, (unsigned long long)w->requests, (unsigned long long)w->errors,
                         (double)w->requests / s, (double)w->gen_tokens / s, (double)w->prompt_tokens / s);
  rc |= tg_buf_printf(o, "\"ttft_p50_ms\":%.0f,\"ttft_p95_ms\":%.0f,\"stream_tps_p50\":%.1f,\"stream_tps_p95\":%.1f,",
                      tg_lw_hist_quantile(&w->ttft, TG_LW_TTFT_BASE, 0.5) * 1000,
                      tg_lw_hist_quantile(&w->ttft, TG_LW_TTFT_BASE, 0.95) * 1000,
                      tg_lw_hist_quantile(&w->tps, TG_LW_TPS_BASE, 0.5),
                      tg_lw_hist_quantile(&w->tps, TG_LW_TPS_BASE, 0.95));
  rc |= tg_buf_puts(o, "\"errors_by_reason\":{");
  for (int e = TG_LW_OK + 1; e < TG_LW_NERR; e++)
    rc |= tg_buf_printf(o, "%s\"%s\":%llu", e > TG_LW_OK + 1 ? "," : "", tg_lw_error_name((tg_lw_error)e),
                        (unsigned long long)w->err[e]);
  return rc | tg_buf_puts(o, "}}");
}

/* The windows: the last 10 s, 1 min and 15 min, the second under way
 * included (a rate reads a little low in its first second rather than
 * late). */
static int windows(tg_buf *o, uint64_t now) {
  static const struct {
    const char *name;
    unsigned seconds;
  } win[3] = {{"10s", 10}, {"1m", 60}, {"15m", TG_LW_SECONDS}};
  int rc = tg_buf_puts(o, ",\"windows\":{");
  for (int i = 0; i < 3; i++) {
    tg_lw_bucket w;
    tg_lw_sum(&w, now, win[i].seconds);
    rc |= (i ? tg_buf_puts(o, ",") : 0) | window(o, win[i].name, &w, win[i].seconds);
  }
  return rc | tg_buf_puts(o, "}");
}

static int series(tg_buf *o, uint64_t now) {
  tg_lw_bucket *s = malloc(SERIES_POINTS * sizeof *s);
  if (!s) return -1;
  tg_lw_series(s, SERIES_POINTS, SERIES_STEP, now);
  int rc = tg_buf_printf(o, ",\"series\":{\"step_s\":%d,\"points\":%d", SERIES_STEP, SERIES_POINTS);
  static const char *const names[5] = {"requests_per_s", "tokens_per_s", "ttft_p50_ms", "stream_tps_p50", "errors"};
  for (int k = 0; k < 5; k++) {
    rc |= tg_buf_printf(o, ",\"%s\":[", names[k]);
    for (int i = 0; i < SERIES_POINTS; i++) {
      const tg_lw_bucket *b = &s[i];
      double v = k == 0   ? (double)b->requests / SERIES_STEP
                 : k == 1 ? (double)b->gen_tokens / SERIES_STEP
                 : k == 2 ? tg_lw_hist_quantile(&b->ttft, TG_LW_TTFT_BASE, 0.5) * 1000
                 : k == 3 ? tg_lw_hist_quantile(&b->tps, TG_LW_TPS_BASE, 0.5)
                          : (double)b->errors;
      rc |= tg_buf_printf(o, i ? ",%.4g" : "%.4g", v);
    }
    rc |= tg_buf_puts(o, "]");
  }
  free(s);
  return rc | tg_buf_puts(o, "}");
}

static int by_start(const void *a, const void *b) {
  const tg_live_row *x = a, *y = b;
  return x->start_ns < y->start_ns ? -1 : x->start_ns > y->start_ns;
}

/* A model's live streams and their tokens per second now. */
typedef struct model_sum {
  const char *model;
  unsigned streams;
  double rate;
} model_sum;

static int models(tg_buf *o, const tg_live_row *rows, size_t n, uint64_t now_ns) {
  model_sum m[64];
  size_t nm = 0;
  for (size_t i = 0; i < n; i++) {
    if (!rows[i].model[0]) continue;
    size_t j = 0;
    while (j < nm && strcmp(m[j].model, rows[i].model)) j++;
    if (j == nm) {
      if (nm == 64) continue;
      m[nm++] = (model_sum){rows[i].model, 0, 0};
    }
    m[j].streams++;
    m[j].rate += tg_live_rate(&rows[i], now_ns);
  }
  int rc = tg_buf_puts(o, ",\"live_models\":[");
  for (size_t j = 0; j < nm; j++)
    rc |= tg_buf_puts(o, j ? ",{\"model\":" : "{\"model\":") | str(o, m[j].model) |
          tg_buf_printf(o, ",\"in_flight\":%u,\"tokens_per_s\":%.1f}", m[j].streams, m[j].rate);
  return rc | tg_buf_puts(o, "]");
}

static int streams(tg_buf *o, uint64_t now_ns) {
  size_t n;
  tg_live_row *rows = tg_live_snapshot(&n);
  if (n > 1) qsort(rows, n, sizeof *rows, by_start);
  int rc = tg_buf_printf(o, ",\"streams\":[");
  for (size_t i = 0; i < n; i++) {
    const tg_live_row *r = &rows[i];
    rc |= tg_buf_puts(o, i ? ",{\"user\":" : "{\"user\":") | (r->user[0] ? str(o, r->user) : tg_buf_puts(o, "null"));
    rc |= tg_buf_puts(o, ",\"client\":") | str(o, r->ip) | tg_buf_puts(o, ",\"model\":") |
          (r->model[0] ? str(o, r->model) : tg_buf_puts(o, "null")) | tg_buf_puts(o, ",\"server\":") |
          (r->server[0] ? str(o, r->server) : tg_buf_puts(o, "null"));
    rc |= tg_buf_printf(o, ",\"route\":\"%s\",\"age_ms\":%llu", tg_route_kind_name((tg_route_kind)r->route),
                        (unsigned long long)(now_ns > r->start_ns ? (now_ns - r->start_ns) / 1000000 : 0));
    if (r->first_ns)
      rc |= tg_buf_printf(o, ",\"ttft_ms\":%llu",
                          (unsigned long long)(r->first_ns > r->start_ns ? (r->first_ns - r->start_ns) / 1000000 : 0));
    else rc |= tg_buf_puts(o, ",\"ttft_ms\":null");
    rc |= tg_buf_printf(o, ",\"tokens\":%llu,\"tokens_per_s\":%.1f}", (unsigned long long)r->tokens,
                        tg_live_rate(r, now_ns));
  }
  rc |= tg_buf_puts(o, "]") | models(o, rows, n, now_ns);
  free(rows);
  return rc;
}

int tg_live_render_json(tg_buf *o) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  uint64_t now = tg_lw_now() + 1; /* the windows end with the second under way */
  int rc = tg_buf_printf(o, ",\"time_ms\":%llu",
                         (unsigned long long)tv.tv_sec * 1000 + (unsigned long long)tv.tv_usec / 1000);
  rc |= windows(o, now) | series(o, now) | streams(o, uv_hrtime());
  return rc;
}
