/* The HTTP/2 request header translation (src/h2/h2-head.c): every rule. */
#include <llhttp.h>
#include <stdint.h>
#include <string.h>

#include "tg_test.h"
#include "tollgate/h2-head.h"

/* Feeds "name", "value" pairs (NULL-terminated) and ends the block;
 * returns the first refusal or NULL. */
static const char *feed(tg_h2_req *r, size_t max, const char *const *kv) {
  tg_h2_req_init(r, max);
  const char *e = NULL;
  for (; kv[0] && !e; kv += 2)
    e = tg_h2_req_field(r, (const uint8_t *)kv[0], strlen(kv[0]), (const uint8_t *)kv[1], strlen(kv[1]));
  return e ? e : tg_h2_req_end(r);
}

#define BASE ":method", "GET", ":scheme", "https", ":path", "/api/tags", ":authority", "example.com"

/* Refused with a reason containing what. */
static int refused(const char *what, const char *const *kv) {
  tg_h2_req r;
  const char *e = feed(&r, 16384, kv);
  int ok = e && strstr(e, what) != NULL;
  if (!ok) fprintf(stderr, "  expected a refusal with \"%s\", got \"%s\"\n", what, e ? e : "(accepted)");
  tg_h2_req_free(&r);
  return ok;
}

static void value_is(tg_h2_req *r, const char *name, const char *want, int *ok) {
  char out[256];
  const char *v = tg_head_value_copy(&r->head, name, out, sizeof out);
  if (!v || strcmp(v, want) != 0) {
    fprintf(stderr, "  %s: \"%s\" != \"%s\"\n", name, v ? v : "(none)", want);
    *ok = 0;
  }
}

static void test_h2_head_translates(void) {
  const char *kv[] = {BASE, "user-agent", "curl", "content-type", "application/json", "content-length", "12", NULL};
  tg_h2_req r;
  TG_CHECK(feed(&r, 16384, kv) == NULL);
  int ok = 1;
  TG_CHECK(r.method == HTTP_GET && r.https == 1 && r.content_length == 12);
  TG_CHECK(r.head.target.len == 9 && memcmp(tg_head_str(&r.head, r.head.target), "/api/tags", 9) == 0);
  value_is(&r, "host", "example.com", &ok);
  value_is(&r, "user-agent", "curl", &ok);
  value_is(&r, "content-length", "12", &ok);
  TG_CHECK(ok);
  TG_CHECK(tg_head_count(&r.head, "host") == 1 && r.head.nfields == 4);
  TG_CHECK(tg_h2_req_data(&r, 5) == NULL && tg_h2_req_data(&r, 7) == NULL && tg_h2_req_body_end(&r) == NULL);
  tg_h2_req_free(&r);
}

static void test_h2_head_pseudo_rules(void) {
  TG_CHECK(refused("no :method", (const char *[]){":scheme", "https", ":path", "/", ":authority", "a", NULL}));
  TG_CHECK(refused("no :scheme", (const char *[]){":method", "GET", ":path", "/", ":authority", "a", NULL}));
  TG_CHECK(refused("no :path", (const char *[]){":method", "GET", ":scheme", "http", ":authority", "a", NULL}));
  TG_CHECK(refused("twice", (const char *[]){BASE, ":path", "/x", NULL}));
  TG_CHECK(refused("twice", (const char *[]){":method", "GET", ":method", "GET", NULL}));
  TG_CHECK(refused("unknown pseudo", (const char *[]){BASE, ":status", "200", NULL}));
  TG_CHECK(refused("unknown pseudo", (const char *[]){":foo", "1", BASE, NULL}));
  TG_CHECK(refused("after a regular", (const char *[]){":method", "GET", "x-a", "1", ":path", "/", NULL}));
  TG_CHECK(refused(":protocol", (const char *[]){BASE, ":protocol", "websocket", NULL}));
  TG_CHECK(refused("CONNECT", (const char *[]){":method", "CONNECT", ":authority", "a:443", NULL}));
  TG_CHECK(refused("unknown method",
                   (const char *[]){":method", "BREW", ":scheme", "http", ":path", "/", ":authority", "a", NULL}));
  TG_CHECK(refused(":scheme other", (const char *[]){":method", "GET", ":scheme", "ftp", ":path", "/", NULL}));
  TG_CHECK(refused("not a path",
                   (const char *[]){":method", "OPTIONS", ":scheme", "http", ":path", "*", ":authority", "a", NULL}));
  TG_CHECK(refused("not a path",
                   (const char *[]){":method", "GET", ":scheme", "http", ":path", "", ":authority", "a", NULL}));
}

static void test_h2_head_connection_fields(void) {
  TG_CHECK(refused("connection-specific", (const char *[]){BASE, "connection", "close", NULL}));
  TG_CHECK(refused("connection-specific", (const char *[]){BASE, "keep-alive", "5", NULL}));
  TG_CHECK(refused("connection-specific", (const char *[]){BASE, "proxy-connection", "x", NULL}));
  TG_CHECK(refused("connection-specific", (const char *[]){BASE, "transfer-encoding", "chunked", NULL}));
  TG_CHECK(refused("connection-specific", (const char *[]){BASE, "upgrade", "h2c", NULL}));
  TG_CHECK(refused("TE other", (const char *[]){BASE, "te", "gzip", NULL}));
  TG_CHECK(refused("TE other", (const char *[]){BASE, "te", "trailers, gzip", NULL}));
  tg_h2_req r;
  TG_CHECK(feed(&r, 16384, (const char *[]){BASE, "te", "trailers", NULL}) == NULL);
  TG_CHECK(tg_head_find(&r.head, "te") < 0); /* hop-by-hop: not passed on */
  tg_h2_req_free(&r);
}

static void test_h2_head_names_and_values(void) {
  TG_CHECK(refused("uppercase", (const char *[]){BASE, "X-Api", "1", NULL}));
  TG_CHECK(refused("invalid character in a field name", (const char *[]){BASE, "x a", "1", NULL}));
  TG_CHECK(refused("invalid character in a field name", (const char *[]){BASE, "x:a", "1", NULL}));
  TG_CHECK(refused("empty field name", (const char *[]){BASE, "", "1", NULL}));
  TG_CHECK(refused("invalid character in a field value", (const char *[]){BASE, "x-a", "a\r\nb: c", NULL}));
  TG_CHECK(refused("invalid character in a field value", (const char *[]){BASE, "x-a", "a\x01", NULL}));
  TG_CHECK(refused("white space", (const char *[]){BASE, "x-a", " a", NULL}));
  TG_CHECK(refused("white space", (const char *[]){BASE, "x-a", "a\t", NULL}));
  tg_h2_req r;
  const uint8_t nul[] = {'a', 0, 'b'};
  tg_h2_req_init(&r, 16384);
  TG_CHECK(tg_h2_req_field(&r, (const uint8_t *)"x-a", 3, nul, 3) != NULL);
  tg_h2_req_free(&r);
  TG_CHECK(feed(&r, 16384, (const char *[]){BASE, "x-a", "a\tb \xc3\xa9", NULL}) == NULL);
  tg_h2_req_free(&r);
}

static void test_h2_head_content_length(void) {
  TG_CHECK(refused("invalid content-length", (const char *[]){BASE, "content-length", "abc", NULL}));
  TG_CHECK(refused("invalid content-length", (const char *[]){BASE, "content-length", "-1", NULL}));
  TG_CHECK(refused("invalid content-length", (const char *[]){BASE, "content-length", "", NULL}));
  TG_CHECK(refused("invalid content-length", (const char *[]){BASE, "content-length", "1234567890123456789", NULL}));
  TG_CHECK(refused("more than one content-length",
                   (const char *[]){BASE, "content-length", "1", "content-length", "1", NULL}));
  tg_h2_req r;
  TG_CHECK(feed(&r, 16384, (const char *[]){BASE, "content-length", "4", NULL}) == NULL);
  TG_CHECK(tg_h2_req_data(&r, 3) == NULL && tg_h2_req_body_end(&r) != NULL);
  TG_CHECK(strstr(tg_h2_req_body_end(&r), "less")); /* sticky */
  tg_h2_req_free(&r);
  TG_CHECK(feed(&r, 16384, (const char *[]){BASE, "content-length", "4", NULL}) == NULL);
  TG_CHECK(tg_h2_req_data(&r, 3) == NULL && tg_h2_req_data(&r, 2) != NULL);
  tg_h2_req_free(&r);
  TG_CHECK(feed(&r, 16384, (const char *[]){BASE, NULL}) == NULL);
  TG_CHECK(r.content_length == -1 && tg_h2_req_data(&r, 1000) == NULL && tg_h2_req_body_end(&r) == NULL);
  tg_h2_req_free(&r);
}

static void test_h2_head_authority_and_host(void) {
  tg_h2_req r;
  int ok = 1;
  /* host alone stands for :authority */
  TG_CHECK(feed(&r, 16384,
                (const char *[]){":method", "GET", ":scheme", "http", ":path", "/", "host", "h:8080", NULL}) == NULL);
  value_is(&r, "host", "h:8080", &ok);
  TG_CHECK(ok && tg_head_count(&r.head, "host") == 1);
  tg_h2_req_free(&r);
  /* both, the same entity in another case: one Host, :authority's */
  TG_CHECK(feed(&r, 16384, (const char *[]){BASE, "host", "EXAMPLE.com", NULL}) == NULL);
  value_is(&r, "host", "example.com", &ok);
  TG_CHECK(ok && tg_head_count(&r.head, "host") == 1);
  tg_h2_req_free(&r);
  TG_CHECK(feed(&r, 16384,
                (const char *[]){":method", "GET", ":scheme", "http", ":path", "/", ":authority", "[::1]:11434",
                                 NULL}) == NULL);
  tg_h2_req_free(&r);
  TG_CHECK(refused("host differs", (const char *[]){BASE, "host", "other.com", NULL}));
  TG_CHECK(refused("more than one host", (const char *[]){BASE, "host", "example.com", "host", "example.com", NULL}));
  TG_CHECK(
      refused("no :authority and no host", (const char *[]){":method", "GET", ":scheme", "http", ":path", "/", NULL}));
  TG_CHECK(refused("invalid :authority",
                   (const char *[]){":method", "GET", ":scheme", "http", ":path", "/", ":authority", "user@a", NULL}));
  TG_CHECK(refused("invalid :authority",
                   (const char *[]){":method", "GET", ":scheme", "http", ":path", "/", ":authority", "", NULL}));
  TG_CHECK(refused("invalid :authority",
                   (const char *[]){":method", "GET", ":scheme", "http", ":path", "/", "host", "a b", NULL}));
}

static void test_h2_head_cookies_joined(void) {
  tg_h2_req r;
  int ok = 1;
  TG_CHECK(feed(&r, 16384,
                (const char *[]){BASE, "cookie", "a=1", "x-b", "2", "cookie", "b=2", "cookie", "c=3", NULL}) == NULL);
  value_is(&r, "cookie", "a=1; b=2; c=3", &ok);
  TG_CHECK(ok && tg_head_count(&r.head, "cookie") == 1);
  tg_h2_req_free(&r);
}

static void test_h2_head_list_size(void) {
  char big[600];
  memset(big, 'v', sizeof big - 1);
  big[sizeof big - 1] = 0;
  /* 4 pseudo (about 170 bytes with overhead) + one field of 640: fits in 1k */
  tg_h2_req r;
  TG_CHECK(feed(&r, 1024, (const char *[]){BASE, "x-a", big, NULL}) == NULL);
  tg_h2_req_free(&r);
  TG_CHECK(feed(&r, 1024, (const char *[]){BASE, "x-a", big, "x-b", big, NULL}) != NULL);
  TG_CHECK(strstr(r.err, "max_header_size") && r.list_size > 1024);
  tg_h2_req_free(&r);
  /* many small fields, as CONTINUATION frames bring them: counted across */
  tg_h2_req_init(&r, 3000); /* under 100 fields */
  const char *e = NULL;
  int n = 0;
  while (!e && n < 1000) e = tg_h2_req_field(&r, (const uint8_t *)"x-c", 3, (const uint8_t *)"1", 1), n++;
  TG_CHECK(e && strstr(e, "max_header_size") && n == 3000 / 36 + 1);
  /* a refusal is sticky and keeps nothing more */
  uint32_t fields = r.head.nfields;
  TG_CHECK(tg_h2_req_field(&r, (const uint8_t *)"x-d", 3, (const uint8_t *)"1", 1) == e);
  TG_CHECK(tg_h2_req_end(&r) == e && r.head.nfields == fields);
  tg_h2_req_free(&r);
  /* more fields than a head keeps, inside the size */
  tg_h2_req_init(&r, 1 << 20);
  e = NULL;
  for (n = 0; !e && n < 200; n++) e = tg_h2_req_field(&r, (const uint8_t *)"x-c", 3, (const uint8_t *)"1", 1);
  TG_CHECK(e && strstr(e, "more header fields"));
  tg_h2_req_free(&r);
}

void tg_suite_h2_head(void) {
  TG_RUN(test_h2_head_translates);
  TG_RUN(test_h2_head_pseudo_rules);
  TG_RUN(test_h2_head_connection_fields);
  TG_RUN(test_h2_head_names_and_values);
  TG_RUN(test_h2_head_content_length);
  TG_RUN(test_h2_head_authority_and_host);
  TG_RUN(test_h2_head_cookies_joined);
  TG_RUN(test_h2_head_list_size);
}
