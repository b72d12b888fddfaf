/* Worker threads: one libuv loop each, with its own SO_REUSEPORT listeners,
 * upstream pools and access-log buffer. The main thread only waits for
 * signals and tells the workers to stop. */
#include "tollgate/worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tollgate/proxy.h"

void tg_worker_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  tg_worker *w = h->loop->data;
  *buf = uv_buf_init(w->rbuf, sizeof w->rbuf);
}

tg_pool *tg_worker_pool_for(tg_worker *w, const tg_upstream_conf *up) {
  for (size_t i = 0; i < w->cfg->nupstreams; i++)
    if (&w->cfg->upstreams[i] == up) return &w->pools[i];
  return NULL;
}

/* Resolves host:port (numeric or a name, at start only: this blocks). */
static int resolve(const tg_hostport *hp, struct sockaddr_storage *out, int passive) {
  struct addrinfo hints = {0}, *res = NULL;
  char port[8];
  snprintf(port, sizeof port, "%u", hp->port);
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  const char *host = hp->host[0] ? hp->host : NULL;
  int rc = getaddrinfo(host, port, &hints, &res);
  if (rc != 0) return rc;
  memcpy(out, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  return 0;
}

static int listen_socket(const tg_hostport *hp) {
  struct sockaddr_storage ss;
  int rc = resolve(hp, &ss, 1);
  if (rc) {
    tg_log_error("cannot listen on %s:%u: %s", hp->host, hp->port, gai_strerror(rc));
    return -1;
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd < 0) goto fail;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) goto fail;
  if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  socklen_t len = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 4096) < 0) goto fail;
  return fd;
fail:
  tg_log_error("cannot listen on %s:%u: %s", hp->host[0] ? hp->host : "*", hp->port, strerror(errno));
  if (fd >= 0) close(fd);
  return -1;
}

static void on_connection(uv_stream_t *server, int status) {
  tg_worker *w = server->loop->data;
  if (status < 0 || w->stopping) return;
  size_t i = (size_t)((uv_tcp_t *)server - w->listeners);
  tg_client_accept(w, server, w->listener_site[i]);
}

static void stop_cb(uv_async_t *a) {
  tg_worker *w = a->data;
  w->stopping = 1;
  for (size_t i = 0; i < w->nlisteners; i++) uv_close((uv_handle_t *)&w->listeners[i], NULL);
  while (w->clients) tg_client_close(w->clients);
  for (size_t i = 0; i < w->cfg->nupstreams; i++) tg_pool_close_all(&w->pools[i]);
  tg_access_log_stop(&w->log);
  uv_close((uv_handle_t *)&w->stop, NULL);
}

static void worker_main(void *arg) {
  tg_worker *w = arg;
  for (size_t i = 0; i < w->nlisteners; i++) {
    uv_tcp_init(&w->loop, &w->listeners[i]);
    uv_tcp_open(&w->listeners[i], w->listener_fds[i]);
    uv_listen((uv_stream_t *)&w->listeners[i], 4096, on_connection);
  }
  uv_run(&w->loop, UV_RUN_DEFAULT);
}

static size_t count_listens(const tg_config *cfg) {
  size_t n = 0;
  for (size_t s = 0; s < cfg->nsites; s++) n += cfg->sites[s].nlistens;
  return n;
}

static int worker_setup(tg_worker *w, unsigned id, const tg_config *cfg, int log_fd) {
  w->id = id;
  w->cfg = cfg;
  if (uv_loop_init(&w->loop)) return -1;
  w->loop.data = w;
  size_t n = count_listens(cfg), k = 0;
  w->listeners = calloc(n, sizeof *w->listeners);
  w->listener_site = calloc(n, sizeof *w->listener_site);
  w->listener_fds = calloc(n, sizeof *w->listener_fds);
  w->pools = calloc(cfg->nupstreams, sizeof *w->pools);
  if (!w->listeners || !w->listener_site || !w->listener_fds || !w->pools) return -1;
  for (size_t s = 0; s < cfg->nsites; s++)
    for (size_t l = 0; l < cfg->sites[s].nlistens; l++) {
      w->listener_site[k] = &cfg->sites[s];
      if ((w->listener_fds[k++] = listen_socket(&cfg->sites[s].listens[l])) < 0) return -1;
      w->nlisteners = k;
    }
  for (size_t u = 0; u < cfg->nupstreams; u++)
    if (tg_pool_init(&w->pools[u], w, &cfg->upstreams[u]) < 0) return -1;
  tg_access_log_init(&w->log, &w->loop, log_fd);
  uv_async_init(&w->loop, &w->stop, stop_cb);
  w->stop.data = w;
  return 0;
}

static void worker_free(tg_worker *w) {
  uv_run(&w->loop, UV_RUN_DEFAULT);
  uv_loop_close(&w->loop);
  tg_access_log_free(&w->log);
  tg_buf_free(&w->scratch);
  free(w->listeners);
  free(w->listener_site);
  free(w->listener_fds);
  free(w->pools);
}

static uv_signal_t sig_term, sig_int;
static tg_worker *all_workers;
static unsigned nworkers;

static void on_signal(uv_signal_t *s, int signum) {
  tg_log_error("%s received, stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
  for (unsigned i = 0; i < nworkers; i++) uv_async_send(&all_workers[i].stop);
  uv_close((uv_handle_t *)&sig_term, NULL);
  uv_close((uv_handle_t *)&sig_int, NULL);
  (void)s;
}

static void raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static unsigned worker_count(const tg_config *cfg) {
  if (cfg->workers) return cfg->workers;
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (unsigned)n : 1;
}

static void log_listening(const tg_config *cfg, unsigned n) {
  for (size_t s = 0; s < cfg->nsites; s++)
    for (size_t l = 0; l < cfg->sites[s].nlistens; l++) {
      const tg_hostport *hp = &cfg->sites[s].listens[l];
      tg_log_error("listening on %s:%u (%u workers), proxying to %s:%u", hp->host[0] ? hp->host : "*",
                   hp->port, n, cfg->sites[s].upstream->server.host, cfg->sites[s].upstream->server.port);
    }
}

int tg_run(const tg_config *cfg) {
  signal(SIGPIPE, SIG_IGN);
  raise_nofile();
  int log_fd = tg_access_log_open(cfg->access_log);
  if (log_fd == -2) {
    tg_log_error("cannot open access log %s: %s", cfg->access_log, strerror(errno));
    return 1;
  }
  nworkers = worker_count(cfg);
  all_workers = calloc(nworkers, sizeof *all_workers);
  int rc = all_workers ? 0 : 1;
  unsigned started = 0;
  for (unsigned i = 0; i < nworkers && rc == 0; i++)
    if (worker_setup(&all_workers[i], i, cfg, log_fd) < 0) rc = 1;
  if (rc) return 1; /* the process exits; the kernel closes what was opened */
  for (unsigned i = 0; i < nworkers && rc == 0; i++, started++)
    if (uv_thread_create(&all_workers[i].thread, worker_main, &all_workers[i])) rc = 1;
  if (rc == 0) {
    log_listening(cfg, nworkers);
    uv_loop_t *main_loop = uv_default_loop();
    uv_signal_init(main_loop, &sig_term);
    uv_signal_init(main_loop, &sig_int);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_run(main_loop, UV_RUN_DEFAULT);
    uv_loop_close(main_loop);
  }
  for (unsigned i = 0; i < started; i++) uv_thread_join(&all_workers[i].thread);
  for (unsigned i = 0; all_workers && i < nworkers; i++) worker_free(&all_workers[i]);
  free(all_workers);
  if (log_fd > STDERR_FILENO) close(log_fd);
  return rc;
}
