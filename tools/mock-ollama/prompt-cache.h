/* prompt-cache.h: the simulator's per-slot prompt cache (prompt-cache.c). */
#ifndef MOCK_PROMPT_CACHE_H
#define MOCK_PROMPT_CACHE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mock_tokens {
  uint32_t *v;
  size_t len, cap;
} mock_tokens_t;

typedef struct mock_slot {
  mock_tokens_t tokens; /* the last prompt this slot ran */
  uint64_t last_used_ns;
  bool busy;
} mock_slot_t;

/* The request's prompt as tokens (generate: system and prompt; chat: the
 * messages). Its length is the prompt_eval_count the mock reports. */
void mock_prompt_render(mock_tokens_t *t, bool generate, json_t *req);
void mock_tokens_free(mock_tokens_t *t);
/* A free slot for prompt, its cache updated; *cached: the tokens reused.
 * -1 (and 0 cached) when every slot is busy. */
long mock_prompt_take(mock_slot_t *slots, unsigned nslots, const mock_tokens_t *prompt, bool multiuser, uint64_t now,
                      size_t *cached);
/* A chat's answer (text) was generated in slot: kept after its prompt. */
void mock_prompt_reply(mock_slot_t *slots, long slot, const char *text);
void mock_prompt_release(mock_slot_t *slots, long slot, uint64_t now);
/* The model unloaded: every slot forgets. */
void mock_prompt_clear(mock_slot_t *slots, unsigned nslots);

#endif
