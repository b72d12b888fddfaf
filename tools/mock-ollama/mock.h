/* mock.h: types and functions shared by the files of the mock Ollama server
 * (a test and benchmark tool, not part of tollgate). */
#ifndef MOCK_OLLAMA_H
#define MOCK_OLLAMA_H

#include <jansson.h>
#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define MOCK_OLLAMA_VERSION "0.12.6"
#define MOCK_BODY_MAX ((size_t)64 << 20)        /* request body bytes kept for parsing */
#define MOCK_WRITE_HIGH_WATER ((size_t)4 << 20) /* pause a stream above this queue */
#define MOCK_EVENTS_MAX 20000

/* Command-line options, read-only once the workers run. */
typedef struct mock_opts {
  char host[256];
  int port;
  unsigned threads;
  unsigned tokens;
  unsigned delay_ms;
  bool host_check;
  bool pull_fail; /* --pull-fail: every pull and create ends with Ollama's error */
  bool quiet;
  bool loopback; /* the listen address is a loopback one: the host check applies */
  /* The server simulator (sim.c), on when any of its options is given. */
  bool sim;
  unsigned max_loaded;               /* OLLAMA_MAX_LOADED_MODELS; 0: no limit */
  unsigned slots;                    /* OLLAMA_NUM_PARALLEL: requests a loaded model runs at once */
  unsigned max_queue;                /* OLLAMA_MAX_QUEUE: requests waiting for the scheduler */
  unsigned load_ms;                  /* time to load a model */
  unsigned keep_alive_ms;            /* OLLAMA_KEEP_ALIVE: an idle model stays loaded this long */
  unsigned prompt_eval_us_per_token; /* prompt evaluation time charged per token not cached */
  bool multiuser_cache;              /* OLLAMA_MULTIUSER_CACHE: oldest free slot, prefix copied in */
} mock_opts_t;

extern mock_opts_t mock_opts;

/* A growable byte buffer, always NUL-terminated when p != NULL. */
typedef struct mock_buf {
  char *p;
  size_t len, cap;
} mock_buf_t;

void mock_buf_append(mock_buf_t *b, const void *data, size_t n);
void mock_buf_puts(mock_buf_t *b, const char *s);
void mock_buf_printf(mock_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mock_buf_insert_fill(mock_buf_t *b, size_t at, char ch, size_t n);
void mock_buf_reset(mock_buf_t *b);
void mock_buf_free(mock_buf_t *b);

typedef struct mock_header {
  mock_buf_t name, value;
} mock_header_t;

/* The request being read on a connection. */
typedef struct mock_req {
  uint64_t id;
  char method[24];
  mock_buf_t url;
  mock_header_t *headers;
  size_t nheaders, cap_headers;
  bool in_value; /* the last header callback was for a value */
  mock_buf_t body;
  uint64_t body_bytes;
} mock_req_t;

/* Per-request controls from X-Mock-* headers; -1 means "not set". */
typedef struct mock_ctl {
  int tokens, delay_ms, first_byte_ms;
  int stall_after, reset_after, close_after;
  int line_bytes;
  bool busy, early, stamp, echo;
} mock_ctl_t;

typedef enum mock_kind { MOCK_GENERATE, MOCK_CHAT, MOCK_OPENAI_CHAT, MOCK_PULL } mock_kind_t;

/* A generation (or pull) response in progress, driven by the connection timer. */
typedef struct mock_resp {
  bool active;    /* a timer-driven response is in progress */
  bool streaming; /* chunked NDJSON/SSE, else one JSON body at the end */
  bool headers_sent;
  bool early;        /* started before the request body was read */
  bool body_done;    /* early: the request body has ended */
  bool waiting_body; /* early: all tokens sent, the final object waits for the body */
  bool stamp;
  bool include_usage;
  mock_kind_t kind;
  unsigned tokens, sent, delay_ms, line_bytes, prompt_tokens;
  unsigned prompt_cached; /* of prompt_tokens, served by a slot's cache */
  int stall_after, reset_after, close_after;
  uint64_t start_ns;
  uint64_t body_bytes; /* early: the request body size, once known */
  char *model_json;    /* the model name as a JSON string literal */
} mock_resp_t;

struct mock_worker;
struct mock_simreq;

typedef struct mock_conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_shutdown_t shutdown;
  struct mock_worker *worker;
  struct mock_conn *prev, *next;
  llhttp_t parser;
  mock_req_t req;
  mock_ctl_t ctl;
  mock_resp_t resp;
  mock_buf_t pending;      /* bytes read while a response was still being sent */
  struct mock_simreq *sim; /* the simulator's state of this request, while it has one */
  int open_handles;
  int status;    /* of the response being sent, for the event log */
  bool in_parse; /* inside llhttp_execute */
  bool parked;   /* request complete, its response not yet finished */
  bool keep_alive;
  bool head;            /* the request method is HEAD */
  bool closing;         /* a close or shutdown has begun */
  bool handles_closing; /* uv_close has been called */
} mock_conn_t;

typedef struct mock_worker {
  uv_loop_t loop;
  uv_tcp_t listener;
  uv_async_t stop;
  uv_thread_t thread;
  unsigned index;
  mock_conn_t *conns;
  mock_buf_t scratch; /* a line being built; reused by every stream */
  time_t date_sec;
  char date[40];
  char readbuf[65536];
} mock_worker_t;

/* server.c: the event loop of one worker, connections, llhttp glue. */
int mock_worker_init(mock_worker_t *w, int fd);
void mock_worker_run(void *arg);
void mock_worker_destroy(mock_worker_t *w);
void mock_conn_write(mock_conn_t *c, const char *data, size_t len);
void mock_conn_writev(mock_conn_t *c, const uv_buf_t *parts, size_t nparts);
void mock_conn_finish(mock_conn_t *c);
void mock_conn_abort(mock_conn_t *c, bool reset);
const char *mock_req_header(const mock_req_t *r, const char *name);
json_t *mock_req_headers_json(const mock_req_t *r);
uint64_t mock_now_ns(void);

/* respond.c: status lines, headers and whole responses. */
void mock_write_head(mock_conn_t *c, int status, const char *ctype, long long clen);
void mock_respond(mock_conn_t *c, int status, const char *ctype, const char *body, size_t len);
void mock_respond_json(mock_conn_t *c, int status, json_t *body);
void mock_respond_error(mock_conn_t *c, int status, const char *msg, bool openai);
void mock_write_chunk(mock_conn_t *c, const char *data, size_t len);
void mock_write_last_chunk(mock_conn_t *c);

/* routes.c: what each request gets. */
void mock_route(mock_conn_t *c);
bool mock_route_early(mock_conn_t *c);

/* stream.c: timer-driven generation and pull responses. */
void mock_stream_start(mock_conn_t *c, mock_kind_t kind, const char *model, json_t *req, bool streaming);
void mock_stream_start_cached(mock_conn_t *c, mock_kind_t kind, const char *model, json_t *req, bool streaming,
                              unsigned cached);
void mock_stream_body_done(mock_conn_t *c);
/* The text of the first tokens of a generation, appended to out. */
void mock_stream_text(unsigned tokens, mock_buf_t *out);
void mock_stream_clear(mock_resp_t *r);

/* catalog.c: the fake models and the JSON that lists or describes them. */
typedef struct mock_model {
  const char *name, *family, *parameter_size, *quantization, *digest;
  long long size;
  bool embedding;
} mock_model_t;

const mock_model_t *mock_model_find(const char *name);
bool mock_catalog_set(const char *list);
size_t mock_catalog_len(void);
const mock_model_t *mock_catalog_model(size_t i);
size_t mock_model_index(const mock_model_t *m);
json_t *mock_catalog_tags(void);
json_t *mock_catalog_ps(void);
json_t *mock_catalog_ps_entry(const mock_model_t *m, uint64_t expires_unix_ns, int context_length);
json_t *mock_catalog_show(const mock_model_t *m);
json_t *mock_catalog_openai_models(void);
json_t *mock_catalog_openai_model(const mock_model_t *m);
void mock_format_time(char *out, size_t outlen, uint64_t unix_ns);

/* events.c: the bounded event log read back through /_mock/events. */
void mock_events_add(json_t *ev);
char *mock_events_dump(size_t *len);
void mock_events_reset(void);
void mock_events_free(void);
void mock_event_end(mock_conn_t *c, const char *ev, unsigned tokens_sent);

/* sim.c: the server simulator: Ollama's scheduler (its pending queue and
 * 503, models loaded, loading and unloaded, slots per model, keep-alive). */
void mock_sim_submit(mock_conn_t *c, mock_kind_t kind, const char *model, json_t *req, bool streaming);
void mock_sim_release(mock_conn_t *c, bool completed);
long long mock_sim_load_ns(const mock_conn_t *c);
json_t *mock_sim_ps(void);
json_t *mock_sim_stats(void);
void mock_sim_stats_reset(void);
void mock_sim_count(const char *what);
void mock_sim_stop(void);

/* fault.c: server-wide faults set through POST /_mock/fault. */
typedef enum mock_fault { MOCK_FAULT_NONE, MOCK_FAULT_BUSY, MOCK_FAULT_RESET, MOCK_FAULT_CUT } mock_fault_t;
mock_fault_t mock_fault_mode(void);
int mock_fault_cut_after(void);
void mock_fault_route(mock_conn_t *c);
void mock_fault_clear(void);

/* hostcheck.c: Ollama's allowedHostsMiddleware. */
bool mock_host_allowed(const char *host_header);

#endif
