/* main.c: mock-ollama's command line, the SO_REUSEPORT listening sockets
 * (one per worker thread), the worker threads, and SIGINT/SIGTERM. */
#include "mock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* The simulator's defaults are Ollama's: 3 models loaded, 1 slot, a queue
 * of 512, 5 minutes' keep-alive (loads take no time unless --load-ms). */
mock_opts_t mock_opts = {.host = "127.0.0.1",
                         .port = 11434,
                         .threads = 1,
                         .tokens = 12,
                         .delay_ms = 30,
                         .host_check = true,
                         .max_loaded = 3,
                         .slots = 1,
                         .max_queue = 512,
                         .keep_alive_ms = 300000};

typedef struct mock_main {
  uv_loop_t loop;
  uv_signal_t sigint, sigterm;
  mock_worker_t **workers;
  unsigned nworkers;
} mock_main_t;

static void usage(FILE *f) {
  fputs("usage: mock-ollama [--listen HOST:PORT] [--threads N] [--tokens N] [--delay-ms N]\n"
        "                   [--no-host-check] [--pull-fail] [--quiet]\n"
        "       server simulator: [--models NAME,...] [--max-loaded N] [--slots N] [--max-queue N]\n"
        "                   [--load-ms N] [--keep-alive-ms N] [--prompt-eval-us-per-token N]\n"
        "                   [--multiuser-cache]\n"
        "A mock Ollama server for tests and benchmarks; see docs/mock-ollama.md.\n",
        f);
}

static bool parse_uint(const char *s, unsigned max, unsigned *out) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s ? s : "", &end, 10);
  if (!s || !*s || *end || errno || v > max) return false;
  *out = (unsigned)v;
  return true;
}

/* HOST:PORT, [V6]:PORT, or :PORT (host stays the default). */
static bool parse_listen(const char *arg) {
  const char *colon = strrchr(arg, ':');
  unsigned port;
  if (!colon || !parse_uint(colon + 1, 65535, &port)) return false;
  size_t n = (size_t)(colon - arg);
  if (n >= 2 && arg[0] == '[' && arg[n - 1] == ']') arg++, n -= 2;
  if (n >= sizeof mock_opts.host) return false;
  if (n > 0) {
    memcpy(mock_opts.host, arg, n);
    mock_opts.host[n] = '\0';
  }
  mock_opts.port = (int)port;
  return true;
}

static bool parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    bool ok = true;
    if (strcmp(a, "--listen") == 0) ok = v && parse_listen(v), i++;
    else if (strcmp(a, "--threads") == 0) ok = parse_uint(v, 256, &mock_opts.threads) && mock_opts.threads > 0, i++;
    else if (strcmp(a, "--tokens") == 0) ok = parse_uint(v, 100000000, &mock_opts.tokens), i++;
    else if (strcmp(a, "--delay-ms") == 0) ok = parse_uint(v, 100000000, &mock_opts.delay_ms), i++;
    else if (strcmp(a, "--models") == 0) ok = v && mock_catalog_set(v), mock_opts.sim = true, i++;
    else if (strcmp(a, "--max-loaded") == 0) ok = parse_uint(v, 1000, &mock_opts.max_loaded), mock_opts.sim = true, i++;
    else if (strcmp(a, "--slots") == 0) ok = parse_uint(v, 100000, &mock_opts.slots), mock_opts.sim = true, i++;
    else if (strcmp(a, "--max-queue") == 0)
      ok = parse_uint(v, 1000000, &mock_opts.max_queue), mock_opts.sim = true, i++;
    else if (strcmp(a, "--load-ms") == 0) ok = parse_uint(v, 3600000, &mock_opts.load_ms), mock_opts.sim = true, i++;
    else if (strcmp(a, "--keep-alive-ms") == 0)
      ok = parse_uint(v, 100000000, &mock_opts.keep_alive_ms), mock_opts.sim = true, i++;
    else if (strcmp(a, "--prompt-eval-us-per-token") == 0)
      ok = parse_uint(v, 10000000, &mock_opts.prompt_eval_us_per_token), mock_opts.sim = true, i++;
    else if (strcmp(a, "--multiuser-cache") == 0) mock_opts.multiuser_cache = mock_opts.sim = true;
    else if (strcmp(a, "--no-host-check") == 0) mock_opts.host_check = false;
    else if (strcmp(a, "--pull-fail") == 0) mock_opts.pull_fail = true;
    else if (strcmp(a, "--quiet") == 0) mock_opts.quiet = true;
    else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) usage(stdout), exit(0);
    else ok = false;
    if (!ok) {
      fprintf(stderr, "mock-ollama: bad argument: %s%s%s\n", a, v ? " " : "", v ? v : "");
      return false;
    }
  }
  if (mock_opts.sim && mock_opts.threads != 1) {
    fputs("mock-ollama: the server simulator (--models, --max-loaded, --slots, --max-queue, --load-ms,\n"
          "--keep-alive-ms) runs one scheduler on one thread: use --threads 1\n",
          stderr);
    return false;
  }
  return true;
}

/* Thousands of streams need thousands of descriptors. */
static void raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static bool resolve_listen(struct sockaddr_storage *ss, socklen_t *len) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *res;
  char port[8];
  snprintf(port, sizeof port, "%d", mock_opts.port);
  int rc = getaddrinfo(mock_opts.host, port, &hints, &res);
  if (rc != 0) {
    fprintf(stderr, "mock-ollama: %s: %s\n", mock_opts.host, gai_strerror(rc));
    return false;
  }
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  *len = res->ai_addrlen;
  freeaddrinfo(res);
  return true;
}

static bool addr_is_loopback(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET) return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
  return sa->sa_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

/* socket, SO_REUSEADDR + SO_REUSEPORT, bind, listen. Returns fd or -errno. */
static int open_listener(const struct sockaddr *sa, socklen_t len) {
  int one = 1;
  int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 || bind(fd, sa, len) != 0 ||
      listen(fd, 4096) != 0) {
    int err = -errno;
    close(fd);
    return err;
  }
  return fd;
}

static void print_listening(const struct sockaddr_storage *ss) {
  char host[INET6_ADDRSTRLEN];
  int port;
  if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
    inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
    port = ntohs(s6->sin6_port);
    fprintf(stderr, "mock-ollama: listening on [%s]:%d\n", host, port);
  } else {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
    port = ntohs(s4->sin_port);
    fprintf(stderr, "mock-ollama: listening on %s:%d\n", host, port);
  }
  fflush(stderr);
}

/* SO_REUSEPORT would let us share a port another mock-ollama holds; a
 * plain bind first makes "address in use" an error, as it should be. */
static bool port_is_free(const struct sockaddr *sa, socklen_t len) {
  if (mock_opts.port == 0) return true;
  int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return true;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  bool ok = bind(fd, sa, len) == 0;
  int err = errno;
  close(fd);
  if (!ok) fprintf(stderr, "mock-ollama: listen %s:%d: %s\n", mock_opts.host, mock_opts.port, strerror(err));
  return ok;
}

/* Bind every worker's socket; port 0 picks a port with the first and
 * reuses it for the rest. */
static bool start_workers(mock_main_t *m, struct sockaddr_storage *ss, socklen_t len) {
  if (!port_is_free((struct sockaddr *)ss, len)) return false;
  m->workers = calloc(mock_opts.threads, sizeof *m->workers);
  for (unsigned i = 0; i < mock_opts.threads; i++) {
    int fd = open_listener((struct sockaddr *)ss, len);
    if (fd < 0) {
      fprintf(stderr, "mock-ollama: listen %s:%d: %s\n", mock_opts.host, mock_opts.port, strerror(-fd));
      return false;
    }
    if (i == 0) getsockname(fd, (struct sockaddr *)ss, &len);
    mock_worker_t *w = calloc(1, sizeof *w);
    m->workers[m->nworkers++] = w;
    w->index = i;
    int rc = mock_worker_init(w, fd);
    if (rc != 0) {
      fprintf(stderr, "mock-ollama: worker %u: %s\n", i, uv_strerror(rc));
      return false;
    }
  }
  for (unsigned i = 0; i < m->nworkers; i++) uv_thread_create(&m->workers[i]->thread, mock_worker_run, m->workers[i]);
  return true;
}

static void on_signal(uv_signal_t *s, int signum) {
  (void)signum;
  mock_main_t *m = s->data;
  for (unsigned i = 0; i < m->nworkers; i++) uv_async_send(&m->workers[i]->stop);
  uv_close((uv_handle_t *)&m->sigint, NULL);
  uv_close((uv_handle_t *)&m->sigterm, NULL);
}

static void stop_workers(mock_main_t *m) {
  for (unsigned i = 0; i < m->nworkers; i++) {
    uv_thread_join(&m->workers[i]->thread);
    mock_worker_destroy(m->workers[i]);
    free(m->workers[i]);
  }
  free(m->workers);
}

int main(int argc, char **argv) {
  mock_main_t m = {0};
  struct sockaddr_storage ss;
  socklen_t len;
  if (!parse_args(argc, argv)) {
    usage(stderr);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  raise_nofile();
  if (!resolve_listen(&ss, &len)) return 1;
  mock_opts.loopback = addr_is_loopback((struct sockaddr *)&ss);
  if (!start_workers(&m, &ss, len)) return 1;
  print_listening(&ss);
  uv_loop_init(&m.loop);
  uv_signal_init(&m.loop, &m.sigint);
  uv_signal_init(&m.loop, &m.sigterm);
  m.sigint.data = m.sigterm.data = &m;
  uv_signal_start(&m.sigint, on_signal, SIGINT);
  uv_signal_start(&m.sigterm, on_signal, SIGTERM);
  uv_run(&m.loop, UV_RUN_DEFAULT);
  uv_loop_close(&m.loop);
  stop_workers(&m);
  mock_events_free();
  return 0;
}
