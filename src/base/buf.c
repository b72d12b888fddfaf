/* Growable byte buffers (see include/tollgate/buf.h). */
#include "tollgate/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tg_buf_grow(tg_buf *b, size_t n) {
  if (b->cap - b->len >= n) return 0;
  size_t cap = b->cap ? b->cap : 128;
  while (cap - b->len < n) {
    if (cap > ((size_t)-1) / 2) return -1;
    cap *= 2;
  }
  char *p = realloc(b->data, cap);
  if (!p) return -1;
  b->data = p;
  b->cap = cap;
  return 0;
}

int tg_buf_puts(tg_buf *b, const char *s) { return tg_buf_append(b, s, strlen(s)); }

int tg_buf_put_u64(tg_buf *b, unsigned long long v) {
  char tmp[24];
  size_t i = sizeof tmp;
  do {
    tmp[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  return tg_buf_append(b, tmp + i, sizeof tmp - i);
}

int tg_buf_printf(tg_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || tg_buf_reserve(b, (size_t)n + 1) < 0) return -1;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return 0;
}

int tg_buf_json_str(tg_buf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
    int rc;
    if (c == '"' || c == '\\') {
      char two[2] = {'\\', (char)c};
      rc = tg_buf_append(b, two, 2);
    } else if (c < 0x20 || c == 0x7f) {
      rc = tg_buf_append(b, esc, 6);
    } else {
      rc = tg_buf_append(b, &s[i], 1);
    }
    if (rc < 0) return -1;
  }
  return 0;
}

void tg_buf_consume(tg_buf *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
}

void tg_buf_free(tg_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}
