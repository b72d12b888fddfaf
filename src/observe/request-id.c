/* Request ids (tollgate/proxy.h): 32 hex digits from a per-worker
 * xorshift128+ seeded by the kernel, for the access log, the error log and
 * the X-Request-Id header. */
#include <sys/random.h>

#include "tollgate/proxy.h"

void tg_request_id_new(tg_worker *w, char out[33]) {
  static const char hex[] = "0123456789abcdef";
  uint64_t *s = w->rid_state;
  if (!s[0] && !s[1] && getrandom(s, sizeof w->rid_state, 0) != sizeof w->rid_state) s[0] = uv_hrtime() | 1;
  for (int half = 0; half < 2; half++) {
    uint64_t x = s[0], y = s[1];
    s[0] = y;
    x ^= x << 23;
    s[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
    uint64_t v = s[1] + y;
    for (int i = 0; i < 16; i++) out[half * 16 + i] = hex[(v >> (i * 4)) & 15];
  }
  out[32] = 0;
}
