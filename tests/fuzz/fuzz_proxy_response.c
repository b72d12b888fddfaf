/* libFuzzer target for the response path through a real tollgate worker
 * (proxy_harness.h): the input is what the upstream answers; the client
 * sends one of eight fixed request sequences. Covers the response half of
 * src/relay/relay.c (head rewriting, framing choice, the chunked
 * re-framing that keeps chunk boundaries, until-close bodies, interim
 * responses, end of exchange, upstream errors and timeouts), the pool
 * (keep-alive reuse, retry) and the client side's pipelining.
 *
 * Input: two variant bytes, then the upstream's answers: segment i (the
 * input cut at each "~~~~") is written in reply to the i-th request the
 * upstream receives; with no segment left the upstream half-closes.
 *   byte 0  bits 0-2  upstream write size: all, 1, 2, 5, 16, 64, 512, all
 *           bits 3-5  the client's requests: 0 GET, 1 HEAD, 2 POST with
 *                     Content-Length, 3 POST chunked, 4 GET HTTP/1.0, 5 two
 *                     pipelined GETs, 6 GET then HEAD, 7 POST with Expect:
 *                     100-continue then GET
 *           bit 6     the upstream half-closes after each segment
 *           bit 7     the upstream answers at the request head, before the body
 *   byte 1  bits 0-1  both set: a stall run (tollgate's timeouts at 2 ms
 *                     end what the upstream leaves open)
 *
 * Invariants (a broken one prints every socket's bytes and aborts): for
 * exchange k, U = a strict reading (http_ref.h) of the segment the upstream
 * wrote for the last copy of request k it received (after the late bytes
 * of exchange k-1's on the same connection: late_leftover), with tollgate's rules
 * (HTTP/1.x, only "chunked" as a transfer coding, no unsolicited 101, 1xx
 * without a body), and R = the client's k-th final response:
 *   - the client's bytes parse strictly as responses (CRLF heads, strict
 *     chunked framing, no control byte but HTAB in a reason phrase or a
 *     field value), no more final responses than requests, nothing after
 *     a response that did not complete;
 *   - U complete and valid: R is complete, with U's status and body; a
 *     chunked U keeps its chunk boundaries in R, a Content-Length U keeps
 *     the length;
 *   - U's head valid but U incomplete (also: its chunked framing breaks a
 *     strict rule llhttp does not enforce): R has U's status, a prefix of
 *     its body and chunk sizes, and is visibly truncated (no terminal
 *     chunk, short body) unless the client spoke HTTP/1.0;
 *   - U invalid (also: a status code that is not 3 digits, an interim
 *     response with Content-Length or chunked, a head of more than
 *     TG_HEAD_MAX_FIELDS fields) or headless: R is a gateway error
 *     (502/504) or absent;
 *   - no connection or libuv handle is left when both peers are gone.
 * In a stall run a 2 ms timeout may beat a slow piece, so a complete U may
 * also end as a 504 or cut short. obs-fold in an upstream head may be unfolded or refused with a 502
 * (RFC 9112 5.2). Switch: -DFUZZ_KNOWN_RESP_LF=1 treats a bare LF in an
 * upstream head (and a bare CR) the same way, -DFUZZ_KNOWN_STATUS=1 takes
 * a status code that is not three digits as valid, -DFUZZ_KNOWN_REASON=1
 * lets control bytes in a reason phrase through, -DFUZZ_KNOWN_1XX_BODY=1
 * does not judge a run where an interim response announces a body: to look
 * past those known findings (README). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_ref.h"
#include "proxy_harness.h"

#ifndef FUZZ_KNOWN_RESP_LF
#define FUZZ_KNOWN_RESP_LF 0
#endif
#ifndef FUZZ_KNOWN_STATUS
#define FUZZ_KNOWN_STATUS 0
#endif
#ifndef FUZZ_KNOWN_REASON
#define FUZZ_KNOWN_REASON 0
#endif
#ifndef FUZZ_KNOWN_1XX_BODY
#define FUZZ_KNOWN_1XX_BODY 0
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SEGS 16
#define MAX_RECS 32

typedef struct mock_conn {
  llhttp_t parser;
  char url[16];
  size_t url_len;
  int answered; /* the current request got its segment */
} mock_conn;

typedef struct up_rec {
  unsigned conn;
  int req; /* client request index from the target "/rN", -1 unknown */
  int seg; /* segment written in reply, -1 none */
} up_rec;

typedef struct run {
  ph_env *e;
  ph_opts o;
  int kind, close, early;
  size_t piece; /* the upstream's write size */
  const char *segs[MAX_SEGS];
  size_t seg_len[MAX_SEGS];
  unsigned nsegs, next_seg;
  up_rec recs[MAX_RECS];
  unsigned nrecs;
} run;

static run R;

/* --- the client's requests -------------------------------------------------- */

#define HOST "Host: a\r\n"

static const char *const kinds[8] = {
    "GET /r0 HTTP/1.1\r\n" HOST "\r\n",
    "HEAD /r0 HTTP/1.1\r\n" HOST "\r\n",
    "POST /r0 HTTP/1.1\r\n" HOST "Content-Length: 5\r\n\r\nhello",
    "POST /r0 HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "GET /r0 HTTP/1.0\r\n\r\n",
    "GET /r0 HTTP/1.1\r\n" HOST "\r\nGET /r1 HTTP/1.1\r\n" HOST "\r\n",
    "GET /r0 HTTP/1.1\r\n" HOST "\r\nHEAD /r1 HTTP/1.1\r\n" HOST "\r\n",
    "POST /r0 HTTP/1.1\r\n" HOST "Expect: 100-continue\r\nContent-Length: 5\r\n\r\nhello"
    "GET /r1 HTTP/1.1\r\n" HOST "\r\n",
};

static unsigned nrequests(void) { return R.kind >= 5 ? 2 : 1; }

static int request_is_head(unsigned k) { return (R.kind == 1 && k == 0) || (R.kind == 6 && k == 1); }

/* For the client's stream: response i answers request i. */
static int head_req_cb(void *ctx, unsigned i) {
  (void)ctx;
  return request_is_head(i);
}

/* For one upstream answer: every final response in it answers request *ctx. */
static int head_req_of(void *ctx, unsigned i) {
  (void)i;
  return request_is_head(*(const unsigned *)ctx);
}

/* --- the mock upstream -------------------------------------------------------- */

static void mock_reply(ph_conn *u) {
  mock_conn *m = u->user;
  if (m->answered) return;
  m->answered = 1;
  up_rec *r = R.nrecs < MAX_RECS ? &R.recs[R.nrecs++] : NULL;
  int req = m->url_len == 3 && m->url[0] == '/' && m->url[1] == 'r' ? m->url[2] - '0' : -1;
  int seg = R.next_seg < R.nsegs ? (int)R.next_seg++ : -1;
  if (r) *r = (up_rec){.conn = u->id, .req = req, .seg = seg};
  if (seg >= 0) ph_queue(u, R.segs[seg], R.seg_len[seg], R.piece);
  if (seg < 0 || R.close) u->shut_after = 1;
}

static int mock_on_begin(llhttp_t *p) {
  mock_conn *m = ((ph_conn *)p->data)->user;
  m->url_len = 0;
  m->answered = 0;
  return 0;
}

static int mock_on_url(llhttp_t *p, const char *at, size_t n) {
  mock_conn *m = ((ph_conn *)p->data)->user;
  for (size_t i = 0; i < n && m->url_len < sizeof m->url; i++) m->url[m->url_len++] = at[i];
  return 0;
}

static int mock_on_head(llhttp_t *p) {
  if (R.early) mock_reply(p->data);
  return 0;
}

static int mock_on_complete(llhttp_t *p) {
  mock_reply(p->data);
  return 0;
}

static const llhttp_settings_t mock_settings = {
    .on_message_begin = mock_on_begin,
    .on_url = mock_on_url,
    .on_headers_complete = mock_on_head,
    .on_message_complete = mock_on_complete,
};

static void mock_accept(ph_conn *u) {
  mock_conn *m = calloc(1, sizeof *m);
  if (!m) abort();
  llhttp_init(&m->parser, HTTP_REQUEST, &mock_settings);
  m->parser.data = u;
  u->user = m;
}

static void mock_data(ph_conn *u, const char *p, size_t n) {
  mock_conn *m = u->user;
  if (m && llhttp_get_errno(&m->parser) == HPE_OK) llhttp_execute(&m->parser, p, n);
}

static void mock_free(ph_conn *u) {
  free(u->user);
  u->user = NULL;
}

/* --- what the upstream's answer means ------------------------------------------ */

/* U_UNKNOWN: more interim responses than the reference holds
 * (REF_MAX_MSGS) came before the final one, which it never read. */
enum { U_NONE, U_BAD, U_PARTIAL, U_COMPLETE, U_SKIP, U_UNKNOWN };

typedef struct verdict {
  int kind;         /* U_* */
  const ref_msg *m; /* the final response (U_PARTIAL, U_COMPLETE) */
} verdict;

/* A field name as every HTTP parser reads it: case-insensitive, with '_'
 * and '-' distinct (RFC 9110 5.1). ref_name_is also matches underscore
 * spellings, which is right for judging what tollgate writes, not for
 * what the upstream's framing is: "Transfer_Encoding" frames nothing. */
static int is_field(const ref_msg *m, const tg_field *f, const char *lower) {
  return f->name.len == strlen(lower) && strncasecmp(tg_head_str(&m->head, f->name), lower, f->name.len) == 0;
}

/* A status code of three digits (RFC 9112 4), from 100 to 599 (RFC 9110
 * 15): llhttp takes others, an interim one included ("0102"). */
static int status_ok(const ref_msg *m) {
  return FUZZ_KNOWN_STATUS || (m->code_digits == 3 && m->status >= 100 && m->status <= 599);
}

/* tollgate's own rules on an upstream head beyond llhttp's. */
static int head_acceptable(const ref_msg *m) {
  if (m->http_major != 1 || m->status == 101 || !status_ok(m)) return 0;
  const tg_field *te = NULL;
  for (uint32_t i = 0; i < m->head_nfields; i++) { /* trailer fields frame nothing */
    if (!is_field(m, &m->head.fields[i], "transfer-encoding")) continue;
    if (te) return 0; /* more than one */
    te = &m->head.fields[i];
  }
  if (!te) return 1;
  return m->chunked && te->value.len == 7 && strncasecmp(tg_head_str(&m->head, te->value), "chunked", 7) == 0;
}

/* An interim response that announces a body (RFC 9110 15.2: it has none). */
static int interim_with_body(const ref_msg *m) {
  return m->head_done && m->status >= 100 && m->status < 200 && m->status != 101 &&
         (m->chunked || (m->has_cl && m->cl > 0));
}

static verdict judge(const ref_stream *s) {
  for (unsigned i = 0; i < s->n; i++) {
    const ref_msg *m = &s->msgs[i];
    int interim = m->head_done && m->status >= 100 && m->status < 200 && m->status != 101;
    if (interim_with_body(m)) return (verdict){FUZZ_KNOWN_1XX_BODY ? U_SKIP : U_BAD, NULL};
    if (m->head_done && !status_ok(m)) return (verdict){U_BAD, NULL}; /* an interim head's too */
    /* tollgate keeps at most TG_HEAD_MAX_FIELDS fields of a head and
     * refuses a longer one, as nginx refuses a head past its buffer: a
     * head must never go out with fields left out */
    if (m->head_cut) return (verdict){U_BAD, NULL};
    if (interim && m->complete) continue;
    if (!m->head_done || m->head_bad || !head_acceptable(m)) return (verdict){U_BAD, NULL};
    /* a valid head, then chunked framing the strict reading refuses: the
     * head may have gone out long before, so the most a gateway can do
     * is cut the response there (as for llhttp's own errors mid-body) */
    if (m->raw_bad) return (verdict){U_PARTIAL, m};
    if (m->complete) return (verdict){U_COMPLETE, m};
    return (verdict){U_PARTIAL, m};
  }
  if (s->full && !s->error) return (verdict){U_UNKNOWN, NULL};
  return (verdict){s->error ? U_BAD : U_NONE, NULL};
}

/* --- comparing a response with the client's copy -------------------------------- */

/* No control byte but HTAB in the reason phrase or any field value the
 * client gets (RFC 9112 4, RFC 9110 5.5). */
static void check_ctl_free(const ref_msg *c) {
  if (FUZZ_KNOWN_REASON) return;
  const tg_head *h = &c->head;
  for (uint32_t i = 0; i <= h->nfields; i++) {
    tg_span v = i < h->nfields ? h->fields[i].value : h->target;
    const unsigned char *p = (const unsigned char *)tg_head_str(h, v);
    for (uint32_t k = 0; k < v.len; k++)
      if ((p[k] < 32 && p[k] != '\t') || p[k] == 127)
        ph_fail(R.e, "the client got a control byte 0x%02x in a %s", p[k],
                i < h->nfields ? "field value" : "reason phrase");
  }
}

static int is_prefix(const tg_buf *a, const tg_buf *b) {
  return a->len <= b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static void check_same(unsigned k, const ref_msg *u, const ref_msg *c) {
  if (!c->complete) ph_fail(R.e, "exchange %u: a complete upstream response reached the client cut short", k);
  if (c->status != u->status) ph_fail(R.e, "exchange %u: status %d became %d", k, u->status, c->status);
  if (c->body.len != u->body.len || !is_prefix(&c->body, &u->body))
    ph_fail(R.e, "exchange %u: the body changed (%zu bytes became %zu)", k, u->body.len, c->body.len);
  if (u->chunked && c->chunked) {
    if (u->nchunks != c->nchunks) ph_fail(R.e, "exchange %u: %u chunks became %u", k, u->nchunks, c->nchunks);
    for (unsigned i = 0; i < u->nchunks && i < REF_MAX_CHUNKS; i++)
      if (u->chunks[i] != c->chunks[i]) ph_fail(R.e, "exchange %u: chunk %u changed size", k, i);
  }
  if (u->has_cl && !u->skipped_body && (!c->has_cl || c->cl != u->cl))
    ph_fail(R.e, "exchange %u: the Content-Length changed", k);
}

/* A stream cut between two chunks may end with tollgate's own last chunk,
 * an error line as Ollama writes one (src/relay/filter-error.c), then a
 * clean end: the bytes before it are the upstream's. Returns the error
 * chunk's length, 0 when c does not end so. */
static size_t error_tail(const ref_msg *c) {
  if (!c->complete || !c->chunked || !c->nchunks || c->nchunks > REF_MAX_CHUNKS) return 0;
  size_t n = c->chunks[c->nchunks - 1];
  if (n > c->body.len) return 0;
  const char *p = c->body.data + c->body.len - n;
  static const char nd[] = "{\"error\":\"", sse[] = "data: {\"error\":{\"message\":\"";
  if ((n > sizeof nd && memcmp(p, nd, sizeof nd - 1) == 0 && p[n - 1] == '\n') ||
      (n > sizeof sse && memcmp(p, sse, sizeof sse - 1) == 0 && p[n - 1] == '\n'))
    return n;
  return 0;
}

static void check_truncated(unsigned k, const ref_msg *u, const ref_msg *c, int last) {
  if (c->status != u->status) ph_fail(R.e, "exchange %u: status %d became %d", k, u->status, c->status);
  size_t tail = error_tail(c);
  tg_buf before = {.data = c->body.data, .len = c->body.len - tail};
  if (!is_prefix(&before, &u->body)) ph_fail(R.e, "exchange %u: the client's body is not the upstream's", k);
  if (c->complete && !tail && R.kind != 4 && !u->skipped_body)
    ph_fail(R.e, "exchange %u: an upstream response cut short looks complete to the client", k);
  if (!last) ph_fail(R.e, "exchange %u: more responses after one cut short", k);
  if (u->chunked && c->chunked && c->nchunks) {
    unsigned n = c->nchunks - (tail ? 1 : 0);
    n = n < REF_MAX_CHUNKS ? n : REF_MAX_CHUNKS;
    for (unsigned i = 0; i + 1 < n; i++)
      if (i >= u->nchunks || u->chunks[i] != c->chunks[i]) ph_fail(R.e, "exchange %u: chunk %u changed size", k, i);
  }
}

static void check_exchange(unsigned k, verdict v, const ref_msg *c, int last) {
  if (c) check_ctl_free(c);
  if (v.kind == U_UNKNOWN) return; /* only the client's bytes are judged (check_responses) */
  if (!c) {
    if (v.kind == U_COMPLETE && !R.o.stall)
      ph_fail(R.e, "exchange %u: a complete upstream response never reached the client", k);
    return;
  }
  if (v.m && v.m->folded && (c->status == 502 || c->status == 504)) return;  /* refusing it is fine too */
  if (v.kind == U_COMPLETE && R.o.stall && !c->complete) v.kind = U_PARTIAL; /* a 2 ms timeout won */
  if (v.kind == U_COMPLETE && R.o.stall && (c->status == 502 || c->status == 504)) return;
  if (v.kind == U_COMPLETE) check_same(k, v.m, c);
  else if (v.kind == U_PARTIAL && c->status != 502 && c->status != 504) check_truncated(k, v.m, c, last);
  else if (c->status != 502 && c->status != 504)
    ph_fail(R.e, "exchange %u: the client got %d for an upstream answer that is not valid", k, c->status);
}

/* --- the run's checks -------------------------------------------------------------- */

/* The record of the last copy of client request k the upstream received
 * (a retried request counts once), or -1. */
static int rec_for(unsigned k) {
  for (unsigned i = R.nrecs; i-- > 0;)
    if (R.recs[i].req == (int)k) return (int)i;
  return -1;
}

/* The write size ph_queue used for a segment of n bytes (0: one write). */
static size_t piece_for(size_t n) {
  if (R.piece && (n + R.piece - 1) / R.piece > PH_MAX_PIECES) return (n + PH_MAX_PIECES - 1) / PH_MAX_PIECES;
  return R.piece;
}

/* Bytes the upstream wrote after exchange k-1's complete response, on the
 * connection that then carried request k, starting in a later write than
 * that response's last byte. A connection carries its responses in order
 * and nothing tells such bytes from the answer to the next request sent
 * on it (tollgate cannot see them when it reuses the connection; nginx
 * reads them the same way), so they are the start of exchange k's answer.
 * Not so after a HEAD, 204 or 304 answer, nor for bytes in the same write
 * as the response's end: tollgate must not reuse the connection then
 * (finding 9), and those bytes must never answer request k. Returns the
 * number of bytes (*p: where), or 0. */
static size_t late_leftover(unsigned k, const verdict *prev, const char **p) {
  int a = k ? rec_for(k - 1) : -1, b = rec_for(k);
  if (a < 0 || b < a || R.recs[a].conn != R.recs[b].conn || R.recs[a].seg < 0) return 0;
  if (prev->kind != U_COMPLETE || prev->m->skipped_body) return 0;
  size_t end = prev->m->end, n = R.seg_len[R.recs[a].seg], piece = piece_for(n);
  if (end >= n || piece == 0 || end % piece != 0) return 0;
  *p = R.segs[R.recs[a].seg] + end;
  return n - end;
}

/* Judges exchange k from what the upstream wrote for it: its segment,
 * after the late bytes of exchange k-1's (prev) on the same connection. */
static verdict judge_exchange(unsigned k, ref_stream *s, const verdict *prev, tg_buf *stream) {
  int b = rec_for(k), seg = b >= 0 ? R.recs[b].seg : -1, closed = seg < 0 || R.close;
  const char *late = NULL;
  size_t nlate = late_leftover(k, prev, &late);
  if (seg < 0 && !nlate) return (verdict){U_NONE, NULL};
  if (tg_buf_append(stream, late, nlate) < 0 || (seg >= 0 && tg_buf_append(stream, R.segs[seg], R.seg_len[seg]) < 0))
    abort();
  s->lenient = REF_LENIENT_FOLD | (FUZZ_KNOWN_RESP_LF ? REF_LENIENT_LF : 0);
  s->lenient_leading = 1; /* empty lines before a status line are skipped, like llhttp does */
  ref_parse(s, HTTP_RESPONSE, stream->data, stream->len, closed, head_req_of, &k);
  return judge(s);
}

/* The client's responses against the verdicts on the upstream's answers. */
static void check_responses(const ref_stream *c, const verdict *v) {
  const ref_msg *finals[REF_MAX_MSGS];
  unsigned nf = 0;
  if (c->error || c->upgraded) ph_fail(R.e, "the client received bytes a strict reader refuses: %s", c->reason);
  for (unsigned i = 0; i < c->n; i++)
    if (!c->msgs[i].head_done || c->msgs[i].status < 100 || c->msgs[i].status >= 200) finals[nf++] = &c->msgs[i];
  if (nf > nrequests()) ph_fail(R.e, "the client got %u responses to %u requests", nf, nrequests());
  for (unsigned k = 0; k < nrequests(); k++) {
    const ref_msg *r = k < nf && finals[k]->head_done ? finals[k] : NULL;
    check_exchange(k, v[k], r, k + 1 == nf);
    if (r && !r->complete) break; /* the connection ended there */
  }
}

static void check_run(void) {
  const tg_buf *in = &R.e->client->in;
  ref_stream *c = calloc(1, sizeof *c), *u = calloc(2, sizeof *u);
  if (!c || !u) abort();
  verdict v[2];
  tg_buf stream[2] = {{0}, {0}};
  int skip = 0;
  for (unsigned k = 0; k < nrequests(); k++) {
    v[k] = judge_exchange(k, &u[k], k ? &v[k - 1] : NULL, &stream[k]);
    skip |= v[k].kind == U_SKIP; /* a known finding: nothing to compare */
  }
  ref_parse(c, HTTP_RESPONSE, in->data, in->len, R.e->client->eof, head_req_cb, NULL);
  if (!skip) check_responses(c, v);
  ref_stream_free(c);
  ref_stream_free(&u[0]);
  ref_stream_free(&u[1]);
  tg_buf_free(&stream[0]);
  tg_buf_free(&stream[1]);
  free(c);
  free(u);
}

/* Cuts the answers at each "~~~~". */
static void split_segments(const char *p, size_t n) {
  static const char sep[] = "~~~~";
  while (R.nsegs < MAX_SEGS) {
    const char *hit = memmem(p, n, sep, 4);
    size_t len = hit ? (size_t)(hit - p) : n;
    R.segs[R.nsegs] = p;
    R.seg_len[R.nsegs++] = len;
    if (!hit) return;
    p += len + 4;
    n -= len + 4;
  }
}

static const size_t pieces[8] = {0, 1, 2, 5, 16, 64, 512, 0};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  memset(&R, 0, sizeof R);
  R.e = ph_env_get();
  uint8_t v0 = data[0], v1 = data[1];
  R.piece = pieces[v0 & 7];
  R.kind = (v0 >> 3) & 7;
  R.close = (v0 >> 6) & 1;
  R.early = (v0 >> 7) & 1;
  R.o.stall = (v1 & 3) == 3;
  split_segments((const char *)data + 2, size - 2);
  ph_hooks hooks = {.up_accept = mock_accept, .up_data = mock_data, .up_free = mock_free};
  ph_run_begin(R.e, &R.o, &hooks, &R);
  ph_queue(R.e->client, kinds[R.kind], strlen(kinds[R.kind]), 0);
  if (ph_run_end(R.e, &R.o) < 0) ph_fail(R.e, "tollgate kept a connection or a handle after the run");
  check_run();
  ph_run_free(R.e);
  return 0;
}
