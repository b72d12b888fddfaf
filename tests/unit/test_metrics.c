/* Metrics: counts made on several threads, each into its own counters,
 * add up to the right sums when rendered; a thread's counts outlive it;
 * the (user, model) table keeps its 255 rows, then `_other`. The counters
 * are process-wide, so each test reads figures before and after. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tg_test.h"
#include "tollgate/metrics-view.h"
#include "tollgate/metrics.h"

#define PER_THREAD 20000

/* The rendered text, NUL-terminated for the string functions (a tg_buf
 * holds bytes and ends without one). json: /status.json's, else /metrics'. */
static int render(tg_buf *b, int json) {
  if ((json ? tg_metrics_render_json(b) : tg_metrics_render(b)) < 0 || tg_buf_append(b, "", 1) < 0) return -1;
  b->len--;
  return 0;
}

/* The value of the Prometheus line that starts with series + " ", or 0. */
static unsigned long long metric(const char *series) {
  tg_buf b = {0};
  if (render(&b, 0) < 0) return ~0ull;
  unsigned long long v = 0;
  size_t n = strlen(series);
  for (const char *p = b.data; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
    if (!strncmp(p, series, n) && p[n] == ' ') {
      v = strtoull(p + n + 1, NULL, 10);
      break;
    }
  tg_buf_free(&b);
  return v;
}

/* Lines of the Prometheus text that start with prefix. */
static size_t lines_with(const char *prefix) {
  tg_buf b = {0};
  if (render(&b, 0) < 0) return 0;
  size_t count = 0, n = strlen(prefix);
  for (const char *p = b.data; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
    count += !strncmp(p, prefix, n);
  tg_buf_free(&b);
  return count;
}

typedef struct writer {
  const char *user;
  int done; /* call tg_metrics_thread_done at the end */
} writer;

static void *write_counts(void *arg) {
  const writer *w = arg;
  for (int i = 0; i < PER_THREAD; i++) {
    tg_metrics_live(1);
    tg_metrics_req r = {.kind = TG_ROUTE_CHAT,
                        .status = 299,
                        .ttfb_s = 0.02,
                        .duration_s = 0.2,
                        .user = i & 1 ? "ut-both" : w->user,
                        .model = "ut-model:latest",
                        .prompt_tokens = 3,
                        .output_tokens = 5,
                        .client_aborted = i % 4 == 0};
    tg_metrics_request_done(&r);
    tg_metrics_refused("limit", "ut_reason");
    tg_metrics_tls_handshake(1, i & 1);
    if (i + 1 < PER_THREAD) tg_metrics_live(-1); /* one stays live per thread */
  }
  if (w->done) tg_metrics_thread_done();
  return NULL;
}

/* A reader that renders while the writers count (for the thread sanitizer). */
static _Atomic int writers_running;
static void *read_counts(void *arg) {
  (void)arg;
  while (writers_running) {
    tg_buf b = {0};
    tg_metrics_render(&b);
    tg_metrics_render_json(&b);
    tg_buf_free(&b);
  }
  return NULL;
}

#define REQS "tollgate_requests_total{route=\"chat\",status=\"299\"}"
#define DUR_LE "tollgate_request_duration_seconds_bucket{route=\"chat\",le=\"0.25\"}"
#define TTFB_LE "tollgate_ttfb_seconds_bucket{route=\"chat\",le=\"0.025\"}"
#define ABORTS "tollgate_client_aborts_total{route=\"chat\"}"
#define REFUSED "tollgate_refusals_total{layer=\"limit\",reason=\"ut_reason\"}"
#define RESUMED "tollgate_tls_handshakes_total{result=\"resumed\"}"
#define LIVE "tollgate_live_streams"
#define TOK(u, k) "tollgate_tokens_total{user=\"" u "\",model=\"ut-model:latest\",kind=\"" k "\"}"

static void test_two_threads_add_up(void) {
  unsigned long long reqs = metric(REQS), dur = metric(DUR_LE), ttfb = metric(TTFB_LE), aborts = metric(ABORTS),
                     refused = metric(REFUSED), resumed = metric(RESUMED), live = metric(LIVE),
                     both = metric(TOK("ut-both", "output"));
  writer a = {"ut-a", 1}, b = {"ut-b", 0};
  pthread_t ta, tb, tr;
  writers_running = 1;
  TG_CHECK(pthread_create(&tr, NULL, read_counts, NULL) == 0);
  TG_CHECK(pthread_create(&ta, NULL, write_counts, &a) == 0);
  TG_CHECK(pthread_create(&tb, NULL, write_counts, &b) == 0);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  writers_running = 0;
  pthread_join(tr, NULL);
  TG_CHECK(metric(REQS) == reqs + 2 * PER_THREAD);
  TG_CHECK(metric(DUR_LE) == dur + 2 * PER_THREAD);
  TG_CHECK(metric(TTFB_LE) == ttfb + 2 * PER_THREAD);
  TG_CHECK(metric(ABORTS) == aborts + 2 * PER_THREAD / 4);
  TG_CHECK(metric(REFUSED) == refused + 2 * PER_THREAD);
  TG_CHECK(metric(RESUMED) == resumed + PER_THREAD);
  TG_CHECK(metric(LIVE) == live + 2);
  TG_CHECK(metric(TOK("ut-a", "prompt")) == 3 * PER_THREAD / 2);
  TG_CHECK(metric(TOK("ut-b", "output")) == 5 * PER_THREAD / 2);
  TG_CHECK(metric(TOK("ut-both", "output")) == both + 5 * PER_THREAD);
  tg_buf j = {0};
  TG_CHECK(render(&j, 1) == 0);
  TG_CHECK(strstr(j.data, "{\"user\":\"ut-a\",\"model\":\"ut-model:latest\",\"requests\":10000,\"prompt\":30000,"
                          "\"output\":50000}") != NULL);
  tg_buf_free(&j);
}

/* A thread that ended left its counts; the next thread counts on top. */
static void test_counts_outlive_their_thread(void) {
  unsigned long long reqs = metric(REQS), a = metric(TOK("ut-a", "prompt"));
  writer w = {"ut-a", 1};
  pthread_t t;
  TG_CHECK(pthread_create(&t, NULL, write_counts, &w) == 0);
  pthread_join(t, NULL);
  TG_CHECK(metric(REQS) == reqs + PER_THREAD);
  TG_CHECK(metric(TOK("ut-a", "prompt")) == a + 3 * PER_THREAD / 2);
}

typedef struct pairs {
  int first, n;
} pairs;

static void *count_pairs(void *arg) {
  const pairs *p = arg;
  for (int i = p->first; i < p->first + p->n; i++) {
    char user[32];
    snprintf(user, sizeof user, "ut-user-%d", i);
    tg_metrics_req r = {.kind = TG_ROUTE_GENERATE,
                        .status = 200,
                        .ttfb_s = -1,
                        .user = user,
                        .model = "m",
                        .prompt_tokens = 1,
                        .output_tokens = -1};
    tg_metrics_request_done(&r);
  }
  tg_metrics_thread_done();
  return NULL;
}

/* 255 (user, model) rows, whichever thread saw a pair first, then one
 * `_other` row for the rest; a pair that has a row keeps counting in it. */
static void test_token_rows_then_other(void) {
  size_t rows = lines_with("tollgate_tokens_total{") / 2;
  TG_CHECK(rows < 255 - 2);
  TG_CHECK(metric(TOK("_other", "prompt")) == 0);
  pairs p1 = {0, 150}, p2 = {150, 150};
  pthread_t t1, t2;
  TG_CHECK(pthread_create(&t1, NULL, count_pairs, &p1) == 0);
  TG_CHECK(pthread_create(&t2, NULL, count_pairs, &p2) == 0);
  pthread_join(t1, NULL);
  pthread_join(t2, NULL);
  TG_CHECK(lines_with("tollgate_tokens_total{") / 2 == 256);
  TG_CHECK(metric("tollgate_tokens_total{user=\"_other\",model=\"_other\",kind=\"prompt\"}") == 300 - (255 - rows));
  unsigned long long a = metric(TOK("ut-a", "prompt"));
  tg_metrics_req r = {.kind = TG_ROUTE_CHAT,
                      .status = 200,
                      .ttfb_s = -1,
                      .user = "ut-a",
                      .model = "ut-model:latest",
                      .prompt_tokens = 7,
                      .output_tokens = 0};
  tg_metrics_request_done(&r);
  TG_CHECK(metric(TOK("ut-a", "prompt")) == a + 7);
  tg_buf j = {0};
  TG_CHECK(render(&j, 1) == 0);
  const char *other = strstr(j.data, "{\"user\":\"_other\",\"model\":\"_other\"");
  TG_CHECK(other && strstr(other, "],\"upstreams\":") == strchr(other, ']')); /* the last row */
  tg_buf_free(&j);
}

static size_t two_servers(tg_metrics_server_row *rows, size_t cap) {
  if (cap < 2) return 0;
  rows[0] = (tg_metrics_server_row){
      "ollama", "10.0.0.5:11434", 1, 2, 4, 0, 0, 2, 4500, 5, 900, 1200, 800, 3, "llama3.2:latest\nqwen:7b\nmist"};
  rows[1] = (tg_metrics_server_row){"ollama", "10.0.0.6:11434", 0, 0, 1, 3, 7, 0, 0, 0, 0, 0, 0, 0, ""};
  return 2;
}

/* The servers' rows come from the source servers.c sets, one family per
 * fact with the upstream and server labels; none without a source. */
static void test_server_rows(void) {
  TG_CHECK(metric("tollgate_server_up{upstream=\"ollama\",server=\"10.0.0.5:11434\"}") == 0);
  tg_metrics_servers_source(two_servers);
  TG_CHECK(metric("tollgate_server_up{upstream=\"ollama\",server=\"10.0.0.5:11434\"}") == 1);
  TG_CHECK(metric("tollgate_server_in_flight{upstream=\"ollama\",server=\"10.0.0.5:11434\"}") == 2);
  TG_CHECK(metric("tollgate_server_slots{upstream=\"ollama\",server=\"10.0.0.5:11434\"}") == 4);
  TG_CHECK(metric("tollgate_server_failovers_total{upstream=\"ollama\",server=\"10.0.0.6:11434\"}") == 3);
  TG_CHECK(metric("tollgate_server_errors_total{upstream=\"ollama\",server=\"10.0.0.6:11434\"}") == 7);
  TG_CHECK(metric("tollgate_server_loads_total{upstream=\"ollama\",server=\"10.0.0.5:11434\"}") == 2);
  TG_CHECK(metric("tollgate_affinity_hits_total{upstream=\"ollama\",server=\"10.0.0.5:11434\"}") == 5);
  TG_CHECK(metric("tollgate_affinity_matched_tokens{upstream=\"ollama\",server=\"10.0.0.5:11434\"}") == 900);
  TG_CHECK(metric("tollgate_server_prompt_tokens_evaluated_total{upstream=\"ollama\",server=\"10.0.0.5:11434\"}") ==
           1200);
  TG_CHECK(metric("tollgate_server_prompt_tokens_cached_total{upstream=\"ollama\",server=\"10.0.0.5:11434\"}") == 800);
  TG_CHECK(lines_with("tollgate_server_load_seconds_total{upstream=\"ollama\",server=\"10.0.0.5:11434\"} 4.500\n") ==
           1);
  tg_buf b = {0};
  TG_CHECK(render(&b, 1) == 0);
  TG_CHECK(b.data &&
           strstr(b.data, "{\"upstream\":\"ollama\",\"server\":\"10.0.0.6:11434\",\"up\":false,"
                          "\"in_flight\":0,\"slots\":1,\"failovers\":3,\"errors\":7,\"models\":0,"
                          "\"loads\":0,\"load_seconds\":0.000,\"affinity_hits\":0,\"affinity_matched_tokens\":0,"
                          "\"prompt_tokens_evaluated\":0,\"prompt_tokens_cached\":0,\"loaded\":[]}"));
  TG_CHECK(b.data && strstr(b.data, "\"models\":3,\"loads\":2,\"load_seconds\":4.500,\"affinity_hits\":5,"
                                    "\"affinity_matched_tokens\":900,\"prompt_tokens_evaluated\":1200,"
                                    "\"prompt_tokens_cached\":800,\"loaded\":[\"llama3.2:latest\","
                                    "\"qwen:7b\"]}")); /* a cut name left out */
  tg_buf_free(&b);
  tg_metrics_servers_source(NULL);
}

void tg_suite_metrics(void) {
  TG_RUN(test_server_rows);
  TG_RUN(test_two_threads_add_up);
  TG_RUN(test_counts_outlive_their_thread);
  TG_RUN(test_token_rows_then_other);
}
