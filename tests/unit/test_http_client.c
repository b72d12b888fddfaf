/* The HTTP client (src/upstream/http-client.c) against a loopback server
 * on a thread: one connection, a canned answer (plain or TLS), and what
 * the client sent, kept for the test to read. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tg_test.h"
#include "tollgate/http-client-sync.h"
#include "tollgate/http-client.h"
#include "tollgate/http-url.h"
#include "tollgate/tls.h"

typedef struct server {
  int lfd;
  struct sockaddr_in addr;
  const char *answer; /* written after the request head; NULL: say nothing */
  int hold_ms;        /* then wait this long before closing */
  SSL_CTX *tls;       /* set: speak TLS */
  char seen[4096];    /* the request head as it arrived */
  pthread_t thread;
} server;

typedef struct outcome {
  int called;
  int status;
  tg_up_error error;
  int sent;
  char body[256];
  char field[64]; /* the value of X-Test */
  int head_status;
  uint64_t body_len;
  tg_http_times times;
  tg_tls_peer tls;
  char why[100];
  size_t hooked;         /* body bytes the on_body hook was given */
  uint64_t hook_read_ns; /* the read time it was last given */
} outcome;

static ssize_t srv_read(SSL *ssl, int fd, char *p, size_t n) {
  return ssl ? SSL_read(ssl, p, (int)n) : recv(fd, p, n, 0);
}

static void *serve(void *arg) {
  server *s = arg;
  int fd = accept(s->lfd, NULL, NULL);
  if (fd < 0) return NULL;
  SSL *ssl = NULL;
  if (s->tls) {
    ssl = SSL_new(s->tls);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) != 1) goto out;
  }
  size_t len = 0;
  while (len < sizeof s->seen - 1 && !strstr(s->seen, "\r\n\r\n")) {
    ssize_t r = srv_read(ssl, fd, s->seen + len, sizeof s->seen - 1 - len);
    if (r <= 0) goto out;
    len += (size_t)r;
    s->seen[len] = 0;
  }
  if (s->answer && ssl) SSL_write(ssl, s->answer, (int)strlen(s->answer));
  else if (s->answer) send(fd, s->answer, strlen(s->answer), MSG_NOSIGNAL);
  usleep((useconds_t)s->hold_ms * 1000);
out:
  if (ssl) SSL_free(ssl);
  close(fd);
  return NULL;
}

static int server_start(server *s, const char *answer, int hold_ms, SSL_CTX *tls) {
  memset(s, 0, sizeof *s);
  s->answer = answer;
  s->hold_ms = hold_ms;
  s->tls = tls;
  s->addr.sin_family = AF_INET;
  s->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof s->addr;
  s->lfd = socket(AF_INET, SOCK_STREAM, 0);
  if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&s->addr, len) || listen(s->lfd, 4) ||
      getsockname(s->lfd, (struct sockaddr *)&s->addr, &len))
    return -1;
  return pthread_create(&s->thread, NULL, serve, s);
}

static void server_stop(server *s) {
  shutdown(s->lfd, SHUT_RDWR); /* wakes an accept that never got a client */
  pthread_join(s->thread, NULL);
  close(s->lfd);
}

static void done(tg_http_response *r, void *data) {
  outcome *o = data;
  o->called++;
  o->status = r->status;
  o->error = r->error;
  o->sent = r->sent;
  o->head_status = r->head_status;
  o->body_len = r->body_len;
  o->times = r->times;
  o->tls = r->tls;
  snprintf(o->why, sizeof o->why, "%s", r->why ? r->why : "");
  snprintf(o->body, sizeof o->body, "%.*s", (int)r->body.len, r->body.data ? r->body.data : "");
  int i = tg_head_find(&r->head, "x-test");
  if (i >= 0)
    snprintf(o->field, sizeof o->field, "%.*s", (int)r->head.fields[i].value.len,
             tg_head_str(&r->head, r->head.fields[i].value));
}

static void hook(void *data, const char *p, size_t n, uint64_t read_ns) {
  outcome *o = data;
  (void)p;
  o->hooked += n;
  o->hook_read_ns = read_ns;
}

/* Runs the call (to, rq) until its callback has run and its handles closed. */
static int run_to(const tg_http_target *to, const tg_http_request *rq, outcome *o) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  memset(o, 0, sizeof *o);
  int rc = tg_http_call_start(&loop, to, rq, done, o);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return rc;
}

static tg_http_request plain_request(const char *method, uint64_t timeout_ms) {
  return (tg_http_request){.method = method,
                           .target = "/check?x=1",
                           .host = "auth.test",
                           .headers = "X-Mine: 1\r\n",
                           .max_response = 1024,
                           .timeout_ms = timeout_ms};
}

/* Runs one call to addr until its callback has run and its handles closed. */
static int run_call(const struct sockaddr_in *addr, SSL_CTX *tls, const char *method, uint64_t timeout_ms, outcome *o) {
  tg_http_target to = {.addr = (const struct sockaddr *)addr, .tls = tls, .server_name = "127.0.0.1"};
  tg_http_request rq = plain_request(method, timeout_ms);
  return run_to(&to, &rq, o);
}

/* One call rq against a server answering `answer`, then holding hold_ms. */
static int exchange_rq(server *s, const char *answer, int hold_ms, const tg_http_request *rq, outcome *o) {
  if (server_start(s, answer, hold_ms, NULL) < 0) return -1;
  tg_http_target to = {.addr = (const struct sockaddr *)&s->addr};
  int rc = run_to(&to, rq, o);
  server_stop(s);
  return rc;
}

/* One exchange against a server answering `answer`. */
static int exchange(server *s, const char *answer, int hold_ms, uint64_t timeout_ms, outcome *o) {
  tg_http_request rq = plain_request("GET", timeout_ms);
  return exchange_rq(s, answer, hold_ms, &rq, o);
}

static void test_http_client_response(void) {
  server s;
  outcome o;
  TG_CHECK(exchange(&s, "HTTP/1.1 200 OK\r\nX-Test: yes\r\nContent-Length: 5\r\n\r\nhello", 0, 2000, &o) == 0);
  TG_CHECK(o.called == 1 && o.status == 200 && o.error == TG_UPERR_NONE && o.sent);
  TG_CHECK_STR(o.body, "hello");
  TG_CHECK_STR(o.field, "yes");
  TG_CHECK(strncmp(s.seen, "GET /check?x=1 HTTP/1.1\r\nHost: auth.test\r\nX-Mine: 1\r\n", 52) == 0);
  TG_CHECK(strstr(s.seen, "Connection: close\r\n\r\n") != NULL);
}

static void test_http_client_framings(void) {
  server s;
  outcome o;
  /* chunked, after an interim 100 */
  TG_CHECK(exchange(&s,
                    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 401 No\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
                    0, 2000, &o) == 0);
  TG_CHECK(o.called == 1 && o.status == 401);
  TG_CHECK_STR(o.body, "abcde");
  /* until the connection closes */
  TG_CHECK(exchange(&s, "HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\nbye", 0, 2000, &o) == 0);
  TG_CHECK(o.called == 1 && o.status == 302);
  TG_CHECK_STR(o.body, "bye");
}

static void test_http_client_failures(void) {
  server s;
  outcome o;
  TG_CHECK(exchange(&s, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 0, 2000, &o) == 0);
  TG_CHECK(o.called == 1 && o.error == TG_UPERR_CLOSED && o.status == 0);
  TG_CHECK(exchange(&s, "HTTP/1.1 200 OK\nContent-Length: 0\n\n", 0, 2000, &o) == 0); /* strict: CRLF only */
  TG_CHECK(o.error == TG_UPERR_INVALID);
  char big[2048];
  snprintf(big, sizeof big, "HTTP/1.1 200 OK\r\nContent-Length: 1500\r\n\r\n%01500d", 0);
  TG_CHECK(exchange(&s, big, 0, 2000, &o) == 0);
  TG_CHECK(o.error == TG_UPERR_INVALID); /* past max_response */
  TG_CHECK(exchange(&s, "HTTP/1.1 1 OK\r\nContent-Length: 0\r\n\r\n", 0, 2000, &o) == 0);
  TG_CHECK(o.error == TG_UPERR_INVALID && o.status == 0); /* a status is three digits, 100 to 599 */
  TG_CHECK(exchange(&s, NULL, 400, 100, &o) == 0);
  TG_CHECK(o.called == 1 && o.error == TG_UPERR_HEADER_TIMEOUT && o.sent);
  TG_CHECK(exchange(&s, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 400, 100, &o) == 0);
  TG_CHECK(o.error == TG_UPERR_IDLE_TIMEOUT);
  /* nothing listens: the port of a server just stopped */
  TG_CHECK(server_start(&s, NULL, 0, NULL) == 0);
  server_stop(&s);
  TG_CHECK(run_call(&s.addr, NULL, "GET", 2000, &o) == 0);
  TG_CHECK(o.called == 1 && o.error == TG_UPERR_REFUSED && !o.sent);
}

/* keep_body keeps the first bytes and counts the rest; the hook sees all,
 * with the read's time; every step is timed, in order. */
static void test_http_client_keep_body(void) {
  server s;
  outcome o;
  tg_http_request rq = plain_request("GET", 2000);
  rq.max_response = 64;
  rq.keep_body = 5;
  rq.on_body = hook;
  rq.on_body_data = &o;
  TG_CHECK(exchange_rq(&s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n", 0,
                       &rq, &o) == 0);
  TG_CHECK(o.called == 1 && o.status == 200 && o.head_status == 200);
  TG_CHECK_STR(o.body, "abcde");
  TG_CHECK(o.body_len == 7 && o.hooked == 7);
  const tg_http_times *t = &o.times;
  TG_CHECK(t->start && t->connect >= t->start && t->sent >= t->connect && t->first_byte >= t->sent);
  TG_CHECK(t->head >= t->first_byte && t->end >= t->head && t->tls == 0);
  TG_CHECK(o.hook_read_ns >= t->first_byte && o.hook_read_ns <= t->end);
  /* without keep_body the same body past the cap fails the call */
  rq.keep_body = 0;
  rq.max_response = 24; /* the head's 18 bytes fit, the body does not */
  TG_CHECK(exchange_rq(&s, "HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\nabcdefghijklmnopqrstuvwxyz0123", 0, &rq, &o) ==
           0);
  TG_CHECK(o.error == TG_UPERR_INVALID && o.status == 0 && o.head_status == 200);
}

/* idle_ms limits each wait once connected; the whole call has no limit. */
static void test_http_client_idle(void) {
  server s;
  outcome o;
  tg_http_request rq = plain_request("GET", 0);
  rq.idle_ms = 100;
  TG_CHECK(exchange_rq(&s, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 600, &rq, &o) == 0);
  TG_CHECK(o.called == 1 && o.error == TG_UPERR_IDLE_TIMEOUT && o.head_status == 200 && o.status == 0);
  TG_CHECK_STR(o.why, "no bytes within the wait limit");
  TG_CHECK_STR(o.body, "short");
  TG_CHECK(exchange_rq(&s, NULL, 600, &rq, &o) == 0);
  TG_CHECK(o.error == TG_UPERR_HEADER_TIMEOUT && o.sent && o.head_status == 0);
}

/* An upgrade asks for it instead of Connection: close; the 101 ends the call. */
static void test_http_client_upgrade(void) {
  server s;
  outcome o;
  tg_http_request rq = plain_request("GET", 2000);
  rq.upgrade = "websocket";
  TG_CHECK(exchange_rq(&s, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 300,
                       &rq, &o) == 0);
  TG_CHECK(o.called == 1 && o.status == 101 && o.error == TG_UPERR_NONE);
  TG_CHECK(strstr(s.seen, "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n") != NULL);
  TG_CHECK(strstr(s.seen, "close") == NULL);
}

static void test_http_client_head(void) {
  server s;
  outcome o;
  TG_CHECK(server_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", 300, NULL) == 0);
  TG_CHECK(run_call(&s.addr, NULL, "HEAD", 2000, &o) == 0); /* no body is waited for */
  server_stop(&s);
  TG_CHECK(o.called == 1 && o.status == 200 && o.body[0] == 0);
}

/* A self-signed certificate for 127.0.0.1, in memory. */
static X509 *make_cert(EVP_PKEY *key) {
  X509 *x = X509_new();
  if (!x) return NULL;
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, key);
  X509_NAME *n = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"loopback", -1, -1, 0);
  X509_set_issuer_name(x, n);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, "IP:127.0.0.1");
  int ok = ext && X509_add_ext(x, ext, -1) && X509_sign(x, key, EVP_sha256());
  X509_EXTENSION_free(ext);
  if (ok) return x;
  X509_free(x);
  return NULL;
}

static void test_http_client_tls(void) {
  /* the server thread's session tickets may meet a client that stopped after the handshake */
  signal(SIGPIPE, SIG_IGN);
  EVP_PKEY *key = EVP_EC_gen("P-256");
  X509 *cert = key ? make_cert(key) : NULL;
  SSL_CTX *sctx = SSL_CTX_new(TLS_server_method()), *cctx = SSL_CTX_new(TLS_client_method()),
          *other = SSL_CTX_new(TLS_client_method());
  int ready = cert && sctx && cctx && other && SSL_CTX_use_certificate(sctx, cert) == 1 &&
              SSL_CTX_use_PrivateKey(sctx, key) == 1 && X509_STORE_add_cert(SSL_CTX_get_cert_store(cctx), cert) == 1;
  SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
  SSL_CTX_set_verify(other, SSL_VERIFY_PEER, NULL); /* trusts nothing */
  server s;
  outcome o = {0}, bad = {0}, after = {0}, after_ok = {0};
  if (ready && server_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0, sctx) == 0) {
    run_call(&s.addr, cctx, "GET", 2000, &o);
    server_stop(&s);
  }
  if (ready && server_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0, sctx) == 0) {
    run_call(&s.addr, other, "GET", 2000, &bad);
    server_stop(&s);
  }
  /* verify_after: the handshake goes through, the call stops before the request, the reason and facts in hand */
  SSL_CTX_set_verify(other, SSL_VERIFY_NONE, NULL);
  SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
  tg_http_request rq = plain_request("GET", 2000);
  tg_http_target to = {
      .addr = (const struct sockaddr *)&s.addr, .tls = other, .server_name = "127.0.0.1", .verify_after = 1};
  if (ready && server_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0, sctx) == 0) {
    run_to(&to, &rq, &after);
    server_stop(&s);
  }
  to.tls = cctx;
  if (ready && server_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0, sctx) == 0) {
    run_to(&to, &rq, &after_ok);
    server_stop(&s);
  }
  SSL_CTX_free(sctx);
  SSL_CTX_free(cctx);
  SSL_CTX_free(other);
  X509_free(cert);
  EVP_PKEY_free(key);
  tg_tls_thread_done(); /* the thread-local ciphertext buffer, for the leak checker */
  TG_CHECK(ready);
  TG_CHECK(o.called == 1 && o.status == 200 && o.sent);
  TG_CHECK_STR(o.body, "ok");
  TG_CHECK(bad.called == 1 && bad.error == TG_UPERR_TLS && !bad.sent);
  TG_CHECK(after.called == 1 && after.error == TG_UPERR_TLS && !after.sent && after.times.tls);
  TG_CHECK(after.tls.has_cert && after.tls.verify != X509_V_OK && strstr(after.tls.subject, "CN=loopback"));
  TG_CHECK_STR(after.why, X509_verify_cert_error_string(after.tls.verify));
  TG_CHECK(after_ok.called == 1 && after_ok.status == 200 && after_ok.tls.verify == X509_V_OK);
  TG_CHECK(strncmp(after_ok.tls.version, "TLSv1.", 6) == 0 && after_ok.tls.cipher[0]);
  TG_CHECK(after_ok.tls.secs_left > 86000 && after_ok.tls.secs_left <= 86400);
  TG_CHECK(after_ok.times.tls >= after_ok.times.connect && after_ok.times.sent >= after_ok.times.tls);
}

/* The blocking wrapper: a name and a port, the result the caller's. */
static void test_http_client_fetch(void) {
  server s;
  char port[16], want[40], v[16];
  TG_CHECK(server_start(&s, "HTTP/1.1 201 Created\r\nX-Test: yes\r\nContent-Length: 2\r\n\r\nok", 0, NULL) == 0);
  snprintf(port, sizeof port, "%d", ntohs(s.addr.sin_port));
  tg_http_place to = {.host = "127.0.0.1", .port = port};
  tg_http_request rq = {.method = "POST",
                        .target = "/n",
                        .host = "ca.test",
                        .body = "{}",
                        .body_len = 2,
                        .max_response = 1024,
                        .timeout_ms = 2000};
  tg_http_result r;
  TG_CHECK(tg_http_fetch(&to, &rq, &r) == 0);
  server_stop(&s);
  snprintf(want, sizeof want, "127.0.0.1:%s", port);
  TG_CHECK(r.resp.status == 201 && r.resp.error == TG_UPERR_NONE && r.resp.connected && r.resp.sent && r.why[0] == 0);
  TG_CHECK_STR(r.addr, want);
  TG_CHECK(r.resp.body.len == 2 && memcmp(r.resp.body.data, "ok", 2) == 0);
  TG_CHECK(tg_head_value_copy(&r.resp.head, "x-test", v, sizeof v) && strcmp(v, "yes") == 0);
  TG_CHECK(tg_head_value_copy(&r.resp.head, "location", v, sizeof v) == NULL);
  TG_CHECK(strstr(s.seen, "Content-Length: 2\r\n") != NULL);
  tg_http_result_free(&r);
  /* the port of the server just stopped: refused, said in words */
  TG_CHECK(tg_http_fetch(&to, &rq, &r) == -1);
  TG_CHECK(r.resp.error == TG_UPERR_REFUSED && !r.resp.connected && r.resp.status == 0 && r.why[0]);
  tg_http_result_free(&r);
}

static void test_http_url(void) {
  tg_http_url u;
  char err[200];
  TG_CHECK(tg_http_url_parse("https://[::1]:8443/base/", &u, err, sizeof err) == 0);
  TG_CHECK(u.tls == 1);
  TG_CHECK_STR(u.host, "::1");
  TG_CHECK_STR(u.port, "8443");
  TG_CHECK_STR(u.authority, "[::1]:8443");
  TG_CHECK_STR(u.base, "/base");
  tg_http_url_free(&u);
  TG_CHECK(tg_http_url_parse("http://a.test", &u, err, sizeof err) == 0);
  TG_CHECK(u.tls == 0);
  TG_CHECK_STR(u.port, "80");
  TG_CHECK_STR(u.base, "");
  tg_http_url_free(&u);
  TG_CHECK(tg_http_url_parse("ftp://a.test", &u, err, sizeof err) == -1);
  TG_CHECK(tg_http_url_parse("http://a.test/?q", &u, err, sizeof err) == -1);
  TG_CHECK(tg_http_url_parse("http://u@a.test/", &u, err, sizeof err) == -1);
  TG_CHECK(tg_http_url_parse("http://a.test:x/", &u, err, sizeof err) == -1);
}

void tg_suite_http_client(void) {
  TG_RUN(test_http_client_response);
  TG_RUN(test_http_client_framings);
  TG_RUN(test_http_client_failures);
  TG_RUN(test_http_client_keep_body);
  TG_RUN(test_http_client_idle);
  TG_RUN(test_http_client_upgrade);
  TG_RUN(test_http_client_head);
  TG_RUN(test_http_client_tls);
  TG_RUN(test_http_client_fetch);
  TG_RUN(test_http_url);
}
