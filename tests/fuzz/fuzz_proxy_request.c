/* libFuzzer target for the request path through a real tollgate worker
 * (proxy_harness.h): the input is what a client sends; a mock upstream
 * answers every complete request it receives. Covers the llhttp glue and
 * pipelining in src/http/server.c, the head checks, the raw-byte checks of
 * src/codec/framing.c, the header rewriting of src/codec/rewrite.c and the
 * request half of src/relay/relay.c and src/upstream/pool.c.
 *
 * Input: two variant bytes, then the client's bytes.
 *   byte 0  bits 0-2  client write size: all, 1, 2, 5, 16, 64, 512, all
 *                     (at most 16 writes; the loop runs dry between them)
 *           bit 3     the mock answers chunked (else Content-Length)
 *           bit 4     the mock answers "Connection: close" and closes
 *           bit 5     site mount "/m"
 *           bit 6     forward_credentials on and host_header preserve
 *           bit 7     with byte 1 bits 0-1 both set: a stall run (tollgate's
 *                     timeouts at 2 ms end the connection, not the client)
 *   byte 1  bit 2     the mock sends a 103 interim response first
 *
 * Invariants (a broken one prints every socket's bytes and aborts):
 *   - each upstream connection received a sequence of well-formed HTTP/1.1
 *     requests (strict llhttp, CRLF lines, no obs-fold, strict chunked
 *     framing), possibly cut at the end when tollgate dropped it;
 *   - each request has one Host (the pinned one, or the client's when
 *     preserved), no hop-by-hop field (nor its underscore spelling, nor a
 *     field the client's Connection lists), no Expect, no Authorization or
 *     Cookie unless forwarded, field names that are tokens, and at most one
 *     framing field (one Content-Length or "Transfer-Encoding: chunked");
 *   - the n-th request upstream is the n-th complete request of the
 *     client's bytes as a strict reader sees them: same method, target
 *     (mount stripped), body (no desync, no smuggled request);
 *   - what the client received parses as well-formed responses, no more
 *     than it sent requests, and it holds every answer of the mock, once
 *     and in order (the upstream never saw more requests than the client
 *     got answers; in a stall run a timeout may beat an answer);
 *   - no connection or libuv handle is left when both peers are gone (in
 *     a stall run: tollgate ends the connection within 1 s).
 * Switch: -DFUZZ_MOUNT_QUERY=1 requires "/m?q" to go upstream as "/?q"
 * (tollgate sends "/", see the README). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_ref.h"
#include "proxy_harness.h"

#ifndef FUZZ_MOUNT_QUERY
#define FUZZ_MOUNT_QUERY 0
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct mock_conn {
  llhttp_t parser;
  unsigned seen; /* complete requests on this connection */
  int done;      /* no more answers here */
} mock_conn;

typedef struct run {
  ph_env *e;
  ph_opts o;
  int chunked, close, interim;
  size_t piece;                      /* the client's write size */
  unsigned answers;                  /* answers the mock wrote */
  unsigned order_conn[REF_MAX_MSGS]; /* g-th request upstream: its connection */
  unsigned order_idx[REF_MAX_MSGS];  /* ... and its index there */
  unsigned norder;
} run;

static run R;

/* --- the mock upstream --------------------------------------------------- */

static void mock_answer(ph_conn *u, int head) {
  char msg[256];
  const char *early = R.interim ? "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" : "";
  const char *conn = R.close ? "Connection: close\r\n" : "";
  const char *body = head ? "" : (R.chunked ? "2\r\nok\r\n0\r\n\r\n" : "ok");
  int n = snprintf(msg, sizeof msg, "%sHTTP/1.1 200 OK\r\nX-Mock: %u\r\n%s%s\r\n%s", early, R.answers, conn,
                   R.chunked ? "Transfer-Encoding: chunked\r\n" : "Content-Length: 2\r\n", body);
  ph_queue(u, msg, (size_t)n, 0);
  R.answers++;
  if (R.close) u->shut_after = 1;
}

static int mock_on_complete(llhttp_t *p) {
  ph_conn *u = p->data;
  mock_conn *m = u->user;
  if (R.norder < REF_MAX_MSGS) {
    R.order_conn[R.norder] = u->id;
    R.order_idx[R.norder++] = m->seen;
  }
  m->seen++;
  if (!m->done) mock_answer(u, p->method == HTTP_HEAD);
  if (R.close) m->done = 1;
  return 0;
}

static const llhttp_settings_t mock_settings = {.on_message_complete = mock_on_complete};

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

/* --- checks on one request upstream ----------------------------------------- */

static int is_tchar(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The value of a head field (the client's trailer fields, which tollgate
 * drops, mean nothing for the head). */
static const char *value_of(const ref_msg *m, const char *lower, size_t *len) {
  for (uint32_t i = 0; i < m->head_nfields; i++) {
    const tg_field *f = &m->head.fields[i];
    if (!ref_name_is(tg_head_str(&m->head, f->name), f->name.len, lower)) continue;
    *len = f->value.len;
    return tg_head_str(&m->head, f->value);
  }
  *len = 0;
  return NULL;
}

static int value_is(const ref_msg *m, const char *lower, const char *want) {
  size_t n;
  const char *v = value_of(m, lower, &n);
  return v && n == strlen(want) && memcmp(v, want, n) == 0;
}

static void check_names(const ref_msg *m) {
  static const char *const hop[] = {"keep-alive",          "proxy-connection",   "te",     "trailer",
                                    "proxy-authorization", "proxy-authenticate", "expect", NULL};
  for (uint32_t i = 0; i < m->head.nfields; i++) {
    const tg_field *f = &m->head.fields[i];
    const char *name = tg_head_str(&m->head, f->name);
    if (f->name.len == 0) ph_fail(R.e, "an empty field name went upstream");
    for (uint32_t k = 0; k < f->name.len; k++)
      if (!is_tchar((unsigned char)name[k])) ph_fail(R.e, "a field name that is not a token went upstream");
    for (const char *const *h = hop; *h; h++)
      if (ref_name_is(name, f->name.len, *h)) ph_fail(R.e, "hop-by-hop field %s went upstream", *h);
  }
}

static void check_framing_fields(const ref_msg *m) {
  int te = ref_count(m, "transfer-encoding"), cl = ref_count(m, "content-length");
  if (te + cl > 1) ph_fail(R.e, "%d framing fields went upstream", te + cl);
  if (te && (!m->chunked || !value_is(m, "transfer-encoding", "chunked")))
    ph_fail(R.e, "a Transfer-Encoding other than tollgate's own went upstream");
  int ws = value_is(m, "upgrade", "websocket") && value_is(m, "connection", "Upgrade");
  if (!ws && (ref_count(m, "upgrade") || ref_count(m, "connection")))
    ph_fail(R.e, "Connection or Upgrade went upstream outside a WebSocket handshake");
  if (ref_count(m, "upgrade") > 1 || ref_count(m, "connection") > 1)
    ph_fail(R.e, "Connection or Upgrade twice upstream");
}

static void check_upstream_request(const ref_msg *m, const ref_msg *client) {
  if (m->http_major != 1 || m->http_minor != 1) ph_fail(R.e, "a request upstream is not HTTP/1.1");
  if (ref_count(m, "host") != 1) ph_fail(R.e, "%d Host fields upstream", ref_count(m, "host"));
  size_t hn, cn;
  const char *h = value_of(m, "host", &hn), *ch = value_of(client, "host", &cn);
  if (!R.o.preserve_host && !value_is(m, "host", "localhost:11434"))
    ph_fail(R.e, "the Host upstream is not the pinned one");
  if (R.o.preserve_host && (ch ? hn != cn || memcmp(h, ch, hn) != 0 : hn != 0))
    ph_fail(R.e, "the Host upstream is not the client's (empty for an HTTP/1.0 request without one)");
  check_names(m);
  check_framing_fields(m);
  if (!R.o.forward_credentials && (ref_count(m, "authorization") || ref_count(m, "cookie")))
    ph_fail(R.e, "Authorization or Cookie went upstream");
}

/* Fields tollgate writes itself whatever the client lists in Connection. */
static int tollgate_writes(const char *name) {
  static const char *const own[] = {"host",         "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
                                    "x-request-id", "content-length",  "transfer-encoding", "connection",
                                    "upgrade",      "close",           "keep-alive",        NULL};
  for (const char *const *o = own; *o; o++)
    if (strcmp(name, *o) == 0) return 1;
  return 0;
}

/* Fields the client's Connection lists must not go upstream (but those
 * tollgate writes itself). Only the head's Connection lists them: one in
 * a trailer is not a connection option (RFC 9110 6.5.1), and tollgate
 * drops the trailer. */
static void check_connection_listed(const ref_msg *up, const ref_msg *client) {
  for (uint32_t i = 0; i < client->head_nfields; i++) {
    const tg_field *f = &client->head.fields[i];
    if (!ref_name_is(tg_head_str(&client->head, f->name), f->name.len, "connection")) continue;
    const char *v = tg_head_str(&client->head, f->value), *end = v + f->value.len;
    while (v < end) {
      while (v < end && (*v == ' ' || *v == '\t' || *v == ',')) v++;
      const char *tok = v;
      while (v < end && *v != ',' && *v != ' ' && *v != '\t') v++;
      char name[64];
      size_t n = (size_t)(v - tok);
      if (n == 0 || n >= sizeof name) continue;
      for (size_t k = 0; k < n; k++) name[k] = (char)(tok[k] >= 'A' && tok[k] <= 'Z' ? tok[k] + 32 : tok[k]);
      name[n] = 0;
      for (size_t k = 0; k < n; k++)
        if (name[k] == '_') name[k] = '-';
      if (tollgate_writes(name)) continue;
      if (ref_count(up, name)) ph_fail(R.e, "a field the client's Connection lists went upstream");
    }
  }
}

/* --- the same request as the client's -------------------------------------- */

/* The target tollgate must send for the client's target t (mount applied). */
static void expected_target(const ref_msg *client, const char **t, size_t *n) {
  *t = tg_head_str(&client->head, client->head.target);
  *n = client->head.target.len;
  size_t m = strlen(R.o.mount);
  if (m == 0) return;
  if (*n < m || memcmp(*t, R.o.mount, m) != 0 || (*n > m && (*t)[m] != '/' && (*t)[m] != '?'))
    ph_fail(R.e, "a request outside the mount prefix went upstream");
  *t += m;
  *n -= m;
}

static void check_same_request(const ref_msg *up, const ref_msg *client) {
  if (up->method != client->method) ph_fail(R.e, "the method upstream differs from the client's");
  const char *t, *ut = tg_head_str(&up->head, up->head.target);
  size_t n, un = up->head.target.len;
  expected_target(client, &t, &n);
  int root = n == 0 || t[0] == '?';
  int same = root ? (un == 1 && ut[0] == '/') || (un == n + 1 && ut[0] == '/' && memcmp(ut + 1, t, n) == 0)
                  : un == n && memcmp(ut, t, n) == 0;
  if (root && FUZZ_MOUNT_QUERY && n && !(un == n + 1 && memcmp(ut + 1, t, n) == 0)) same = 0;
  if (!same) ph_fail(R.e, "the target upstream differs from the client's");
  if (up->body.len != client->body.len || (up->body.len && memcmp(up->body.data, client->body.data, up->body.len)))
    ph_fail(R.e, "the body upstream differs from the client's (%zu vs %zu bytes)", up->body.len, client->body.len);
}

/* --- the run's checks --------------------------------------------------------- */

static void check_upstreams(const ref_stream *client, ref_stream *ups) {
  for (unsigned i = 0; i < R.e->nups; i++) {
    const tg_buf *b = &R.e->ups[i]->in;
    ref_parse(&ups[i], HTTP_REQUEST, b->data, b->len, 0, NULL, NULL);
    if (ups[i].error) ph_fail(R.e, "upstream %u received bytes a strict reader refuses: %s", i, ups[i].reason);
  }
  for (unsigned g = 0; g < R.norder; g++) {
    const ref_stream *s = &ups[R.order_conn[g]];
    const ref_msg *up = &s->msgs[R.order_idx[g]];
    if (R.order_idx[g] >= s->n || !up->complete) ph_fail(R.e, "the mock and the strict reader disagree");
    if (g >= client->n || !client->msgs[g].complete)
      ph_fail(R.e, "request %u went upstream but the client never sent it complete (desync)", g);
    check_upstream_request(up, &client->msgs[g]);
    check_connection_listed(up, &client->msgs[g]);
    check_same_request(up, &client->msgs[g]);
  }
}

static int was_head(void *ctx, unsigned i) {
  const ref_stream *client = ctx;
  /* a head tollgate refuses as malformed is not a HEAD request to it */
  const ref_msg *m = &client->msgs[i];
  return i < client->n && m->head_done && !m->head_bad && m->method == HTTP_HEAD;
}

static void check_client(ref_stream *client) {
  const tg_buf *in = &R.e->client->in;
  ref_stream *s = calloc(1, sizeof *s);
  if (!s) abort();
  ref_parse(s, HTTP_RESPONSE, in->data, in->len, R.e->client->eof, was_head, client);
  if (s->error || s->upgraded) ph_fail(R.e, "the client received bytes a strict reader refuses: %s", s->reason);
  unsigned finals = 0, mock = 0;
  int last_status = 0;
  for (unsigned i = 0; i < s->n; i++) {
    const ref_msg *m = &s->msgs[i];
    if (m->status >= 100 && m->status < 200) continue;
    finals++;
    last_status = m->status;
    size_t n;
    const char *v = value_of(m, "x-mock", &n);
    if (!v) continue;
    if ((unsigned)atoi(v) != mock) ph_fail(R.e, "the client got the mock's answer %d where %u was due", atoi(v), mock);
    mock++;
  }
  /* one more is the refusal of bytes no strict reader takes for a request
   * (llhttp skips stray CR/LF between requests; tollgate refuses them) */
  if (finals > client->n + 1 || (finals == client->n + 1 && last_status < 400))
    ph_fail(R.e, "the client got %u responses to %u requests", finals, client->n);
  /* in a stall run a 2 ms timeout may beat an answer: fewer is fine there */
  if (mock != R.answers && !(R.o.stall && mock < R.answers))
    ph_fail(R.e, "the mock answered %u requests, the client got %u of them", R.answers, mock);
  ref_stream_free(s);
  free(s);
}

static void check_run(void) {
  ref_stream *client = calloc(1, sizeof *client), *ups = calloc(PH_MAX_UPS, sizeof *ups);
  if (!client || !ups) abort();
  const tg_buf *out = &R.e->client->out;
  client->lenient_leading = 1;
  ref_parse(client, HTTP_REQUEST, out->data, out->len, 0, NULL, NULL);
  check_upstreams(client, ups);
  check_client(client);
  for (unsigned i = 0; i < PH_MAX_UPS; i++) ref_stream_free(&ups[i]);
  ref_stream_free(client);
  free(ups);
  free(client);
}

static const size_t pieces[8] = {0, 1, 2, 5, 16, 64, 512, 0};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  memset(&R, 0, sizeof R);
  R.e = ph_env_get();
  uint8_t v0 = data[0], v1 = data[1];
  R.piece = pieces[v0 & 7];
  R.chunked = (v0 >> 3) & 1;
  R.close = (v0 >> 4) & 1;
  R.o.mount = (v0 & 0x20) ? "/m" : "";
  R.o.forward_credentials = R.o.preserve_host = (v0 >> 6) & 1;
  R.o.stall = (v0 & 0x80) && (v1 & 3) == 3;
  R.interim = (v1 >> 2) & 1;
  ph_hooks hooks = {.up_accept = mock_accept, .up_data = mock_data, .up_free = mock_free};
  ph_run_begin(R.e, &R.o, &hooks, &R);
  ph_queue(R.e->client, (const char *)data + 2, size - 2, R.piece);
  if (ph_run_end(R.e, &R.o) < 0) ph_fail(R.e, "tollgate kept a connection or a handle after the run");
  check_run();
  ph_run_free(R.e);
  return 0;
}
