/* /readyz's answer: ready when tollgate is not draining, at least one
 * upstream server answered its last check, and (with `on_failure closed`
 * only) every worker's connection to the shared store is up. Until health checks exist, the
 * check is made here, on the admin listener's loop (the main thread's):
 * a non-blocking connect and `GET /api/version` to each server of the
 * newest configuration, 1 s at most, the result kept for 1 s so a probe
 * every few seconds costs Ollama one request per server and no more.
 * A health checker that knows each server's state replaces probe_round. */
#include "tollgate/readiness.h"

#include "tollgate/metrics.h"
#include "tollgate/shared.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBE_TIMEOUT_MS 1000
#define RESULT_TTL_MS 1000
#define MAX_WAITERS 64
#define NOT_READY "no upstream has answered: "

typedef struct target {
  struct sockaddr_storage addr;
  char name[280]; /* host:port, for the reason */
  char host[280]; /* the Host header: host_header, or name */
  int resolved;
} target;

typedef struct probe {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_connect_t conn;
  uv_write_t wr;
  char req[400];
  char resp[16];
  size_t got;
  size_t idx;
  int finished, closes;
} probe;

typedef struct waiter {
  tg_readiness_cb cb;
  void *arg;
} waiter;

static struct {
  uv_loop_t *loop;
  target *t;
  size_t n;
  int draining, running, outstanding, any_ok;
  int shared_closed;   /* requests are refused while the shared store does not answer (on_failure closed) */
  uint64_t checked_ms; /* 0: never */
  char reason[1024];
  waiter w[MAX_WAITERS];
  size_t nw;
} R;

void tg_readiness_set_targets(uv_loop_t *loop, const tg_config *cfg) {
  size_t n = 0;
  for (size_t i = 0; i < cfg->nupstreams; i++) n += cfg->upstreams[i].nservers;
  target *t = calloc(n ? n : 1, sizeof *t);
  if (!t) return;
  n = 0;
  for (size_t i = 0; i < cfg->nupstreams; i++)
    for (size_t j = 0; j < cfg->upstreams[i].nservers; j++, n++) {
      const tg_hostport *hp = &cfg->upstreams[i].servers[j].addr;
      struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
      char port[8];
      snprintf(port, sizeof port, "%u", hp->port);
      snprintf(t[n].name, sizeof t[n].name, "%s:%u", hp->host, hp->port);
      snprintf(t[n].host, sizeof t[n].host, "%s",
               cfg->upstreams[i].host_header ? cfg->upstreams[i].host_header : t[n].name);
      if (getaddrinfo(hp->host, port, &hints, &res) == 0) { /* the main thread, at start or reload */
        memcpy(&t[n].addr, res->ai_addr, res->ai_addrlen);
        t[n].resolved = 1;
        freeaddrinfo(res);
      }
    }
  R.shared_closed = cfg->shared && cfg->shared->on_failure == TG_SHARED_CLOSED;
  if (R.running) return free(t); /* rare: the next call after this round takes it */
  free(R.t);
  R.loop = loop;
  R.t = t;
  R.n = n;
  R.checked_ms = 0;
}

void tg_readiness_draining(void) { R.draining = 1; }

static void round_done(void) {
  R.running = 0;
  R.checked_ms = uv_now(R.loop);
  if (R.any_ok) R.reason[0] = 0;
  waiter w[MAX_WAITERS];
  size_t n = R.nw;
  memcpy(w, R.w, n * sizeof *w);
  R.nw = 0;
  for (size_t i = 0; i < n; i++)
    if (w[i].cb) w[i].cb(w[i].arg, R.any_ok, R.reason);
}

static void probe_closed(uv_handle_t *h) {
  probe *p = h->data;
  if (--p->closes == 0) free(p);
}

/* Records one server's outcome (why = NULL: it answered). */
static void probe_finish(probe *p, const char *why) {
  if (p->finished) return;
  p->finished = 1;
  if (!why) R.any_ok = 1;
  else {
    size_t len = strlen(R.reason);
    snprintf(R.reason + len, sizeof R.reason - len, "%s%s %s", len > sizeof NOT_READY - 1 ? ", " : "", R.t[p->idx].name,
             why);
  }
  p->closes = 2;
  uv_close((uv_handle_t *)&p->tcp, probe_closed);
  uv_close((uv_handle_t *)&p->timer, probe_closed);
  if (--R.outstanding == 0) round_done();
}

static void probe_timeout(uv_timer_t *t) { probe_finish(t->data, "timed out"); }

static void probe_alloc(uv_handle_t *h, size_t size, uv_buf_t *b) {
  probe *p = h->data;
  (void)size;
  *b = uv_buf_init(p->resp + p->got, (unsigned)(sizeof p->resp - 1 - p->got));
}

/* Enough of the answer to know its status: "HTTP/1.1 200". */
static void probe_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  probe *p = s->data;
  (void)b;
  if (n < 0) return probe_finish(p, n == UV_EOF ? "closed without an answer" : uv_strerror((int)n));
  p->got += (size_t)n;
  if (p->got < 12 && p->got < sizeof p->resp - 1) return;
  p->resp[p->got] = 0;
  int ok = strncmp(p->resp, "HTTP/1.", 7) == 0 && strncmp(p->resp + 8, " 200", 4) == 0;
  probe_finish(p, ok ? NULL : "answered without 200");
}

static void probe_written(uv_write_t *w, int status) {
  if (status < 0) probe_finish(w->data, uv_strerror(status));
}

static void probe_connected(uv_connect_t *c, int status) {
  probe *p = c->data;
  if (p->finished) return;
  if (status < 0) return probe_finish(p, status == UV_ECONNREFUSED ? "refused" : uv_strerror(status));
  uv_buf_t b = uv_buf_init(p->req, (unsigned)strlen(p->req));
  p->wr.data = p;
  if (uv_write(&p->wr, (uv_stream_t *)&p->tcp, &b, 1, probe_written) < 0 ||
      uv_read_start((uv_stream_t *)&p->tcp, probe_alloc, probe_read) < 0)
    probe_finish(p, "cannot send the probe");
}

static void probe_start(size_t i) {
  probe *p = calloc(1, sizeof *p);
  R.outstanding++;
  if (!p || !R.t[i].resolved) {
    size_t len = strlen(R.reason);
    snprintf(R.reason + len, sizeof R.reason - len, "%s%s %s", len > sizeof NOT_READY - 1 ? ", " : "", R.t[i].name,
             p ? "does not resolve" : "cannot be probed (out of memory)");
    free(p);
    R.outstanding--;
    return;
  }
  p->idx = i;
  snprintf(p->req, sizeof p->req, "GET /api/version HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", R.t[i].host);
  uv_tcp_init(R.loop, &p->tcp);
  uv_timer_init(R.loop, &p->timer);
  p->tcp.data = p->timer.data = p->conn.data = p;
  uv_timer_start(&p->timer, probe_timeout, PROBE_TIMEOUT_MS, 0);
  if (uv_tcp_connect(&p->conn, &p->tcp, (struct sockaddr *)&R.t[i].addr, probe_connected) < 0)
    probe_finish(p, "cannot connect");
}

static void probe_round(void) {
  R.running = 1;
  R.any_ok = 0;
  snprintf(R.reason, sizeof R.reason, "%s", NOT_READY);
  R.outstanding = 1; /* held until every probe has started */
  for (size_t i = 0; i < R.n; i++) probe_start(i);
  if (--R.outstanding == 0) round_done();
}

void tg_readiness_check(tg_readiness_cb cb, void *arg) {
  if (R.draining) return cb(arg, 0, "draining");
  /* under local and open a store that does not answer refuses nothing */
  if (R.shared_closed && tg_metrics_shared_up() == 0)
    return cb(arg, 0, "the shared store does not answer (on_failure closed: limited requests are refused)");
  if (!R.loop || !R.n) return cb(arg, 0, "no upstream is configured");
  if (R.checked_ms && uv_now(R.loop) - R.checked_ms < RESULT_TTL_MS && !R.running) return cb(arg, R.any_ok, R.reason);
  if (R.nw == MAX_WAITERS) return cb(arg, 0, "too many readiness checks at once");
  R.w[R.nw++] = (waiter){cb, arg};
  if (!R.running) probe_round();
}

void tg_readiness_cancel(const void *arg) {
  for (size_t i = 0; i < R.nw; i++)
    if (R.w[i].arg == arg) R.w[i].cb = NULL;
}
