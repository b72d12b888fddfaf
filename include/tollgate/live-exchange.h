/* An exchange in the live view (docs/observability.md, "The live view"):
 * listed while it runs (tollgate/live-streams.h) and counted in the live
 * windows when it ends (tollgate/live-window.h). The proxy's table calls
 * these when an exchange begins, is admitted and ends; the token filter
 * calls tg_live_exchange_data as the response's bytes pass
 * (src/relay/live-exchange.c). */
#ifndef TOLLGATE_LIVE_EXCHANGE_H
#define TOLLGATE_LIVE_EXCHANGE_H

#include "tollgate/exchange.h"

/* Its head is in: it is listed (client address, start). */
void tg_live_exchange_begin(tg_exchange *x);

/* It is admitted: its route, user and model are listed. */
void tg_live_exchange_admitted(tg_exchange *x);

/* Response bytes were scanned (x->resp_scan, x->facts): its tokens so far. */
void tg_live_exchange_data(tg_exchange *x);

/* It ends: unlisted, and counted in the windows by its status and reason. */
void tg_live_exchange_end(tg_exchange *x);

#endif
