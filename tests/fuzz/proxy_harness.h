/* proxy_harness: a real tollgate worker inside the fuzzer process. One
 * libuv loop (the worker's own) runs the worker with a loopback listener
 * (set up by tg_worker_init and tg_worker_main, as src/process/master.c does),
 * a tiny upstream TCP server standing in for Ollama, and one client socket.
 * A target queues bytes on the client and on upstream connections; the
 * harness writes them piece by piece, running the loop until it is quiet
 * between pieces, then ends the run (the client half-closes, or waits for
 * tollgate's own timeouts), closes everything and checks that tollgate
 * kept no connection and no libuv handle. All that was sent and received
 * on every socket is kept for the target's invariants. */
#ifndef FUZZ_PROXY_HARNESS_H
#define FUZZ_PROXY_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "tollgate/proxy.h"

#define PH_MAX_UPS 16    /* upstream connections accepted per run */
#define PH_MAX_PIECES 16 /* a queued write is cut in at most this many pieces */

typedef struct ph_env ph_env;
typedef struct ph_conn ph_conn;

struct ph_conn {
  uv_tcp_t tcp;
  uv_shutdown_t shut_req;
  ph_env *env;
  unsigned id;    /* upstream: index in env->ups; client: 0 */
  tg_buf in;      /* every byte received */
  tg_buf out;     /* every byte written */
  tg_buf queue;   /* bytes still to write */
  size_t piece;   /* piece size for the queue (0: all at once) */
  int eof;        /* the peer closed (EOF or error) */
  int shut_after; /* half-close once the queue is written */
  int shut;       /* the write side is shut down */
  int closing;
  void *user; /* the target's per-connection state */
};

typedef struct ph_hooks {
  /* an upstream connection was accepted (before any byte) */
  void (*up_accept)(ph_conn *u);
  /* bytes arrived on an upstream connection (already in u->in) */
  void (*up_data)(ph_conn *u, const char *p, size_t n);
  /* the upstream connection closes: free u->user */
  void (*up_free)(ph_conn *u);
} ph_hooks;

struct ph_env {
  tg_config *cfg;
  tg_worker *w;
  uv_tcp_t up_listener;
  ph_conn *client;
  ph_conn *ups[PH_MAX_UPS];
  unsigned nups;
  unsigned events;       /* harness callbacks so far: activity seen */
  unsigned live;         /* harness handles not yet closed */
  unsigned base_handles; /* loop handles between runs */
  ph_hooks hooks;
  void *user;
  int verbose; /* FUZZ_VERBOSE=1: tollgate's error log to stderr */
};

/* Options of one run. */
typedef struct ph_opts {
  int stall; /* end by tollgate's timeouts (2 ms) instead of a half-close */
  int forward_credentials;
  int preserve_host; /* host_header preserve */
  const char *mount; /* "" or a prefix */
} ph_opts;

/* The environment, set up on the first call. Aborts if it cannot be. */
ph_env *ph_env_get(void);

/* Starts a run: applies opts to the config and connects the client. */
void ph_run_begin(ph_env *e, const ph_opts *o, const ph_hooks *hooks, void *user);

/* Queues bytes to write on c, cut in pieces of `piece` bytes (0: one write;
 * never more than PH_MAX_PIECES pieces). */
void ph_queue(ph_conn *c, const char *p, size_t n, size_t piece);

/* Writes everything queued, piece by piece, running the loop until quiet
 * after each piece, then ends the run (see ph_opts.stall) and closes every
 * connection. Returns 0, or -1 when tollgate still held a client
 * connection or a handle after both peers had gone and (stall runs) its
 * timeouts had fired: a connection that never ends. */
int ph_run_end(ph_env *e, const ph_opts *o);

/* Frees the run's connection records (after the target's checks). */
void ph_run_free(ph_env *e);

/* Reports a broken invariant with everything each socket sent and
 * received, then aborts (libFuzzer saves the input). */
void ph_fail(ph_env *e, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/* Runs the loop until nothing happens for a few iterations in a row. */
void ph_spin(ph_env *e);

#endif
