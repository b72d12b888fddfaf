/* Route kinds and the streaming JSON scanner (see tollgate/llm.h). The
 * scanner keeps a few bytes of state, never the body: it recognises a
 * string followed by ':' as a key, and captures the values of the few keys
 * that matter. Bytes outside JSON (SSE's "data: ") are skipped. */
#include "tollgate/llm.h"

#include <string.h>

#include "tollgate/hash.h"

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
  f->model_state = TG_MODEL_NONE;
  f->prompt_tokens = f->output_tokens = f->eval_ns = f->load_ns = f->total_ns = -1;
  f->prompt_cached = f->prompt_eval_ns = -1;
  f->variant = 0;
}

enum { NUM_NONE, NUM_PROMPT, NUM_OUTPUT, NUM_EVAL_NS, NUM_LOAD_NS, NUM_TOTAL_NS, NUM_CACHED, NUM_PROMPT_NS, NUM_OPT };
enum { STR_SKIP, STR_KEY, STR_MODEL };
enum { CAP_NONE, CAP_MODEL, CAP_NAME };

/* Is the key lit exactly (a key decoded with a NUL inside is not)? */
static int key_is(const tg_json_scan *s, const char *lit) {
  return s->key_len == strlen(lit) && memcmp(s->key, lit, s->key_len) == 0;
}

/* The same in any case, as Go matches a key to a struct field ("model"
 * and "name" hold no letter that folds from outside ASCII). */
static int key_is_fold(const tg_json_scan *s, const char *lit) {
  if (s->key_len != strlen(lit)) return 0;
  for (size_t i = 0; i < s->key_len; i++)
    if ((s->key[i] >= 'A' && s->key[i] <= 'Z' ? s->key[i] + 32 : s->key[i]) != lit[i]) return 0;
  return 1;
}

static int num_key_of(const tg_json_scan *s) {
  if (key_is(s, "prompt_eval_count") || key_is(s, "prompt_tokens")) return NUM_PROMPT;
  if (key_is(s, "eval_count") || key_is(s, "completion_tokens")) return NUM_OUTPUT;
  if (key_is(s, "eval_duration")) return NUM_EVAL_NS;
  if (key_is(s, "load_duration")) return NUM_LOAD_NS;
  if (key_is(s, "total_duration")) return NUM_TOTAL_NS;
  if (key_is(s, "prompt_eval_cached_count")) return NUM_CACHED;
  if (key_is(s, "prompt_eval_duration")) return NUM_PROMPT_NS;
  return NUM_NONE;
}

/* The runner options, in the order of their bits (tollgate/llm.h). */
static const char *const runner_keys[TG_LLM_RUNNER_OPTS] = {"num_ctx",  "num_batch", "num_gpu",
                                                            "main_gpu", "use_mmap",  "num_thread"};
enum { OPT_NUM_GPU = 2 };

/* Runner option k is v now: the variant again, from every option set. */
static void opt_set(tg_json_scan *s, tg_llm_facts *f, int k, int64_t v) {
  s->opt[k] = v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
  s->opt_set |= (uint8_t)(1u << k);
  int32_t key[TG_LLM_RUNNER_OPTS];
  int any = 0;
  for (int i = 0; i < TG_LLM_RUNNER_OPTS; i++) {
    int set = (s->opt_set >> i & 1) && !(i == OPT_NUM_GPU && s->opt[i] < 0);
    key[i] = set ? s->opt[i] : INT32_MIN;
    any |= set;
  }
  f->variant = any ? (uint32_t)tg_fnv1a64(key, sizeof key) | 1u : 0;
}

/* A value starts at c in the options object: a runner option's number,
 * true or false is read; anything else is passed over. */
static void opt_value(tg_json_scan *s, tg_llm_facts *f, char c) {
  int k = 0;
  while (k < TG_LLM_RUNNER_OPTS && !key_is(s, runner_keys[k])) k++;
  if (k == TG_LLM_RUNNER_OPTS) return;
  if (c == 't' || c == 'f') return opt_set(s, f, k, c == 't');
  if (c != '-' && (c < '0' || c > '9')) return;
  s->num_key = (uint8_t)(NUM_OPT + k);
  s->in_num = 1;
  s->num_neg = c == '-';
  s->num = c == '-' ? 0 : c - '0';
}

static void num_done(tg_json_scan *s, tg_llm_facts *f) {
  if (s->num_key >= NUM_OPT) opt_set(s, f, s->num_key - NUM_OPT, s->num_neg ? -s->num : s->num);
  else if (s->num_key == NUM_PROMPT) f->prompt_tokens = s->num;
  else if (s->num_key == NUM_OUTPUT) f->output_tokens = s->num;
  else if (s->num_key == NUM_EVAL_NS) f->eval_ns = s->num;
  else if (s->num_key == NUM_LOAD_NS) f->load_ns = s->num;
  else if (s->num_key == NUM_TOTAL_NS) f->total_ns = s->num;
  else if (s->num_key == NUM_CACHED) f->prompt_cached = s->num;
  else if (s->num_key == NUM_PROMPT_NS) f->prompt_eval_ns = s->num;
  s->in_num = 0;
}

/* A name longer than the facts keep: its start, cut at a character
 * boundary, and an ellipsis (which no valid name holds). The decoder
 * wrote every character that ended within TG_MODEL_MAX - 3 bytes. */
static void model_long(tg_llm_facts *f) {
  static const char ell[] = "\xe2\x80\xa6";
  size_t k = TG_MODEL_MAX - 3;
  while (k > 0 && ((unsigned char)f->model[k] & 0xc0) == 0x80) k--;
  memcpy(f->model + k, ell, sizeof ell);
  f->model_state = TG_MODEL_LONG;
}

/* The model's string ended: decoded in f->model, now its normal form. */
static void model_end(tg_json_scan *s, tg_llm_facts *f) {
  size_t n = s->dec.len;
  if (s->dec.flags & TG_JSTR_BAD) { /* Ollama refuses the body */
    f->model[0] = 0;
    f->model_state = TG_MODEL_NONE;
    return;
  }
  if (n == 0) return; /* an empty name is none: Go's cmp.Or goes on to the next */
  if (s->capture == CAP_MODEL) s->model_seen = 1;
  if (n > TG_MODEL_MAX) return model_long(f); /* ended in the read that took it past the cap: only its start is kept */
  char norm[TG_MODEL_MAX + 1];
  long k = tg_model_normal(f->model, n, norm, sizeof norm);
  if (k == -2) return model_long(f);
  if (k >= 0) {
    memcpy(f->model, norm, (size_t)k + 1);
    f->model_state = TG_MODEL_OK;
    return;
  }
  for (size_t i = 0; i < n; i++)
    if (!f->model[i]) f->model[i] = '?';
  f->model[n] = 0;
  f->model_state = TG_MODEL_INVALID;
}

/* A string that is not decoded (a value, or too long to be a key we
 * want): only its end is looked for. Returns the bytes it took. */
static size_t skip_string(tg_json_scan *s, const char *p, size_t n) {
  if (s->esc) return s->esc = 0, 1;
  const char *q = memchr(p, '"', n);
  size_t run = q ? (size_t)(q - p) : n;
  const char *b = memchr(p, '\\', run);
  if (b) return s->esc = 1, (size_t)(b - p) + 1;
  if (q) s->in_str = 0, s->after_str = 0, run++;
  return run;
}

/* Bytes of a string, decoded into the key buffer or the model. */
static size_t scan_string(tg_json_scan *s, tg_llm_facts *f, const char *p, size_t n) {
  if (s->mode == STR_SKIP) return skip_string(s, p, n);
  int key = s->mode == STR_KEY;
  size_t cap = key ? sizeof s->str - 1 : TG_MODEL_MAX;
  size_t used = key ? tg_jstr_feed_key(&s->dec, p, n, s->str, cap) : tg_jstr_feed(&s->dec, p, n, f->model, cap);
  if (s->dec.flags & TG_JSTR_DONE) {
    s->in_str = 0;
    s->after_str = key && !(s->dec.flags & TG_JSTR_BAD);
    s->str_len = (uint8_t)(s->after_str ? s->dec.len : 0);
    if (!key) model_end(s, f);
  } else if (s->dec.len > cap) { /* not a key we want, or a name too long to keep */
    if (!key && s->capture == CAP_MODEL) s->model_seen = 1;
    if (!key) model_long(f);
    s->mode = STR_SKIP;
    s->esc = (uint8_t)tg_jstr_escaping(&s->dec);
  }
  return used;
}

/* A string starts. want_model: capture "model" (else "name") at depth 1. */
static void string_start(tg_json_scan *s, int value_start, int want_model) {
  s->in_str = 1;
  s->esc = 0;
  s->dec = (tg_jstr){0};
  s->capture = CAP_NONE;
  if (value_start && want_model && s->depth == 1) {
    if (key_is_fold(s, "model")) s->capture = CAP_MODEL;
    else if (key_is_fold(s, "name") && !s->model_seen) s->capture = CAP_NAME;
  }
  s->mode = s->capture ? STR_MODEL : value_start ? STR_SKIP : STR_KEY;
}

/* A byte outside strings. */
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
    memcpy(s->key, s->str, s->str_len);
    s->key_len = s->str_len;
    s->after_colon = 1;
    s->after_str = 0;
    return;
  }
  s->after_str = 0;
  int value_start = s->after_colon;
  s->after_colon = 0;
  if (c == '"') {
    string_start(s, value_start, want_model);
  } else if (c == '{' || c == '[') {
    if (c == '{' && value_start && want_model && s->depth == 1) s->in_opts = (uint8_t)key_is_fold(s, "options");
    if (s->depth < 255) s->depth++;
  } else if (c == '}' || c == ']') {
    if (s->depth && !--s->depth && c == '}') s->objects++;
    if (s->depth < 2) s->in_opts = 0;
  } else if (value_start && !want_model && c >= '0' && c <= '9') {
    s->num_key = (uint8_t)num_key_of(s);
    s->in_num = s->num_key != NUM_NONE;
    s->num_neg = 0;
    s->num = c - '0';
  } else if (value_start && s->in_opts && s->depth == 2) {
    opt_value(s, f, c);
  }
}

static void scan(tg_json_scan *s, tg_llm_facts *f, const char *p, size_t n, int want_model) {
  for (size_t i = 0; i < n;) {
    if (s->in_str) i += scan_string(s, f, p + i, n - i);
    else scan_outside(s, f, p[i++], want_model);
  }
}

void tg_llm_scan_request(tg_json_scan *s, tg_llm_facts *f, const char *p, size_t n) { scan(s, f, p, n, 1); }

void tg_llm_scan_response(tg_json_scan *s, tg_llm_facts *f, const char *p, size_t n) { scan(s, f, p, n, 0); }
