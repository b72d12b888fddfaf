/* One exchange's life (see tollgate/exchange.h). */
#include "tollgate/exchange.h"

#include <stdlib.h>
#include <string.h>

void tg_exchange_init(tg_exchange *x) { tg_llm_facts_init(&x->facts); }

void tg_exchange_reset(tg_exchange *x) {
  tg_head req = x->req; /* its buffer serves the next request */
  tg_head_reset(&req);
  tg_buf_free(&x->adm.whole);
  free(x->adm.auth_headers);
  memset(x, 0, sizeof *x);
  x->req = req;
  tg_exchange_init(x);
}

void tg_exchange_free(tg_exchange *x) {
  tg_head_free(&x->req);
  tg_buf_free(&x->adm.whole);
  free(x->adm.auth_headers);
}
