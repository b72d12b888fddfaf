/* Strict line-ending and chunk-framing checks (see tollgate/framing.h). */
#include "tollgate/framing.h"

#include <string.h>

#include "tollgate/hex.h"

/* The end of the run of bytes from p[i] that are neither CR nor LF. */
static size_t plain_run_end(const char *p, size_t i, size_t n) {
  const char *lf = memchr(p + i, '\n', n - i); /* memchr is vectorised: lines are tens of bytes */
  size_t end = lf ? (size_t)(lf - p) : n;
  const char *cr = memchr(p + i, '\r', end - i);
  return cr ? (size_t)(cr - p) : end;
}

static int is_line_end(uint8_t c) { return c == '\r' || c == '\n'; }

/* One byte of a head: the checks of tg_head_scan_feed. */
static const char *head_step(tg_head_scan *s, uint8_t c) {
  uint8_t prev = s->prev;
  s->prev = c;
  if (c == '\n' && prev != '\r') return "a bare LF ends a line (lines end with CRLF)";
  if (prev == '\r' && c != '\n') return "a bare CR in the request head";
  if (c == '\n' && s->lines < 255) s->lines++;
  /* a line that starts with SP or HTAB continues the previous field */
  if (prev == '\n' && (c == ' ' || c == '\t') && s->lines >= 1)
    return "a header line starts with whitespace (obs-fold)";
  return 0;
}

/* Between two line ends nothing can be wrong: runs of other bytes are
 * skipped whole, and only the bytes at and right after CR or LF are
 * looked at one by one. */
const char *tg_head_scan_feed(tg_head_scan *s, const char *p, size_t n) {
  for (size_t i = 0; i < n;) {
    if (!is_line_end(s->prev) && !is_line_end((uint8_t)p[i])) {
      i = plain_run_end(p, i, n);
      s->prev = (uint8_t)p[i - 1];
      continue;
    }
    const char *bad = head_step(s, (uint8_t)p[i++]);
    if (bad) return bad;
  }
  return 0;
}

/* Byte col of a status line, "HTTP/x.y SP 3DIGIT SP reason" (RFC 9112 4).
 * llhttp 8.1 also takes fewer or more digits ("0102" is 102 to it, an
 * interim response this scan would take for a final one). An empty reason
 * without its SP ("HTTP/1.1 200\r\n") is let through, as llhttp does. */
static int status_byte_ok(uint16_t col, uint8_t c) {
  if (col == 8) return c == ' ';
  if (col >= 9 && col < 12) return c >= '0' && c <= '9';
  if (col == 12) return c == ' ' || c == '\r';
  return 1;
}

const char *tg_head_scan_response(tg_head_scan *s, const char *p, size_t n, size_t *used) {
  size_t i = 0;
  while (i < n && !s->ended) {
    uint8_t c = (uint8_t)p[i];
    if (!is_line_end(s->prev) && !is_line_end(c) && !(s->lines == 0 && s->col <= 12)) {
      size_t j = plain_run_end(p, i, n); /* no line end, not the status code: only counted */
      s->col = (uint16_t)(s->col + (j - i) > 65535 ? 65535 : s->col + (j - i));
      s->prev = (uint8_t)p[j - 1];
      i = j;
      continue;
    }
    i++;
    const char *bad = head_step(s, c);
    if (!bad && s->lines == 0 && !status_byte_ok(s->col, c)) bad = "the status code is not three digits";
    if (bad) {
      *used = i;
      return bad;
    }
    if (s->lines == 0 && s->col >= 9 && s->col < 12) s->code[s->col - 9] = (char)c;
    if (c != '\n') {
      if (s->col < 65535) s->col++;
      continue;
    }
    int empty = s->col == 1; /* only the CR came before this LF */
    s->col = 0;
    if (!empty) continue;
    /* An empty line before the status line is skipped (llhttp does too):
     * it is not the end of a head, whose lines still need checking. */
    if (s->lines == 1) memset(s, 0, sizeof *s);
    else if (s->code[0] == '1' && memcmp(s->code, "101", 3) != 0)
      memset(s, 0, sizeof *s); /* interim: the final head follows */
    else s->ended = 1;
  }
  *used = i;
  return NULL;
}

enum {
  CK_SIZE,       /* hex digits of a chunk size */
  CK_EXT,        /* after ';': extensions up to CR */
  CK_SIZE_LF,    /* CR seen after the size line */
  CK_DATA,       /* chunk data */
  CK_DATA_CR,    /* CR expected after the data */
  CK_DATA_LF,    /* LF expected after that CR */
  CK_TRAILER,    /* start of a trailer line, or of the final CRLF */
  CK_TRAILER_IN, /* inside a trailer field line */
  CK_TRAILER_LF, /* CR seen at the end of a trailer line */
  CK_END_LF,     /* CR seen on the final empty line */
  CK_DONE,
};

/* One byte of framing (not chunk data). Returns 0 or -1. */
static int chunk_step(tg_chunk_scan *s, uint8_t c) {
  switch (s->state) {
  case CK_SIZE: {
    int v = tg_hex_digit(c);
    if (v >= 0 && s->digits < 16) {
      s->left = s->left * 16 + (uint64_t)v;
      s->digits++;
      return 0;
    }
    if (!s->digits) return -1;
    if (c == '\r') s->state = CK_SIZE_LF;
    else if (c == ';') s->state = CK_EXT;
    else return -1;
    return 0;
  }
  case CK_EXT:
    if (c == '\n' || c == 0) return -1;
    if (c == '\r') s->state = CK_SIZE_LF;
    return 0;
  case CK_SIZE_LF:
    if (c != '\n') return -1;
    s->state = s->left ? CK_DATA : CK_TRAILER;
    return 0;
  case CK_DATA_CR: s->state = CK_DATA_LF; return c == '\r' ? 0 : -1;
  case CK_DATA_LF:
    s->state = CK_SIZE;
    s->digits = 0;
    return c == '\n' ? 0 : -1;
  case CK_TRAILER:
    if (c == '\r') s->state = CK_END_LF;
    else if (c == '\n' || c == ' ' || c == '\t' || c == 0) return -1;
    else s->state = CK_TRAILER_IN;
    return 0;
  case CK_TRAILER_IN:
    if (c == '\n' || c == 0) return -1;
    if (c == '\r') s->state = CK_TRAILER_LF;
    return 0;
  case CK_TRAILER_LF: s->state = CK_TRAILER; return c == '\n' ? 0 : -1;
  case CK_END_LF: s->state = CK_DONE; return c == '\n' ? 0 : -1;
  default: return -1; /* CK_DONE: nothing may follow */
  }
}

size_t tg_chunk_scan_body(tg_chunk_scan *s, const char *p, size_t n, int *rc) {
  size_t i = 0;
  while (i < n && s->state != CK_DONE) {
    if (s->state == CK_DATA) {
      uint64_t take = s->left < n - i ? s->left : n - i;
      s->left -= take;
      i += (size_t)take;
      if (s->left == 0) s->state = CK_DATA_CR;
      continue;
    }
    if (chunk_step(s, (uint8_t)p[i]) < 0) {
      *rc = -1;
      return i;
    }
    i++;
  }
  *rc = s->state == CK_DONE ? 1 : 0;
  return i;
}

int tg_chunk_scan_feed(tg_chunk_scan *s, const char *p, size_t n) {
  int rc;
  size_t used = tg_chunk_scan_body(s, p, n, &rc);
  return rc == 1 && used < n ? -1 : rc; /* nothing may follow the end */
}
