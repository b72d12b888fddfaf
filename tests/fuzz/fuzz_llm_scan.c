/* libFuzzer target for the streaming scanner of request and response
 * bodies (src/observe/llm.c), which reads every body from outside.
 *
 * Byte 0 is the piece size the body is fed in (1..16, or all at once);
 * the rest is the body. Invariants: whatever the pieces, the request scan
 * gives the same runner-options variant, model state and, for a valid
 * name, model (a body not cut inside a string; an invalid name near the
 * length cap is kept as far as the pieces allowed), and the
 * response scan the same counts; a model kept is NUL-terminated within
 * its buffer. With jansson as the oracle: a body that is a JSON object
 * whose one "options" key (any case) holds an object whose runner options
 * are integers or booleans gives the same variant as jansson's compact
 * dump of it. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tollgate/llm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Returns whether the body ended inside a string (a model cut there is
 * decoded as far as the pieces allowed: compared only when whole). */
static int scan(const char *p, size_t n, size_t step, int request, tg_llm_facts *f) {
  tg_json_scan s;
  memset(&s, 0, sizeof s);
  memset(f, 0, sizeof *f); /* as the exchange's are (src/http/exchange.c) */
  tg_llm_facts_init(f);
  for (size_t i = 0; i < n; i += step) {
    size_t k = n - i < step ? n - i : step;
    if (request) tg_llm_scan_request(&s, f, p + i, k);
    else tg_llm_scan_response(&s, f, p + i, k);
  }
  if (!memchr(f->model, 0, sizeof f->model)) __builtin_trap();
  return s.in_str;
}

/* Does root qualify for the oracle (see above)? Duplicate keys were
 * refused by the parse (Go keeps the union of two "options" objects). */
static int oracle_fits(json_t *root) {
  static const char *const keys[] = {"num_ctx", "num_batch", "num_gpu", "main_gpu", "use_mmap", "num_thread"};
  const char *k;
  json_t *v, *opts = NULL;
  int n = 0;
  json_object_foreach(root, k, v) if (strcasecmp(k, "options") == 0) opts = v, n++;
  if (n != 1 || !json_is_object(opts)) return 0;
  for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
    json_t *o = json_object_get(opts, keys[i]);
    if (o && !json_is_integer(o) && !json_is_boolean(o)) return 0;
  }
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  size_t step = data[0] % 17 ? data[0] % 17 : (size_t)-1;
  const char *p = (const char *)data + 1;
  size_t n = size - 1;
  tg_llm_facts whole, pieces;
  for (int request = 0; request <= 1; request++) {
    int cut = scan(p, n, (size_t)-1, request, &whole);
    scan(p, n, step, request, &pieces);
    if ((!cut && (whole.model_state != pieces.model_state ||
                  (whole.model_state == TG_MODEL_OK && strcmp(whole.model, pieces.model)))) ||
        whole.variant != pieces.variant || whole.prompt_tokens != pieces.prompt_tokens ||
        whole.output_tokens != pieces.output_tokens || whole.load_ns != pieces.load_ns ||
        whole.total_ns != pieces.total_ns)
      __builtin_trap();
    if (!request && whole.variant) __builtin_trap(); /* a response has no runner options */
  }
  json_t *root = json_loadb(p, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
  if (json_is_object(root) && oracle_fits(root)) {
    char *dump = json_dumps(root, JSON_COMPACT);
    if (dump) {
      scan(dump, strlen(dump), (size_t)-1, 1, &pieces);
      if (pieces.variant != whole.variant) __builtin_trap();
      free(dump);
    }
  }
  json_decref(root);
  return 0;
}
