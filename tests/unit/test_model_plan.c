/* The batch planner's decisions (tollgate/model-plan.h): the cluster of
 * the benchmark (bench/cluster.sh), four servers with different
 * catalogues, 2 slots each, 2 s loads and 1 s runs. */
#include <string.h>

#include "tg_test.h"
#include "tollgate/model-plan.h"

enum { LLAMA, QWEN, MISTRAL, GEMMA, MODELS };
static const char *const names[MODELS] = {"llama3.1:8b", "qwen2.5:7b", "mistral:7b", "gemma2:9b"};

typedef struct bench {
  tg_plan_server s[4];
  tg_plan_model m[MODELS];
} bench;

/* Servers 0-3 serving the given models (-1: nothing), each for held_ms,
 * idle; nothing held for any model. */
static void bench_init(bench *b, int s0, int s1, int s2, int s3, uint64_t held_ms) {
  static const char *const cats[4] = {"llama3.1:8b\nqwen2.5:7b\nmistral:7b\n", "llama3.1:8b\nqwen2.5:7b\n",
                                      "llama3.1:8b\nmistral:7b\n", "qwen2.5:7b\ngemma2:9b\n"};
  int cur[4] = {s0, s1, s2, s3};
  memset(b, 0, sizeof *b);
  for (int i = 0; i < 4; i++)
    b->s[i] = (tg_plan_server){.catalogue = cats[i],
                               .current = cur[i] < 0 ? "" : names[cur[i]],
                               .slots = 2,
                               .held_ms = held_ms,
                               .load_ms = 2000,
                               .eligible = 1};
  for (int j = 0; j < MODELS; j++) b->m[j] = (tg_plan_model){.model = names[j], .run_ms = 1000};
}

static void held(bench *b, int model, unsigned waiting, uint64_t waited_ms) {
  b->m[model].waiting = waiting;
  b->m[model].waited_ms = waited_ms;
}

/* Requests held for every model: waiting[j] for model j, its queue
 * waited_ms[j]. */
static void held_all(bench *b, const unsigned waiting[MODELS], const uint64_t waited_ms[MODELS]) {
  for (int j = 0; j < MODELS; j++) held(b, j, waiting[j], waited_ms[j]);
}

/* The switch decided, as server * 10 + model, or -1 for none. */
static int decide(const bench *b, uint64_t fairness_ms) {
  unsigned si = 99, mj = 99;
  if (!tg_plan_decide(b->s, 4, b->m, MODELS, fairness_ms, &si, &mj)) return -1;
  return (int)(si * 10 + mj);
}

/* A server whose model has nothing held gives itself to a model whose
 * queue waits more than a load; not to one whose queue waits less. */
static void test_plan_idle_server_helps(void) {
  bench b;
  bench_init(&b, LLAMA, QWEN, MISTRAL, GEMMA, 20000);
  held(&b, LLAMA, 8, 3000); /* 8 runs over 2 + 2 slots: 2 s, a load */
  held(&b, MISTRAL, 1, 100);
  TG_CHECK(decide(&b, 5000) == 1 * 10 + LLAMA); /* server 1 (qwen, none held); server 2's mistral has a queue */
  held(&b, LLAMA, 7, 3000);                     /* 1.75 s: less than a load */
  TG_CHECK(decide(&b, 5000) == -1);
  held(&b, LLAMA, 8, 3000);
  b.s[0].held_ms = 2000; /* server 0 still loads llama: one more home at a time */
  TG_CHECK(decide(&b, 5000) == -1);
}

/* A second copy never takes the only home of a model with requests held,
 * however long the hot model waited. */
static void test_plan_one_home_kept(void) {
  bench b;
  bench_init(&b, LLAMA, QWEN, MISTRAL, GEMMA, 60000);
  held_all(&b, (const unsigned[]){8, 1, 1, 1}, (const uint64_t[]){60000, 10, 10, 10});
  TG_CHECK(decide(&b, 5000) == -1);
  held(&b, QWEN, 0, 0); /* nothing held for qwen: its server may help */
  TG_CHECK(decide(&b, 5000) == 1 * 10 + LLAMA);
}

/* A model with no home gets a server from a model with two, once its
 * queue waited a batch (here the 5 s fairness bound, shorter than 5
 * loads); of two such servers, the less busy. */
static void test_plan_homeless_after_batch(void) {
  bench b;
  bench_init(&b, LLAMA, QWEN, LLAMA, GEMMA, 6000);
  held_all(&b, (const unsigned[]){4, 1, 3, 1}, (const uint64_t[]){6000, 10, 1000, 10});
  TG_CHECK(decide(&b, 5000) == -1); /* waited less than a batch */
  held(&b, MISTRAL, 3, 5000);
  b.s[0].in_flight = 2, b.s[2].in_flight = 1;
  TG_CHECK(decide(&b, 5000) == 2 * 10 + MISTRAL);
  b.s[0].in_flight = 0;
  TG_CHECK(decide(&b, 5000) == 0 * 10 + MISTRAL);
}

/* A server that switched less than a load and a run ago is not switched
 * again, even idle. */
static void test_plan_fresh_kept(void) {
  bench b;
  bench_init(&b, LLAMA, QWEN, MISTRAL, GEMMA, 20000);
  b.s[1].held_ms = 2500;
  held(&b, LLAMA, 8, 3000);
  held(&b, MISTRAL, 1, 100);
  TG_CHECK(decide(&b, 5000) == -1);
  b.s[1].held_ms = 3000;
  TG_CHECK(decide(&b, 5000) == 1 * 10 + LLAMA);
}

/* Time-sharing a model's only home: a model none serves gets it when its
 * queue waited a batch and the server served one, or when it waited the
 * fairness bound, whatever the server served. */
static void test_plan_time_share_and_fairness(void) {
  bench b;
  bench_init(&b, LLAMA, LLAMA, MISTRAL, QWEN, 4000); /* gemma has no home; server 3 is qwen's only one */
  held(&b, QWEN, 4, 4000);
  held(&b, LLAMA, 2, 100);
  held(&b, MISTRAL, 2, 100);
  held(&b, GEMMA, 2, 10000);
  TG_CHECK(decide(&b, 30000) == -1); /* batch: 10 s waited, but server 3 served qwen 4 s only */
  b.s[3].held_ms = 10000;
  TG_CHECK(decide(&b, 30000) == 3 * 10 + GEMMA);
  b.s[3].held_ms = 4000;
  held(&b, GEMMA, 2, 30000); /* the bound */
  TG_CHECK(decide(&b, 30000) == 3 * 10 + GEMMA);
}

/* A server that serves nothing takes a model held at once; one with
 * nothing held for its model, a model with no home when idle or once that
 * model waited a batch; one down, draining or whose catalogue is unknown
 * never. */
static void test_plan_empty_and_ineligible(void) {
  bench b;
  bench_init(&b, LLAMA, QWEN, -1, GEMMA, 20000);
  b.s[2].held_ms = 0;
  held(&b, MISTRAL, 1, 0);
  TG_CHECK(decide(&b, 5000) == 2 * 10 + MISTRAL);
  b.s[2].eligible = 0;
  /* server 0 idle, nothing held for its llama: it must load somewhere */
  TG_CHECK(decide(&b, 5000) == 0 * 10 + MISTRAL);
  b.s[0].in_flight = 1;
  TG_CHECK(decide(&b, 5000) == -1); /* busy: one request is not worth a load yet */
  held(&b, MISTRAL, 1, 5000);
  TG_CHECK(decide(&b, 5000) == 0 * 10 + MISTRAL); /* it waited a batch */
  b.s[0].catalogue = NULL;
  TG_CHECK(decide(&b, 5000) == -1);
}

void tg_suite_model_plan(void) {
  TG_RUN(test_plan_idle_server_helps);
  TG_RUN(test_plan_one_home_kept);
  TG_RUN(test_plan_homeless_after_batch);
  TG_RUN(test_plan_fresh_kept);
  TG_RUN(test_plan_time_share_and_fairness);
  TG_RUN(test_plan_empty_and_ineligible);
}
