/* sim.c: the server simulator, on with --models, --max-loaded, --slots,
 * --max-queue, --load-ms or --keep-alive-ms (one worker thread). It plays
 * Ollama's scheduler (server/sched.go) for /api/generate, /api/chat and
 * /v1/chat/completions:
 *  - a request for a loaded (or loading) model goes to it at once and waits
 *    there for one of its --slots (the runner's parallel sequences);
 *  - any other request joins the pending queue; when --max-queue requests
 *    already wait there, it gets 503 "server busy" (ErrMaxQueue);
 *  - the queue is served in order: the head's model is loaded (--load-ms)
 *    when fewer than --max-loaded models are loaded, else an idle model is
 *    unloaded first; while every loaded model is busy the whole queue waits
 *    (Ollama's head-of-line wait for an unload);
 *  - a model idle for --keep-alive-ms is unloaded;
 *  - the runner options of a request (options.num_ctx, num_batch, num_gpu,
 *    main_gpu, use_mmap, num_thread) make a variant: a request for a loaded
 *    model with other runner options waits in the queue until that model
 *    is idle, unloaded and loaded again with them (Ollama's needsReload);
 *  - load_duration is the time from a request's arrival until its model was
 *    ready for it; /api/ps lists the models loaded or loading.
 * Tokens start when a slot is granted. */
#include "mock.h"
#include "prompt-cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VARIANT_LEN 128
#define DEFAULT_NUM_CTX 4096     /* OLLAMA_CONTEXT_LENGTH's default */
#define CACHE_SLOTS_UNLIMITED 16 /* prompt caches of a model with --slots 0 */

typedef enum simreq_state { SR_PENDING, SR_WAITING, SR_RUNNING } simreq_state_t;

typedef struct mock_simreq {
  struct mock_simreq *next;
  mock_conn_t *conn;
  size_t model;
  mock_kind_t kind;
  bool streaming;
  simreq_state_t state;
  json_t *body;
  char *name; /* the model as the request spelled it */
  uint64_t t_arrive, t_ready;
  int num_ctx;
  char variant[VARIANT_LEN]; /* its runner options */
  mock_tokens_t prompt;      /* its rendered prompt */
  long slot;                 /* the cache slot it runs in, or -1 */
} simreq_t;

typedef struct simreq_list {
  simreq_t *head, *tail;
  unsigned len;
} simreq_list_t;

typedef struct sim_model {
  uv_timer_t timer;
  bool loaded, loading;
  unsigned active;       /* running */
  unsigned refs;         /* running or waiting for a slot or for the load */
  uint64_t last_used_ns; /* CLOCK_MONOTONIC */
  uint64_t load_start_ns;
  simreq_list_t waiting; /* for a slot (or for the load) */
  int num_ctx;           /* of the variant loaded */
  char variant[VARIANT_LEN];
  mock_slot_t *slots; /* the runner's prompt caches */
} sim_model_t;

typedef struct sim_stats {
  uint64_t since_ns;
  unsigned loads, unloads, completed, busy, not_found;
  uint64_t load_ns;    /* sum of finished loads */
  uint64_t loading_ns; /* time with at least one load running */
  uint64_t loading_since;
} sim_stats_t;

static struct {
  uv_loop_t *loop;
  sim_model_t *models;
  size_t nmodels;
  simreq_list_t pending;
  long victim; /* the model to unload once idle, or -1 */
  unsigned nloading;
  bool stopping;
  sim_stats_t stats;
} sim = {.victim = -1};

static void sim_pump(void);

static void list_push(simreq_list_t *l, simreq_t *r) {
  r->next = NULL;
  if (l->tail) l->tail->next = r;
  else l->head = r;
  l->tail = r;
  l->len++;
}

static simreq_t *list_pop(simreq_list_t *l) {
  simreq_t *r = l->head;
  if (!r) return NULL;
  l->head = r->next;
  if (!l->head) l->tail = NULL;
  l->len--;
  r->next = NULL;
  return r;
}

static void list_remove(simreq_list_t *l, simreq_t *r) {
  simreq_t *prev = NULL;
  for (simreq_t *p = l->head; p; prev = p, p = p->next) {
    if (p != r) continue;
    if (prev) prev->next = p->next;
    else l->head = p->next;
    if (l->tail == p) l->tail = prev;
    l->len--;
    return;
  }
}

static uint64_t wall_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sim_event(const char *ev, size_t model, uint64_t ns) {
  json_t *o = json_pack("{s:s,s:s}", "ev", ev, "model", mock_catalog_model(model)->name);
  if (ns) json_object_set_new(o, "load_ns", json_integer((json_int_t)ns));
  json_object_set_new(o, "t_ns", json_integer((json_int_t)mock_now_ns()));
  mock_events_add(o);
}

static void sim_on_loaded(uv_timer_t *t);

static unsigned sim_cache_slots(void) { return mock_opts.slots ? mock_opts.slots : CACHE_SLOTS_UNLIMITED; }

static void sim_init(uv_loop_t *loop) {
  if (sim.models) return;
  sim.loop = loop;
  sim.nmodels = mock_catalog_len();
  sim.models = calloc(sim.nmodels, sizeof *sim.models);
  if (!sim.models) abort();
  for (size_t i = 0; i < sim.nmodels; i++) {
    uv_timer_init(loop, &sim.models[i].timer);
    sim.models[i].timer.data = &sim.models[i];
    sim.models[i].slots = calloc(sim_cache_slots(), sizeof(mock_slot_t));
    if (!sim.models[i].slots) abort();
  }
  sim.stats.since_ns = mock_now_ns();
}

static unsigned sim_loaded_count(void) {
  unsigned n = 0;
  for (size_t i = 0; i < sim.nmodels; i++) n += sim.models[i].loaded || sim.models[i].loading;
  return n;
}

static void sim_unload(size_t i) {
  sim.models[i].loaded = false;
  mock_prompt_clear(sim.models[i].slots, sim_cache_slots());
  sim.stats.unloads++;
  if (sim.victim == (long)i) sim.victim = -1;
  sim_event("unload", i, 0);
}

/* Unload the idle models whose keep-alive has run out. */
static void sim_expire(void) {
  uint64_t now = mock_now_ns(), keep = (uint64_t)mock_opts.keep_alive_ms * 1000000u;
  for (size_t i = 0; i < sim.nmodels; i++) {
    sim_model_t *m = &sim.models[i];
    if (m->loaded && m->refs == 0 && now - m->last_used_ns >= keep) sim_unload(i);
  }
}

/* The runner options of a request, defaults filled in, as one string. */
static void sim_variant(simreq_t *r, json_t *req) {
  static const struct {
    const char *key;
    long long def;
  } keys[] = {{"num_ctx", DEFAULT_NUM_CTX},
              {"num_batch", 512},
              {"num_gpu", -1},
              {"main_gpu", 0},
              {"use_mmap", -1},
              {"num_thread", 0}};
  json_t *opts = json_object_get(req, "options");
  size_t at = 0;
  for (size_t k = 0; k < sizeof keys / sizeof keys[0] && at < VARIANT_LEN; k++) {
    json_t *v = json_object_get(opts, keys[k].key);
    long long n = keys[k].def;
    if (json_is_integer(v)) n = json_integer_value(v);
    else if (json_is_real(v)) n = (long long)json_real_value(v);
    else if (json_is_boolean(v)) n = json_is_true(v);
    if (k == 0) r->num_ctx = (int)n;
    at += (size_t)snprintf(r->variant + at, VARIANT_LEN - at, "%s%lld", k ? "," : "", n);
  }
}

/* The model is loaded (or loading) with the runner options r asks for. */
static bool sim_fits(const sim_model_t *m, const simreq_t *r) {
  return (m->loaded || m->loading) && strcmp(m->variant, r->variant) == 0;
}

static void sim_load_start(size_t i, const simreq_t *r) {
  sim_model_t *m = &sim.models[i];
  m->num_ctx = r->num_ctx;
  memcpy(m->variant, r->variant, VARIANT_LEN);
  m->loading = true;
  m->last_used_ns = m->load_start_ns = mock_now_ns();
  sim.stats.loads++;
  if (sim.nloading++ == 0) sim.stats.loading_since = m->last_used_ns;
  sim_event("load", i, 0);
  uv_update_time(sim.loop);
  uv_timer_start(&m->timer, sim_on_loaded, mock_opts.load_ms, 0);
}

static void sim_on_loaded(uv_timer_t *t) {
  sim_model_t *m = t->data;
  size_t i = (size_t)(m - sim.models);
  uint64_t now = mock_now_ns(), end = m->load_start_ns + (uint64_t)mock_opts.load_ms * 1000000u;
  if (now < end) { /* libuv's millisecond clock fired a little early */
    uv_timer_start(t, sim_on_loaded, (end - now + 999999) / 1000000, 0);
    return;
  }
  m->loading = false;
  m->loaded = true;
  m->last_used_ns = now;
  sim.stats.load_ns += (uint64_t)mock_opts.load_ms * 1000000u;
  if (--sim.nloading == 0) sim.stats.loading_ns += now - sim.stats.loading_since;
  for (simreq_t *r = m->waiting.head; r; r = r->next)
    if (!r->t_ready) r->t_ready = now;
  sim_event("loaded", i, (uint64_t)mock_opts.load_ms * 1000000u);
  sim_pump();
}

/* The model to unload for the head of the queue: an idle one, the least
 * recently used; else the loaded one with the fewest requests (it unloads
 * once they are done). -1 when every model is loading. */
static long sim_pick_victim(void) {
  long best = -1;
  for (size_t i = 0; i < sim.nmodels; i++) {
    sim_model_t *m = &sim.models[i];
    if (!m->loaded) continue;
    if (best < 0) {
      best = (long)i;
      continue;
    }
    sim_model_t *b = &sim.models[best];
    if (m->refs < b->refs || (m->refs == b->refs && m->last_used_ns < b->last_used_ns)) best = (long)i;
  }
  return best;
}

static void sim_attach(simreq_t *r) {
  sim_model_t *m = &sim.models[r->model];
  r->state = SR_WAITING;
  if (m->loaded && !r->t_ready) r->t_ready = mock_now_ns();
  m->refs++;
  list_push(&m->waiting, r);
}

/* Give free slots of loaded models to their waiting requests. */
static void sim_grant(size_t i) {
  sim_model_t *m = &sim.models[i];
  while (m->loaded && m->waiting.head && (mock_opts.slots == 0 || m->active < mock_opts.slots)) {
    simreq_t *r = list_pop(&m->waiting);
    r->state = SR_RUNNING;
    m->active++;
    m->last_used_ns = mock_now_ns();
    size_t cached = 0;
    r->slot =
        mock_prompt_take(m->slots, sim_cache_slots(), &r->prompt, mock_opts.multiuser_cache, m->last_used_ns, &cached);
    /* c->sim stays: load_duration */
    mock_stream_start_cached(r->conn, r->kind, r->name, r->body, r->streaming, (unsigned)cached);
    r->conn->resp.start_ns = r->t_arrive; /* total_duration counts the wait, as Ollama's does */
    json_decref(r->body);
    r->body = NULL;
  }
}

/* Serve the pending queue in order, then the slots. */
static void sim_pump(void) {
  if (sim.stopping) return;
  sim_expire();
  while (sim.pending.head) {
    simreq_t *r = sim.pending.head;
    sim_model_t *m = &sim.models[r->model];
    if (sim_fits(m, r)) {
      sim_attach(list_pop(&sim.pending));
      continue;
    }
    if (m->loaded || m->loading) {
      sim.victim = m->loading ? -1 : (long)r->model; /* another variant: reload it once idle */
      if (sim.victim < 0) break;                     /* let the load finish first */
    } else if (mock_opts.max_loaded == 0 || sim_loaded_count() < mock_opts.max_loaded) {
      sim_load_start(r->model, r);
      sim_attach(list_pop(&sim.pending));
      continue;
    }
    if (sim.victim < 0 || !sim.models[sim.victim].loaded) sim.victim = sim_pick_victim();
    if (sim.victim >= 0 && sim.models[sim.victim].refs == 0) {
      sim_unload((size_t)sim.victim);
      continue;
    }
    break; /* wait for the victim's requests to finish */
  }
  for (size_t i = 0; i < sim.nmodels; i++) sim_grant(i);
}

#define BUSY_MSG "server busy, please try again.  maximum pending requests exceeded"

/* A generation request for a model of the catalogue (api.c checked it). */
void mock_sim_submit(mock_conn_t *c, mock_kind_t kind, const char *model, json_t *req, bool streaming) {
  sim_init(&c->worker->loop);
  const mock_model_t *mm = mock_model_find(model);
  size_t i = mock_model_index(mm);
  sim_expire();
  sim_model_t *m = &sim.models[i];
  simreq_t *r = calloc(1, sizeof *r);
  if (!r) abort();
  sim_variant(r, req);
  r->slot = -1;
  if (!sim_fits(m, r) && sim.pending.len >= mock_opts.max_queue) {
    free(r);
    sim.stats.busy++;
    mock_respond_error(c, 503, BUSY_MSG, kind == MOCK_OPENAI_CHAT);
    return;
  }
  r->conn = c;
  r->model = i;
  r->kind = kind;
  r->streaming = streaming;
  r->body = json_incref(req);
  r->name = strdup(model);
  r->t_arrive = mock_now_ns();
  mock_prompt_render(&r->prompt, kind == MOCK_GENERATE, req);
  mock_stream_clear(&c->resp);
  c->resp.active = true; /* the answer is coming: pipelined requests wait */
  c->sim = r;
  if (sim_fits(m, r)) sim_attach(r);
  else {
    r->state = SR_PENDING;
    list_push(&sim.pending, r);
  }
  sim_pump();
}

/* The request on c is over (completed, or its connection closed). */
void mock_sim_release(mock_conn_t *c, bool completed) {
  simreq_t *r = c->sim;
  if (!r) return;
  c->sim = NULL;
  sim_model_t *m = &sim.models[r->model];
  if (r->state == SR_PENDING) list_remove(&sim.pending, r);
  else {
    if (r->state == SR_WAITING) list_remove(&m->waiting, r);
    else {
      m->active--;
      if (completed && r->kind != MOCK_GENERATE) { /* the answer stays in the slot */
        mock_buf_t text = {0};
        mock_stream_text(c->resp.sent, &text);
        mock_prompt_reply(m->slots, r->slot, text.p ? text.p : "");
        mock_buf_free(&text);
      }
      mock_prompt_release(m->slots, r->slot, mock_now_ns());
    }
    m->refs--;
    m->last_used_ns = mock_now_ns();
  }
  if (completed) sim.stats.completed++;
  json_decref(r->body);
  mock_tokens_free(&r->prompt);
  free(r->name);
  free(r);
  sim_pump();
}

long long mock_sim_load_ns(const mock_conn_t *c) {
  const simreq_t *r = c->sim;
  return r && r->t_ready > r->t_arrive ? (long long)(r->t_ready - r->t_arrive) : 0;
}

/* /api/ps: the models loaded or loading; an idle one expires keep-alive
 * after its last use, a busy one keep-alive from now. */
json_t *mock_sim_ps(void) {
  json_t *list = json_array();
  if (sim.models) sim_expire();
  uint64_t mono = mock_now_ns(), wall = wall_now_ns(), keep = (uint64_t)mock_opts.keep_alive_ms * 1000000u;
  for (size_t i = 0; sim.models && i < sim.nmodels; i++) {
    sim_model_t *m = &sim.models[i];
    if (!m->loaded && !m->loading) continue;
    uint64_t idle = m->refs ? 0 : mono - m->last_used_ns;
    json_array_append_new(list, mock_catalog_ps_entry(mock_catalog_model(i), wall - idle + keep, m->num_ctx));
  }
  return json_pack("{s:o}", "models", list);
}

void mock_sim_count(const char *what) {
  if (!mock_opts.sim) return;
  if (strcmp(what, "busy") == 0) sim.stats.busy++;
  else if (strcmp(what, "not_found") == 0) sim.stats.not_found++;
}

/* GET /_mock/stats: what the simulator did since the start or the last reset. */
json_t *mock_sim_stats(void) {
  if (!mock_opts.sim) return json_pack("{s:b}", "sim", 0); /* several threads may ask: no shared state */
  uint64_t now = mock_now_ns();
  if (!sim.stats.since_ns) sim.stats.since_ns = now;
  uint64_t loading = sim.stats.loading_ns + (sim.nloading ? now - sim.stats.loading_since : 0);
  unsigned running = 0, waiting = 0;
  for (size_t i = 0; sim.models && i < sim.nmodels; i++) {
    running += sim.models[i].active;
    waiting += sim.models[i].waiting.len;
  }
  return json_pack("{s:b,s:i,s:i,s:i,s:i,s:i,s:f,s:f,s:f,s:i,s:i,s:i}", "sim", mock_opts.sim, "loads", sim.stats.loads,
                   "unloads", sim.stats.unloads, "completed", sim.stats.completed, "busy", sim.stats.busy, "not_found",
                   sim.stats.not_found, "load_ms", sim.stats.load_ns / 1e6, "loading_ms", loading / 1e6, "elapsed_ms",
                   (now - sim.stats.since_ns) / 1e6, "pending", sim.pending.len, "waiting", waiting, "running",
                   running);
}

void mock_sim_stats_reset(void) {
  if (!mock_opts.sim) return;
  sim.stats = (sim_stats_t){.since_ns = mock_now_ns(), .loading_since = mock_now_ns()};
}

/* The worker is stopping: no more scheduling; close the load timers. */
void mock_sim_stop(void) {
  sim.stopping = true;
  for (size_t i = 0; sim.models && i < sim.nmodels; i++) {
    uv_close((uv_handle_t *)&sim.models[i].timer, NULL);
    for (unsigned k = 0; k < sim_cache_slots(); k++) mock_tokens_free(&sim.models[i].slots[k].tokens);
    free(sim.models[i].slots);
    sim.models[i].slots = NULL;
  }
}
