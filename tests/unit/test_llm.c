/* Unit tests: route kinds and the streaming JSON scanner (src/observe/llm.c). */
#include <stdio.h>
#include <string.h>

#include "tg_test.h"
#include "tollgate/llm.h"

static void scan_req(const char *body, tg_llm_facts *f, size_t step) {
  tg_json_scan s = {0};
  tg_llm_facts_init(f);
  for (size_t i = 0, n = strlen(body); i < n; i += step)
    tg_llm_scan_request(&s, f, body + i, n - i < step ? n - i : step);
}

static void scan_resp(const char *body, tg_llm_facts *f, size_t step) {
  tg_json_scan s = {0};
  tg_llm_facts_init(f);
  for (size_t i = 0, n = strlen(body); i < n; i += step)
    tg_llm_scan_response(&s, f, body + i, n - i < step ? n - i : step);
}

static void test_route_kinds(void) {
  TG_CHECK(tg_route_kind_of("/api/generate", 13) == TG_ROUTE_GENERATE);
  TG_CHECK(tg_route_kind_of("/api/chat?x=1", 13) == TG_ROUTE_CHAT);
  TG_CHECK(tg_route_kind_of("/api/embeddings", 15) == TG_ROUTE_EMBED);
  TG_CHECK(tg_route_kind_of("/v1/chat/completions", 20) == TG_ROUTE_OPENAI);
  TG_CHECK(tg_route_kind_of("/api/blobs/sha256:x", 19) == TG_ROUTE_ADMIN);
  TG_CHECK(tg_route_kind_of("/api/pullx", 10) == TG_ROUTE_OTHER);
  TG_CHECK_STR(tg_route_kind_name(TG_ROUTE_OPENAI), "openai");
}

static void test_model_found_in_any_split(void) {
  const char *body = "{\"prompt\":\"say \\\"model\\\": \\\"no\\\"\",\"options\":{\"model\":\"inner\"},\"model\" : "
                     "\"llama3.2:latest\"}";
  for (size_t step = 1; step <= 9; step++) {
    tg_llm_facts f;
    scan_req(body, &f, step);
    TG_CHECK_STR(f.model, "llama3.2:latest");
  }
}

static void test_model_absent_or_not_a_string(void) {
  tg_llm_facts f;
  scan_req("{\"model\":42,\"x\":\"model\"}", &f, 5);
  TG_CHECK_STR(f.model, "");
  scan_req("not json at all \"model\": \"x\"", &f, 3);
  TG_CHECK_STR(f.model, ""); /* not at depth 1 */
}

/* The model as Ollama reads it: escapes decoded, keys in any case, the
 * last non-empty value, "name" when no "model"; in normal form. */
static void test_model_decoded_and_normal(void) {
  struct {
    const char *body, *want;
    int state;
  } cases[] = {
      {"{\"model\":\"phi\\u0033\"}", "phi3:latest", TG_MODEL_OK},
      {"{\"model\":\"llama3\\u002e2\"}", "llama3.2:latest", TG_MODEL_OK},
      {"{\"Model\":\"Registry.Ollama.AI/library/Llama3.2\"}", "llama3.2:latest", TG_MODEL_OK},
      {"{\"mod\\u0065l\":\"x\"}", "x:latest", TG_MODEL_OK},
      {"{\"model\":\"a\",\"MODEL\":\"b\"}", "b:latest", TG_MODEL_OK},
      {"{\"model\":\"a\",\"model\":\"\"}", "a:latest", TG_MODEL_OK},
      {"{\"name\":\"n\"}", "n:latest", TG_MODEL_OK},
      {"{\"model\":\"\",\"name\":\"n\"}", "n:latest", TG_MODEL_OK},
      {"{\"model\":\"m\",\"name\":\"n\"}", "m:latest", TG_MODEL_OK},
      {"{\"model\\u0000\":\"x\"}", "", TG_MODEL_NONE},
      {"{\"model\":\"a b\\u0000\"}", "a b?", TG_MODEL_INVALID},
      {"{\"model\":\"x\\ud800\"}", "x\xef\xbf\xbd", TG_MODEL_INVALID},
      {"{\"model\":\"x\\q\"}", "", TG_MODEL_NONE},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    for (size_t step = 1; step <= 7; step++) {
      tg_llm_facts f;
      scan_req(cases[i].body, &f, step);
      TG_CHECK_STR(f.model, cases[i].want);
      TG_CHECK(f.model_state == cases[i].state);
    }
}

/* A name longer than the facts keep is shown cut, never passed off as a
 * shorter one. */
static void test_model_too_long(void) {
  char body[400], name[200];
  memset(name, 'm', 150), name[150] = 0;
  snprintf(body, sizeof body, "{\"model\":\"%s\",\"x\":1}", name);
  tg_llm_facts f;
  scan_req(body, &f, 13);
  TG_CHECK(f.model_state == TG_MODEL_LONG && strlen(f.model) <= TG_MODEL_MAX);
  TG_CHECK(!strcmp(f.model + strlen(f.model) - 3, "\xe2\x80\xa6") && !strncmp(f.model, name, 90));
}

static void test_ollama_final_object_counts(void) {
  const char *nd = "{\"response\":\"\\\"eval_count\\\":99\",\"done\":false}\n"
                   "{\"done\":true,\"prompt_eval_count\":26,\"eval_count\":290,\"eval_duration\":4709213000}\n";
  tg_llm_facts f;
  scan_resp(nd, &f, 4);
  TG_CHECK(f.prompt_tokens == 26 && f.output_tokens == 290 && f.eval_ns == 4709213000);
}

static void test_openai_usage_in_sse(void) {
  const char *sse =
      "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n"
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":7,\"total_tokens\":18}}\n\n"
      "data: [DONE]\n\n";
  tg_llm_facts f;
  scan_resp(sse, &f, 7);
  TG_CHECK(f.prompt_tokens == 11 && f.output_tokens == 7 && f.eval_ns == -1);
}

/* Strings are taken in runs: a key is the same whatever the reads' split,
 * a key too long (or escaped) to be one we want never matches by its
 * prefix, and long values in between do not disturb the state. */
static void test_counts_in_every_split(void) {
  const char *nd = "{\"response\":\"a long token text with no quote in it at all, well past any key length\","
                   "\"eval_countXXXXXXXXXXXXXXXX\":1,\"eval\\u005fcount\":2,\"prompt_tokens\":0,"
                   "\"abcdefghijklmnopqrstuvw\":\"\\\"\",\"eval_count\":290,\"prompt_eval_count\":26}\n";
  for (size_t step = 1; step <= strlen(nd); step++) {
    tg_llm_facts f;
    scan_resp(nd, &f, step);
    TG_CHECK(f.output_tokens == 290);
    TG_CHECK(f.prompt_tokens == 26);
  }
}

static uint32_t variant_of(const char *body, size_t step) {
  tg_llm_facts f;
  scan_req(body, &f, step);
  return f.variant;
}

/* The runner options make the variant: the same options in any order and
 * any split give the same one; other options, nested ones, options
 * outside "options", num_gpu below 0 give none. */
static void test_runner_options_variant(void) {
  const char *a = "{\"model\":\"m\",\"options\":{\"temperature\":0.5,\"num_ctx\":8192,\"use_mmap\":false}}";
  const char *b = "{\"OPTIONS\" : { \"use_mmap\" : false , \"num_ctx\" : 8192 },\"model\":\"m\"}";
  uint32_t v = variant_of(a, 100);
  TG_CHECK(v != 0);
  for (size_t step = 1; step <= 7; step++) TG_CHECK(variant_of(a, step) == v && variant_of(b, step) == v);
  TG_CHECK(variant_of("{\"options\":{\"num_ctx\":4096,\"use_mmap\":false}}", 3) != v);
  TG_CHECK(variant_of("{\"options\":{\"num_ctx\":8192,\"use_mmap\":true}}", 3) != v);
  TG_CHECK(variant_of("{\"options\":{\"num_ctx\":2048,\"num_ctx\":8192,\"use_mmap\":false}}", 2) == v); /* last */
  TG_CHECK(variant_of("{\"options\":{\"main_gpu\":-1}}", 1) != variant_of("{\"options\":{\"main_gpu\":1}}", 1));
  TG_CHECK(variant_of("{\"model\":\"m\",\"options\":{\"temperature\":0.5,\"seed\":3}}", 4) == 0);
  TG_CHECK(variant_of("{\"options\":{\"num_gpu\":-1}}", 4) == 0);
  TG_CHECK(variant_of("{\"options\":{\"num_gpu\":20}}", 4) != 0);
  TG_CHECK(variant_of("{\"num_ctx\":8192,\"x\":{\"options\":{\"num_ctx\":8192}}}", 4) == 0);
  TG_CHECK(variant_of("{\"options\":{\"stop\":[{\"num_ctx\":1}],\"x\":{\"num_ctx\":2}},\"num_ctx\":3}", 2) == 0);
  TG_CHECK(variant_of("{\"options\":{\"num_ctx\":\"8192\"}}", 2) == 0);                /* not a number */
  TG_CHECK(variant_of("{\"options\":{\"num_ctx\":99999999999999999999999}}", 2) != 0); /* bounded */
}

void tg_suite_llm(void) {
  TG_RUN(test_runner_options_variant);
  TG_RUN(test_counts_in_every_split);
  TG_RUN(test_route_kinds);
  TG_RUN(test_model_found_in_any_split);
  TG_RUN(test_model_absent_or_not_a_string);
  TG_RUN(test_model_decoded_and_normal);
  TG_RUN(test_model_too_long);
  TG_RUN(test_ollama_final_object_counts);
  TG_RUN(test_openai_usage_in_sse);
}
