/* The proxy's objects and the calls between its layers:
 *   worker  (src/process/worker.c) one libuv loop per thread, listeners, access log
 *   client  (src/http/server.c)    an accepted connection speaking HTTP/1.1 to a client
 *   relay   (src/relay/relay.c)    one request/response exchange between a client and an upstream
 *   pool    (src/upstream/pool.c)  upstream connections: dial, keep-alive, timeouts
 *   ops     (src/proxy/proxy.c)    how the client and the pool call the layers above them
 * Every object belongs to one worker and is touched only by its thread. */
#ifndef TOLLGATE_PROXY_H
#define TOLLGATE_PROXY_H

#include <llhttp.h>
#include <netinet/in.h>
#include <stdint.h>
#include <uv.h>

#include "tollgate/acceptor.h"
#include "tollgate/access-log.h"
#include "tollgate/auth.h"
#include "tollgate/config.h"
#include "tollgate/deadline.h"
#include "tollgate/downstream.h"
#include "tollgate/exchange.h"
#include "tollgate/framing.h"
#include "tollgate/head.h"
#include "tollgate/llm.h"
#include "tollgate/loop-turn.h"
#include "tollgate/rewrite.h"
#include "tollgate/servers.h"
#include "tollgate/sink.h"

typedef struct tg_worker tg_worker;
typedef struct tg_client tg_client;
typedef struct tg_upconn tg_upconn;
typedef struct tg_pool tg_pool;

/* The client connection (src/http/) and the pool (src/upstream/) sit below
 * the admission phases (src/policy/) and the relay (src/relay/), which call
 * them by name. They call up through this table instead, never by name:
 * src/proxy/proxy.c fills it and the worker hands it down (w->ops), so the
 * folders form a graph without cycles. Each entry takes the exchange, not
 * the connection: an HTTP/2 connection will call the same table with one
 * exchange per stream. */
typedef struct tg_exchange_ops {
  /* client side */
  void (*head)(tg_exchange *x);                         /* a valid request head: the admission phases start */
  void (*admitted)(tg_exchange *x);                     /* admission let it through: the relay starts */
  void (*body_gathered)(tg_exchange *x);                /* the body read whole for inspection */
  int (*cors_lines)(const tg_exchange *x, tg_buf *out); /* CORS lines for a gateway-made answer */
  void (*exchange_end)(tg_exchange *x);                 /* admission state released */
  void (*response_done)(tg_exchange *x); /* a gateway-made answer is about to go out: what it holds given back */
  int (*chunk_header)(tg_exchange *x, uint64_t size); /* the request body, as the parser sees it */
  int (*body)(tg_exchange *x, const char *p, size_t n);
  int (*chunk_complete)(tg_exchange *x);
  int (*request_complete)(tg_exchange *x);
  void (*body_begin)(tg_exchange *x); /* around each parse of request body bytes */
  void (*body_end)(tg_exchange *x);
  void (*finish)(tg_exchange *x);         /* both messages complete */
  void (*abort)(tg_exchange *x);          /* the client went away or was refused mid-exchange */
  void (*client_drained)(tg_exchange *x); /* the client's sink drained */
  void (*tunnel_up)(tg_exchange *x, const char *data, size_t n);
  /* upstream side (the pool) */
  void (*connected)(tg_exchange *x, tg_upconn *u, int status, int timed_out);
  void (*upstream_read)(tg_upconn *u, ssize_t nread, const char *data);
  void (*upstream_drained)(tg_upconn *u, int status);
  void (*upstream_timeout)(tg_upconn *u);
} tg_exchange_ops;

/* The table of the proxy (src/proxy/proxy.c): admission, then the relay. */
extern const tg_exchange_ops tg_proxy_ops;

#define TG_READ_BUF 65536
/* Bytes read from a client while its parser is paused (pipelined requests)
 * before tollgate stops reading from it. */
#define TG_PENDING_MAX 65536

/* One server's connections in one worker. */
struct tg_pool {
  tg_worker *w;
  const tg_upstream_conf *conf;
  const tg_server_conf *server;
  tg_server_state *st;          /* shared by every worker (tollgate/servers.h); NULL past the cap */
  struct sockaddr_storage addr; /* resolved at start */
  char addr_text[64];           /* "127.0.0.1:11434", for logs */
  tg_upconn *idle;              /* idle keep-alive connections, most recent first */
  unsigned nidle;
  uint8_t counted; /* passive health counts (its group's) */
};

/* One upstream's servers in one worker: a pool each, and what the choice
 * among them reads (tollgate/servers.h). */
typedef struct tg_pool_group {
  const tg_upstream_conf *conf;
  tg_pool *pools;        /* one per server, in the config's order */
  tg_server_view *views; /* parallel to pools */
  unsigned n;
  unsigned rr;     /* where the next tie starts (least_conn) */
  uint8_t counted; /* passive health counts: active checks run, so a server marked down can come back */
} tg_pool_group;

typedef enum tg_up_state {
  TG_UP_DIALING,
  TG_UP_ACTIVE, /* carrying an exchange */
  TG_UP_IDLE,   /* in the pool */
  TG_UP_QUEUED, /* taken from the pool: its request waits for the end of the turn's poll callbacks */
  TG_UP_CLOSING
} tg_up_state;

struct tg_upconn {
  uv_tcp_t tcp;
  uv_connect_t connect;
  tg_deadline deadline; /* dial, response header, idle between reads, idle in the pool */
  tg_pool *pool;
  tg_exchange *x;         /* the exchange it carries, NULL when idle */
  tg_upconn *next, *prev; /* pool idle list */
  llhttp_t parser;        /* the response */
  tg_head head;           /* response head while it arrives */
  tg_head trailer;        /* the trailer field being read: checked, then dropped */
  tg_sink sink;           /* request bytes toward the upstream */
  uint8_t state;
  uint8_t reused;          /* came from the pool */
  uint8_t held;            /* reads held back while the client drains */
  uint8_t reading;         /* uv_read_start is on */
  uint8_t closing_handles; /* handles still to close */
  uint8_t claimed;         /* counted in its server's in-flight exchanges */
  uint8_t stale;           /* QUEUED, and read from before its request went: never reused */
  uint64_t unpeeked;       /* the loop turn it was taken from the pool in without a peek, else 0 */
  tg_turn_task go;         /* QUEUED: the request goes up at the end of the turn's poll callbacks */
};

typedef enum tg_client_state {
  TG_C_IDLE,    /* between requests */
  TG_C_HEAD,    /* a request head is arriving */
  TG_C_WAIT_UP, /* head complete, waiting for an upstream connection */
  TG_C_BODY,    /* request body streaming to the upstream */
  TG_C_SENT,    /* request complete, response still coming */
  TG_C_TUNNEL,  /* after 101: bytes relayed both ways as they are */
  TG_C_CLOSING
} tg_client_state;

/* A client connection: bytes, transport, deadlines and the HTTP/1 parser.
 * It is the downstream of its exchanges (src/http/h1-down.c,
 * tollgate/downstream.h). The request being served is its exchange, c->x
 * (tollgate/exchange.h):
 * allocated at the request's first byte, freed when the exchange ends on a
 * connection that stays open (or with the connection), NULL between
 * requests. */
struct tg_client {
  uv_tcp_t tcp;
  tg_deadline deadline; /* keep-alive, head, body, send, tunnel; or lingering close, a drain's wait */
  const tg_site_conf *site;
  tg_client *next, *prev; /* worker's list of clients */
  llhttp_t parser;
  tg_buf pending;        /* read, not yet parsed */
  tg_sink sink;          /* bytes toward the client; its codec is the TLS state (tg_client_tls) */
  tg_exchange *x;        /* the exchange in flight, NULL between requests (always, on HTTP/2) */
  struct tg_h2_conn *h2; /* HTTP/2: the session and its streams (tollgate/h2-conn.h), else NULL */
  uint64_t tunnel_last;  /* uv_now of the last tunnel byte either way */
  uint8_t listen_kind;   /* TG_LISTEN_* */
  uint8_t state;
  uint8_t closing_handles;
  uint8_t pause;        /* why the parser paused: at a head or a message end */
  unsigned pumping : 1; /* inside client_pump (no recursion) */
  unsigned pump_again : 1;
  unsigned reading : 1;    /* uv_read_start is on */
  unsigned keep_alive : 1; /* the client may send another request */
  unsigned close_on_drain : 1;
  unsigned client_gone : 1;
  unsigned lingering : 1; /* answered early: draining the rest before close */
  unsigned served : 1;    /* at least one exchange ended on this connection */
  char ip[48];            /* the connection's peer (each exchange keeps its client's address: x->ip) */
};

/* The connection's TLS state (tollgate/tls.h), NULL on a plain listener:
 * the codec its sink encrypts through is the first member of a tg_tls_conn. */
static inline struct tg_tls_conn *tg_client_tls(const tg_client *c) { return (struct tg_tls_conn *)c->sink.codec; }

/* The worker a client belongs to: its loop's (tg_worker_init sets loop.data). */
static inline tg_worker *tg_client_worker(const tg_client *c) { return (tg_worker *)c->tcp.loop->data; }

/* The engine c's socket does its I/O through (its worker's). */
static inline const tg_io_engine *tg_client_io(const tg_client *c) { return c->sink.io; }

struct tg_worker {
  uv_loop_t loop;
  unsigned id;
  const tg_config *cfg;
  tg_acceptors accept; /* its listening sockets (src/process/acceptor.c) */
  const tg_site_conf **listener_site;
  uint8_t *listener_kind; /* TG_LISTEN_* */
  int *listener_fds;
  size_t nlisteners;
  uv_async_t stop; /* the main thread asks to drain or stop */
  uv_timer_t drain_timer;
  uv_thread_t thread;
  int stop_mode;                     /* TG_STOP_*, set before the stop async is sent */
  int draining;                      /* no new connections; connections close when their exchange ends */
  int exited;                        /* the loop has returned (read by the main thread after an async) */
  void *gen;                         /* the generation (config) this worker serves */
  tg_pool_group *groups;             /* one per cfg->upstreams */
  const tg_exchange_ops *ops;        /* the layers above the client and the pool */
  void (*client_gone)(tg_worker *w); /* a client left the list (the drain may end) */
  tg_client *clients;
  tg_access_log log;
  tg_batch batch;                /* the output batch of the read being handled */
  tg_buf scratch;                /* heads being written */
  tg_exchange_cache xcache;      /* freed exchanges kept for the next requests */
  uint64_t rid_state[2];         /* request-id generator (xorshift128+) */
  void *auth;                    /* per-worker auth state (src/policy/auth.c) */
  void *limits;                  /* per-worker limit state (src/policy/queue.c) */
  struct tg_shared_conn *shared; /* its connection to the shared store (tollgate/shared.h), NULL = none */
  char rbuf[TG_READ_BUF];        /* the read buffer every socket of this loop shares */
  char tls_plain[TG_READ_BUF];   /* what TLS decrypts from one read of rbuf */
  tg_loop_turn turn;             /* which turn of the loop, and whether in its poll (tollgate/loop-turn.h) */
  const tg_io_engine *io;        /* how its clients' and upstreams' sockets do I/O (tollgate/io-engine.h) */
  int stopping;
};

/* --- worker (src/process/worker.c) --- */
enum { TG_STOP_NONE, TG_STOP_DRAIN, TG_STOP_NOW };
/* Prepares w for cfg with the given listening sockets (the worker's own
 * descriptors, handed over). Returns 0 or -1. */
int tg_worker_init(tg_worker *w, unsigned id, const tg_config *cfg, const int *listen_fds, size_t nfds, int log_fd);
/* The thread's body: runs the loop until the worker is stopped. */
void tg_worker_main(void *arg);
/* Asks the worker (from another thread) to drain or stop now. */
void tg_worker_request_stop(tg_worker *w, int mode);
/* Undoes a successful tg_worker_init whose thread never started. */
void tg_worker_abandon(tg_worker *w);
/* The first half of that: closes its listeners and handles, leaving the
 * memory to tg_worker_free. */
void tg_worker_release(tg_worker *w);
/* Frees what the worker owns once its thread has been joined. */
void tg_worker_free(tg_worker *w);
/* Writes 32 random hex digits and a NUL into out (a per-worker generator
 * seeded from the kernel: unique, not secret; src/observe/request-id.c). */
void tg_request_id_new(tg_worker *w, char out[33]);
/* The loop's shared read buffer, for uv_read_start (src/io/read-buffer.c). */
void tg_worker_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

/* --- client (src/http/server.c) --- */
/* Takes fd, a connection accepted on a listener of site; kind: TG_LISTEN_*
 * of the listener (TLS, or a redirect to https://). Returns 0, or a
 * negative libuv error after closing fd (UV_ENOMEM: no memory for it). */
int tg_client_accept(tg_worker *w, int fd, const tg_site_conf *site, uint8_t kind);
/* Sends a gateway-made error (Ollama or OpenAI JSON shape) if no response
 * head has gone out yet, else cuts the response; then ends the exchange. */
void tg_client_fail(tg_client *c, int status, const char *message);
/* The same with extra header lines (each ending in CRLF; NULL for none),
 * such as WWW-Authenticate on a 401 or Retry-After on a 429. */
void tg_client_fail_with(tg_client *c, int status, const char *message, const char *extra);
/* Sends a response tollgate did not make itself (an auth server's answer):
 * status, header lines (each ending in CRLF) and body, then ends the
 * exchange as tg_client_fail does. */
void tg_client_reply(tg_client *c, int status, const char *headers, const char *body, size_t len);
/* The exchange is over on both sides: log it, then free it and read the
 * next request (c->x is NULL until it begins), or close (c->x is freed
 * with c). */
void tg_client_exchange_done(tg_client *c);
/* The upstream is ready for (more of) the request body: parse what is
 * pending and read the client again. */
void tg_client_resume_body(tg_client *c);
/* The upstream cannot take more body now: stop reading the client. */
void tg_client_pause_body(tg_client *c);
void tg_client_close(tg_client *c);
/* The worker drains: close c if idle, else after its exchange. */
void tg_client_drain(tg_client *c);
void tg_client_arm_timer(tg_client *c);
/* Flushes what is queued to the client, then closes it. */
void tg_client_close_after_flush(tg_client *c);
/* The upstream switched protocols: relay bytes both ways from now on,
 * starting with what the client sent after its handshake. */
void tg_client_tunnel_start(tg_client *c);
/* Either side of a tunnel closed: log it and close both. */
void tg_client_tunnel_end(tg_client *c);

/* --- relay (src/relay/relay.c) --- */
/* A request head is complete and valid: find an upstream and start. */
void tg_relay_start(tg_exchange *x);
/* The upstream connection for x is ready (or failed with status < 0). */
void tg_relay_connected(tg_exchange *x, tg_upconn *u, int status, int timed_out);
/* Parser callbacks on the client side, forwarding the body. */
int tg_relay_on_chunk_header(tg_exchange *x, uint64_t size);
int tg_relay_on_body(tg_exchange *x, const char *p, size_t n);
int tg_relay_on_chunk_complete(tg_exchange *x);
int tg_relay_on_request_complete(tg_exchange *x);
/* Around each parse of request body bytes: open and flush the output batch
 * toward the upstream, pausing the client when the upstream is slower. */
void tg_relay_body_begin(tg_exchange *x);
void tg_relay_body_end(tg_exchange *x);
/* Both the request and the response are complete: release the upstream
 * and end the exchange. */
void tg_relay_finish(tg_exchange *x);
/* The client went away or was refused mid-exchange: drop the upstream. */
void tg_relay_abort(tg_exchange *x);
/* Handles bytes read from the upstream (or nread < 0 for EOF/error). */
void tg_relay_upstream_read(tg_upconn *u, ssize_t nread, const char *data);
/* An upstream timeout fired. */
void tg_relay_upstream_timeout(tg_upconn *u);
/* The client's sink drained: read the upstream again. */
void tg_relay_client_drained(tg_exchange *x);
/* Client bytes of a tunnel, on their way up. */
void tg_relay_tunnel_up(tg_exchange *x, const char *data, size_t n);
/* The upstream sink drained (status 0) or failed. */
void tg_relay_upstream_drained(tg_upconn *u, int status);

/* --- balance model (src/relay/model-pick.c) --- */
/* The server for x by the model its body named (tollgate/servers.h:
 * tg_servers_choose_model), least_conn when it named none. NULL with
 * *answered set when x got Ollama's 404 (no server lists the model) or is
 * held in the model's queue (policy/model-queue.c, which starts it again
 * through w->ops->admitted); NULL alone when no server can take it. */
tg_pool *tg_model_pick(tg_exchange *x, tg_pool_group *g, int *answered);
/* The server chosen last answered 404 for x's model: it is dropped from
 * that server's catalogue, which is read again soon (an upstream of
 * several servers with `balance model` only). */
void tg_model_pick_missing(tg_exchange *x);

/* --- failover (src/relay/failover.c) --- */
/* Could x go to another server before its response's first byte? sent:
 * the request went (at least in part) to the last one. */
int tg_failover_can(tg_exchange *x, int sent);
/* Does an answer with this status send x to another server (503; 404
 * when a server not tried yet lists the model)? */
int tg_failover_on_answer(tg_exchange *x, int status);
/* Drops the last server's connection and starts over with the next. */
void tg_failover_go(tg_exchange *x, const char *why);

/* --- a body kept in a file, sent up (src/relay/body-send.c) --- */
/* Sends x's body from its file after the head, from the start. */
void tg_body_send_start(tg_exchange *x);
/* The upstream took what was queued: the next piece. */
void tg_body_send_drained(tg_exchange *x);
/* Has the whole body been handed to the upstream (or is it not in a file)? */
int tg_body_send_done(const tg_exchange *x);

/* --- pool (src/upstream/pool.c) --- */
/* Prepares the pools of every server of conf (their addresses resolved:
 * the worker's start). Returns 0 or -1. */
int tg_pool_group_init(tg_pool_group *g, tg_worker *w, const tg_upstream_conf *conf);
void tg_pool_group_free(tg_pool_group *g);
/* The pool of the server a request goes to, not one in tried (bit i:
 * server i), or NULL when none can serve (tollgate/servers.h). */
tg_pool *tg_pool_choose(tg_pool_group *g, uint64_t tried);
/* Passive health: a failure before the response's first byte, or an
 * answer. Counted only where active checks run (an upstream of several
 * servers or with `health`), so that a server marked down can come back. */
void tg_pool_failed(tg_pool *p, const char *why);
void tg_pool_answered(tg_pool *p);
/* Hands x an upstream connection through w->ops->connected, at once when an
 * idle one is pooled, else after a dial (with the dial timeout). */
void tg_pool_acquire(tg_pool *p, tg_exchange *x);
/* Returns u to the pool when it can carry another request, else closes it. */
void tg_pool_release(tg_upconn *u, int reusable);
/* Reads the upstream again (after backpressure), or stops reading it. */
void tg_upconn_read_start(tg_upconn *u);
void tg_upconn_read_stop(tg_upconn *u);
/* Closes u now. */
void tg_upconn_close(tg_upconn *u);
/* Starts (or restarts) u's timer for timeout_ms from now. */
void tg_upconn_set_timeout(tg_upconn *u, uint64_t timeout_ms);

/* Stops u's timeout until the next tg_upconn_set_timeout. */
void tg_upconn_stop_timeout(tg_upconn *u);
void tg_pool_close_all(tg_pool_group *g);

/* Finds the servers of a site's upstream (src/upstream/pool.c). */
tg_pool_group *tg_worker_group_for(tg_worker *w, const tg_upstream_conf *up);

#endif
