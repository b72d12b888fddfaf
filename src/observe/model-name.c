/* The JSON string decoder and the normal form of model names (see
 * tollgate/model-name.h). The decoder reads strings as Go's encoding/json
 * does (decode.go, unquote): an invalid UTF-8 byte becomes one U+FFFD, and
 * a \u surrogate that does not pair with the \u escape right after it
 * becomes U+FFFD without taking that escape. It allocates nothing, so the
 * request scanner can run it on every read of a body. */
#include "tollgate/model-name.h"

#include <string.h>

#include "tollgate/hex.h"

enum { S_CHAR, S_ESC, S_HEX, S_AFTER_HIGH, S_HIGH_ESC };

/* Writes k bytes whole or not at all; counts them either way. */
static void put(tg_jstr *d, char *out, size_t cap, const char *b, size_t k) {
  if (d->len + k <= cap) memcpy(out + d->len, b, k);
  d->len += (uint32_t)k;
}

static void put_rune(tg_jstr *d, char *out, size_t cap, uint32_t r) {
  char b[4];
  size_t k;
  if (r < 0x80) b[0] = (char)r, k = 1;
  else if (r < 0x800) b[0] = (char)(0xc0 | r >> 6), b[1] = (char)(0x80 | (r & 0x3f)), k = 2;
  else if (r < 0x10000)
    b[0] = (char)(0xe0 | r >> 12), b[1] = (char)(0x80 | ((r >> 6) & 0x3f)), b[2] = (char)(0x80 | (r & 0x3f)), k = 3;
  else
    b[0] = (char)(0xf0 | r >> 18), b[1] = (char)(0x80 | ((r >> 12) & 0x3f)), b[2] = (char)(0x80 | ((r >> 6) & 0x3f)),
    b[3] = (char)(0x80 | (r & 0x3f)), k = 4;
  put(d, out, cap, b, k);
}

static void put_fffd(tg_jstr *d, char *out, size_t cap) {
  d->flags |= TG_JSTR_REPLACED;
  put_rune(d, out, cap, 0xfffd);
}

/* A UTF-8 sequence cut short: its lead byte and each continuation byte
 * taken so far are one U+FFFD each, as utf8.DecodeRune reads them. The
 * bytes were written as they came; they are written over. */
static void utf8_fail(tg_jstr *d, char *out, size_t cap) {
  uint8_t k = d->utf8_have;
  d->len -= k;
  d->utf8_have = d->utf8_need = 0;
  while (k--) put_fffd(d, out, cap);
}

/* A lead byte: how many continuation bytes follow, and the range of the
 * first (which rules out overlong forms, surrogates and > U+10FFFF). */
static void utf8_lead(tg_jstr *d, char *out, size_t cap, uint8_t c) {
  uint8_t need = 0, lo = 0x80, hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) need = 1;
  else if (c >= 0xe0 && c <= 0xef) need = 2, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
  else if (c >= 0xf0 && c <= 0xf4) need = 3, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
  if (!need) return put_fffd(d, out, cap);
  put(d, out, cap, (const char *)&c, 1);
  d->utf8_need = need, d->utf8_have = 1, d->utf8_lo = lo, d->utf8_hi = hi;
}

/* A byte outside escapes. */
static void on_char(tg_jstr *d, char *out, size_t cap, uint8_t c) {
  if (d->utf8_need) {
    if (c >= d->utf8_lo && c <= d->utf8_hi) {
      put(d, out, cap, (const char *)&c, 1);
      d->utf8_have++, d->utf8_lo = 0x80, d->utf8_hi = 0xbf;
      if (--d->utf8_need == 0) d->utf8_have = 0;
      return;
    }
    utf8_fail(d, out, cap); /* then c on its own */
  }
  if (c == '"') d->flags |= TG_JSTR_DONE;
  else if (c == '\\') d->state = S_ESC;
  else if (c < 0x20) d->flags |= TG_JSTR_BAD;
  else if (c < 0x80) put(d, out, cap, (const char *)&c, 1);
  else utf8_lead(d, out, cap, c);
}

/* Four hex digits read: a character, half of a pair, or U+FFFD. */
static void on_unit(tg_jstr *d, char *out, size_t cap) {
  uint16_t u = d->unit;
  d->state = S_CHAR;
  if (d->high) {
    uint16_t h = d->high;
    d->high = 0;
    if (u >= 0xdc00 && u <= 0xdfff)
      return put_rune(d, out, cap, 0x10000 + ((uint32_t)(h - 0xd800) << 10) + (u - 0xdc00));
    put_fffd(d, out, cap); /* the high half alone; u is read on its own */
  }
  if (u >= 0xd800 && u <= 0xdbff) d->high = u, d->state = S_AFTER_HIGH;
  else if (u >= 0xdc00 && u <= 0xdfff) put_fffd(d, out, cap);
  else put_rune(d, out, cap, u);
}

/* The byte after a backslash. */
static void on_escape(tg_jstr *d, char *out, size_t cap, uint8_t c) {
  static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
  const char *at = c ? memchr(from, c, sizeof from - 1) : NULL;
  d->state = S_CHAR;
  if (c == 'u') d->state = S_HEX, d->hexn = 0, d->unit = 0;
  else if (at) put(d, out, cap, &to[at - from], 1);
  else d->flags |= TG_JSTR_BAD;
}

static void on_byte(tg_jstr *d, char *out, size_t cap, uint8_t c) {
  int v;
  switch (d->state) {
  case S_AFTER_HIGH: /* a pair needs "\u" next */
    if (c == '\\') return (void)(d->state = S_HIGH_ESC);
    d->high = 0, d->state = S_CHAR;
    put_fffd(d, out, cap);
    return on_char(d, out, cap, c);
  case S_HIGH_ESC:
    if (c == 'u') return (void)(d->state = S_HEX, d->hexn = 0, d->unit = 0);
    d->high = 0;
    put_fffd(d, out, cap);
    return on_escape(d, out, cap, c);
  case S_ESC: return on_escape(d, out, cap, c);
  case S_HEX:
    if ((v = tg_hex_digit(c)) < 0) {
      d->flags |= TG_JSTR_BAD, d->high = 0, d->state = S_CHAR;
      return on_char(d, out, cap, c); /* a quote still ends the string */
    }
    d->unit = (uint16_t)(d->unit << 4 | v);
    if (++d->hexn == 4) on_unit(d, out, cap);
    return;
  default: return on_char(d, out, cap, c);
  }
}

size_t tg_jstr_feed(tg_jstr *d, const char *p, size_t n, char *out, size_t cap) {
  size_t i = 0;
  while (i < n && !(d->flags & TG_JSTR_DONE) && d->len <= cap) {
    uint8_t c = (uint8_t)p[i++];
    if (d->state == S_CHAR && !d->utf8_need && c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      if (d->len < cap) out[d->len] = (char)c;
      d->len++;
    } else {
      on_byte(d, out, cap, c);
    }
  }
  return i;
}

size_t tg_jstr_feed_key(tg_jstr *d, const char *p, size_t n, char *out, size_t cap) {
  if (d->state != S_CHAR || d->utf8_need || !n) return tg_jstr_feed(d, p, n ? 1 : 0, out, cap);
  const char *q = memchr(p, '"', n);
  size_t run = q ? (size_t)(q - p) : n;
  const char *b = memchr(p, '\\', run);
  if (b) run = (size_t)(b - p);
  if (d->len + run <= cap) memcpy(out + d->len, p, run);
  d->len += (uint32_t)run;
  if (run == n || d->len > cap) return run;
  if (b) d->state = S_ESC;
  else d->flags |= TG_JSTR_DONE;
  return run + 1;
}

int tg_jstr_escaping(const tg_jstr *d) { return d->state == S_ESC || d->state == S_HIGH_ESC; }

long tg_json_str_decode(const char *p, size_t n, char *out, size_t cap, int *flags) {
  tg_jstr d = {0};
  size_t used = tg_jstr_feed(&d, p, n, out, cap);
  if (used == n && d.len <= cap) used += tg_jstr_feed(&d, "\"", 1, out, cap);
  if (flags) *flags = d.flags;
  if (used != n + 1 || !(d.flags & TG_JSTR_DONE) || (d.flags & TG_JSTR_BAD) || d.len > cap) return -1;
  return (long)d.len;
}

/* --- the normal form --- */

enum { PART_HOST, PART_NAMESPACE, PART_MODEL, PART_TAG };

/* types/model's isValidPart: the length, a letter, digit or '_' first,
 * then those or '-' and '.' ('.' not in a namespace, ':' only in a host). */
static int part_ok(int kind, const char *s, size_t n) {
  if (n < 1 || n > (kind == PART_HOST ? 350u : 80u)) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (alnum) continue;
    if (i == 0) return 0;
    if (c == '-' || (c == '.' && kind != PART_NAMESPACE) || (c == ':' && kind == PART_HOST)) continue;
    return 0;
  }
  return 1;
}

/* Cuts (s, *n) at its last sep: the part after it goes to (*part, *pn).
 * Returns 0 when there is no sep. */
static int cut_last(const char *s, size_t *n, char sep, const char **part, size_t *pn) {
  const char *at = NULL;
  for (size_t i = *n; i-- > 0;)
    if (s[i] == sep) {
      at = s + i;
      break;
    }
  if (!at) return 0;
  *part = at + 1, *pn = (size_t)(s + *n - at - 1), *n = (size_t)(at - s);
  return 1;
}

static int eq_fold(const char *s, size_t n, const char *lit) {
  size_t k = strlen(lit);
  if (n != k) return 0;
  for (size_t i = 0; i < n; i++)
    if ((s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]) != lit[i]) return 0;
  return 1;
}

/* Appends (s, n) lower-cased and then sep (if any) to out at *at. */
static void put_lower(char *out, size_t *at, const char *s, size_t n, char sep) {
  for (size_t i = 0; i < n; i++) out[(*at)++] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
  if (sep) out[(*at)++] = sep;
}

long tg_model_normal(const char *name, size_t n, char *out, size_t cap) {
  const char *p[4] = {"registry.ollama.ai", "library", NULL, "latest"};
  size_t pn[4] = {18, 7, 0, 6};
  size_t rest = n, last_slash = 0, last_colon = 0;
  for (size_t i = 0; i < n; i++) {
    if (name[i] == '/') last_slash = i + 1;
    if (name[i] == ':') last_colon = i + 1;
  }
  if (last_colon > last_slash) cut_last(name, &rest, ':', &p[PART_TAG], &pn[PART_TAG]);
  p[PART_MODEL] = name, pn[PART_MODEL] = rest;
  if (last_slash && cut_last(name, &rest, '/', &p[PART_MODEL], &pn[PART_MODEL])) {
    p[PART_NAMESPACE] = name, pn[PART_NAMESPACE] = rest;
    if (cut_last(name, &rest, '/', &p[PART_NAMESPACE], &pn[PART_NAMESPACE])) {
      const char *scheme = rest >= 3 ? memmem(name, rest, "://", 3) : NULL;
      p[PART_HOST] = scheme ? scheme + 3 : name, pn[PART_HOST] = scheme ? (size_t)(name + rest - scheme - 3) : rest;
    }
  }
  for (int k = PART_HOST; k <= PART_TAG; k++)
    if (!part_ok(k, p[k], pn[k])) return -1;
  int host = !eq_fold(p[PART_HOST], pn[PART_HOST], "registry.ollama.ai");
  int ns = host || !eq_fold(p[PART_NAMESPACE], pn[PART_NAMESPACE], "library");
  size_t need = (host ? pn[PART_HOST] + 1 : 0) + (ns ? pn[PART_NAMESPACE] + 1 : 0) + pn[PART_MODEL] + 1 + pn[PART_TAG];
  if (need + 1 > cap) return -2;
  size_t at = 0;
  if (host) put_lower(out, &at, p[PART_HOST], pn[PART_HOST], '/');
  if (ns) put_lower(out, &at, p[PART_NAMESPACE], pn[PART_NAMESPACE], '/');
  put_lower(out, &at, p[PART_MODEL], pn[PART_MODEL], ':');
  put_lower(out, &at, p[PART_TAG], pn[PART_TAG], 0);
  out[at] = 0;
  return (long)at;
}
