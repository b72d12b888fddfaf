/* Collects a message head from llhttp's span callbacks (see tollgate/head.h). */
#include "tollgate/head.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* An empty span (llhttp ends one at the start of a read) takes no room
 * under the cap, so a head at the cap passes however its reads fall; the
 * buffer still holds a byte, so that a span never points into NULL. */
static int head_room(tg_head *h, size_t n, size_t max_bytes) {
  if (max_bytes && h->buf.len - h->aside + n > max_bytes) return TG_HEAD_TOO_BIG;
  return tg_buf_reserve(&h->buf, n ? n : 1);
}

static int head_new_field(tg_head *h) {
  if (h->nfields >= TG_HEAD_MAX_FIELDS) return TG_HEAD_TOO_BIG;
  if (h->nfields == h->cap_fields) {
    uint32_t cap = h->cap_fields ? h->cap_fields * 2 : 16;
    tg_field *f = realloc(h->fields, cap * sizeof *f);
    if (!f) return -1;
    h->fields = f;
    h->cap_fields = cap;
  }
  tg_field *f = &h->fields[h->nfields++];
  f->name.off = f->value.off = (uint32_t)h->buf.len;
  f->name.len = f->value.len = 0;
  return 0;
}

/* RFC 9110 5.6.2 token characters: what a field name may hold. llhttp's
 * strict mode still lets a space before the colon through for names it has
 * no special rule for ("Authorization : x"); such a name is refused here. */
static int is_token(const char *p, size_t n) {
  /* Bit c of the two words: c is a token character (digits, letters and
   * !#$%&'*+-.^_`|~); nothing at or above 128 is. */
  static const uint64_t token_bits[2] = {0x03ff6cfa00000000ull, 0x57ffffffc7fffffeull};
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c >= 128 || !(token_bits[c >> 6] >> (c & 63) & 1)) return 0;
  }
  return 1;
}

/* Appends bytes to the span of kind `kind`, opening a new field when a name
 * starts after a value (or at the first name). Returns -1 for a field name
 * that is not a token or is empty. */
static int head_add(tg_head *h, int kind, const char *p, size_t n, size_t max_bytes) {
  if (kind == TG_HEAD_NAME && !is_token(p, n)) return -1;
  int rc = head_room(h, n, max_bytes);
  if (rc) return rc;
  if (kind == TG_HEAD_NAME && h->last != TG_HEAD_NAME) {
    if ((rc = head_new_field(h))) return rc;
  }
  if (kind == TG_HEAD_VALUE && h->last != TG_HEAD_VALUE) {
    if (h->nfields == 0 || h->fields[h->nfields - 1].name.len == 0) return -1;
    h->fields[h->nfields - 1].value.off = (uint32_t)h->buf.len;
  }
  tg_span *s = kind == TG_HEAD_TARGET ? &h->target
               : kind == TG_HEAD_NAME ? &h->fields[h->nfields - 1].name
                                      : &h->fields[h->nfields - 1].value;
  if (kind == TG_HEAD_TARGET && h->last != TG_HEAD_TARGET) s->off = (uint32_t)h->buf.len;
  memcpy(h->buf.data + h->buf.len, p, n);
  h->buf.len += n;
  s->len += (uint32_t)n;
  h->last = (uint8_t)kind;
  return 0;
}

char *tg_head_room(tg_head *h, size_t n) { return tg_buf_reserve(&h->buf, n) < 0 ? NULL : h->buf.data + h->buf.len; }

tg_span tg_head_keep(tg_head *h, size_t n) {
  tg_span s = {(uint32_t)h->buf.len, (uint32_t)n};
  h->buf.data[h->buf.len + n] = '\0';
  h->buf.len += n + 1;
  h->aside += (uint32_t)n + 1;
  return s;
}

int tg_head_add_target(tg_head *h, const char *p, size_t n, size_t max_bytes) {
  return head_add(h, TG_HEAD_TARGET, p, n, max_bytes);
}

int tg_head_add_name(tg_head *h, const char *p, size_t n, size_t max_bytes) {
  return head_add(h, TG_HEAD_NAME, p, n, max_bytes);
}

int tg_head_add_value(tg_head *h, const char *p, size_t n, size_t max_bytes) {
  return head_add(h, TG_HEAD_VALUE, p, n, max_bytes);
}

int tg_head_name_is(const tg_head *h, uint32_t i, const char *name) {
  size_t n = strlen(name);
  tg_span s = h->fields[i].name;
  return s.len == n && strncasecmp(tg_head_str(h, s), name, n) == 0;
}

int tg_head_find(const tg_head *h, const char *name) {
  for (uint32_t i = 0; i < h->nfields; i++)
    if (tg_head_name_is(h, i, name)) return (int)i;
  return -1;
}

int tg_head_count(const tg_head *h, const char *name) {
  int n = 0;
  for (uint32_t i = 0; i < h->nfields; i++) n += tg_head_name_is(h, i, name);
  return n;
}

const char *tg_head_value_copy(const tg_head *h, const char *name, char *out, size_t outlen) {
  int i = tg_head_find(h, name);
  if (i < 0 || !outlen) return NULL;
  tg_span v = h->fields[i].value;
  size_t n = v.len < outlen - 1 ? v.len : outlen - 1;
  memcpy(out, tg_head_str(h, v), n);
  out[n] = 0;
  return out;
}

void tg_head_reset(tg_head *h) {
  h->buf.len = 0;
  h->nfields = 0;
  h->target.off = h->target.len = 0;
  h->last = TG_HEAD_NONE;
  h->aside = 0;
}

void tg_head_free(tg_head *h) {
  tg_buf_free(&h->buf);
  free(h->fields);
  memset(h, 0, sizeof *h);
}
