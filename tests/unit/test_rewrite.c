/* Unit tests: message heads (src/codec/head.c), header rewriting
 * (src/codec/rewrite.c), buffers and the access-log line format. */
#include <stdlib.h>
#include <string.h>

#include "tg_test.h"
#include "tollgate/access-log.h"
#include "tollgate/head.h"
#include "tollgate/rewrite.h"

/* Builds a head from "Name: value" lines, splitting each name and value in
 * two appends the way llhttp does when a field straddles two reads. */
static void head_from(tg_head *h, const char *target, const char *const *lines) {
  memset(h, 0, sizeof *h);
  tg_head_add_target(h, target, strlen(target), 0);
  for (; *lines; lines++) {
    const char *colon = strchr(*lines, ':');
    size_t n = (size_t)(colon - *lines);
    tg_head_add_name(h, *lines, n / 2, 0);
    tg_head_add_name(h, *lines + n / 2, n - n / 2, 0);
    const char *v = colon + 2;
    size_t vn = strlen(v);
    tg_head_add_value(h, v, vn / 2, 0);
    tg_head_add_value(h, v + vn / 2, vn - vn / 2, 0);
  }
}

static void test_head_refuses_non_token_names(void) {
  tg_head h = {0};
  TG_CHECK(tg_head_add_name(&h, "Authorization ", 14, 0) == -1);
  TG_CHECK(tg_head_add_name(&h, "X\x01Y", 3, 0) == -1);
  TG_CHECK(tg_head_add_name(&h, "X-Ok_1!#", 8, 0) == 0);
  tg_head_free(&h);
}

static void test_head_refuses_empty_name(void) {
  tg_head h = {0};
  TG_CHECK(tg_head_add_target(&h, "/", 1, 0) == 0);
  TG_CHECK(tg_head_add_value(&h, "5", 1, 0) == -1);
  TG_CHECK(tg_head_add_target(&h, "", 0, 0) == 0); /* an empty span is no error */
  tg_head_free(&h);
}

/* A field name takes exactly RFC 9110's token characters. */
static void test_head_name_token_bytes(void) {
  for (int c = 0; c < 256; c++) {
    char name[3] = {'a', (char)c, 'b'};
    tg_head h = {0};
    int token = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                (c && strchr("!#$%&'*+-.^_`|~", c));
    TG_CHECK((tg_head_add_name(&h, name, 3, 0) == 0) == token);
    tg_head_free(&h);
  }
}

/* Every field a proxy drops is dropped in any case and with '_' for '-';
 * names of the same length that are not on the list pass. */
static void test_hop_by_hop_spellings(void) {
  tg_head h = {0};
  const char *dropped[] = {"CONNECTION",
                           "Keep-Alive",
                           "proxy_connection",
                           "Te",
                           "TRAILER",
                           "transfer_ENCODING",
                           "Upgrade",
                           "Proxy-Authorization",
                           "proxy-authenticate",
                           "Content_Length",
                           "EXPECT",
                           "Host",
                           "X-Forwarded-For",
                           "x_forwarded_proto",
                           "X-FORWARDED-HOST",
                           "Forwarded",
                           "X-Real-IP",
                           "x-request-id",
                           NULL};
  for (const char **n = dropped; *n; n++) TG_CHECK(tg_is_hop_by_hop(&h, *n, strlen(*n)));
  const char *kept[] = {"User-Agent", "Accept", "Date", "Tf", "X-Request-Ie", "Content-Type", "Hosts", "", NULL};
  for (const char **n = kept; *n; n++) TG_CHECK(!tg_is_hop_by_hop(&h, *n, strlen(*n)));
}

static void test_connection_listed_underscore_spellings(void) {
  tg_head h;
  const char *lines[] = {"Host: a", "Connection: X-Secret, x_other", "X_Secret: 3", "X-Other: 2", NULL};
  head_from(&h, "/", lines);
  TG_CHECK(tg_is_hop_by_hop(&h, "X_Secret", 8));
  TG_CHECK(tg_is_hop_by_hop(&h, "X-Other", 7));
  TG_CHECK(!tg_is_hop_by_hop(&h, "X-Othe", 6));
  tg_head_free(&h);
}

static tg_upstream_conf test_up = {.host_header = "localhost:11434"};
static tg_site_conf test_site = {.upstream = &test_up};

static char *rewrite_req(const char *const *lines, int forward_credentials, const char *host_header) {
  tg_head h;
  head_from(&h, "/api/chat", lines);
  tg_buf out = {0};
  tg_req_meta m = {.method = "POST",
                   .target = "/api/chat",
                   .target_len = 9,
                   .client_ip = "10.0.0.7",
                   .proto = "http",
                   .framing = TG_FRAME_LENGTH,
                   .content_length = 42};
  test_site.forward_credentials = forward_credentials;
  test_up.host_header = (char *)host_header;
  tg_rewrite_request(&out, &h, &m, &test_site);
  tg_buf_append(&out, "", 1);
  tg_head_free(&h);
  return out.data;
}

static void test_head_split_spans_join(void) {
  tg_head h;
  const char *lines[] = {"Content-Type: application/json", "X-Long-Name: some value", NULL};
  head_from(&h, "/x", lines);
  TG_CHECK(h.nfields == 2);
  TG_CHECK(tg_head_find(&h, "content-type") == 0);
  TG_CHECK(tg_head_find(&h, "X-LONG-NAME") == 1);
  tg_span v = h.fields[1].value;
  TG_CHECK(v.len == 10 && memcmp(tg_head_str(&h, v), "some value", 10) == 0);
  tg_head_free(&h);
}

static void test_head_byte_limit(void) {
  tg_head h = {0};
  TG_CHECK(tg_head_add_target(&h, "/0123456789", 11, 16) == 0);
  TG_CHECK(tg_head_add_name(&h, "Host", 4, 16) == 0);
  TG_CHECK(tg_head_add_value(&h, "abc", 3, 16) == TG_HEAD_TOO_BIG);
  tg_head_free(&h);
  /* a head exactly at the cap, its value's end an empty span of a later read */
  TG_CHECK(tg_head_add_target(&h, "/0123456789", 11, 16) == 0);
  TG_CHECK(tg_head_add_name(&h, "Host", 4, 16) == 0);
  TG_CHECK(tg_head_add_value(&h, "a", 1, 16) == 0);
  TG_CHECK(tg_head_add_value(&h, "", 0, 16) == 0);
  tg_head_free(&h);
}

static void test_head_field_limit(void) {
  tg_head h = {0};
  int rc = 0;
  for (int i = 0; i <= TG_HEAD_MAX_FIELDS && rc == 0; i++) {
    rc = tg_head_add_name(&h, "A", 1, 0);
    if (rc == 0) rc = tg_head_add_value(&h, "1", 1, 0);
  }
  TG_CHECK(rc == TG_HEAD_TOO_BIG);
  TG_CHECK(h.nfields == TG_HEAD_MAX_FIELDS);
  tg_head_free(&h);
}

static void test_request_pins_host_and_sets_forwarded(void) {
  const char *lines[] = {"Host: ollama.example.com", "Content-Type: application/json", "X-Forwarded-For: 1.2.3.4",
                         NULL};
  char *s = rewrite_req(lines, 0, "localhost:11434");
  const char *start = "POST /api/chat HTTP/1.1\r\nHost: localhost:11434\r\n";
  TG_CHECK(strncmp(s, start, strlen(start)) == 0);
  TG_CHECK(strstr(s, "X-Forwarded-For: 10.0.0.7\r\n") != NULL);
  TG_CHECK(strstr(s, "1.2.3.4") == NULL);
  TG_CHECK(strstr(s, "X-Forwarded-Proto: http\r\n") != NULL);
  TG_CHECK(strstr(s, "X-Forwarded-Host: ollama.example.com\r\n") != NULL);
  TG_CHECK(strstr(s, "Content-Type: application/json\r\n") != NULL);
  TG_CHECK(strstr(s, "Content-Length: 42\r\n\r\n") != NULL);
  free(s);
}

static void test_request_preserve_host(void) {
  const char *lines[] = {"Host: ollama.example.com", NULL};
  char *s = rewrite_req(lines, 0, NULL);
  TG_CHECK(strstr(s, "\r\nHost: ollama.example.com\r\n") != NULL);
  TG_CHECK(strstr(s, "localhost") == NULL);
  free(s);
}

static void test_request_drops_credentials(void) {
  const char *lines[] = {"Host: a", "Authorization: Bearer sk-secret", "Cookie: _oauth2_proxy=x", NULL};
  char *s = rewrite_req(lines, 0, "localhost:11434");
  TG_CHECK(strstr(s, "sk-secret") == NULL);
  TG_CHECK(strstr(s, "oauth2") == NULL);
  free(s);
  s = rewrite_req(lines, 1, "localhost:11434");
  TG_CHECK(strstr(s, "Authorization: Bearer sk-secret\r\n") != NULL);
  TG_CHECK(strstr(s, "Cookie: _oauth2_proxy=x\r\n") != NULL);
  free(s);
}

static void test_request_drops_hop_by_hop(void) {
  const char *lines[] = {"Host: a",
                         "Connection: keep-alive, X-Secret-Hop",
                         "Keep-Alive: timeout=5",
                         "TE: trailers",
                         "Upgrade: h2c",
                         "X-Secret-Hop: 1",
                         "Proxy-Authorization: Basic x",
                         "Transfer-Encoding: chunked",
                         "Content-Length: 9",
                         "Expect: 100-continue",
                         "X-Kept: yes",
                         NULL};
  char *s = rewrite_req(lines, 0, "localhost:11434");
  TG_CHECK(strstr(s, "Connection") == NULL);
  TG_CHECK(strstr(s, "Keep-Alive") == NULL);
  TG_CHECK(strstr(s, "TE:") == NULL);
  TG_CHECK(strstr(s, "h2c") == NULL);
  TG_CHECK(strstr(s, "X-Secret-Hop") == NULL);
  TG_CHECK(strstr(s, "Proxy-Authorization") == NULL);
  TG_CHECK(strstr(s, "Transfer-Encoding") == NULL);
  TG_CHECK(strstr(s, "Content-Length: 9") == NULL);
  TG_CHECK(strstr(s, "Expect") == NULL);
  TG_CHECK(strstr(s, "X-Kept: yes\r\n") != NULL);
  free(s);
}

static void test_request_drops_underscore_framing(void) {
  const char *lines[] = {"Host: a", "Transfer_Encoding: chunked", "Content_Length: 5", "X_Forwarded_For: 6.6.6.6",
                         NULL};
  char *s = rewrite_req(lines, 0, "localhost:11434");
  TG_CHECK(strstr(s, "Transfer_Encoding") == NULL);
  TG_CHECK(strstr(s, "Content_Length") == NULL);
  TG_CHECK(strstr(s, "6.6.6.6") == NULL);
  free(s);
}

static void test_response_framing(void) {
  tg_head h;
  const char *lines[] = {"Content-Type: application/x-ndjson", "Transfer-Encoding: chunked", "Connection: keep-alive",
                         "Date: x", NULL};
  head_from(&h, "OK", lines);
  tg_buf out = {0};
  TG_CHECK(tg_rewrite_response(&out, &h, 200, TG_FRAME_CHUNKED, 0, 0) == 0);
  tg_buf_append(&out, "", 1);
  TG_CHECK(strncmp(out.data, "HTTP/1.1 200 OK\r\n", 17) == 0);
  TG_CHECK(strstr(out.data, "Content-Type: application/x-ndjson\r\n") != NULL);
  TG_CHECK(strstr(out.data, "Transfer-Encoding: chunked\r\n") != NULL);
  TG_CHECK(strstr(out.data, "Connection") == NULL);
  out.len = 0;
  TG_CHECK(tg_rewrite_response(&out, &h, 200, TG_FRAME_LENGTH, 17, 1) == 0);
  tg_buf_append(&out, "", 1);
  TG_CHECK(strstr(out.data, "Content-Length: 17\r\n") != NULL);
  TG_CHECK(strstr(out.data, "chunked") == NULL);
  TG_CHECK(strstr(out.data, "Connection: close\r\n\r\n") != NULL);
  tg_buf_free(&out);
  tg_head_free(&h);
}

static void test_response_empty_reason_gets_standard_one(void) {
  tg_head h = {0};
  tg_buf out = {0};
  TG_CHECK(tg_rewrite_response(&out, &h, 503, TG_FRAME_LENGTH, 0, 0) == 0);
  TG_CHECK(strncmp(out.data, "HTTP/1.1 503 Service Unavailable\r\n", 34) == 0);
  tg_buf_free(&out);
}

static void test_json_escaping(void) {
  tg_buf b = {0};
  tg_buf_json_str(&b, "a\"b\\c\n\x01", 7);
  tg_buf_append(&b, "", 1);
  TG_CHECK_STR(b.data, "a\\\"b\\\\c\\u000a\\u0001");
  tg_buf_free(&b);
}

static void test_buf_consume(void) {
  tg_buf b = {0};
  tg_buf_puts(&b, "hello world");
  tg_buf_consume(&b, 6);
  TG_CHECK(b.len == 5 && memcmp(b.data, "world", 5) == 0);
  tg_buf_consume(&b, 99);
  TG_CHECK(b.len == 0);
  tg_buf_free(&b);
}

static void test_access_line(void) {
  tg_access_rec r = {.t_start_ns = 1000000, .t_first_ns = 3000000, .bytes_in = 10, .bytes_out = 20};
  tg_access_entry e = {.client = "127.0.0.1",
                       .method = "POST",
                       .path = "/api/chat\"x",
                       .path_len = 11,
                       .status = 200,
                       .upstream = "127.0.0.1:11434",
                       .rec = &r,
                       .now_ns = 11000000};
  tg_buf b = {0};
  TG_CHECK(tg_access_format(&b, &e) == 0);
  tg_buf_append(&b, "", 1);
  TG_CHECK(strstr(b.data, "\"path\":\"/api/chat\\\"x\"") != NULL);
  TG_CHECK(strstr(b.data, "\"status\":200,\"bytes_in\":10,\"bytes_out\":20,\"ttfb_ms\":2.000,\"duration_ms\":10.000") !=
           NULL);
  TG_CHECK(strstr(b.data, "\"upstream\":\"127.0.0.1:11434\"") != NULL);
  TG_CHECK(b.data[b.len - 2] == '\n');
  tg_buf_free(&b);
}

void tg_suite_headers(void) {
  TG_RUN(test_head_split_spans_join);
  TG_RUN(test_head_name_token_bytes);
  TG_RUN(test_hop_by_hop_spellings);
  TG_RUN(test_head_byte_limit);
  TG_RUN(test_head_field_limit);
  TG_RUN(test_head_refuses_non_token_names);
  TG_RUN(test_head_refuses_empty_name);
  TG_RUN(test_connection_listed_underscore_spellings);
  TG_RUN(test_request_pins_host_and_sets_forwarded);
  TG_RUN(test_request_preserve_host);
  TG_RUN(test_request_drops_credentials);
  TG_RUN(test_request_drops_hop_by_hop);
  TG_RUN(test_request_drops_underscore_framing);
  TG_RUN(test_response_framing);
  TG_RUN(test_response_empty_reason_gets_standard_one);
  TG_RUN(test_json_escaping);
  TG_RUN(test_buf_consume);
  TG_RUN(test_access_line);
}
