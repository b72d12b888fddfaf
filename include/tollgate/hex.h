/* Hexadecimal: digits read in either case, bytes written in lower case.
 * One spelling for percent-escapes, chunk sizes, JSON \u escapes and key
 * hashes. */
#ifndef TOLLGATE_HEX_H
#define TOLLGATE_HEX_H

#include <stddef.h>

/* The value of one hex digit ('0'-'9', 'a'-'f', 'A'-'F'), or -1. Inline:
 * every chunk-size digit of a relayed stream goes through it. */
static inline int tg_hex_digit(unsigned char c) {
  if ((unsigned)(c - '0') < 10) return c - '0';
  c |= 0x20; /* 'A'-'F' to 'a'-'f'; nothing else becomes a hex letter */
  if ((unsigned)(c - 'a') < 6) return c - 'a' + 10;
  return -1;
}

/* Writes n bytes as 2n lower-case hex digits and a NUL into out. */
void tg_hex_encode(const void *in, size_t n, char *out);
/* Reads exactly 2n hex digits from in into n bytes of out. Returns 0, or
 * -1 at the first character that is not a hex digit. */
int tg_hex_decode(const char *in, size_t n, unsigned char *out);

#endif
