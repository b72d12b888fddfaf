/* One screen of `tollgate top` from /status.json (see tollgate/top.h):
 * plain text, cut to the terminal's width and height. */
#include "tollgate/top.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str(json_t *o, const char *k, const char *dflt) {
  const char *s = json_string_value(json_object_get(o, k));
  return s ? s : dflt;
}

static double num(json_t *o, const char *k) { return json_number_value(json_object_get(o, k)); }

/* A line cut to width (bytes: the names shown are ASCII as tollgate writes them). */
static int line(tg_buf *out, unsigned width, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int line(tg_buf *out, unsigned width, const char *fmt, ...) {
  char b[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(b, sizeof b, fmt, ap);
  va_end(ap);
  if (n < 0) return -1;
  size_t len = (size_t)n < sizeof b ? (size_t)n : sizeof b - 1;
  if (width && len > width) len = width;
  return tg_buf_append(out, b, len) | tg_buf_append(out, "\n", 1);
}

static void dur(char *b, size_t n, double ms) {
  if (!(ms >= 0)) snprintf(b, n, "-");         /* NaN too */
  else if (ms >= 1e12) snprintf(b, n, ">30y"); /* past what converts to an integer below */
  else if (ms < 1000) snprintf(b, n, "%.0fms", ms);
  else if (ms < 60000) snprintf(b, n, "%.1fs", ms / 1000);
  else if (ms < 3600000) snprintf(b, n, "%lldm%02llds", (long long)ms / 60000, (long long)ms / 1000 % 60);
  else snprintf(b, n, "%lldh%02lldm", (long long)ms / 3600000, (long long)ms / 60000 % 60);
}

static tg_top_sort sort_by;

static int cmp_streams(const void *a, const void *b) {
  json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
  double u, v;
  switch (sort_by) {
  case TG_TOP_SLOWEST: u = num(y, "tokens_per_s"), v = num(x, "tokens_per_s"); break;
  case TG_TOP_TOKENS: u = num(x, "tokens"), v = num(y, "tokens"); break;
  default: u = num(x, "age_ms"), v = num(y, "age_ms"); break;
  }
  return u < v ? 1 : u > v ? -1 : 0; /* the largest first (for SLOWEST: the smallest rate) */
}

static int head(tg_buf *o, json_t *s, unsigned w) {
  json_t *win = json_object_get(s, "windows"), *w10 = json_object_get(win, "10s"), *w1 = json_object_get(win, "1m");
  char up[32];
  dur(up, sizeof up, num(s, "uptime_s") * 1000);
  int rc = line(o, w, "tollgate %s   up %s   %.0f workers", str(s, "version", "?"), up, num(s, "workers"));
  rc |= line(o, w,
             "live %zu   queued %.0f   req/s %.2f (1m)   tok/s %.1f (10s)   prompt tok/s %.1f (10s)   errors %.0f (1m)",
             json_array_size(json_object_get(s, "streams")), num(s, "queued"), num(w1, "requests_per_s"),
             num(w10, "tokens_per_s"), num(w10, "prompt_tokens_per_s"), num(w1, "errors"));
  rc |= line(o, w, "TTFT p50/p95 %.0f/%.0f ms   stream tok/s p50/p95 %.1f/%.1f   (1m)", num(w1, "ttft_p50_ms"),
             num(w1, "ttft_p95_ms"), num(w1, "stream_tps_p50"), num(w1, "stream_tps_p95"));
  char errs[512] = "errors by reason (1m):";
  size_t n = strlen(errs);
  const char *k;
  json_t *v;
  json_object_foreach(json_object_get(w1, "errors_by_reason"), k, v) {
    if (n < sizeof errs) n += (size_t)snprintf(errs + n, sizeof errs - n, " %s %.0f", k, json_number_value(v));
  }
  return rc | line(o, w, "%s", errs);
}

static int servers(tg_buf *o, json_t *s, unsigned w) {
  int rc = line(o, w, "%s", "") |
           line(o, w, "%-12s %-22s %-5s %12s  %s", "UPSTREAM", "SERVER", "STATE", "FLIGHT/SLOTS", "LOADED");
  size_t i;
  json_t *x;
  json_array_foreach(json_object_get(s, "servers"), i, x) {
    char loaded[256] = "";
    size_t n = 0, j;
    json_t *m;
    json_array_foreach(json_object_get(x, "loaded"), j, m) {
      if (n < sizeof loaded)
        n += (size_t)snprintf(loaded + n, sizeof loaded - n, "%s%s", j ? ", " : "", json_string_value(m));
    }
    char fs[32];
    snprintf(fs, sizeof fs, "%.0f/%.0f", num(x, "in_flight"), num(x, "slots"));
    rc |= line(o, w, "%-12s %-22s %-5s %12s  %s", str(x, "upstream", ""), str(x, "server", ""),
               json_is_true(json_object_get(x, "up")) ? "up" : "DOWN", fs, loaded);
  }
  json_array_foreach(json_object_get(s, "queues"), i, x) {
    if (num(x, "depth") > 0)
      rc |= line(o, w, "queue %s %s: %.0f waiting", str(x, "upstream", ""), str(x, "model", ""), num(x, "depth"));
  }
  return rc;
}

static int streams(tg_buf *o, json_t *s, unsigned w, unsigned rows, tg_top_sort sort) {
  static const char *const names[TG_TOP_SORTS] = {"longest", "slowest", "most tokens"};
  json_t *list = json_object_get(s, "streams");
  size_t n = json_array_size(list);
  int rc = line(o, w, "%s", "") | line(o, w, "STREAMS %zu, %s first", n, names[sort]);
  rc |= line(o, w, "%-14s %-15s %-24s %-21s %-8s %8s %7s %7s %6s", "USER", "CLIENT", "MODEL", "SERVER", "ROUTE", "AGE",
             "TTFT", "TOKENS", "TOK/S");
  json_t **v = n ? malloc(n * sizeof *v) : NULL;
  if (n && !v) return -1;
  for (size_t i = 0; i < n; i++) v[i] = json_array_get(list, i);
  sort_by = sort;
  if (n > 1) qsort(v, n, sizeof *v, cmp_streams);
  size_t shown = rows && n > rows ? rows - 1 : n; /* a last line says how many more */
  for (size_t i = 0; i < shown; i++) {
    json_t *x = v[i], *ttft = json_object_get(x, "ttft_ms");
    char age[32], t[32];
    dur(age, sizeof age, num(x, "age_ms"));
    dur(t, sizeof t, json_is_number(ttft) ? json_number_value(ttft) : -1);
    rc |= line(o, w, "%-14.14s %-15.15s %-24.24s %-21.21s %-8s %8s %7s %7.0f %6.1f", str(x, "user", "-"),
               str(x, "client", ""), str(x, "model", "-"), str(x, "server", "-"), str(x, "route", ""), age, t,
               num(x, "tokens"), num(x, "tokens_per_s"));
  }
  if (shown < n) rc |= line(o, w, "... %zu more", n - shown);
  free(v);
  return rc;
}

int tg_top_render(tg_buf *out, const char *json, size_t n, unsigned width, unsigned height, tg_top_sort sort) {
  json_error_t err;
  json_t *s = json_loadb(json, n, 0, &err);
  if (!s || !json_is_object(json_object_get(s, "windows")) || !json_is_array(json_object_get(s, "streams"))) {
    tg_buf_printf(out, "not a tollgate status (/status.json): %s\n", s ? "no windows or streams" : err.text);
    json_decref(s);
    return -1;
  }
  if (sort >= TG_TOP_SORTS) sort = TG_TOP_AGE;
  int rc = head(out, s, width) | servers(out, s, width);
  unsigned used = 0;
  for (size_t i = 0; i < out->len; i++) used += out->data[i] == '\n';
  unsigned rows = height ? (height > used + 5 ? height - used - 5 : 1) : 0; /* 3 lines of heading, 2 at the foot */
  rc |= streams(out, s, width, rows, sort);
  json_decref(s);
  return rc ? -1 : 0;
}
