/* One exchange: a request and its answer, apart from the connection it
 * arrived on (tg_client, tollgate/proxy.h). It is allocated when a
 * request's first byte arrives (tg_exchange_new) and freed in one place
 * when it ends (tg_exchange_end); x->conn is its connection. On HTTP/1 a
 * connection carries one at a time, c->x, which is NULL between requests.
 * Async work that comes back to x (a thread-pool job, a subrequest, a
 * timer, the shared store's reply) holds it (tg_exchange_hold): an
 * exchange that ends while held keeps its memory, not its connection,
 * until the last hold is given back (tg_exchange_release).
 * A worker keeps a few freed exchanges (tg_exchange_cache), so that a
 * keep-alive request pays no malloc or free.
 *
 * Its parts: the request as it arrives and goes up, the upstream leg (the
 * connection carrying it and the response as it comes back), what it means
 * for the LLM API (facts, the log record), and its admission state (who
 * asks, what limits hold it, what the policy gathers). */
#ifndef TOLLGATE_EXCHANGE_H
#define TOLLGATE_EXCHANGE_H

#include <stdint.h>

#include "tollgate/access-log.h"
#include "tollgate/auth.h"
#include "tollgate/buf.h"
#include "tollgate/framing.h"
#include "tollgate/head.h"
#include "tollgate/llm.h"
#include "tollgate/rewrite.h"

struct tg_client;
struct tg_worker;
struct tg_site_conf;
struct tg_downstream;
struct tg_upconn;
struct tg_pool;
struct tg_model_list;
struct tg_body_temp;
struct tg_live_stream;

/* The upstream leg: the connection carrying the exchange and how its
 * response is framed as it comes back (src/relay/relay.c). */
typedef struct tg_upleg {
  struct tg_upconn *up;        /* NULL until one is acquired, and after it is released */
  struct tg_pool *pool;        /* the server chosen last (its pool), NULL before */
  uint64_t tried;              /* the servers chosen so far (bit i: server i of the upstream) */
  uint8_t attempts;            /* servers tried (failover is bounded) */
  tg_head_scan up_head_scan;   /* raw-byte checks beside llhttp on the response head */
  tg_chunk_scan up_chunk_scan; /* the same on a chunked response body */
  struct tg_affinity_req *aff; /* its prompt's blocks for conversation affinity (malloc'd), or NULL */
  uint8_t up_error;            /* tg_up_error: why the upstream failed the exchange, for the log */
  unsigned up_chunked : 1;     /* the upstream response is chunked */
  unsigned up_eof_body : 1;    /* its body runs to connection close */
  unsigned in_1xx : 1;         /* parsing an interim response */
  unsigned up_reached : 1;     /* an upstream carried this exchange */
  unsigned up_in_chunk : 1;    /* inside a non-empty upstream chunk */
  unsigned up_extra : 1;       /* the upstream sent bytes after its response */
  unsigned up_chunk_check : 1; /* the chunked body goes through up_chunk_scan */
  unsigned up_chunk_end : 1;   /* up_chunk_scan saw the chunked body's end */
  unsigned failover : 1;       /* its answer sends the request to another server (src/relay/failover.c) */
  unsigned stale_retried : 1;  /* retried once after a reused connection closed unanswered */
} tg_upleg;

/* What the admission phases decided and hold (src/policy/). */
typedef struct tg_admission {
  const char *user;             /* who is asking, NULL = anonymous; set by auth */
  const char *auth_how;         /* how it was decided ("basic", "key"...), for the log */
  char *auth_headers;           /* header lines auth adds upstream (forward auth), or NULL */
  const char *const *auth_drop; /* client header names not passed upstream, or NULL */
  void *limit_wait;             /* the delay or queue entry the exchange waits in (holding x), or NULL */
  uint64_t max_body;            /* the body limit of the request's route */
  tg_buf whole; /* the request body read before dialling; later the listing or SSE chunk a response filter holds */
  struct tg_body_temp *temp;          /* that body, past client_body_buffer_size: in a file (tollgate/body-temp.h) */
  const struct tg_model_list *models; /* the allow-list of the user, NULL = any model */
  uint32_t resp_chunks;               /* upstream chunks: the token estimate of a stream cut before its counts */
  unsigned gathering : 1;             /* the body is read whole before the upstream is dialled */
  unsigned gathered : 1;              /* `whole` (or `temp`) is the body, sent after the head */
  unsigned may_spill : 1;             /* the body may go to a file past client_body_buffer_size (body-buffer.c) */
  unsigned ask_usage : 1;             /* a streamed OpenAI request gets include_usage when it lacks it */
  unsigned strip_usage : 1;           /* include_usage was added: the usage-only event is taken out */
  unsigned filter_listing : 1;        /* /api/tags, /api/ps, /v1/models filtered by `models` */
  unsigned quota_on : 1;              /* the exchange counts against the user's quota */
  uint8_t limit_held;                 /* what the exchange gives back at its end (limits.c) */
  uint8_t phase;                      /* the admission phase it is in (admission.c) */
  char user_buf[TG_USER_MAX + 1];
} tg_admission;

/* The response filters of an exchange, chosen when its response head
 * arrives (tollgate/resp-filter.h): a few bytes, no pointer. */
#define TG_RESP_CHAIN_MAX 7
typedef struct tg_resp_chain {
  uint8_t id[TG_RESP_CHAIN_MAX]; /* filter numbers (tg_resp_filters) in order, the writer last */
  uint8_t n;                     /* 0: not built yet */
  uint8_t held;                  /* bit `at`: the filter at that position holds bytes or the head back */
} tg_resp_chain;

typedef struct tg_exchange {
  union {
    struct tg_client *conn;   /* the connection it arrived on */
    struct tg_exchange *next; /* in the worker's cache, while freed */
  };
  /* what it needs of its connection, copied when it begins (tg_exchange_new),
   * so that the path it takes reads no connection: one connection may carry
   * many exchanges (HTTP/2), each with its own client address */
  const struct tg_downstream *down; /* how its answer reaches the client (tollgate/downstream.h) */
  void *down_ctx;                   /* the downstream's own state for it (HTTP/2: its stream), NULL on HTTP/1 */
  struct tg_worker *w;              /* the worker whose loop runs it */
  const struct tg_site_conf *site;  /* the site of the listener it arrived on */
  char ip[48]; /* the client's address: the peer's, or from X-Forwarded-For behind a trusted proxy */
  /* the request (fields ordered so that the small ones pack without holes) */
  tg_head req;         /* its head, kept until the exchange ends (the log line uses it) */
  uint64_t req_cl;     /* Content-Length */
  uint64_t body_bytes; /* body bytes read so far */
  tg_framing req_framing;
  uint32_t target_skip;      /* bytes of the mount prefix in the target */
  tg_head_scan head_scan;    /* raw-byte checks beside llhttp */
  uint8_t method;            /* llhttp's method number (enum llhttp_method) */
  uint8_t http_minor;        /* HTTP/1.x: x; the version the client spoke */
  uint8_t route_kind;        /* tg_route_kind of the path (of the raw target when it cannot be normalised) */
  uint8_t live_counted;      /* counted in tollgate_live_streams */
  unsigned req_done : 1;     /* whole request passed on (or refused) */
  unsigned req_in_chunk : 1; /* inside a non-empty request chunk */
  unsigned expect_continue : 1;
  unsigned head_only : 1; /* HEAD request */
  unsigned websocket : 1; /* a WebSocket handshake, passed on with its Upgrade */
  unsigned openai : 1;    /* /v1/ route: errors in OpenAI shape */
  /* the response toward the client */
  unsigned resp_head_sent : 1;
  unsigned resp_done : 1;
  unsigned resp_chunked : 1; /* we write chunked framing to the client */
  unsigned truncated : 1;    /* cut short by a failing upstream */
  unsigned body_discard : 1; /* the upstream stopped taking the body: drop it */
  uint16_t status;
  char request_id[65];      /* X-Request-Id: the client's when valid, else made here */
  tg_resp_chain resp;       /* what the response passes through on its way to the client */
  tg_chunk_scan chunk_scan; /* raw-byte checks on a chunked request body */
  /* its facts, settled once by the first admission phase (route.c), with route_kind */
  tg_span path;               /* the path normalised, NUL-terminated in req's buffer; empty when it cannot be */
  const tg_route_conf *route; /* the site's route for that path, or NULL */
  tg_upleg leg;
  /* what it means for the LLM API (src/observe/llm.c), and its log record */
  tg_llm_facts facts;
  struct {
    tg_json_scan req, resp; /* the request body and the response as they pass (src/observe/llm.c) */
  } scan;
  tg_access_rec rec;
  tg_admission adm;
  struct {
    uint16_t n;         /* async work in flight that comes back to x */
    unsigned ended : 1; /* tg_exchange_end ran while held: x is freed by the last release */
  } hold;
  struct tg_live_stream *live; /* its row in the live view while it runs (tollgate/live-exchange.h), or NULL */
} tg_exchange;

/* Async work that will come back to x holds it: x is neither freed nor
 * reused before the work gives the hold back. */
static inline void tg_exchange_hold(tg_exchange *x) { x->hold.n++; }
/* The work that held x is back: 1 when x goes on (it has not ended and its
 * client is still there), 0 when the work's outcome no longer applies
 * (x ended meanwhile, and is freed now when that was the last hold; it is
 * not to be touched after). */
int tg_exchange_release(tg_exchange *x);
/* Whether x goes on, for held work that reads this before it gives its
 * hold back (tg_exchange_release then frees or keeps x as it says). */
int tg_exchange_live(const tg_exchange *x);

/* The normalised path (x->path.len > 0), a C string. */
static inline const char *tg_exchange_path(const tg_exchange *x) { return tg_head_str(&x->req, x->path); }

/* Can the request go again on another connection if a reused one turns
 * out stale before any byte of its answer (relay.c: relay_retry)? Without
 * a body, it is all in its head; and only once. */
static inline int tg_exchange_replayable(const tg_exchange *x) {
  return x->req_framing == TG_FRAME_NONE && !x->leg.stale_retried;
}

/* A worker's freed exchanges, each with its head's buffer, ready for the
 * next request: at most TG_EXCHANGE_CACHE_MAX, the rest freed. */
#define TG_EXCHANGE_CACHE_MAX 16
typedef struct tg_exchange_cache {
  tg_exchange *free;
  unsigned n;
} tg_exchange_cache;

/* A fresh exchange for a request arriving on conn (from the cache when it
 * has one), answered through down, run by worker w for site, from the
 * client address ip (the connection's peer, 48 bytes as x->ip); or NULL
 * without memory. */
tg_exchange *tg_exchange_new(tg_exchange_cache *cache, struct tg_client *conn, const struct tg_downstream *down,
                             struct tg_worker *w, const struct tg_site_conf *site, const char ip[48]);

/* Ends x: what it owns is freed, and x itself, or kept in the cache with
 * its head's buffer for a later request; while held, x stays (its
 * connection no longer set) until tg_exchange_release gives back the last
 * hold. */
void tg_exchange_end(tg_exchange_cache *cache, tg_exchange *x);

/* X-Request-Id: the client's when it is 1 to 64 of [A-Za-z0-9._:-], else
 * 32 random hex digits (the same over HTTP/1 and HTTP/2). */
void tg_exchange_request_id(tg_exchange *x);

/* The body of a gateway-made error: JSON in Ollama's shape, or OpenAI's
 * on /v1/ routes. Returns 0 or -1 (out of memory). */
int tg_exchange_error_body(const tg_exchange *x, int status, const char *message, tg_buf *body);

/* Frees the exchanges the cache keeps (the worker ends). */
void tg_exchange_cache_free(tg_exchange_cache *cache);

/* Writes x's access-log line and counts it in the metrics, once, when it
 * ends (src/http/exchange-log.c): method and proto ("HTTP/1.1"; NULL when
 * not known) as its connection read them; aborted: the client went away
 * before its answer was complete. */
void tg_exchange_log(tg_exchange *x, const char *method, const char *proto, int aborted);

#endif
