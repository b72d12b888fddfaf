// bench/streamclient.c: N concurrent generations against the mock Ollama,
// directly or through a proxy, in one epoll thread (optionally over TLS).
//
// Each stream is `POST /api/generate` with `X-Mock-Stamp: 1`, so every line
// the mock writes carries `"mock_t_ns":N`, its CLOCK_MONOTONIC just before the
// write. The client reads CLOCK_MONOTONIC right after each read() and records,
// per line, arrival minus stamp: the latency of the whole path (mock write,
// proxy, client read). Direct runs give the floor; a proxy's added latency is
// its figure minus the direct one.
//
//   streamclient --port P [--streams 200] [--tokens 100] [--delay-ms 20]
//                [--ramp-ms 200] [--timeout-s 60] [--tls] [--sni NAME]
//                [--hold] [--auth BASE64]
//
// Default mode: runs every stream to its end (the server closes: each request
// says `Connection: close`) and prints one JSON line:
//   {"streams","ok","errors","chunks","lost","p50_us","p99_us","max_us",
//    "ttfc_p50_ms","ttfc_p99_ms","wall_s"}
// lost = (tokens + 1) * streams - chunks (the final object is stamped too).
//
// --hold: opens every stream, waits until each has read its response head and
// its first stamped line, prints `READY {...}` on stdout, then keeps every
// connection open until SIGTERM/SIGINT (or --timeout-s), and prints the JSON
// summary (for RSS-per-stream measurements; use a long --delay-ms).
//
// Build: cc -O2 -o streamclient bench/streamclient.c -lssl -lcrypto
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { S_IDLE, S_CONNECTING, S_HANDSHAKE, S_SENDING, S_READING, S_DONE };

struct conn {
  int fd;
  int state;
  int is_error;
  int head_ok; // status line read and 200
  int seen;    // stamped lines
  int64_t start_ns;
  SSL *ssl;
  size_t sent;
  char tail[256]; // the incomplete last line (only its end matters)
  char last[5];   // the stream's last 5 bytes: the terminating chunk?
  size_t tail_len;
};

static struct conn *conns;
static int nstreams = 200, tokens = 100, delay_ms = 20, ramp_ms = -1, timeout_s = 60;
static int port, use_tls, hold;
static const char *host = "127.0.0.1", *sni = "localhost", *auth;
static char request[1024];
static size_t request_len;
static SSL_CTX *ctx;
static int ep;
static volatile sig_atomic_t stop_flag;

static uint32_t *lat; // ns, saturating at 4.29 s
static size_t nlat, caplat;
static double *ttfc; // ms
static size_t nttfc;
static int nok, nerr, nfinished, nready;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

static void add_lat(int64_t ns) {
  if (nlat == caplat) {
    caplat = caplat ? caplat * 2 : 1 << 16;
    lat = realloc(lat, caplat * sizeof *lat);
    if (!lat) abort();
  }
  if (ns < 0) ns = 0;
  lat[nlat++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

static void finish(struct conn *c, int error) {
  if (c->state == S_DONE) return;
  if (error || !c->head_ok) c->is_error = 1;
  if (c->is_error) nerr++;
  else nok++;
  nfinished++;
  c->state = S_DONE;
  if (c->ssl) {
    SSL_free(c->ssl);
    c->ssl = NULL;
  }
  if (c->fd >= 0) {
    close(c->fd);
    c->fd = -1;
  }
}

// Keeps the last bytes of [p, p + n) after what tail already holds (cap bytes at most).
static size_t keep_end(char *dst, size_t have, size_t cap, const char *p, size_t n) {
  if (n >= cap) {
    memcpy(dst, p + n - cap, cap);
    return cap;
  }
  if (have + n > cap) {
    size_t drop = have + n - cap;
    memmove(dst, dst + drop, have - drop);
    have -= drop;
  }
  memcpy(dst + have, p, n);
  return have + n;
}

// Scans complete lines for the stamp; keeps the unfinished end in c->tail.
static void scan(struct conn *c, const char *p, size_t n, int64_t t) {
  static const char key[] = "\"mock_t_ns\":";
  const char *end = p + n;
  while (p < end) {
    const char *nl = memchr(p, '\n', end - p);
    if (!nl) {
      c->tail_len = keep_end(c->tail, c->tail_len, sizeof c->tail, p, end - p);
      return;
    }
    char line[sizeof c->tail];
    const char *lp = p;
    size_t ln = nl - p;
    if (c->tail_len) { // the line is tail + [p, nl): its last bytes are enough
      memcpy(line, c->tail, c->tail_len);
      ln = keep_end(line, c->tail_len, sizeof line, p, ln);
      lp = line;
      c->tail_len = 0;
    }
    if (!c->head_ok && ln >= 12 && memcmp(lp, "HTTP/1.", 7) == 0) {
      if (memcmp(lp + 9, "200", 3) == 0) c->head_ok = 1;
      else c->is_error = 1;
    }
    const char *k = memmem(lp, ln, key, sizeof key - 1);
    if (k) {
      int64_t v = 0;
      for (const char *d = k + sizeof key - 1; d < lp + ln && *d >= '0' && *d <= '9'; d++) v = v * 10 + (*d - '0');
      if (c->seen == 0) {
        ttfc[nttfc++] = (t - c->start_ns) / 1e6;
        if (hold) nready++;
      }
      c->seen++;
      add_lat(t - v);
    }
    p = nl + 1;
  }
}

static void want(struct conn *c, uint32_t ev) {
  struct epoll_event e = {.events = ev, .data.ptr = c};
  if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e) < 0) finish(c, 1);
}

static void start(struct conn *c) {
  c->start_ns = now_ns();
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    c->state = S_IDLE;
    finish(c, 1);
    return;
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, host, &a.sin_addr);
  c->state = S_CONNECTING;
  if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
    finish(c, 1);
    return;
  }
  struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e) < 0) finish(c, 1);
}

static int io_read(struct conn *c, char *buf, size_t n) { // >0 bytes, 0 EOF, -1 again, -2 error
  if (c->ssl) {
    int r = SSL_read(c->ssl, buf, (int)n);
    if (r > 0) return r;
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) return -1;
    if (e == SSL_ERROR_WANT_WRITE) {
      want(c, EPOLLOUT);
      return -1;
    }
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    ERR_clear_error();
    return c->seen ? 0 : -2; // a TLS close without close_notify after data: EOF
  }
  ssize_t r = read(c->fd, buf, n);
  if (r > 0) return (int)r;
  if (r == 0) return 0;
  if (errno == EAGAIN || errno == EINTR) return -1;
  return -2;
}

static void on_event(struct conn *c, uint32_t ev) {
  static char buf[65536];
  if (c->state == S_CONNECTING) {
    int err = 0;
    socklen_t l = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
    if (err) {
      finish(c, 1);
      return;
    }
    if (use_tls) {
      c->ssl = SSL_new(ctx);
      SSL_set_fd(c->ssl, c->fd);
      SSL_set_tlsext_host_name(c->ssl, sni);
      c->state = S_HANDSHAKE;
    } else c->state = S_SENDING;
  }
  if (c->state == S_HANDSHAKE) {
    int r = SSL_connect(c->ssl);
    if (r <= 0) {
      int e = SSL_get_error(c->ssl, r);
      if (e == SSL_ERROR_WANT_READ) {
        want(c, EPOLLIN);
        return;
      }
      if (e == SSL_ERROR_WANT_WRITE) {
        want(c, EPOLLOUT);
        return;
      }
      ERR_clear_error();
      finish(c, 1);
      return;
    }
    c->state = S_SENDING;
  }
  if (c->state == S_SENDING) {
    while (c->sent < request_len) {
      ssize_t w;
      if (c->ssl) {
        int r = SSL_write(c->ssl, request + c->sent, (int)(request_len - c->sent));
        if (r <= 0) {
          int e = SSL_get_error(c->ssl, r);
          if (e == SSL_ERROR_WANT_WRITE) {
            want(c, EPOLLOUT);
            return;
          }
          if (e == SSL_ERROR_WANT_READ) {
            want(c, EPOLLIN);
            return;
          }
          finish(c, 1);
          return;
        }
        w = r;
      } else {
        w = write(c->fd, request + c->sent, request_len - c->sent);
        if (w < 0) {
          if (errno == EAGAIN) {
            want(c, EPOLLOUT);
            return;
          }
          finish(c, 1);
          return;
        }
      }
      c->sent += (size_t)w;
    }
    c->state = S_READING;
    want(c, EPOLLIN);
    if (c->state == S_DONE) return;
    if (!c->ssl) return; // TLS may hold decrypted bytes already: read now
  }
  (void)ev;
  if (c->state == S_READING) {
    for (;;) {
      int r = io_read(c, buf, sizeof buf);
      if (r == -1) {
        if (c->ssl && SSL_pending(c->ssl) > 0) continue;
        return;
      }
      if (r <= 0) {
        finish(c, r == -2 && c->seen < tokens + 1);
        return;
      }
      scan(c, buf, (size_t)r, now_ns());
      if (r >= 5) memcpy(c->last, buf + r - 5, 5);
      else {
        memmove(c->last, c->last + r, 5 - (size_t)r);
        memcpy(c->last + 5 - r, buf, (size_t)r);
      }
      // the final object and the terminating chunk: done (the server
      // would close next; closing first with nothing unread is clean)
      if (c->seen >= tokens + 1 && !hold && memcmp(c->last, "0\r\n\r\n", 5) == 0) {
        finish(c, 0);
        return;
      }
    }
  }
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}
static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void summary(FILE *f, const char *prefix, double wall) {
  qsort(lat, nlat, sizeof *lat, cmp_u32);
  qsort(ttfc, nttfc, sizeof *ttfc, cmp_d);
#define PCT(a, n, p) ((n) ? (a)[(size_t)((n) * (p) / 100) < (n) ? (size_t)((n) * (p) / 100) : (n)-1] : 0)
  long long chunks = 0;
  for (int i = 0; i < nstreams; i++) chunks += conns[i].seen;
  long long lost = (long long)(tokens + 1) * nstreams - chunks;
  if (hold) lost = 0;
  fprintf(f,
          "%s{\"streams\":%d,\"ok\":%d,\"errors\":%d,\"ready\":%d,\"chunks\":%lld,\"lost\":%lld,"
          "\"p50_us\":%.0f,\"p90_us\":%.0f,\"p99_us\":%.0f,\"max_us\":%.0f,"
          "\"ttfc_p50_ms\":%.2f,\"ttfc_p99_ms\":%.2f,\"wall_s\":%.2f}\n",
          prefix, nstreams, nok, nerr, nready, chunks, lost < 0 ? 0 : lost, PCT(lat, nlat, 50) / 1e3,
          PCT(lat, nlat, 90) / 1e3, PCT(lat, nlat, 99) / 1e3, nlat ? lat[nlat - 1] / 1e3 : 0.0, PCT(ttfc, nttfc, 50),
          PCT(ttfc, nttfc, 99), wall);
  fflush(f);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
    if (!strcmp(a, "--port")) port = atoi(v), i++;
    else if (!strcmp(a, "--host")) host = v, i++;
    else if (!strcmp(a, "--streams")) nstreams = atoi(v), i++;
    else if (!strcmp(a, "--tokens")) tokens = atoi(v), i++;
    else if (!strcmp(a, "--delay-ms")) delay_ms = atoi(v), i++;
    else if (!strcmp(a, "--ramp-ms")) ramp_ms = atoi(v), i++;
    else if (!strcmp(a, "--timeout-s")) timeout_s = atoi(v), i++;
    else if (!strcmp(a, "--sni")) sni = v, i++;
    else if (!strcmp(a, "--auth")) auth = v, i++;
    else if (!strcmp(a, "--tls")) use_tls = 1;
    else if (!strcmp(a, "--hold")) hold = 1;
    else {
      fprintf(stderr, "streamclient: unknown argument %s\n", a);
      return 2;
    }
  }
  if (!port || nstreams <= 0) {
    fprintf(stderr, "usage: streamclient --port P [--streams N] ...\n");
    return 2;
  }
  if (ramp_ms < 0) ramp_ms = nstreams / 10; // 10 new streams per ms: no listen-queue overflow
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);

  static const char body[] = "{\"model\":\"llama3.2\",\"prompt\":\"bench\"}";
  char authline[300] = "";
  if (auth) snprintf(authline, sizeof authline, "Authorization: Basic %s\r\n", auth);
  request_len = (size_t)snprintf(request, sizeof request,
                                 "POST /api/generate HTTP/1.1\r\nHost: localhost:11434\r\n"
                                 "Content-Type: application/json\r\nX-Mock-Tokens: %d\r\nX-Mock-Delay-Ms: %d\r\n"
                                 "X-Mock-Stamp: 1\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                                 tokens, delay_ms, authline, sizeof body - 1, body);
  if (use_tls) {
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  }
  conns = calloc((size_t)nstreams, sizeof *conns);
  ttfc = calloc((size_t)nstreams, sizeof *ttfc);
  for (int i = 0; i < nstreams; i++) conns[i].fd = -1;
  ep = epoll_create1(EPOLL_CLOEXEC);

  int64_t t0 = now_ns(), deadline = t0 + (int64_t)timeout_s * 1000000000;
  int started = 0, printed_ready = 0;
  struct epoll_event evs[1024];
  for (;;) {
    int64_t t = now_ns();
    // ramp: stream i starts at t0 + i * ramp / n
    while (started < nstreams && (ramp_ms == 0 || t - t0 >= (int64_t)started * ramp_ms * 1000000 / nstreams))
      start(&conns[started++]);
    if (!hold && nfinished == nstreams) break;
    if (hold && !printed_ready && (nready + nerr >= nstreams)) {
      summary(stdout, "READY ", (now_ns() - t0) / 1e9);
      printed_ready = 1;
    }
    if (stop_flag || t > deadline) break;
    int wait_ms = started < nstreams ? 1 : 100;
    int n = epoll_wait(ep, evs, 1024, wait_ms);
    for (int i = 0; i < n; i++) on_event(evs[i].data.ptr, evs[i].events);
  }
  double wall = (now_ns() - t0) / 1e9;
  for (int i = 0; i < nstreams; i++)
    if (conns[i].state != S_DONE) {
      if (hold) {
        conns[i].is_error = 0;
        conns[i].head_ok |= conns[i].seen > 0;
      }
      finish(&conns[i], !hold && conns[i].state != S_IDLE);
    }
  if (hold && !printed_ready) summary(stdout, "READY ", wall);
  summary(stdout, "", wall);
  return 0;
}
