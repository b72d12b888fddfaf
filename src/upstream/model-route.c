/* `balance model`: the choice of a server by the model a request names
 * (tollgate/servers.h, docs/upstreams.md#balance-model). A model's load
 * into GPU memory costs seconds, and a load on a server busy with another
 * model waits for that model's requests and then evicts it. So:
 *   - a server where the model is loaded with a free slot takes it;
 *   - else each other candidate is weighed by the wait it would give:
 *     a server where the model is not loaded, its load (learned per model
 *     and server, tollgate/model-stats.h) plus, when it is busy, the end
 *     of the requests it runs; against the wait for a slot where the model
 *     is loaded (the requests held for the model, each a run learned per
 *     model, over those servers' slots; none: no end). The request goes
 *     to the cheapest when twice its cost is less than that wait (a load
 *     takes the server from the model it held), else it waits (the caller
 *     holds it: policy/model-queue.c).
 * A server may give its memory to another model only with a free slot,
 * and never while the model it holds is still loading for a request
 * (fresh); then when every other model there is cold (none held for it,
 * none sent for a while), or loaded on another candidate while the
 * server is idle, or the server is idle and the request's model is loaded
 * nowhere, or the request has waited its fairness bound (may_swap): a
 * model in use keeps its only server against a second copy of another.
 * "Loaded" is per variant (the request's runner options, num_ctx and the
 * like): the same model loaded with other options is a load like any
 * other, which evicts that variant under the same rules as another model
 * (and, of two equal loads, goes where it evicts none of the model).
 * A server the batch planner gave a model (tollgate/model-plan.h) is
 * weighed by the plan instead: it takes requests for that model only, and
 * loads it for the first with a free slot. */
#include <string.h>

#include "tollgate/affinity.h"
#include "tollgate/model-plan.h"
#include "tollgate/model-stats.h"
#include "tollgate/servers.h"

#define NO_END UINT64_MAX

/* Is model (a line of a loaded list) loaded on a candidate other than i? */
static int loaded_elsewhere(const tg_server_view *v, unsigned n, unsigned i, const char *model) {
  for (unsigned j = 0; j < n; j++)
    if (j != i && !v[j].conf->drain && tg_server_up(v[j].st) && tg_server_has_loaded(v[j].st, model) == 1) return 1;
  return 0;
}

/* May server i give its memory to model? No other model loaded there may
 * be loading (fresh); each must be cold (tg_model_cold), or loaded on
 * another candidate while i is idle, unless the request waited its
 * fairness bound (may_swap), or i is idle and model is loaded on no
 * candidate (nowhere: it must load somewhere). */
static int may_evict(const tg_server_view *v, unsigned n, unsigned i, int may_swap, int nowhere) {
  char list[1024];
  if (tg_server_loaded_copy(v[i].st, list, sizeof list) < 0) return 0; /* too many to weigh */
  int idle = tg_server_in_flight(v[i].st) == 0;
  for (char *p = list, *end; (end = strchr(p, '\n')); p = end + 1) {
    *end = 0;
    if (tg_model_fresh(v[i].st, p)) return 0; /* p may be the model itself, as another variant */
    if (may_swap || (idle && nowhere) || tg_model_cold(v[i].st, p)) continue;
    if (!idle || !loaded_elsewhere(v, n, i, p)) return 0;
  }
  return 1;
}

/* The wait a load of model on server i would give: its load, after the
 * requests it runs now. NO_END when it may not load it now (no free
 * slot, or not allowed to evict). */
static uint64_t load_cost(const tg_server_view *v, unsigned n, unsigned i, const char *model, int may_swap,
                          int nowhere) {
  unsigned busy = tg_server_in_flight(v[i].st);
  if (busy >= v[i].conf->slots || !may_evict(v, n, i, may_swap, nowhere)) return NO_END;
  /* another variant of the model there: 1 ms more, so that of two equal loads it goes elsewhere */
  uint64_t load = tg_model_load_ms(v[i].st, model) + (tg_server_has_loaded(v[i].st, model) == 1);
  return busy ? load + tg_model_service_ms(v[i].st, NULL) * busy / (busy + 1) : load; /* the last of busy ends */
}

/* One tier (primaries, or backups) of the choice. Returns the index, or
 * TG_MODEL_BUSY when a candidate has the model, or TG_MODEL_NOT_FOUND.
 * *any: some candidate was seen. */
static int choose_tier(tg_server_view *v, unsigned n, const tg_model_ask *a, uint64_t tried, int backup, unsigned *rr,
                       int *any) {
  int free_i = -1, load_i = -1, plan_i = -1, has = 0, nowhere = 1;
  uint64_t load_best = NO_END, slots_loaded = 0;
  unsigned start = n ? *rr % n : 0;
  for (unsigned i = 0; i < n && nowhere; i++)
    nowhere = !tg_server_eligible(v, i, tried, backup) || tg_model_loaded_as(v[i].st, a->model, a->variant) != 1;
  for (unsigned k = 0; k < n; k++) {
    unsigned i = (start + k) % n;
    if (!tg_server_eligible(v, i, tried, backup)) continue;
    *any = 1;
    if (tg_server_has_model(v[i].st, a->model) == 0) continue; /* unknown (-1): it may have it */
    has = 1;
    int says = tg_model_plan_says(v[i].st, a->model);
    if (says == 0) continue; /* the planner gave it another model: it finishes this one's requests */
    if (tg_model_loaded_as(v[i].st, a->model, a->variant) == 1) {
      if (tg_server_in_flight(v[i].st) < v[i].conf->slots) {
        if (free_i < 0 || tg_server_less_loaded(&v[i], &v[free_i])) free_i = (int)i;
      } else {
        slots_loaded += v[i].conf->slots;
      }
      continue;
    }
    if (says == 1) { /* the planner gave it the model: it loads it as soon as a slot is free */
      if (tg_server_in_flight(v[i].st) < v[i].conf->slots && (plan_i < 0 || tg_server_less_loaded(&v[i], &v[plan_i])))
        plan_i = (int)i;
      continue;
    }
    uint64_t cost = load_cost(v, n, i, a->model, a->may_swap, nowhere);
    if (cost < load_best || (cost == load_best && cost != NO_END && tg_server_less_loaded(&v[i], &v[load_i])))
      load_i = (int)i, load_best = cost;
  }
  if (free_i < 0) free_i = plan_i;
  if (free_i >= 0) {
    free_i = tg_affinity_steer(a->aff, v, n, free_i, a->model, a->variant, tried, backup); /* its prompt's cache */
    *rr = (unsigned)free_i + 1;
    return free_i;
  }
  uint64_t wait = NO_END;
  if (slots_loaded && load_i >= 0) {
    uint64_t held = (uint64_t)tg_model_waiting(v[load_i].st ? v[load_i].st->upstream : "", a->model) + !a->held;
    wait = tg_model_service_ms(v[load_i].st, a->model) * held / slots_loaded;
  }
  if (load_i >= 0 && (wait == NO_END || load_best * 2 < wait)) { /* twice: a load takes a server from others */
    *rr = (unsigned)load_i + 1;
    return load_i;
  }
  return has ? TG_MODEL_BUSY : TG_MODEL_NOT_FOUND;
}

int tg_servers_choose_model(tg_server_view *v, unsigned n, const tg_model_ask *a, uint64_t tried, unsigned *rr) {
  int any = 0;
  for (int backup = 0; backup <= 1; backup++) {
    int i = choose_tier(v, n, a, tried, backup, rr, &any);
    if (i != TG_MODEL_NOT_FOUND) return i; /* a server that has it frees a slot before a backup steps in */
  }
  return any ? TG_MODEL_NOT_FOUND : TG_MODEL_NO_SERVER;
}

void tg_model_dispatched(tg_server_state *st, const tg_model_ask *a) {
  if (tg_model_loaded_as(st, a->model, a->variant) != 1) tg_model_load_started(st, a->model);
  tg_server_note_loaded(st, a->model);
  tg_model_variant_sent(st, a->model, a->variant);
}
