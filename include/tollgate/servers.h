/* The servers of an upstream (docs/upstreams.md): what tollgate knows of
 * each (up or down, requests in flight) and the choice of one for a
 * request (least_conn, weighted round robin; backups only when no other
 * server can serve; draining servers never).
 *
 * A server's state (tg_server_state) is process-wide, keyed by its
 * upstream's name and its address, so that it outlives reloads: a server
 * known down stays down in the next generation, and the requests an old
 * generation still carries count against its slots. Workers and the
 * health checker (the main thread) share it through atomics; states are
 * never freed (at most TG_SERVER_STATES for the process). */
#ifndef TOLLGATE_SERVERS_H
#define TOLLGATE_SERVERS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "tollgate/config.h"

#define TG_SERVER_STATES 1024

typedef struct tg_server_state {
  char key[192];          /* "UPSTREAM HOST:PORT" */
  char upstream[64];      /* its upstream's name, for the metrics */
  char addr_text[64];     /* "HOST:PORT" */
  unsigned in_flight;     /* exchanges every worker carries to it now (atomic) */
  unsigned fails, passes; /* failures and good checks in a row (atomic) */
  unsigned slots;         /* from the newest configuration that names it (atomic) */
  uint64_t failovers;     /* requests sent on to another server after it failed them (atomic) */
  uint64_t errors;        /* failures before the first response byte, checks apart (atomic) */
  uint64_t loads;         /* answers whose load_duration says a load happened for them (atomic) */
  uint64_t load_ms;       /* the sum of those load_durations (atomic) */
  uint8_t down;           /* taken out by `fails` failures, back after `passes` good checks (atomic) */
  uint8_t checked;        /* an active check has ended at least once (atomic) */
  uint8_t refresh;        /* its catalogue is to be read again soon (atomic; tg_health_refresh) */
  pthread_mutex_t lock;   /* over models and loaded */
  char *models;           /* its last /api/tags: normal forms, each ended by '\n'; NULL = not known yet */
  char *loaded;           /* its last /api/ps (the models in its memory), the same form */
} tg_server_state;

/* The state of server s of upstream up, made on first use. NULL when the
 * process already holds TG_SERVER_STATES of them (the server then counts
 * nothing and is always up). Thread-safe. */
tg_server_state *tg_server_state_of(const tg_upstream_conf *up, const tg_server_conf *s);

/* Its place among the process's states (0 to TG_SERVER_STATES - 1): a
 * key for tables kept beside it (upstream/affinity.c). */
unsigned tg_server_state_index(const tg_server_state *st);

/* Is it up (never marked down, or back)? */
int tg_server_up(const tg_server_state *st);

/* What went through it: a failure before the response's first byte (a
 * dial refused or timed out, a reset, a 5xx) or a good check or answer.
 * `fails` failures in a row mark it down, `passes` good ones in a row
 * bring it back (an answer counts as good only while it is up; a down
 * server comes back through active checks). Returns 1 when the call
 * changed it (down or up), for the log. */
int tg_server_failed(tg_server_state *st, const tg_health_conf *h);
int tg_server_passed(tg_server_state *st, const tg_health_conf *h, int active);

/* The models a server has (its /api/tags): models is a list of normal
 * forms (tollgate/model-name.h), each ended by '\n', which st now owns.
 * has_model: 1 when normal is among them, 0 when not, -1 when not known. */
void tg_server_set_models(tg_server_state *st, char *models);
/* The same for the models its /api/ps says are loaded. */
void tg_server_set_loaded(tg_server_state *st, char *loaded);
int tg_server_has_model(const tg_server_state *st, const char *normal);
/* The same over its loaded models (its last /api/ps). */
int tg_server_has_loaded(const tg_server_state *st, const char *normal);
/* A request for the model went to it: until its next /api/ps, the model
 * counts as the one loaded there (replacing the others when it was not
 * loaded: a load evicts where room is short), so that the next request
 * for the model goes there too instead of loading it on another server. */
void tg_server_note_loaded(tg_server_state *st, const char *normal);
/* Its loaded list copied into buf (cap bytes with the NUL): 0, or -1 when
 * it does not fit. Not known yet: "". */
int tg_server_loaded_copy(const tg_server_state *st, char *buf, size_t cap);
/* Its catalogue the same way: -1 also when not known yet. */
int tg_server_models_copy(const tg_server_state *st, char *buf, size_t cap);
/* It answered 404 for the model: gone from its catalogue until its next
 * /api/tags, which the health checks fetch soon (tg_health_refresh). */
void tg_server_forget_model(tg_server_state *st, const char *normal);

/* Counted for the metrics: a request it failed (before the response's
 * first byte), one sent on to another server from it. */
void tg_server_error(tg_server_state *st);
void tg_server_failover(tg_server_state *st);
/* An answer of it said its model was loaded for it, in load_ns. */
void tg_server_load_seen(tg_server_state *st, int64_t load_ns);

/* In flight: one more, one fewer. */
void tg_server_claim(tg_server_state *st);
void tg_server_unclaim(tg_server_state *st);
unsigned tg_server_in_flight(const tg_server_state *st);

/* How a choice sees each candidate: what the caller fills for the servers
 * of one upstream, in the order of its config. */
typedef struct tg_server_view {
  const tg_server_conf *conf;
  const tg_server_state *st;
  int cur_weight; /* smooth weighted round robin (the caller's, kept between choices) */
} tg_server_view;

/* Chooses among n servers, skipping those in `tried` (bit i: server i)
 * and draining and down ones; backups only when no primary remains.
 * least_conn (and model, until the model-aware choice exists): the
 * fewest in flight per slot and weight, ties broken from *rr on; round
 * robin: nginx's smooth weighted round robin over cur_weight. Returns the
 * index, or -1 when none can serve. */
int tg_servers_choose(tg_server_view *v, unsigned n, uint8_t balance, uint64_t tried, unsigned *rr);

/* Could a choice find one (the same rules, nothing chosen)? */
int tg_servers_any(const tg_server_view *v, unsigned n, uint64_t tried);

/* The rules of a choice, for the model's (model-route.c): is server i a
 * candidate (not tried, not draining, up, backup or not as asked)? Has a
 * fewer requests in flight per slot and weight than b? */
int tg_server_eligible(const tg_server_view *v, unsigned i, uint64_t tried, int backup);
int tg_server_less_loaded(const tg_server_view *a, const tg_server_view *b);

/* `balance model` (src/upstream/model-route.c): among the candidates whose
 * catalogue has the model (normal form), or is not known yet: one where
 * it is loaded with a free slot (fewer in flight than its slots), the
 * least loaded; else the one where a load of the model would end first
 * (its load learned per model and server, after the requests it runs
 * when it is busy), when that is sooner than a slot frees where the model
 * is loaded (the requests held for the model over those servers' slots).
 * A busy server only when every other model loaded there is loaded on
 * another candidate too, or may_swap (the request waited its fairness
 * bound). Ties from *rr on; backups only when no other server has the
 * model. Returns the index, or one of: */
enum {
  TG_MODEL_NO_SERVER = -1, /* no candidate at all (every one down, draining or tried) */
  TG_MODEL_NOT_FOUND = -2, /* candidates, but every catalogue is known and none lists the model */
  TG_MODEL_BUSY = -3,      /* servers with the model, none of them free for it now */
};
typedef struct tg_model_ask {
  const char *model;           /* its normal form */
  uint32_t variant;            /* its runner options (tg_llm_facts.variant): another variant is another load */
  uint8_t may_swap;            /* it has waited its fairness bound */
  uint8_t held;                /* it is held at the gateway already (counted among the model's waiters) */
  struct tg_affinity_req *aff; /* its prompt's blocks, for conversation affinity (tollgate/affinity.h); NULL: none */
} tg_model_ask;
int tg_servers_choose_model(tg_server_view *v, unsigned n, const tg_model_ask *a, uint64_t tried, unsigned *rr);
/* The request a went to st: a load started there when the model was not
 * loaded as its variant; the model (and that variant) counted loaded
 * there until the next /api/ps. */
void tg_model_dispatched(tg_server_state *st, const tg_model_ask *a);

#endif
