/* libFuzzer target for the HTTP/2 request header translation
 * (src/h2/h2-head.c).
 *
 * Input: byte 0 picks max_header_size (1k, 4k, 16k or 64k: bits 0-1) and
 * whether the fields come with DATA lengths after them (bit 2); then
 * fields, each a length byte and the name, a length byte and the value;
 * a name length of 255 ends the fields, and each byte after it is a DATA
 * frame's length (0-254; 255 the stream's end).
 *
 * Invariants: a refusal is sticky (every later call gives the same
 * reason and the head keeps no more fields); an accepted head has one
 * Host of the Host characters, a target starting with '/', a method
 * llhttp knows other than CONNECT, lowercase token names, no pseudo,
 * connection-specific, TE or second cookie field, no CR, LF or NUL in a
 * value, a content-length field that is the announced one, and its list
 * within max_header_size; the body end is accepted exactly when the DATA
 * add up to the announced content-length (or none was announced). */
#include <ctype.h>
#include <llhttp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate/h2-head.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                                       \
  do {                                                                                                                 \
    if (!(c)) __builtin_trap();                                                                                        \
  } while (0)

static int name_is(const tg_head *h, uint32_t i, const char *n) { return tg_head_name_is(h, i, n); }

static void check_accepted(const tg_h2_req *r) {
  const tg_head *h = &r->head;
  CHECK(r->method >= 0 && r->method != HTTP_CONNECT);
  CHECK(h->target.len > 0 && tg_head_str(h, h->target)[0] == '/');
  CHECK(tg_head_count(h, "host") == 1 && tg_head_count(h, "cookie") <= 1);
  CHECK(tg_head_count(h, "content-length") == (r->content_length >= 0));
  CHECK(r->list_size <= r->max_bytes);
  static const char *const banned[] = {"connection",        "keep-alive", "proxy-connection",
                                       "transfer-encoding", "upgrade",    "te"};
  for (size_t k = 0; k < sizeof banned / sizeof banned[0]; k++) CHECK(tg_head_count(h, banned[k]) == 0);
  for (uint32_t i = 0; i < h->nfields; i++) {
    const char *n = tg_head_str(h, h->fields[i].name), *v = tg_head_str(h, h->fields[i].value);
    CHECK(h->fields[i].name.len > 0 && n[0] != ':');
    for (uint32_t j = 0; j < h->fields[i].name.len; j++) CHECK(!(n[j] >= 'A' && n[j] <= 'Z') && n[j] > ' ');
    CHECK(!memchr(v, '\r', h->fields[i].value.len) && !memchr(v, '\n', h->fields[i].value.len));
    CHECK(!memchr(v, 0, h->fields[i].value.len));
    if (name_is(h, i, "host"))
      for (uint32_t j = 0; j < h->fields[i].value.len; j++)
        CHECK(isalnum((unsigned char)v[j]) || strchr("-._~:[]%", v[j]));
    if (name_is(h, i, "content-length")) { /* a span, not a C string */
      int64_t cl = 0;
      for (uint32_t j = 0; j < h->fields[i].value.len; j++) {
        CHECK(v[j] >= '0' && v[j] <= '9');
        cl = cl * 10 + (v[j] - '0');
      }
      CHECK(cl == r->content_length);
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const size_t maxes[] = {1024, 4096, 16384, 65536};
  if (size < 1) return 0;
  tg_h2_req r;
  tg_h2_req_init(&r, maxes[data[0] & 3]);
  size_t i = 1;
  const char *err = NULL;
  while (i < size && data[i] != 255) {
    size_t nlen = data[i++];
    if (i + nlen >= size) break;
    const uint8_t *name = data + i;
    i += nlen;
    size_t vlen = data[i++];
    if (i + vlen > size) vlen = size - i;
    uint32_t before = r.head.nfields;
    const char *e = tg_h2_req_field(&r, name, nlen, data + i, vlen);
    i += vlen;
    if (err) CHECK(e == err && r.head.nfields == before);
    err = e;
  }
  const char *e = tg_h2_req_end(&r);
  if (err) CHECK(e == err);
  if (!e) check_accepted(&r);
  uint64_t total = 0;
  int ended = 0;
  for (i++; i < size && !ended && !e && (data[0] & 4); i++) {
    if (data[i] == 255) {
      const char *b = tg_h2_req_body_end(&r);
      CHECK(!b == (r.content_length < 0 || (uint64_t)r.content_length == total));
      ended = 1;
    } else {
      total += data[i];
      const char *d = tg_h2_req_data(&r, data[i]);
      CHECK(!d == (r.content_length < 0 || total <= (uint64_t)r.content_length));
      if (d) break;
    }
  }
  tg_h2_req_free(&r);
  return 0;
}
