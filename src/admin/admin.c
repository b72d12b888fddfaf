/* The admin listener (see tollgate/admin.h): one request per connection,
 * parsed with llhttp, answered and closed. A connection has ADMIN_HEAD_MS
 * for its request head and then ADMIN_SEND_MS for the answer to be taken;
 * past either it is closed, so a slow client cannot hold the listener.
 * /status/stream is the exception: the connection stays, and one timer
 * sends every such connection /status.json once a second (server-sent
 * events), rendered once for all; one that lets ADMIN_SSE_BACKLOG bytes
 * pile up is closed. */
#include "tollgate/admin.h"

#include <llhttp.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate/access-log.h"
#include "tollgate/deadline.h"
#include "status-page.h"
#include "tollgate/metrics.h"
#include "tollgate/readiness.h"

#define ADMIN_HEAD_MS 10000
#define ADMIN_SEND_MS 10000
#define ADMIN_SSE_MAX 32                /* /status/stream connections at once */
#define ADMIN_SSE_BACKLOG (1024 * 1024) /* bytes a slow one may leave unread */
#define ADMIN_SSE_MS 1000

typedef struct admin_conn {
  uv_tcp_t tcp;
  tg_deadline deadline;
  int closing_handles;
  uv_write_t wr;
  llhttp_t parser;
  tg_buf out;
  char path[64];
  size_t path_len;
  int answered;
  int sse;                        /* a /status/stream connection */
  struct admin_conn *next, *prev; /* open connections, closed at stop */
} admin_conn;

static uv_tcp_t server;
static int running;
static admin_conn *conns;
static uv_timer_t sse_timer; /* once a second while a /status/stream connection is open */
static int sse_timer_init;
static unsigned nsse;

static void conn_closed(uv_handle_t *h) {
  admin_conn *a = h->data;
  if (--a->closing_handles) return;
  tg_readiness_cancel(a); /* a /readyz waiting for its check */
  if (a->sse) nsse--;
  if (a->prev) a->prev->next = a->next;
  else conns = a->next;
  if (a->next) a->next->prev = a->prev;
  tg_buf_free(&a->out);
  free(a);
}

static void conn_close(admin_conn *a) {
  if (uv_is_closing((uv_handle_t *)&a->tcp)) return;
  a->closing_handles = 2;
  uv_close((uv_handle_t *)&a->tcp, conn_closed);
  uv_close((uv_handle_t *)&a->deadline.timer, conn_closed);
}

static void conn_timer_cb(uv_timer_t *t) {
  admin_conn *a = t->data;
  if (tg_deadline_passed(&a->deadline, conn_timer_cb)) conn_close(a);
}

static void written(uv_write_t *w, int status) {
  (void)status;
  conn_close(w->data);
}

/* Answers and closes; extra: more header lines, each ending in CRLF. */
static void reply_with(admin_conn *a, int code, const char *type, const char *extra, const char *body, size_t n) {
  tg_buf head = {0};
  const char *reason = code == 200   ? "OK"
                       : code == 404 ? "Not Found"
                       : code == 503 ? "Service Unavailable"
                                     : "Bad Request";
  tg_buf_printf(&head, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n", code,
                reason, type, n, extra);
  tg_buf_append(&head, body, n);
  tg_buf_free(&a->out);
  a->out = head;
  a->answered = 1;
  tg_deadline_set(&a->deadline, ADMIN_SEND_MS, conn_timer_cb);
  a->wr.data = a;
  uv_buf_t b = uv_buf_init(a->out.data, (unsigned)a->out.len);
  if (uv_write(&a->wr, (uv_stream_t *)&a->tcp, &b, 1, written) < 0) conn_close(a);
}

static void reply(admin_conn *a, int code, const char *type, const char *body, size_t n) {
  reply_with(a, code, type, "", body, n);
}

/* ---- /status/stream ---- */

typedef struct sse_write {
  uv_write_t wr;
  char data[];
} sse_write;

static void sse_written(uv_write_t *w, int status) {
  (void)status; /* a failed write: the read side sees the connection go */
  free(w);
}

/* Queues bytes on a /status/stream connection; one too far behind is closed. */
static void sse_send(admin_conn *a, const char *p, size_t n) {
  if (uv_is_closing((uv_handle_t *)&a->tcp)) return;
  if (uv_stream_get_write_queue_size((uv_stream_t *)&a->tcp) > ADMIN_SSE_BACKLOG) return conn_close(a);
  sse_write *w = malloc(sizeof *w + n);
  if (!w) return conn_close(a);
  memcpy(w->data, p, n);
  uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
  if (uv_write(&w->wr, (uv_stream_t *)&a->tcp, &b, 1, sse_written) < 0) {
    free(w);
    conn_close(a);
  }
}

/* One event: "data: " and /status.json on one line, then a blank line. */
static int sse_event(tg_buf *ev) {
  return tg_buf_puts(ev, "data: ") | tg_metrics_render_json(ev) | tg_buf_puts(ev, "\n");
}

static void sse_tick(uv_timer_t *t) {
  if (!nsse) {
    uv_timer_stop(t);
    return;
  }
  tg_buf ev = {0};
  if (sse_event(&ev) == 0)
    for (admin_conn *a = conns, *next; a; a = next) {
      next = a->next; /* closing leaves it in the list until its handles are closed */
      if (a->sse) sse_send(a, ev.data, ev.len);
    }
  tg_buf_free(&ev);
}

static void sse_start(admin_conn *a) {
  if (nsse >= ADMIN_SSE_MAX) return reply(a, 503, "text/plain", "too many status streams\n", 24);
  static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
                             "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n";
  a->answered = a->sse = 1;
  nsse++;
  tg_deadline_stop(&a->deadline); /* it stays open: the client closes it */
  tg_buf ev = {0};
  if (tg_buf_puts(&ev, head) == 0 && sse_event(&ev) == 0) sse_send(a, ev.data, ev.len);
  tg_buf_free(&ev);
  if (!sse_timer_init) {
    uv_timer_init(a->tcp.loop, &sse_timer);
    sse_timer_init = 1;
  }
  if (!uv_is_active((uv_handle_t *)&sse_timer)) uv_timer_start(&sse_timer, sse_tick, ADMIN_SSE_MS, ADMIN_SSE_MS);
}

/* /readyz: 200 "ready", or 503 and why not, in one line. */
static void ready_answer(void *arg, int ready, const char *reason) {
  admin_conn *a = arg;
  if (ready) return reply(a, 200, "text/plain", "ready\n", 6);
  tg_buf body = {0};
  tg_buf_printf(&body, "%s\n", reason);
  reply(a, 503, "text/plain", body.data ? body.data : "\n", body.data ? body.len : 1);
  tg_buf_free(&body);
}

static int on_url(llhttp_t *p, const char *at, size_t n) {
  admin_conn *a = p->data;
  size_t room = sizeof a->path - 1 - a->path_len;
  if (n > room) n = room;
  memcpy(a->path + a->path_len, at, n);
  a->path_len += n;
  return 0;
}

/* The page's file at path, or NULL. */
static const tg_status_asset *page_file(const char *path) {
  for (const tg_status_asset *f = tg_status_assets; f->path; f++)
    if (!strcmp(f->path, path)) return f;
  return NULL;
}

static int on_headers_complete(llhttp_t *p) {
  admin_conn *a = p->data;
  const tg_status_asset *f;
  a->path[a->path_len] = 0;
  char *q = strchr(a->path, '?');
  if (q) *q = 0;
  if (!strcmp(a->path, "/metrics")) {
    tg_buf m = {0};
    tg_metrics_render(&m);
    reply(a, 200, "text/plain; version=0.0.4; charset=utf-8", m.data ? m.data : "", m.len);
    tg_buf_free(&m);
  } else if ((f = page_file(a->path))) {
    reply_with(a, 200, f->type, TG_STATUS_PAGE_HEADERS, f->body, f->len);
  } else if (!strcmp(a->path, "/status.json")) {
    tg_buf m = {0};
    tg_metrics_render_json(&m);
    reply_with(a, 200, "application/json", "Cache-Control: no-store\r\n", m.data ? m.data : "{}", m.len);
    tg_buf_free(&m);
  } else if (!strcmp(a->path, "/status/stream")) {
    sse_start(a);
  } else if (!strcmp(a->path, "/healthz")) {
    reply(a, 200, "text/plain", "ok\n", 3);
  } else if (!strcmp(a->path, "/readyz")) {
    tg_readiness_check(ready_answer, a);
  } else {
    reply(a, 404, "text/plain", "not found\n", 10);
  }
  return HPE_PAUSED;
}

static const llhttp_settings_t settings = {.on_url = on_url, .on_headers_complete = on_headers_complete};

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
  (void)h;
  static char buf[8192]; /* the main thread's only reader */
  (void)suggested;
  *b = uv_buf_init(buf, sizeof buf);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  admin_conn *a = s->data;
  if (n < 0) return conn_close(a);
  if (n == 0 || a->answered) return;
  enum llhttp_errno e = llhttp_execute(&a->parser, b->base, (size_t)n);
  if (e != HPE_OK && e != HPE_PAUSED && !a->answered) reply(a, 400, "text/plain", "bad request\n", 12);
}

static void on_connection(uv_stream_t *srv, int status) {
  if (status < 0) return;
  admin_conn *a = calloc(1, sizeof *a);
  if (!a) return;
  uv_tcp_init(srv->loop, &a->tcp); /* cannot fail: no socket yet */
  tg_deadline_init(srv->loop, &a->deadline);
  a->tcp.data = a->deadline.timer.data = a;
  a->next = conns;
  if (conns) conns->prev = a;
  conns = a;
  if (uv_accept(srv, (uv_stream_t *)&a->tcp) < 0) return conn_close(a);
  llhttp_init(&a->parser, HTTP_REQUEST, &settings);
  a->parser.data = a;
  if (uv_read_start((uv_stream_t *)&a->tcp, alloc_cb, read_cb) < 0 ||
      tg_deadline_set(&a->deadline, ADMIN_HEAD_MS, conn_timer_cb) < 0)
    conn_close(a);
}

int tg_admin_sockaddr(const tg_hostport *addr, struct sockaddr_storage *ss) {
  const char *host = addr->host[0] ? addr->host : "0.0.0.0";
  return strchr(host, ':') ? uv_ip6_addr(host, addr->port, (struct sockaddr_in6 *)ss)
                           : uv_ip4_addr(host, addr->port, (struct sockaddr_in *)ss);
}

int tg_admin_fd(void) {
  uv_os_fd_t fd;
  return running && uv_fileno((const uv_handle_t *)&server, &fd) == 0 ? fd : -1;
}

int tg_admin_start(uv_loop_t *loop, const tg_hostport *addr, int fd, const char *where) {
  struct sockaddr_storage ss;
  const char *host = addr->host[0] ? addr->host : "0.0.0.0";
  int rc = tg_admin_sockaddr(addr, &ss);
  if (rc == 0) {
    uv_tcp_init(loop, &server);
    running = 1;
    rc = fd >= 0 ? uv_tcp_open(&server, fd) : uv_tcp_bind(&server, (struct sockaddr *)&ss, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&server, 128, on_connection);
  }
  if (rc < 0) {
    tg_log_error("%scannot serve the admin listener on %s:%u: %s (the admin address must be a numeric IP)", where, host,
                 addr->port, uv_strerror(rc));
    return -1;
  }
  tg_log_info("admin listener on %s:%u (/, /status.json, /metrics, /healthz, /readyz)", host, addr->port);
  return 0;
}

void tg_admin_stop(void) {
  if (running && !uv_is_closing((uv_handle_t *)&server)) uv_close((uv_handle_t *)&server, NULL);
  if (sse_timer_init) uv_close((uv_handle_t *)&sse_timer, NULL);
  sse_timer_init = 0;
  running = 0;
  for (admin_conn *a = conns; a; a = a->next) conn_close(a);
}
