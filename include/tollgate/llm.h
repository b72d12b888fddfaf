/* What a request means for an LLM API: its route kind, the model it names,
 * and the token counts its response reports. Found by scanning the bodies
 * as they stream through, without holding them: a small incremental JSON
 * scanner that tracks strings, nesting and the last key. */
#ifndef TOLLGATE_LLM_H
#define TOLLGATE_LLM_H

#include <stddef.h>
#include <stdint.h>

#include "tollgate/model-name.h"

typedef enum tg_route_kind {
  TG_ROUTE_OTHER,
  TG_ROUTE_GENERATE, /* /api/generate */
  TG_ROUTE_CHAT,     /* /api/chat */
  TG_ROUTE_EMBED,    /* /api/embed, /api/embeddings */
  TG_ROUTE_OPENAI,   /* /v1/... */
  TG_ROUTE_ADMIN,    /* model management: pull, push, create, copy, delete, blobs */
  TG_ROUTE_COUNT
} tg_route_kind;

/* The kind of the path (without the mount prefix; a query is ignored). */
tg_route_kind tg_route_kind_of(const char *path, size_t n);

/* "generate", "chat", "embed", "openai", "admin" or "other". */
const char *tg_route_kind_name(tg_route_kind k);

#define TG_MODEL_MAX 96

/* What the model field of a request gave (docs/observability.md). */
typedef enum tg_model_state {
  TG_MODEL_NONE,    /* no model named (or the body is not JSON Ollama takes) */
  TG_MODEL_OK,      /* model holds the normal form (tollgate/model-name.h) */
  TG_MODEL_INVALID, /* not a name Ollama takes: model holds it decoded, a NUL shown as '?' */
  TG_MODEL_LONG     /* longer than TG_MODEL_MAX: model holds its start and "\u2026" */
} tg_model_state;

/* Facts found in the bodies. -1 means not reported. */
typedef struct tg_llm_facts {
  char model[TG_MODEL_MAX + 1]; /* see model_state; "" when the request named none */
  uint8_t model_state;          /* tg_model_state */
  int64_t prompt_tokens;        /* prompt_eval_count, or usage.prompt_tokens */
  int64_t output_tokens;        /* eval_count, or usage.completion_tokens */
  int64_t eval_ns;              /* eval_duration (Ollama), for tokens per second */
  int64_t load_ns;              /* load_duration (Ollama): the model's load for it, what `balance model` learns */
  int64_t total_ns;             /* total_duration (Ollama) */
  int64_t prompt_cached;        /* prompt_eval_cached_count (recent Ollama): the prompt tokens its cache served */
  int64_t prompt_eval_ns;       /* prompt_eval_duration (Ollama) */
  uint32_t variant;             /* the request's runner options (tg_llm_scan_request); 0: none set */
} tg_llm_facts;

void tg_llm_facts_init(tg_llm_facts *f);

/* The options Ollama loads a model with (its api.Runner: a loaded model
 * asked for with others is loaded again, server/sched.go needsReload):
 * num_ctx, num_batch, num_gpu, main_gpu, use_mmap, num_thread. */
#define TG_LLM_RUNNER_OPTS 6

/* Incremental scanner state: zero it per body. */
typedef struct tg_json_scan {
  uint8_t in_str, esc, after_str, after_colon, in_num, depth;
  uint8_t mode; /* the string being read: skipped, a possible key, or the model */
  uint8_t str_len, key_len;
  uint8_t capture;    /* which key's value is being read: "model" or "name" */
  uint8_t model_seen; /* a "model" key named a model: "name" keys no longer count */
  uint8_t num_key;    /* which number is being read */
  uint32_t objects;   /* top-level objects closed (a stream's chunks: one token each) */
  char str[32];       /* the last string, decoded, while short enough to be a key we want */
  char key[32];       /* the key whose value comes next */
  tg_jstr dec;        /* the string being decoded */
  int64_t num;
  uint8_t num_neg;                 /* the number being read began with '-' */
  uint8_t in_opts;                 /* a request's top-level "options" object is open */
  uint8_t opt_set;                 /* the runner options it set so far, a bit each */
  int32_t opt[TG_LLM_RUNNER_OPTS]; /* their last values (true 1, false 0) */
} tg_json_scan;

/* Feeds request body bytes: sets f->model from the top-level "model"
 * string, else "name" (Ollama's older key), as Go reads them: keys in any
 * case, escapes decoded, the last non-empty value kept. And f->variant
 * from the runner options of the top-level "options" object (numbers,
 * true or false; the last value of each kept): a hash of those set, 0 when
 * none is (num_gpu below 0 counts as unset: Ollama reuses any load for
 * it). The same options give the same variant, in any order. */
void tg_llm_scan_request(tg_json_scan *s, tg_llm_facts *f, const char *p, size_t n);

/* Feeds response body bytes (JSON, NDJSON or SSE): the last values of
 * prompt_eval_count / eval_count / eval_duration, or usage.prompt_tokens /
 * completion_tokens, at any depth. */
void tg_llm_scan_response(tg_json_scan *s, tg_llm_facts *f, const char *p, size_t n);

#endif
