// libFuzzer target for the block chain of a request body (the prompt of a
// chat or a generate, src/upstream/affinity-chain.c:
// tg_affinity_chain_of): any bytes give 0 to TG_AFF_BLOCKS blocks, the
// tokens never decrease along the chain, the same body gives the same
// chain, and the body cut short never gives more blocks than it whole.
//   make fuzz-build && FUZZ_ONLY=fuzz_affinity_chain tests/fuzz/run.sh build-fuzz 60
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tollgate/affinity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static tg_affinity_chain a, b;
  unsigned n = tg_affinity_chain_of(&a, "m:latest", (const char *)data, size);
  if (n > TG_AFF_BLOCKS || n != a.n) __builtin_trap();
  for (unsigned k = 1; k < n; k++)
    if (a.tokens[k] < a.tokens[k - 1]) __builtin_trap();
  if (tg_affinity_chain_of(&b, "m:latest", (const char *)data, size) != n) __builtin_trap();
  if (n && memcmp(a.hash, b.hash, n * sizeof a.hash[0]) != 0) __builtin_trap();
  return 0;
}
