/* One worker's connection to the shared store: hiredis 0.14's async
 * context on the worker's loop through hiredis's libuv adapter.
 *
 * That hiredis has no per-command timeout in async mode and resolves a
 * host name with a blocking getaddrinfo, so: the name is resolved here with
 * uv_getaddrinfo (the thread pool) and hiredis is given the numeric
 * address; each command carries a uv timer, and a command past its timeout
 * takes the whole connection down (hiredis cannot take back one command,
 * and a store too slow for one is too slow for the next). A lost
 * connection is made again after a backoff; until its handshake (AUTH,
 * SELECT, PING) has answered, tg_shared_command refuses at once, so that no
 * request waits on a store that is not there.
 *
 * Scripts go as EVALSHA; a NOSCRIPT answer (a store new or restarted
 * empty) sends the same call again as EVAL, within the same timeout, so
 * that a request costs one round trip once each store has the script.
 *
 * Memory: a command's state (`cmd`, with its timer and the buffer a
 * script's call is written in) is kept on a free list and reused; the
 * connection is freed once every timer and the resolver request it started
 * have closed. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include "tollgate/buf.h"
#include "tollgate/hash.h"
#include "tollgate/log.h"
#include "tollgate/shared.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 500
#define CONNECT_MIN_MS 1000 /* a connect gets at least this long, whatever the command timeout */
#define PING_MS 1000        /* an up connection is checked this often, traffic or not */
#define OVER_SLOTS 1024     /* keys known over their limit, per connection */
#define OVER_PROBE 4

enum { S_WAIT, S_RESOLVING, S_CONNECTING, S_HANDSHAKE, S_UP };

typedef struct cmd {
  uv_timer_t timer;
  tg_shared_conn *s;
  tg_shared_reply_fn fn;
  void *data;
  uint64_t sent_ns;
  int live;                       /* fn not yet called */
  const tg_shared_script *script; /* a script's call: out holds it as EVALSHA */
  size_t args_at;                 /* where in out the arguments after the SHA-1 start */
  int resent;                     /* sent again as EVAL after NOSCRIPT */
  tg_buf out;
  struct cmd *next_free;
} cmd;

struct tg_shared_conn {
  uv_loop_t *loop;
  const tg_shared_conf *conf;
  char name[48];
  redisAsyncContext *ac;
  int state;     /* S_* */
  int closing;   /* tg_shared_conn_close was called */
  int gai_busy;  /* s->gai is out */
  int was_up;    /* the loss of a connection that had been up is logged */
  int said_down; /* a failure to connect was logged since the last success */
  unsigned open; /* handles and requests still to come back: s->timer, s->gai, each cmd's timer */
  uint64_t backoff_ms;
  uv_timer_t timer; /* the backoff, then the connect's guard, then (up) the PING's period */
  uv_getaddrinfo_t gai;
  unsigned handshake_left;
  cmd *free_cmds;
  tg_shared_hooks hooks;
  uint64_t over_hash[OVER_SLOTS], over_until[OVER_SLOTS];
};

static void conn_lost(tg_shared_conn *s, const char *why);
static void connect_start(tg_shared_conn *s);

static void conn_maybe_free(tg_shared_conn *s) {
  if (s->closing && !s->open) free(s);
}

static void handle_closed(uv_handle_t *h) {
  tg_shared_conn *s = h->data;
  s->open--;
  conn_maybe_free(s);
}

static void cmd_closed(uv_handle_t *h) {
  cmd *c = h->data;
  tg_shared_conn *s = c->s;
  tg_buf_free(&c->out);
  free(c);
  s->open--;
  conn_maybe_free(s);
}

/* ---- commands ---- */

static void cmd_release(cmd *c) {
  tg_shared_conn *s = c->s;
  uv_timer_stop(&c->timer);
  if (s->closing) return uv_close((uv_handle_t *)&c->timer, cmd_closed);
  c->next_free = s->free_cmds;
  s->free_cmds = c;
}

static cmd *cmd_take(tg_shared_conn *s) {
  cmd *c = s->free_cmds;
  if (c) {
    s->free_cmds = c->next_free;
    return c;
  }
  if (!(c = calloc(1, sizeof *c))) return NULL;
  uv_timer_init(s->loop, &c->timer);
  c->timer.data = c;
  c->s = s;
  s->open++;
  return c;
}

static int resend_as_eval(cmd *c);

static int is_noscript(const redisReply *r) {
  return r && r->type == REDIS_REPLY_ERROR && r->len >= 8 && memcmp(r->str, "NOSCRIPT", 8) == 0;
}

/* hiredis's callback: the reply, or NULL when the context is freed or
 * lost with the command unanswered. */
static void cmd_reply(redisAsyncContext *ac, void *r, void *privdata) {
  (void)ac;
  cmd *c = privdata;
  tg_shared_conn *s = c->s;
  if (c->live && c->script && !c->resent && is_noscript(r) && resend_as_eval(c) == 0) return;
  if (c->live) {
    c->live = 0;
    if (r && s->hooks.round_trip) s->hooks.round_trip(s->hooks.data, (uv_hrtime() - c->sent_ns) / 1000);
    c->fn(c->data, r);
  }
  cmd_release(c);
}

static void cmd_timeout(uv_timer_t *t) {
  cmd *c = t->data;
  tg_shared_conn *s = c->s;
  c->live = 0;
  c->fn(c->data, NULL);
  /* hiredis still holds c: it comes back through cmd_reply when the
   * context is freed below */
  if (s->ac) conn_lost(s, "no answer within the timeout");
}

static int send_cmd(tg_shared_conn *s, int argc, const char **argv, const size_t *lens, tg_shared_reply_fn fn,
                    void *data) {
  cmd *c = cmd_take(s);
  if (!c) return -1;
  c->fn = fn;
  c->data = data;
  c->live = 1;
  c->script = NULL;
  c->sent_ns = uv_hrtime();
  if (redisAsyncCommandArgv(s->ac, cmd_reply, c, argc, argv, lens) != REDIS_OK) {
    c->live = 0;
    cmd_release(c);
    return -1;
  }
  uv_timer_start(&c->timer, cmd_timeout, s->conf->timeout_ms, 0);
  return 0;
}

/* ---- scripts ---- */

void tg_shared_script_init(tg_shared_script *sc, const char *text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  static const char hex[] = "0123456789abcdef";
  sc->text = text;
  EVP_Digest(text, strlen(text), md, &n, EVP_sha1(), NULL);
  for (unsigned i = 0; i < 20 && i < n; i++) {
    sc->sha1[2 * i] = hex[md[i] >> 4];
    sc->sha1[2 * i + 1] = hex[md[i] & 15];
  }
  sc->sha1[40] = 0;
}

static int put_bulk(tg_buf *b, const char *p, size_t n) {
  return tg_buf_puts(b, "$") | tg_buf_put_u64(b, n) | tg_buf_puts(b, "\r\n") | tg_buf_append(b, p, n) |
         tg_buf_puts(b, "\r\n");
}

/* The call as RESP in c->out: EVALSHA sha numkeys args... */
static int format_evalsha(cmd *c, int nkeys, int nargs, const char **argv, const size_t *lens) {
  char num[16];
  int n = snprintf(num, sizeof num, "%d", nkeys);
  c->out.len = 0;
  int rc = tg_buf_puts(&c->out, "*") | tg_buf_put_u64(&c->out, (unsigned)(3 + nkeys + nargs)) |
           tg_buf_puts(&c->out, "\r\n") | put_bulk(&c->out, "EVALSHA", 7) | put_bulk(&c->out, c->script->sha1, 40);
  c->args_at = c->out.len;
  rc |= put_bulk(&c->out, num, (size_t)n);
  for (int i = 0; i < nkeys + nargs; i++) rc |= put_bulk(&c->out, argv[i], lens[i]);
  return rc ? -1 : 0;
}

/* NOSCRIPT: the same call with the script's text, on the same cmd (its
 * timer still running). Returns 0, or -1 when it cannot be sent. */
static int resend_as_eval(cmd *c) {
  tg_buf eval = {0};
  const char *star_end = memchr(c->out.data, '\n', c->out.len);
  int rc = !star_end || tg_buf_append(&eval, c->out.data, (size_t)(star_end + 1 - c->out.data)) ||
           put_bulk(&eval, "EVAL", 4) || put_bulk(&eval, c->script->text, strlen(c->script->text)) ||
           tg_buf_append(&eval, c->out.data + c->args_at, c->out.len - c->args_at);
  if (!rc && c->s->ac) rc = redisAsyncFormattedCommand(c->s->ac, cmd_reply, c, eval.data, eval.len) != REDIS_OK;
  tg_buf_free(&eval);
  c->resent = 1;
  return rc || !c->s->ac ? -1 : 0;
}

int tg_shared_eval(tg_shared_conn *s, const tg_shared_script *sc, int nkeys, int nargs, const char **argv,
                   const size_t *lens, tg_shared_reply_fn fn, void *data) {
  if (s->state != S_UP || !s->ac || nkeys < 0 || nargs < 0 || nkeys + nargs > TG_SHARED_EVAL_MAX) return -1;
  cmd *c = cmd_take(s);
  if (!c) return -1;
  c->script = sc;
  c->resent = 0;
  if (format_evalsha(c, nkeys, nargs, argv, lens) < 0 ||
      redisAsyncFormattedCommand(s->ac, cmd_reply, c, c->out.data, c->out.len) != REDIS_OK) {
    cmd_release(c);
    return -1;
  }
  c->fn = fn;
  c->data = data;
  c->live = 1;
  c->sent_ns = uv_hrtime();
  uv_timer_start(&c->timer, cmd_timeout, s->conf->timeout_ms, 0);
  return 0;
}

/* ---- keys known over their limit ---- */

static uint64_t over_hash(const char *key, size_t len) {
  uint64_t h = tg_fnv1a64(key, len);
  return h ? h : 1; /* 0 marks a free slot */
}

void tg_shared_over_note(tg_shared_conn *s, const char *key, size_t len, uint64_t until_ms) {
  uint64_t h = over_hash(key, len);
  size_t at = h & (OVER_SLOTS - 1), best = at;
  for (size_t i = 0; i < OVER_PROBE; i++) { /* the key's own slot, else the one that ends first */
    size_t k = (at + i) & (OVER_SLOTS - 1);
    if (s->over_hash[k] == h) {
      best = k;
      break;
    }
    if (s->over_until[k] < s->over_until[best]) best = k;
  }
  s->over_hash[best] = h;
  s->over_until[best] = until_ms;
}

uint64_t tg_shared_over_until(tg_shared_conn *s, const char *key, size_t len, uint64_t now_ms) {
  uint64_t h = over_hash(key, len);
  size_t at = h & (OVER_SLOTS - 1);
  for (size_t i = 0; i < OVER_PROBE; i++) {
    size_t k = (at + i) & (OVER_SLOTS - 1);
    if (s->over_hash[k] == h) return s->over_until[k] > now_ms ? s->over_until[k] : 0;
  }
  return 0;
}

int tg_shared_command(tg_shared_conn *s, int argc, const char **argv, const size_t *lens, tg_shared_reply_fn fn,
                      void *data) {
  if (s->state != S_UP || !s->ac) return -1;
  return send_cmd(s, argc, argv, lens, fn, data);
}

int tg_shared_conn_up(const tg_shared_conn *s) { return s->state == S_UP; }

/* ---- the connection's life ---- */

/* A PING a second while up: a store that hangs (SIGSTOP, a full network
 * path) is found out within PING_MS + timeout even with no request, so
 * that tollgate_shared_up and /readyz say so; its timeout takes the
 * connection down as any command's does. */
static void ping_reply(void *data, const redisReply *r) {
  (void)data;
  (void)r;
}

static void ping_cb(uv_timer_t *t) {
  tg_shared_conn *s = t->data;
  const char *argv[1] = {"PING"};
  size_t lens[1] = {4};
  if (s->state == S_UP && s->ac) send_cmd(s, 1, argv, lens, ping_reply, s);
}

static void set_state_up(tg_shared_conn *s) {
  s->state = S_UP;
  s->backoff_ms = 0;
  memset(s->over_hash, 0, sizeof s->over_hash); /* the store may have restarted empty */
  memset(s->over_until, 0, sizeof s->over_until);
  s->was_up = 1;
  s->said_down = 0;
  tg_log_info("%s: connected to the shared store %s", s->name, s->conf->url);
  uv_timer_start(&s->timer, ping_cb, PING_MS, PING_MS);
  if (s->hooks.state) s->hooks.state(s->hooks.data, 1);
}

/* Frees the hiredis context (its waiting commands get NULL) without its
 * connect and disconnect callbacks coming back here. */
static void drop_context(tg_shared_conn *s) {
  redisAsyncContext *ac = s->ac;
  s->ac = NULL;
  if (!ac) return;
  ac->data = NULL;
  /* one hiredis is already freeing (a lost connection failing its
   * commands) must not be freed twice */
  if (!(ac->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING))) redisAsyncFree(ac);
}

static void backoff_cb(uv_timer_t *t) { connect_start(t->data); }

/* The connection is gone (or never came): everything waiting fails, and a
 * new one is tried after the backoff. Logged once per loss, not per try. */
static void conn_lost(tg_shared_conn *s, const char *why) {
  int was = s->state;
  if (was == S_UP) {
    tg_log_warn("%s: lost the shared store %s: %s", s->name, s->conf->url, why);
    s->said_down = 1;
  } else if (!s->said_down) {
    tg_log_warn("%s: cannot reach the shared store %s: %s (trying again)", s->name, s->conf->url, why);
    s->said_down = 1;
  }
  s->state = S_WAIT;
  uv_timer_stop(&s->timer);
  drop_context(s);
  if (was == S_UP && s->hooks.state) s->hooks.state(s->hooks.data, 0);
  if (s->closing) return;
  s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : BACKOFF_MIN_MS;
  if (s->backoff_ms > BACKOFF_MAX_MS) s->backoff_ms = BACKOFF_MAX_MS;
  uv_timer_start(&s->timer, backoff_cb, s->backoff_ms, 0);
}

static void handshake_reply(void *data, const redisReply *r) {
  tg_shared_conn *s = data;
  char why[160];
  if (s->state != S_HANDSHAKE) return; /* an earlier step failed */
  if (!r) return conn_lost(s, "no answer to the handshake");
  if (r->type == REDIS_REPLY_ERROR) {
    snprintf(why, sizeof why, "the handshake was refused: %.*s", (int)(r->len > 120 ? 120 : r->len), r->str);
    return conn_lost(s, why);
  }
  if (--s->handshake_left == 0) set_state_up(s);
}

/* AUTH, SELECT and PING in one write; up when the PING answers. */
static void handshake_start(tg_shared_conn *s) {
  const tg_shared_conf *c = s->conf;
  char db[16];
  s->state = S_HANDSHAKE;
  s->handshake_left = 0;
  int failed = 0;
  if (c->password) {
    const char *argv[3] = {"AUTH", c->user ? c->user : c->password, c->password};
    size_t lens[3] = {4, strlen(argv[1]), strlen(c->password)};
    failed |= send_cmd(s, c->user ? 3 : 2, argv, lens, handshake_reply, s);
    s->handshake_left++;
  }
  if (c->db) {
    snprintf(db, sizeof db, "%u", c->db);
    const char *argv[2] = {"SELECT", db};
    size_t lens[2] = {6, strlen(db)};
    failed |= send_cmd(s, 2, argv, lens, handshake_reply, s);
    s->handshake_left++;
  }
  const char *argv[1] = {"PING"};
  size_t lens[1] = {4};
  failed |= send_cmd(s, 1, argv, lens, handshake_reply, s);
  s->handshake_left++;
  if (failed) conn_lost(s, "cannot send the handshake");
}

static void on_connect(const redisAsyncContext *ac, int status) {
  tg_shared_conn *s = ac->data;
  if (!s) return;
  uv_timer_stop(&s->timer);
  if (status != REDIS_OK) {
    s->ac = NULL; /* hiredis frees a context that failed to connect */
    ((redisAsyncContext *)ac)->data = NULL;
    return conn_lost(s, ac->errstr[0] ? ac->errstr : "cannot connect");
  }
  handshake_start(s);
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
  tg_shared_conn *s = ac->data;
  (void)status;
  if (!s) return;
  s->ac = NULL; /* hiredis frees it after this call */
  conn_lost(s, ac->errstr[0] ? ac->errstr : "the store closed the connection");
}

/* ---- the libuv adapter's one change ----
 * hiredis's adapter (adapters/libuv.h) drops a poll that reports an error:
 * libuv stops the handle and calls back with UV_EBADF when epoll says
 * EPOLLERR (a refused connect, a reset), so the context would wait for
 * nothing until a timer noticed. Here such a poll is handed to hiredis as
 * the events it was waiting for: its read or connect check then finds the
 * socket's error and fails the context at once. The adapter's attach,
 * state and cleanup are kept; only its four event hooks are replaced. */

static void poll_cb(uv_poll_t *h, int status, int events) {
  redisLibuvEvents *p = h->data;
  if (status < 0) events = p->events;
  if (p->context && (events & UV_READABLE)) redisAsyncHandleRead(p->context);
  if (p->context && (events & UV_WRITABLE)) redisAsyncHandleWrite(p->context);
}

static void poll_set(redisLibuvEvents *p, int add, int del) {
  p->events = (p->events | add) & ~del;
  if (p->events) uv_poll_start(&p->handle, p->events, poll_cb);
  else uv_poll_stop(&p->handle);
}

static void ev_add_read(void *p) { poll_set(p, UV_READABLE, 0); }
static void ev_del_read(void *p) { poll_set(p, 0, UV_READABLE); }
static void ev_add_write(void *p) { poll_set(p, UV_WRITABLE, 0); }
static void ev_del_write(void *p) { poll_set(p, 0, UV_WRITABLE); }

static int attach(redisAsyncContext *ac, uv_loop_t *loop) {
  if (redisLibuvAttach(ac, loop) != REDIS_OK) return -1;
  ac->ev.addRead = ev_add_read;
  ac->ev.delRead = ev_del_read;
  ac->ev.addWrite = ev_add_write;
  ac->ev.delWrite = ev_del_write;
  return 0;
}

static void connect_timeout(uv_timer_t *t) { conn_lost(t->data, "connect timed out"); }

/* Hands hiredis a numeric address (or the socket path): its connect then
 * does no lookup. */
static void connect_to(tg_shared_conn *s, const char *ip) {
  redisAsyncContext *ac = ip ? redisAsyncConnect(ip, s->conf->port) : redisAsyncConnectUnix(s->conf->unix_path);
  if (!ac) return conn_lost(s, "out of memory");
  if (ac->err) {
    char why[128];
    snprintf(why, sizeof why, "%s", ac->errstr);
    redisAsyncFree(ac);
    return conn_lost(s, why);
  }
  ac->data = s;
  s->ac = ac;
  if (attach(ac, s->loop) < 0) return conn_lost(s, "cannot watch the socket");
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  s->state = S_CONNECTING;
  uint64_t guard = s->conf->timeout_ms > CONNECT_MIN_MS ? s->conf->timeout_ms : CONNECT_MIN_MS;
  uv_timer_start(&s->timer, connect_timeout, guard, 0);
}

static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  tg_shared_conn *s = req->data;
  char ip[INET6_ADDRSTRLEN] = "";
  s->gai_busy = 0;
  s->open--;
  if (s->closing) {
    uv_freeaddrinfo(res);
    return conn_maybe_free(s);
  }
  if (status == 0 && res) {
    const void *a = res->ai_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
                                               : (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr;
    inet_ntop(res->ai_family, a, ip, sizeof ip);
  }
  uv_freeaddrinfo(res);
  if (!ip[0]) {
    char why[160];
    snprintf(why, sizeof why, "cannot resolve '%s': %s", s->conf->host, status ? uv_strerror(status) : "no address");
    return conn_lost(s, why);
  }
  connect_to(s, ip);
}

static void connect_start(tg_shared_conn *s) {
  const tg_shared_conf *c = s->conf;
  unsigned char buf[sizeof(struct in6_addr)];
  if (!c->host) return connect_to(s, NULL);
  if (inet_pton(AF_INET, c->host, buf) == 1 || inet_pton(AF_INET6, c->host, buf) == 1) return connect_to(s, c->host);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  s->state = S_RESOLVING;
  int rc = uv_getaddrinfo(s->loop, &s->gai, resolved, c->host, NULL, &hints);
  if (rc < 0) return conn_lost(s, uv_strerror(rc));
  s->gai_busy = 1;
  s->open++;
}

tg_shared_conn *tg_shared_conn_start(uv_loop_t *loop, const tg_shared_conf *c, const char *name) {
  tg_shared_conn *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->loop = loop;
  s->conf = c;
  snprintf(s->name, sizeof s->name, "%s", name);
  uv_timer_init(loop, &s->timer);
  s->timer.data = s;
  s->gai.data = s;
  s->open = 1;
  connect_start(s);
  return s;
}

void tg_shared_conn_set_hooks(tg_shared_conn *s, const tg_shared_hooks *h) { s->hooks = *h; }

void tg_shared_conn_close(tg_shared_conn *s) {
  if (!s) return;
  s->closing = 1;
  if (s->state == S_UP && s->hooks.state) s->hooks.state(s->hooks.data, 0); /* a count of connections up stays right */
  s->hooks = (tg_shared_hooks){0};
  if (s->gai_busy) uv_cancel((uv_req_t *)&s->gai);
  drop_context(s); /* every waiting command comes back and closes its timer */
  for (cmd *c = s->free_cmds, *next; c; c = next) {
    next = c->next_free;
    uv_close((uv_handle_t *)&c->timer, cmd_closed);
  }
  s->free_cmds = NULL;
  uv_close((uv_handle_t *)&s->timer, handle_closed);
}
