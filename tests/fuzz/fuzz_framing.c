/* libFuzzer target for the raw-byte checks of src/codec/framing.c, pure
 * functions with no sockets: many more executions per second than the
 * proxy targets, so the byte-level corners get explored here.
 *
 * Input: one variant byte, then bytes.
 *   bit 7     0: a chunked body for tg_chunk_scan_feed; 1: a request head
 *             for tg_head_scan_feed
 *   bits 0-2  fed in pieces of 1, 2, 3, 5, 7, 11, 13 bytes, or (7) at once
 *
 * Invariants (a broken one prints the case and aborts):
 *   - chunked: tg_chunk_scan_feed agrees with an independent RFC 9112 7.1
 *     reading (ref_chunked_check in http_ref.c): it returns -1 in the
 *     piece holding the first byte the reading refuses, 1 exactly when a
 *     piece ends on the body's last byte, 0 for every piece before, and -1
 *     for any byte after the end; so the result does not depend on how the
 *     body is cut into reads;
 *   - head: tg_head_scan_feed reports in the piece where an independent
 *     scan finds the first bare LF, bare CR (seen at the byte after it) or
 *     obs-fold line, and nowhere before. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_ref.h"
#include "tollgate/framing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const size_t piece_sizes[8] = {1, 2, 3, 5, 7, 11, 13, 0};

static void fail(const char *what, const uint8_t *p, size_t n, size_t piece) {
  fprintf(stderr, "invariant broken: %s (pieces of %zu)\n--- bytes (%zu) ---\n", what, piece, n);
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '\n') fputs("\\n\n", stderr);
    else if (p[i] == '\r') fputs("\\r", stderr);
    else if (p[i] < 32 || p[i] > 126) fprintf(stderr, "\\x%02x", p[i]);
    else fputc(p[i], stderr);
  }
  fputs("\n---\n", stderr);
  abort();
}

/* The offset of the byte where the verdict must come: the first refused
 * byte, or the last byte of a complete body; SIZE_MAX for "not yet". */
static size_t chunk_expected(const uint8_t *p, size_t n, int *want) {
  size_t bad = 0;
  long long rc = ref_chunked_check((const char *)p, n, &bad);
  if (rc < 0) {
    *want = -1;
    return bad;
  }
  if (rc == 0) {
    *want = 0;
    return SIZE_MAX;
  }
  *want = 1;
  return (size_t)rc - 1;
}

static void check_chunked(const uint8_t *p, size_t n, size_t piece) {
  int want;
  size_t at = chunk_expected(p, n, &want);
  tg_chunk_scan s = {0};
  for (size_t off = 0; off < n;) {
    size_t k = piece && piece < n - off ? piece : n - off;
    int rc = tg_chunk_scan_feed(&s, (const char *)p + off, k);
    int holds = at >= off && at < off + k; /* this piece holds the verdict byte */
    int ends_on = want == 1 && at == off + k - 1;
    if (at < off && want == 1) { /* bytes after a complete body */
      if (rc != -1) fail("bytes after the final CRLF were not refused", p, n, piece);
      return;
    }
    if (want == -1 && holds) {
      if (rc != -1) fail("the scanner took a chunked framing the RFC reading refuses", p, n, piece);
      return;
    }
    if (ends_on && rc != 1) fail("the scanner did not see the body end", p, n, piece);
    if (want == 1 && holds && !ends_on && rc != -1) fail("bytes after the final CRLF were not refused", p, n, piece);
    if (!holds && rc != 0) fail("the scanner decided before the RFC reading", p, n, piece);
    if (holds) return;
    off += k;
  }
}

/* The first offset where a head scan must report, or SIZE_MAX. */
static size_t head_expected(const uint8_t *p, size_t n) {
  unsigned lines = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r')) return i;
    if (i && p[i - 1] == '\r' && p[i] != '\n') return i;
    if (i && p[i - 1] == '\n' && lines && (p[i] == ' ' || p[i] == '\t')) return i;
    if (p[i] == '\n') lines++;
  }
  return SIZE_MAX;
}

static void check_head(const uint8_t *p, size_t n, size_t piece) {
  size_t at = head_expected(p, n);
  tg_head_scan s = {0};
  for (size_t off = 0; off < n;) {
    size_t k = piece && piece < n - off ? piece : n - off;
    const char *why = tg_head_scan_feed(&s, (const char *)p + off, k);
    int holds = at >= off && at < off + k;
    if (holds && !why) fail("the head scanner missed a bare CR/LF or obs-fold", p, n, piece);
    if (!holds && why) fail("the head scanner refused a clean head", p, n, piece);
    if (holds) return;
    off += k;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  size_t piece = piece_sizes[data[0] & 7];
  if (data[0] & 0x80) check_head(data + 1, size - 1, piece);
  else check_chunked(data + 1, size - 1, piece);
  return 0;
}
