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

static void test_access_line_names_the_refusing_limit(void) {
  tg_access_rec rec = {.t_start_ns = 1, .refused_by = "rate per ip"};
  tg_access_entry e = {.client = "127.0.0.1",
                       .method = "POST",
                       .path = "/api/chat",
                       .path_len = 9,
                       .status = 429,
                       .rec = &rec,
                       .now_ns = 2,
                       .prompt_tokens = -1,
                       .output_tokens = -1};
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

void tg_suite_log(void) {
  TG_RUN(test_log_line_has_time_level_and_request_id);
  TG_RUN(test_log_line_cut_says_so);
  TG_RUN(test_access_line_names_the_refusing_limit);
}
