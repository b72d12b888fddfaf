/* libFuzzer target for the model-name decoder and normal form
 * (src/observe/model-name.c), with jansson as the oracle.
 *
 * Byte 0 is the piece size the string is fed in (1..8, or all at once);
 * the rest is a JSON string's contents. Invariants: jansson
 * (json_loadb of the quoted string, NULs allowed) takes it exactly when
 * the decoder reads it without U+FFFD standing in, and then both give the
 * same bytes; whatever the pieces, the decoder gives the same bytes and
 * flags; its output is valid UTF-8 unless the string is not JSON; the
 * normal form of the decoded name, when there is one, is its own normal
 * form and holds no upper-case letter. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate/model-name.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feeds p in pieces of step bytes and then the closing quote. Returns the
 * decoded length, or -1 when the input is not exactly one string. */
static long decode(const char *p, size_t n, size_t step, char *out, size_t cap, int *flags) {
  tg_jstr d = {0};
  size_t i = 0;
  while (i < n) {
    size_t k = n - i < step ? n - i : step, used = tg_jstr_feed(&d, p + i, k, out, cap);
    i += used;
    if (used < k) break;
  }
  if (i == n && !(d.flags & TG_JSTR_DONE)) i += tg_jstr_feed(&d, "\"", 1, out, cap);
  *flags = d.flags;
  if (d.len > cap) __builtin_trap(); /* cap is room for anything */
  return i == n + 1 && (d.flags & TG_JSTR_DONE) ? (long)d.len : -1;
}

static void check_normal(const char *name, size_t n) {
  char a[TG_MODEL_NAME_MAX], b[TG_MODEL_NAME_MAX];
  long k = tg_model_normal(name, n, a, sizeof a);
  if (k < 0) return;
  if (tg_model_normal(a, (size_t)k, b, sizeof b) != k || memcmp(a, b, (size_t)k)) __builtin_trap();
  for (long i = 0; i < k; i++)
    if (a[i] >= 'A' && a[i] <= 'Z') __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const char *p = (const char *)data + 1;
  size_t n = size - 1, step = (data[0] & 7) + 1, cap = 3 * n + 8;
  char *quoted = malloc(n + 2), *one = malloc(cap), *two = malloc(cap);
  quoted[0] = '"';
  memcpy(quoted + 1, p, n);
  quoted[n + 1] = '"';
  int f1, f2;
  long l1 = decode(p, n, data[0] & 8 ? n + 1 : step, one, cap, &f1), l2 = decode(p, n, 1, two, cap, &f2);
  if (l1 != l2 || f1 != f2 || (l1 > 0 && memcmp(one, two, (size_t)l1))) __builtin_trap();
  json_error_t e;
  json_t *j = json_loadb(quoted, n + 2, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
  int ours = l1 >= 0 && !(f1 & (TG_JSTR_BAD | TG_JSTR_REPLACED));
  if (!!j != ours) __builtin_trap();
  if (j && ((size_t)l1 != json_string_length(j) || memcmp(one, json_string_value(j), (size_t)l1))) __builtin_trap();
  json_decref(j);
  if (l1 >= 0 && !(f1 & TG_JSTR_BAD)) {
    json_t *s = json_stringn(one, (size_t)l1); /* jansson checks UTF-8 */
    if (!s) __builtin_trap();
    json_decref(s);
    check_normal(one, (size_t)l1);
  }
  free(quoted);
  free(one);
  free(two);
  return 0;
}
