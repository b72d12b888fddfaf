// libFuzzer target for what a server's /api/tags answers to a health check
// (src/upstream/health.c: tg_health_catalogue): either NULL or a list of
// normal forms, each a line ended by '\n', NUL-terminated, each line a
// normal form again (tg_model_normal of it is itself), none empty; and the
// lookup of the server state finds every line of it.
//   make fuzz-build && FUZZ_ONLY=fuzz_catalogue tests/fuzz/run.sh build-fuzz 60
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate/health.h"
#include "tollgate/model-name.h"
#include "tollgate/servers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *list = tg_health_catalogue((const char *)data, size);
  if (!list) return 0;
  size_t len = strlen(list);
  if (len && list[len - 1] != '\n') __builtin_trap();
  static tg_server_state st = {.lock = PTHREAD_MUTEX_INITIALIZER};
  char *copy = strdup(list);
  if (!copy) __builtin_trap();
  tg_server_set_models(&st, copy);
  for (char *p = list; *p;) {
    char *end = strchr(p, '\n');
    if (!end || end == p) __builtin_trap();
    *end = '\0';
    char again[TG_MODEL_NAME_MAX + 1];
    long n = tg_model_normal(p, (size_t)(end - p), again, sizeof again);
    if (n != end - p || memcmp(again, p, (size_t)n) != 0) __builtin_trap();
    if (tg_server_has_model(&st, p) != 1) __builtin_trap();
    p = end + 1;
  }
  free(list);
  return 0;
}
