/* The block chain of a prompt (tollgate/affinity.h), in the order Ollama's
 * templates render it: block 0 is the model and the request's tools (the
 * template puts the tools before the first message); then each message of
 * "messages" (role, content, images, tool calls: the whole object, keys
 * sorted), or, for a "prompt", the "system" string and then the prompt text
 * in TG_AFF_GEN_BLOCK-byte blocks. The body is read whole before the choice
 * (policy/body-buffer.c); it is client input: anything that is not an
 * object with a messages array or a prompt string has no chain. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate/affinity.h"
#include "tollgate/hash.h"

#define MSG_TOKENS 4 /* a message's role header, as a template renders it */

static uint64_t add_json(uint64_t h, const json_t *v) {
  if (!v) return tg_fnv1a64_add(h, "", 1);
  char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
  if (!s) return h;
  h = tg_fnv1a64_add(h, s, strlen(s) + 1);
  free(s);
  return h;
}

static int push(tg_affinity_chain *c, uint64_t h, uint64_t tokens) {
  if (c->n >= TG_AFF_BLOCKS) return 0;
  c->hash[c->n] = h;
  c->tokens[c->n] = tokens > UINT32_MAX ? UINT32_MAX : (uint32_t)tokens;
  c->n++;
  return 1;
}

static void chat_blocks(tg_affinity_chain *c, uint64_t h, const json_t *msgs) {
  size_t i;
  const json_t *m;
  uint64_t tokens = c->tokens[0];
  json_array_foreach(msgs, i, m) {
    h = add_json(h, m);
    const json_t *content = json_object_get(m, "content");
    tokens += MSG_TOKENS + (json_is_string(content) ? json_string_length(content) / 4 : 0);
    if (!push(c, h, tokens)) return;
  }
}

static void generate_blocks(tg_affinity_chain *c, uint64_t h, const json_t *req, const json_t *prompt) {
  const char *sys = json_string_value(json_object_get(req, "system"));
  size_t sys_len = sys ? strlen(sys) : 0;
  h = tg_fnv1a64_add(h, sys ? sys : "", sys_len + 1);
  uint64_t tokens = c->tokens[0] + sys_len / 4;
  if (!push(c, h, tokens)) return;
  const char *p = json_string_value(prompt);
  size_t len = json_string_length(prompt);
  for (size_t at = 0; at < len; at += TG_AFF_GEN_BLOCK) {
    size_t k = len - at < TG_AFF_GEN_BLOCK ? len - at : TG_AFF_GEN_BLOCK;
    h = tg_fnv1a64_add(h, p + at, k);
    tokens += k / 4;
    if (!push(c, h, tokens)) return;
  }
}

unsigned tg_affinity_chain_of(tg_affinity_chain *c, const char *model, const char *body, size_t len) {
  c->n = 0;
  json_t *req = json_loadb(body, len, JSON_DECODE_ANY, NULL);
  if (!json_is_object(req)) {
    json_decref(req);
    return 0;
  }
  const json_t *msgs = json_object_get(req, "messages"), *prompt = json_object_get(req, "prompt");
  if (json_is_array(msgs) || json_is_string(prompt)) {
    uint64_t h = tg_fnv1a64_add(TG_FNV1A64_BASIS, model, strlen(model) + 1);
    h = add_json(h, json_object_get(req, "tools"));
    push(c, h, 4); /* the template's opening */
    if (json_is_array(msgs)) chat_blocks(c, h, msgs);
    else generate_blocks(c, h, req, prompt);
  }
  json_decref(req);
  return c->n;
}
