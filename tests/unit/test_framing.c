/* Unit tests: raw-byte head and chunked-framing checks (src/codec/framing.c). */
#include <string.h>

#include "tg_test.h"
#include "tollgate/framing.h"

static const char *head(const char *s) {
  tg_head_scan sc = {0};
  return tg_head_scan_feed(&sc, s, strlen(s));
}

/* Feeds s one byte at a time, as the slowest client would. */
static int chunks_bytewise(const char *s) {
  tg_chunk_scan sc = {0};
  int rc = 0;
  for (size_t i = 0; s[i] && rc >= 0; i++) rc = tg_chunk_scan_feed(&sc, s + i, 1);
  return rc;
}

static int chunks(const char *s) {
  tg_chunk_scan sc = {0};
  return tg_chunk_scan_feed(&sc, s, strlen(s));
}

static void test_head_scan_accepts_crlf_heads(void) {
  TG_CHECK(head("GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n") == NULL);
  tg_head_scan sc = {0};
  TG_CHECK(tg_head_scan_feed(&sc, "GET / HTTP/1.1\r", 15) == NULL);
  TG_CHECK(tg_head_scan_feed(&sc, "\nHost: a\r\n\r\n", 12) == NULL); /* CR and LF in two reads */
}

static void test_head_scan_refuses_bare_lf_cr_and_folds(void) {
  TG_CHECK(head("GET / HTTP/1.1\nHost: a\r\n\r\n") != NULL);
  TG_CHECK(head("GET / HTTP/1.1\r\nHost: a\r\n\n") != NULL);
  TG_CHECK(head("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n") != NULL);
  TG_CHECK(head("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n") != NULL);
  TG_CHECK(head("GET / HTTP/1.1\r\n Host: a\r\n\r\n") != NULL);
  TG_CHECK(head("GET / HTTP/1.1\r\nTransfer-Encoding:\r\n\tchunked\r\n\r\n") != NULL);
}

/* Scans a whole upstream answer as one read: 1 head ended, 0 not yet, -1 refused. */
static int resp_head(const char *s) {
  tg_head_scan sc = {0};
  size_t used;
  if (tg_head_scan_response(&sc, s, strlen(s), &used)) return -1;
  return sc.ended;
}

static void test_head_scan_response(void) {
  TG_CHECK(resp_head("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi") == 1);
  TG_CHECK(resp_head("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n") == 1);
  TG_CHECK(resp_head("HTTP/1.1 100 Continue\r\n\r\n") == 0); /* the final head follows */
  TG_CHECK(resp_head("HTTP/1.1 200 OK\r\n\n") == -1);
  TG_CHECK(resp_head("\nHTTP/1.1 200 OK\r\n\r\n") == -1);
  /* an empty line before the status line is skipped, not taken as the
   * head's end: the lines after it are still checked */
  TG_CHECK(resp_head("\r\n") == 0);
  TG_CHECK(resp_head("\r\n\r\nHTTP/1.1 200 OK\r\n\r\n") == 1);
  TG_CHECK(resp_head("\r\nHTTP/1.1 200\n\n") == -1);
  TG_CHECK(resp_head("\r\nHTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n") == -1);
  TG_CHECK(resp_head("\r\nHTTP/1.1 100 Continue\r\n\r\n") == 0);
  TG_CHECK(resp_head("HTTP/1.1 100 Continue\r\n\r\n\r\nHTTP/1.1 200 OK\n\n") == -1);
  /* the status code: three digits, then SP or the line's end */
  TG_CHECK(resp_head("HTTP/1.1 200\r\n\r\n") == 1);
  TG_CHECK(resp_head("HTTP/1.1 0102\r\n\r\nHTTP/1.1 200 OK\r\n\r\n") == -1);
  TG_CHECK(resp_head("HTTP/1.1 20 0OK\r\n\r\n") == -1);
  TG_CHECK(resp_head("HTTP/1.1 2000 OK\r\n\r\n") == -1);
  TG_CHECK(resp_head("HTTP/1.1  200 OK\r\n\r\n") == -1);
  TG_CHECK(resp_head("HTTP/1.1 20\r\n\r\n") == -1);
  TG_CHECK(resp_head("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 2x0 OK\r\n\r\n") == -1);
}

static void test_chunk_scan_valid_bodies(void) {
  const char *ok[] = {"0\r\n\r\n",
                      "5\r\nhello\r\n0\r\n\r\n",
                      "5;ext=1\r\nhello\r\n0\r\n\r\n",
                      "A\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n",
                      "00005\r\nhello\r\n0\r\n\r\n",
                      NULL};
  for (int i = 0; ok[i]; i++) {
    TG_CHECK(chunks(ok[i]) == 1);
    TG_CHECK(chunks_bytewise(ok[i]) == 1);
  }
  TG_CHECK(chunks("5\r\nhel") == 0); /* not finished yet */
}

static void test_chunk_scan_refuses_smuggling_forms(void) {
  const char *bad[] = {"5\r\nhelloXX0\r\n\r\n",
                       "0\r\n\n",
                       "5\nhello\r\n0\r\n\r\n",
                       "0x5\r\nhello\r\n0\r\n\r\n",
                       "+5\r\nhello\r\n0\r\n\r\n",
                       " 5\r\nhello\r\n0\r\n\r\n",
                       "5 \r\nhello\r\n0\r\n\r\n",
                       "1_0\r\n",
                       "5;a\rb\r\nhello\r\n0\r\n\r\n",
                       "0\r\n\r\nGET / HTTP/1.1\r\n",
                       "11111111111111111\r\n",
                       "\r\n",
                       NULL};
  for (int i = 0; bad[i]; i++) {
    if (chunks(bad[i]) != -1) fprintf(stderr, "  accepted: %s\n", bad[i]);
    TG_CHECK(chunks(bad[i]) == -1);
  }
}

/* A response body may be followed by other bytes: the scan stops at its end. */
static size_t body_scan(tg_chunk_scan *sc, const char *s, int *rc) { return tg_chunk_scan_body(sc, s, strlen(s), rc); }

static void test_chunk_scan_body_stops_at_the_end(void) {
  tg_chunk_scan sc = {0};
  int rc;
  TG_CHECK(body_scan(&sc, "5\r\nhello\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n", &rc) == 15 && rc == 1);
  memset(&sc, 0, sizeof sc);
  TG_CHECK(body_scan(&sc, "5\r\nhel", &rc) == 6 && rc == 0);
  TG_CHECK(body_scan(&sc, "lo\r\n0\r\nX: 1\r\n\n", &rc) == 13 && rc == -1); /* at the bare LF */
  memset(&sc, 0, sizeof sc);
  TG_CHECK(body_scan(&sc, "00000000000000005\r\n", &rc) == 16 && rc == -1); /* a 17th digit */
}

void tg_suite_framing(void) {
  TG_RUN(test_head_scan_accepts_crlf_heads);
  TG_RUN(test_head_scan_refuses_bare_lf_cr_and_folds);
  TG_RUN(test_head_scan_response);
  TG_RUN(test_chunk_scan_valid_bodies);
  TG_RUN(test_chunk_scan_refuses_smuggling_forms);
  TG_RUN(test_chunk_scan_body_stops_at_the_end);
}
