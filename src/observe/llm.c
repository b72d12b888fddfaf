/* Route kinds and the streaming JSON scanner (see tollgate/llm.h). The
 * scanner keeps a few bytes of state, never the body: it recognises a
 * string followed by ':' as a key, and captures the values of the few keys
 * that matter. Bytes outside JSON (SSE's "data: ") are skipped. */
#include "tollgate/llm.h"

#include <string.h>

/* Is (p, n) the path pre, or below it ("pre/..."), or it with a query? */
static int is_path(const char *p, size_t n, const char *pre, size_t k) {
  return n >= k && memcmp(p, pre, k) == 0 && (n == k || p[k] == '/' || p[k] == '?');
}
#define IS_PATH(p, n, lit) is_path(p, n, lit, sizeof lit - 1)

tg_route_kind tg_route_kind_of(const char *p, size_t n) {
  const char *q = memchr(p, '?', n);
  if (q) n = (size_t)(q - p);
  if (n >= 4 && memcmp(p, "/v1/", 4) == 0) return TG_ROUTE_OPENAI;
  if (n < 5 || memcmp(p, "/api/", 5) != 0) return TG_ROUTE_OTHER;
  p += 5, n -= 5; /* the rest after "/api/" */
  if (IS_PATH(p, n, "generate")) return TG_ROUTE_GENERATE;
  if (IS_PATH(p, n, "chat")) return TG_ROUTE_CHAT;
  if (IS_PATH(p, n, "embed") || IS_PATH(p, n, "embeddings")) return TG_ROUTE_EMBED;
  if (IS_PATH(p, n, "pull") || IS_PATH(p, n, "push") || IS_PATH(p, n, "create") || IS_PATH(p, n, "copy") ||
      IS_PATH(p, n, "delete") || IS_PATH(p, n, "blobs"))
    return TG_ROUTE_ADMIN;
  return TG_ROUTE_OTHER;
}

const char *tg_route_kind_name(tg_route_kind k) {
  static const char *const names[TG_ROUTE_COUNT] = {"other", "generate", "chat", "embed", "openai", "admin"};
  return k < TG_ROUTE_COUNT ? names[k] : "other";
}

void tg_llm_facts_init(tg_llm_facts *f) {
  f->model[0] = 0;
  f->prompt_tokens = f->output_tokens = f->eval_ns = -1;
}

enum { NUM_NONE, NUM_PROMPT, NUM_OUTPUT, NUM_EVAL_NS };

static int num_key_of(const char *k) {
  if (!strcmp(k, "prompt_eval_count") || !strcmp(k, "prompt_tokens")) return NUM_PROMPT;
  if (!strcmp(k, "eval_count") || !strcmp(k, "completion_tokens")) return NUM_OUTPUT;
  if (!strcmp(k, "eval_duration")) return NUM_EVAL_NS;
  return NUM_NONE;
}

static void num_done(tg_json_scan *s, tg_llm_facts *f) {
  if (s->num_key == NUM_PROMPT) f->prompt_tokens = s->num;
  else if (s->num_key == NUM_OUTPUT) f->output_tokens = s->num;
  else if (s->num_key == NUM_EVAL_NS) f->eval_ns = s->num;
  s->in_num = 0;
}

/* A byte inside a string. */
static void scan_in_string(tg_json_scan *s, tg_llm_facts *f, char c) {
  if (s->esc) {
    s->esc = 0;
    s->str_len = sizeof s->str; /* an escaped key is not one we want */
    return;
  }
  if (c == '\\') {
    s->esc = 1;
  } else if (c == '"') {
    s->in_str = 0;
    if (s->capture) {
      f->model[s->cap_len] = 0;
      s->capture = 0;
    }
    s->after_str = s->str_len < sizeof s->str;
    if (s->after_str) s->str[s->str_len] = 0;
  } else if (s->capture) {
    if (s->cap_len < TG_MODEL_MAX) f->model[s->cap_len++] = c;
  } else if (s->str_len < sizeof s->str - 1) {
    s->str[s->str_len++] = c;
  } else {
    s->str_len = sizeof s->str;
  }
}

/* A byte outside strings. want_model: capture "model" at depth 1. */
static void scan_outside(tg_json_scan *s, tg_llm_facts *f, char c, int want_model) {
  if (s->in_num) {
    if (c >= '0' && c <= '9' && s->num < INT64_MAX / 10) {
      s->num = s->num * 10 + (c - '0');
      return;
    }
    num_done(s, f);
  }
  if (c == ' ' || c == '\t' || c == '\r' || c == '\n') return;
  if (s->after_str && c == ':') {
    memcpy(s->key, s->str, sizeof s->key);
    s->after_colon = 1;
    s->after_str = 0;
    return;
  }
  s->after_str = 0;
  int value_start = s->after_colon;
  s->after_colon = 0;
  if (c == '"') {
    s->in_str = 1;
    s->str_len = 0;
    s->capture = value_start && want_model && s->depth == 1 && !strcmp(s->key, "model");
    s->cap_len = 0;
  } else if (c == '{' || c == '[') {
    if (s->depth < 255) s->depth++;
  } else if (c == '}' || c == ']') {
    if (s->depth) s->depth--;
  } else if (value_start && !want_model && c >= '0' && c <= '9') {
    s->num_key = (uint8_t)num_key_of(s->key);
    s->in_num = s->num_key != NUM_NONE;
    s->num = c - '0';
  }
}

/* The bytes of a string up to its next '"' or '\\', all at once: kept
 * while the string is short enough to be a key, skipped otherwise (a
 * token's text, a timestamp). Returns how many bytes it took. */
static size_t scan_string_run(tg_json_scan *s, const char *p, size_t n) {
  const char *q = memchr(p, '"', n);
  size_t run = q ? (size_t)(q - p) : n;
  const char *b = memchr(p, '\\', run);
  if (b) run = (size_t)(b - p);
  if (s->str_len + run < sizeof s->str) {
    memcpy(s->str + s->str_len, p, run);
    s->str_len += run;
  } else if (run) {
    s->str_len = sizeof s->str; /* too long for a key we want */
  }
  return run;
}

static void scan(tg_json_scan *s, tg_llm_facts *f, const char *p, size_t n, int want_model) {
  for (size_t i = 0; i < n; i++) {
    if (s->in_str && !s->esc && !s->capture) {
      i += scan_string_run(s, p + i, n - i);
      if (i == n) break;
    }
    if (s->in_str) scan_in_string(s, f, p[i]);
    else scan_outside(s, f, p[i], want_model);
  }
}

void tg_llm_scan_request(tg_json_scan *s, tg_llm_facts *f, const char *p, size_t n) {
  if (f->model[0] && !s->capture) return; /* found: the rest of the body is not read */
  scan(s, f, p, n, 1);
}

void tg_llm_scan_response(tg_json_scan *s, tg_llm_facts *f, const char *p, size_t n) {
  scan(s, f, p, n, 0);
}
