/* An independent strict reading of HTTP/1.1 streams for the fuzz targets'
 * invariants (see http_ref.h). */
#include "http_ref.h"

#include <string.h>

/* -DFUZZ_KNOWN_TRAILER_NUL=1: accept a NUL as the first byte of a trailer
 * line, as src/codec/framing.c does, to look past that known finding. */
#ifndef FUZZ_KNOWN_TRAILER_NUL
#define FUZZ_KNOWN_TRAILER_NUL 0
#endif

/* --- raw rules --------------------------------------------------------- */

const char *ref_head_raw_check(const char *p, size_t n, int lenient, int *folded) {
  size_t line_start = 0;
  unsigned lines = 0;
  for (size_t i = 0; i < n; i++) {
    char c = p[i];
    if (c == '\r' && (i + 1 >= n || p[i + 1] != '\n')) {
      if (!(lenient & REF_LENIENT_LF)) return "bare CR in a head";
      if (folded) *folded = 1;
    }
    if (c != '\n') continue;
    int bare = i == 0 || p[i - 1] != '\r';
    if (bare && !(lenient & REF_LENIENT_LF)) return "bare LF in a head";
    if (bare && folded) *folded = 1;
    if (i - line_start == (bare ? 0u : 1u) && i + 1 != n) return "empty line inside or before a head";
    if (lines && (p[line_start] == ' ' || p[line_start] == '\t')) {
      if (!(lenient & REF_LENIENT_FOLD)) return "obs-fold in a head";
      if (folded) *folded = 1;
    }
    lines++;
    line_start = i + 1;
  }
  return NULL;
}

static int hexv(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Reads "CRLF" at *i. Returns 1 (read), 0 (need more), -1 (wrong, *i
 * then at the first wrong byte). */
static int want_crlf(const char *p, size_t n, size_t *i) {
  if (*i < n && p[*i] != '\r') return -1;
  if (*i + 1 < n && p[*i + 1] != '\n') return ++*i, -1;
  if (*i + 2 > n) return 0;
  *i += 2;
  return 1;
}

/* One line up to CRLF where CR, LF and NUL are not allowed. Returns 1, 0, -1. */
static int skip_line(const char *p, size_t n, size_t *i) {
  while (*i < n && p[*i] != '\r') {
    if (p[*i] == '\n' || p[*i] == 0) return -1;
    (*i)++;
  }
  return want_crlf(p, n, i);
}

/* A size line; *size gets the size. Returns 1, 0, -1. */
static int size_line(const char *p, size_t n, size_t *i, uint64_t *size) {
  unsigned digits = 0;
  *size = 0;
  while (*i < n && hexv(p[*i]) >= 0) {
    if (++digits > 16) return -1;
    *size = *size * 16 + (uint64_t)hexv(p[(*i)++]);
  }
  if (*i >= n) return 0;
  if (!digits) return -1;
  if (p[*i] == ';') return skip_line(p, n, i);
  return want_crlf(p, n, i);
}

/* Trailer lines and the final CRLF. Returns 1, 0, -1. */
static int trailers(const char *p, size_t n, size_t *i) {
  for (;;) {
    if (*i >= n) return 0;
    if (p[*i] == '\r') return want_crlf(p, n, i);
    if (p[*i] == ' ' || p[*i] == '\t' || p[*i] == '\n') return -1;
    if (p[*i] == 0 && FUZZ_KNOWN_TRAILER_NUL) (*i)++; /* framing.c takes it (README) */
    int rc = skip_line(p, n, i);
    if (rc <= 0) return rc;
  }
}

long long ref_chunked_check(const char *p, size_t n, size_t *bad_off) {
  size_t i = 0;
  for (;;) {
    uint64_t size;
    int rc = size_line(p, n, &i, &size);
    if (rc == 1 && size == 0) rc = trailers(p, n, &i);
    else if (rc == 1 && size > n - i) return 0;
    else if (rc == 1) {
      i += (size_t)size;
      rc = want_crlf(p, n, &i);
      if (rc == 1) continue;
    }
    if (rc < 0 && bad_off) *bad_off = i;
    if (rc < 0) return -1;
    if (rc == 0) return 0;
    return (long long)i;
  }
}

/* --- names --------------------------------------------------------------- */

int ref_name_is(const char *p, size_t n, const char *lower) {
  if (n != strlen(lower)) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = p[i] >= 'A' && p[i] <= 'Z' ? (char)(p[i] - 'A' + 'a') : p[i];
    if ((c == '_' ? '-' : c) != lower[i]) return 0;
  }
  return 1;
}

int ref_count(const ref_msg *m, const char *lower) {
  int k = 0;
  for (uint32_t i = 0; i < m->head.nfields; i++)
    if (ref_name_is(tg_head_str(&m->head, m->head.fields[i].name), m->head.fields[i].name.len, lower)) k++;
  return k;
}

/* --- llhttp callbacks ------------------------------------------------------ */

enum { REF_PAUSE_NONE, REF_PAUSE_HEAD, REF_PAUSE_END };
#define REF_HEAD_MAX (1u << 20)

static ref_msg *cur(llhttp_t *p) {
  ref_stream *s = p->data;
  return &s->msgs[s->n - 1];
}

static int on_message_begin(llhttp_t *p) {
  ref_stream *s = p->data;
  if (s->n == REF_MAX_MSGS) return -1;
  ref_msg *m = &s->msgs[s->n++];
  m->start = s->n > 1 ? s->msgs[s->n - 2].end : 0;
  return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n) {
  return tg_head_add_target(&cur(p)->head, at, n, REF_HEAD_MAX) ? -1 : 0;
}

/* tg_head holds at most TG_HEAD_MAX_FIELDS fields: past that the rest of
 * the head (or trailer) is parsed but not kept (m->fields_cut). Each field
 * still goes through tg_head's checks (a token name, a value after a
 * name), one at a time in s->spill. */
static int add_field(llhttp_t *p, int name, const char *at, size_t n) {
  ref_stream *s = p->data;
  ref_msg *m = cur(p);
  if (!m->fields_cut) {
    int rc = name ? tg_head_add_name(&m->head, at, n, REF_HEAD_MAX) : tg_head_add_value(&m->head, at, n, REF_HEAD_MAX);
    if (rc != TG_HEAD_TOO_BIG) return rc ? -1 : 0;
    m->fields_cut = 1;
  }
  int rc = name ? tg_head_add_name(&s->spill, at, n, 0) : tg_head_add_value(&s->spill, at, n, 0);
  return rc ? -1 : 0;
}

static int on_name(llhttp_t *p, const char *at, size_t n) { return add_field(p, 1, at, n); }

static int on_value(llhttp_t *p, const char *at, size_t n) { return add_field(p, 0, at, n); }

static int on_value_complete(llhttp_t *p) {
  ref_stream *s = p->data;
  tg_head_reset(&s->spill);
  return 0;
}

static int on_headers_complete(llhttp_t *p) {
  ref_stream *s = p->data;
  ref_msg *m = cur(p);
  m->head_done = 1;
  m->head_nfields = m->head.nfields; /* llhttp reports trailer fields the same way */
  m->head_cut = m->fields_cut;
  m->method = p->method;
  m->status = p->status_code;
  m->http_major = p->http_major;
  m->http_minor = p->http_minor;
  m->chunked = (p->flags & F_CHUNKED) != 0;
  m->has_cl = (p->flags & F_CONTENT_LENGTH) != 0;
  m->cl = p->content_length;
  s->pause = REF_PAUSE_HEAD;
  return HPE_PAUSED;
}

static int on_body(llhttp_t *p, const char *at, size_t n) { return tg_buf_append(&cur(p)->body, at, n) < 0 ? -1 : 0; }

static int on_chunk_header(llhttp_t *p) {
  ref_msg *m = cur(p);
  if (p->content_length == 0) return 0;
  if (m->nchunks < REF_MAX_CHUNKS) m->chunks[m->nchunks] = p->content_length;
  m->nchunks++;
  return 0;
}

static int on_message_complete(llhttp_t *p) {
  ref_stream *s = p->data;
  ref_msg *m = cur(p);
  m->complete = 1;
  m->keep_alive = llhttp_should_keep_alive(p) != 0;
  m->upgrade = p->upgrade != 0;
  s->pause = REF_PAUSE_END;
  return HPE_PAUSED;
}

static const llhttp_settings_t ref_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_status = on_url,
    .on_header_field = on_name,
    .on_header_value = on_value,
    .on_header_value_complete = on_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_chunk_header = on_chunk_header,
    .on_message_complete = on_message_complete,
};

/* --- the stream ------------------------------------------------------------ */

static void fail(ref_stream *s, int err, const char *why, size_t off) {
  s->error = err;
  s->reason = why;
  s->error_off = off;
}

static unsigned finals_before(const ref_stream *s) {
  unsigned k = 0;
  for (unsigned i = 0; i + 1 < s->n; i++)
    if (s->msgs[i].status < 100 || s->msgs[i].status >= 200) k++;
  return k;
}

/* The digits of the status code in a raw status line [p, p+n): the
 * version, SP, the code, then SP or the line's end. RFC 9112 4 wants three;
 * llhttp 8.1 takes any number (it reads "0102" as 102). */
static int status_digits(const char *p, size_t n) {
  if (n < 9 || p[8] != ' ') return 0;
  size_t i = 9;
  while (i < n && p[i] >= '0' && p[i] <= '9') i++;
  if (i < n && p[i] != ' ' && p[i] != '\r' && p[i] != '\n') return 0;
  return (int)(i - 9);
}

/* The parser paused at a head's end at offset off. Returns 0 or -1. */
static int at_head_end(ref_stream *s, size_t off) {
  ref_msg *m = &s->msgs[s->n - 1];
  m->head_end = off;
  size_t start = m->start;
  for (int more = s->lenient_leading; more;) { /* empty lines before the start line */
    more = 0;
    if (off - start > 2 && s->base[start] == '\r' && s->base[start + 1] == '\n') start += 2, more = 1;
    else if (off - start > 1 && s->base[start] == '\n' && (s->lenient & REF_LENIENT_LF)) start++, more = m->folded = 1;
  }
  if (s->p.type == HTTP_RESPONSE) m->code_digits = status_digits(s->base + start, off - start);
  m->raw_bad = ref_head_raw_check(s->base + start, off - start, s->lenient, &m->folded);
  m->head_bad = m->raw_bad != NULL;
  if (m->raw_bad) return fail(s, -1, m->raw_bad, m->start), -1;
  if (s->p.type == HTTP_RESPONSE) {
    int st = m->status;
    int skip = (st >= 100 && st < 200 && st != 101) || st == 204 || st == 304 ||
               ((st < 100 || st >= 200) && s->head_req && s->head_req(s->ctx, finals_before(s)));
    if (skip) s->p.flags |= F_SKIPBODY;
    m->skipped_body = (unsigned)skip;
  }
  return 0;
}

/* A chunked message ended (complete or not) at offset end. Returns 0 or -1. */
static int check_chunked(ref_stream *s, ref_msg *m, size_t end, int complete) {
  if (!m->chunked || !m->head_done || m->skipped_body) return 0;
  size_t bad = 0;
  long long rc = ref_chunked_check(s->base + m->head_end, end - m->head_end, &bad);
  if (rc < 0 || (complete && rc != (long long)(end - m->head_end)) || (!complete && rc > 0)) {
    m->raw_bad = "chunked framing the strict reading refuses";
    return fail(s, -1, m->raw_bad, m->head_end + bad), -1;
  }
  return 0;
}

static void finish(ref_stream *s, size_t n, int at_eof) {
  if (s->error || s->upgraded || s->full) return;
  /* at a message boundary EOF is fine (llhttp_finish would not know it:
   * the parser paused in on_message_complete) */
  if (at_eof && s->n && !s->msgs[s->n - 1].complete) {
    s->pause = REF_PAUSE_NONE;
    enum llhttp_errno e = llhttp_finish(&s->p);
    if (s->n && s->pause == REF_PAUSE_END) s->msgs[s->n - 1].end = n;
    if (e != HPE_OK && e != HPE_PAUSED) s->cut = 1; /* the last message is incomplete */
  }
  if (s->n && !s->msgs[s->n - 1].complete) check_chunked(s, &s->msgs[s->n - 1], n, 0);
}

/* Runs llhttp over data from offset off on. Returns the next offset, or
 * SIZE_MAX when the stream is done (error, upgrade or all parsed). After a
 * pause it runs again even with no byte left: the steps after the pause
 * (a message without a body completes) need no input. */
static size_t step(ref_stream *s, const char *data, size_t n, size_t off) {
  s->pause = REF_PAUSE_NONE;
  enum llhttp_errno e = llhttp_execute(&s->p, data + off, n - off);
  if (e == HPE_OK) return SIZE_MAX;
  size_t pos = (size_t)(llhttp_get_error_pos(&s->p) - data);
  if (e == HPE_PAUSED_UPGRADE) {
    s->upgraded = 1;
    return SIZE_MAX;
  }
  if (e != HPE_PAUSED) {
    if (s->n == REF_MAX_MSGS && e == HPE_CB_MESSAGE_BEGIN) s->full = 1;
    else fail(s, (int)e, llhttp_get_error_reason(&s->p), pos);
    return SIZE_MAX;
  }
  if (s->pause == REF_PAUSE_HEAD && at_head_end(s, pos) < 0) return SIZE_MAX;
  if (s->pause == REF_PAUSE_END) {
    ref_msg *m = &s->msgs[s->n - 1];
    m->end = pos;
    if (check_chunked(s, m, pos, 1) < 0) return SIZE_MAX;
  }
  llhttp_resume(&s->p);
  return pos;
}

void ref_parse(ref_stream *s, int type, const char *data, size_t n, int at_eof, ref_head_req_fn head_req, void *ctx) {
  if (!data) data = ""; /* an empty tg_buf has no data pointer */
  llhttp_init(&s->p, (llhttp_type_t)type, &ref_settings);
  s->p.data = s;
  s->base = data;
  s->head_req = head_req;
  s->ctx = ctx;
  for (size_t off = 0; off != SIZE_MAX;) off = step(s, data, n, off);
  finish(s, n, at_eof);
}

void ref_stream_free(ref_stream *s) {
  for (unsigned i = 0; i < s->n; i++) {
    tg_head_free(&s->msgs[i].head);
    tg_buf_free(&s->msgs[i].body);
  }
  tg_head_free(&s->spill);
  s->n = 0;
}
