/* Unit tests: the JSON string decoder and the normal form of model names
 * (src/observe/model-name.c). */
#include <string.h>

#include "tg_test.h"
#include "tollgate/model-name.h"

/* Decodes s (a string's contents) in pieces of step bytes; the closing
 * quote is added. Returns the length, -1 when not one string, -2 when it
 * does not fit out (64 bytes). */
static long decode(const char *s, size_t step, char out[64], int *flags) {
  tg_jstr d = {0};
  size_t n = strlen(s), i = 0;
  while (i < n) {
    size_t k = n - i < step ? n - i : step, used = tg_jstr_feed(&d, s + i, k, out, 63);
    i += used;
    if (used < k) break;
  }
  if (i == n && d.len <= 63) i += tg_jstr_feed(&d, "\"", 1, out, 63);
  *flags = d.flags;
  if (d.len > 63) return -2;
  if (i != n + 1 || !(d.flags & TG_JSTR_DONE) || (d.flags & TG_JSTR_BAD)) return -1;
  out[d.len] = 0;
  return (long)d.len;
}

/* s decodes to want (with or without U+FFFD standing in) in any split. */
static int decodes(const char *s, const char *want, int replaced) {
  for (size_t step = 1; step <= strlen(s) + 1; step++) {
    char out[64];
    int flags;
    long n = decode(s, step, out, &flags);
    if (n != (long)strlen(want) || memcmp(out, want, (size_t)n) || !(flags & TG_JSTR_REPLACED) != !replaced) {
      fprintf(stderr, "  %s (step %zu): got %ld bytes\n", s, step, n);
      return 0;
    }
  }
  return 1;
}

static int refused(const char *s) {
  char out[64];
  int flags;
  return decode(s, 1, out, &flags) == -1 && decode(s, 64, out, &flags) == -1;
}

static void test_jstr_escapes(void) {
  TG_CHECK(decodes("phi\\u0033", "phi3", 0));
  TG_CHECK(decodes("llama3\\u002e2", "llama3.2", 0));
  TG_CHECK(decodes("a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t", "a\"b\\c/d\b\f\n\r\t", 0));
  TG_CHECK(decodes("\\u00e9\\u20AC", "\xc3\xa9\xe2\x82\xac", 0));
  TG_CHECK(decodes("\\ud83d\\ude00", "\xf0\x9f\x98\x80", 0)); /* a surrogate pair */
  char out[64];
  int flags;
  TG_CHECK(decode("x\\u0000y", 1, out, &flags) == 3 && out[0] == 'x' && out[2] == 'y' && out[1] == 0 &&
           !(flags & TG_JSTR_REPLACED));
  TG_CHECK(decodes("caf\xc3\xa9", "caf\xc3\xa9", 0));
}

/* What Go's encoding/json reads as U+FFFD, jansson refuses: flagged. */
static void test_jstr_replacements(void) {
  const char *r = "\xef\xbf\xbd";
  char want[64];
  TG_CHECK(decodes("\\ud800", r, 1));                /* a lone high half */
  TG_CHECK(decodes("\\udc00x", "\xef\xbf\xbdx", 1)); /* a lone low half */
  snprintf(want, sizeof want, "%sA", r);
  TG_CHECK(decodes("\\ud800\\u0041", want, 1)); /* the next escape is read on its own */
  snprintf(want, sizeof want, "%s\xf0\x90\x80\x80", r);
  TG_CHECK(decodes("\\ud800\\ud800\\udc00", want, 1));
  snprintf(want, sizeof want, "%s\n", r);
  TG_CHECK(decodes("\\ud800\\n", want, 1));
  TG_CHECK(decodes("\xff", r, 1));
  snprintf(want, sizeof want, "%s%sA", r, r); /* a cut sequence: one U+FFFD per byte, as Go */
  TG_CHECK(decodes("\xe2\x82"
                   "A",
                   want, 1));
  snprintf(want, sizeof want, "%s%s", r, r);
  TG_CHECK(decodes("\xc0\x80", want, 1)); /* overlong */
  snprintf(want, sizeof want, "%s%s%s", r, r, r);
  TG_CHECK(decodes("\xed\xa0\x80", want, 1)); /* a surrogate in UTF-8 */
  snprintf(want, sizeof want, "%s%s", r, r);
  TG_CHECK(decodes("\xf0\x9f", want, 1)); /* cut by the closing quote */
}

static void test_jstr_refusals(void) {
  TG_CHECK(refused("\\x41") && refused("\\u00g1") && refused("\\u12") && refused("a\tb") && refused("a\"b"));
  TG_CHECK(refused("\\") && refused("\\ud800\\x"));
  char out[8];
  int flags;
  TG_CHECK(tg_json_str_decode("abc", 3, out, sizeof out, &flags) == 3 && !memcmp(out, "abc", 3));
  TG_CHECK(tg_json_str_decode("abcdefghij", 10, out, sizeof out, &flags) == -1); /* does not fit */
  TG_CHECK(tg_json_str_decode("a\\", 2, out, sizeof out, &flags) == -1);
}

static int normal_is(const char *name, const char *want) {
  char out[TG_MODEL_NAME_MAX];
  long n = tg_model_normal(name, strlen(name), out, sizeof out);
  if (!want) return n == -1;
  if (n < 0 || strcmp(out, want) || (size_t)n != strlen(want)) {
    fprintf(stderr, "  %s: got %ld %s\n", name, n, n >= 0 ? out : "");
    return 0;
  }
  return 1;
}

static void test_model_normal(void) {
  TG_CHECK(normal_is("llama3.2", "llama3.2:latest") && normal_is("llama3.2:latest", "llama3.2:latest"));
  TG_CHECK(normal_is("Llama3.2:Q4_K_M", "llama3.2:q4_k_m"));
  TG_CHECK(normal_is("library/llama3.2", "llama3.2:latest"));
  TG_CHECK(normal_is("registry.ollama.ai/library/llama3.2:latest", "llama3.2:latest"));
  TG_CHECK(normal_is("REGISTRY.OLLAMA.AI/Library/llama3.2", "llama3.2:latest"));
  TG_CHECK(normal_is("registry.ollama.ai/bob/m", "bob/m:latest") && normal_is("Bob/Mistral:7B", "bob/mistral:7b"));
  TG_CHECK(normal_is("hf.co/org/m:Q4", "hf.co/org/m:q4") && normal_is("hf.co/library/m", "hf.co/library/m:latest"));
  TG_CHECK(normal_is("https://localhost:5000/ns/m:t", "localhost:5000/ns/m:t"));
  TG_CHECK(normal_is("localhost:5000/ns/m", "localhost:5000/ns/m:latest"));
  TG_CHECK(normal_is("_x", "_x:latest"));
  /* names Ollama refuses */
  const char *bad[] = {"",   "a:",  ":x",          "a/",    "/a",     "a//b", "a/b/c/d",
                       "-x", "a b", "m@sha256:ab", "a:b:c", "ns.x/m", "m:-t", "phi\xef\xbf\xbd",
                       "*",  "a:*"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) TG_CHECK(normal_is(bad[i], NULL));
  char m81[90];
  memset(m81, 'm', 81), m81[81] = 0;
  TG_CHECK(normal_is(m81, NULL));
  char out[16];
  TG_CHECK(tg_model_normal("a\0b", 3, out, sizeof out) == -1);
  TG_CHECK(tg_model_normal("abcdefghij", 10, out, sizeof out) == -2); /* "abcdefghij:latest" needs 18 */
}

void tg_suite_model_name(void) {
  TG_RUN(test_jstr_escapes);
  TG_RUN(test_jstr_replacements);
  TG_RUN(test_jstr_refusals);
  TG_RUN(test_model_normal);
}
