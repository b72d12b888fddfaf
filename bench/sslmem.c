/* bench/sslmem.c: what OpenSSL keeps per server connection, with
 * tollgate's own SSL_CTX (tg_tls_cert_build), for docs/tls.md's memory
 * figures. N connections (after two warm-ups) each do a handshake with an
 * in-process client, one request and the start of a chunked response
 * through BIOs like tollgate's (no buffers of their own), and are held;
 * the bytes allocated inside server-side calls and still live are counted
 * per OpenSSL source line (CRYPTO_set_mem_functions), as requested and as
 * malloc chunks (size + 8, rounded up to 16, 32 at least).
 *
 *   sslmem CERT KEY [N=100] [1.3|1.2] [resume]
 *   SUITES=TLS_CHACHA20_POLY1305_SHA256 sslmem ...   the client's only suite
 *   BIG=1 sslmem ...   every server-side allocation of 2 KB or more, on stderr
 *
 * Build (after make): cc -O1 -g -D_GNU_SOURCE -Iinclude -o build/sslmem bench/sslmem.c \
 *   build/libtg.a build/llhttp/llhttp.o build/llhttp/api.o build/llhttp/http.o -luv -ljansson -lm -lssl -lcrypto
 * -lcrypt -lhiredis -luring -lnghttp2 -pthread */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tollgate/tls.h"

/* ---- allocation tracking ---- */
#define HSZ (1u << 22)
typedef struct {
  void *p;
  size_t n;
  int site;
  int tag;
} ent;
static ent *tab;
#define MAXSITE 4096
static struct {
  const char *file;
  int line;
} sites[MAXSITE];
static int nsites;
static int tag; /* 1 inside server calls */
static long live[2];
static long live_chunk[2];

static size_t chunk(size_t n) {
  size_t c = (n + 8 + 15) & ~(size_t)15;
  return c < 32 ? 32 : c;
}

static int site_of(const char *file, int line) {
  for (int i = 0; i < nsites; i++)
    if (sites[i].line == line && sites[i].file == file) return i;
  if (nsites == MAXSITE) return MAXSITE - 1;
  sites[nsites].file = file;
  sites[nsites].line = line;
  return nsites++;
}
static size_t h(void *p) { return ((uintptr_t)p >> 4) * 2654435761u & (HSZ - 1); }
static void put(void *p, size_t n, const char *file, int line) {
  size_t i = h(p);
  while (tab[i].p) i = (i + 1) & (HSZ - 1);
  tab[i] = (ent){p, n, site_of(file, line), tag};
  live[tag] += n;
  live_chunk[tag] += chunk(n);
}
static void del(void *p) {
  if (!p) return;
  size_t i = h(p);
  while (tab[i].p != p) {
    if (!tab[i].p) return;
    i = (i + 1) & (HSZ - 1);
  }
  live[tab[i].tag] -= tab[i].n;
  live_chunk[tab[i].tag] -= chunk(tab[i].n);
  tab[i].p = NULL;
  /* re-insert the rest of the cluster */
  for (size_t j = (i + 1) & (HSZ - 1); tab[j].p; j = (j + 1) & (HSZ - 1)) {
    ent e = tab[j];
    tab[j].p = NULL;
    size_t k = h(e.p);
    while (tab[k].p) k = (k + 1) & (HSZ - 1);
    tab[k] = e;
  }
}
static void *m_malloc(size_t n, const char *file, int line) {
  if (tag && n >= 2048 && getenv("BIG")) fprintf(stderr, "big %zu %s:%d\n", n, file, line);
  void *p = malloc(n);
  if (p) put(p, n, file, line);
  return p;
}
static void *m_realloc(void *o, size_t n, const char *file, int line) {
  int t = tag;
  if (o) { /* keep the original tag */
    size_t i = h(o);
    while (tab[i].p && tab[i].p != o) i = (i + 1) & (HSZ - 1);
    if (tab[i].p) t = tab[i].tag;
  }
  if (t && n >= 2048 && getenv("BIG")) fprintf(stderr, "big realloc %zu %s:%d\n", n, file, line);
  del(o);
  void *p = realloc(o, n);
  int save = tag;
  tag = t;
  if (p) put(p, n, file, line);
  tag = save;
  return p;
}
static void m_free(void *p, const char *file, int line) {
  (void)file;
  (void)line;
  del(p);
  free(p);
}

/* ---- a BIO like tollgate's: reads from a buffer, writes to another ---- */
typedef struct {
  char *d;
  size_t len, off, cap;
} pipe_t;
typedef struct {
  pipe_t *in, *out;
} ends;
static int bw(BIO *b, const char *p, int n) {
  pipe_t *o = ((ends *)BIO_get_data(b))->out;
  if (o->len + n > o->cap) {
    o->cap = (o->len + n) * 2;
    o->d = realloc(o->d, o->cap);
  }
  memcpy(o->d + o->len, p, n);
  o->len += n;
  return n;
}
static int br(BIO *b, char *p, int n) {
  pipe_t *in = ((ends *)BIO_get_data(b))->in;
  BIO_clear_retry_flags(b);
  size_t have = in->len - in->off;
  if (!have) {
    BIO_set_retry_read(b);
    return -1;
  }
  size_t k = (size_t)n < have ? (size_t)n : have;
  memcpy(p, in->d + in->off, k);
  in->off += k;
  if (in->off == in->len) in->off = in->len = 0;
  return (int)k;
}
static long bc(BIO *b, int cmd, long num, void *ptr) {
  (void)b;
  (void)num;
  (void)ptr;
  return cmd == BIO_CTRL_FLUSH;
}
static int bcreate(BIO *b) {
  BIO_set_init(b, 1);
  return 1;
}
static BIO_METHOD *meth;

typedef struct {
  SSL *s, *c;
  pipe_t c2s, s2c;
  ends se, ce;
} conn;

static int pump(conn *x) { /* 1 both done */
  int cd = 0, sd = 0;
  for (int i = 0; i < 20 && !(cd && sd); i++) {
    if (!cd) cd = SSL_do_handshake(x->c) == 1;
    tag = 1;
    if (!sd) sd = SSL_do_handshake(x->s) == 1;
    tag = 0;
  }
  return cd && sd;
}

int main(int argc, char **argv) {
  tab = calloc(HSZ, sizeof *tab);
  if (!CRYPTO_set_mem_functions(m_malloc, m_realloc, m_free)) return 1;
  int n = argc > 3 ? atoi(argv[3]) : 100;
  int v = argc > 4 && strcmp(argv[4], "1.2") == 0 ? TLS1_2_VERSION : TLS1_3_VERSION;
  int resume = argc > 5 && strcmp(argv[5], "resume") == 0;
  meth = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "t");
  BIO_meth_set_write(meth, bw);
  BIO_meth_set_read(meth, br);
  BIO_meth_set_ctrl(meth, bc);
  BIO_meth_set_create(meth, bcreate);
  tg_tls_conf *t = calloc(1, sizeof *t);
  char err[256];
  tg_tls_conf_add_cert(t, argv[1], argv[2]);
  if (tg_tls_cert_build(t, 0, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(cctx, v);
  SSL_CTX_set_max_proto_version(cctx, v);
  SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
  if (getenv("SUITES")) {
    SSL_CTX_set_ciphersuites(cctx, getenv("SUITES"));
    SSL_CTX_set_cipher_list(cctx, getenv("SUITES"));
  }
  SSL_CTX_set_alpn_protos(cctx, (const unsigned char *)"\x08http/1.1", 9);
  conn *cs = calloc(n + 2, sizeof *cs);
  SSL_SESSION *sess = NULL;
  char buf[16384];
  static const char req[] = "POST /api/generate HTTP/1.1\r\nHost: localhost\r\nContent-Length: "
                            "40\r\n\r\n{\"model\":\"m\",\"prompt\":\"hi\",\"stream\":true}";
  static const char resp[] =
      "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n";
  long base = 0, base_chunk = 0;
  int resumed = 0;
  for (int i = 0; i < n + 2; i++) {
    if (i == 2) {
      base = live[1];
      base_chunk = live_chunk[1];
    } /* two warm-ups */
    conn *x = &cs[i];
    x->se = (ends){&x->c2s, &x->s2c};
    x->ce = (ends){&x->s2c, &x->c2s};
    tag = 1;
    x->s = SSL_new(t->certs[0].ctx);
    BIO *b = BIO_new(meth);
    BIO_set_data(b, &x->se);
    SSL_set_bio(x->s, b, b);
    SSL_set_accept_state(x->s);
    tag = 0;
    x->c = SSL_new(cctx);
    SSL_set_tlsext_host_name(x->c, "localhost");
    if (resume && sess) SSL_set_session(x->c, sess);
    b = BIO_new(meth);
    BIO_set_data(b, &x->ce);
    SSL_set_bio(x->c, b, b);
    SSL_set_connect_state(x->c);
    if (!pump(x)) {
      ERR_print_errors_fp(stderr);
      fprintf(stderr, "handshake %d failed\n", i);
      return 1;
    }
    SSL_write(x->c, req, sizeof req - 1);
    tag = 1;
    int r = SSL_read(x->s, buf, sizeof buf);
    if (r != (int)sizeof req - 1) {
      fprintf(stderr, "read %d\n", r);
      return 1;
    }
    SSL_write(x->s, resp, sizeof resp - 1);
    SSL_write(x->s, "2c\r\n{\"model\":\"m\",\"response\":\"x\",\"done\":false}\n\r\n", 50);
    r = SSL_read(x->s, buf, sizeof buf); /* nothing more: WANT_READ */
    tag = 0;
    while (SSL_read(x->c, buf, sizeof buf) > 0) {}
    if (SSL_session_reused(x->s)) resumed++;
    if (resume && !sess) sess = SSL_get1_session(x->c);
    if (i == 1 && resume && sess) {
      SSL_SESSION_free(sess);
      sess = SSL_get1_session(x->c);
    }
  }
  long per = (live[1] - base) / n, perc = (live_chunk[1] - base_chunk) / n;
  printf("%s%s: %d connections, %d resumed; kept per connection: %ld B requested, %ld B in malloc chunks\n",
         v == TLS1_3_VERSION ? "TLS 1.3" : "TLS 1.2", resume ? " resume" : "", n, resumed, per, perc);
  /* per site: live tagged bytes / n, and allocation sizes */
  static long sb[MAXSITE], sc[MAXSITE], sk[MAXSITE];
  for (size_t i = 0; i < HSZ; i++)
    if (tab[i].p && tab[i].tag == 1) {
      sb[tab[i].site] += tab[i].n;
      sc[tab[i].site]++;
      sk[tab[i].site] += chunk(tab[i].n);
    }
  for (int k = 0; k < nsites; k++) {
    if (sc[k] < n) continue; /* per-connection sites only */
    printf("  %6.0f B (%5.1f allocs, %6.0f chunk) %s:%d\n", (double)sb[k] / (n + 2), (double)sc[k] / (n + 2),
           (double)sk[k] / (n + 2), sites[k].file ? sites[k].file : "?", sites[k].line);
  }
  return 0;
}
