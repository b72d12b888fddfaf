/* tg_exchange's life: a fresh exchange per request, its back pointer, the
 * worker's cache of ended ones (reused zeroed, with their head's buffer;
 * bounded; freed at the end), and the holds of async work (an exchange
 * that ends while held is freed by the last release). Under ASan, a leak or a use after free here
 * fails the run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tg_test.h"
#include "tollgate/downstream.h"
#include "tollgate/exchange.h"
#include "tollgate/proxy.h"

static struct tg_client *conn_a = (struct tg_client *)0x1000, *conn_b = (struct tg_client *)0x2000;
static struct tg_worker *worker = (struct tg_worker *)0x3000;
static const struct tg_downstream *down = (const struct tg_downstream *)0x5000;
static const struct tg_site_conf *site_a = (const struct tg_site_conf *)0x4000;
static const char ip_a[48] = "192.0.2.1", ip_b[48] = "2001:db8::2";

static void test_exchange_new_is_fresh(void) {
  tg_exchange_cache cache = {0};
  tg_exchange *x = tg_exchange_new(&cache, conn_a, down, worker, site_a, ip_a);
  TG_CHECK(x);
  TG_CHECK(x->conn == conn_a);
  TG_CHECK(x->down == down && x->w == worker && x->site == site_a &&
           strcmp(x->ip, "192.0.2.1") == 0); /* the connection's facts */
  TG_CHECK(x->status == 0 && !x->req_done && !x->leg.up && !x->adm.user);
  TG_CHECK(x->facts.prompt_tokens == -1 && x->facts.output_tokens == -1); /* tg_llm_facts_init ran */
  tg_exchange_end(&cache, x);
  TG_CHECK(cache.n == 1 && cache.free == x);
  tg_exchange_cache_free(&cache);
  TG_CHECK(cache.n == 0 && !cache.free);
}

static void test_exchange_reused_zeroed_with_its_head_buffer(void) {
  tg_exchange_cache cache = {0};
  tg_exchange *x = tg_exchange_new(&cache, conn_a, down, worker, site_a, ip_a);
  TG_CHECK(x);
  TG_CHECK(tg_head_add_target(&x->req, "/api/chat", 9, 8192) == 0);
  TG_CHECK(tg_head_add_name(&x->req, "Host", 4, 8192) == 0);
  TG_CHECK(tg_head_add_value(&x->req, "a", 1, 8192) == 0);
  const char *buf = x->req.buf.data;
  TG_CHECK(buf);
  x->status = 502;
  x->req_done = x->resp_done = 1;
  x->adm.auth_headers = strdup("X-User: a\r\n"); /* owned: freed when it ends */
  TG_CHECK(tg_buf_append(&x->adm.whole, "{}", 2) == 0);
  snprintf(x->request_id, sizeof x->request_id, "abc");
  tg_exchange_end(&cache, x);
  snprintf(x->ip, sizeof x->ip, "198.51.100.7"); /* from X-Forwarded-For: this exchange's only */
  tg_exchange *y = tg_exchange_new(&cache, conn_b, down, worker, site_a, ip_b);
  TG_CHECK(y == x); /* from the cache */
  TG_CHECK(cache.n == 0);
  TG_CHECK(y->conn == conn_b);
  TG_CHECK(strcmp(y->ip, "2001:db8::2") == 0);
  TG_CHECK(y->status == 0 && !y->req_done && !y->resp_done && !y->adm.auth_headers && !y->adm.whole.data);
  TG_CHECK(y->request_id[0] == 0);
  TG_CHECK(y->req.buf.data == buf && y->req.buf.len == 0 && y->req.nfields == 0 && y->req.target.len == 0);
  TG_CHECK(tg_head_add_target(&y->req, "/api/tags", 9, 8192) == 0);
  TG_CHECK(y->req.target.len == 9 && memcmp(tg_head_str(&y->req, y->req.target), "/api/tags", 9) == 0);
  tg_exchange_end(&cache, y);
  tg_exchange_cache_free(&cache);
}

static void test_exchange_cache_is_bounded(void) {
  tg_exchange_cache cache = {0};
  enum { N = TG_EXCHANGE_CACHE_MAX + 3 };
  tg_exchange *xs[N];
  for (int i = 0; i < N; i++) {
    xs[i] = tg_exchange_new(&cache, conn_a, down, worker, site_a, ip_a);
    TG_CHECK(xs[i]);
    TG_CHECK(tg_head_add_target(&xs[i]->req, "/", 1, 8192) == 0);
  }
  TG_CHECK(cache.n == 0);
  for (int i = 0; i < N; i++) tg_exchange_end(&cache, xs[i]);
  TG_CHECK(cache.n == TG_EXCHANGE_CACHE_MAX); /* the rest freed */
  unsigned k = 0;
  for (tg_exchange *x = cache.free; x; x = x->next) k++;
  TG_CHECK(k == TG_EXCHANGE_CACHE_MAX);
  tg_exchange_cache_free(&cache);
  TG_CHECK(cache.n == 0 && !cache.free);
}

/* A downstream whose client leaves when the test says so. */
static int client_left;
static int fake_gone(const tg_exchange *x) {
  (void)x;
  return client_left;
}
static const tg_downstream fake_down = {.gone = fake_gone};

static void test_exchange_hold_outlives_its_end(void) {
  tg_worker *w = calloc(1, sizeof *w); /* only its cache is used */
  TG_CHECK(w);
  client_left = 0;
  tg_exchange *x = tg_exchange_new(&w->xcache, conn_a, &fake_down, w, site_a, ip_a);
  TG_CHECK(x);
  TG_CHECK(tg_head_add_target(&x->req, "/api/chat", 9, 8192) == 0);
  tg_exchange_hold(x); /* a password check on the thread pool */
  tg_exchange_hold(x); /* and a timer */
  TG_CHECK(tg_exchange_live(x));
  TG_CHECK(tg_exchange_release(x) == 1); /* the check is back: x goes on */
  x->adm.auth_headers = strdup("X-User: a\r\n");
  client_left = 1; /* the client goes away while the timer runs */
  TG_CHECK(!tg_exchange_live(x));
  tg_exchange_end(&w->xcache, x);
  TG_CHECK(w->xcache.n == 0);          /* held: not in the cache, not reused */
  TG_CHECK(x->hold.ended && !x->conn); /* its connection is no longer reachable from it */
  TG_CHECK(!x->adm.auth_headers);      /* what it owns is freed at its end all the same */
  TG_CHECK(!tg_exchange_live(x));
  tg_exchange *y = tg_exchange_new(&w->xcache, conn_b, &fake_down, w, site_a, ip_b);
  TG_CHECK(y && y != x);                 /* the next request gets another */
  TG_CHECK(tg_exchange_release(x) == 0); /* the timer's close: the last hold frees x */
  TG_CHECK(w->xcache.n == 1 && w->xcache.free == x);
  tg_exchange_end(&w->xcache, y);
  TG_CHECK(w->xcache.n == 2);
  tg_exchange_cache_free(&w->xcache);
  free(w);
}

static void test_exchange_release_reports_a_gone_client(void) {
  tg_worker *w = calloc(1, sizeof *w);
  TG_CHECK(w);
  client_left = 0;
  tg_exchange *x = tg_exchange_new(&w->xcache, conn_a, &fake_down, w, site_a, ip_a);
  TG_CHECK(x);
  tg_exchange_hold(x);
  client_left = 1; /* closing, not yet ended: the work's outcome is not applied */
  TG_CHECK(tg_exchange_release(x) == 0);
  TG_CHECK(x->hold.n == 0 && !x->hold.ended && w->xcache.n == 0);
  tg_exchange_end(&w->xcache, x); /* not held: straight to the cache */
  TG_CHECK(w->xcache.n == 1);
  tg_exchange_cache_free(&w->xcache);
  free(w);
}

void tg_suite_exchange(void) {
  TG_RUN(test_exchange_hold_outlives_its_end);
  TG_RUN(test_exchange_release_reports_a_gone_client);
  TG_RUN(test_exchange_new_is_fresh);
  TG_RUN(test_exchange_reused_zeroed_with_its_head_buffer);
  TG_RUN(test_exchange_cache_is_bounded);
}
