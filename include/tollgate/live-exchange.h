/* An exchange in the live view (docs/observability.md, "The live view"):
 * listed from its admission to its end (tollgate/live-streams.h) and
 * counted in the live windows when it ends (tollgate/live-window.h). The
 * proxy's table calls these when an exchange is admitted and ends; the
 * token filter calls tg_live_exchange_data as the response's bytes pass
 * (src/relay/live-exchange.c). */
#ifndef TOLLGATE_LIVE_EXCHANGE_H
#define TOLLGATE_LIVE_EXCHANGE_H

#include "tollgate/live-streams.h"
#include "tollgate/proxy.h"

/* It is admitted: it is listed (client address, start, route, user,
 * model); admitted again (from the model queue), its facts are updated. */
void tg_live_exchange_admitted(tg_exchange *x);

/* Its first token came: the server is listed. */
void tg_live_exchange_first(tg_exchange *x);

/* Routes whose responses generate tokens, counted as they stream. */
#define TG_LIVE_GENERATES ((1u << TG_ROUTE_GENERATE) | (1u << TG_ROUTE_CHAT) | (1u << TG_ROUTE_OPENAI))

/* Response bytes were scanned (x->scan.resp, x->facts): its tokens so far,
 * the count the stream reports once it has, else its chunks (one a
 * token). Inline: it runs for every chunk. */
static inline void tg_live_exchange_data(tg_exchange *x) {
  if (!x->live || !((1u << x->route_kind) & TG_LIVE_GENERATES)) return;
  uint64_t total = x->facts.output_tokens >= 0 ? (uint64_t)x->facts.output_tokens : x->scan.resp.objects;
  if (tg_live_tokens(x->live, total, uv_now(&x->w->loop))) tg_live_exchange_first(x);
}

/* It ends: unlisted, and counted in the windows by its status and reason. */
void tg_live_exchange_end(tg_exchange *x);

#endif
