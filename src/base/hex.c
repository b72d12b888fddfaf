/* Hexadecimal bytes (see tollgate/hex.h). */
#include "tollgate/hex.h"

void tg_hex_encode(const void *in, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  const unsigned char *p = in;
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
  out[2 * n] = '\0';
}

int tg_hex_decode(const char *in, size_t n, unsigned char *out) {
  for (size_t i = 0; i < n; i++) {
    int hi = tg_hex_digit((unsigned char)in[2 * i]), lo = tg_hex_digit((unsigned char)in[2 * i + 1]);
    if (hi < 0 || lo < 0) return -1;
    out[i] = (unsigned char)(hi << 4 | lo);
  }
  return 0;
}
