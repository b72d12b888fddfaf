/* An exchange's part in the live view (see tollgate/live-exchange.h). */
#include "tollgate/live-exchange.h"

#include <string.h>
#include <uv.h>

#include "tollgate/live-streams.h"
#include "tollgate/live-window.h"
#include "tollgate/proxy.h"
#include "tollgate/upstream-error.h"

void tg_live_exchange_admitted(tg_exchange *x) {
  if (!x->live) x->live = tg_live_begin(x->ip, x->rec.t_start_ns, x->route_kind, x->adm.user, x->facts.model);
  else tg_live_facts(x->live, x->route_kind, x->adm.user, x->facts.model, NULL); /* admitted again (model queue) */
}

void tg_live_exchange_first(tg_exchange *x) {
  if (x->leg.pool) tg_live_facts(x->live, x->route_kind, x->adm.user, x->facts.model, x->leg.pool->addr_text);
}

/* Why it failed, by its status, the limit that refused it, its upstream's error. */
static tg_lw_error reason(const tg_exchange *x, int status) {
  const char *by = x->rec.refused_by;
  if (by) {
    if (!strncmp(by, "quota", 5)) return TG_LW_QUOTA;
    if (strstr(by, "queue")) return TG_LW_QUEUE;
    if (!strncmp(by, "auth", 4) || !strncmp(by, "password", 8)) return TG_LW_AUTH;
    return TG_LW_RATE;
  }
  switch ((tg_up_error)x->leg.up_error) {
  case TG_UPERR_NONE: break;
  case TG_UPERR_REFUSED:
  case TG_UPERR_UNREACHABLE:
  case TG_UPERR_UNAVAILABLE:
  case TG_UPERR_LOCAL: return TG_LW_DOWN;
  case TG_UPERR_TIMEOUT:
  case TG_UPERR_HEADER_TIMEOUT:
  case TG_UPERR_IDLE_TIMEOUT: return TG_LW_TIMEOUT;
  default: return TG_LW_UPSTREAM;
  }
  if (status == 401 || status == 403) return TG_LW_AUTH;
  if (status == 429) return TG_LW_RATE;
  if (status == 504) return TG_LW_TIMEOUT;
  if (status >= 500) return TG_LW_UPSTREAM;
  return TG_LW_OK;
}

void tg_live_exchange_end(tg_exchange *x) {
  int status = x->status ? x->status : 499;
  double tps = -1;
  uint64_t now_ms = uv_now(&x->w->loop); /* the loop's time: an exchange's end reads no clock */
  if (x->live) {
    tg_live_exchange_data(x); /* the final count, when the last bytes brought it */
    uint64_t first_ns, tokens = tg_live_tokens_of(x->live, &first_ns), now_ns = now_ms * 1000000;
    if (!((1u << x->route_kind) & TG_LIVE_GENERATES)) tokens = 0;
    if (tokens && x->facts.eval_ns > 0) tps = (double)tokens * 1e9 / (double)x->facts.eval_ns;
    else if (tokens > 1 && first_ns && now_ns > first_ns)
      tps = (double)(tokens - 1) * 1e9 / (double)(now_ns - first_ns);
    tg_live_end(x->live, now_ms);
    x->live = NULL;
  }
  tg_lw_done(status, reason(x, status), x->facts.prompt_tokens, tps, tg_lw_sec_of_ms(now_ms));
}
