/* Conversation affinity's estimate and its use in the choice
 * (tollgate/affinity.h, docs/upstreams.md#conversation-affinity). The
 * table is the base's sharded table (tollgate/shard-table.h): an entry per
 * (server, block chain prefix), keyed by their hash, the least recently
 * touched evicted first. Beside it, per server state (by the server's
 * state index): how many new prompts were sent there (a prompt that
 * continues no chain takes a slot and evicts another's cache), the age
 * below which its entries are forgotten, and the prompt evaluation rate
 * its answers showed. */
#include "tollgate/affinity.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate/hash.h"
#include "tollgate/model-stats.h"
#include "tollgate/shard-table.h"

#define KEY_LEN 16
#define MIN_RATE_TOKENS 16 /* fewer tokens evaluated say little of the rate */

typedef struct aff_entry {
  uint64_t seq;   /* the server's count of new prompts when it was last sent */
  uint64_t stamp; /* the shard's clock then, for eviction */
  uint32_t tokens;
  uint8_t leaf; /* the last block of the prompt sent: a follow-up that matches it continues that slot */
} aff_entry;

typedef struct aff_server {
  uint64_t fresh;            /* new prompts sent (atomic) */
  uint64_t floor;            /* entries older than this are forgotten (atomic) */
  uint32_t us_per_token;     /* prompt evaluation, learned; 0: not yet (atomic) */
  tg_affinity_counts counts; /* (atomic) */
} aff_server;

static aff_server SV[TG_SERVER_STATES];
static tg_shard_table *T;
static pthread_mutex_t T_lock = PTHREAD_MUTEX_INITIALIZER;

static int entry_before(const void *a, const void *b) {
  return ((const aff_entry *)a)->stamp < ((const aff_entry *)b)->stamp;
}

static tg_shard_table *table(size_t entries) {
  tg_shard_table *t = __atomic_load_n(&T, __ATOMIC_ACQUIRE);
  if (t || !entries) return t;
  pthread_mutex_lock(&T_lock);
  if (!T) {
    static const tg_shard_evict rule = {NULL, entry_before};
    __atomic_store_n(&T, tg_shard_table_new(entries, KEY_LEN, sizeof(aff_entry), &rule), __ATOMIC_RELEASE);
  }
  t = T;
  pthread_mutex_unlock(&T_lock);
  return t;
}

tg_affinity_req *tg_affinity_req_new(size_t entries, uint64_t slack_ms, const char *model, const char *body,
                                     size_t len) {
  if (!entries || !table(entries)) return NULL;
  tg_affinity_req *r = malloc(sizeof *r);
  if (!r) return NULL;
  if (tg_affinity_chain_of(&r->chain, model, body, len) < 2) {
    free(r);
    return NULL;
  }
  r->slack_ms = slack_ms;
  r->server = -1;
  r->matched = r->matched_tok = 0;
  r->matched_seq = 0;
  return r;
}

static void key_of(char key[KEY_LEN + 1], uint64_t h, unsigned server) {
  snprintf(key, KEY_LEN + 1, "%016" PRIx64, tg_fnv1a64_add(h, &server, sizeof server));
}

static int alive(const aff_entry *e, unsigned server, unsigned slots) {
  const aff_server *s = &SV[server];
  uint64_t fresh = __atomic_load_n(&s->fresh, __ATOMIC_RELAXED);
  return e->seq >= __atomic_load_n(&s->floor, __ATOMIC_RELAXED) && fresh - e->seq < (slots ? slots : 1);
}

/* The blocks of r's chain the server probably holds (block 0, the model
 * alone, does not count): 0 or 2 and up; the entry's age and leaf. */
static unsigned match(const tg_affinity_req *r, const tg_server_state *st, uint64_t *seq, int *leaf) {
  if (!st || !T) return 0;
  unsigned server = tg_server_state_index(st), slots = __atomic_load_n(&st->slots, __ATOMIC_RELAXED);
  char key[KEY_LEN + 1];
  for (unsigned k = r->chain.n; k-- > 1;) {
    uint64_t h;
    key_of(key, r->chain.hash[k], server);
    tg_shard *sh = tg_shard_table_lock(T, key, &h);
    int fresh;
    const aff_entry *e = tg_shard_find(T, sh, h, key, 0, &fresh);
    int found = e && alive(e, server, slots);
    if (found) *seq = e->seq, *leaf = e->leaf;
    tg_shard_unlock(sh);
    if (found) return k + 1;
  }
  return 0;
}

static uint32_t tokens_of(const tg_affinity_req *r, unsigned blocks) {
  return blocks ? r->chain.tokens[blocks - 1] : 0;
}

static uint32_t rate_of(const tg_server_state *st) {
  return st ? __atomic_load_n(&SV[tg_server_state_index(st)].us_per_token, __ATOMIC_RELAXED) : 0;
}

/* How long a request sent to v now would wait for a slot: 0 with one
 * free, else until one of the requests it runs ends. */
static uint64_t wait_ms(const tg_server_view *v, const char *model) {
  unsigned busy = tg_server_in_flight(v->st), slots = v->conf->slots ? v->conf->slots : 1;
  if (busy < slots) return 0;
  return tg_model_service_ms(v->st, model) * (busy - slots + 1) / slots;
}

int tg_affinity_steer(tg_affinity_req *r, tg_server_view *v, unsigned n, int chosen, const char *model,
                      uint32_t variant, uint64_t tried, int backup) {
  if (!r || chosen < 0) return chosen;
  uint64_t seq;
  int leaf, best = chosen;
  unsigned base = match(r, v[chosen].st, &seq, &leaf), best_m = base;
  uint32_t rate = rate_of(v[chosen].st);
  for (unsigned i = 0; i < n; i++) {
    if ((int)i == chosen || !v[i].st || !tg_server_eligible(v, i, tried, backup) ||
        tg_model_loaded_as(v[i].st, model, variant) != 1)
      continue;
    unsigned m = match(r, v[i].st, &seq, &leaf);
    if (m <= best_m) continue;
    uint64_t gain = (uint64_t)(tokens_of(r, m) - tokens_of(r, base)) * (rate ? rate : rate_of(v[i].st)) / 1000;
    if (wait_ms(&v[i], model) > (r->slack_ms == TG_AFF_SLACK_AUTO ? gain : r->slack_ms)) continue;
    best = (int)i, best_m = m;
  }
  return best;
}

void tg_affinity_sent(tg_affinity_req *r, const tg_server_state *st, const char *model, uint32_t variant) {
  if (!r || !st || !T) return;
  unsigned server = tg_server_state_index(st);
  aff_server *s = &SV[server];
  if (tg_model_loaded_as(st, model, variant) != 1) /* a load: its slots start empty */
    __atomic_store_n(&s->floor, __atomic_add_fetch(&s->fresh, 1, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
  uint64_t seq = 0;
  int leaf = 0;
  unsigned m = match(r, st, &seq, &leaf);
  r->server = (int)server;
  r->matched = m;
  r->matched_tok = tokens_of(r, m);
  r->matched_seq = seq;
  uint64_t now = m && leaf ? __atomic_load_n(&s->fresh, __ATOMIC_RELAXED) /* the same slot, continued */
                           : __atomic_add_fetch(&s->fresh, 1, __ATOMIC_RELAXED);
  char key[KEY_LEN + 1];
  for (unsigned k = 1; k < r->chain.n; k++) {
    uint64_t h;
    key_of(key, r->chain.hash[k], server);
    tg_shard *sh = tg_shard_table_lock(T, key, &h);
    int fresh;
    aff_entry *e = tg_shard_find(T, sh, h, key, 1, &fresh);
    if (e)
      *e = (aff_entry){
          .seq = now, .stamp = tg_shard_tick(sh), .tokens = r->chain.tokens[k], .leaf = k + 1 == r->chain.n};
    tg_shard_unlock(sh);
  }
  if (m) {
    __atomic_add_fetch(&s->counts.hits, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&s->counts.matched_tokens, r->matched_tok, __ATOMIC_RELAXED);
  }
}

void tg_affinity_learned(const tg_affinity_req *r, const tg_server_state *st, int64_t prompt, int64_t cached,
                         int64_t eval_ns) {
  if (!st || prompt < 0) return;
  aff_server *s = &SV[tg_server_state_index(st)];
  if (r && r->server == (int)tg_server_state_index(st) && r->matched && cached >= 0 &&
      (uint64_t)cached * 2 < r->matched_tok) { /* evicted there: so is what is older */
    uint64_t f = __atomic_load_n(&s->floor, __ATOMIC_RELAXED);
    while (f < r->matched_seq &&
           !__atomic_compare_exchange_n(&s->floor, &f, r->matched_seq, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
      ;
  }
  int64_t served = cached > 0 && cached <= prompt ? cached : 0, evaluated = prompt - served;
  __atomic_add_fetch(&s->counts.prompt_evaluated, (uint64_t)evaluated, __ATOMIC_RELAXED);
  __atomic_add_fetch(&s->counts.prompt_cached, (uint64_t)served, __ATOMIC_RELAXED);
  if (evaluated >= MIN_RATE_TOKENS && eval_ns > 0) {
    uint64_t us = (uint64_t)eval_ns / 1000 / (uint64_t)evaluated;
    uint64_t old = __atomic_load_n(&s->us_per_token, __ATOMIC_RELAXED);
    if (us > UINT32_MAX) us = UINT32_MAX;
    __atomic_store_n(&s->us_per_token, (uint32_t)(old ? (old * 3 + us) / 4 : us), __ATOMIC_RELAXED);
  }
}

void tg_affinity_server_counts(const tg_server_state *st, tg_affinity_counts *out) {
  const tg_affinity_counts *c = &SV[tg_server_state_index(st)].counts;
  out->hits = __atomic_load_n(&c->hits, __ATOMIC_RELAXED);
  out->matched_tokens = __atomic_load_n(&c->matched_tokens, __ATOMIC_RELAXED);
  out->prompt_evaluated = __atomic_load_n(&c->prompt_evaluated, __ATOMIC_RELAXED);
  out->prompt_cached = __atomic_load_n(&c->prompt_cached, __ATOMIC_RELAXED);
}
