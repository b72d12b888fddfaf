/* The HTTP/2 session (src/h2/h2-session.c), driven in memory: a client
 * nghttp2 session, or hand-built frames, exchanging bytes with ours. */
#include <nghttp2/nghttp2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tg_test.h"
#include "tollgate/h2-session.h"

/* --- the layer above, as a test sees it ------------------------------- */

typedef struct up_log {
  int opens, body_ends, closes, writes_fail;
  uint32_t last_close_error;
  tg_h2_stream *last;        /* the last stream opened */
  char path[64], host[64];   /* of the last stream opened */
  size_t body;               /* request body bytes handed up */
  const char *resp;          /* response body the read callback gives */
  size_t resp_len, resp_off; /* how much it may give now (resp_ready) */
  size_t resp_ready;
  tg_buf out; /* what the session wrote */
} up_log;

static int up_open(void *ctx, tg_h2_stream *st, int end_stream) {
  up_log *u = ctx;
  (void)end_stream;
  u->opens++;
  u->last = st;
  const tg_head *h = &st->req.head;
  snprintf(u->path, sizeof u->path, "%.*s", (int)h->target.len, tg_head_str(h, h->target));
  tg_head_value_copy(h, "host", u->host, sizeof u->host);
  return 0;
}

static int up_data(void *ctx, tg_h2_stream *st, const uint8_t *p, size_t n) {
  up_log *u = ctx;
  (void)st, (void)p;
  u->body += n;
  return 0;
}

static void up_body_end(void *ctx, tg_h2_stream *st) {
  (void)st;
  ((up_log *)ctx)->body_ends++;
}

static void up_close(void *ctx, tg_h2_stream *st, uint32_t error) {
  up_log *u = ctx;
  u->closes++;
  u->last_close_error = error;
  if (u->last == st) u->last = NULL;
}

static long up_read(void *ctx, tg_h2_stream *st, uint8_t *buf, size_t n, int *eof) {
  up_log *u = ctx;
  (void)st;
  size_t avail = u->resp_ready - u->resp_off;
  if (avail == 0 && u->resp_off < u->resp_len) return TG_H2_DEFER;
  if (avail > n) avail = n;
  memcpy(buf, u->resp + u->resp_off, avail);
  u->resp_off += avail;
  *eof = u->resp_off == u->resp_len;
  return (long)avail;
}

static int up_write(void *ctx, const uint8_t *p, size_t n) { return tg_buf_append(&((up_log *)ctx)->out, p, n); }

static const tg_h2_up test_up = {up_open, up_data, up_body_end, up_close, up_read, up_write};

/* --- hand-built frames ------------------------------------------------- */

static void frame(tg_buf *b, uint8_t type, uint8_t flags, uint32_t sid, const void *payload, size_t n) {
  uint8_t hd[9] = {(uint8_t)(n >> 16),   (uint8_t)(n >> 8),    (uint8_t)n,          type,        flags,
                   (uint8_t)(sid >> 24), (uint8_t)(sid >> 16), (uint8_t)(sid >> 8), (uint8_t)sid};
  tg_buf_append(b, hd, 9);
  tg_buf_append(b, payload, n);
}

/* The client preface, an empty SETTINGS and the ACK of ours. */
static void preface(tg_buf *b) {
  tg_buf_append(b, NGHTTP2_CLIENT_MAGIC, NGHTTP2_CLIENT_MAGIC_LEN);
  frame(b, NGHTTP2_SETTINGS, 0, 0, NULL, 0);
  frame(b, NGHTTP2_SETTINGS, NGHTTP2_FLAG_ACK, 0, NULL, 0);
}

/* GET / with :authority a, from HPACK's static table only (no dynamic
 * table state to keep in step). */
static const uint8_t GET_A[] = {0x82, 0x84, 0x86, 0x01, 0x01, 'a'};

static void headers(tg_buf *b, uint32_t sid, uint8_t flags, const uint8_t *block, size_t n) {
  frame(b, NGHTTP2_HEADERS, flags, sid, block, n);
}

/* What the server sent, frame by frame: the error code of the first
 * RST_STREAM of stream sid (or of the GOAWAY with sid 0); -1 when none. */
static long error_code_of(const tg_buf *out, uint8_t type, uint32_t sid) {
  size_t i = 0;
  while (i + 9 <= out->len) {
    const uint8_t *p = (const uint8_t *)out->data + i;
    size_t len = (size_t)p[0] << 16 | (size_t)p[1] << 8 | p[2];
    uint32_t id = ((uint32_t)p[5] << 24 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 8 | p[8]) & 0x7fffffff;
    const uint8_t *pl = p + 9 + (type == NGHTTP2_GOAWAY ? 4 : 0);
    if (p[3] == type && i + 9 + len <= out->len && (type == NGHTTP2_GOAWAY || id == sid))
      return (long)((uint32_t)pl[0] << 24 | (uint32_t)pl[1] << 16 | (uint32_t)pl[2] << 8 | pl[3]);
    i += 9 + len;
  }
  return -1;
}

static int count_frames(const tg_buf *out, uint8_t type) {
  int n = 0;
  for (size_t i = 0; i + 9 <= out->len; i += 9 + ((size_t)(uint8_t)out->data[i] << 16 |
                                                  (size_t)(uint8_t)out->data[i + 1] << 8 | (uint8_t)out->data[i + 2]))
    n += (uint8_t)out->data[i + 3] == type;
  return n;
}

static tg_h2_session *server(up_log *u, tg_h2_counters *c, const tg_h2_settings *set) {
  tg_h2_settings d;
  tg_h2_settings_default(&d);
  tg_buf out = u->out; /* u starts zeroed; its buffer is kept from run to run */
  memset(u, 0, sizeof *u);
  u->out = out;
  u->out.len = 0;
  memset(c, 0, sizeof *c);
  return tg_h2_session_new(set ? set : &d, &test_up, u, c);
}

/* Feeds the raw bytes in b to s and collects what it sends. Returns -1
 * when the connection is to end, as the connection will see it. */
static int feed_raw(tg_h2_session *s, tg_buf *b, uint64_t now) {
  int rc = tg_h2_session_recv(s, (const uint8_t *)b->data, b->len, now);
  if (tg_h2_session_send(s) < 0) rc = -1;
  b->len = 0;
  return rc < 0 || tg_h2_session_done(s) ? -1 : 0;
}

/* Frees a test's session and buffers. */
static void finish(tg_h2_session *s, tg_buf *b, up_log *u) {
  tg_h2_session_free(s);
  tg_buf_free(b);
  tg_buf_free(&u->out);
}

static void test_h2_session_rapid_reset(void) {
  up_log u = {0};
  tg_h2_counters c;
  tg_h2_session *s = server(&u, &c, NULL);
  TG_CHECK(s);
  tg_buf b = {0};
  preface(&b);
  /* 150 streams opened and cancelled at once, in the same second */
  uint8_t cancel[4] = {0, 0, 0, NGHTTP2_CANCEL};
  for (uint32_t i = 0; i < 150; i++) {
    headers(&b, 1 + 2 * i, NGHTTP2_FLAG_END_HEADERS, GET_A, sizeof GET_A);
    frame(&b, NGHTTP2_RST_STREAM, 0, 1 + 2 * i, cancel, 4);
  }
  int rc = feed_raw(s, &b, 5000);
  TG_CHECK(rc == -1);
  TG_CHECK(c.rapid_reset == 1 && c.resets == 101);
  TG_CHECK(error_code_of(&u.out, NGHTTP2_GOAWAY, 0) == NGHTTP2_ENHANCE_YOUR_CALM);
  TG_CHECK(u.opens == 101 && u.closes == 101); /* nothing opened past the GOAWAY */
  TG_CHECK(tg_h2_session_done(s));
  tg_h2_session_free(s);
  /* under the rate, spread over seconds: served */
  s = server(&u, &c, NULL);
  preface(&b);
  TG_CHECK(feed_raw(s, &b, 0) == 0);
  for (uint32_t i = 0; i < 150; i++) {
    headers(&b, 1 + 2 * i, NGHTTP2_FLAG_END_HEADERS, GET_A, sizeof GET_A);
    frame(&b, NGHTTP2_RST_STREAM, 0, 1 + 2 * i, cancel, 4);
    TG_CHECK(feed_raw(s, &b, 1000 * (i / 50)) == 0);
  }
  TG_CHECK(c.rapid_reset == 0 && u.opens == 150 && error_code_of(&u.out, NGHTTP2_GOAWAY, 0) == -1);
  finish(s, &b, &u);
}

static void test_h2_session_continuation_flood(void) {
  up_log u = {0};
  tg_h2_counters c;
  tg_h2_session *s = server(&u, &c, NULL);
  tg_buf b = {0};
  preface(&b);
  headers(&b, 1, 0, GET_A, sizeof GET_A); /* no END_HEADERS */
  static const uint8_t field[] = {0x00, 0x03, 'x', '-', 'a', 0x01, '1'};
  for (int i = 0; i < 1000; i++) frame(&b, NGHTTP2_CONTINUATION, 0, 1, field, sizeof field);
  TG_CHECK(feed_raw(s, &b, 0) == -1);
  TG_CHECK(c.continuation_flood == 1 && u.opens == 0);
  TG_CHECK(error_code_of(&u.out, NGHTTP2_GOAWAY, 0) == NGHTTP2_ENHANCE_YOUR_CALM);
  tg_h2_session_free(s);
  /* a block in 8 CONTINUATION frames is a request */
  s = server(&u, &c, NULL);
  preface(&b);
  headers(&b, 1, 0, GET_A, sizeof GET_A);
  for (int i = 0; i < 8; i++)
    frame(&b, NGHTTP2_CONTINUATION, i == 7 ? NGHTTP2_FLAG_END_HEADERS : 0, 1, field, sizeof field);
  TG_CHECK(feed_raw(s, &b, 0) == 0);
  TG_CHECK(u.opens == 1 && c.continuation_flood == 0);
  finish(s, &b, &u);
}

static void test_h2_session_ping_settings_empty_data_floods(void) {
  up_log u = {0};
  tg_h2_counters c;
  uint8_t ping[8] = {0};
  for (int kind = 0; kind < 3; kind++) {
    tg_h2_session *s = server(&u, &c, NULL);
    tg_buf b = {0};
    preface(&b);
    if (kind == 2) headers(&b, 1, NGHTTP2_FLAG_END_HEADERS, GET_A, sizeof GET_A); /* a POST-like open stream */
    for (int i = 0; i < 200; i++) {
      if (kind == 0) frame(&b, NGHTTP2_PING, 0, 0, ping, 8);
      else if (kind == 1) frame(&b, NGHTTP2_SETTINGS, 0, 0, NULL, 0);
      else frame(&b, NGHTTP2_DATA, 0, 1, NULL, 0);
    }
    TG_CHECK(feed_raw(s, &b, 0) == -1);
    TG_CHECK(error_code_of(&u.out, NGHTTP2_GOAWAY, 0) == NGHTTP2_ENHANCE_YOUR_CALM);
    TG_CHECK(kind != 0 || (c.ping_flood == 1 && count_frames(&u.out, NGHTTP2_PING) <= 51));
    TG_CHECK(kind != 1 || c.settings_flood == 1);
    TG_CHECK(kind != 2 || (c.empty_data_flood == 1 && u.opens == 1));
    tg_h2_session_free(s);
    TG_CHECK(kind != 2 || u.closes == 1); /* freed with its stream open: closed once */
    tg_buf_free(&b);
    tg_buf_free(&u.out);
  }
  /* PINGs at the limit each second are answered */
  tg_h2_session *s = server(&u, &c, NULL);
  tg_buf b = {0};
  preface(&b);
  for (int sec = 0; sec < 3; sec++) {
    for (int i = 0; i < 50; i++) frame(&b, NGHTTP2_PING, 0, 0, ping, 8);
    TG_CHECK(feed_raw(s, &b, 1000 * (uint64_t)sec) == 0);
  }
  TG_CHECK(c.ping_flood == 0 && count_frames(&u.out, NGHTTP2_PING) == 150);
  finish(s, &b, &u);
}

/* The client preface and SETTINGS, without the ACK of ours. */
static void preface_unacked(tg_buf *b) {
  tg_buf_append(b, NGHTTP2_CLIENT_MAGIC, NGHTTP2_CLIENT_MAGIC_LEN);
  frame(b, NGHTTP2_SETTINGS, 0, 0, NULL, 0);
}

static void test_h2_session_max_concurrent_streams(void) {
  up_log u = {0};
  tg_h2_counters c;
  tg_h2_settings set;
  tg_h2_settings_default(&set);
  set.max_concurrent_streams = 2;
  /* before the client has acknowledged our SETTINGS: REFUSED_STREAM, the
   * connection goes on */
  tg_h2_session *s = server(&u, &c, &set);
  tg_buf b = {0};
  preface_unacked(&b);
  for (uint32_t i = 0; i < 3; i++)
    headers(&b, 1 + 2 * i, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, GET_A, sizeof GET_A);
  TG_CHECK(feed_raw(s, &b, 0) == 0);
  TG_CHECK(u.opens == 2 && tg_h2_session_streams(s) == 2);
  TG_CHECK(error_code_of(&u.out, NGHTTP2_RST_STREAM, 5) == NGHTTP2_REFUSED_STREAM && c.refused == 1);
  TG_CHECK(error_code_of(&u.out, NGHTTP2_RST_STREAM, 1) == -1 && error_code_of(&u.out, NGHTTP2_GOAWAY, 0) == -1);
  /* one answered and gone: room for the next */
  TG_CHECK(tg_h2_respond(u.last, 204, NULL, 0) == 0 && tg_h2_session_send(s) == 0);
  TG_CHECK(tg_h2_session_streams(s) == 1);
  frame(&b, NGHTTP2_SETTINGS, NGHTTP2_FLAG_ACK, 0, NULL, 0);
  headers(&b, 7, NGHTTP2_FLAG_END_HEADERS, GET_A, sizeof GET_A);
  TG_CHECK(feed_raw(s, &b, 0) == 0);
  TG_CHECK(u.opens == 3 && error_code_of(&u.out, NGHTTP2_RST_STREAM, 7) == -1);
  /* past the limit it acknowledged: nghttp2 1.52 ends the connection */
  headers(&b, 9, NGHTTP2_FLAG_END_HEADERS, GET_A, sizeof GET_A);
  TG_CHECK(feed_raw(s, &b, 0) == -1);
  TG_CHECK(u.opens == 3 && error_code_of(&u.out, NGHTTP2_GOAWAY, 0) == NGHTTP2_PROTOCOL_ERROR);
  TG_CHECK(c.protocol_error == 1 && c.refused == 1);
  tg_h2_session_free(s);
  TG_CHECK(u.closes == 3);
  tg_buf_free(&b);
  tg_buf_free(&u.out);
}

static void test_h2_session_bad_header_block(void) {
  up_log u = {0};
  tg_h2_counters c;
  tg_h2_session *s = server(&u, &c, NULL);
  tg_buf b = {0};
  preface(&b);
  /* stream 1: host other than :authority (tollgate's rule); stream 3: a
   * connection-specific field (nghttp2's rule too); stream 5: fine */
  static const uint8_t other_host[] = {0x82, 0x84, 0x86, 0x01, 0x01, 'a', 0x00, 0x04, 'h', 'o', 's', 't', 0x01, 'b'};
  static const uint8_t conn[] = {0x82, 0x84, 0x86, 0x01, 0x01, 'a', 0x00, 0x0a, 'c', 'o', 'n', 'n',
                                 'e',  'c',  't',  'i',  'o',  'n', 0x05, 'c',  'l', 'o', 's', 'e'};
  headers(&b, 1, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, other_host, sizeof other_host);
  headers(&b, 3, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, conn, sizeof conn);
  headers(&b, 5, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, GET_A, sizeof GET_A);
  TG_CHECK(feed_raw(s, &b, 0) == 0);
  TG_CHECK(error_code_of(&u.out, NGHTTP2_RST_STREAM, 1) == NGHTTP2_PROTOCOL_ERROR);
  TG_CHECK(error_code_of(&u.out, NGHTTP2_RST_STREAM, 3) == NGHTTP2_PROTOCOL_ERROR);
  TG_CHECK(error_code_of(&u.out, NGHTTP2_GOAWAY, 0) == -1);
  TG_CHECK(u.opens == 1 && u.last && u.last->id == 5 && c.malformed >= 1);
  TG_CHECK(tg_h2_respond(u.last, 204, NULL, 0) == 0 && tg_h2_session_send(s) == 0);
  TG_CHECK(count_frames(&u.out, NGHTTP2_HEADERS) == 1 && u.closes == 1 && u.last_close_error == 0);
  finish(s, &b, &u);
}

/* --- a client nghttp2 session --------------------------------------------- */

typedef struct client {
  nghttp2_session *ng;
  tg_buf out;     /* client to server */
  tg_buf body;    /* response body received */
  char status[8]; /* :status received */
  int content_type, connection_field, closed;
  uint32_t close_error;
  size_t req_left; /* request body still to send */
} client;

static ssize_t cl_send(nghttp2_session *ng, const uint8_t *p, size_t n, int flags, void *ud) {
  (void)ng, (void)flags;
  return tg_buf_append(&((client *)ud)->out, p, n) < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : (ssize_t)n;
}

static int cl_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *ud) {
  client *cl = ud;
  (void)ng, (void)f, (void)flags;
  if (nlen == 7 && memcmp(name, ":status", 7) == 0) snprintf(cl->status, sizeof cl->status, "%.*s", (int)vlen, value);
  if (nlen == 12 && memcmp(name, "content-type", 12) == 0) cl->content_type = 1;
  if (nlen == 10 && memcmp(name, "connection", 10) == 0) cl->connection_field = 1;
  return 0;
}

static int cl_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *p, size_t n, void *ud) {
  (void)ng, (void)flags, (void)id;
  return tg_buf_append(&((client *)ud)->body, p, n) < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

static int cl_close(nghttp2_session *ng, int32_t id, uint32_t error, void *ud) {
  client *cl = ud;
  (void)ng, (void)id;
  cl->closed = 1;
  cl->close_error = error;
  return 0;
}

static ssize_t cl_read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t n, uint32_t *flags,
                            nghttp2_data_source *src, void *ud) {
  client *cl = ud;
  (void)ng, (void)id, (void)src;
  if (n > cl->req_left) n = cl->req_left;
  memset(buf, 'b', n);
  cl->req_left -= n;
  if (cl->req_left == 0) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

static int client_new(client *cl) {
  memset(cl, 0, sizeof *cl);
  nghttp2_session_callbacks *cb;
  if (nghttp2_session_callbacks_new(&cb) != 0) return -1;
  nghttp2_session_callbacks_set_send_callback(cb, cl_send);
  nghttp2_session_callbacks_set_on_header_callback(cb, cl_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, cl_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, cl_close);
  int rc = nghttp2_session_client_new(&cl->ng, cb, cl);
  nghttp2_session_callbacks_del(cb);
  return rc == 0 ? nghttp2_submit_settings(cl->ng, NGHTTP2_FLAG_NONE, NULL, 0) : -1;
}

/* Frees the client, the server session and the test's buffers. */
static void client_free(client *cl, tg_h2_session *s, up_log *u) {
  nghttp2_session_del(cl->ng);
  tg_buf_free(&cl->out);
  tg_buf_free(&cl->body);
  tg_h2_session_free(s);
  tg_buf_free(&u->out);
}

/* Moves bytes both ways until neither side has any. */
static int pump(client *cl, tg_h2_session *s, up_log *u) {
  for (int round = 0; round < 1000; round++) {
    if (nghttp2_session_send(cl->ng) != 0) return -1;
    size_t moved = cl->out.len + u->out.len;
    if (cl->out.len && tg_h2_session_recv(s, (const uint8_t *)cl->out.data, cl->out.len, 0) < 0) return -1;
    cl->out.len = 0;
    if (tg_h2_session_send(s) < 0) return -1;
    if (u->out.len && nghttp2_session_mem_recv(cl->ng, (const uint8_t *)u->out.data, u->out.len) < 0) return -1;
    u->out.len = 0;
    if (moved == 0 && !nghttp2_session_want_write(cl->ng)) return 0;
  }
  return -1;
}

#define NV(n, v)                                                                                                       \
  { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, NGHTTP2_NV_FLAG_NONE }

static void test_h2_session_request_and_response(void) {
  up_log u = {0};
  tg_h2_counters c;
  client cl;
  tg_h2_session *s = server(&u, &c, NULL);
  TG_CHECK(s && client_new(&cl) == 0);
  nghttp2_nv nv[] = {NV(":method", "POST"),
                     NV(":scheme", "https"),
                     NV(":path", "/api/chat"),
                     NV(":authority", "example.com"),
                     NV("cookie", "a=1"),
                     NV("cookie", "b=2"),
                     NV("content-type", "application/json")};
  cl.req_left = 100000;
  nghttp2_data_provider dp = {.read_callback = cl_read_body};
  int32_t id = nghttp2_submit_request(cl.ng, NULL, nv, sizeof nv / sizeof nv[0], &dp, NULL);
  TG_CHECK(id == 1 && pump(&cl, s, &u) == 0);
  /* the request opened, translated */
  TG_CHECK(u.opens == 1 && u.last && u.last->id == 1);
  TG_CHECK_STR(u.path, "/api/chat");
  TG_CHECK_STR(u.host, "example.com");
  char cookie[32];
  TG_CHECK_STR(tg_head_value_copy(&u.last->req.head, "cookie", cookie, sizeof cookie), "a=1; b=2");
  TG_CHECK(u.last->req.method == 3 /* POST */ && c.streams == 1);
  /* the body stops at the stream's window: nothing consumed yet */
  TG_CHECK(u.body == 65535 && u.body_ends == 0);
  TG_CHECK(nghttp2_session_get_stream_remote_window_size(cl.ng, id) == 0);
  TG_CHECK(pump(&cl, s, &u) == 0 && u.body == 65535);
  /* forwarded: the window reopens and the rest comes */
  TG_CHECK(tg_h2_consume(u.last, 65535) == 0 && pump(&cl, s, &u) == 0);
  TG_CHECK(u.body == 100000 && u.body_ends == 1);
  /* the response: head, part of the body, deferred, then the rest */
  tg_head h = {0};
  TG_CHECK(tg_head_add_name(&h, "Content-Type", 12, 1024) == 0 && tg_head_add_value(&h, "text/plain", 10, 1024) == 0);
  TG_CHECK(tg_head_add_name(&h, "Connection", 10, 1024) == 0 && tg_head_add_value(&h, "keep-alive", 10, 1024) == 0);
  u.resp = "hello world";
  u.resp_len = 11;
  u.resp_ready = 5;
  TG_CHECK(tg_h2_respond(u.last, 200, &h, 1) == 0 && pump(&cl, s, &u) == 0);
  TG_CHECK_STR(cl.status, "200");
  TG_CHECK(cl.content_type == 1 && cl.connection_field == 0);
  TG_CHECK(cl.body.len == 5 && memcmp(cl.body.data, "hello", 5) == 0 && !cl.closed && u.closes == 0);
  TG_CHECK(pump(&cl, s, &u) == 0 && cl.body.len == 5); /* still deferred */
  u.resp_ready = 11;
  TG_CHECK(tg_h2_resume(u.last) == 0 && pump(&cl, s, &u) == 0);
  TG_CHECK(cl.body.len == 11 && memcmp(cl.body.data, "hello world", 11) == 0);
  TG_CHECK(cl.closed && cl.close_error == 0 && u.closes == 1 && u.last_close_error == 0);
  TG_CHECK(tg_h2_session_streams(s) == 0);
  /* drain: GOAWAY NO_ERROR, then nothing more to do */
  TG_CHECK(tg_h2_drain(s) == 0 && pump(&cl, s, &u) == 0);
  TG_CHECK(nghttp2_session_get_remote_settings(cl.ng, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS) == 128);
  TG_CHECK(nghttp2_session_get_remote_settings(cl.ng, NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) == 0);
  tg_head_free(&h);
  client_free(&cl, s, &u);
}

/* A client that cancels a stream whose body the upstream has not taken:
 * the layer above hears of it, and the connection's window gets the
 * stream's bytes back (else a few such streams would stall it). */
static void test_h2_session_cancel_returns_window(void) {
  up_log u = {0};
  tg_h2_counters c;
  client cl;
  tg_h2_session *s = server(&u, &c, NULL);
  TG_CHECK(s && client_new(&cl) == 0);
  nghttp2_nv nv[] = {NV(":method", "POST"), NV(":scheme", "http"), NV(":path", "/api/generate"), NV(":authority", "a")};
  nghttp2_data_provider dp = {.read_callback = cl_read_body};
  int32_t ids[20];
  for (int i = 0; i < 20; i++) {
    cl.req_left = 60000;
    ids[i] = nghttp2_submit_request(cl.ng, NULL, nv, 4, &dp, NULL);
    TG_CHECK(ids[i] > 0 && pump(&cl, s, &u) == 0);
    TG_CHECK(u.opens == i + 1 && u.body == 60000 * (size_t)(i + 1));
    TG_CHECK(nghttp2_submit_rst_stream(cl.ng, NGHTTP2_FLAG_NONE, ids[i], NGHTTP2_CANCEL) == 0);
    TG_CHECK(pump(&cl, s, &u) == 0 && u.closes == i + 1 && u.last_close_error == NGHTTP2_CANCEL);
  }
  /* 1.2 MB went through a 1 MiB connection window never consumed by hand */
  TG_CHECK(nghttp2_session_get_remote_window_size(cl.ng) > 65535);
  client_free(&cl, s, &u);
}

/* HPACK: a table size update past the SETTINGS_HEADER_TABLE_SIZE we
 * sent is a connection error; a field indexed again and again (an HPACK
 * bomb: a few bytes on the wire, much decoded) is counted at its decoded
 * size against max_header_size, and only its stream is reset. */
static void test_h2_session_hpack_limits(void) {
  up_log u = {0};
  tg_h2_counters c;
  tg_h2_session *s = server(&u, &c, NULL);
  tg_buf b = {0};
  preface(&b);
  TG_CHECK(feed_raw(s, &b, 0) == 0);
  uint8_t bomb[16 + 4000 + 20];
  size_t n = 0;
  memcpy(bomb, GET_A, sizeof GET_A);
  n = sizeof GET_A;
  bomb[n++] = 0x40; /* literal with incremental indexing, new name */
  bomb[n++] = 3;
  memcpy(bomb + n, "x-b", 3);
  n += 3;
  bomb[n++] = 0x7f; /* value length 4000 = 127 + 3873 */
  bomb[n++] = 0x80 | (3873 & 0x7f);
  bomb[n++] = 3873 >> 7;
  memset(bomb + n, 'v', 4000);
  n += 4000;
  for (int i = 0; i < 10; i++) bomb[n++] = 0x80 | 62; /* the field again, by index */
  headers(&b, 1, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, bomb, n);
  headers(&b, 3, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, GET_A, sizeof GET_A);
  TG_CHECK(feed_raw(s, &b, 0) == 0);
  TG_CHECK(error_code_of(&u.out, NGHTTP2_RST_STREAM, 1) == NGHTTP2_PROTOCOL_ERROR && c.malformed == 1);
  TG_CHECK(u.opens == 1 && u.last && u.last->id == 3 && error_code_of(&u.out, NGHTTP2_GOAWAY, 0) == -1);
  static const uint8_t grow[] = {0x3f, 0xe1, 0x3f}; /* table size update to 8192 */
  headers(&b, 5, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, grow, sizeof grow);
  TG_CHECK(feed_raw(s, &b, 0) == -1);
  TG_CHECK(error_code_of(&u.out, NGHTTP2_GOAWAY, 0) == NGHTTP2_COMPRESSION_ERROR && c.protocol_error == 1);
  finish(s, &b, &u);
}

/* Drain: GOAWAY NO_ERROR naming the last stream; that stream still gets
 * its answer, a stream opened after it is not started. A client that
 * keeps its window shut leaves the stream's send window at 0. */
static void test_h2_session_drain_and_shut_window(void) {
  up_log u = {0};
  tg_h2_counters c;
  tg_h2_session *s = server(&u, &c, NULL);
  tg_buf b = {0};
  preface(&b);
  uint8_t zero_window[6] = {0, NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 0, 0, 0, 0};
  frame(&b, NGHTTP2_SETTINGS, 0, 0, zero_window, sizeof zero_window);
  headers(&b, 1, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, GET_A, sizeof GET_A);
  TG_CHECK(feed_raw(s, &b, 0) == 0 && u.opens == 1 && u.last);
  tg_h2_stream *st = u.last;
  TG_CHECK(tg_h2_send_window(st) == 0);
  u.resp = "hello";
  u.resp_len = u.resp_ready = 5;
  TG_CHECK(tg_h2_respond(st, 200, NULL, 1) == 0 && tg_h2_drain(s) == 0 && tg_h2_session_send(s) == 0);
  TG_CHECK(error_code_of(&u.out, NGHTTP2_GOAWAY, 0) == NGHTTP2_NO_ERROR);
  TG_CHECK(count_frames(&u.out, NGHTTP2_HEADERS) == 1 && count_frames(&u.out, NGHTTP2_DATA) == 0);
  headers(&b, 3, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, GET_A, sizeof GET_A);
  uint8_t increment[4] = {0, 0, 0x10, 0}; /* stream 1: +4096 */
  frame(&b, NGHTTP2_WINDOW_UPDATE, 0, 1, increment, 4);
  TG_CHECK(feed_raw(s, &b, 0) == -1); /* the last stream answered: the connection may close */
  TG_CHECK(u.opens == 1 && count_frames(&u.out, NGHTTP2_DATA) == 1 && u.closes == 1 && u.last_close_error == 0);
  finish(s, &b, &u);
}

void tg_suite_h2_session(void) {
  TG_RUN(test_h2_session_drain_and_shut_window);
  TG_RUN(test_h2_session_hpack_limits);
  TG_RUN(test_h2_session_request_and_response);
  TG_RUN(test_h2_session_cancel_returns_window);
  TG_RUN(test_h2_session_rapid_reset);
  TG_RUN(test_h2_session_continuation_flood);
  TG_RUN(test_h2_session_ping_settings_empty_data_floods);
  TG_RUN(test_h2_session_max_concurrent_streams);
  TG_RUN(test_h2_session_bad_header_block);
}
