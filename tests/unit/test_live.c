/* The live windows and their percentiles (tollgate/live-window.h): a
 * bucket per second, summed over the window asked for; a bucket 15 minutes
 * old is reused, not added; counts made on several threads add up; p50 and
 * p95 fall in the bucket of the value they name. */
#include <pthread.h>
#include <stdlib.h>

#include "tg_test.h"
#include "tollgate/live-streams.h"
#include "tollgate/live-window.h"
#include "tollgate/llm.h"
#include "tollgate/top.h"

static void test_hist_index(void) {
  TG_CHECK(tg_lw_hist_index(0, 1) == 0);
  TG_CHECK(tg_lw_hist_index(0.99, 1) == 0);
  TG_CHECK(tg_lw_hist_index(1, 1) == 1);
  TG_CHECK(tg_lw_hist_index(3.9, 1) == 2);
  TG_CHECK(tg_lw_hist_index(4, 1) == 3);
  TG_CHECK(tg_lw_hist_index(1e12, 1) == TG_LW_HBUCKETS - 1);
  TG_CHECK(tg_lw_hist_index(0.015, TG_LW_TTFT_BASE) == 1); /* 10..20 ms */
}

static void test_hist_quantile(void) {
  tg_lw_hist h = {{0}};
  TG_CHECK(tg_lw_hist_quantile(&h, 1, 0.5) == 0);
  /* 90 values in [32, 64), 10 in [256, 512) */
  h.b[tg_lw_hist_index(40, 1)] = 90;
  h.b[tg_lw_hist_index(300, 1)] = 10;
  double p50 = tg_lw_hist_quantile(&h, 1, 0.5), p95 = tg_lw_hist_quantile(&h, 1, 0.95);
  TG_CHECK(p50 >= 32 && p50 < 64);
  TG_CHECK(p95 >= 256 && p95 < 512);
  TG_CHECK(p95 > p50);
  /* one bucket only: the quantiles rise through it */
  tg_lw_hist one = {{0}};
  one.b[5] = 100; /* [16, 32) */
  TG_CHECK(tg_lw_hist_quantile(&one, 1, 0.25) < tg_lw_hist_quantile(&one, 1, 0.75));
  TG_CHECK(tg_lw_hist_quantile(&one, 1, 0.5) == 24);
  /* the last bucket has no top: its floor */
  tg_lw_hist top = {{0}};
  top.b[TG_LW_HBUCKETS - 1] = 3;
  TG_CHECK(tg_lw_hist_quantile(&top, 1, 0.95) == 16384);
}

static void test_ring_windows(void) {
  tg_lw_ring *r = tg_lw_ring_new();
  TG_CHECK(r);
  uint64_t now = 100000;
  /* one request a second for the last 15 minutes */
  for (uint64_t s = now - TG_LW_SECONDS; s < now; s++) tg_lw_ring_at(r, s)->requests = 1;
  tg_lw_bucket w = {0};
  tg_lw_ring_sum(r, &w, now - 10, now);
  TG_CHECK(w.requests == 10);
  w = (tg_lw_bucket){0};
  tg_lw_ring_sum(r, &w, now - 60, now);
  TG_CHECK(w.requests == 60);
  w = (tg_lw_bucket){0};
  tg_lw_ring_sum(r, &w, now - TG_LW_SECONDS, now);
  TG_CHECK(w.requests == TG_LW_SECONDS);
  /* a second later: the oldest bucket is reused, its count gone */
  tg_lw_bucket *b = tg_lw_ring_at(r, now);
  TG_CHECK(b->requests == 0);
  b->requests = 5;
  w = (tg_lw_bucket){0};
  tg_lw_ring_sum(r, &w, now + 1 - TG_LW_SECONDS, now + 1);
  TG_CHECK(w.requests == TG_LW_SECONDS - 1 + 5);
  /* a window asked for before the ring's time holds nothing of now */
  w = (tg_lw_bucket){0};
  tg_lw_ring_sum(r, &w, now - TG_LW_SECONDS - 10, now - TG_LW_SECONDS);
  TG_CHECK(w.requests == 0);
  tg_lw_ring_free(r);
}

#define PER_THREAD 1000

static void *count_some(void *arg) {
  (void)arg;
  for (int i = 0; i < PER_THREAD; i++) {
    tg_lw_done(i % 10 ? 200 : 502, i % 10 ? TG_LW_OK : TG_LW_DOWN, 3, 40, tg_lw_now());
    tg_lw_tokens(2, tg_lw_now());
    tg_lw_ttft(0.3, tg_lw_now());
  }
  tg_lw_thread_done();
  return NULL;
}

static void test_threads_add_up(void) {
  uint64_t now = tg_lw_now();
  tg_lw_bucket before;
  tg_lw_sum(&before, now + 1, 6);
  pthread_t t[3];
  for (int i = 0; i < 3; i++) TG_CHECK(pthread_create(&t[i], NULL, count_some, NULL) == 0);
  for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
  tg_lw_bucket after;
  uint64_t end = tg_lw_now() + 1;
  tg_lw_sum(&after, end, (unsigned)(end - (now - 5)));
  TG_CHECK(after.requests - before.requests == 3 * PER_THREAD);
  TG_CHECK(after.gen_tokens - before.gen_tokens == 6 * PER_THREAD);
  TG_CHECK(after.prompt_tokens - before.prompt_tokens == 9 * PER_THREAD);
  TG_CHECK(after.err[TG_LW_DOWN] - before.err[TG_LW_DOWN] == 3 * PER_THREAD / 10);
  TG_CHECK(after.errors - before.errors == 3 * PER_THREAD / 10);
  double p50 = tg_lw_hist_quantile(&after.tps, TG_LW_TPS_BASE, 0.5);
  TG_CHECK(p50 >= 32 && p50 < 64);
  double ttft = tg_lw_hist_quantile(&after.ttft, TG_LW_TTFT_BASE, 0.95);
  TG_CHECK(ttft >= 0.16 && ttft < 0.32);
  /* a series: the counts are in its last steps, none before */
  tg_lw_bucket series[90];
  tg_lw_series(series, 90, 10, tg_lw_now() + 1);
  uint64_t total = 0;
  for (int i = 0; i < 90; i++) total += series[i].requests;
  TG_CHECK(total >= 3 * PER_THREAD);
  TG_CHECK(series[89].requests + series[88].requests >= 3 * PER_THREAD);
}

static void test_error_names(void) {
  TG_CHECK_STR(tg_lw_error_name(TG_LW_DOWN), "upstream_down");
  TG_CHECK_STR(tg_lw_error_name(TG_LW_AUTH), "auth");
  TG_CHECK_STR(tg_lw_error_name(TG_LW_NERR), "?");
}

/* The row of the stream that came from ip in a snapshot, or NULL. */
static const tg_live_row *row_of(const tg_live_row *rows, size_t n, const char *ip) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(rows[i].ip, ip)) return &rows[i];
  return NULL;
}

static void test_streams_listed(void) {
  const uint64_t s0 = 5000000000ull;
  tg_live_stream *a = tg_live_begin("10.0.0.1", s0, TG_ROUTE_CHAT, "alice", NULL);
  tg_live_stream *b = tg_live_begin("10.0.0.2", s0, TG_ROUTE_GENERATE, NULL, NULL);
  TG_CHECK(a && b);
  tg_live_facts(a, TG_ROUTE_CHAT, NULL, "llama3.2:latest", NULL);
  tg_live_facts(a, TG_ROUTE_CHAT, NULL, NULL, "127.0.0.1:11434"); /* NULL leaves the others */
  TG_CHECK(tg_live_tokens(a, 1, 5200) == 1);                      /* its first token, 200 ms in (times in ms) */
  TG_CHECK(tg_live_tokens(a, 5, 5300) == 0);
  TG_CHECK(tg_live_tokens(a, 25, 6300) == 0); /* a second after the first: a mark */
  size_t n;
  tg_live_row *rows = tg_live_snapshot(&n);
  TG_CHECK(rows && n >= 2);
  const tg_live_row *r = row_of(rows, n, "10.0.0.1");
  TG_CHECK(r);
  TG_CHECK_STR(r->user, "alice");
  TG_CHECK_STR(r->model, "llama3.2:latest");
  TG_CHECK_STR(r->server, "127.0.0.1:11434");
  TG_CHECK(r->route == TG_ROUTE_CHAT);
  TG_CHECK(r->tokens == 25);
  TG_CHECK(r->first_ns == s0 + 200000000ull);
  double rate = tg_live_rate(r, s0 + 1400000000ull); /* 24 tokens in 1.1 s */
  TG_CHECK(rate > 20 && rate < 23);
  TG_CHECK(tg_live_rate(r, s0 + 5300000000ull) < 1); /* no token for 4 s: it falls */
  const tg_live_row *q = row_of(rows, n, "10.0.0.2");
  TG_CHECK(q && q->tokens == 0 && q->first_ns == 0 && q->user[0] == 0);
  free(rows);
  tg_live_end(a, 7000);
  rows = tg_live_snapshot(&n);
  TG_CHECK(!row_of(rows, n, "10.0.0.1"));
  TG_CHECK(row_of(rows, n, "10.0.0.2"));
  free(rows);
  tg_live_end(b, 7000);
  rows = tg_live_snapshot(&n);
  TG_CHECK(!row_of(rows, n, "10.0.0.2"));
  free(rows);
  /* an entry freed is reused, clean */
  tg_live_stream *c = tg_live_begin("10.0.0.3", s0, TG_ROUTE_OTHER, NULL, NULL);
  rows = tg_live_snapshot(&n);
  r = row_of(rows, n, "10.0.0.3");
  TG_CHECK(r && r->tokens == 0 && r->user[0] == 0 && r->model[0] == 0);
  free(rows);
  tg_live_end(c, 7000);
}

static void test_scanner_counts_chunks(void) {
  tg_json_scan s = {0};
  tg_llm_facts f;
  tg_llm_facts_init(&f);
  const char *ndjson = "{\"response\":\"a\",\"x\":{\"y\":1}}\n{\"response\":\"}\"}\n{\"resp";
  tg_llm_scan_response(&s, &f, ndjson, strlen(ndjson));
  TG_CHECK(s.objects == 2); /* nested objects and braces in strings do not count; the open one not yet */
  const char *rest = "onse\":\"b\"}\n";
  tg_llm_scan_response(&s, &f, rest, strlen(rest));
  TG_CHECK(s.objects == 3);
  tg_json_scan e = {0};
  const char *sse = "data: {\"choices\":[{\"delta\":{}}]}\n\ndata: [DONE]\n\n";
  tg_llm_scan_response(&e, &f, sse, strlen(sse));
  TG_CHECK(e.objects == 1);
}

static const char status_json[] =
    "{\"version\":\"0.1.0\",\"uptime_s\":75,\"workers\":2,\"queued\":0,"
    "\"servers\":[{\"upstream\":\"ollama\",\"server\":\"10.0.0.9:11434\",\"up\":true,\"in_flight\":2,\"slots\":4,"
    "\"loaded\":[\"llama3.2:latest\",\"qwen3:8b\"]}],\"queues\":[{\"upstream\":\"ollama\",\"model\":\"phi3:latest\","
    "\"depth\":3}],"
    "\"windows\":{\"10s\":{\"tokens_per_s\":41.5},\"1m\":{\"requests_per_s\":0.5,\"errors\":2,\"ttft_p50_ms\":120,"
    "\"errors_by_reason\":{\"auth\":1,\"timeout\":1}}},"
    "\"streams\":[{\"user\":\"alice\",\"client\":\"10.1.1.1\",\"model\":\"llama3.2:latest\",\"server\":\"10.0.0.9:"
    "11434\","
    "\"route\":\"chat\",\"age_ms\":65000,\"ttft_ms\":99,\"tokens\":800,\"tokens_per_s\":12.5},"
    "{\"user\":null,\"client\":\"10.1.1.2\",\"model\":\"qwen3:8b\",\"server\":null,\"route\":\"generate\",\"age_ms\":"
    "2000,"
    "\"ttft_ms\":null,\"tokens\":0,\"tokens_per_s\":0},"
    "{\"user\":\"bob\",\"client\":\"10.1.1.3\",\"model\":\"qwen3:8b\",\"server\":\"10.0.0.9:11434\",\"route\":\"chat\","
    "\"age_ms\":9000,\"ttft_ms\":300,\"tokens\":90,\"tokens_per_s\":30}]}";

/* The line of out that contains s, or NULL. */
static const char *line_with(const tg_buf *out, const char *s) { return strstr(out->data, s); }

static void test_top_screen(void) {
  tg_buf out = {0};
  TG_CHECK(tg_top_render(&out, status_json, strlen(status_json), 0, 0, TG_TOP_AGE) == 0);
  TG_CHECK(tg_buf_append(&out, "", 1) == 0);
  TG_CHECK(line_with(&out, "live 3"));
  TG_CHECK(line_with(&out, "tok/s 41.5 (10s)"));
  TG_CHECK(line_with(&out, "auth 1 timeout 1"));
  TG_CHECK(line_with(&out, "10.0.0.9:11434         up             2/4  llama3.2:latest, qwen3:8b"));
  TG_CHECK(line_with(&out, "queue ollama phi3:latest: 3 waiting"));
  /* longest first: alice (65 s), bob (9 s), the one waiting for its first token (2 s) */
  const char *a = line_with(&out, "alice"), *b = line_with(&out, "bob"), *w = line_with(&out, "10.1.1.2");
  TG_CHECK(a && b && w && a < b && b < w);
  TG_CHECK(line_with(&out, "1m05s"));
  tg_buf_free(&out);
  /* slowest first: the one with no token yet, then alice, then bob */
  tg_buf slow = {0};
  TG_CHECK(tg_top_render(&slow, status_json, strlen(status_json), 0, 0, TG_TOP_SLOWEST) == 0);
  TG_CHECK(tg_buf_append(&slow, "", 1) == 0);
  a = line_with(&slow, "alice"), b = line_with(&slow, "bob"), w = line_with(&slow, "10.1.1.2");
  TG_CHECK(a && b && w && w < a && a < b);
  tg_buf_free(&slow);
  /* a short terminal: the streams that do not fit are counted, lines cut to the width */
  tg_buf small = {0};
  TG_CHECK(tg_top_render(&small, status_json, strlen(status_json), 40, 14, TG_TOP_AGE) == 0);
  TG_CHECK(tg_buf_append(&small, "", 1) == 0);
  TG_CHECK(line_with(&small, "more"));
  unsigned lines = 0;
  for (const char *p = small.data, *nl; (nl = strchr(p, '\n')); p = nl + 1, lines++) TG_CHECK(nl - p <= 40);
  TG_CHECK(lines <= 14);
  tg_buf_free(&small);
  /* not a status */
  tg_buf bad = {0};
  TG_CHECK(tg_top_render(&bad, "{\"x\":1}", 7, 80, 0, TG_TOP_AGE) < 0);
  TG_CHECK(tg_top_render(&bad, "nope", 4, 80, 0, TG_TOP_AGE) < 0);
  tg_buf_free(&bad);
}

void tg_suite_live(void);
void tg_suite_live(void) {
  TG_RUN(test_top_screen);
  TG_RUN(test_streams_listed);
  TG_RUN(test_scanner_counts_chunks);
  TG_RUN(test_hist_index);
  TG_RUN(test_hist_quantile);
  TG_RUN(test_ring_windows);
  TG_RUN(test_threads_add_up);
  TG_RUN(test_error_names);
}
