/* server.c: one worker's event loop: accepting connections, reading and
 * parsing requests with llhttp (keep-alive, pipelining answered in order),
 * writes, and closing connections gracefully or with a reset. */
#include "mock.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

typedef struct conn_write {
  uv_write_t req; /* first: the uv_write_t pointer is the struct pointer */
  mock_conn_t *conn;
  char data[];
} conn_write_t;

static llhttp_settings_t parser_settings;
static pthread_once_t parser_settings_once = PTHREAD_ONCE_INIT;
static atomic_uint_fast64_t next_request_id;

static void conn_parse(mock_conn_t *c, const char *data, size_t len);

uint64_t mock_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- requests ---- */

const char *mock_req_header(const mock_req_t *r, const char *name) {
  for (size_t i = 0; i < r->nheaders; i++)
    if (r->headers[i].name.p && strcasecmp(r->headers[i].name.p, name) == 0)
      return r->headers[i].value.p ? r->headers[i].value.p : "";
  return NULL;
}

/* Free what a request holds; the URL survives when keep_url is set, since
 * the events of a response still running name it. */
static void req_release(mock_req_t *r, bool keep_url) {
  for (size_t i = 0; i < r->nheaders; i++) {
    mock_buf_free(&r->headers[i].name);
    mock_buf_free(&r->headers[i].value);
  }
  free(r->headers);
  r->headers = NULL;
  r->nheaders = r->cap_headers = 0;
  r->in_value = false;
  mock_buf_free(&r->body);
  if (!keep_url) mock_buf_free(&r->url);
}

static void req_header_field(mock_req_t *r, const char *at, size_t n) {
  if (r->nheaders == 0 || r->in_value) {
    if (r->nheaders == r->cap_headers) {
      size_t cap = r->cap_headers ? r->cap_headers * 2 : 16;
      mock_header_t *h = realloc(r->headers, cap * sizeof *h);
      if (!h) abort();
      r->headers = h;
      r->cap_headers = cap;
    }
    r->headers[r->nheaders++] = (mock_header_t){0};
    r->in_value = false;
  }
  mock_buf_append(&r->headers[r->nheaders - 1].name, at, n);
}

static void req_header_value(mock_req_t *r, const char *at, size_t n) {
  if (r->nheaders == 0) return;
  r->in_value = true;
  mock_buf_append(&r->headers[r->nheaders - 1].value, at, n);
}

static int ctl_int(const char *v) {
  long n = strtol(v, NULL, 10);
  return n < 0 ? -1 : n > 100000000 ? 100000000 : (int)n;
}

/* Read the X-Mock-* controls of the request just parsed. */
static void ctl_parse(mock_ctl_t *ctl, const mock_req_t *r) {
  *ctl = (mock_ctl_t){-1, -1, -1, -1, -1, -1, 0, false, false, false, false};
  for (size_t i = 0; i < r->nheaders; i++) {
    const char *n = r->headers[i].name.p, *v = r->headers[i].value.p;
    if (!n || strncasecmp(n, "x-mock-", 7) != 0) continue;
    v = v ? v : "";
    n += 7;
    if (strcasecmp(n, "tokens") == 0) ctl->tokens = ctl_int(v);
    else if (strcasecmp(n, "delay-ms") == 0) ctl->delay_ms = ctl_int(v);
    else if (strcasecmp(n, "first-byte-ms") == 0) ctl->first_byte_ms = ctl_int(v);
    else if (strcasecmp(n, "stall-after") == 0) ctl->stall_after = ctl_int(v);
    else if (strcasecmp(n, "reset-after") == 0) ctl->reset_after = ctl_int(v);
    else if (strcasecmp(n, "close-after") == 0) ctl->close_after = ctl_int(v);
    else if (strcasecmp(n, "line-bytes") == 0) ctl->line_bytes = ctl_int(v);
    else if (strcasecmp(n, "busy") == 0) ctl->busy = ctl_int(v) > 0;
    else if (strcasecmp(n, "early") == 0) ctl->early = ctl_int(v) > 0;
    else if (strcasecmp(n, "stamp") == 0) ctl->stamp = ctl_int(v) > 0;
    else if (strcasecmp(n, "echo") == 0) ctl->echo = ctl_int(v) > 0;
  }
}

/* Headers as an object of lowercased names; repeated names joined by ", ". */
json_t *mock_req_headers_json(const mock_req_t *r) {
  json_t *o = json_object();
  for (size_t i = 0; i < r->nheaders; i++) {
    char name[256];
    const char *src = r->headers[i].name.p ? r->headers[i].name.p : "";
    size_t k = 0;
    for (; src[k] && k < sizeof name - 1; k++)
      name[k] = (char)((src[k] >= 'A' && src[k] <= 'Z') ? src[k] + 32 : src[k]);
    name[k] = '\0';
    const char *value = r->headers[i].value.p ? r->headers[i].value.p : "";
    json_t *old = json_object_get(o, name);
    if (!old) {
      json_object_set_new(o, name, json_string(value));
      continue;
    }
    mock_buf_t joined = {0};
    mock_buf_printf(&joined, "%s, %s", json_string_value(old), value);
    json_object_set_new(o, name, json_string(joined.p));
    mock_buf_free(&joined);
  }
  return o;
}

static void log_request(mock_conn_t *c) {
  const mock_req_t *r = &c->req;
  if (r->url.p && strncmp(r->url.p, "/_mock/", 7) == 0) return;
  json_t *o = json_object();
  json_object_set_new(o, "ev", json_string("request"));
  json_object_set_new(o, "id", json_integer((json_int_t)r->id));
  json_object_set_new(o, "method", json_string(r->method));
  json_object_set_new(o, "path", json_string(r->url.p ? r->url.p : ""));
  json_object_set_new(o, "headers", mock_req_headers_json(r));
  json_object_set_new(o, "body_bytes", json_integer((json_int_t)r->body_bytes));
  json_object_set_new(o, "t_ns", json_integer((json_int_t)mock_now_ns()));
  mock_events_add(o);
}

/* ---- llhttp callbacks ---- */

static int on_message_begin(llhttp_t *p) {
  mock_conn_t *c = p->data;
  req_release(&c->req, false);
  c->req.body_bytes = 0;
  c->status = 0;
  return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n) {
  mock_buf_append(&((mock_conn_t *)p->data)->req.url, at, n);
  return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n) {
  req_header_field(&((mock_conn_t *)p->data)->req, at, n);
  return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n) {
  req_header_value(&((mock_conn_t *)p->data)->req, at, n);
  return 0;
}

static int on_headers_complete(llhttp_t *p) {
  mock_conn_t *c = p->data;
  c->req.id = atomic_fetch_add(&next_request_id, 1) + 1;
  snprintf(c->req.method, sizeof c->req.method, "%s", llhttp_method_name(p->method));
  c->head = p->method == HTTP_HEAD;
  c->keep_alive = llhttp_should_keep_alive(p);
  ctl_parse(&c->ctl, &c->req);
  if (!c->req.url.p) mock_buf_puts(&c->req.url, "/");
  if (c->ctl.early) mock_route_early(c);
  return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n) {
  mock_conn_t *c = p->data;
  c->req.body_bytes += n;
  if (!c->resp.early && c->req.body.len + n <= MOCK_BODY_MAX) mock_buf_append(&c->req.body, at, n);
  return 0;
}

/* Answer the request (or let an early stream finish), then pause the parser
 * so that pipelined requests wait for this response. */
static int on_message_complete(llhttp_t *p) {
  mock_conn_t *c = p->data;
  c->parked = true;
  if (c->closing) return HPE_PAUSED;
  log_request(c);
  if (c->resp.early) mock_stream_body_done(c);
  else mock_route(c);
  req_release(&c->req, true);
  return HPE_PAUSED;
}

static void parser_settings_init(void) {
  llhttp_settings_init(&parser_settings);
  parser_settings.on_message_begin = on_message_begin;
  parser_settings.on_url = on_url;
  parser_settings.on_header_field = on_header_field;
  parser_settings.on_header_value = on_header_value;
  parser_settings.on_headers_complete = on_headers_complete;
  parser_settings.on_body = on_body;
  parser_settings.on_message_complete = on_message_complete;
}

/* ---- closing ---- */

static void conn_free(mock_conn_t *c) {
  req_release(&c->req, false);
  mock_buf_free(&c->pending);
  mock_stream_clear(&c->resp);
  free(c);
}

static void on_handle_closed(uv_handle_t *h) {
  mock_conn_t *c = h->data;
  if (--c->open_handles == 0) conn_free(c);
}

static void conn_unlink(mock_conn_t *c) {
  if (c->prev) c->prev->next = c->next;
  else if (c->worker->conns == c) c->worker->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = NULL;
}

/* Close both handles now; with reset, the peer gets an RST (SO_LINGER 0). */
static void conn_close_now(mock_conn_t *c, bool reset) {
  if (c->handles_closing) return;
  mock_sim_release(c, false);
  c->handles_closing = c->closing = true;
  conn_unlink(c);
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
  if (reset && uv_tcp_close_reset(&c->tcp, on_handle_closed) == 0) return;
  uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  (void)status;
  conn_close_now(req->data, false);
}

/* Flush what is queued, send FIN, then close. */
static void conn_close_graceful(mock_conn_t *c) {
  if (c->closing) return;
  mock_sim_release(c, false);
  c->closing = true;
  uv_timer_stop(&c->timer);
  c->shutdown.data = c;
  if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) != 0) conn_close_now(c, false);
}

void mock_conn_abort(mock_conn_t *c, bool reset) {
  mock_stream_clear(&c->resp);
  if (reset) conn_close_now(c, true);
  else conn_close_graceful(c);
}

/* The client went away (EOF, read or write error): log a disconnect when a
 * response was still running, then close at once. */
static void conn_lost(mock_conn_t *c) {
  if (c->handles_closing) return;
  if (c->resp.active && !c->closing) mock_event_end(c, "disconnect", c->resp.sent);
  mock_stream_clear(&c->resp);
  conn_close_now(c, false);
}

/* ---- writing ---- */

static void on_write(uv_write_t *req, int status) {
  conn_write_t *w = (conn_write_t *)req;
  mock_conn_t *c = w->conn;
  free(w);
  if (status < 0 && status != UV_ECANCELED) conn_lost(c);
}

/* Queue one write of a copy of the pieces, joined (one write(2) each call). */
void mock_conn_writev(mock_conn_t *c, const uv_buf_t *parts, size_t nparts) {
  size_t len = 0;
  for (size_t i = 0; i < nparts; i++) len += parts[i].len;
  if (c->closing || len == 0) return;
  conn_write_t *w = malloc(sizeof *w + len);
  if (!w) abort();
  w->conn = c;
  for (size_t i = 0, off = 0; i < nparts; off += parts[i].len, i++) memcpy(w->data + off, parts[i].base, parts[i].len);
  uv_buf_t buf = uv_buf_init(w->data, (unsigned)len);
  if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_write) != 0) {
    free(w);
    conn_lost(c);
  }
}

void mock_conn_write(mock_conn_t *c, const char *data, size_t len) {
  uv_buf_t part = uv_buf_init((char *)data, (unsigned)len);
  mock_conn_writev(c, &part, 1);
}

/* ---- the request/response cycle ---- */

/* The response to a parked request is over: go on to the next request, or
 * close when the request asked for it. Returns whether to keep parsing. */
static bool conn_next_request(mock_conn_t *c) {
  c->parked = false;
  if (c->keep_alive) return true;
  conn_close_graceful(c);
  return false;
}

/* A timer-driven response has ended: log it and resume parsing. */
void mock_conn_finish(mock_conn_t *c) {
  mock_event_end(c, "done", c->resp.sent);
  mock_sim_release(c, true);
  mock_stream_clear(&c->resp);
  if (c->in_parse || !c->parked || !conn_next_request(c)) return;
  if (c->pending.len) {
    mock_buf_t p = c->pending;
    c->pending = (mock_buf_t){0};
    conn_parse(c, p.p, p.len);
    mock_buf_free(&p);
  }
}

static void conn_bad_request(mock_conn_t *c) {
  static const char resp[] = "HTTP/1.1 400 Bad Request\r\n"
                             "Content-Type: text/plain; charset=utf-8\r\n"
                             "Connection: close\r\n\r\n400 Bad Request";
  if (c->resp.active) mock_event_end(c, "disconnect", c->resp.sent);
  else mock_conn_write(c, resp, sizeof resp - 1);
  mock_stream_clear(&c->resp);
  conn_close_graceful(c);
}

/* Feed bytes to the parser; bytes arriving while a response runs wait in
 * c->pending (pipelining: answers go out in request order). */
static void conn_parse(mock_conn_t *c, const char *data, size_t len) {
  c->in_parse = true;
  while (len > 0 && !c->closing) {
    if (c->parked && c->resp.active) {
      mock_buf_append(&c->pending, data, len);
      break;
    }
    if (c->parked && !conn_next_request(c)) break;
    llhttp_errno_t err = llhttp_execute(&c->parser, data, len);
    if (err == HPE_OK) break;
    if (err != HPE_PAUSED) {
      conn_bad_request(c);
      break;
    }
    const char *pos = llhttp_get_error_pos(&c->parser);
    llhttp_resume(&c->parser);
    len -= (size_t)(pos - data);
    data = pos;
  }
  c->in_parse = false;
  if (c->parked && !c->resp.active && !c->closing) conn_next_request(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)hint;
  mock_conn_t *c = h->data;
  *buf = uv_buf_init(c->worker->readbuf, sizeof c->worker->readbuf);
}

/* Reading never stops, so a client leaving mid-stream is seen at once. */
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  mock_conn_t *c = s->data;
  if (n < 0) {
    conn_lost(c);
    return;
  }
  if (n > 0 && !c->closing) conn_parse(c, buf->base, (size_t)n);
}

/* ---- the worker ---- */

static void on_accept(uv_stream_t *server, int status) {
  mock_worker_t *w = server->data;
  if (status < 0) {
    if (!mock_opts.quiet) fprintf(stderr, "mock-ollama: accept: %s\n", uv_strerror(status));
    return;
  }
  mock_conn_t *c = calloc(1, sizeof *c);
  if (!c) abort();
  c->worker = w;
  uv_tcp_init(&w->loop, &c->tcp);
  c->tcp.data = c;
  c->open_handles = 1;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    c->handles_closing = c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    return;
  }
  uv_timer_init(&w->loop, &c->timer);
  c->timer.data = c;
  c->open_handles = 2;
  llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings);
  c->parser.data = c;
  c->next = w->conns;
  if (w->conns) w->conns->prev = c;
  w->conns = c;
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_stop(uv_async_t *a) {
  mock_worker_t *w = a->data;
  mock_sim_stop();
  uv_close((uv_handle_t *)&w->listener, NULL);
  uv_close((uv_handle_t *)&w->stop, NULL);
  while (w->conns) conn_close_now(w->conns, false);
}

/* Set up a worker around a bound, listening socket. Returns 0 or a libuv error. */
int mock_worker_init(mock_worker_t *w, int fd) {
  int rc;
  pthread_once(&parser_settings_once, parser_settings_init);
  if ((rc = uv_loop_init(&w->loop)) != 0) return rc;
  uv_tcp_init(&w->loop, &w->listener);
  w->listener.data = w;
  if ((rc = uv_tcp_open(&w->listener, fd)) != 0) return rc;
  if ((rc = uv_listen((uv_stream_t *)&w->listener, 4096, on_accept)) != 0) return rc;
  uv_async_init(&w->loop, &w->stop, on_stop);
  w->stop.data = w;
  return 0;
}

void mock_worker_run(void *arg) {
  mock_worker_t *w = arg;
  uv_run(&w->loop, UV_RUN_DEFAULT);
}

void mock_worker_destroy(mock_worker_t *w) {
  uv_run(&w->loop, UV_RUN_DEFAULT);
  uv_loop_close(&w->loop);
  mock_buf_free(&w->scratch);
}
