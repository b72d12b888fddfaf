/* What `balance model` learns from the answers that pass through
 * (src/upstream/model-stats.c, docs/upstreams.md#balance-model): per model
 * and server the time a load takes (Ollama's `load_duration`), per model
 * the time a request runs once its model is ready (`total_duration` less
 * `load_duration`), per server the same over every model; and how many
 * requests wait at the gateway, per model and per upstream. Process-wide
 * (every worker learns into the same figures), keyed by names so that the
 * figures outlive reloads. A figure not learned yet has a default. */
#ifndef TOLLGATE_MODEL_STATS_H
#define TOLLGATE_MODEL_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "tollgate/llm.h"
#include "tollgate/servers.h"

#define TG_MODEL_LOAD_DEFAULT_MS 5000u    /* a load before any was seen */
#define TG_MODEL_SERVICE_DEFAULT_MS 2000u /* a request before any answer was seen */
#define TG_MODEL_LOADED_NS 100000000ll    /* a load_duration past this means a load happened for it */

/* An answer of st for model ended: its load_duration and total_duration
 * in ns (-1: the answer carried none). A load (load_duration past
 * TG_MODEL_LOADED_NS) is also counted in st's metrics (tg_server_load_seen). */
void tg_model_learned(tg_server_state *st, const char *model, int64_t load_ns, int64_t total_ns);

/* A load of model on st: learned there, else the mean of its loads on the
 * upstream's other servers, else the default. */
uint64_t tg_model_load_ms(const tg_server_state *st, const char *model);
/* A request's run once its model is ready: for model (on any server of
 * st's upstream), or with model NULL for any model on st. */
uint64_t tg_model_service_ms(const tg_server_state *st, const char *model);

/* The requests held at the gateway, per model of an upstream and in all
 * of it. hold: one more for model, unless max are held in the upstream
 * already (-1); leave: one fewer. waiting: how many are held for model
 * (NULL: in all of the upstream). */
int tg_model_waiting_hold(const char *upstream, const char *model, unsigned max);
void tg_model_waiting_leave(const char *upstream, const char *model);
unsigned tg_model_waiting(const char *upstream, const char *model);
/* The models of upstream with requests held now (at most cap of them),
 * each with how many and how long since its queue was last empty. */
typedef struct tg_model_held {
  char model[TG_MODEL_MAX + 1];
  unsigned waiting;
  uint64_t waited_ms;
} tg_model_held;
size_t tg_model_waiting_list(const char *upstream, tg_model_held *rows, size_t cap);

/* A request for model of upstream was sent to a server now. Is model of
 * st's upstream cold: none held for it, and none sent for 8 of its runs?
 * (a model in use keeps its only server) */
void tg_model_sent(const char *upstream, const char *model);
int tg_model_cold(const tg_server_state *st, const char *model);

/* A request started a load of model on st now. Is that load fresh (begun
 * less than a load and a run ago)? A fresh load is never evicted. */
void tg_model_load_started(const tg_server_state *st, const char *model);
int tg_model_fresh(const tg_server_state *st, const char *model);

/* The runner options' variant (tollgate/llm.h: tg_llm_facts.variant, 0
 * for none set) this gateway last sent model to st with. Is model loaded
 * on st as that variant? 1 when st's loaded list has it and the variant
 * last sent there is this one (none sent yet: only 0 is, as a load by
 * someone else is taken for the defaults); 0 when not; -1 when st's loaded
 * list is not known. /api/ps names the model only: the variant is learned
 * from what passes through. */
void tg_model_variant_sent(const tg_server_state *st, const char *model, uint32_t variant);
int tg_model_loaded_as(const tg_server_state *st, const char *model, uint32_t variant);

#endif
