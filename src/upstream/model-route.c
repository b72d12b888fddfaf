/* `balance model`: the choice of a server by the model a request names
 * (tollgate/servers.h, docs/upstreams.md#balance-model). A model's load
 * into GPU memory costs seconds: a server where it is loaded with a slot
 * free comes first, then one with a free slot that has it on disk. When
 * every server that has it is busy, the caller holds the request at the
 * gateway (policy/model-queue.c) rather than in one server's queue. */
#include "tollgate/servers.h"

enum { RANK_BUSY, RANK_UNKNOWN, RANK_ON_DISK, RANK_LOADED };

/* How good server i is for model: a RANK_*, or -1 when it lacks it. */
static int rank_of(const tg_server_view *s, const char *model) {
  int has = tg_server_has_model(s->st, model);
  if (has == 0) return -1;
  if (tg_server_in_flight(s->st) >= s->conf->slots) return RANK_BUSY;
  if (has < 0) return RANK_UNKNOWN; /* its catalogue not read yet: it may have it */
  return tg_server_has_loaded(s->st, model) == 1 ? RANK_LOADED : RANK_ON_DISK;
}

int tg_servers_choose_model(tg_server_view *v, unsigned n, const char *model, uint64_t tried, unsigned *rr) {
  int any = 0, busy = 0;
  for (int backup = 0; backup <= 1; backup++) {
    int best = -1, best_rank = -1;
    unsigned start = n ? *rr % n : 0;
    for (unsigned k = 0; k < n; k++) {
      unsigned i = (start + k) % n;
      if (!tg_server_eligible(v, i, tried, backup)) continue;
      any = 1;
      int r = rank_of(&v[i], model);
      if (r == RANK_BUSY) busy = 1;
      if (r <= RANK_BUSY) continue;
      if (r > best_rank || (r == best_rank && tg_server_less_loaded(&v[i], &v[best]))) best = (int)i, best_rank = r;
    }
    if (best >= 0) {
      *rr = (unsigned)best + 1;
      return best;
    }
    if (busy) return TG_MODEL_BUSY; /* a server that has it frees a slot before a backup steps in */
  }
  return any ? TG_MODEL_NOT_FOUND : TG_MODEL_NO_SERVER;
}
