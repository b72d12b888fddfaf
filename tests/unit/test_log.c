/* The error log's line format and the access log's refused_by field. */
#include <stdarg.h>
#include <stdlib.h>

#include "tg_test.h"
#include "tollgate/access-log.h"
#include "tollgate/log.h"

static size_t fmt(char *out, tg_log_level lvl, const char *rid, long long ms, const char *f, ...) {
  va_list ap;
  va_start(ap, f);
  size_t n = tg_log_format(out, lvl, rid, ms, f, ap);
  va_end(ap);
  out[n] = 0;
  return n;
}

static void test_log_line_has_time_level_and_request_id(void) {
  char line[TG_LOG_LINE_MAX + 1];
  /* 2026-12-07T17:40:12.045Z */
  fmt(line, TG_LOG_ERROR, "3f2a", 1796665212045LL, "%s %d", "POST /api/chat: 502", 7);
  TG_CHECK_STR(line, "2026-12-07T17:40:12.045Z error [3f2a] POST /api/chat: 502 7\n");
  fmt(line, TG_LOG_INFO, NULL, 1796665212999LL, "listening");
  TG_CHECK_STR(line, "2026-12-07T17:40:12.999Z info listening\n");
  fmt(line, TG_LOG_WARN, "", 0, "x");
  TG_CHECK_STR(line, "1970-01-01T00:00:00.000Z warn x\n");
}

static void test_log_line_cut_says_so(void) {
  char line[TG_LOG_LINE_MAX + 1];
  char *big = malloc(4000);
  TG_CHECK(big);
  memset(big, 'a', 3999);
  big[3999] = 0;
  size_t n = fmt(line, TG_LOG_ERROR, "id", 0, "%s", big);
  free(big);
  TG_CHECK(n == TG_LOG_LINE_MAX);
  TG_CHECK(line[n - 1] == '\n');
  TG_CHECK(memcmp(line + n - 4, "...\n", 4) == 0);
  TG_CHECK(strlen(line) == n);
}

/* A POST /api/chat answered with status, with no LLM facts. */
static tg_access_entry access_entry(const tg_access_rec *rec, int status) {
  return (tg_access_entry){.client = "127.0.0.1",
                           .method = "POST",
                           .path = "/api/chat",
                           .path_len = 9,
                           .status = status,
                           .rec = rec,
                           .now_ns = 2,
                           .prompt_tokens = -1,
                           .output_tokens = -1};
}

static void test_access_line_names_the_refusing_limit(void) {
  tg_access_rec rec = {.t_start_ns = 1, .refused_by = "rate per ip"};
  tg_access_entry e = access_entry(&rec, 429);
  tg_buf out = {0};
  TG_CHECK(tg_access_format(&out, &e) == 0);
  tg_buf_append(&out, "", 1);
  int has = strstr(out.data, ",\"refused_by\":\"rate per ip\"") != NULL;
  rec.refused_by = NULL;
  out.len = 0;
  TG_CHECK(tg_access_format(&out, &e) == 0);
  tg_buf_append(&out, "", 1);
  int absent = strstr(out.data, "refused_by") == NULL;
  tg_buf_free(&out);
  TG_CHECK(has);
  TG_CHECK(absent);
}

/* proto, host, ua and tls: as sent (escaped, cut), or null. */
static void test_access_line_has_proto_host_ua_tls(void) {
  tg_access_rec rec = {.t_start_ns = 1};
  char ua[700];
  memset(ua, 'a', sizeof ua);
  memcpy(ua, "curl \"8\"", 8);
  tg_access_conn k = {.proto = "HTTP/1.1",
                      .host = "ollama.example:443xx",
                      .host_len = 18,
                      .ua = ua,
                      .ua_len = sizeof ua,
                      .tls_version = "TLSv1.3",
                      .tls_cipher = "TLS_AES_128_GCM_SHA256"};
  tg_access_entry e = access_entry(&rec, 200);
  e.conn = &k;
  tg_buf out = {0};
  TG_CHECK(tg_access_format(&out, &e) == 0);
  tg_buf_append(&out, "", 1);
  char want_ua[600];
  int n = snprintf(want_ua, sizeof want_ua, ",\"ua\":\"curl \\\"8\\\"%.*s\",", 512 - 8, ua + 8);
  int has = strstr(out.data, ",\"proto\":\"HTTP/1.1\",\"host\":\"ollama.example:443\",") && n > 0 &&
            strstr(out.data, want_ua) && strstr(out.data, ",\"tls\":\"TLSv1.3 TLS_AES_128_GCM_SHA256\"");
  e.conn = NULL;
  out.len = 0;
  TG_CHECK(tg_access_format(&out, &e) == 0);
  tg_buf_append(&out, "", 1);
  int nulls = strstr(out.data, ",\"proto\":null,\"host\":null,\"ua\":null,\"tls\":null") != NULL;
  tg_buf_free(&out);
  TG_CHECK(has);
  TG_CHECK(nulls);
}

void tg_suite_log(void) {
  TG_RUN(test_access_line_has_proto_host_ua_tls);
  TG_RUN(test_log_line_has_time_level_and_request_id);
  TG_RUN(test_log_line_cut_says_so);
  TG_RUN(test_access_line_names_the_refusing_limit);
}
