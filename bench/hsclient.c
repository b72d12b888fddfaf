// bench/hsclient.c: new connections per second, each one a TCP connect, a
// TLS handshake (full, or resumed from a session ticket) and one small
// request, for the handshake rows of bench/run.sh.
//
// Every connection: connect(), the handshake, `GET /api/version` with
// `Connection: close`, the response read to the server's close, close().
// The request makes every server finish its side of the handshake (and, in
// TLS 1.3, send its session tickets, which come before the response) the
// same way a real client's first request does; its cost is measured apart
// with --tls none (plain TCP, the same request).
//
//   hsclient --port P [--procs 2] [--conns 32] [--seconds 5] [--tls 1.3|1.2|none]
//            [--resume] [--sni localhost] [--host 127.0.0.1]
//
// --procs: that many processes (fork), each one epoll loop keeping --conns
// connections under way; a slot whose connection ends starts the next one.
// --resume: each process keeps the newest session it was given (a ticket) and
// offers it on every new connection (SSL_set_session); "resumed" counts the
// connections the server did resume (SSL_session_reused). Without it every
// handshake is a full one (no session offered, no cache).
// Prints one JSON line: {"ok","errors","resumed","per_s","hs_p50_ms",
// "hs_p99_ms","conn_p50_ms","conn_p99_ms","protocol","cipher","wall_s"};
// per_s counts connections completed (a 200 read to the close) within the
// time, from all processes; connections still under way at the end are not
// counted. hs = connect() to the handshake done; conn = connect() to close.
//
// The client's own handshake work (key exchange, the signature check) runs
// on the same cores as the server: per_s is what the pair reaches; the
// server's CPU per handshake (from /proc, in bench/run.sh) is the figure
// that does not depend on the client.
//
// Build: cc -O2 -o hsclient bench/hsclient.c -lssl -lcrypto
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
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
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { S_CONNECTING, S_HANDSHAKE, S_SENDING, S_READING };

struct conn {
  int fd, state, head_ok, got_session;
  size_t sent;
  int64_t start_ns, hs_ns;
  SSL *ssl;
  char head[16];
  size_t head_len;
};

#define MAXLAT (1 << 21)
struct shared { // one per process, in memory shared with the parent
  long long ok, errors, resumed;
  char protocol[32], cipher[64];
  uint32_t nlat;
  uint32_t hs_us[MAXLAT], conn_us[MAXLAT];
};

static int port, nprocs = 2, nconns = 32, seconds = 5, tls_ver = 13, resume;
static const char *host = "127.0.0.1", *sni = "localhost";
static const char request[] = "GET /api/version HTTP/1.1\r\nHost: localhost:11434\r\nConnection: close\r\n\r\n";
static SSL_CTX *ctx;
static SSL_SESSION *session; // the newest one this process was given
static int ep;
static struct shared *me;
static int64_t deadline;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void start(struct conn *c);

static void end(struct conn *c, int ok) {
  int64_t t = now_ns();
  if (t <= deadline) { // what ends after the deadline is not counted either way
    if (ok && c->head_ok) {
      me->ok++;
      if (c->ssl && SSL_session_reused(c->ssl)) me->resumed++;
      if (me->nlat < MAXLAT) {
        me->hs_us[me->nlat] = (uint32_t)((c->hs_ns - c->start_ns) / 1000);
        me->conn_us[me->nlat] = (uint32_t)((t - c->start_ns) / 1000);
        me->nlat++;
      }
      if (c->ssl && !me->protocol[0]) {
        snprintf(me->protocol, sizeof me->protocol, "%s", SSL_get_version(c->ssl));
        snprintf(me->cipher, sizeof me->cipher, "%s", SSL_get_cipher_name(c->ssl));
      }
    } else {
      me->errors++;
    }
  }
  if (c->ssl) {
    // mark the session as cleanly ended (the server closed; nothing more
    // to send): SSL_free would otherwise make it not resumable
    if (ok) SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(c->ssl);
    c->ssl = NULL;
  }
  ERR_clear_error();
  if (c->fd >= 0) close(c->fd); // epoll forgets a closed fd
  c->fd = -1;
  if (t < deadline) start(c);
}

static void want(struct conn *c, uint32_t ev) {
  struct epoll_event e = {.events = ev, .data.ptr = c};
  if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e) < 0) end(c, 0);
}

static void start(struct conn *c) {
  memset(c, 0, sizeof *c);
  c->start_ns = now_ns();
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    me->errors++;
    return;
  } // the slot stays empty
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, host, &a.sin_addr);
  c->state = S_CONNECTING;
  if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
    close(c->fd);
    c->fd = -1;
    me->errors++;
    return;
  }
  struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e) < 0) end(c, 0);
}

// >0 bytes, 0 EOF, -1 again, -2 error
static int io_read(struct conn *c, char *buf, size_t n) {
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
    return c->head_ok ? 0 : -2; // a close without close_notify after the response: EOF
  }
  ssize_t r = read(c->fd, buf, n);
  if (r > 0) return (int)r;
  if (r == 0) return 0;
  if (errno == EAGAIN || errno == EINTR) return -1;
  return -2;
}

static void on_event(struct conn *c) {
  static char buf[16384];
  if (c->state == S_CONNECTING) {
    int err = 0;
    socklen_t l = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
    if (err) {
      end(c, 0);
      return;
    }
    if (tls_ver) {
      c->ssl = SSL_new(ctx);
      SSL_set_fd(c->ssl, c->fd);
      SSL_set_tlsext_host_name(c->ssl, sni);
      if (resume && session) SSL_set_session(c->ssl, session);
      c->state = S_HANDSHAKE;
    } else {
      c->hs_ns = now_ns();
      c->state = S_SENDING;
    }
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
      end(c, 0);
      return;
    }
    c->hs_ns = now_ns();
    c->state = S_SENDING;
  }
  if (c->state == S_SENDING) {
    size_t len = sizeof request - 1;
    while (c->sent < len) {
      ssize_t w;
      if (c->ssl) {
        int r = SSL_write(c->ssl, request + c->sent, (int)(len - c->sent));
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
          end(c, 0);
          return;
        }
        w = r;
      } else {
        w = write(c->fd, request + c->sent, len - c->sent);
        if (w < 0) {
          if (errno == EAGAIN) {
            want(c, EPOLLOUT);
            return;
          }
          end(c, 0);
          return;
        }
      }
      c->sent += (size_t)w;
    }
    c->state = S_READING;
    want(c, EPOLLIN);
    if (c->fd < 0 || c->state != S_READING) return;
    if (!c->ssl) return;
  }
  if (c->state == S_READING) {
    for (;;) {
      int r = io_read(c, buf, sizeof buf);
      if (r == -1) {
        if (c->ssl && SSL_pending(c->ssl) > 0) continue;
        return;
      }
      if (r <= 0) {
        end(c, r == 0);
        return;
      }
      if (resume && c->ssl && !c->got_session) { // the tickets come before the response
        SSL_SESSION *s = SSL_get1_session(c->ssl);
        c->got_session = 1;
        if (s && SSL_SESSION_is_resumable(s)) {
          SSL_SESSION_free(session);
          session = s;
        } else {
          SSL_SESSION_free(s);
        }
      }
      if (c->head_len < 12) {
        size_t k = 12 - c->head_len < (size_t)r ? 12 - c->head_len : (size_t)r;
        memcpy(c->head + c->head_len, buf, k);
        c->head_len += k;
        if (c->head_len == 12) c->head_ok = memcmp(c->head, "HTTP/1.", 7) == 0 && memcmp(c->head + 9, "200", 3) == 0;
      }
    }
  }
}

static void run(void) {
  ep = epoll_create1(EPOLL_CLOEXEC);
  struct conn *conns = calloc((size_t)nconns, sizeof *conns);
  deadline = now_ns() + (int64_t)seconds * 1000000000;
  for (int i = 0; i < nconns; i++) start(&conns[i]);
  struct epoll_event evs[256];
  for (;;) {
    int64_t t = now_ns();
    if (t >= deadline) break;
    for (int i = 0; i < nconns; i++) // a slot left empty by a socket() or connect() error
      if (conns[i].fd < 0) start(&conns[i]);
    int n = epoll_wait(ep, evs, 256, (int)((deadline - t) / 1000000) + 1);
    for (int i = 0; i < n; i++) on_event(evs[i].data.ptr);
  }
  for (int i = 0; i < nconns; i++) { // abandoned: neither counted nor errors
    if (conns[i].ssl) SSL_free(conns[i].ssl);
    if (conns[i].fd >= 0) close(conns[i].fd);
  }
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
    if (!strcmp(a, "--port")) port = atoi(v), i++;
    else if (!strcmp(a, "--host")) host = v, i++;
    else if (!strcmp(a, "--procs")) nprocs = atoi(v), i++;
    else if (!strcmp(a, "--conns")) nconns = atoi(v), i++;
    else if (!strcmp(a, "--seconds")) seconds = atoi(v), i++;
    else if (!strcmp(a, "--sni")) sni = v, i++;
    else if (!strcmp(a, "--tls")) tls_ver = !strcmp(v, "none") ? 0 : !strcmp(v, "1.2") ? 12 : 13, i++;
    else if (!strcmp(a, "--resume")) resume = 1;
    else {
      fprintf(stderr, "hsclient: unknown argument %s\n", a);
      return 2;
    }
  }
  if (!port || nprocs <= 0 || nconns <= 0 || seconds <= 0) {
    fprintf(stderr,
            "usage: hsclient --port P [--procs 2] [--conns 32] [--seconds 5] [--tls 1.3|1.2|none] [--resume]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  if (tls_ver) {
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL); // the server's signature is still checked
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF); // a close without close_notify is an EOF
    int v = tls_ver == 12 ? TLS1_2_VERSION : TLS1_3_VERSION;
    SSL_CTX_set_min_proto_version(ctx, v);
    SSL_CTX_set_max_proto_version(ctx, v);
  }
  struct shared *sh =
      mmap(NULL, sizeof *sh * (size_t)nprocs, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (sh == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  int64_t t0 = now_ns();
  for (int p = 0; p < nprocs; p++) {
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      return 1;
    }
    if (pid == 0) {
      me = &sh[p];
      run();
      _exit(0);
    }
  }
  while (wait(NULL) > 0) {}
  double wall = (now_ns() - t0) / 1e9;
  long long ok = 0, errors = 0, resumed = 0;
  size_t n = 0;
  for (int p = 0; p < nprocs; p++) {
    ok += sh[p].ok;
    errors += sh[p].errors;
    resumed += sh[p].resumed;
    n += sh[p].nlat;
  }
  uint32_t *hs = malloc((n + 1) * sizeof *hs), *cn = malloc((n + 1) * sizeof *cn);
  size_t k = 0;
  for (int p = 0; p < nprocs; p++) {
    memcpy(hs + k, sh[p].hs_us, sh[p].nlat * sizeof *hs);
    memcpy(cn + k, sh[p].conn_us, sh[p].nlat * sizeof *cn);
    k += sh[p].nlat;
  }
  qsort(hs, n, sizeof *hs, cmp_u32);
  qsort(cn, n, sizeof *cn, cmp_u32);
#define PCT(a, p) (n ? (a)[(size_t)(n * (p) / 100) < n ? (size_t)(n * (p) / 100) : n - 1] / 1e3 : 0.0)
  printf("{\"procs\":%d,\"conns\":%d,\"seconds\":%d,\"tls\":\"%s\",\"resume\":%s,\"ok\":%lld,\"errors\":%lld,"
         "\"resumed\":%lld,\"per_s\":%.0f,\"hs_p50_ms\":%.3f,\"hs_p99_ms\":%.3f,\"conn_p50_ms\":%.3f,"
         "\"conn_p99_ms\":%.3f,\"protocol\":\"%s\",\"cipher\":\"%s\",\"wall_s\":%.2f}\n",
         nprocs, nconns, seconds,
         tls_ver == 13   ? "1.3"
         : tls_ver == 12 ? "1.2"
                         : "none",
         resume ? "true" : "false", ok, errors, resumed, (double)ok / seconds, PCT(hs, 50), PCT(hs, 99), PCT(cn, 50),
         PCT(cn, 99), sh[0].protocol, sh[0].cipher, wall);
  return 0;
}
