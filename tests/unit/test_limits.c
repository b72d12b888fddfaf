/* Unit tests: nginx's leaky bucket, the sharded tables, address ranges and
 * X-Forwarded-For, CORS origin matching and header filtering, and the
 * limit directives (src/policy/limit*.c, cors.c, src/config/limit-directives.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tg_test.h"
#include "tollgate/auth.h"
#include "tollgate/config.h"
#include "tollgate/llm.h"
#include "tollgate/limits.h"

static tg_rate_rule rule(uint64_t rps, uint64_t burst, uint64_t delay) {
  tg_rate_rule r = {.rate = rps * 1000, .burst = burst * 1000, .delay = delay};
  return r;
}

/* rate 5r/s burst 10 nodelay: the first request and 10 of burst pass at
 * once (nginx counts the first one outside the burst), then one per 200 ms. */
static void test_bucket_burst_nodelay(void) {
  tg_rate_rule r = rule(5, 10, TG_LIMIT_NODELAY);
  int64_t ex = 0;
  uint64_t last = 0, d, retry;
  int passed = 0;
  for (int i = 0; i < 20; i++) passed += tg_leaky_bucket(&r, &ex, &last, i == 0, 1000, &d, &retry) == 0;
  TG_CHECK(passed == 11);
  TG_CHECK(tg_leaky_bucket(&r, &ex, &last, 0, 1000, &d, &retry) == 1 && retry == 200);
  TG_CHECK(tg_leaky_bucket(&r, &ex, &last, 0, 1150, &d, &retry) == 1 && retry == 50);
  TG_CHECK(tg_leaky_bucket(&r, &ex, &last, 0, 1200, &d, &retry) == 0 && d == 0);
  TG_CHECK(tg_leaky_bucket(&r, &ex, &last, 0, 1200, &d, &retry) == 1);
  TG_CHECK(tg_leaky_bucket(&r, &ex, &last, 0, 1400, &d, &retry) == 0);
  /* after a long pause the bucket is empty again */
  TG_CHECK(tg_leaky_bucket(&r, &ex, &last, 0, 100000, &d, &retry) == 0 && ex == 0);
}

/* Without nodelay, excess requests are delayed to the rate; with delay N
 * the first N pass at once. */
static void test_bucket_delay(void) {
  tg_rate_rule r = rule(5, 10, 0);
  int64_t ex = 0;
  uint64_t last = 0, d, retry;
  TG_CHECK(tg_leaky_bucket(&r, &ex, &last, 1, 0, &d, &retry) == 0 && d == 0);
  TG_CHECK(tg_leaky_bucket(&r, &ex, &last, 0, 0, &d, &retry) == 0 && d == 200);
  TG_CHECK(tg_leaky_bucket(&r, &ex, &last, 0, 0, &d, &retry) == 0 && d == 400);
  tg_rate_rule r2 = rule(5, 10, 2000);
  ex = 0;
  TG_CHECK(tg_leaky_bucket(&r2, &ex, &last, 1, 0, &d, &retry) == 0 && d == 0);
  TG_CHECK(tg_leaky_bucket(&r2, &ex, &last, 0, 0, &d, &retry) == 0 && d == 0);
  TG_CHECK(tg_leaky_bucket(&r2, &ex, &last, 0, 0, &d, &retry) == 0 && d == 0);
  TG_CHECK(tg_leaky_bucket(&r2, &ex, &last, 0, 0, &d, &retry) == 0 && d == 200);
  /* 30r/m: one every 2 s */
  tg_rate_rule m = {.rate = 30 * 1000 / 60, .burst = 0, .delay = TG_LIMIT_NODELAY};
  ex = 0;
  TG_CHECK(tg_leaky_bucket(&m, &ex, &last, 1, 0, &d, &retry) == 0);
  TG_CHECK(tg_leaky_bucket(&m, &ex, &last, 0, 1000, &d, &retry) == 1 && retry == 1000);
  TG_CHECK(tg_leaky_bucket(&m, &ex, &last, 0, 2000, &d, &retry) == 0);
}

static void test_table_keys_and_counts(void) {
  tg_rate_rule r = rule(1, 0, TG_LIMIT_NODELAY);
  r.table = tg_limit_table_new(1024);
  TG_CHECK(r.table);
  uint64_t d, retry;
  TG_CHECK(tg_limit_rate_check(&r, "10.0.0.1", 5000, &d, &retry) == 0);
  TG_CHECK(tg_limit_rate_check(&r, "10.0.0.1", 5000, &d, &retry) == 1);
  TG_CHECK(tg_limit_rate_check(&r, "10.0.0.2", 5000, &d, &retry) == 0);
  /* many more keys than entries: bounded, the old ones evicted, no failure */
  char k[32];
  for (int i = 0; i < 20000; i++) {
    snprintf(k, sizeof k, "k%d", i);
    tg_limit_rate_check(&r, k, 5000, &d, &retry);
  }
  tg_limit_table_free(r.table);
  tg_limit_table *t = tg_limit_table_new(1024);
  TG_CHECK(tg_limit_count_take(t, "u", 2) == 1);
  TG_CHECK(tg_limit_count_take(t, "u", 2) == 1);
  TG_CHECK(tg_limit_count_take(t, "u", 2) == 0);
  tg_limit_count_give(t, "u");
  TG_CHECK(tg_limit_count_take(t, "u", 2) == 1);
  for (int i = 0; i < 20000; i++) { /* counted keys are never evicted */
    snprintf(k, sizeof k, "k%d", i);
    tg_limit_count_take(t, k, 1);
    tg_limit_count_give(t, k);
  }
  TG_CHECK(tg_limit_count_take(t, "u", 2) == 0);
  tg_limit_table_free(t);
}

static void test_cidr_and_xff(void) {
  tg_cidr v[3];
  TG_CHECK(tg_cidr_parse("10.0.0.0/8", &v[0]) == 0);
  TG_CHECK(tg_cidr_parse("::1", &v[1]) == 0);
  TG_CHECK(tg_cidr_parse("192.168.1.1", &v[2]) == 0);
  TG_CHECK(tg_cidr_parse("10.0.0.0/33", &v[2]) < 0 && tg_cidr_parse("x", &v[2]) < 0 &&
           tg_cidr_parse("1.2.3.4/", &v[2]) < 0);
  TG_CHECK(tg_cidr_parse("192.168.1.1", &v[2]) == 0);
  TG_CHECK(tg_cidr_match(v, 3, "10.1.2.3") && tg_cidr_match(v, 3, "::1") && tg_cidr_match(v, 3, "192.168.1.1"));
  TG_CHECK(!tg_cidr_match(v, 3, "11.0.0.1") && !tg_cidr_match(v, 3, "192.168.1.2") && !tg_cidr_match(v, 3, "::2"));
  char out[48];
  const char *x = "203.0.113.7, 10.0.0.2, 10.0.0.1";
  TG_CHECK(tg_xff_client(v, 3, x, strlen(x), out, sizeof out) == 1);
  TG_CHECK_STR(out, "203.0.113.7");
  x = "1.1.1.1, 203.0.113.7"; /* a client cannot push its own address in front */
  TG_CHECK(tg_xff_client(v, 3, x, strlen(x), out, sizeof out) == 1);
  TG_CHECK_STR(out, "203.0.113.7");
  x = "[2001:db8::1]:4711";
  TG_CHECK(tg_xff_client(v, 3, x, strlen(x), out, sizeof out) == 1);
  TG_CHECK_STR(out, "2001:db8::1");
  x = "198.51.100.1:8080";
  TG_CHECK(tg_xff_client(v, 3, x, strlen(x), out, sizeof out) == 1);
  TG_CHECK_STR(out, "198.51.100.1");
  out[0] = 0;
  x = "not-an-address";
  TG_CHECK(tg_xff_client(v, 3, x, strlen(x), out, sizeof out) == 0);
}

static void test_cors_origins(void) {
  char *o[] = {"https://a.example", "*.example.org", "http://*.dev.test"};
  tg_cors_conf cc = {.origins = o, .norigins = 3};
#define ALLOWED(s) tg_cors_origin_allowed(&cc, s, strlen(s))
  TG_CHECK(ALLOWED("https://a.example") && ALLOWED("HTTPS://A.EXAMPLE"));
  TG_CHECK(!ALLOWED("https://a.example.evil") && !ALLOWED("http://a.example") && !ALLOWED("https://b.example"));
  TG_CHECK(ALLOWED("https://x.example.org") && ALLOWED("http://a.b.example.org:8443"));
  TG_CHECK(!ALLOWED("https://example.org") && !ALLOWED("https://evilexample.org") && !ALLOWED("null"));
  TG_CHECK(ALLOWED("http://x.dev.test") && !ALLOWED("https://x.dev.test"));
#undef ALLOWED
}

static void test_head_out_remove_prefix(void) {
  tg_buf b = {0};
  tg_buf_puts(&b, "HTTP/1.1 200 OK\r\nAccess-Control-Allow-Origin: *\r\nContent-Type: x\r\n"
                  "access-control-allow-credentials: true\r\nVary: Origin\r\n\r\n");
  tg_head_out_remove_prefix(&b, "access-control-");
  tg_buf_puts(&b, "");
  TG_CHECK(b.len == strlen("HTTP/1.1 200 OK\r\nContent-Type: x\r\nVary: Origin\r\n\r\n"));
  TG_CHECK(memcmp(b.data, "HTTP/1.1 200 OK\r\nContent-Type: x\r\nVary: Origin\r\n\r\n", b.len) == 0);
  tg_buf_free(&b);
}

static int nerr;
static tg_config *parse(const char *site_lines) {
  char text[2048];
  snprintf(text, sizeof text, "upstream u { server 127.0.0.1:1; }\nsite _ {\n listen :1;\n%s\n}\n", site_lines);
  FILE *null = fopen("/dev/null", "w");
  tg_config *c = tg_config_parse("t.conf", text, strlen(text), null, &nerr);
  fclose(null);
  return c;
}

static void test_limit_directives(void) {
  tg_config *c =
      parse("limit rate 5r/s burst 10 nodelay per ip;\nlimit rate 30r/m per user on chat admin;\n"
            "limit conn 8 per ip;\nlimit concurrency 2 per user 1 queue 4 timeout 2s;\n"
            "limit_status 503;\nadmins alice bob;\ntrusted_proxies 10.0.0.0/8 ::1;\n"
            "cors { origins https://a.example *.example.org; credentials on; expose X-Request-Id; max_age 10m; }\n"
            "route /api/create { client_max_body_size 1g; }");
  TG_CHECK(c);
  const tg_limits_conf *l = c->sites[0].limits;
  TG_CHECK(l && l->nrates == 2 && l->status == 503);
  TG_CHECK(l->rates[0].rate == 5000 && l->rates[0].burst == 10000 && l->rates[0].delay == TG_LIMIT_NODELAY);
  TG_CHECK(l->rates[0].key == TG_LIMIT_BY_IP && l->rates[0].routes == tg_limit_default_routes());
  TG_CHECK(l->rates[1].rate == 500 && l->rates[1].key == TG_LIMIT_BY_USER);
  TG_CHECK(l->rates[1].routes == (1u << TG_ROUTE_CHAT | 1u << TG_ROUTE_ADMIN));
  TG_CHECK(l->conn == 8 && l->conn_table);
  TG_CHECK(l->gen_max == 2 && l->gen_user_max == 1 && l->gen_queue == 4 && l->gen_timeout_ms == 2000 && l->cap);
  TG_CHECK(l->nadmins == 2 && strcmp(l->admins[1], "bob") == 0 && l->ntrusted == 2);
  TG_CHECK(l->cors && l->cors->norigins == 2 && l->cors->credentials && l->cors->max_age_s == 600);
  TG_CHECK_STR(l->cors->expose, "X-Request-Id");
  TG_CHECK(c->sites[0].auth && c->sites[0].auth->routes[0].has_max_body &&
           c->sites[0].auth->routes[0].max_body == 1024ull * 1024 * 1024);
  tg_config_free(c);
  const char *bad[] = {"limit rate 5 per ip;",
                       "limit rate 5r/s;",
                       "limit rate 5r/s per ip on nothing;",
                       "limit conn 0 per ip;",
                       "limit conn 3 per user;",
                       "limit concurrency 0;",
                       "limit concurrency 2 timeout forever;",
                       "limit_status 200;",
                       "trusted_proxies 10.0.0.0/99;",
                       "cors { credentials on; }",
                       "cors { origins *; credentials on; }",
                       "limit bogus 1;"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    c = parse(bad[i]);
    if (c) fprintf(stderr, "  accepted: %s\n", bad[i]);
    TG_CHECK(!c && nerr > 0);
  }
}

void tg_suite_limits(void) {
  TG_RUN(test_bucket_burst_nodelay);
  TG_RUN(test_bucket_delay);
  TG_RUN(test_table_keys_and_counts);
  TG_RUN(test_cidr_and_xff);
  TG_RUN(test_cors_origins);
  TG_RUN(test_head_out_remove_prefix);
  TG_RUN(test_limit_directives);
}
