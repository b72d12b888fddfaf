/* One exchange's life (see tollgate/exchange.h). */
#include "tollgate/exchange.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate/body-temp.h"
#include "tollgate/downstream.h"
#include "tollgate/proxy.h"

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

/* x's memory back: to the cache, or freed when it is full. */
static void exchange_recycle(tg_exchange_cache *cache, tg_exchange *x) {
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

void tg_exchange_end(tg_exchange_cache *cache, tg_exchange *x) {
  tg_buf_free(&x->adm.whole);
  tg_body_temp_release(x->adm.temp); /* closed and freed once its system call under way returns */
  x->adm.temp = NULL;
  free(x->adm.auth_headers);
  x->adm.auth_headers = NULL;
  free(x->leg.aff);
  x->leg.aff = NULL;
  if (x->hold.n) { /* async work comes back to it: freed by the last release */
    x->hold.ended = 1;
    x->conn = NULL;
    return;
  }
  exchange_recycle(cache, x);
}

int tg_exchange_live(const tg_exchange *x) { return !x->hold.ended && !x->down->gone(x); }

int tg_exchange_release(tg_exchange *x) {
  x->hold.n--;
  if (!x->hold.ended) return !x->down->gone(x);
  if (!x->hold.n) exchange_recycle(&x->w->xcache, x);
  return 0;
}

void tg_exchange_request_id(tg_exchange *x) {
  const tg_head *h = &x->req;
  int i = tg_head_find(h, "x-request-id");
  if (i >= 0 && h->fields[i].value.len >= 1 && h->fields[i].value.len < sizeof x->request_id) {
    const char *v = tg_head_str(h, h->fields[i].value);
    size_t n = h->fields[i].value.len, k = 0;
    while (k < n && (isalnum((unsigned char)v[k]) || strchr("._:-", v[k]))) k++;
    if (k == n) {
      memcpy(x->request_id, v, n);
      x->request_id[n] = 0;
      return;
    }
  }
  tg_request_id_new(x->w, x->request_id);
}

int tg_exchange_error_body(const tg_exchange *x, int status, const char *message, tg_buf *body) {
  int rc = 0;
  if (x->openai) {
    rc |= tg_buf_puts(body, "{\"error\":{\"message\":\"");
    rc |= tg_buf_json_str(body, message, strlen(message));
    rc |= tg_buf_printf(body, "\",\"type\":\"%s\",\"param\":null,\"code\":null}}",
                        status < 500 ? "invalid_request_error" : "api_error");
  } else {
    rc |= tg_buf_puts(body, "{\"error\":\"");
    rc |= tg_buf_json_str(body, message, strlen(message));
    rc |= tg_buf_puts(body, "\"}");
  }
  return rc ? -1 : 0;
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
