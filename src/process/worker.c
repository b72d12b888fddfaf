/* A worker: one thread, one libuv loop, its own SO_REUSEPORT listeners,
 * upstream pools and access-log buffer. The main thread (src/process/master.c)
 * starts workers and tells them to drain or stop; nothing else crosses
 * threads. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tollgate/limits.h"
#include "tollgate/metrics.h"
#include "tollgate/process-conf.h"
#include "tollgate/proxy.h"
#include "tollgate/shared.h"
#include "tollgate/tls.h"

static int on_connection(tg_acceptors *s, size_t i, int fd) {
  tg_worker *w = s->data;
  return tg_client_accept(w, fd, w->listener_site[i], w->listener_kind[i]);
}

/* The last connection is gone: close what keeps the loop running. */
static void worker_finish(tg_worker *w) {
  for (size_t i = 0; i < w->cfg->nupstreams; i++) tg_pool_close_all(&w->groups[i]);
  tg_access_log_stop(&w->log);
  tg_shared_conn_close(w->shared);
  w->shared = NULL;
  tg_loop_turn_close(&w->turn);
  if (w->io->stop) w->io->stop(&w->loop);
  uv_close((uv_handle_t *)&w->drain_timer, NULL);
  uv_close((uv_handle_t *)&w->stop, NULL);
}

static void worker_client_gone(tg_worker *w) {
  if (w->draining && !w->clients && !uv_is_closing((uv_handle_t *)&w->stop)) worker_finish(w);
}

static void close_all_clients(tg_worker *w) {
  while (w->clients) tg_client_close(w->clients);
}

static void drain_timer_cb(uv_timer_t *t) {
  tg_worker *w = t->data;
  tg_log_warn("worker %u: drain timeout: closing %s", w->id, w->clients ? "the connections still open" : "");
  close_all_clients(w);
}

/* Stops accepting; idle connections close now, busy ones after their
 * exchange (they are told Connection: close), all of them at the drain
 * deadline. */
static void worker_drain(tg_worker *w) {
  if (!w->draining) {
    w->draining = 1;
    tg_acceptors_close(&w->accept);
    for (tg_client *c = w->clients, *next; c; c = next) {
      next = c->next;
      tg_client_drain(c);
    }
    if (w->cfg->drain_timeout_ms && uv_timer_start(&w->drain_timer, drain_timer_cb, w->cfg->drain_timeout_ms, 0) < 0)
      tg_log_error("worker %u: no drain timeout: the drain waits for every exchange to end", w->id);
  }
  worker_client_gone(w);
}

static void stop_cb(uv_async_t *a) {
  tg_worker *w = a->data;
  int mode = atomic_load((_Atomic int *)&w->stop_mode);
  worker_drain(w);
  if (mode == TG_STOP_NOW) close_all_clients(w);
}

void tg_worker_request_stop(tg_worker *w, int mode) {
  atomic_store((_Atomic int *)&w->stop_mode, mode);
  int rc = uv_async_send(&w->stop);
  if (rc < 0) tg_log_error("worker %u: cannot be told to stop: %s", w->id, uv_strerror(rc));
}

/* The worker's connection to the shared store came up or went: counted,
 * and what requests get meanwhile said once (not per request). */
static void shared_state(void *data, int up) {
  static const char *const meanwhile[] = {"limits count in this instance alone", "limited requests pass unlimited",
                                          "limited requests are refused (503)"};
  static const char *const policy[] = {"local", "open", "closed"};
  tg_worker *w = data;
  tg_metrics_shared_conn(up ? 1 : -1);
  if (up) tg_log_info("worker %u: limits count across instances again", w->id);
  else if (!w->draining)
    tg_log_warn("worker %u: until the shared store answers, %s (on_failure %s)", w->id,
                meanwhile[w->cfg->shared->on_failure], policy[w->cfg->shared->on_failure]);
}

static void shared_round_trip(void *data, uint64_t us) {
  (void)data;
  tg_metrics_shared_round_trip(us);
}

static void shared_start(tg_worker *w) {
  char name[32];
  snprintf(name, sizeof name, "worker %u", w->id);
  if (!(w->shared = tg_shared_conn_start(&w->loop, w->cfg->shared, name))) {
    tg_log_error("worker %u: no connection to the shared store (out of memory): limits count here alone", w->id);
    return;
  }
  tg_shared_hooks h = {.state = shared_state, .round_trip = shared_round_trip, .data = w};
  tg_shared_conn_set_hooks(w->shared, &h);
}

void tg_worker_main(void *arg) {
  tg_worker *w = arg;
  int rc = tg_acceptors_start(&w->accept, &w->loop, w->listener_fds, w->nlisteners, on_connection, w);
  if (rc < 0) tg_log_error("worker %u: cannot accept on its listeners: %s", w->id, uv_strerror(rc));
  if (w->cfg->shared) shared_start(w);
  uv_run(&w->loop, UV_RUN_DEFAULT);
  tg_tls_thread_done();
  tg_metrics_thread_done(); /* the next worker thread counts on where this one stopped */
}

static size_t count_listens(const tg_config *cfg) {
  size_t n = 0;
  for (size_t s = 0; s < cfg->nsites; s++) n += cfg->sites[s].nlistens;
  return n;
}

int tg_worker_init(tg_worker *w, unsigned id, const tg_config *cfg, const int *listen_fds, size_t nfds, int log_fd) {
  w->id = id;
  w->cfg = cfg;
  if (uv_loop_init(&w->loop)) return -1;
  w->loop.data = w;
  size_t n = count_listens(cfg), k = 0;
  w->listener_site = calloc(n, sizeof *w->listener_site);
  w->listener_kind = calloc(n, sizeof *w->listener_kind);
  w->listener_fds = calloc(n, sizeof *w->listener_fds);
  w->groups = calloc(cfg->nupstreams, sizeof *w->groups);
  if (!w->listener_site || !w->listener_kind || !w->listener_fds || !w->groups || nfds != n) return -1;
  for (size_t s = 0; s < cfg->nsites; s++)
    for (size_t l = 0; l < cfg->sites[s].nlistens; l++, k++) {
      w->listener_site[k] = &cfg->sites[s];
      w->listener_kind[k] = cfg->sites[s].listen_kind[l];
      w->listener_fds[k] = listen_fds[k];
    }
  w->nlisteners = n;
  w->ops = &tg_proxy_ops;
  w->client_gone = worker_client_gone;
  for (size_t u = 0; u < cfg->nupstreams; u++)
    if (tg_pool_group_init(&w->groups[u], w, &cfg->upstreams[u]) < 0) return -1;
  /* the one handle that needs a descriptor (an eventfd): a worker that
   * could not be told to stop must not start */
  int rc = uv_async_init(&w->loop, &w->stop, stop_cb);
  if (rc < 0) {
    tg_log_error("worker %u: %s", id, uv_strerror(rc));
    return -1;
  }
  tg_access_log_init(&w->log, &w->loop, log_fd);
  uv_timer_init(&w->loop, &w->drain_timer);
  w->stop.data = w->drain_timer.data = w;
  tg_loop_turn_start(&w->loop, &w->turn);
  w->io = cfg->process && cfg->process->io ? cfg->process->io : &tg_io_epoll;
  rc = w->io->start ? w->io->start(&w->loop) : 0;
  if (rc < 0) { /* io_uring refused (a seccomp profile, io_uring_disabled): epoll serves */
    tg_log_error("worker %u: io_engine %s cannot start (%s): epoll serves instead", id, w->io->name, uv_strerror(rc));
    w->io = &tg_io_epoll;
  }
  return 0;
}

void tg_worker_abandon(tg_worker *w) {
  for (size_t i = 0; i < w->nlisteners; i++) close(w->listener_fds[i]);
  tg_access_log_stop(&w->log);
  tg_loop_turn_close(&w->turn);
  if (w->io->stop) w->io->stop(&w->loop);
  uv_close((uv_handle_t *)&w->drain_timer, NULL);
  uv_close((uv_handle_t *)&w->stop, NULL);
  tg_worker_free(w);
}

void tg_worker_free(tg_worker *w) {
  uv_run(&w->loop, UV_RUN_DEFAULT); /* close callbacks still queued, if any */
  uv_loop_close(&w->loop);
  tg_access_log_free(&w->log);
  tg_auth_worker_free(w);
  tg_limits_worker_free(w);
  tg_buf_free(&w->scratch);
  tg_exchange_cache_free(&w->xcache); /* after the close callbacks, which give back their clients' */
  tg_acceptors_free(&w->accept);
  free(w->listener_site);
  free(w->listener_kind);
  free(w->listener_fds);
  if (w->groups)
    for (size_t u = 0; u < w->cfg->nupstreams; u++) tg_pool_group_free(&w->groups[u]);
  free(w->groups);
}
