/* Conversation affinity (docs/upstreams.md#conversation-affinity): a
 * request whose prompt begins like one sent recently to a server goes back
 * to that server, whose runner still holds that prefix in a slot's KV cache
 * and evaluates only the rest.
 *
 * A prompt is a chain of blocks in the order Ollama renders it
 * (affinity-chain.c): the model (with the request's tools), then for
 * /api/chat and /v1/chat/completions each message (the system prompt
 * first, as it comes), for /api/generate the system prompt and the prompt
 * text in TG_AFF_GEN_BLOCK-byte blocks. Block k's hash covers blocks 0 to
 * k, so equal hashes mean equal prefixes.
 *
 * The estimate (affinity.c) is one table for the process (`affinity_table`
 * entries, the size of the first configuration that turns it on), shared
 * by every worker: for each server, the block chains sent to it lately.
 * An entry is forgotten when the server has probably evicted it: more new
 * prompts (ones that continued no chain) sent there since than it has
 * slots, a model load there, or a predicted hit its answer showed was a
 * miss (`prompt_eval_cached_count`: the entries older than that one). */
#ifndef TOLLGATE_AFFINITY_H
#define TOLLGATE_AFFINITY_H

#include <stddef.h>
#include <stdint.h>

#include "tollgate/servers.h"

#define TG_AFF_BLOCKS 48     /* blocks a chain holds; past them the prompt is not followed */
#define TG_AFF_GEN_BLOCK 256 /* bytes of an /api/generate prompt per block */
#define TG_AFF_SLACK_AUTO UINT64_MAX

typedef struct tg_affinity_chain {
  unsigned n;                     /* blocks (0: the body is not a prompt) */
  uint64_t hash[TG_AFF_BLOCKS];   /* blocks 0 to k, chained */
  uint32_t tokens[TG_AFF_BLOCKS]; /* the prompt's tokens up to the end of block k (4 bytes a token) */
} tg_affinity_chain;

/* The blocks of a request body (JSON) for model (its normal form): a
 * "messages" array makes a chat's chain, a "prompt" string a generate's.
 * Returns the number of blocks, 0 when the body is neither (or not JSON). */
unsigned tg_affinity_chain_of(tg_affinity_chain *c, const char *model, const char *body, size_t len);

/* One request's affinity: its chain and what was predicted where it went. */
typedef struct tg_affinity_req {
  tg_affinity_chain chain;
  uint64_t slack_ms;    /* `affinity_slack`, or TG_AFF_SLACK_AUTO */
  int server;           /* the state index it went to, -1 before */
  unsigned matched;     /* blocks predicted cached there */
  uint32_t matched_tok; /* their tokens */
  uint64_t matched_seq; /* the age of the entry that predicted it */
} tg_affinity_req;

/* A request's affinity (malloc'd; free() it), or NULL when the table is
 * off (entries 0), the body is not a prompt, or memory is short. */
tg_affinity_req *tg_affinity_req_new(size_t entries, uint64_t slack_ms, const char *model, const char *body,
                                     size_t len);

/* `balance model`'s choice among the servers where the model is loaded
 * (model-route.c): chosen is the one it picked with a free slot. Returns
 * the candidate with the longest prefix cached, as long as its expected
 * wait (0 with a free slot; else the end of a request it runs) is within
 * the slack (`affinity_slack`, or by default the time the matched prefix
 * would take to evaluate elsewhere, at the rate learned per server);
 * chosen when none is better or r is NULL. */
int tg_affinity_steer(tg_affinity_req *r, tg_server_view *v, unsigned n, int chosen, const char *model,
                      uint32_t variant, uint64_t tried, int backup);

/* The request went to st (before tg_model_dispatched: a load starting
 * there forgets its entries): its chain is recorded there, and what was
 * predicted kept in r for the answer. */
void tg_affinity_sent(tg_affinity_req *r, const tg_server_state *st, const char *model, uint32_t variant);

/* An answer of st (any request of an upstream of several servers; r NULL
 * when affinity did not follow it) said: prompt_eval_count,
 * prompt_eval_cached_count (-1: not reported) and prompt_eval_duration
 * (-1: not reported). The tokens are counted for st; the rate of prompt
 * evaluation there is learned; with r, a predicted hit that was a miss
 * forgets the older entries of that server. */
void tg_affinity_learned(const tg_affinity_req *r, const tg_server_state *st, int64_t prompt, int64_t cached,
                         int64_t eval_ns);

/* A server's counters, for the metrics. */
typedef struct tg_affinity_counts {
  uint64_t hits;             /* requests sent to it with a prefix predicted cached there */
  uint64_t matched_tokens;   /* the tokens predicted */
  uint64_t prompt_evaluated; /* prompt tokens its answers say it evaluated */
  uint64_t prompt_cached;    /* and served from its cache (prompt_eval_cached_count) */
} tg_affinity_counts;
void tg_affinity_server_counts(const tg_server_state *st, tg_affinity_counts *out);

#endif
