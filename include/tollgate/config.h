/* tollgate configuration: the parsed form of a config file or of the
 * command-line flags. A tg_config is built once (at start or on reload),
 * read-only afterwards, and shared by every worker thread. */
#ifndef TOLLGATE_CONFIG_H
#define TOLLGATE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TG_MAX_LISTENS 8

/* A host and port as written in the config: "127.0.0.1:8080", "[::1]:80",
 * ":8080" (all addresses), "localhost:11434". host is never NULL; "" means
 * every address. */
typedef struct tg_hostport {
  char *host;
  uint16_t port;
} tg_hostport;

/* One `server` of an upstream block (docs/upstreams.md). */
typedef struct tg_server_conf {
  tg_hostport addr;    /* where this Ollama listens */
  unsigned slots;      /* requests it runs at once (its OLLAMA_NUM_PARALLEL); default 1 */
  unsigned weight;     /* its share among equals; default 1 */
  unsigned max_loaded; /* models it holds loaded at once (its OLLAMA_MAX_LOADED_MODELS); 0: not said */
  uint8_t backup;      /* chosen only when no other server can serve */
  uint8_t drain;       /* no new requests; live ones finish */
} tg_server_conf;

/* How an upstream with several servers picks one. */
typedef enum tg_balance {
  TG_BALANCE_MODEL, /* the default: by model (until the model-aware choice exists, as least_conn) */
  TG_BALANCE_LEAST_CONN,
  TG_BALANCE_ROUND_ROBIN
} tg_balance;

/* Active health checks: each server's /api/tags and /api/ps polled. */
typedef struct tg_health_conf {
  uint64_t interval_ms; /* default 5 s */
  uint64_t timeout_ms;  /* one check; default 2 s */
  unsigned fails;       /* failed checks in a row that take a server down; default 3 */
  unsigned passes;      /* good checks in a row that bring it back; default 2 */
  uint8_t written;      /* `health` was written (checks run even with one server) */
} tg_health_conf;

/* `balance model`'s queue at the gateway and its fairness bound
 * (src/config/model-directives.c, docs/upstreams.md#balance-model). */
typedef struct tg_model_conf {
  uint64_t fairness_ms;       /* `fairness`: how long a request waits before it may swap a busy server; default 30 s */
  unsigned queue_max;         /* `queue N`: requests held at once in the upstream; default 1024 */
  uint64_t queue_timeout_ms;  /* `queue N timeout D`: held longer gets 503; default 30 s */
  uint64_t affinity_table;    /* `affinity_table N`: conversation affinity's entries (0: off); default 65536 */
  uint64_t affinity_slack_ms; /* `affinity_slack D`; default auto (UINT64_MAX): the matched prefix's evaluation */
} tg_model_conf;

#define TG_MAX_SERVERS 64 /* per upstream */

typedef struct tg_upstream_conf {
  char *name;              /* "ollama"; "default" for one made from --upstream */
  tg_server_conf *servers; /* where Ollama listens: at least one */
  size_t nservers;
  uint8_t balance;               /* tg_balance */
  tg_health_conf health;         /* active checks */
  tg_model_conf model;           /* `balance model`'s queue and fairness */
  char *host_header;             /* Host sent upstream; NULL = keep the client's (preserve) */
  uint64_t dial_timeout_ms;      /* default 10 s */
  uint64_t header_timeout_ms;    /* first response byte; default 10 min */
  uint64_t idle_timeout_ms;      /* between two reads of a response; default 5 min */
  unsigned keepalive;            /* idle pooled connections per worker; default 32 */
  uint64_t keepalive_timeout_ms; /* an idle pooled connection is closed after; default 60 s */
} tg_upstream_conf;

/* What a listen address speaks. */
enum {
  TG_LISTEN_PLAIN,
  TG_LISTEN_TLS,
  TG_LISTEN_REDIRECT, /* plain HTTP answered with 308 to https:// */
  TG_LISTEN_H2C       /* HTTP/2 in clear text with prior knowledge (docs/http2.md) */
};

typedef struct tg_site_conf {
  char *name; /* the site's name as written ("ollama.example.com", "_" for any) */
  tg_hostport listens[TG_MAX_LISTENS];
  uint8_t listen_kind[TG_MAX_LISTENS]; /* TG_LISTEN_* */
  size_t nlistens;
  char *mount;                   /* path prefix stripped before proxying, "" for none; never ends in '/' */
  uint64_t max_body_bytes;       /* request body limit; default 100 MiB; 0 = unlimited */
  uint64_t body_buffer_bytes;    /* a body read whole before a server is chosen (several servers); default 1 MiB */
  char *body_temp_dir;           /* past body_buffer_bytes: a file here; default $STATE_DIRECTORY or /tmp */
  uint64_t header_timeout_ms;    /* whole request head must arrive within; default 60 s */
  uint64_t body_timeout_ms;      /* between two reads of a request body; default 60 s */
  uint64_t keepalive_timeout_ms; /* idle client connection; default 75 s */
  uint64_t send_timeout_ms;      /* client accepts no bytes for this long; default 60 s */
  uint64_t tunnel_timeout_ms;    /* WebSocket tunnel idle both ways; default 1 h */
  size_t max_header_bytes;       /* request line + headers; default 16 KiB */
  int forward_credentials;       /* pass Authorization and Cookie upstream; default 0 */
  int http2_off;                 /* `http2 off;`: TLS listeners offer http/1.1 alone in ALPN */
  tg_upstream_conf *upstream;    /* points into tg_config.upstreams */
  struct tg_auth_conf *auth;     /* auth and routes (tollgate/auth.h), NULL = none */
  struct tg_limits_conf *limits; /* limits, CORS, admins (tollgate/limits.h), NULL = none */
  struct tg_tls_conf *tls;       /* certificates (tollgate/tls.h), NULL = no TLS */
  uint32_t adm_phases;           /* the admission phases its requests run (tollgate/admission.h); 0 = every one */
} tg_site_conf;

typedef struct tg_config {
  char *path;                /* file it came from, or NULL for flags only */
  unsigned workers;          /* 0 = auto (one per core) */
  uint64_t drain_timeout_ms; /* SIGTERM/SIGHUP: how long live streams may finish; default 5 min */
  tg_hostport *admin;        /* the admin listener (metrics, health), NULL for none */
  char *access_log;          /* "stdout" (default), "stderr", "off", or a file path */
  char *error_log;           /* "stderr" (default), "stdout", or a file path */
  tg_upstream_conf *upstreams;
  size_t nupstreams;
  tg_site_conf *sites;
  size_t nsites;
  struct tg_acme_conf *acme;       /* the acme block (tollgate/acme.h), NULL = none */
  struct tg_process_conf *process; /* user, pid_file (tollgate/process-conf.h), NULL = neither */
  struct tg_shared_conf *shared;   /* the shared block (tollgate/shared.h), NULL = none */
  struct tg_cfg_origins *origins;  /* where values came from (src/config/origin.c) */
} tg_config;

/* Fills every field with its default: one upstream "default" at
 * 127.0.0.1:11434 with Host localhost:11434, one site "_" listening on
 * 127.0.0.1:8080 that proxies to it. Returns NULL on allocation failure. */
tg_config *tg_config_new_default(void);

/* Parses the config file at path. On success returns a config and leaves
 * *nerrors at 0. On failure returns NULL and prints each problem to err as
 * "file:line:col: message\n" (every error found, not only the first), and
 * sets *nerrors to their count. */
tg_config *tg_config_load(const char *path, FILE *err, int *nerrors);

/* Same as tg_config_load, from a string already in memory; name is used in
 * error messages in place of the file name. */
tg_config *tg_config_parse(const char *name, const char *text, size_t len, FILE *err, int *nerrors);

/* Adds a server at addr (whose host u now owns) with the default options
 * (slots 1, weight 1). Returns it, or NULL when out of memory or at
 * TG_MAX_SERVERS (addr then stays the caller's). */
tg_server_conf *tg_upstream_add_server(tg_upstream_conf *u, tg_hostport addr);

/* Parses "host:port", "[v6]:port", ":port" or "port". Returns 0 or -1. */
int tg_hostport_parse(const char *s, tg_hostport *out);

/* Parses a duration "250ms", "10s", "5m", "1h", "2d" into milliseconds.
 * Returns 0 or -1. */
int tg_duration_parse(const char *s, uint64_t *ms);

/* Parses a size "512", "16k", "100m", "1g" (powers of 1024) into bytes.
 * Returns 0 or -1. */
int tg_size_parse(const char *s, uint64_t *bytes);

void tg_config_free(tg_config *cfg);

/* Where a value of cfg was written, for messages: "file:line:col: " for a
 * value from the config file, "--listen: " for one from a flag, "" when
 * unknown. what is the value's string (a tg_hostport's host, access_log,
 * error_log). */
const char *tg_config_where(const tg_config *cfg, const void *what);

/* Records that what came from text (a flag's name). Returns 0 or -1. */
int tg_config_origin_set(tg_config *cfg, const void *what, const char *text);

/* Every check start makes short of binding a socket: listen and upstream
 * names resolve, the admin address is numeric, the log files can be
 * opened for writing. Prints each problem as "file:line:col: message" to
 * err and returns their count. tollgate -t, start and reload run it; the
 * parser does not (it does no DNS, so that fuzzing and unit tests never
 * wait for a resolver). */
int tg_config_preflight(const tg_config *cfg, FILE *err);

#endif
