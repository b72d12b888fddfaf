/* An HTTP/2 request's header fields, as nghttp2 hands them one by one
 * after HPACK, checked and translated into the facts an HTTP/1 request
 * head gives (RFC 9113 8.1-8.3): the method, the target (:path), one Host
 * (from :authority or host, by the rules the HTTP/1 side applies to
 * Host), the other fields in a tg_head, split cookie fields joined, and
 * the announced content-length, later checked against the DATA received.
 *
 * Pure: no I/O, no nghttp2. Every function that can refuse returns NULL
 * or the reason, a fixed string (compared by address in tests, printed as
 * is). A refusal is sticky: once refused, every later call returns the
 * same reason and keeps nothing more. */
#ifndef TOLLGATE_H2_HEAD_H
#define TOLLGATE_H2_HEAD_H

#include <stddef.h>
#include <stdint.h>

#include "tollgate/buf.h"
#include "tollgate/head.h"

/* RFC 9113 6.5.2: each field counts its name, its value and 32 bytes
 * against SETTINGS_MAX_HEADER_LIST_SIZE (here max_header_size). */
#define TG_H2_FIELD_OVERHEAD 32

typedef struct tg_h2_req {
  tg_head head;                    /* target = :path; Host; cookie joined; the rest as sent */
  tg_buf aside;                    /* :authority, host, cookie values until the end */
  const char *err;                 /* the first refusal, or NULL */
  size_t max_bytes;                /* max_header_size: the header list's limit */
  size_t list_size;                /* RFC 9113 size of the fields seen so far */
  int64_t content_length;          /* -1 when not announced */
  uint64_t received;               /* DATA bytes seen */
  int method;                      /* llhttp's method number; -1 until :method */
  uint8_t https;                   /* :scheme is https */
  uint8_t seen;                    /* TG_H2_SEEN_* bits: pseudo-headers and host */
  uint8_t regular;                 /* a regular field was seen */
  uint8_t ended;                   /* tg_h2_req_end passed */
  tg_span authority, host, cookie; /* in aside; len 0 when absent */
} tg_h2_req;

enum {
  TG_H2_SEEN_METHOD = 1,
  TG_H2_SEEN_SCHEME = 2,
  TG_H2_SEEN_PATH = 4,
  TG_H2_SEEN_AUTHORITY = 8,
  TG_H2_SEEN_HOST = 16,
  TG_H2_SEEN_COOKIE = 32,
};

/* Starts an empty request whose header list may be max_bytes long. */
void tg_h2_req_init(tg_h2_req *r, size_t max_bytes);

/* One field of the request's header block (HEADERS and its CONTINUATION
 * frames). Returns NULL or the reason the request is malformed. */
const char *tg_h2_req_field(tg_h2_req *r, const uint8_t *name, size_t nlen, const uint8_t *value, size_t vlen);

/* The header block is complete: the required pseudo-headers, the method,
 * the path, :authority against host. Adds Host and the joined cookie to
 * the head. Returns NULL or the reason. */
const char *tg_h2_req_end(tg_h2_req *r);

/* n bytes of DATA arrived for the request: refused past the announced
 * content-length. */
const char *tg_h2_req_data(tg_h2_req *r, size_t n);

/* The request's stream ended (END_STREAM): refused when a content-length
 * was announced and the DATA received differ from it. */
const char *tg_h2_req_body_end(tg_h2_req *r);

/* Frees what r holds; tg_h2_req_init may start it again. */
void tg_h2_req_free(tg_h2_req *r);

#endif
