/* Upstream connections: dialing with a timeout, the per-worker keep-alive
 * pool, and the one timer each connection carries (dial, response header,
 * idle between reads, idle in the pool). */
#include <arpa/inet.h>
#include <errno.h>
#include <sys/socket.h>
#include <netdb.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate/metrics.h"
#include "tollgate/proxy.h"
#include "tollgate/servers.h"
#include "tollgate/upstream-error.h"

tg_pool_group *tg_worker_group_for(tg_worker *w, const tg_upstream_conf *up) {
  for (size_t i = 0; i < w->cfg->nupstreams; i++)
    if (&w->cfg->upstreams[i] == up) return &w->groups[i];
  return NULL;
}

static int pool_init(tg_pool *p, tg_worker *w, const tg_upstream_conf *conf, const tg_server_conf *server) {
  struct addrinfo hints = {0}, *res = NULL;
  char port[8];
  p->w = w;
  p->conf = conf;
  p->server = server;
  p->st = tg_server_state_of(conf, server);
  snprintf(port, sizeof port, "%u", server->addr.port);
  hints.ai_socktype = SOCK_STREAM;
  int rc = getaddrinfo(server->addr.host, port, &hints, &res);
  if (rc) {
    tg_log_error("upstream %s: cannot resolve %s: %s", conf->name, server->addr.host, gai_strerror(rc));
    return -1;
  }
  memcpy(&p->addr, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  snprintf(p->addr_text, sizeof p->addr_text, "%s:%u", server->addr.host, server->addr.port);
  return 0;
}

int tg_pool_group_init(tg_pool_group *g, tg_worker *w, const tg_upstream_conf *conf) {
  g->conf = conf;
  g->n = (unsigned)conf->nservers;
  g->pools = calloc(g->n, sizeof *g->pools);
  g->views = calloc(g->n, sizeof *g->views);
  if (!g->pools || !g->views) return -1;
  for (unsigned i = 0; i < g->n; i++) {
    if (pool_init(&g->pools[i], w, conf, &conf->servers[i]) < 0) return -1;
    g->pools[i].counted = conf->nservers > 1 || conf->health.written;
    g->views[i] = (tg_server_view){.conf = &conf->servers[i], .st = g->pools[i].st};
  }
  return 0;
}

void tg_pool_group_free(tg_pool_group *g) {
  free(g->pools);
  free(g->views);
}

tg_pool *tg_pool_choose(tg_pool_group *g, uint64_t tried) {
  if (g->n == 1) return tried || g->pools[0].server->drain ? NULL : &g->pools[0]; /* the common case: no choice */
  int i = tg_servers_choose(g->views, g->n, g->conf->balance, tried, &g->rr);
  return i < 0 ? NULL : &g->pools[i];
}

void tg_pool_failed(tg_pool *p, const char *why) {
  tg_server_error(p->st);
  if (p->counted && tg_server_failed(p->st, &p->conf->health))
    tg_log_error("upstream %s: server %s is down after %u failures in a row (the last: %s)", p->conf->name,
                 p->addr_text, p->conf->health.fails, why);
}

void tg_pool_answered(tg_pool *p) {
  if (p->counted) tg_server_passed(p->st, &p->conf->health, 0);
}

static void pool_unlink(tg_upconn *u) {
  tg_pool *p = u->pool;
  if (u->prev) u->prev->next = u->next;
  else p->idle = u->next;
  if (u->next) u->next->prev = u->prev;
  u->next = u->prev = NULL;
  p->nidle--;
}

static void upconn_closed(uv_handle_t *h) {
  tg_upconn *u = h->data;
  if (--u->closing_handles) return;
  tg_sink_free(&u->sink);
  tg_head_free(&u->head);
  tg_head_free(&u->trailer);
  free(u);
}

static void upconn_unclaim(tg_upconn *u) {
  if (!u->claimed) return;
  u->claimed = 0;
  tg_server_unclaim(u->pool->st);
}

void tg_upconn_close(tg_upconn *u) {
  if (u->state == TG_UP_CLOSING) return;
  upconn_unclaim(u);
  if (u->state == TG_UP_IDLE) pool_unlink(u);
  tg_loop_turn_cancel(&u->pool->w->turn, &u->go);
  u->state = TG_UP_CLOSING;
  u->x = NULL;
  u->closing_handles = 2;
  u->sink.io->close((uv_handle_t *)&u->tcp, upconn_closed);
  uv_close((uv_handle_t *)&u->deadline.timer, upconn_closed);
}

static void upconn_timer_cb(uv_timer_t *t) {
  tg_upconn *u = t->data;
  if (!tg_deadline_passed(&u->deadline, upconn_timer_cb)) return;
  if (u->held) { /* tollgate holds its reads: not the upstream's idleness */
    tg_deadline_set(&u->deadline, u->deadline.len, upconn_timer_cb);
    return;
  }
  if (u->state == TG_UP_IDLE) tg_upconn_close(u);
  else u->pool->w->ops->upstream_timeout(u);
}

/* The deadline moves forward lazily (tollgate/deadline.h). A request sets
 * three timeouts (header, idle, keep-alive), each later than the one armed
 * before, so a busy connection does not touch the timer heap. */
void tg_upconn_set_timeout(tg_upconn *u, uint64_t timeout_ms) {
  int rc = tg_deadline_set(&u->deadline, timeout_ms, upconn_timer_cb);
  if (rc < 0) tg_log_error("upstream %s: cannot start its timer: %s", u->pool->addr_text, uv_strerror(rc));
}

void tg_upconn_stop_timeout(tg_upconn *u) { tg_deadline_stop(&u->deadline); }

static void upconn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  tg_upconn *u = s->data;
  if (nread == 0) return;
  if (u->state == TG_UP_IDLE) { /* the upstream closed, or said something unasked */
    tg_upconn_close(u);
    return;
  }
  if (u->state == TG_UP_QUEUED) { /* nothing asked yet: stale (upconn_go drops it) */
    u->stale = 1;
    tg_upconn_read_stop(u);
    return;
  }
  if (u->unpeeked == u->pool->w->turn.n) {
    /* Taken from the pool without a peek in this turn, and this turn's
     * poll had found it readable: what it holds was there before the
     * request went up (an EOF, or bytes nobody asked for), so it is never
     * this request's answer. The relay retries on another connection, as
     * for any reused connection that closes unanswered. */
    u->unpeeked = 0;
    if (nread > 0) nread = UV_EOF;
  }
  u->pool->w->ops->upstream_read(u, nread, buf->base);
}

/* Reading stays on across exchanges and while pooled (each switch is an
 * epoll_ctl); it stops only for backpressure or after unexpected bytes. */
void tg_upconn_read_start(tg_upconn *u) {
  if (u->reading) return;
  int rc = u->sink.io->read_start((uv_stream_t *)&u->tcp, tg_worker_alloc_cb, upconn_read_cb);
  if (rc < 0) { /* its timer fires now and ends the exchange (or drops it from the pool) */
    tg_log_error("upstream %s: cannot read: %s", u->pool->addr_text, uv_strerror(rc));
    tg_upconn_set_timeout(u, 0);
    return;
  }
  u->reading = 1;
}

void tg_upconn_read_stop(tg_upconn *u) {
  if (!u->reading) return;
  u->sink.io->read_stop((uv_stream_t *)&u->tcp);
  u->reading = 0;
}

static void upconn_drained(tg_sink *s, int status) {
  tg_upconn *u = s->stream->data;
  u->pool->w->ops->upstream_drained(u, status);
}

static void upconn_connected(uv_connect_t *req, int status) {
  tg_upconn *u = req->data;
  if (u->state == TG_UP_CLOSING) return;
  tg_exchange *x = u->x;
  const tg_exchange_ops *ops = u->pool->w->ops;
  tg_metrics_upstream(u->pool->conf->name, status == 0);
  if (status < 0) {
    tg_pool_failed(u->pool, uv_strerror(status));
    tg_upconn_close(u);
    ops->connected(x, NULL, status, 0);
    return;
  }
  u->state = TG_UP_ACTIVE;
  uv_tcp_nodelay(&u->tcp, 1); /* a failure costs latency, not correctness */
  tg_upconn_read_start(u);
  ops->connected(x, u, 0, 0);
}

/* Starts a dial for x. Returns the connection, or NULL with *err set to
 * the libuv error that stopped it at once (no socket, no route...). */
static tg_upconn *upconn_dial(tg_pool *p, tg_exchange *x, int *err) {
  tg_upconn *u = calloc(1, sizeof *u);
  *err = UV_ENOMEM;
  if (!u) return NULL;
  u->pool = p;
  u->x = x;
  u->state = TG_UP_DIALING;
  p->w->io->init(&p->w->loop, &u->tcp); /* no socket yet: cannot fail */
  tg_deadline_init(&p->w->loop, &u->deadline);
  u->tcp.data = u->deadline.timer.data = u->connect.data = u;
  tg_sink_init_io(&u->sink, p->w->io, (uv_stream_t *)&u->tcp, upconn_drained);
  int rc = p->w->io->connect(&u->connect, &u->tcp, (struct sockaddr *)&p->addr, upconn_connected);
  if (rc < 0) {
    *err = rc;
    tg_upconn_close(u);
    return NULL;
  }
  tg_upconn_set_timeout(u, p->conf->dial_timeout_ms);
  return u;
}

/* How an idle connection is known to be clean (no byte and no EOF waiting
 * in its socket that the loop has not read yet: such bytes would be read
 * as the next request's response) before its request is written. Its
 * reads stay on while it is pooled, so what arrived before this turn's
 * poll has been read and has closed it. What this turn's poll found and
 * the loop has not handled yet is what is left to catch:
 * - while the poll's callbacks run, for a request that can go again
 *   (tg_exchange_replayable), no system call (UP_NOW): the connection is
 *   marked with the turn, and a read callback for it later in the same
 *   turn means the poll had found it readable before the request went up
 *   (upconn_read_cb), so the request is retried elsewhere;
 * - while the poll's callbacks run, for a request with a body (which
 *   cannot go twice once its body is consumed), no system call either
 *   (UP_QUEUED): the request waits for the end of the poll's callbacks
 *   (tg_loop_turn_defer, upconn_go), so the connection's read callback,
 *   if the poll found it readable, runs before anything is written, and
 *   whatever it reads is stale (nothing was asked);
 * - otherwise (a timer or a deferred callback, which run outside the
 *   poll), a recv(MSG_PEEK) before the request is written (UP_NOW, or
 *   UP_STALE). */
enum { UP_STALE, UP_NOW, UP_QUEUED };

static int upconn_clean(tg_upconn *u, const tg_exchange *x) {
  const tg_loop_turn *turn = &u->pool->w->turn;
  u->unpeeked = 0;
  if (tg_loop_turn_polling(turn)) {
    if (!tg_exchange_replayable(x)) return UP_QUEUED;
    u->unpeeked = turn->n;
    return UP_NOW;
  }
  uv_os_fd_t fd;
  char b;
  if (uv_fileno((uv_handle_t *)&u->tcp, &fd) < 0) return UP_STALE;
  ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? UP_NOW : UP_STALE;
}

/* The end of the poll's callbacks for a queued connection: its request
 * goes up, or, when the poll had found it readable, the connection is
 * dropped and the request takes the pool again (outside the poll now: a
 * peek decides). */
static void upconn_go(tg_turn_task *task) {
  tg_upconn *u = (tg_upconn *)((char *)task - offsetof(tg_upconn, go));
  tg_exchange *x = u->x;
  tg_pool *p = u->pool;
  if (u->stale) {
    x->leg.up = NULL;
    tg_upconn_close(u);
    tg_pool_acquire(p, x);
    return;
  }
  u->state = TG_UP_ACTIVE;
  p->w->ops->connected(x, u, 0, 0);
}

void tg_pool_acquire(tg_pool *p, tg_exchange *x) {
  tg_upconn *u;
  int how = UP_STALE;
  while ((u = p->idle) && (how = upconn_clean(u, x)) == UP_STALE) tg_upconn_close(u);
  if (u) {
    pool_unlink(u);
    u->state = TG_UP_ACTIVE;
    u->x = x;
    u->reused = 1;
    u->held = 0; /* its keep-alive timer runs on: the relay sets the next deadline now */
    u->claimed = 1;
    tg_server_claim(p->st);
    tg_upconn_read_start(u);
    if (how == UP_QUEUED) {
      u->state = TG_UP_QUEUED;
      u->stale = 0;
      x->leg.up = u; /* a client that goes meanwhile closes it (tg_relay_abort) */
      tg_loop_turn_defer(&p->w->turn, &u->go, upconn_go);
      return;
    }
    p->w->ops->connected(x, u, 0, 0);
    return;
  }
  int err;
  u = upconn_dial(p, x, &err);
  if (u) {
    u->claimed = 1;
    tg_server_claim(p->st);
    x->leg.up = u;
    return;
  }
  if (tg_up_error_of(err) != TG_UPERR_LOCAL) { /* the upstream's failure */
    tg_metrics_upstream(p->conf->name, 0);
    tg_pool_failed(p, uv_strerror(err));
  }
  p->w->ops->connected(x, NULL, err, 0);
}

void tg_pool_release(tg_upconn *u, int reusable) {
  tg_pool *p = u->pool;
  upconn_unclaim(u);
  if (!reusable || u->sink.busy || p->nidle >= p->conf->keepalive || p->w->stopping) {
    tg_upconn_close(u);
    return;
  }
  u->x = NULL;
  u->state = TG_UP_IDLE;
  tg_head_free(&u->head);
  tg_head_free(&u->trailer);
  u->next = p->idle;
  u->prev = NULL;
  if (p->idle) p->idle->prev = u;
  p->idle = u;
  p->nidle++;
  /* Keep reading: an idle connection that closes or speaks is dropped. */
  tg_upconn_read_start(u);
  tg_upconn_set_timeout(u, p->conf->keepalive_timeout_ms);
}

void tg_pool_close_all(tg_pool_group *g) {
  for (unsigned i = 0; i < g->n; i++)
    while (g->pools[i].idle) tg_upconn_close(g->pools[i].idle);
}
