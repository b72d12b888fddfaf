/* tg_buf: a growable byte buffer with an optional size cap. Used for
 * request and response heads and for the bytes a socket could not take
 * at once. A zeroed tg_buf is empty and owns nothing. */
#ifndef TOLLGATE_BUF_H
#define TOLLGATE_BUF_H

#include <stddef.h>
#include <string.h>

typedef struct tg_buf {
  char *data;
  size_t len;
  size_t cap;
} tg_buf;

/* Grows b to hold n more bytes (tg_buf_reserve's slow path). */
int tg_buf_grow(tg_buf *b, size_t n);

/* Makes room for n more bytes. Returns 0, or -1 when memory runs out.
 * Inline: a request's head is written in a few dozen small appends. */
static inline int tg_buf_reserve(tg_buf *b, size_t n) { return b->cap - b->len >= n ? 0 : tg_buf_grow(b, n); }

/* Appends n bytes. Returns 0 or -1 (out of memory). */
static inline int tg_buf_append(tg_buf *b, const void *p, size_t n) {
  if (n == 0) return 0;
  if (tg_buf_reserve(b, n) < 0) return -1;
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

/* Appends a NUL-terminated string. Returns 0 or -1. */
int tg_buf_puts(tg_buf *b, const char *s);

/* Appends an unsigned number in decimal. Returns 0 or -1. */
int tg_buf_put_u64(tg_buf *b, unsigned long long v);

/* Appends printf-formatted text. Returns 0 or -1. */
int tg_buf_printf(tg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends s as the inside of a JSON string (quotes not included). */
int tg_buf_json_str(tg_buf *b, const char *s, size_t n);

/* Drops the first n bytes, keeping the rest. */
void tg_buf_consume(tg_buf *b, size_t n);

/* Frees the memory and leaves b empty. */
void tg_buf_free(tg_buf *b);

#endif
