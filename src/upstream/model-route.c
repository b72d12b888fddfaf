/* `balance model`: the choice of a server by the model a request names
 * (tollgate/servers.h, docs/upstreams.md#balance-model). A model's load
 * into GPU memory costs seconds, and a load on a server busy with another
 * model waits for that model's requests and then evicts it. So while the
 * model is loaded on some server that may take it, the request goes there
 * (a free slot) or waits for a slot there; only a model loaded nowhere is
 * loaded: at once on an idle server that has it (nothing in flight), on a
 * busy one only for a request that has waited its fairness bound
 * (may_swap). The caller holds a request that must wait at the gateway
 * (policy/model-queue.c). */
#include "tollgate/servers.h"

enum { RANK_BUSY, RANK_SWAP, RANK_IDLE, RANK_LOADED };

/* How good server s is for model: a RANK_*, or -1 when it lacks it.
 * *loaded: it is loaded there. */
static int rank_of(const tg_server_view *s, const char *model, int *loaded) {
  *loaded = 0;
  if (tg_server_has_model(s->st, model) == 0) return -1; /* unknown (-1): it may have it */
  *loaded = tg_server_has_loaded(s->st, model) == 1;
  unsigned busy = tg_server_in_flight(s->st);
  if (busy >= s->conf->slots) return RANK_BUSY;
  if (*loaded) return RANK_LOADED;
  return busy ? RANK_SWAP : RANK_IDLE;
}

int tg_servers_choose_model(tg_server_view *v, unsigned n, const char *model, uint64_t tried, int may_swap,
                            unsigned *rr) {
  int any = 0, has = 0;
  for (int backup = 0; backup <= 1; backup++) {
    int best = -1, best_rank = -1, loaded_somewhere = 0;
    unsigned start = n ? *rr % n : 0;
    for (unsigned k = 0; k < n; k++) {
      unsigned i = (start + k) % n;
      if (!tg_server_eligible(v, i, tried, backup)) continue;
      any = 1;
      int loaded, r = rank_of(&v[i], model, &loaded);
      if (r >= RANK_BUSY) has = 1;
      loaded_somewhere |= loaded;
      if (r <= RANK_BUSY || (r == RANK_SWAP && !may_swap)) continue;
      if (r > best_rank || (r == best_rank && tg_server_less_loaded(&v[i], &v[best]))) best = (int)i, best_rank = r;
    }
    if (best >= 0 && (best_rank == RANK_LOADED || !loaded_somewhere)) { /* loaded and busy: wait for it */
      *rr = (unsigned)best + 1;
      return best;
    }
    if (has) return TG_MODEL_BUSY; /* a server that has it frees a slot before a backup steps in */
  }
  return any ? TG_MODEL_NOT_FOUND : TG_MODEL_NO_SERVER;
}
