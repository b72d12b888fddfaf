/* doctor-http: a small blocking HTTP/1.1 client for `tollgate doctor`.
 * Each request opens its own connection (TCP, then OpenSSL for https),
 * every operation waits with poll() under its own limit, and llhttp parses
 * the response. Each read that carries body bytes is stamped with its
 * arrival time, so the doctor can tell a streamed answer from a buffered
 * one. Blocking by design: this runs from the command line, never on a
 * gateway loop thread. */
#include "doctor-http.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <llhttp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#define DH_BODY_MAX (8u << 20) /* bytes of body kept; more is counted, not kept */
#define DH_HEAD_MAX (64u << 10)

typedef struct dh_conn {
  int fd;
  SSL *ssl;
} dh_conn;

double dh_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Records why the exchange failed; the first cause wins. */
__attribute__((format(printf, 3, 4))) static void set_err(dh_resp *rs, dh_err e, const char *fmt, ...) {
  if (rs->err) return;
  rs->err = e;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(rs->errmsg, sizeof rs->errmsg, fmt, ap);
  va_end(ap);
}

/* ---- client ---- */

int dh_client_init(dh_client *c, const tg_http_url *u, const char *cacert, int insecure, int connect_ms, char *err,
                   size_t errlen) {
  memset(c, 0, sizeof *c);
  c->url = u;
  c->insecure = insecure;
  c->connect_ms = connect_ms;
  if (!u->tls) return 0;
  c->ctx = SSL_CTX_new(TLS_client_method());
  if (!c->ctx) return snprintf(err, errlen, "OpenSSL: cannot create a context"), -1;
  /* Verify ourselves after the handshake, to report the exact reason. */
  SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
  SSL_CTX_set_options(c->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  int ok = cacert ? SSL_CTX_load_verify_locations(c->ctx, cacert, NULL) : SSL_CTX_set_default_verify_paths(c->ctx);
  if (ok != 1) {
    snprintf(err, errlen, "cannot load CA certificates from %s", cacert ? cacert : "the system store");
    dh_client_free(c);
    return -1;
  }
  static const unsigned char alpn[] = "\x08http/1.1";
  SSL_CTX_set_alpn_protos(c->ctx, alpn, sizeof alpn - 1);
  return 0;
}

void dh_client_free(dh_client *c) {
  if (c->ctx) SSL_CTX_free(c->ctx);
  c->ctx = NULL;
}

/* ---- waiting ---- */

/* Waits for events on fd up to ms. Returns 0 when ready, -1 on timeout. */
static int wait_fd(int fd, short events, int ms) {
  struct pollfd pfd = {.fd = fd, .events = events};
  double end = dh_now() + ms / 1000.0;
  for (;;) {
    int left = (int)((end - dh_now()) * 1000.0 + 0.999);
    if (left < 0) left = 0;
    int r = poll(&pfd, 1, left);
    if (r > 0) return 0;
    if (r == 0) return -1;
    if (errno != EINTR) return -1;
  }
}

/* ---- TCP ---- */

static void addr_text(const struct sockaddr *sa, char *out, size_t n) {
  char ip[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *s4 = (const void *)sa;
    inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
    port = ntohs(s4->sin_port);
    snprintf(out, n, "%s:%d", ip, port);
  } else {
    const struct sockaddr_in6 *s6 = (const void *)sa;
    inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
    port = ntohs(s6->sin6_port);
    snprintf(out, n, "[%s]:%d", ip, port);
  }
}

/* One non-blocking connect under ms. Returns the fd or -1 (errno set). */
static int connect_one(const struct addrinfo *ai, int ms) {
  int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
  if (fd < 0) return -1;
  if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) return fd;
  if (errno == EINPROGRESS) {
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (wait_fd(fd, POLLOUT, ms) < 0) errno = ETIMEDOUT;
    else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0) return fd;
    else errno = soerr ? soerr : EIO;
  }
  int e = errno;
  close(fd);
  errno = e;
  return -1;
}

static int tcp_connect(dh_client *c, dh_resp *rs) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
  int gai = getaddrinfo(c->url->host, c->url->port, &hints, &res);
  if (gai) {
    set_err(rs, DH_ERR_CONNECT, "cannot resolve the host: %s", gai_strerror(gai));
    return -1;
  }
  int fd = -1, e = 0;
  for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
    double t0 = dh_now();
    fd = connect_one(ai, c->connect_ms);
    e = errno;
    addr_text(ai->ai_addr, c->addr, sizeof c->addr);
    c->connect_s = dh_now() - t0;
  }
  freeaddrinfo(res);
  if (fd < 0) set_err(rs, e == ETIMEDOUT ? DH_ERR_TIMEOUT : DH_ERR_CONNECT, "connect: %s", strerror(e));
  return fd;
}

/* ---- TLS ---- */

static void tls_note_cert(SSL *ssl, dh_tls_info *ti) {
  X509 *cert = SSL_get1_peer_certificate(ssl);
  ti->has_cert = cert != NULL;
  ti->verify = SSL_get_verify_result(ssl);
  if (!cert) return;
  X509_NAME_oneline(X509_get_subject_name(cert), ti->subject, sizeof ti->subject);
  X509_NAME_oneline(X509_get_issuer_name(cert), ti->issuer, sizeof ti->issuer);
  int days = 0, secs = 0;
  if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(cert))) ti->secs_left = days * 86400LL + secs;
  X509_free(cert);
}

/* Sets SNI and the name the certificate must carry (a DNS name or an IP). */
static void tls_set_name(SSL *ssl, const char *host) {
  unsigned char bin[16];
  int is_ip = inet_pton(AF_INET, host, bin) == 1 || inet_pton(AF_INET6, host, bin) == 1;
  if (is_ip) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
    return;
  }
  SSL_set_tlsext_host_name(ssl, host);
  SSL_set1_host(ssl, host);
}

/* Runs an SSL call that may want to wait. Returns its result (> 0 on
 * success), -2 on timeout. */
static int tls_step(SSL *ssl, int fd, int rc, int ms) {
  int e = SSL_get_error(ssl, rc);
  if (e == SSL_ERROR_WANT_READ) return wait_fd(fd, POLLIN, ms) < 0 ? -2 : 0;
  if (e == SSL_ERROR_WANT_WRITE) return wait_fd(fd, POLLOUT, ms) < 0 ? -2 : 0;
  return -1;
}

static void tls_errmsg(char *out, size_t n) {
  unsigned long e = ERR_get_error();
  if (e) ERR_error_string_n(e, out, n);
  else snprintf(out, n, "%s", errno ? strerror(errno) : "connection closed during the handshake");
  ERR_clear_error();
}

static int tls_handshake(dh_client *c, dh_conn *cn, dh_resp *rs) {
  cn->ssl = SSL_new(c->ctx);
  if (!cn->ssl || SSL_set_fd(cn->ssl, cn->fd) != 1) return set_err(rs, DH_ERR_IO, "SSL_new failed"), -1;
  tls_set_name(cn->ssl, c->url->host);
  memset(&c->tls, 0, sizeof c->tls);
  for (;;) {
    errno = 0;
    int rc = SSL_connect(cn->ssl);
    if (rc == 1) break;
    int w = tls_step(cn->ssl, cn->fd, rc, c->connect_ms);
    if (w == 0) continue;
    char msg[160];
    if (w == -2) snprintf(msg, sizeof msg, "no TLS handshake within %d ms", c->connect_ms);
    else tls_errmsg(msg, sizeof msg);
    set_err(rs, w == -2 ? DH_ERR_TIMEOUT : DH_ERR_TLS, "TLS handshake: %s", msg);
    return -1;
  }
  rs->secured = 1;
  snprintf(c->tls.version, sizeof c->tls.version, "%s", SSL_get_version(cn->ssl));
  snprintf(c->tls.cipher, sizeof c->tls.cipher, "%s", SSL_get_cipher_name(cn->ssl));
  tls_note_cert(cn->ssl, &c->tls);
  if (c->tls.verify != X509_V_OK && !c->insecure) {
    set_err(rs, DH_ERR_TLS, "certificate: %s", X509_verify_cert_error_string(c->tls.verify));
    return -1;
  }
  return 0;
}

static void conn_close(dh_conn *cn) {
  if (cn->ssl) {
    SSL_free(cn->ssl);
    cn->ssl = NULL;
  }
  if (cn->fd >= 0) close(cn->fd);
  cn->fd = -1;
}

/* ---- bytes ---- */

static int conn_write(dh_conn *cn, const char *p, size_t n, int ms, dh_resp *rs) {
  while (n) {
    ssize_t w;
    if (cn->ssl) {
      int rc = SSL_write(cn->ssl, p, (int)n);
      if (rc <= 0) {
        int s = tls_step(cn->ssl, cn->fd, rc, ms);
        if (s == 0) continue;
        return set_err(rs, s == -2 ? DH_ERR_TIMEOUT : DH_ERR_IO, "write failed"), -1;
      }
      w = rc;
    } else {
      w = send(cn->fd, p, n, MSG_NOSIGNAL);
      if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
        if (wait_fd(cn->fd, POLLOUT, ms) < 0) return set_err(rs, DH_ERR_TIMEOUT, "write timed out"), -1;
        continue;
      }
      if (w < 0) return set_err(rs, errno == ECONNRESET ? DH_ERR_RESET : DH_ERR_IO, "write: %s", strerror(errno)), -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Reads what is there, waiting up to ms. Returns bytes, 0 at EOF, -1 on error. */
static ssize_t conn_read(dh_conn *cn, char *buf, size_t cap, int ms, dh_resp *rs) {
  for (;;) {
    if (cn->ssl) {
      errno = 0;
      int rc = SSL_read(cn->ssl, buf, (int)cap);
      if (rc > 0) return rc;
      int e = SSL_get_error(cn->ssl, rc);
      if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0)) return 0;
      int s = tls_step(cn->ssl, cn->fd, rc, ms);
      if (s == 0) continue;
      if (s == -2) return set_err(rs, DH_ERR_TIMEOUT, "no bytes within the limit"), -1;
      if (errno == ECONNRESET) return set_err(rs, DH_ERR_RESET, "connection reset"), -1;
      char msg[160];
      tls_errmsg(msg, sizeof msg);
      return set_err(rs, DH_ERR_IO, "read: %s", msg), -1;
    }
    ssize_t r = recv(cn->fd, buf, cap, 0);
    if (r >= 0) return r;
    if (errno == EAGAIN || errno == EINTR) {
      if (wait_fd(cn->fd, POLLIN, ms) < 0) return set_err(rs, DH_ERR_TIMEOUT, "no bytes within the limit"), -1;
      continue;
    }
    return set_err(rs, errno == ECONNRESET ? DH_ERR_RESET : DH_ERR_IO, "read: %s", strerror(errno)), -1;
  }
}

/* ---- response parsing ---- */

typedef struct parse_ctx {
  dh_resp *rs;
  double t0, now;
} parse_ctx;

static dh_resp *ctx_resp(llhttp_t *p) { return ((parse_ctx *)p->data)->rs; }

static int on_status(llhttp_t *p, const char *at, size_t n) {
  return tg_head_add_target(&ctx_resp(p)->head, at, n, DH_HEAD_MAX) ? -1 : 0;
}

static int on_field(llhttp_t *p, const char *at, size_t n) {
  return tg_head_add_name(&ctx_resp(p)->head, at, n, DH_HEAD_MAX) ? -1 : 0;
}

static int on_value(llhttp_t *p, const char *at, size_t n) {
  return tg_head_add_value(&ctx_resp(p)->head, at, n, DH_HEAD_MAX) ? -1 : 0;
}

static int on_headers_complete(llhttp_t *p) {
  parse_ctx *x = p->data;
  x->rs->status = p->status_code;
  x->rs->got_head = 1;
  x->rs->t_head = x->now - x->t0;
  return 0;
}

static int add_arrival(dh_resp *rs, double t, size_t off, size_t len) {
  if (rs->narr && rs->arr[rs->narr - 1].t == t && rs->arr[rs->narr - 1].off + rs->arr[rs->narr - 1].len == off) {
    rs->arr[rs->narr - 1].len += len; /* same read */
    return 0;
  }
  if (rs->narr == rs->carr) {
    size_t nc = rs->carr ? rs->carr * 2 : 64;
    dh_arrival *na = realloc(rs->arr, nc * sizeof *na);
    if (!na) return -1;
    rs->arr = na;
    rs->carr = nc;
  }
  rs->arr[rs->narr++] = (dh_arrival){.t = t, .off = off, .len = len};
  return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n) {
  parse_ctx *x = p->data;
  dh_resp *rs = x->rs;
  size_t off = rs->body.len;
  if (off + n > DH_BODY_MAX) n = off < DH_BODY_MAX ? DH_BODY_MAX - off : 0;
  if (n && tg_buf_append(&rs->body, at, n) < 0) return -1;
  return n ? add_arrival(rs, x->now - x->t0, off, n) : 0;
}

static int on_message_complete(llhttp_t *p) {
  parse_ctx *x = p->data;
  x->rs->complete = 1;
  x->rs->t_end = x->now - x->t0;
  return HPE_PAUSED;
}

static const llhttp_settings_t *settings(void) {
  static llhttp_settings_t s;
  static int ready;
  if (!ready) {
    llhttp_settings_init(&s);
    s.on_status = on_status;
    s.on_header_field = on_field;
    s.on_header_value = on_value;
    s.on_headers_complete = on_headers_complete;
    s.on_body = on_body;
    s.on_message_complete = on_message_complete;
    ready = 1;
  }
  return &s;
}

/* Feeds one read to the parser. Returns 1 when the response is complete,
 * 0 for more, -1 on a parse error. */
static int feed(llhttp_t *p, const char *buf, size_t n, dh_resp *rs) {
  llhttp_errno_t e = llhttp_execute(p, buf, n);
  if (e == HPE_PAUSED_UPGRADE) {
    rs->complete = 1; /* a 101: the head is all there is to read */
    return 1;
  }
  if (e == HPE_PAUSED || rs->complete) return 1;
  if (e == HPE_OK) return 0;
  set_err(rs, DH_ERR_PARSE, "invalid HTTP response: %s", llhttp_errno_name(e));
  return -1;
}

/* Reads until the response is complete, the peer closes, or a wait passes rq->read_ms. */
static int read_response(dh_conn *cn, const dh_req *rq, dh_resp *rs, double t0) {
  llhttp_t p;
  parse_ctx x = {.rs = rs, .t0 = t0};
  llhttp_init(&p, HTTP_RESPONSE, settings());
  p.data = &x;
  char buf[16384];
  for (;;) {
    ssize_t n = conn_read(cn, buf, sizeof buf, rq->read_ms, rs);
    x.now = dh_now();
    if (n < 0) return -1;
    if (n == 0) {
      if (llhttp_finish(&p) == HPE_OK && rs->complete) return 0;
      if (rs->complete) return 0;
      set_err(rs, DH_ERR_CLOSED, "the connection closed %s",
              rs->got_head ? "before the response was complete" : "without a response");
      return -1;
    }
    int r = feed(&p, buf, (size_t)n, rs);
    if (r) return r > 0 ? 0 : -1;
  }
}

/* ---- one exchange ---- */

static int build_request(const dh_client *c, const dh_req *rq, tg_buf *out) {
  const char *path = rq->abs_path ? rq->abs_path : rq->path;
  const char *base = rq->abs_path ? "" : c->url->base;
  int rc = tg_buf_printf(out, "%s %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s/%s\r\n", rq->method, base, path,
                         c->url->authority, c->user_agent ? c->user_agent : "tollgate-doctor", TG_VERSION);
  if (!rq->keep_open) rc |= tg_buf_puts(out, "Connection: close\r\n");
  if (rq->body) rc |= tg_buf_printf(out, "Content-Length: %zu\r\n", rq->body_len);
  if (rq->headers) rc |= tg_buf_puts(out, rq->headers);
  rc |= tg_buf_puts(out, "\r\n");
  if (rq->body) rc |= tg_buf_append(out, rq->body, rq->body_len);
  return rc ? -1 : 0;
}

int dh_do(dh_client *c, const dh_req *rq, dh_resp *rs) {
  memset(rs, 0, sizeof *rs);
  double t0 = dh_now();
  dh_conn cn = {.fd = -1};
  tg_buf req = {0};
  int rc = -1;
  cn.fd = tcp_connect(c, rs);
  if (cn.fd < 0) goto out;
  rs->connected = 1;
  if (c->ctx && tls_handshake(c, &cn, rs) < 0) goto out;
  if (build_request(c, rq, &req) < 0) {
    set_err(rs, DH_ERR_IO, "out of memory");
    goto out;
  }
  if (conn_write(&cn, req.data, req.len, c->connect_ms, rs) < 0) goto out;
  rs->t_sent = dh_now() - t0;
  rc = read_response(&cn, rq, rs, t0);
out:
  if (rc < 0) rs->t_end = dh_now() - t0;
  tg_buf_free(&req);
  conn_close(&cn);
  return rc;
}

void dh_resp_free(dh_resp *rs) {
  tg_head_free(&rs->head);
  tg_buf_free(&rs->body);
  free(rs->arr);
  rs->arr = NULL;
  rs->narr = rs->carr = 0;
}

const char *dh_field(const dh_resp *rs, const char *name, char *out, size_t outlen) {
  return tg_head_value_copy(&rs->head, name, out, outlen);
}
