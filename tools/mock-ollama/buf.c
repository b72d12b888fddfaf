/* buf.c: the growable byte buffer used for URLs, headers, bodies and lines. */
#include "mock.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Make room for n more bytes plus the NUL; aborts on allocation failure
 * (a test tool has no better answer). */
static void buf_reserve(mock_buf_t *b, size_t n) {
  if (b->len + n + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < b->len + n + 1) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) {
    fputs("mock-ollama: out of memory\n", stderr);
    abort();
  }
  b->p = p;
  b->cap = cap;
}

void mock_buf_append(mock_buf_t *b, const void *data, size_t n) {
  buf_reserve(b, n);
  if (n) memcpy(b->p + b->len, data, n);
  b->len += n;
  b->p[b->len] = '\0';
}

void mock_buf_puts(mock_buf_t *b, const char *s) { mock_buf_append(b, s, strlen(s)); }

void mock_buf_printf(mock_buf_t *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n <= 0) return;
  buf_reserve(b, (size_t)n);
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

/* Insert n copies of ch at offset at (used to pad a token to a line size). */
void mock_buf_insert_fill(mock_buf_t *b, size_t at, char ch, size_t n) {
  if (at > b->len || n == 0) return;
  buf_reserve(b, n);
  memmove(b->p + at + n, b->p + at, b->len - at + 1);
  memset(b->p + at, ch, n);
  b->len += n;
}

void mock_buf_reset(mock_buf_t *b) {
  b->len = 0;
  if (b->p) b->p[0] = '\0';
}

void mock_buf_free(mock_buf_t *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}
