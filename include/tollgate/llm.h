/* What a request means for an LLM API: its route kind, the model it names,
 * and the token counts its response reports. Found by scanning the bodies
 * as they stream through, without holding them: a small incremental JSON
 * scanner that tracks strings, nesting and the last key. */
#ifndef TOLLGATE_LLM_H
#define TOLLGATE_LLM_H

#include <stddef.h>
#include <stdint.h>

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

/* Facts found in the bodies. -1 means not reported. */
typedef struct tg_llm_facts {
  char model[TG_MODEL_MAX + 1]; /* "" when the request named none */
  int64_t prompt_tokens;        /* prompt_eval_count, or usage.prompt_tokens */
  int64_t output_tokens;        /* eval_count, or usage.completion_tokens */
  int64_t eval_ns;              /* eval_duration (Ollama), for tokens per second */
} tg_llm_facts;

void tg_llm_facts_init(tg_llm_facts *f);

/* Incremental scanner state: zero it (or tg_json_scan_init) per body. */
typedef struct tg_json_scan {
  uint8_t in_str, esc, after_str, after_colon, in_num, capture, depth;
  uint8_t key_len, str_len;
  char str[24];       /* the last string, while short enough to be a key we want */
  char key[24];       /* the key whose value comes next */
  int64_t num;
  uint8_t num_key;    /* which number is being read */
  uint8_t cap_len;
} tg_json_scan;

/* Feeds request body bytes: sets f->model from a top-level "model" string. */
void tg_llm_scan_request(tg_json_scan *s, tg_llm_facts *f, const char *p, size_t n);

/* Feeds response body bytes (JSON, NDJSON or SSE): the last values of
 * prompt_eval_count / eval_count / eval_duration, or usage.prompt_tokens /
 * completion_tokens, at any depth. */
void tg_llm_scan_response(tg_json_scan *s, tg_llm_facts *f, const char *p, size_t n);

#endif
