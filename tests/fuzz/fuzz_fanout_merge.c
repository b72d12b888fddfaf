// libFuzzer target for what servers answer a merged listing
// (src/relay/fanout-merge.c: tg_fanout_merge): the input, cut at NUL bytes
// into up to four servers' bodies and its first byte choosing the listing,
// gives NULL (out of memory only) or JSON text of the listing's shape:
// {"models":[...]} or {"object":"list","data":[...]}, no two entries of
// /api/tags or /v1/models with the same name, every /api/ps entry with its
// server; the count of bodies taken never exceeds the bodies given. Also
// tg_fanout_time on the input as a string.
//   make fuzz-build && FUZZ_ONLY=fuzz_fanout_merge tests/fuzz/run.sh build-fuzz 60
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate/fanout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_unique(json_t *list, const char *key) {
  size_t n = json_array_size(list);
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++) {
      json_t *a = json_object_get(json_array_get(list, i), key), *b = json_object_get(json_array_get(list, j), key);
      if (json_is_string(a) && json_is_string(b) && json_equal(a, b)) __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 65536) return 0;
  static const tg_fanout_kind kinds[] = {TG_FANOUT_TAGS, TG_FANOUT_MODELS, TG_FANOUT_PS};
  tg_fanout_kind kind = kinds[data[0] % 3];
  char *copy = malloc(size);
  if (!copy) return 0;
  memcpy(copy, data + 1, size - 1);
  copy[size - 1] = 0;
  long long sec;
  long nsec;
  if (tg_fanout_time(copy, &sec, &nsec) == 0 && (nsec < 0 || nsec > 999999999)) __builtin_trap();
  tg_fanout_part parts[4];
  size_t n = 0;
  static const char *const servers[] = {"a:1", "b:2", "c:3", "d:4"};
  for (const char *p = copy, *end = copy + size - 1; p <= end && n < 4;) {
    const char *z = memchr(p, 0, (size_t)(end - p) + 1);
    parts[n] = (tg_fanout_part){p, (size_t)(z - p), servers[n]};
    n++;
    p = z + 1;
  }
  size_t len = 0, used = 0;
  char *text = tg_fanout_merge(kind, parts, n, &len, &used);
  if (text) {
    if (used > n || strlen(text) != len) __builtin_trap();
    json_t *o = json_loadb(text, len, 0, NULL);
    json_t *list = json_object_get(o, kind == TG_FANOUT_MODELS ? "data" : "models");
    if (!json_is_array(list)) __builtin_trap();
    if (kind == TG_FANOUT_TAGS) check_unique(list, "name");
    if (kind == TG_FANOUT_MODELS) check_unique(list, "id");
    size_t i;
    json_t *m;
    json_array_foreach(list, i, m) if (kind == TG_FANOUT_PS && !json_is_string(json_object_get(m, "server")))
        __builtin_trap();
    json_decref(o);
    free(text);
  }
  free(copy);
  return 0;
}
