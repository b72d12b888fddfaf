/* Strict checks on the raw bytes of a request, run beside llhttp: llhttp
 * 8.1 (even in its strict mode) still accepts a bare LF in some places of a
 * head and of a chunked body's framing, and obs-fold. tollgate refuses them
 * all, so that no two HTTP parsers on the path can disagree about where a
 * message ends. */
#ifndef TOLLGATE_FRAMING_H
#define TOLLGATE_FRAMING_H

#include <stddef.h>
#include <stdint.h>

/* Head scanner: feed every byte of a request head, in order, across reads. */
typedef struct tg_head_scan {
  uint8_t prev;  /* the byte before this read */
  uint8_t lines; /* CRLFs seen (saturating): the request line ends at 1 */
  uint8_t ended; /* tg_head_scan_response: the empty line was seen */
  uint16_t col;  /* bytes since the last LF */
  char code[3];  /* tg_head_scan_response: the status code's digits */
} tg_head_scan;

/* Returns 0, or a fixed message naming what is wrong: a bare LF or CR, or
 * an obs-fold line (RFC 9112 2.2, 5.2). */
const char *tg_head_scan_feed(tg_head_scan *s, const char *p, size_t n);

/* The same checks on a response head from the upstream, which may arrive
 * with body bytes in the same read: scans p until the head's empty line and
 * stops there, skipping over empty lines (CRLF) before a status line and
 * over interim (1xx, not 101) heads to the final one; each status code must
 * be three digits between SPs (or before the CR). Returns NULL or what is wrong; *used gets the bytes scanned. */
const char *tg_head_scan_response(tg_head_scan *s, const char *p, size_t n, size_t *used);

/* Chunked-body framing checker (RFC 9112 7.1): sizes in hex with optional
 * extensions, CRLF after every size line and every chunk's data, trailer
 * fields, and the final CRLF. */
typedef struct tg_chunk_scan {
  uint8_t state;
  uint8_t digits;
  uint64_t left; /* data bytes left in the current chunk */
} tg_chunk_scan;

/* Feeds the raw body bytes. Returns 0 while the framing is valid and not
 * finished, 1 when the final CRLF was the last byte fed (the body ended
 * exactly there), or -1 when the framing is invalid (a bare LF, a bad size,
 * data where CRLF must be, or bytes past the end). */
int tg_chunk_scan_feed(tg_chunk_scan *s, const char *p, size_t n);

/* The same, but stops at the body's end instead of refusing what follows
 * (a response may be followed by other bytes in the same read). Returns
 * the bytes of p that are valid body bytes, up to the first refused byte
 * or the end; *rc gets 0 (not finished), 1 (the end was the last byte
 * returned) or -1 (p[returned] is refused). */
size_t tg_chunk_scan_body(tg_chunk_scan *s, const char *p, size_t n, int *rc);

#endif
