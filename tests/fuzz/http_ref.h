/* http_ref: an independent, strict reading of whole HTTP/1.1 byte streams,
 * used by the fuzz targets to judge what tollgate wrote (to an upstream or
 * to a client) and what an upstream wrote to tollgate. It parses with its
 * own llhttp 8.1 instance (strict, no lenient flags) and adds the raw-byte
 * rules llhttp leaves out: every head line ends with CRLF, no obs-fold, no
 * empty line before the start line, and a chunked body is re-checked by an
 * independent RFC 9112 7.1 validator (ref_chunked_check). Nothing here
 * shares code with src/ except the tg_buf/tg_head containers. */
#ifndef FUZZ_HTTP_REF_H
#define FUZZ_HTTP_REF_H

#include <stddef.h>
#include <stdint.h>

#include "llhttp.h"
#include "tollgate/head.h"

#define REF_MAX_MSGS 48
#define REF_MAX_CHUNKS 64

typedef struct ref_msg {
  int method, status;
  int http_major, http_minor;
  tg_head head;                    /* target (request) or reason (response), fields,
                                      then the trailer fields of a chunked body */
  uint32_t head_nfields;           /* fields of the head itself (before the trailers) */
  int code_digits;                 /* response: digits of the status code in the raw
                                      status line (0 when it is not "HTTP/x.y SP code") */
  tg_buf body;                     /* the decoded body bytes */
  uint64_t chunks[REF_MAX_CHUNKS]; /* non-zero chunk sizes, in order */
  unsigned nchunks;                /* may pass REF_MAX_CHUNKS (then only counted) */
  uint64_t cl;
  size_t start, head_end, end; /* offsets in the stream */
  unsigned head_done : 1, complete : 1, chunked : 1, has_cl : 1;
  unsigned keep_alive : 1, upgrade : 1, skipped_body : 1;
  unsigned fields_cut : 1; /* more than TG_HEAD_MAX_FIELDS fields: the rest not kept */
  unsigned head_cut : 1;   /* ... already in the head itself */
  unsigned head_bad : 1;   /* the head itself broke a raw rule */
  int folded;              /* the head used a REF_LENIENT_* allowance */
  const char *raw_bad;     /* a raw-byte rule this message broke, or NULL */
} ref_msg;

/* Tells the parser, for response number i of a stream, that its request
 * was HEAD (return 1): the response then has no body. */
typedef int (*ref_head_req_fn)(void *ctx, unsigned i);

typedef struct ref_stream {
  ref_msg msgs[REF_MAX_MSGS];
  unsigned n;         /* messages begun */
  int error;          /* HPE_* of a parse error, 0 for none */
  const char *reason; /* llhttp's reason or a raw rule */
  size_t error_off;
  int upgraded;        /* stopped at an upgrade (the rest is not HTTP) */
  int full;            /* stopped at REF_MAX_MSGS */
  int lenient_leading; /* set before ref_parse: empty lines before a
                          request line are skipped (RFC 9112 2.2) */
  int lenient;         /* set before ref_parse: REF_LENIENT_* rules
                          that only mark the message (m->folded) */
  int cut;             /* at_eof came inside a message */
  /* parsing state */
  llhttp_t p;
  const char *base;
  int pause;
  ref_head_req_fn head_req;
  void *ctx;
  tg_head spill; /* the field being read past TG_HEAD_MAX_FIELDS */
} ref_stream;

/* Parses data as a sequence of requests (type HTTP_REQUEST) or responses.
 * at_eof: the stream ended after data (EOF may complete a body that runs
 * to the close). For responses, 1xx, 204 and 304 and answers to HEAD
 * (head_req) have no body. Call ref_stream_free afterwards. */
void ref_parse(ref_stream *s, int type, const char *data, size_t n, int at_eof, ref_head_req_fn head_req, void *ctx);
void ref_stream_free(ref_stream *s);

/* Allowances for ref_stream.lenient and ref_head_raw_check. */
#define REF_LENIENT_FOLD 1 /* obs-fold (a gateway may unfold a response's, RFC 9112 5.2) */
#define REF_LENIENT_LF 2   /* bare LF or CR (only to look past a known bug) */

/* Raw rules for one head [p, p+n) ending with its empty line: returns NULL
 * or what is wrong (bare LF, bare CR, obs-fold, a leading empty line),
 * except what `lenient` allows; *folded (if not NULL) is set when an
 * allowance was used. */
const char *ref_head_raw_check(const char *p, size_t n, int lenient, int *folded);

/* RFC 9112 7.1 chunked body from its first size line. Returns the length
 * of the body including the final CRLF when it is complete and valid, 0
 * when valid so far but incomplete, -1 when invalid (*bad_off = where).
 * Sizes are hex (at most 16 digits), then optional ";ext" without CR, LF
 * or NUL, then CRLF; data then CRLF; trailer lines (no leading SP/HTAB,
 * no bare CR/LF); final CRLF. */
long long ref_chunked_check(const char *p, size_t n, size_t *bad_off);

/* Case-insensitive field-name comparison with '_' read as '-' (so the
 * underscore spellings are caught). */
int ref_name_is(const char *p, size_t n, const char *lower);

/* Number of fields of m named name (ref_name_is rules). */
int ref_count(const ref_msg *m, const char *lower);

#endif
