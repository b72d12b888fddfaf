/* An in-process tollgate worker with a loopback client and a loopback
 * upstream on the worker's own loop, for the proxy fuzz targets (see
 * proxy_harness.h). Link with -Wl,--wrap=tg_vlog: the error log is
 * silent unless FUZZ_VERBOSE=1. */
#include "proxy_harness.h"

#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PH_QUIET_ITERS 6      /* loop iterations without activity = quiet */
#define PH_SPIN_MAX 20000     /* iterations per spin, at most */
#define PH_STALL_WAIT_MS 1000 /* stall runs: tollgate must end the connection by then */
#define PH_SHORT_MS 2         /* tollgate's timeouts in stall runs */
#define PH_LONG_MS 5000       /* ... in the other runs (never reached) */

static ph_env env;
static uv_timer_t guard; /* keeps uv_run(UV_RUN_ONCE) from blocking */

void __real_tg_vlog(tg_log_level lvl, const char *request_id, const char *fmt, va_list ap);
void __wrap_tg_vlog(tg_log_level lvl, const char *request_id, const char *fmt, va_list ap);

void __wrap_tg_vlog(tg_log_level lvl, const char *request_id, const char *fmt, va_list ap) {
  if (env.verbose) __real_tg_vlog(lvl, request_id, fmt, ap);
}

static void die(const char *what) {
  fprintf(stderr, "proxy_harness: %s\n", what);
  abort();
}

/* --- set-up ---------------------------------------------------------------- */

/* A non-blocking listening socket on 127.0.0.1 and a free port. */
static int listen_loopback(uint16_t *port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 128) < 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) < 0)
    die("cannot listen on 127.0.0.1");
  *port = ntohs(a.sin_port);
  return fd;
}

static void count_handle(uv_handle_t *h, void *arg) {
  (void)h;
  (*(unsigned *)arg)++;
}

static unsigned loop_handles(ph_env *e) {
  unsigned n = 0;
  uv_walk(&e->w->loop, count_handle, &n);
  return n;
}

static void on_up_connection(uv_stream_t *server, int status);

static void env_setup(ph_env *e) {
  signal(SIGPIPE, SIG_IGN);
  const char *v = getenv("FUZZ_VERBOSE");
  e->verbose = v ? atoi(v) : 0; /* 1: tollgate's error log, 2: and the harness's events */
  e->cfg = tg_config_new_default();
  e->w = calloc(1, sizeof *e->w);
  if (!e->cfg || !e->w) die("out of memory");
  free(e->cfg->access_log);
  e->cfg->access_log = strdup("off");
  uint16_t proxy_port, up_port;
  int proxy_fd = listen_loopback(&proxy_port), up_fd = listen_loopback(&up_port);
  e->cfg->sites[0].listens[0].port = proxy_port;
  e->cfg->upstreams[0].servers[0].addr.port = up_port;
  if (tg_worker_init(e->w, 0, e->cfg, &proxy_fd, 1, -1) < 0) die("tg_worker_init failed");
  uv_tcp_init(&e->w->loop, &e->up_listener);
  e->up_listener.data = e;
  if (uv_tcp_open(&e->up_listener, up_fd) < 0 || uv_listen((uv_stream_t *)&e->up_listener, 128, on_up_connection) < 0)
    die("cannot listen for the upstream");
  uv_timer_init(&e->w->loop, &guard);
  uv_stop(&e->w->loop); /* tg_worker_main sets the listener up, then returns at once */
  tg_worker_main(e->w);
  e->base_handles = loop_handles(e);
}

ph_env *ph_env_get(void) {
  if (!env.w) env_setup(&env);
  return &env;
}

/* Timeouts of the site and the upstream, all set to ms. */
static void set_timeouts(ph_env *e, uint64_t ms) {
  tg_site_conf *s = &e->cfg->sites[0];
  tg_upstream_conf *u = &e->cfg->upstreams[0];
  s->header_timeout_ms = s->body_timeout_ms = s->keepalive_timeout_ms = ms;
  s->send_timeout_ms = s->tunnel_timeout_ms = ms;
  u->dial_timeout_ms = u->header_timeout_ms = u->idle_timeout_ms = u->keepalive_timeout_ms = ms;
}

static void apply_opts(ph_env *e, const ph_opts *o) {
  static char *pinned;
  tg_site_conf *s = &e->cfg->sites[0];
  tg_upstream_conf *u = &e->cfg->upstreams[0];
  if (!pinned) pinned = u->host_header;
  u->host_header = o->preserve_host ? NULL : pinned;
  s->forward_credentials = o->forward_credentials;
  static char *mount;
  if (!mount) mount = s->mount; /* the config's own "", kept to be freed with it */
  s->mount = o->mount && *o->mount ? (char *)o->mount : mount;
  set_timeouts(e, o->stall ? PH_SHORT_MS : PH_LONG_MS);
}

/* --- connections ---------------------------------------------------------- */

static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  static char rbuf[65536];
  (void)h;
  (void)suggested;
  *buf = uv_buf_init(rbuf, sizeof rbuf);
}

static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  ph_conn *c = s->data;
  ph_env *e = c->env;
  if (nread == 0) return;
  e->events++;
  if (e->verbose > 1)
    fprintf(stderr, "harness: %s %u read %zd\n", c == e->client ? "client" : "upstream", c->id, nread);
  if (nread < 0) {
    c->eof = 1;
    uv_read_stop(s);
    return;
  }
  if (tg_buf_append(&c->in, buf->base, (size_t)nread) < 0) die("out of memory");
  if (c != e->client && e->hooks.up_data) e->hooks.up_data(c, buf->base, (size_t)nread);
}

static ph_conn *conn_new(ph_env *e, unsigned id) {
  ph_conn *c = calloc(1, sizeof *c);
  if (!c) die("out of memory");
  c->env = e;
  c->id = id;
  uv_tcp_init(&e->w->loop, &c->tcp);
  c->tcp.data = c;
  e->live++;
  return c;
}

static void conn_closed(uv_handle_t *h) {
  ph_conn *c = h->data;
  c->env->events++;
  c->env->live--;
}

static void conn_close(ph_conn *c) {
  if (c->closing) return;
  c->closing = 1;
  if (c != c->env->client && c->env->hooks.up_free) c->env->hooks.up_free(c);
  uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void on_up_connection(uv_stream_t *server, int status) {
  ph_env *e = server->data;
  if (status < 0) return;
  e->events++;
  ph_conn *u = conn_new(e, e->nups);
  if (uv_accept(server, (uv_stream_t *)&u->tcp) < 0 || e->nups == PH_MAX_UPS) {
    u->closing = 1;
    uv_close((uv_handle_t *)&u->tcp, (uv_close_cb)free);
    e->live--;
    return;
  }
  e->ups[e->nups++] = u;
  uv_tcp_nodelay(&u->tcp, 1); /* no Nagle: every piece goes out at once */
  uv_read_start((uv_stream_t *)&u->tcp, conn_alloc_cb, conn_read_cb);
  if (e->hooks.up_accept) e->hooks.up_accept(u);
}

static void client_connected(uv_connect_t *req, int status) {
  ph_conn *c = req->data;
  c->env->events++;
  free(req);
  if (status < 0) die("the client cannot connect to tollgate");
  uv_tcp_nodelay(&c->tcp, 1); /* no Nagle: every piece goes out at once */
  uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb);
}

void ph_run_begin(ph_env *e, const ph_opts *o, const ph_hooks *hooks, void *user) {
  apply_opts(e, o);
  e->hooks = *hooks;
  e->user = user;
  e->nups = 0;
  e->client = conn_new(e, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  a.sin_port = htons(e->cfg->sites[0].listens[0].port);
  uv_connect_t *req = malloc(sizeof *req);
  if (!req) die("out of memory");
  req->data = e->client;
  if (uv_tcp_connect(req, &e->client->tcp, (struct sockaddr *)&a, client_connected) < 0) die("uv_tcp_connect failed");
  ph_spin(e);
}

/* --- writing, piece by piece ------------------------------------------------ */

void ph_queue(ph_conn *c, const char *p, size_t n, size_t piece) {
  if (piece && (n + piece - 1) / piece > PH_MAX_PIECES) piece = (n + PH_MAX_PIECES - 1) / PH_MAX_PIECES;
  c->piece = piece;
  if (tg_buf_append(&c->queue, p, n) < 0) die("out of memory");
}

static void shut_cb(uv_shutdown_t *req, int status) {
  ph_conn *c = req->data;
  (void)status;
  c->env->events++;
}

static void conn_shutdown(ph_conn *c) {
  if (c->shut || c->closing) return;
  c->shut = 1;
  if (c->env->verbose > 1)
    fprintf(stderr, "harness: %s %u shutdown\n", c == c->env->client ? "client" : "upstream", c->id);
  c->shut_req.data = c;
  if (uv_shutdown(&c->shut_req, (uv_stream_t *)&c->tcp, shut_cb) < 0) c->shut = 2;
}

/* Writes the next piece of c's queue, or half-closes c after its last
 * piece when asked to. Returns 1 if it did either. */
static int write_piece(ph_conn *c) {
  if (c->closing || c->shut) return 0;
  if (c->queue.len == 0) {
    if (!c->shut_after) return 0;
    conn_shutdown(c);
    return 1;
  }
  size_t k = c->piece && c->piece < c->queue.len ? c->piece : c->queue.len;
  uv_buf_t b = uv_buf_init(c->queue.data, (unsigned)k);
  int w = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  if (w == UV_EAGAIN) return 0;
  if (w < 0) { /* the peer is gone: what is left is never sent */
    c->queue.len = 0;
    return 0;
  }
  if (c->env->verbose > 1)
    fprintf(stderr, "harness: %s %u wrote %d\n", c == c->env->client ? "client" : "upstream", c->id, w);
  if (tg_buf_append(&c->out, c->queue.data, (size_t)w) < 0) die("out of memory");
  tg_buf_consume(&c->queue, (size_t)w);
  return 1;
}

static int write_round(ph_env *e) {
  int wrote = write_piece(e->client);
  for (unsigned i = 0; i < e->nups; i++) wrote |= write_piece(e->ups[i]);
  return wrote;
}

static int queued(const ph_env *e) {
  size_t n = e->client->queue.len;
  for (unsigned i = 0; i < e->nups; i++) n += e->ups[i]->closing ? 0 : e->ups[i]->queue.len;
  return n > 0;
}

void ph_spin(ph_env *e) {
  unsigned quiet = 0;
  for (int i = 0; i < PH_SPIN_MAX && quiet < PH_QUIET_ITERS; i++) {
    unsigned before = e->events;
    uv_run(&e->w->loop, UV_RUN_NOWAIT);
    quiet = e->events == before ? quiet + 1 : 0;
  }
}

/* Writes every queue out (the hooks may queue more while the loop runs);
 * gives up after 8 rounds in a row without progress (a peer that does not
 * read). Ends after a quiet loop and a round with nothing to do. */
static void drive(ph_env *e) {
  for (int idle = 0; idle < 8;) {
    ph_spin(e);
    if (write_round(e)) idle = 0;
    else if (!queued(e)) break;
    else idle++;
  }
}

/* --- ending the run --------------------------------------------------------- */

static void guard_cb(uv_timer_t *t) { (void)t; }

/* Runs the loop in real time until the client saw tollgate end the
 * connection, at most PH_STALL_WAIT_MS. Returns 0 or -1 (it did not). */
static int wait_for_tollgate(ph_env *e) {
  uint64_t end = uv_now(&e->w->loop) + PH_STALL_WAIT_MS;
  uv_timer_start(&guard, guard_cb, 1, 1);
  while (!e->client->eof && uv_now(&e->w->loop) < end) {
    uv_run(&e->w->loop, UV_RUN_ONCE);
    if (e->client->queue.len || queued(e)) drive(e);
  }
  uv_timer_stop(&guard);
  return e->client->eof ? 0 : -1;
}

static void close_all(ph_env *e) {
  conn_close(e->client);
  for (unsigned i = 0; i < e->nups; i++) conn_close(e->ups[i]);
  ph_spin(e);
  for (size_t i = 0; i < e->cfg->nupstreams; i++) tg_pool_close_all(&e->w->groups[i]);
  while (e->w->clients) tg_client_close(e->w->clients);
  for (int i = 0; i < 100 && (e->live || loop_handles(e) != e->base_handles); i++) ph_spin(e);
}

static void trace_clients(ph_env *e, const char *when) {
  if (e->verbose < 2) return;
  for (tg_client *c = e->w->clients; c; c = c->next)
    fprintf(stderr, "harness: %s: tollgate client state %d pause %d pending %zu reading %d up %p\n", when, c->state,
            c->pause, c->pending.len, c->reading, c->x ? (void *)c->x->leg.up : NULL);
}

int ph_run_end(ph_env *e, const ph_opts *o) {
  drive(e);
  trace_clients(e, "after the writes");
  int rc = 0;
  if (o->stall && wait_for_tollgate(e) < 0) {
    fprintf(stderr, "proxy_harness: tollgate did not end the connection within %d ms (timeouts %d ms)\n",
            PH_STALL_WAIT_MS, PH_SHORT_MS);
    for (tg_client *c = e->w->clients; c; c = c->next)
      fprintf(stderr, "proxy_harness: client state %d, pause %d, pending %zu, reading %d, sink busy %d, up %p\n",
              c->state, c->pause, c->pending.len, c->reading, c->sink.busy, c->x ? (void *)c->x->leg.up : NULL);
    rc = -1;
  }
  conn_shutdown(e->client);
  ph_spin(e);
  for (unsigned i = 0; i < e->nups; i++) conn_shutdown(e->ups[i]);
  ph_spin(e);
  close_all(e);
  if (e->live || loop_handles(e) != e->base_handles) {
    fprintf(stderr, "proxy_harness: %u handles left on the loop after the run (want %u)\n", loop_handles(e),
            e->base_handles);
    rc = -1;
  }
  return rc;
}

/* Prints n bytes of p with C escapes, at most 2000 of them. */
static void dump(const char *label, const tg_buf *b) {
  fprintf(stderr, "--- %s (%zu bytes) ---\n", label, b->len);
  for (size_t i = 0; i < b->len && i < 2000; i++) {
    unsigned char c = (unsigned char)b->data[i];
    if (c == '\n') fputs("\\n\n", stderr);
    else if (c == '\r') fputs("\\r", stderr);
    else if (c < 32 || c > 126 || c == '\\') fprintf(stderr, "\\x%02x", c);
    else fputc(c, stderr);
  }
  if (b->len > 2000) fputs("...", stderr);
  fputc('\n', stderr);
}

/* With FUZZ_DUMP_DIR set, the raw bytes also go to files there. */
static void dump_raw(const char *name, const tg_buf *b) {
  const char *dir = getenv("FUZZ_DUMP_DIR");
  char path[512];
  if (!dir) return;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) return;
  if (b->len) fwrite(b->data, 1, b->len, f);
  fclose(f);
}

static void dump_conn(const char *what, const tg_buf *b) {
  char name[64];
  snprintf(name, sizeof name, "%s.bin", what);
  for (char *p = name; *p; p++)
    if (*p == ' ') *p = '-';
  dump(what, b);
  dump_raw(name, b);
}

void ph_fail(ph_env *e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("invariant broken: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  if (e->client) {
    dump_conn("client sent", &e->client->out);
    dump_conn("client received", &e->client->in);
  }
  for (unsigned i = 0; i < e->nups; i++) {
    char label[64];
    snprintf(label, sizeof label, "upstream %u received", i);
    dump_conn(label, &e->ups[i]->in);
    snprintf(label, sizeof label, "upstream %u sent", i);
    dump_conn(label, &e->ups[i]->out);
  }
  abort();
}

static void conn_free(ph_conn *c) {
  tg_buf_free(&c->in);
  tg_buf_free(&c->out);
  tg_buf_free(&c->queue);
  free(c);
}

void ph_run_free(ph_env *e) {
  conn_free(e->client);
  e->client = NULL;
  for (unsigned i = 0; i < e->nups; i++) conn_free(e->ups[i]);
  e->nups = 0;
}
