/* libFuzzer target for request heads from the outside: the input is the raw
 * bytes a client sent. It is parsed with llhttp 8.1 (HTTP_REQUEST, strict,
 * no lenient flags) into a tg_head (src/codec/head.c, max 16 KiB like the
 * default site), and at each on_headers_complete the head is rewritten with
 * tg_rewrite_request and tg_rewrite_response (src/codec/rewrite.c). Both
 * outputs are checked; a broken invariant aborts:
 *   - the request starts "METHOD SP target SP HTTP/1.1\r\n", the response
 *     "HTTP/1.1 NNN reason\r\n";
 *   - exactly one "\r\n\r\n", at the end (no empty line inside: no header
 *     injection); each field line is "token:..." with no CR, LF or NUL;
 *   - exactly one Host line (request);
 *   - no hop-by-hop field (Connection, Keep-Alive, Proxy-Connection, TE,
 *     Trailer, Transfer-Encoding, Upgrade, Proxy-Authorization/-Authenticate,
 *     their underscore spellings, and the fields the client's Connection
 *     lists) other than what tollgate writes itself (underscore spellings
 *     of Connection-listed names only with -DFUZZ_CONNECTION_UNDERSCORE=1);
 *   - no Authorization or Cookie (nor their underscore spellings) when
 *     forward_credentials is 0;
 *   - Content-Length / Transfer-Encoding: only the one line the framing asks.
 * The first input byte chooses the variant: bit 0 host_header preserve
 * (NULL) instead of "localhost:11434", bit 1 forward_credentials, bit 2 the
 * response's close flag, bits 3-4 the response status, bits 5-7 feeding the
 * rest to llhttp in pieces of 1, 2, 4 ... 64 bytes (0: all at once), which
 * exercises spans split across reads.
 *
 * Build and run from the repository root:
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
 *     -fno-sanitize-recover=undefined -Iinclude -I/usr/share/include/llhttp \
 *     src/codec/head.c src/codec/rewrite.c src/base/buf.c \
 *     /usr/share/llhttp/api.c /usr/share/llhttp/http.c /usr/share/llhttp/llhttp.c \
 *     tests/fuzz/fuzz_http_head.c -o build/fuzz_http_head
 *   mkdir -p build/corpus-http-head
 *   build/fuzz_http_head -max_total_time=300 -max_len=8192 \
 *     -dict=tests/fuzz/http.dict build/corpus-http-head tests/fuzz/corpus/http_head
 * Replay one input: build/fuzz_http_head path/to/crash-file */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llhttp.h"
#include "tollgate/head.h"
#include "tollgate/rewrite.h"

#define MAX_HEAD_BYTES 16384

typedef struct fuzz_ctx {
  tg_head head;
  tg_buf out;
  tg_upstream_conf up;
  tg_site_conf site;
  int status;
  int close;
} fuzz_ctx;

/* One line of a rewritten head: [p, p + n), without its CRLF. */
typedef struct line {
  const char *p;
  size_t n;
} line;

static void check(int ok, const char *what, const tg_buf *out) {
  if (ok) return;
  fprintf(stderr, "invariant broken: %s\n--- head (%zu bytes) ---\n", what, out->len);
  fwrite(out->data, 1, out->len, stderr);
  fputs("\n---\n", stderr);
  abort();
}

/* --- names ----------------------------------------------------------- */

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

/* Compares a field name with a lower-case name, '_' counting as '-'. */
static int name_is(const char *p, size_t n, const char *want) {
  if (n != strlen(want)) return 0;
  for (size_t i = 0; i < n; i++)
    if ((p[i] == '_' ? '-' : lower(p[i])) != want[i]) return 0;
  return 1;
}

static int name_in(const char *p, size_t n, const char *const *list) {
  for (; *list; list++)
    if (name_is(p, n, *list)) return 1;
  return 0;
}

static const char *const hop_by_hop[] = {
    "connection", "keep-alive",          "proxy-connection",   "te", "trailer", "transfer-encoding",
    "upgrade",    "proxy-authorization", "proxy-authenticate", NULL};

/* Fields tollgate writes itself, so a Connection token naming them may
 * still be in the output (with tollgate's value). */
static const char *const edge_written[] = {"host",
                                           "content-length",
                                           "transfer-encoding",
                                           "connection",
                                           "x-forwarded-for",
                                           "x-forwarded-proto",
                                           "x-forwarded-host",
                                           NULL};

static const char *const credentials[] = {"authorization", "cookie", NULL};

/* Field names must be tokens (RFC 9110 5.1). llhttp 8.1 lets spaces into
 * names it has no special state for ("Authorization : x") and passes empty
 * names (": x"); building with -DFUZZ_CHECK_NAME_TOKEN=0 skips these two
 * checks to look for other bugs. */
#ifndef FUZZ_CHECK_NAME_TOKEN
#define FUZZ_CHECK_NAME_TOKEN 1
#endif

static int is_tchar(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* --- the client's Connection tokens ---------------------------------- */

/* Underscore spellings of the fields a Connection lists (Connection: x-a
 * with X_A: 1) are only checked when built with
 * -DFUZZ_CONNECTION_UNDERSCORE=1: src/codec/rewrite.c compares Connection
 * tokens exactly for now. */
#ifndef FUZZ_CONNECTION_UNDERSCORE
#define FUZZ_CONNECTION_UNDERSCORE 0
#endif

/* Is the token (t, tn) the field name (p, n)? Case-insensitive; with
 * FUZZ_CONNECTION_UNDERSCORE, '_' and '-' are the same on both sides. */
static int token_is(const char *t, size_t tn, const char *p, size_t n) {
  if (tn != n || n == 0) return 0;
  for (size_t i = 0; i < n; i++) {
    char a = lower(t[i]), b = lower(p[i]);
    if (FUZZ_CONNECTION_UNDERSCORE) a = a == '_' ? '-' : a, b = b == '_' ? '-' : b;
    if (a != b) return 0;
  }
  return 1;
}

/* Does a Connection field of the client's head list the name (p, n)? */
static int connection_lists(const tg_head *h, const char *p, size_t n) {
  for (uint32_t i = 0; i < h->nfields; i++) {
    if (!tg_head_name_is(h, i, "connection")) continue;
    const char *v = tg_head_str(h, h->fields[i].value);
    const char *end = v + h->fields[i].value.len;
    while (v < end) {
      while (v < end && (*v == ' ' || *v == '\t' || *v == ',')) v++;
      const char *tok = v;
      while (v < end && *v != ',' && *v != ' ' && *v != '\t') v++;
      if (token_is(tok, (size_t)(v - tok), p, n)) return 1;
    }
  }
  return 0;
}

/* --- checking one rewritten head ------------------------------------- */

typedef struct counts {
  int host, content_length, transfer_encoding, connection, xff, xfp;
  line cl_line, te_line, conn_line;
} counts;

/* Splits the field lines after the start line; checks their shape. */
static size_t split_lines(const tg_buf *out, size_t start, line *lines, size_t max) {
  size_t n = 0, pos = start;
  while (pos < out->len - 2) {
    const char *eol = memmem(out->data + pos, out->len - pos, "\r\n", 2);
    check(eol != NULL, "field line without CRLF", out);
    line l = {out->data + pos, (size_t)(eol - (out->data + pos))};
    check(l.n > 0, "empty line inside the head (header injection)", out);
    check(n < max, "more field lines than the input could give", out);
    lines[n++] = l;
    pos += l.n + 2;
  }
  check(pos == out->len - 2, "head does not end with exactly one empty line", out);
  return n;
}

static void check_line_shape(const tg_buf *out, line l) {
  const char *colon = memchr(l.p, ':', l.n);
  check(colon != NULL, "field line without ':'", out);
  check(!FUZZ_CHECK_NAME_TOKEN || colon > l.p, "field line with an empty name", out);
  for (const char *c = l.p; FUZZ_CHECK_NAME_TOKEN && c < colon; c++)
    check(is_tchar((unsigned char)*c), "name is not a token", out);
  for (size_t i = 0; i < l.n; i++)
    check(l.p[i] != '\r' && l.p[i] != '\n' && l.p[i] != 0, "bare CR, LF or NUL in a field line", out);
}

static void count_line(counts *k, line l, size_t name_len) {
  if (name_is(l.p, name_len, "host")) k->host++;
  if (name_is(l.p, name_len, "x-forwarded-for")) k->xff++;
  if (name_is(l.p, name_len, "x-forwarded-proto")) k->xfp++;
  if (name_is(l.p, name_len, "content-length")) k->content_length++, k->cl_line = l;
  if (name_is(l.p, name_len, "transfer-encoding")) k->transfer_encoding++, k->te_line = l;
  if (name_is(l.p, name_len, "connection")) k->connection++, k->conn_line = l;
}

/* Checks the field lines; counts what the caller checks per direction. */
static counts check_fields(const tg_buf *out, const tg_head *h, size_t start, int drop_creds) {
  static line lines[TG_HEAD_MAX_FIELDS + 16];
  size_t n = split_lines(out, start, lines, sizeof lines / sizeof lines[0]);
  counts k;
  memset(&k, 0, sizeof k);
  for (size_t i = 0; i < n; i++) {
    line l = lines[i];
    check_line_shape(out, l);
    size_t name_len = (size_t)((const char *)memchr(l.p, ':', l.n) - l.p);
    count_line(&k, l, name_len);
    int ours = name_in(l.p, name_len, edge_written);
    check(ours || !name_in(l.p, name_len, hop_by_hop), "hop-by-hop field forwarded", out);
    check(ours || !connection_lists(h, l.p, name_len), "field listed in Connection forwarded", out);
    check(!drop_creds || !name_in(l.p, name_len, credentials), "credentials forwarded", out);
  }
  return k;
}

static int line_is(line l, const char *s) { return l.n == strlen(s) && memcmp(l.p, s, l.n) == 0; }

static void check_framing(const tg_buf *out, const counts *k, tg_framing f, uint64_t cl) {
  char want[64];
  snprintf(want, sizeof want, "Content-Length: %" PRIu64, cl);
  int is_len = f == TG_FRAME_LENGTH, is_chunked = f == TG_FRAME_CHUNKED;
  check(k->content_length == is_len, "Content-Length count does not match the framing", out);
  check(k->transfer_encoding == is_chunked, "Transfer-Encoding count does not match the framing", out);
  check(!is_len || line_is(k->cl_line, want), "Content-Length is not the framing's", out);
  check(!is_chunked || line_is(k->te_line, "Transfer-Encoding: chunked"), "TE is not chunked", out);
}

/* Checks that out has exactly one "\r\n\r\n", at its end. */
static void check_end(const tg_buf *out) {
  check(out->len >= 4, "head too short", out);
  const char *end = memmem(out->data, out->len, "\r\n\r\n", 4);
  check(end == out->data + out->len - 4, "head does not end at its first empty line", out);
}

static void check_request(const fuzz_ctx *x, const tg_req_meta *m) {
  const tg_buf *out = &x->out;
  check_end(out);
  char start[32];
  int sn = snprintf(start, sizeof start, "%s ", m->method);
  size_t tl = m->target_len;
  check(out->len > (size_t)sn + tl + 10, "request line too short", out);
  check(memcmp(out->data, start, (size_t)sn) == 0, "request line: method", out);
  check(memcmp(out->data + sn, m->target, tl) == 0, "request line: target", out);
  check(memcmp(out->data + sn + tl, " HTTP/1.1\r\n", 11) == 0, "request line: version", out);
  counts k = check_fields(out, &x->head, (size_t)sn + tl + 11, !x->site.forward_credentials);
  check(k.host == 1, "not exactly one Host line", out);
  check(k.xff == 1 && k.xfp == 1, "not exactly one X-Forwarded-For/-Proto", out);
  check(k.connection == 0, "Connection in a request sent upstream", out);
  check_framing(out, &k, m->framing, m->content_length);
}

static void check_response(const fuzz_ctx *x, tg_framing f, uint64_t cl) {
  const tg_buf *out = &x->out;
  check_end(out);
  char start[32];
  int sn = snprintf(start, sizeof start, "HTTP/1.1 %d ", x->status);
  check(out->len > (size_t)sn && memcmp(out->data, start, (size_t)sn) == 0, "status line", out);
  const char *eol = memmem(out->data, out->len, "\r\n", 2);
  for (const char *c = out->data; c < eol; c++)
    check(*c != 0 && *c != '\r' && *c != '\n', "CR, LF or NUL in the status line", out);
  counts k = check_fields(out, &x->head, (size_t)(eol + 2 - out->data), 0);
  check(k.connection == x->close, "Connection count does not match close", out);
  check(!x->close || line_is(k.conn_line, "Connection: close"), "Connection is not close", out);
  check_framing(out, &k, f, cl);
}

/* --- llhttp callbacks ------------------------------------------------ */

static int head_rc(int rc) { return rc ? -1 : 0; }

static int on_message_begin(llhttp_t *p) {
  tg_head_reset(&((fuzz_ctx *)p->data)->head);
  return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n) {
  return head_rc(tg_head_add_target(&((fuzz_ctx *)p->data)->head, at, n, MAX_HEAD_BYTES));
}

static int on_header_field(llhttp_t *p, const char *at, size_t n) {
  return head_rc(tg_head_add_name(&((fuzz_ctx *)p->data)->head, at, n, MAX_HEAD_BYTES));
}

static int on_header_value(llhttp_t *p, const char *at, size_t n) {
  return head_rc(tg_head_add_value(&((fuzz_ctx *)p->data)->head, at, n, MAX_HEAD_BYTES));
}

/* The request body's framing, as src/http/server.c decides it. */
static tg_framing request_framing(const llhttp_t *p) {
  if (p->flags & F_CHUNKED) return TG_FRAME_CHUNKED;
  if ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0) return TG_FRAME_LENGTH;
  return TG_FRAME_NONE;
}

static int on_headers_complete(llhttp_t *p) {
  fuzz_ctx *x = p->data;
  const tg_head *h = &x->head;
  tg_req_meta m = {
      .method = llhttp_method_name(p->method),
      .target = tg_head_str(h, h->target),
      .target_len = h->target.len,
      .client_ip = "192.0.2.1",
      .proto = "http",
      .framing = request_framing(p),
      .content_length = p->content_length,
  };
  x->out.len = 0;
  if (tg_rewrite_request(&x->out, h, &m, &x->site) < 0) abort();
  check_request(x, &m);
  x->out.len = 0;
  if (tg_rewrite_response(&x->out, h, x->status, m.framing, m.content_length, x->close) < 0) abort();
  check_response(x, m.framing, m.content_length);
  return 0;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
};

/* --- entry point ----------------------------------------------------- */

static void ctx_init(fuzz_ctx *x, uint8_t flags) {
  static const int statuses[] = {200, 204, 404, 502};
  memset(x, 0, sizeof *x);
  x->up.name = "ollama";
  x->up.host_header = (flags & 1) ? NULL : "localhost:11434";
  x->site.name = "_";
  x->site.mount = "";
  x->site.max_header_bytes = MAX_HEAD_BYTES;
  x->site.forward_credentials = (flags >> 1) & 1;
  x->site.upstream = &x->up;
  x->close = (flags >> 2) & 1;
  x->status = statuses[(flags >> 3) & 3];
}

/* Feeds data to llhttp in pieces of `piece` bytes (0: all at once) until
 * the end or the first error. */
static void feed(llhttp_t *p, const char *data, size_t size, size_t piece) {
  if (piece == 0) piece = size;
  for (size_t off = 0; off < size; off += piece) {
    size_t n = size - off < piece ? size - off : piece;
    if (llhttp_execute(p, data + off, n) != HPE_OK) return;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  fuzz_ctx x;
  ctx_init(&x, data[0]);
  unsigned split = data[0] >> 5;
  llhttp_t parser;
  llhttp_init(&parser, HTTP_REQUEST, &settings);
  parser.data = &x;
  feed(&parser, (const char *)data + 1, size - 1, split ? (size_t)1 << (split - 1) : 0);
  tg_head_free(&x.head);
  tg_buf_free(&x.out);
  return 0;
}
