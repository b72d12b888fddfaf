/* prompt-cache.c: the runner's per-slot prompt cache, for the simulator.
 * A prompt is rendered into a token sequence the way a chat template lays it
 * out (a fixed header, then for /api/chat and /v1/chat/completions each
 * message as a role header and its content, for /api/generate the system
 * prompt and the prompt text), four bytes of text a token. Each slot of a
 * loaded model keeps the tokens of the last prompt it ran; a request reuses
 * the longest common prefix and is charged prompt evaluation only for the
 * rest, as Ollama's runner does (runner/llamarunner/cache.go): by default
 * the free slot with the longest prefix, with OLLAMA_MULTIUSER_CACHE
 * (--multiuser-cache) the least recently used free slot, with the longest
 * prefix of any slot copied into it. At least one token is always
 * evaluated. A chat's slot keeps its answer too, rendered as the assistant
 * message the client sends back in its next turn (the runner's cache holds
 * the generated tokens), so that a follow-up evaluates only its new
 * messages. */
#include "prompt-cache.h"

#include <stdlib.h>
#include <string.h>

static uint32_t fnv(uint32_t h, const void *p, size_t n) {
  const unsigned char *s = p;
  for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 16777619u;
  return h;
}

static void push(mock_tokens_t *t, uint32_t tok) {
  if (t->len == t->cap) {
    t->cap = t->cap ? t->cap * 2 : 64;
    t->v = realloc(t->v, t->cap * sizeof *t->v);
    if (!t->v) abort();
  }
  t->v[t->len++] = tok;
}

/* strlen/4 + 1 tokens: each four bytes, then the rest with an end mark. */
static void push_text(mock_tokens_t *t, const char *s) {
  size_t n = s ? strlen(s) : 0, i = 0;
  for (; i + 4 <= n; i += 4) push(t, fnv(2166136261u, s + i, 4));
  push(t, fnv(fnv(2166136261u, s + i, n - i), "\n", 1));
}

static void push_header(mock_tokens_t *t, const char *role) {
  uint32_t h = fnv(2166136261u, role ? role : "", role ? strlen(role) : 0);
  for (uint32_t i = 0; i < 4; i++) push(t, h + i);
}

void mock_prompt_render(mock_tokens_t *t, bool generate, json_t *req) {
  t->len = 0;
  for (uint32_t i = 0; i < 4; i++) push(t, 1000u + i); /* the template's opening */
  if (!req) return;
  if (generate) {
    const char *sys = json_string_value(json_object_get(req, "system"));
    if (sys && *sys) push_header(t, "system"), push_text(t, sys);
    push_text(t, json_string_value(json_object_get(req, "prompt")));
    return;
  }
  size_t i;
  json_t *m;
  json_array_foreach(json_object_get(req, "messages"), i, m) {
    push_header(t, json_string_value(json_object_get(m, "role")));
    push_text(t, json_string_value(json_object_get(m, "content")));
  }
}

void mock_tokens_free(mock_tokens_t *t) {
  free(t->v);
  memset(t, 0, sizeof *t);
}

static size_t common_prefix(const mock_tokens_t *a, const mock_tokens_t *b) {
  size_t n = a->len < b->len ? a->len : b->len, i = 0;
  while (i < n && a->v[i] == b->v[i]) i++;
  return i;
}

static void copy_tokens(mock_tokens_t *dst, const mock_tokens_t *src, size_t n) {
  dst->len = 0;
  for (size_t i = 0; i < n; i++) push(dst, src->v[i]);
}

long mock_prompt_take(mock_slot_t *slots, unsigned nslots, const mock_tokens_t *prompt, bool multiuser, uint64_t now,
                      size_t *cached) {
  long best = -1, lru = -1, from = -1;
  size_t best_len = 0, from_len = 0;
  for (unsigned i = 0; i < nslots; i++) {
    size_t n = common_prefix(&slots[i].tokens, prompt);
    if (n > from_len) from = (long)i, from_len = n;
    if (slots[i].busy) continue;
    if (lru < 0 || slots[i].last_used_ns < slots[lru].last_used_ns) lru = (long)i;
    if (best < 0 || n > best_len) best = (long)i, best_len = n;
  }
  if (best < 0) {
    *cached = 0;
    return -1;
  }
  if (multiuser) { /* the oldest free slot, the longest prefix copied in */
    best = lru;
    best_len = from_len;
    if (from >= 0 && from != lru) copy_tokens(&slots[lru].tokens, &slots[from].tokens, from_len);
  } else if (best_len == 0) best = lru;
  if (best_len >= prompt->len && prompt->len) best_len = prompt->len - 1; /* one token always runs */
  *cached = best_len;
  mock_slot_t *s = &slots[best];
  copy_tokens(&s->tokens, prompt, prompt->len);
  s->busy = true;
  s->last_used_ns = now;
  return best;
}

void mock_prompt_reply(mock_slot_t *slots, long slot, const char *text) {
  if (slot < 0) return;
  push_header(&slots[slot].tokens, "assistant");
  push_text(&slots[slot].tokens, text);
}

void mock_prompt_release(mock_slot_t *slots, long slot, uint64_t now) {
  if (slot < 0) return;
  slots[slot].busy = false;
  slots[slot].last_used_ns = now;
}

void mock_prompt_clear(mock_slot_t *slots, unsigned nslots) {
  for (unsigned i = 0; i < nslots; i++) slots[i].tokens.len = 0;
}
