/* tg_head: the start line and header fields of one HTTP message, collected
 * from llhttp's span callbacks (which may split a field across reads) into
 * one buffer, with an index of name/value spans. Used for client requests
 * and for upstream responses alike. */
#ifndef TOLLGATE_HEAD_H
#define TOLLGATE_HEAD_H

#include <stddef.h>
#include <stdint.h>

#include "tollgate/buf.h"

typedef struct tg_span {
  uint32_t off;
  uint32_t len;
} tg_span;

typedef struct tg_field {
  tg_span name;
  tg_span value;
} tg_field;

typedef struct tg_head {
  tg_buf buf; /* every byte of URL/status text, names and values */
  tg_field *fields;
  uint32_t nfields;
  uint32_t cap_fields;
  tg_span target; /* request target (requests) or reason phrase (responses) */
  uint8_t last;   /* which span the last append went to (TG_HEAD_*) */
  uint32_t aside; /* bytes kept beside the head (tg_head_keep): not counted against its size limit */
} tg_head;

enum { TG_HEAD_NONE, TG_HEAD_TARGET, TG_HEAD_NAME, TG_HEAD_VALUE };

/* Limits: a head larger than max_bytes, or with more than TG_HEAD_MAX_FIELDS
 * fields, makes the append functions return TG_HEAD_TOO_BIG. */
#define TG_HEAD_MAX_FIELDS 100
#define TG_HEAD_TOO_BIG (-2)

/* Append functions: return 0, -1 on out of memory, TG_HEAD_TOO_BIG. */
int tg_head_add_target(tg_head *h, const char *p, size_t n, size_t max_bytes);
int tg_head_add_name(tg_head *h, const char *p, size_t n, size_t max_bytes);
int tg_head_add_value(tg_head *h, const char *p, size_t n, size_t max_bytes);

/* Room for n more bytes at the end of h's buffer, for what is derived
 * from the head (the exchange's normalised path); NULL when out of memory.
 * It holds until the next append: compute pointers into h after it. */
char *tg_head_room(tg_head *h, size_t n);
/* Keeps the first n bytes written at tg_head_room (room for n + 1) as a
 * span of h, NUL-terminated; they do not count against the size limit. */
tg_span tg_head_keep(tg_head *h, size_t n);

/* Pointer to the bytes of a span. */
static inline const char *tg_head_str(const tg_head *h, tg_span s) { return h->buf.data + s.off; }

/* Finds the first field named name (case-insensitive). Returns its index or -1. */
int tg_head_find(const tg_head *h, const char *name);

/* Number of fields named name. */
int tg_head_count(const tg_head *h, const char *name);

/* The value of the first field named name (any case), copied into out and
 * cut to fit, or NULL when there is none. */
const char *tg_head_value_copy(const tg_head *h, const char *name, char *out, size_t outlen);

/* Does field i have the given name (case-insensitive)? */
int tg_head_name_is(const tg_head *h, uint32_t i, const char *name);

/* Empties h, keeping its memory for the next message. */
void tg_head_reset(tg_head *h);

/* Frees everything h owns. */
void tg_head_free(tg_head *h);

#endif
