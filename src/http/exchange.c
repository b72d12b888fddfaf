/* One exchange's life (see tollgate/exchange.h). */
#include "tollgate/exchange.h"

#include <stdlib.h>
#include <string.h>

#include "tollgate/body-temp.h"

tg_exchange *tg_exchange_new(tg_exchange_cache *cache, struct tg_client *conn, const struct tg_downstream *down,
                             struct tg_worker *w, const struct tg_site_conf *site, const char ip[48]) {
  tg_exchange *x = cache->free;
  if (x) {
    cache->free = x->next;
    cache->n--;
    tg_head req = x->req; /* its buffer serves this request */
    memset(x, 0, sizeof *x);
    x->req = req;
  } else if (!(x = calloc(1, sizeof *x))) {
    return NULL;
  }
  x->conn = conn;
  x->down = down;
  x->w = w;
  x->site = site;
  memcpy(x->ip, ip, sizeof x->ip);
  tg_llm_facts_init(&x->facts);
  return x;
}

void tg_exchange_end(tg_exchange_cache *cache, tg_exchange *x) {
  tg_buf_free(&x->adm.whole);
  tg_body_temp_release(x->adm.temp); /* closed and freed once its system call under way returns */
  free(x->adm.auth_headers);
  free(x->leg.aff);
  if (cache->n >= TG_EXCHANGE_CACHE_MAX) {
    tg_head_free(&x->req);
    free(x);
    return;
  }
  tg_head_reset(&x->req);
  x->next = cache->free;
  cache->free = x;
  cache->n++;
}

void tg_exchange_cache_free(tg_exchange_cache *cache) {
  while (cache->free) {
    tg_exchange *x = cache->free;
    cache->free = x->next;
    tg_head_free(&x->req);
    free(x);
  }
  cache->n = 0;
}
