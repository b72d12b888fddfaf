/* libFuzzer target for what src/policy/models.c and quota-state.c read
 * from outside: request bodies (the model check and the include_usage
 * rewrite), SSE chunks the usage event is taken out of, listings to
 * filter, and quota state files. Byte 0 picks which; the rest is the input.
 *
 * Invariants: nothing crashes or leaks; a body that inspects gets a
 * rewrite that inspects again with the same stream and
 * include_usage true; stripping leaves no usage event, never grows the
 * input and is idempotent; a filtered listing parses and holds only
 * allowed names; a state file loads whole or not at all. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate/quota.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void body(const char *p, size_t n) {
  tg_body_facts f, g;
  char err[200];
  json_t *root = tg_body_inspect(p, n, &f, err, sizeof err);
  if (!root) return;
  tg_buf out = {0};
  if (tg_body_ask_usage(root, &f, p, n, &out) == 0) {
    json_t *again = tg_body_inspect(out.data, out.len, &g, err, sizeof err);
    if (!again || !g.include_usage || g.stream != f.stream) __builtin_trap();
    json_decref(again);
  }
  tg_buf_free(&out);
  json_decref(root);
}

static void sse(const char *p, size_t n) {
  char *a = malloc(n + 1), *b = malloc(n + 1);
  memcpy(a, p, n);
  size_t k = tg_sse_strip_usage(a, n);
  memcpy(b, a, k);
  if (k > n || tg_sse_strip_usage(b, k) != k || memcmp(a, b, k) != 0) __builtin_trap();
  free(a);
  free(b);
}

static void listing(const char *p, size_t n) {
  char *names[] = {"llama3.2:latest", "qwen2.5:*"};
  tg_model_list l = {.user = "u", .names = names, .n = 2};
  tg_buf out = {0};
  if (tg_models_filter_listing(&l, p, n, &out) == 0) {
    json_t *r = json_loadb(out.data, out.len, 0, NULL);
    json_t *v = json_object_get(r, "models"), *e;
    const char *key = "name";
    if (!json_is_array(v)) v = json_object_get(r, "data"), key = "id";
    size_t i;
    if (!r) __builtin_trap();
    json_array_foreach(v, i, e) {
      json_t *name = json_object_get(e, key);
      if (!json_is_string(name) && !strcmp(key, "name")) name = json_object_get(e, "model");
      if (!json_is_string(name) || !tg_models_allowed(&l, json_string_value(name), json_string_length(name)))
        __builtin_trap();
    }
    json_decref(r);
  }
  tg_buf_free(&out);
}

static void state(const char *p, size_t n) {
  tg_quota_store *s = tg_quota_store_new(64);
  char err[256];
  if (s) tg_quota_state_parse(s, p, n, err, sizeof err);
  tg_quota_store_release(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const char *p = (const char *)data + 1;
  size_t n = size - 1;
  switch (data[0] & 3) {
  case 0: body(p, n); break;
  case 1: sse(p, n); break;
  case 2: listing(p, n); break;
  default: state(p, n); break;
  }
  return 0;
}
