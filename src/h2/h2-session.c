/* One HTTP/2 connection toward a client over libnghttp2
 * (include/tollgate/h2-session.h). */
#include "tollgate/h2-session.h"

#include <nghttp2/nghttp2.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Frames of one kind in the current second. */
typedef struct rate_window {
  uint64_t second;
  uint32_t n;
} rate_window;

struct tg_h2_session {
  nghttp2_session *ng;
  tg_h2_settings set;
  const tg_h2_up *up;
  void *ctx;
  tg_h2_counters *count;
  tg_h2_stream *streams;
  size_t nstreams;
  uint64_t now_ms;
  rate_window resets, pings, settings, empty_data;
  uint32_t continuations; /* after the current HEADERS */
  uint8_t calm;           /* a GOAWAY ENHANCE_YOUR_CALM is queued */
};

void tg_h2_settings_default(tg_h2_settings *s) {
  *s = (tg_h2_settings){
      .max_concurrent_streams = 128,
      .initial_window = 65535,
      .connection_window = 1u << 20,
      .header_table_size = 4096,
      .deflate_table_size = 4096,
      .max_header_list = 16u << 10,
      .max_continuations = 8,
      .resets_per_second = 100,
      .pings_per_second = 50,
      .settings_per_second = 20,
      .empty_data_per_second = 100,
  };
}

/* One more frame at now; 1 when the second's count passes limit. */
static int rate_over(rate_window *w, uint64_t now_ms, uint32_t limit) {
  uint64_t sec = now_ms / 1000;
  if (w->second != sec) w->second = sec, w->n = 0;
  return ++w->n > limit;
}

/* Ends the connection: GOAWAY ENHANCE_YOUR_CALM, nothing more read. */
/* One more on a counter of the worker's (the metrics read it from
 * another thread: a relaxed atomic store, no lock). */
static void bump(uint64_t *counter) {
  __atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

static void calm(tg_h2_session *s, uint64_t *counter) {
  if (s->calm) return;
  s->calm = 1;
  bump(counter);
  nghttp2_session_terminate_session(s->ng, NGHTTP2_ENHANCE_YOUR_CALM);
}

static tg_h2_stream *stream_of(tg_h2_session *s, int32_t id) { return nghttp2_session_get_stream_user_data(s->ng, id); }

static void stream_unlink(tg_h2_session *s, tg_h2_stream *st) {
  for (tg_h2_stream **p = &s->streams; *p; p = &(*p)->next)
    if (*p == st) {
      *p = st->next;
      s->nstreams--;
      return;
    }
}

static void stream_free(tg_h2_stream *st) {
  tg_h2_req_free(&st->req);
  free(st);
}

/* A request refused by the translation: RFC 9113 8.1.1, a malformed
 * request is a stream error of type PROTOCOL_ERROR. */
static void refuse_stream(tg_h2_session *s, tg_h2_stream *st) {
  bump(&s->count->malformed);
  nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_PROTOCOL_ERROR);
}

static int on_begin_frame(nghttp2_session *ng, const nghttp2_frame_hd *hd, void *ud) {
  tg_h2_session *s = ud;
  (void)ng;
  if (s->calm) return 0;
  if (hd->type == NGHTTP2_HEADERS) s->continuations = 0;
  else if (hd->type == NGHTTP2_CONTINUATION && ++s->continuations > s->set.max_continuations)
    calm(s, &s->count->continuation_flood);
  return 0;
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *ud) {
  tg_h2_session *s = ud;
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST || s->calm) return 0;
  tg_h2_stream *st = calloc(1, sizeof *st);
  if (!st) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  st->session = s;
  st->id = f->hd.stream_id;
  tg_h2_req_init(&st->req, s->set.max_header_list);
  if (nghttp2_session_set_stream_user_data(ng, st->id, st) != 0) {
    stream_free(st);
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  st->next = s->streams;
  s->streams = st;
  s->nstreams++;
  return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *ud) {
  tg_h2_session *s = ud;
  (void)flags;
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST || s->calm) return 0;
  tg_h2_stream *st = stream_of(s, f->hd.stream_id);
  /* a refusal keeps nothing more: the rest of the block is only decoded */
  if (st) (void)tg_h2_req_field(&st->req, name, nlen, value, vlen);
  (void)ng;
  return 0;
}

static void body_end(tg_h2_session *s, tg_h2_stream *st) {
  if (tg_h2_req_body_end(&st->req)) refuse_stream(s, st);
  else if (s->up->body_end) s->up->body_end(s->ctx, st);
}

static void headers_done(tg_h2_session *s, tg_h2_stream *st, int end_stream) {
  if (st->req.ended) { /* trailers: dropped, as over HTTP/1 */
    if (end_stream) body_end(s, st);
    return;
  }
  if (tg_h2_req_end(&st->req)) return refuse_stream(s, st);
  bump(&s->count->streams);
  st->opened = 1;
  if (s->up->open(s->ctx, st, end_stream) < 0) {
    nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
    return;
  }
  if (end_stream) body_end(s, st);
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *ud) {
  tg_h2_session *s = ud;
  if (s->calm) return 0;
  tg_h2_stream *st = f->hd.stream_id ? stream_of(s, f->hd.stream_id) : NULL;
  int end_stream = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  switch (f->hd.type) {
  case NGHTTP2_HEADERS:
    if (st) headers_done(s, st, end_stream);
    break;
  case NGHTTP2_DATA:
    if (f->hd.length == 0 && !end_stream && rate_over(&s->empty_data, s->now_ms, s->set.empty_data_per_second))
      calm(s, &s->count->empty_data_flood);
    else if (st && st->opened && end_stream) body_end(s, st);
    break;
  case NGHTTP2_RST_STREAM:
    bump(&s->count->resets);
    if (rate_over(&s->resets, s->now_ms, s->set.resets_per_second)) calm(s, &s->count->rapid_reset);
    break;
  case NGHTTP2_PING:
    if (!(f->hd.flags & NGHTTP2_FLAG_ACK) && rate_over(&s->pings, s->now_ms, s->set.pings_per_second))
      calm(s, &s->count->ping_flood);
    break;
  case NGHTTP2_SETTINGS:
    if (!(f->hd.flags & NGHTTP2_FLAG_ACK) && rate_over(&s->settings, s->now_ms, s->set.settings_per_second))
      calm(s, &s->count->settings_flood);
    break;
  default: break;
  }
  (void)ng;
  return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *p, size_t n, void *ud) {
  tg_h2_session *s = ud;
  tg_h2_stream *st = stream_of(s, id);
  (void)flags;
  if (!st || !st->opened || s->calm || nghttp2_session_get_stream_remote_close(ng, id)) {
    /* nobody will read these: their window reopens at once */
    nghttp2_session_consume(ng, id, n);
    return 0;
  }
  if (tg_h2_req_data(&st->req, n)) {
    nghttp2_session_consume(ng, id, n);
    refuse_stream(s, st);
    return 0;
  }
  st->unconsumed += n;
  if (s->up->data(s->ctx, st, p, n) < 0) nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_INTERNAL_ERROR);
  return 0;
}

static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *f, void *ud) {
  tg_h2_session *s = ud;
  (void)ng;
  /* past max_concurrent_streams before our SETTINGS are acknowledged,
   * nghttp2 refuses the stream (REFUSED_STREAM: the client may retry);
   * after, it ends the connection (PROTOCOL_ERROR), as for any bad frame */
  if (f->hd.type == NGHTTP2_GOAWAY && f->goaway.error_code != NGHTTP2_NO_ERROR && !s->calm)
    bump(&s->count->protocol_error);
  /* resets the client makes us send count too (MadeYouReset) */
  if (f->hd.type == NGHTTP2_RST_STREAM) {
    if (f->rst_stream.error_code == NGHTTP2_REFUSED_STREAM) bump(&s->count->refused);
    bump(&s->count->resets);
    if (rate_over(&s->resets, s->now_ms, s->set.resets_per_second)) calm(s, &s->count->rapid_reset);
  }
  return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t error, void *ud) {
  tg_h2_session *s = ud;
  tg_h2_stream *st = stream_of(s, id);
  if (!st) return 0;
  /* the connection's window gets back what the stream held */
  if (st->unconsumed) nghttp2_session_consume_connection(ng, st->unconsumed);
  nghttp2_session_set_stream_user_data(ng, id, NULL);
  stream_unlink(s, st);
  if (st->opened && s->up->close) s->up->close(s->ctx, st, error);
  stream_free(st);
  return 0;
}

static int set_callbacks(nghttp2_session_callbacks **cb) {
  if (nghttp2_session_callbacks_new(cb) != 0) return -1;
  nghttp2_session_callbacks_set_on_begin_frame_callback(*cb, on_begin_frame);
  nghttp2_session_callbacks_set_on_begin_headers_callback(*cb, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(*cb, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(*cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(*cb, on_data_chunk);
  nghttp2_session_callbacks_set_on_frame_send_callback(*cb, on_frame_send);
  nghttp2_session_callbacks_set_on_stream_close_callback(*cb, on_stream_close);
  return 0;
}

/* nghttp2's own limits: ours come first, nghttp2's stay as a backstop. */
static int set_options(nghttp2_option **opt, const tg_h2_settings *set) {
  if (nghttp2_option_new(opt) != 0) return -1;
  nghttp2_option_set_no_auto_window_update(*opt, 1);
  nghttp2_option_set_no_closed_streams(*opt, 1);
  nghttp2_option_set_max_deflate_dynamic_table_size(*opt, set->deflate_table_size);
  nghttp2_option_set_max_continuations(*opt, (size_t)set->max_continuations + 2);
  /* SETTINGS and PING ACKs queued for a client that does not read */
  nghttp2_option_set_max_outbound_ack(*opt, 100);
  nghttp2_option_set_max_settings(*opt, 16);
  nghttp2_option_set_stream_reset_rate_limit(*opt, 4 * (uint64_t)set->resets_per_second + 16, set->resets_per_second);
  return 0;
}

static int submit_settings(tg_h2_session *s) {
  const tg_h2_settings *set = &s->set;
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, set->max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, set->initial_window},
      {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, set->header_table_size},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)set->max_header_list},
      {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 0},
      {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
  };
  if (nghttp2_submit_settings(s->ng, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) != 0) return -1;
  int32_t more = (int32_t)set->connection_window - NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE;
  return more > 0 ? nghttp2_session_set_local_window_size(s->ng, NGHTTP2_FLAG_NONE, 0, (int32_t)set->connection_window)
                  : 0;
}

tg_h2_session *tg_h2_session_new(const tg_h2_settings *set, const tg_h2_up *up, void *ctx, tg_h2_counters *counters) {
  tg_h2_session *s = calloc(1, sizeof *s);
  nghttp2_session_callbacks *cb = NULL;
  nghttp2_option *opt = NULL;
  if (!s || set_callbacks(&cb) < 0 || set_options(&opt, set) < 0) goto fail;
  s->set = *set;
  s->up = up;
  s->ctx = ctx;
  s->count = counters;
  if (nghttp2_session_server_new2(&s->ng, cb, s, opt) != 0) goto fail;
  nghttp2_session_callbacks_del(cb);
  nghttp2_option_del(opt);
  if (submit_settings(s) < 0) {
    tg_h2_session_free(s);
    return NULL;
  }
  return s;
fail:
  nghttp2_session_callbacks_del(cb);
  nghttp2_option_del(opt);
  free(s);
  return NULL;
}

void tg_h2_session_free(tg_h2_session *s) {
  if (!s) return;
  while (s->streams) {
    tg_h2_stream *st = s->streams;
    s->streams = st->next;
    if (st->opened && s->up->close) s->up->close(s->ctx, st, NGHTTP2_CANCEL);
    stream_free(st);
  }
  nghttp2_session_del(s->ng);
  free(s);
}

int tg_h2_session_recv(tg_h2_session *s, const uint8_t *p, size_t n, uint64_t now_ms) {
  s->now_ms = now_ms;
  if (s->calm) return -1;
  ssize_t rc = nghttp2_session_mem_recv(s->ng, p, n);
  if (rc < 0) {
    /* a fatal error (out of memory, nghttp2's own flood limits): no GOAWAY */
    bump(&s->count->protocol_error);
    return -1;
  }
  return s->calm ? -1 : 0;
}

int tg_h2_session_send(tg_h2_session *s) {
  for (;;) {
    const uint8_t *out;
    ssize_t n = nghttp2_session_mem_send(s->ng, &out);
    if (n < 0) return -1;
    if (n == 0) return 0;
    if (s->up->write(s->ctx, out, (size_t)n) < 0) return -1;
  }
}

int tg_h2_session_done(const tg_h2_session *s) {
  return !nghttp2_session_want_read(s->ng) && !nghttp2_session_want_write(s->ng);
}

size_t tg_h2_session_streams(const tg_h2_session *s) { return s->nstreams; }

static ssize_t read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t n, uint32_t *flags,
                         nghttp2_data_source *src, void *ud) {
  tg_h2_session *s = ud;
  tg_h2_stream *st = src->ptr;
  int eof = 0;
  (void)ng, (void)id;
  long got = s->up->read(s->ctx, st, buf, n, &eof);
  if (got == TG_H2_DEFER) return NGHTTP2_ERR_DEFERRED;
  if (got < 0) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  if (eof) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return got;
}

/* RFC 9113 8.2.2: fields that mean something for one HTTP/1 connection. */
static int connection_specific(const char *name, size_t n) {
  static const char *const drop[] = {"connection", "keep-alive",        "proxy-connection",
                                     "upgrade",    "transfer-encoding", "te"};
  for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
    if (strlen(drop[i]) == n && strncasecmp(drop[i], name, n) == 0) return 1;
  return 0;
}

int tg_h2_respond(tg_h2_stream *st, int status, const tg_head *h, int has_body) {
  tg_h2_session *s = st->session;
  uint32_t nf = h ? h->nfields : 0;
  nghttp2_nv nv[TG_HEAD_MAX_FIELDS + 1];
  char code[4];
  if (nf > TG_HEAD_MAX_FIELDS || status < 100 || status > 999) return -1;
  /* the names lowercased (RFC 9113 8.2.1), for the call: nghttp2 copies them */
  char *names = nf ? malloc(h->buf.len) : NULL;
  if (nf && !names) return -1;
  snprintf(code, sizeof code, "%03d", status);
  nv[0] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)code, 7, 3, NGHTTP2_NV_FLAG_NONE};
  size_t k = 1;
  for (uint32_t i = 0; i < nf; i++) {
    tg_field f = h->fields[i];
    const char *name = tg_head_str(h, f.name);
    if (connection_specific(name, f.name.len)) continue;
    for (uint32_t j = 0; j < f.name.len; j++) names[f.name.off + j] = (char)tolower((unsigned char)name[j]);
    nv[k++] = (nghttp2_nv){(uint8_t *)names + f.name.off, (uint8_t *)tg_head_str(h, f.value), f.name.len, f.value.len,
                           NGHTTP2_NV_FLAG_NONE};
  }
  nghttp2_data_provider dp = {.source.ptr = st, .read_callback = read_body};
  int rc = nghttp2_submit_response(s->ng, st->id, nv, k, has_body ? &dp : NULL) == 0 ? 0 : -1;
  if (rc == 0) st->responding = 1;
  free(names);
  return rc;
}

int tg_h2_resume(tg_h2_stream *st) { return nghttp2_session_resume_data(st->session->ng, st->id) == 0 ? 0 : -1; }

int tg_h2_consume(tg_h2_stream *st, size_t n) {
  if (n > st->unconsumed) n = (size_t)st->unconsumed;
  st->unconsumed -= n;
  return nghttp2_session_consume(st->session->ng, st->id, n) == 0 ? 0 : -1;
}

int tg_h2_reset(tg_h2_stream *st, uint32_t error) {
  return nghttp2_submit_rst_stream(st->session->ng, NGHTTP2_FLAG_NONE, st->id, error) == 0 ? 0 : -1;
}

int32_t tg_h2_send_window(const tg_h2_stream *st) {
  nghttp2_session *ng = st->session->ng;
  int32_t w = nghttp2_session_get_stream_remote_window_size(ng, st->id), c = nghttp2_session_get_remote_window_size(ng);
  return w < c ? w : c;
}

int tg_h2_drain(tg_h2_session *s) {
  int32_t last = nghttp2_session_get_last_proc_stream_id(s->ng);
  return nghttp2_submit_goaway(s->ng, NGHTTP2_FLAG_NONE, last, NGHTTP2_NO_ERROR, NULL, 0) == 0 ? 0 : -1;
}
