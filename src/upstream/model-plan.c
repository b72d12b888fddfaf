/* The batch planner of `balance model` (tollgate/model-plan.h,
 * docs/upstreams.md#the-batch-planner). With one model loaded per server
 * and more demand for a model than its servers can run, the per-request
 * choice alone leaves each model on one server (a second copy would take
 * the only server of another model in use). The planner time-shares
 * instead: it gives a server to the model whose requests wait at the
 * gateway, for a batch, and back when the other model's requests have
 * waited one. It decides per server, from the queue depths per model, the
 * servers' catalogues, slots and learned loads; the per-request path only
 * reads the decision (tg_model_plan_says).
 *
 * Targets live in one table keyed by server state, under one lock; an
 * upstream's tick runs at most every TG_PLAN_TICK_MS (the first request
 * or queue poll past that runs it). */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "tollgate/log.h"
#include "tollgate/model-plan.h"
#include "tollgate/model-stats.h"

#define PLANS 256    /* server states with a target (a power of two) */
#define UPSTREAMS 16 /* upstreams whose last tick is kept; more share the last slot */
#define MAX_SERVERS 64
#define MAX_HELD 32
#define LIST_MAX 2048

typedef struct plan {
  const tg_server_state *st;
  char model[TG_MODEL_MAX + 1]; /* "" none yet */
  uint64_t since_ns;            /* when it took model */
} plan;

static struct {
  pthread_mutex_t lock;
  plan v[PLANS];
  struct {
    char name[64];
    uint64_t last_ns;
  } ups[UPSTREAMS];
} P = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- the decision ---- */

static int listed(const char *list, const char *model) {
  size_t n = strlen(model);
  for (const char *p = list; p && *p;) {
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    if (len == n && !memcmp(p, model, n)) return 1;
    if (!nl) break;
    p = nl + 1;
  }
  return 0;
}

/* Slots of the eligible servers serving model. */
static unsigned homes(const tg_plan_server *s, unsigned ns, const char *model) {
  unsigned c = 0;
  for (unsigned i = 0; i < ns; i++)
    if (s[i].eligible && !strcmp(s[i].current, model)) c += s[i].slots;
  return c;
}

static unsigned waiting_for(const tg_plan_model *m, unsigned nm, const char *model) {
  for (unsigned j = 0; j < nm; j++)
    if (!strcmp(m[j].model, model)) return m[j].waiting;
  return 0;
}

/* Is a server still loading model m for its queue (it took m less than a
 * load and a run ago)? */
static int growing(const tg_plan_server *s, unsigned ns, const tg_plan_model *m) {
  for (unsigned i = 0; i < ns; i++)
    if (s[i].eligible && !strcmp(s[i].current, m->model) && s[i].held_ms < s[i].load_ms + m->run_ms) return 1;
  return 0;
}

/* How good a switch of server s to model want is: 0 not allowed, else a
 * class, higher first (4: s serves nothing; 3: none held for its model;
 * 2: its model keeps another home; 1: time-sharing its model's only home).
 * The rules are tollgate/model-plan.h's. */
static int switch_class(const tg_plan_server *all, unsigned ns, const tg_plan_server *s, const tg_plan_model *m,
                        unsigned nm, const tg_plan_model *want, uint64_t fairness_ms) {
  if (!*s->current) return 4;
  uint64_t batch = s->load_ms * TG_PLAN_BATCH_LOADS, fresh = s->load_ms + want->run_ms;
  if (batch > fairness_ms) batch = fairness_ms;
  if (s->held_ms < fresh && want->waited_ms < fairness_ms + fresh)
    return 0; /* fresh: its last load has not paid yet (past the bound, a load stuck at most) */
  unsigned cm = homes(all, ns, want->model), wl = waiting_for(m, nm, s->current);
  unsigned cl = homes(all, ns, s->current) - s->slots; /* its model's slots without it */
  if (cm > 0 && growing(all, ns, want)) return 0;      /* one more home at a time: the last is still loading */
  if (wl == 0) { /* worth a load: the queue outlasts one even with this server's slots; or it has no home and
                    waited a batch, or the server is idle (it must load somewhere) */
    uint64_t work = (uint64_t)want->waiting * want->run_ms;
    return work / (cm + s->slots) >= s->load_ms || (cm == 0 && (want->waited_ms >= batch || !s->in_flight)) ? 3 : 0;
  }
  if (cl > 0 && want->waited_ms >= batch) {
    if (cm == 0) return 2;
    uint64_t wait_m = (uint64_t)want->waiting * want->run_ms / cm, wait_l = (uint64_t)wl * want->run_ms / cl;
    if (s->held_ms >= batch && wait_m > wait_l + s->load_ms) return 2;
  }
  if (cm == 0 && ((want->waited_ms >= batch && s->held_ms >= batch) || want->waited_ms >= fairness_ms)) return 1;
  return 0; /* a second copy never takes the only home of a model with requests held */
}

int tg_plan_decide(const tg_plan_server *s, unsigned ns, const tg_plan_model *m, unsigned nm, uint64_t fairness_ms,
                   unsigned *server, unsigned *model) {
  int found = 0;
  int best_homeless = 0, best_class = 0;
  uint64_t best_waited = 0;
  unsigned best_wl = 0, best_busy = 0;
  for (unsigned j = 0; j < nm; j++) {
    if (!m[j].waiting) continue;
    int homeless = homes(s, ns, m[j].model) == 0;
    for (unsigned i = 0; i < ns; i++) {
      if (!s[i].eligible || !listed(s[i].catalogue, m[j].model) || !strcmp(s[i].current, m[j].model)) continue;
      int cls = switch_class(s, ns, &s[i], m, nm, &m[j], fairness_ms);
      if (!cls) continue;
      unsigned wl = *s[i].current ? waiting_for(m, nm, s[i].current) : 0;
      /* no home first, then the class, the longest wait, fewer held for its model, less busy */
      int better = !found || homeless != best_homeless ? !found || homeless > best_homeless
                   : cls != best_class                 ? cls > best_class
                   : m[j].waited_ms != best_waited     ? m[j].waited_ms > best_waited
                   : wl != best_wl                     ? wl < best_wl
                                                       : s[i].in_flight < best_busy;
      if (!better) continue;
      found = 1, *server = i, *model = j;
      best_homeless = homeless, best_class = cls, best_waited = m[j].waited_ms;
      best_wl = wl, best_busy = s[i].in_flight;
    }
  }
  return found;
}

/* ---- the table ---- */

/* The plan of st, made when make; NULL when absent (or the table is
 * full). Under the lock. */
static plan *plan_of(const tg_server_state *st, int make) {
  uintptr_t h = ((uintptr_t)st >> 4) * 0x9E3779B97F4A7C15ull;
  for (unsigned k = 0; k < PLANS; k++) {
    plan *p = &P.v[(h + k) & (PLANS - 1)];
    if (p->st == st) return p;
    if (!p->st) {
      if (!make) return NULL;
      p->st = st;
      return p;
    }
  }
  return NULL;
}

int tg_model_plan_says(const tg_server_state *st, const char *model) {
  if (!st) return -1;
  pthread_mutex_lock(&P.lock);
  const plan *p = plan_of(st, 0);
  int says = !p || !p->model[0] ? -1 : !strcmp(p->model, model);
  pthread_mutex_unlock(&P.lock);
  return says;
}

/* Is it the upstream's turn to tick (its last over TG_PLAN_TICK_MS ago)?
 * Under the lock. */
static int due(const char *upstream, uint64_t now) {
  unsigned k = 0;
  while (k < UPSTREAMS - 1 && P.ups[k].name[0] && strcmp(P.ups[k].name, upstream)) k++;
  if (strcmp(P.ups[k].name, upstream)) {
    strncpy(P.ups[k].name, upstream, sizeof P.ups[k].name - 1);
    P.ups[k].last_ns = 0;
  }
  if (P.ups[k].last_ns && now - P.ups[k].last_ns < TG_PLAN_TICK_MS * 1000000ull) return 0;
  P.ups[k].last_ns = now;
  return 1;
}

/* The one model of a loaded list, or "" (none). Returns 0, or -1 for
 * several: the server holds several models at once, which the planner
 * leaves to the per-request rules. */
static int only_model(char *list) {
  char *nl = strchr(list, '\n');
  int several = nl && nl[1];
  if (!nl || several) *list = 0;
  else *nl = 0;
  return several ? -1 : 0;
}

void tg_model_plan_tick(const tg_upstream_conf *up, const tg_server_view *v, unsigned n) {
  uint64_t now = uv_hrtime();
  pthread_mutex_lock(&P.lock);
  int go = due(up->name, now);
  pthread_mutex_unlock(&P.lock);
  if (!go) return;
  tg_model_held held[MAX_HELD];
  size_t nh = tg_model_waiting_list(up->name, held, MAX_HELD);
  if (!nh) return; /* nothing waits: nothing to plan */
  if (n > MAX_SERVERS) n = MAX_SERVERS;
  char(*lists)[2][LIST_MAX] = malloc(sizeof *lists * n);
  if (!lists) return;
  tg_plan_server s[MAX_SERVERS];
  tg_plan_model m[MAX_HELD];
  uint8_t several[MAX_SERVERS];
  for (unsigned i = 0; i < n; i++) {
    const tg_server_state *st = v[i].st;
    int known = st && tg_server_models_copy(st, lists[i][0], LIST_MAX) == 0;
    if (!st || tg_server_loaded_copy(st, lists[i][1], LIST_MAX) < 0) lists[i][1][0] = 0;
    several[i] = only_model(lists[i][1]) < 0;
    s[i] = (tg_plan_server){.catalogue = known ? lists[i][0] : NULL,
                            .slots = v[i].conf->slots,
                            .in_flight = st ? tg_server_in_flight(st) : 0,
                            /* only a server said to hold one model at a time (max_loaded 1): one with room
                             * for more loads a second model beside the first, which the per-request rules do */
                            .eligible = v[i].conf->max_loaded == 1 && !several[i] && known && !v[i].conf->drain &&
                                        !v[i].conf->backup && tg_server_up(st)};
  }
  pthread_mutex_lock(&P.lock);
  for (unsigned i = 0; i < n; i++) {
    plan *p = s[i].eligible ? plan_of(v[i].st, 1) : NULL;
    plan *gone = several[i] ? plan_of(v[i].st, 0) : NULL;
    if (gone) gone->model[0] = 0;              /* several models loaded there: back to the per-request rules */
    if (p && !p->model[0] && lists[i][1][0]) { /* adopt what it runs, as if long served */
      strncpy(p->model, lists[i][1], sizeof p->model - 1);
      p->since_ns = 1;
    }
    if (!p) s[i].eligible = 0;
    /* current points into lists: the table's copy may change once the lock is let go */
    if (p) strncpy(lists[i][1], p->model, LIST_MAX - 1);
    s[i].current = s[i].eligible ? lists[i][1] : "";
    s[i].held_ms = p && p->since_ns ? (now - p->since_ns) / 1000000 : 0;
  }
  pthread_mutex_unlock(&P.lock);
  for (unsigned i = 0; i < n; i++) s[i].load_ms = tg_model_load_ms(v[i].st, s[i].current);
  for (size_t j = 0; j < nh; j++)
    m[j] = (tg_plan_model){.model = held[j].model,
                           .waiting = held[j].waiting,
                           .waited_ms = held[j].waited_ms,
                           .run_ms = tg_model_service_ms(v[0].st, held[j].model)};
  unsigned si, mj;
  if (tg_plan_decide(s, n, m, (unsigned)nh, up->model.fairness_ms, &si, &mj)) {
    pthread_mutex_lock(&P.lock);
    plan *p = plan_of(v[si].st, 1);
    if (p) {
      strncpy(p->model, m[mj].model, sizeof p->model - 1);
      p->since_ns = now;
    }
    pthread_mutex_unlock(&P.lock);
    if (p)
      tg_log_info("upstream %s: server %s serves %s next (%u held for it, %llu ms; it served %s)", up->name,
                  v[si].st->addr_text, m[mj].model, m[mj].waiting, (unsigned long long)m[mj].waited_ms,
                  *s[si].current ? s[si].current : "nothing");
  }
  free(lists);
}
