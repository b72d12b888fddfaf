/* The choice among an upstream's servers and their health counts
 * (tollgate/servers.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tg_test.h"
#include "tollgate/health.h"
#include "tollgate/metrics.h"
#include "tollgate/model-stats.h"
#include "tollgate/servers.h"

typedef struct cluster {
  tg_upstream_conf up;
  tg_server_conf s[4];
  tg_server_state st[4];
  tg_server_view v[4];
} cluster;

static void cluster_init(cluster *c, unsigned n) {
  memset(c, 0, sizeof *c);
  c->up.health = (tg_health_conf){.fails = 2, .passes = 3};
  for (unsigned i = 0; i < n; i++) {
    c->s[i] = (tg_server_conf){.slots = 1, .weight = 1};
    c->v[i] = (tg_server_view){.conf = &c->s[i], .st = &c->st[i]};
  }
}

static void test_least_conn_prefers_free_capacity(void) {
  cluster c;
  cluster_init(&c, 3);
  unsigned rr = 0;
  c.st[0].in_flight = 2;
  c.st[1].in_flight = 1;
  c.st[2].in_flight = 1;
  c.s[2].slots = 4; /* 1 of 4 slots is less loaded than 1 of 1 */
  TG_CHECK(tg_servers_choose(c.v, 3, TG_BALANCE_LEAST_CONN, 0, &rr) == 2);
  TG_CHECK(tg_servers_choose(c.v, 3, TG_BALANCE_LEAST_CONN, 1u << 2, &rr) == 1); /* tried: skipped */
  c.st[1].in_flight = c.st[2].in_flight = 0;
  c.s[2].slots = 1;
  c.st[0].in_flight = 0;
  int first = tg_servers_choose(c.v, 3, TG_BALANCE_MODEL, 0, &rr);
  int second = tg_servers_choose(c.v, 3, TG_BALANCE_MODEL, 0, &rr);
  TG_CHECK(first != second); /* ties taken in turn */
}

static void test_round_robin_weights(void) {
  cluster c;
  cluster_init(&c, 2);
  c.s[0].weight = 3;
  unsigned rr = 0, count[2] = {0};
  int seq[8];
  for (int i = 0; i < 8; i++) {
    seq[i] = tg_servers_choose(c.v, 2, TG_BALANCE_ROUND_ROBIN, 0, &rr);
    if (seq[i] >= 0) count[seq[i]]++;
  }
  TG_CHECK(count[0] == 6 && count[1] == 2);
  TG_CHECK(seq[0] == 0 && seq[1] == 0 && seq[2] == 1); /* smooth: a, a, b, a */
}

static void test_backup_drain_down(void) {
  cluster c;
  cluster_init(&c, 3);
  unsigned rr = 0;
  c.s[1].backup = 1;
  c.s[2].drain = 1;
  for (int i = 0; i < 4; i++) TG_CHECK(tg_servers_choose(c.v, 3, TG_BALANCE_ROUND_ROBIN, 0, &rr) == 0);
  TG_CHECK(tg_servers_choose(c.v, 3, TG_BALANCE_LEAST_CONN, 1, &rr) == 1); /* the primary tried: the backup */
  c.st[0].down = 1;
  TG_CHECK(tg_servers_choose(c.v, 3, TG_BALANCE_LEAST_CONN, 0, &rr) == 1);  /* the primary down: the backup */
  TG_CHECK(tg_servers_choose(c.v, 3, TG_BALANCE_LEAST_CONN, 2, &rr) == -1); /* never the draining one */
}

/* balance model's choice for a new request (not held yet). */
static int choose(cluster *c, const char *model, int may_swap) {
  static unsigned rr;
  tg_model_ask a = {.model = model, .may_swap = (uint8_t)may_swap};
  return tg_servers_choose_model(c->v, 3, &a, 0, &rr);
}

static void test_choose_model(void) {
  cluster c;
  cluster_init(&c, 3);
  for (int i = 0; i < 3; i++) c.s[i].slots = 2;
  tg_server_set_models(&c.st[0], strdup("a:latest\nb:latest\n"));
  tg_server_set_models(&c.st[1], strdup("a:latest\nb:latest\n"));
  tg_server_set_models(&c.st[2], strdup("c:latest\n"));
  tg_server_set_loaded(&c.st[0], strdup("b:latest\n"));
  tg_server_set_loaded(&c.st[1], strdup("a:latest\n"));
  tg_server_set_loaded(&c.st[2], strdup(""));
  c.st[1].in_flight = 1; /* busier, but a is loaded there with a slot free */
  for (int i = 0; i < 3; i++) TG_CHECK(choose(&c, "a:latest", 0) == 1);
  c.st[1].in_flight = 2; /* full: a waits for it rather than loading on the idle server */
  TG_CHECK(choose(&c, "a:latest", 1) == TG_MODEL_BUSY);
  tg_server_set_loaded(&c.st[1], strdup("")); /* a loaded nowhere: the idle server loads it */
  TG_CHECK(choose(&c, "a:latest", 0) == 0);
  c.st[0].in_flight = 1; /* busy with b, in use: no swap to a before the fairness bound, then one */
  tg_model_sent("", "b:latest");
  TG_CHECK(choose(&c, "a:latest", 0) == TG_MODEL_BUSY);
  TG_CHECK(choose(&c, "a:latest", 1) == 0);
  tg_server_set_loaded(&c.st[1], strdup("a:latest\n"));
  TG_CHECK(choose(&c, "b:latest", 0) == 0); /* b is loaded there */
  TG_CHECK(choose(&c, "c:latest", 0) == 2); /* only one has it */
  TG_CHECK(choose(&c, "zz:latest", 0) == TG_MODEL_NOT_FOUND);
  c.st[0].in_flight = 2;
  TG_CHECK(choose(&c, "a:latest", 1) == TG_MODEL_BUSY);
  c.s[2].backup = 1; /* a backup is not asked while a primary with the model is only busy */
  tg_server_set_models(&c.st[2], strdup("a:latest\n"));
  TG_CHECK(choose(&c, "a:latest", 0) == TG_MODEL_BUSY);
  c.st[0].down = c.st[1].down = 1; /* but when none can: the backup */
  TG_CHECK(choose(&c, "a:latest", 0) == 2);
  c.st[2].down = 1;
  TG_CHECK(choose(&c, "a:latest", 0) == TG_MODEL_NO_SERVER);
  c.st[0].down = c.st[1].down = c.st[2].down = 0;
  c.st[0].in_flight = c.st[1].in_flight = 0;
  tg_server_set_models(&c.st[0], NULL);        /* a catalogue not read yet: it may have the model */
  TG_CHECK(choose(&c, "zz:latest", 0) == 0);   /* idle, and zz is loaded nowhere: b, in use, gives way */
  tg_server_note_loaded(&c.st[1], "a:latest"); /* there already: kept as it is */
  TG_CHECK(strcmp(c.st[1].loaded, "a:latest\n") == 0);
  tg_server_note_loaded(&c.st[1], "b:latest"); /* a load: b is what it holds now */
  TG_CHECK(strcmp(c.st[1].loaded, "b:latest\n") == 0);
  for (int i = 0; i < 3; i++) tg_server_set_models(&c.st[i], NULL), tg_server_set_loaded(&c.st[i], NULL);
}

/* n servers of 2 slots in an upstream named up (their learned figures
 * apart from other tests'), each with the catalogue models. */
static void cluster_named(cluster *c, unsigned n, const char *up, const char *models) {
  cluster_init(c, n);
  for (unsigned i = 0; i < n; i++) {
    c->s[i].slots = 2;
    snprintf(c->st[i].key, sizeof c->st[i].key, "%s 10.0.0.%u:11434", up, i);
    snprintf(c->st[i].upstream, sizeof c->st[i].upstream, "%s", up);
    tg_server_set_models(&c->st[i], strdup(models));
  }
}

/* The expected wait: a model loaded on one busy server spreads to another
 * when the requests held for it would wait longer than a load there. */
static void test_choose_model_spreads(void) {
  cluster c;
  cluster_named(&c, 3, "spread", "h:latest\nq:latest\n");
  tg_server_set_loaded(&c.st[0], strdup("h:latest\n"));
  tg_server_set_loaded(&c.st[1], strdup("q:latest\n"));
  tg_server_set_loaded(&c.st[2], strdup("q:latest\n"));
  tg_model_learned(&c.st[0], "h:latest", 2000000000ll, 3000000000ll); /* load 2 s, run 1 s */
  tg_model_learned(&c.st[1], "h:latest", 2000000000ll, 3000000000ll);
  TG_CHECK(c.st[0].loads == 1 && c.st[0].load_ms == 2000); /* counted for the metrics */
  tg_model_learned(&c.st[2], "h:latest", 50000000ll, -1);  /* 50 ms: not a load */
  TG_CHECK(c.st[2].loads == 0 && c.st[2].load_ms == 0);
  TG_CHECK(tg_model_load_ms(&c.st[1], "h:latest") == 2000);
  TG_CHECK(tg_model_load_ms(&c.st[2], "h:latest") == 2000); /* the mean over the upstream's servers */
  TG_CHECK(tg_model_service_ms(&c.st[0], "h:latest") == 1000);
  c.st[0].in_flight = 2; /* h's server is full; server 2 idle */
  c.st[1].in_flight = 1;
  TG_CHECK(choose(&c, "h:latest", 0) == TG_MODEL_BUSY); /* one slot's wait (0.5 s) beats a load (2 s) */
  for (int i = 0; i < 4; i++) TG_CHECK(tg_model_waiting_hold("spread", "h:latest", 100) == 0);
  TG_CHECK(tg_model_waiting("spread", "h:latest") == 4 && tg_model_waiting("spread", NULL) == 4);
  tg_buf m = {0};
  TG_CHECK(tg_metrics_render(&m) == 0 && m.data); /* held per upstream and model */
  TG_CHECK(m.data && strstr(m.data, "\ntollgate_upstream_queue_depth{upstream=\"spread\",model=\"h:latest\"} 4\n"));
  tg_buf_free(&m);
  TG_CHECK(choose(&c, "h:latest", 0) == TG_MODEL_BUSY); /* 5 over 2 slots: 2.5 s, not twice a load */
  for (int i = 0; i < 4; i++) TG_CHECK(tg_model_waiting_hold("spread", "h:latest", 100) == 0);
  TG_CHECK(choose(&c, "h:latest", 0) == 2); /* 9 over 2 slots: 4.5 s > twice a load on the idle server */
  c.st[2].in_flight = 1;                    /* both busy with q, loaded on each, q sent just now: q is in use */
  tg_model_sent("spread", "q:latest");
  TG_CHECK(choose(&c, "h:latest", 0) == TG_MODEL_BUSY);
  for (int i = 0; i < 4; i++) TG_CHECK(tg_model_waiting_hold("spread", "h:latest", 100) == 0); /* 6.5 s */
  TG_CHECK(choose(&c, "h:latest", 1) == 1);    /* the fairness bound: the cheaper, 2 s + 1/2 of a 1 s run */
  tg_model_load_started(&c.st[1], "q:latest"); /* q still loading there: never evicted */
  TG_CHECK(choose(&c, "h:latest", 1) == 2);
  tg_model_load_started(&c.st[2], "q:latest");
  TG_CHECK(choose(&c, "h:latest", 1) == TG_MODEL_BUSY);
  TG_CHECK(tg_model_waiting_hold("spread", "q:latest", 12) == -1); /* the upstream's queue is full */
  for (int i = 0; i < 12; i++) tg_model_waiting_leave("spread", "h:latest");
  TG_CHECK(tg_model_waiting("spread", NULL) == 0);
  TG_CHECK(tg_model_waiting_hold("spread", "q:latest", 0) == -1); /* queue 0: none held */
  tg_server_forget_model(&c.st[0], "h:latest");                   /* a 404 there */
  TG_CHECK(strcmp(c.st[0].models, "q:latest\n") == 0 && strcmp(c.st[0].loaded, "") == 0 && c.st[0].refresh == 1);
  for (int i = 0; i < 3; i++) tg_server_set_models(&c.st[i], NULL), tg_server_set_loaded(&c.st[i], NULL);
}

/* A model loaded with other runner options is not loaded for the request:
 * the server where its variant went prefers it, the other variant loads
 * where a load is cheapest. */
static void test_choose_model_variant(void) {
  cluster c;
  cluster_named(&c, 2, "variant", "v:latest\n");
  for (int i = 0; i < 2; i++) tg_server_set_loaded(&c.st[i], strdup(""));
  unsigned rr = 0;
  tg_model_ask big = {.model = "v:latest", .variant = 77}, plain = {.model = "v:latest"};
  TG_CHECK(tg_model_loaded_as(&c.st[0], "v:latest", 0) == 0);
  tg_server_set_loaded(&c.st[0], strdup("v:latest\n")); /* loaded by someone else: taken for the defaults */
  TG_CHECK(tg_model_loaded_as(&c.st[0], "v:latest", 0) == 1 && tg_model_loaded_as(&c.st[0], "v:latest", 77) == 0);
  TG_CHECK(tg_servers_choose_model(c.v, 2, &plain, 0, &rr) == 0);
  rr = 0;
  TG_CHECK(tg_servers_choose_model(c.v, 2, &big, 0, &rr) == 1); /* a load either way; server 0 is the default's */
  tg_model_dispatched(&c.st[1], &big);
  TG_CHECK(tg_model_loaded_as(&c.st[1], "v:latest", 77) == 1 && tg_model_loaded_as(&c.st[1], "v:latest", 0) == 0);
  TG_CHECK(tg_model_fresh(&c.st[1], "v:latest")); /* its load started */
  for (int k = 0; k < 3; k++) {
    rr = k;
    TG_CHECK(tg_servers_choose_model(c.v, 2, &big, 0, &rr) == 1);
    TG_CHECK(tg_servers_choose_model(c.v, 2, &plain, 0, &rr) == 0);
  }
  for (int i = 0; i < 2; i++) tg_server_set_models(&c.st[i], NULL), tg_server_set_loaded(&c.st[i], NULL);
}

static void test_fails_and_passes(void) {
  cluster c;
  cluster_init(&c, 1);
  const tg_health_conf *h = &c.up.health; /* fails 2 passes 3 */
  tg_server_state *st = &c.st[0];
  TG_CHECK(tg_server_failed(st, h) == 0 && tg_server_up(st));
  TG_CHECK(tg_server_passed(st, h, 0) == 0 && st->fails == 0); /* an answer in between: the count starts again */
  TG_CHECK(tg_server_failed(st, h) == 0 && tg_server_up(st));
  TG_CHECK(tg_server_failed(st, h) == 1 && !tg_server_up(st));
  TG_CHECK(tg_server_passed(st, h, 0) == 0 && !tg_server_up(st)); /* answers do not bring it back */
  TG_CHECK(tg_server_passed(st, h, 1) == 0 && tg_server_passed(st, h, 1) == 0);
  TG_CHECK(tg_server_failed(st, h) == 0 && !tg_server_up(st)); /* a failure between checks: from the start */
  TG_CHECK(tg_server_passed(st, h, 1) == 0 && tg_server_passed(st, h, 1) == 0);
  TG_CHECK(tg_server_passed(st, h, 1) == 1 && tg_server_up(st));
}

static void test_state_shared_by_key(void) {
  tg_upstream_conf a = {.name = "ua"}, b = {.name = "ub"};
  tg_server_conf s = {.addr = {"127.0.0.1", 11434}};
  tg_server_state *x = tg_server_state_of(&a, &s), *y = tg_server_state_of(&a, &s), *z = tg_server_state_of(&b, &s);
  TG_CHECK(x && x == y && z && z != x);
  TG_CHECK_STR(x->addr_text, "127.0.0.1:11434");
  tg_server_claim(x);
  TG_CHECK(tg_server_in_flight(y) == 1);
  tg_server_unclaim(y);
  TG_CHECK(tg_server_in_flight(x) == 0);
}

/* An /api/tags or /api/ps answer read into a catalogue of normal forms;
 * entries without a name Ollama takes are left out; not a list: NULL. */
static void test_catalogue(void) {
  static const char tags[] =
      "{\"models\":[{\"name\":\"Llama3.2\",\"size\":1},{\"model\":\"bob/mistral:7b\"},"
      "{\"name\":\"registry.ollama.ai/library/qwen:latest\"},{\"name\":\"\"},{\"name\":7},\"x\"]}";
  char *list = tg_health_catalogue(tags, sizeof tags - 1);
  TG_CHECK_STR(list ? list : "(null)", "llama3.2:latest\nbob/mistral:7b\nqwen:latest\n");
  tg_server_state st = {0};
  pthread_mutex_init(&st.lock, NULL);
  TG_CHECK(tg_server_has_model(&st, "qwen:latest") == -1); /* not known yet */
  tg_server_set_models(&st, list);
  TG_CHECK(tg_server_has_model(&st, "qwen:latest") == 1);
  TG_CHECK(tg_server_has_model(&st, "qwen:7b") == 0);
  TG_CHECK(tg_server_has_model(&st, "mistral:7b") == 0);
  char *empty = tg_health_catalogue("{\"models\":[]}", 13);
  TG_CHECK_STR(empty ? empty : "(null)", "");
  tg_server_set_models(&st, empty);
  TG_CHECK(tg_server_has_model(&st, "qwen:latest") == 0);
  tg_server_set_models(&st, NULL);
  pthread_mutex_destroy(&st.lock);
  TG_CHECK(tg_health_catalogue("{\"models\":{}}", 13) == NULL);
  TG_CHECK(tg_health_catalogue("not json", 8) == NULL);
}

void tg_suite_servers(void) {
  TG_RUN(test_catalogue);
  TG_RUN(test_choose_model);
  TG_RUN(test_choose_model_spreads);
  TG_RUN(test_choose_model_variant);
  TG_RUN(test_least_conn_prefers_free_capacity);
  TG_RUN(test_round_robin_weights);
  TG_RUN(test_backup_drain_down);
  TG_RUN(test_fails_and_passes);
  TG_RUN(test_state_shared_by_key);
}
