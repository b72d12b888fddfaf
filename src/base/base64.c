/* Base64, both alphabets (see tollgate/base64.h). */
#include "tollgate/base64.h"

#include <stdint.h>
#include <stdlib.h>

static const char std_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The encoder of both alphabets; pad says whether a short last group is
 * filled with '='. */
static size_t encode(const char *abc, int pad, const unsigned char *in, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    size_t left = n - i;
    uint32_t v = (uint32_t)in[i] << 16 | (left > 1 ? (uint32_t)in[i + 1] << 8 : 0) | (left > 2 ? in[i + 2] : 0);
    out[o++] = abc[v >> 18];
    out[o++] = abc[(v >> 12) & 63];
    if (left > 1 || pad) out[o++] = left > 1 ? abc[(v >> 6) & 63] : '=';
    if (left > 2 || pad) out[o++] = left > 2 ? abc[v & 63] : '=';
  }
  out[o] = '\0';
  return o;
}

/* The value of c in the alphabet whose last two characters are c62 and
 * c63, or -1. */
static int digit(unsigned char c, char c62, char c63) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == (unsigned char)c62) return 62;
  if (c == (unsigned char)c63) return 63;
  return -1;
}

/* The decoder of both alphabets (padding already taken off); canonical
 * asks that the unused bits of the last character be zero. */
static long decode(const char *abc, int canonical, const char *in, size_t n, unsigned char *out, size_t cap) {
  if (n % 4 == 1) return -1; /* six bits: not even one byte */
  uint32_t acc = 0;
  unsigned bits = 0;
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int v = digit((unsigned char)in[i], abc[62], abc[63]);
    if (v < 0) return -1;
    acc = (acc << 6 | (uint32_t)v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (o == cap) return -1;
      out[o++] = (unsigned char)(acc >> bits);
    }
  }
  if (canonical && (acc & ((1u << bits) - 1))) return -1;
  return (long)o;
}

size_t tg_b64_encode(const void *in, size_t n, char *out) { return encode(std_alphabet, 1, in, n, out); }

long tg_b64_decode(const char *in, size_t n, unsigned char *out, size_t cap) {
  while (n && in[n - 1] == '=') n--;
  return decode(std_alphabet, 0, in, n, out, cap);
}

size_t tg_b64url_encode(const void *in, size_t n, char *out) { return encode(url_alphabet, 0, in, n, out); }

char *tg_b64url(const void *in, size_t n) {
  char *out = malloc(tg_b64_encoded_len(n) + 1);
  if (out) tg_b64url_encode(in, n, out);
  return out;
}

long tg_b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap) {
  return decode(url_alphabet, 1, in, n, out, cap);
}
