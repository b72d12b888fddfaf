// libFuzzer target for the config parser (src/config): any bytes must
// give either a config or errors, never a crash, a leak or undefined
// behaviour. Build and run from the repository root:
//   clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
//     -Iinclude src/config/*.c tests/fuzz/fuzz_config.c -o build/fuzz_config
//   mkdir -p build/corpus-config
//   build/fuzz_config -max_total_time=60 -dict=tests/fuzz/config.dict \
//     build/corpus-config tests/fuzz/corpus/config
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tollgate/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static FILE *devnull;
  if (!devnull) devnull = fopen("/dev/null", "w");
  int nerrors = -1;
  tg_config *cfg = tg_config_parse("fuzz.conf", (const char *)data, size, devnull, &nerrors);
  if ((cfg == NULL) != (nerrors > 0)) __builtin_trap();
  if (cfg) {
    /* a parsed config is complete: every site listens and has an upstream */
    for (size_t i = 0; i < cfg->nsites; i++)
      if (!cfg->sites[i].nlistens || !cfg->sites[i].upstream || !cfg->sites[i].mount) __builtin_trap();
    for (size_t i = 0; i < cfg->nupstreams; i++)
      if (!cfg->upstreams[i].servers[0].addr.host || !cfg->upstreams[i].servers[0].addr.port) __builtin_trap();
  }
  tg_config_free(cfg);
  return 0;
}
