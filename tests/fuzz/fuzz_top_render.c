// libFuzzer target for what an admin listener answers `tollgate top`
// (src/admin/top-render.c: tg_top_render): any bytes, at any width and
// height, give 0 or -1 without a crash or a leak; a screen is whole lines,
// none wider than the width, no more than the height's worth of streams.
// Byte 0 picks the width, byte 1 the height, byte 2 the order.
//   make fuzz-build && FUZZ_ONLY=fuzz_top_render tests/fuzz/run.sh build-fuzz 60
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tollgate/top.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  unsigned width = data[0], height = data[1] % 64;
  tg_top_sort sort = (tg_top_sort)(data[2] % (TG_TOP_SORTS + 1));
  tg_buf out = {0};
  int rc = tg_top_render(&out, (const char *)data + 3, size - 3, width, height, sort);
  if (rc == 0) {
    if (out.len && out.data[out.len - 1] != '\n') __builtin_trap();
    for (size_t i = 0, start = 0; i < out.len; i++)
      if (out.data[i] == '\n') {
        if (width && i - start > width) __builtin_trap();
        start = i + 1;
      }
  }
  tg_buf_free(&out);
  return 0;
}
