/* Unit tests: model names as Ollama compares them, allow-lists, request
 * bodies read as Go reads them, the include_usage rewrite and the strip of
 * the usage event, filtered listings, quota accounting and reset times,
 * the state file, and the directives (src/policy/models.c, quota*.c,
 * src/config/quota-directives.c). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tg_test.h"
#include "tollgate/config.h"
#include "tollgate/limits.h"
#include "tollgate/llm.h"
#include "tollgate/model-name.h"
#include "tollgate/quota.h"

/* pattern as a `models` line writes it, name as a request does */
static int match(const char *pattern, const char *name) {
  char p[TG_MODEL_NAME_MAX], normal[TG_MODEL_NAME_MAX];
  if (strcmp(pattern, "*") && tg_model_normal(pattern, strlen(pattern), p, sizeof p) < 0) return -1;
  int ok = tg_model_normal(name, strlen(name), normal, sizeof normal) >= 0;
  return tg_model_match(strcmp(pattern, "*") ? p : "*", ok ? normal : NULL);
}

static void test_model_names(void) {
  TG_CHECK(match("llama3.2", "llama3.2:latest") == 1 && match("llama3.2:latest", "llama3.2") == 1);
  TG_CHECK(match("llama3.2", "LLAMA3.2") == 1 && match("llama3.2", "registry.ollama.ai/library/llama3.2") == 1);
  TG_CHECK(match("llama3.2", "library/llama3.2:latest") == 1);
  TG_CHECK(match("llama3.2", "llama3.2:1b") == 0 && match("llama3.2", "llama3.21") == 0);
  TG_CHECK(match("llama3.2", "evil/llama3.2") == 0 && match("llama3.2", "") == 0);
  TG_CHECK(match("*", "anything:at-all") == 1 && match("*", "not a name") == 1);
  /* a `:*` pattern, as the directive stores it: a tag, never a host's port */
  TG_CHECK(tg_model_match("qwen2.5:*", "qwen2.5:7b") == 1 && tg_model_match("qwen2.5:*", "qwen2.5:latest") == 1);
  TG_CHECK(tg_model_match("qwen2.5:*", "qwen2.50:7b") == 0);
  TG_CHECK(tg_model_match("m:*", "m:5000/ns/x:latest") == 0 && tg_model_match("m:*", NULL) == 0);
}

static void test_model_lists(void) {
  char *a[] = {"llama3.2:latest"}, *any[] = {"qwen2.5:*"};
  tg_model_list lists[] = {{.user = "alice", .names = a, .n = 1}, {.user = NULL, .names = any, .n = 1}};
  tg_models_conf m = {.lists = lists, .n = 2};
  TG_CHECK(tg_models_for(&m, "alice") == &lists[0]);
  TG_CHECK(tg_models_for(&m, "bob") == &lists[1] && tg_models_for(&m, NULL) == &lists[1]);
  tg_models_conf only = {.lists = lists, .n = 1};
  TG_CHECK(tg_models_for(&only, "bob") == NULL && tg_models_for(NULL, "alice") == NULL);
  TG_CHECK(tg_models_allowed(&lists[0], "llama3.2", 8) && !tg_models_allowed(&lists[0], "qwen2.5", 7));
  TG_CHECK(tg_models_allowed(NULL, "x", 1));
  TG_CHECK(tg_models_allowed(&lists[0], "Registry.Ollama.AI/library/LLAMA3.2", 35));
  TG_CHECK(tg_models_allowed_normal(&lists[0], "llama3.2:latest") && !tg_models_allowed_normal(&lists[0], NULL));
}

static json_t *inspect(const char *body, tg_body_facts *f) {
  char err[200];
  return tg_body_inspect(body, strlen(body), f, err, sizeof err);
}

static void test_body_inspect(void) {
  tg_body_facts f;
  json_t *r = inspect("{\"model\":\"llama3.2\",\"stream\":true}", &f);
  TG_CHECK(r && f.stream == 1 && !f.has_stream_options);
  json_decref(r);
  /* Go matches keys case-insensitively, with "ſ" for s and the Kelvin sign for k */
  r = inspect("{\"MoDeL\":\"x\",\"\xc5\xbftream\":false,\"Stream_Options\":{\"INCLUDE_USAGE\":true}}", &f);
  TG_CHECK(r && f.stream == 0 && f.has_stream_options && f.include_usage);
  json_decref(r);
  r = inspect("{\"model\":7}", &f);
  TG_CHECK(r && f.stream == -1);
  json_decref(r);
  /* refused: a key twice (in any case), not an object, not JSON, a NUL */
  TG_CHECK(!inspect("{\"model\":\"a\",\"Model\":\"b\"}", &f));
  TG_CHECK(!inspect("{\"model\":\"a\",\"model\":\"b\"}", &f));
  TG_CHECK(!inspect("[1]", &f) && !inspect("{\"model\":", &f) && !inspect("", &f));
  TG_CHECK(!inspect("{\"model\":\"a\\u0000b\"}", &f));
}

static void ask(const char *body, const char *want) {
  tg_body_facts f;
  tg_buf out = {0};
  json_t *r = inspect(body, &f);
  TG_CHECK(r && tg_body_ask_usage(r, &f, body, strlen(body), &out) == 0);
  json_decref(r);
  if (strncmp(out.data, want, out.len) || out.len != strlen(want))
    fprintf(stderr, "  got %.*s\n", (int)out.len, out.data);
  TG_CHECK(out.len == strlen(want) && memcmp(out.data, want, out.len) == 0);
  tg_buf_free(&out);
}

static void test_body_ask_usage(void) {
  ask(" { \"model\":\"m\", \"stream\":true}",
      " {\"stream_options\":{\"include_usage\":true}, \"model\":\"m\", \"stream\":true}");
  ask("{}", "{\"stream_options\":{\"include_usage\":true}}");
  ask("{\"model\":\"m\",\"stream_options\":{\"include_usage\":false,\"x\":1}}",
      "{\"model\":\"m\",\"stream_options\":{\"x\":1,\"include_usage\":true}}");
  ask("{\"Stream_Options\":null,\"model\":\"m\"}", "{\"model\":\"m\",\"stream_options\":{\"include_usage\":true}}");
}

static void strip(const char *in, const char *want) {
  char buf[512];
  size_t n = strlen(in);
  memcpy(buf, in, n);
  n = tg_sse_strip_usage(buf, n);
  TG_CHECK(n == strlen(want) && memcmp(buf, want, n) == 0);
}

static void test_sse_strip(void) {
  const char *tok = "data: {\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\"\\\"choices\\\":[]\"}}]}\n\n";
  const char *use = "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":3}}\n\n";
  char both[512];
  strip(tok, tok);
  strip(use, "");
  snprintf(both, sizeof both, "%s%sdata: [DONE]\n\n", tok, use);
  char want[512];
  snprintf(want, sizeof want, "%sdata: [DONE]\n\n", tok);
  strip(both, want);
  strip("data: [DONE]\n\n", "data: [DONE]\n\n");
}

static int buf_is(const tg_buf *b, const char *want) {
  return b->len == strlen(want) && memcmp(b->data, want, b->len) == 0;
}

static void test_filter_listing(void) {
  char *a[] = {"llama3.2:latest"};
  tg_model_list l = {.user = "alice", .names = a, .n = 1};
  const char *tags = "{\"models\":[{\"name\":\"llama3.2:latest\",\"size\":1},{\"name\":\"qwen2.5:0.5b\",\"size\":2}]}";
  tg_buf out = {0};
  TG_CHECK(tg_models_filter_listing(&l, tags, strlen(tags), &out) == 0);
  TG_CHECK(buf_is(&out, "{\"models\":[{\"name\":\"llama3.2:latest\",\"size\":1}]}"));
  out.len = 0;
  const char *v1 = "{\"object\":\"list\",\"data\":[{\"id\":\"qwen2.5:0.5b\"},{\"id\":\"llama3.2:latest\"},{\"id\":3}]}";
  TG_CHECK(tg_models_filter_listing(&l, v1, strlen(v1), &out) == 0);
  TG_CHECK(buf_is(&out, "{\"object\":\"list\",\"data\":[{\"id\":\"llama3.2:latest\"}]}"));
  out.len = 0;
  TG_CHECK(tg_models_filter_listing(&l, "{\"x\":1}", 7, &out) < 0);
  TG_CHECK(tg_models_filter_listing(&l, "{\"models\":[", 11, &out) < 0);
  tg_buf_free(&out);
}

#define T0 1764547200 /* 2025-12-01T00:00:00Z */

static void test_quota_accounting(void) {
  tg_quota_conf q = {.per_minute = 100, .per_day = 250, .store = tg_quota_store_new(1024)};
  int64_t reset;
  int day;
  TG_CHECK(q.store);
  TG_CHECK(tg_quota_check(&q, "alice", T0 + 10, &reset, &day) == 0);
  tg_quota_add(&q, "alice", T0 + 10, 60);
  TG_CHECK(tg_quota_check(&q, "alice", T0 + 11, &reset, &day) == 0); /* under: passes (the next answer may go over) */
  tg_quota_add(&q, "alice", T0 + 12, 60);
  TG_CHECK(tg_quota_check(&q, "alice", T0 + 13, &reset, &day) == 1 && !day && reset == T0 + 60);
  TG_CHECK(tg_quota_check(&q, "bob", T0 + 13, &reset, &day) == 0);
  TG_CHECK(tg_quota_check(&q, "alice", T0 + 60, &reset, &day) == 0); /* a new minute */
  tg_quota_add(&q, "alice", T0 + 61, 130);
  TG_CHECK(tg_quota_check(&q, "alice", T0 + 200, &reset, &day) == 1 && day && reset == T0 + 86400);
  uint64_t m, d;
  tg_quota_used(&q, "alice", T0 + 200, &m, &d);
  TG_CHECK(m == 0 && d == 250);
  TG_CHECK(tg_quota_check(&q, "alice", T0 + 86400, &reset, &day) == 0); /* the next UTC day */
  /* bounded: many more users than entries, no failure, the table does not grow */
  char u[32];
  for (int i = 0; i < 5000; i++) {
    snprintf(u, sizeof u, "user%d", i);
    tg_quota_add(&q, u, T0 + 300, 1);
  }
  tg_quota_store_release(q.store);
}

static void test_quota_state_file(void) {
  char dir[] = "/tmp/tg-quota-XXXXXX", path[128], err[256];
  TG_CHECK(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/q.json", dir);
  tg_quota_conf q = {.per_day = 1000, .store = tg_quota_store_new(1024)};
  time_t now = time(NULL);
  tg_quota_add(&q, "alice", now, 42);
  tg_quota_add(&q, "bob", now, 7);
  tg_quota_add(&q, "old", now - 86400 * 2, 9); /* its day is over: not written */
  TG_CHECK(tg_quota_state_write(q.store, path, now) == 0);
  tg_quota_conf r = {.per_day = 1000, .store = tg_quota_store_new(1024)};
  TG_CHECK(tg_quota_state_read(r.store, path, err, sizeof err) == 1);
  uint64_t m, d;
  tg_quota_used(&r, "alice", now, &m, &d);
  TG_CHECK(d == 42);
  tg_quota_used(&r, "bob", now, &m, &d);
  TG_CHECK(d == 7);
  tg_quota_used(&r, "old", now, &m, &d);
  TG_CHECK(d == 0);
  /* a torn file is refused as a whole, the store untouched */
  FILE *f = fopen(path, "r+");
  TG_CHECK(f && ftruncate(fileno(f), 30) == 0);
  fclose(f);
  tg_quota_conf t = {.per_day = 1000, .store = tg_quota_store_new(1024)};
  TG_CHECK(tg_quota_state_read(t.store, path, err, sizeof err) == -1 && strstr(err, "not a complete quota state file"));
  tg_quota_used(&t, "alice", now, &m, &d);
  TG_CHECK(d == 0);
  f = fopen(path, "w");
  fputs("{\"tollgate_quota_state\":1,\"users\":[{\"user\":\"a\",\"minute\":61,\"minute_tokens\":1,\"day\":0,\"day_"
        "tokens\":1}]}",
        f);
  fclose(f);
  TG_CHECK(tg_quota_state_read(t.store, path, err, sizeof err) == -1); /* a window that is not one */
  unlink(path);
  TG_CHECK(tg_quota_state_read(t.store, path, err, sizeof err) == 0); /* no file: empty */
  rmdir(dir);
  tg_quota_store_release(q.store);
  tg_quota_store_release(r.store);
  tg_quota_store_release(t.store);
}

static int nerr;
static char errtext[4096];
static tg_config *parse(const char *site_lines) {
  char text[2048];
  snprintf(text, sizeof text, "upstream u { server 127.0.0.1:1; }\nsite _ {\n listen :1;\n%s\n}\n", site_lines);
  FILE *m = fmemopen(errtext, sizeof errtext, "w");
  tg_config *c = tg_config_parse("t.conf", text, strlen(text), m, &nerr);
  fclose(m);
  return c;
}

static void test_quota_directives(void) {
  tg_config *c = parse("models alice llama3.2 Qwen2.5:7B;\nmodels * qwen2.5:*;\nmodels root *;\n"
                       "quota tokens 100k/day 10k/m per user on chat openai;");
  TG_CHECK(c);
  const tg_limits_conf *l = c->sites[0].limits;
  TG_CHECK(l && l->models && l->models->n == 3);
  TG_CHECK_STR(l->models->lists[0].user, "alice");
  TG_CHECK_STR(l->models->lists[0].names[1], "qwen2.5:7b");
  TG_CHECK(l->models->lists[1].user == NULL);
  TG_CHECK_STR(l->models->lists[1].names[0], "qwen2.5:*");
  TG_CHECK_STR(l->models->lists[2].names[0], "*");
  TG_CHECK(l->quota && l->quota->per_day == 100000 && l->quota->per_minute == 10000 && l->quota->store);
  TG_CHECK(l->quota->routes == (1u << TG_ROUTE_CHAT | 1u << TG_ROUTE_OPENAI));
  tg_config_free(c);
  c = parse("quota tokens 5000/min per user;");
  TG_CHECK(c && c->sites[0].limits->quota->per_minute == 5000 && c->sites[0].limits->quota->per_day == 0);
  TG_CHECK(c->sites[0].limits->quota->routes == tg_limit_default_routes());
  tg_config_free(c);
  const char *bad[] = {"models alice;",
                       "models alice a: ;",
                       "models alice x@sha256:1;",
                       "models a x;\nmodels a y;",
                       "models * x;\nmodels * y;",
                       "models a q:7b:*;",
                       "models a *:*;",
                       "models a -x;",
                       "quota tokens 10k/h per user;",
                       "quota tokens per user;",
                       "quota tokens 10k/m per ip;",
                       "quota tokens 0/m per user;",
                       "quota tokens 1/m per user on x;",
                       "quota requests 1/m per user;",
                       "quota tokens 1/m per user;\nquota tokens 2/m per user;",
                       "quota tokens 1/m per user extra;"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    c = parse(bad[i]);
    if (c) fprintf(stderr, "  accepted: %s\n", bad[i]);
    TG_CHECK(!c && nerr > 0);
  }
  c = parse("models alice llama3.2 b@c;");
  TG_CHECK(!c && strstr(errtext, "t.conf:4:23: invalid model name 'b@c'"));
  c = parse("quota tokens 10k/m per user;\nquota_state /nonexistent-dir/q.json;");
  TG_CHECK(c); /* a missing file is an empty store; the directory is checked when written */
  tg_config_free(c);
}

void tg_suite_quota(void) {
  TG_RUN(test_model_names);
  TG_RUN(test_model_lists);
  TG_RUN(test_body_inspect);
  TG_RUN(test_body_ask_usage);
  TG_RUN(test_sse_strip);
  TG_RUN(test_filter_listing);
  TG_RUN(test_quota_accounting);
  TG_RUN(test_quota_state_file);
  TG_RUN(test_quota_directives);
}
