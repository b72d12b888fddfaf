/* stream.c: the timer-driven responses of /api/generate, /api/chat,
 * /v1/chat/completions and /api/pull: a token stream (NDJSON or SSE, one
 * chunk per line, --delay-ms apart) or, with "stream":false, one JSON body
 * once generation would be over; and the X-Mock-* faults that bend them
 * (stall, reset, close, huge lines, early start, timestamps). */
#include "mock.h"
#include "prompt-cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOAD_DURATION_NS 2000000LL
#define PULL_TOTAL 2019393189LL

static const char *const words[] = {
    "The",    " sky",  " appears", " blue",   " because", " molecules",   " in",
    " the",   " air",  " scatter", " short",  " blue",    " wavelengths", " of",
    " light", " more", " than",    " longer", " red",     " ones",        ".",
};
#define NWORDS (sizeof words / sizeof words[0])

static const char *token_text(unsigned i) { return words[i % NWORDS]; }

void mock_stream_clear(mock_resp_t *r) {
  free(r->model_json);
  memset(r, 0, sizeof *r);
}

static uint64_t wall_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void created_at(char *out, size_t len) { mock_format_time(out, len, wall_ns()); }

static unsigned openai_id(const mock_conn_t *c) { return (unsigned)(c->req.id % 999); }

/* ---- line building ---- */

/* The extra fields a test asked for, then the end of the object. */
static void line_close(mock_conn_t *c, mock_buf_t *b, bool final) {
  if (final && c->resp.early) mock_buf_printf(b, ",\"mock_body_bytes\":%llu", (unsigned long long)c->resp.body_bytes);
  if (c->resp.stamp) mock_buf_printf(b, ",\"mock_t_ns\":%llu", (unsigned long long)mock_now_ns());
  mock_buf_puts(b, c->resp.kind == MOCK_OPENAI_CHAT ? "}\n\n" : "}\n");
}

/* OpenAI chunk fields up to the choices array. */
static void openai_chunk_head(mock_conn_t *c, mock_buf_t *b) {
  mock_buf_printf(b,
                  "data: {\"id\":\"chatcmpl-%u\",\"object\":\"chat.completion.chunk\","
                  "\"created\":%lld,\"model\":%s,\"system_fingerprint\":\"fp_ollama\",",
                  openai_id(c), (long long)time(NULL), c->resp.model_json);
}

/* Build token line i into b; returns where padding goes (after the token
 * text), or 0 when the line has no text to pad. */
static size_t token_line(mock_conn_t *c, mock_buf_t *b, unsigned i) {
  mock_resp_t *r = &c->resp;
  char ts[48];
  size_t at = 0;
  created_at(ts, sizeof ts);
  switch (r->kind) {
  case MOCK_GENERATE:
    mock_buf_printf(b, "{\"model\":%s,\"created_at\":\"%s\",\"response\":\"%s", r->model_json, ts, token_text(i));
    at = b->len;
    mock_buf_puts(b, "\",\"done\":false");
    break;
  case MOCK_CHAT:
    mock_buf_printf(b,
                    "{\"model\":%s,\"created_at\":\"%s\",\"message\":{\"role\":\"assistant\","
                    "\"content\":\"%s",
                    r->model_json, ts, token_text(i));
    at = b->len;
    mock_buf_puts(b, "\"},\"done\":false");
    break;
  case MOCK_OPENAI_CHAT:
    openai_chunk_head(c, b);
    mock_buf_printf(b, "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"%s", token_text(i));
    at = b->len;
    mock_buf_puts(b, "\"},\"finish_reason\":null}]");
    break;
  case MOCK_PULL:
    mock_buf_printf(b,
                    "{\"status\":\"downloading sha256:%s\",\"digest\":\"sha256:%s\",\"total\":%lld,"
                    "\"completed\":%lld",
                    "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
                    "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72", PULL_TOTAL,
                    PULL_TOTAL * (i + 1) / (r->tokens ? r->tokens : 1));
    break;
  }
  line_close(c, b, false);
  return at;
}

static void send_line(mock_conn_t *c, const mock_buf_t *b) { mock_write_chunk(c, b->p, b->len); }

static void stream_send_token(mock_conn_t *c) {
  mock_buf_t *b = &c->worker->scratch;
  mock_buf_reset(b);
  size_t at = token_line(c, b, c->resp.sent);
  if (at && c->resp.line_bytes > b->len) mock_buf_insert_fill(b, at, 'x', c->resp.line_bytes - b->len);
  send_line(c, b);
}

/* load_duration: the simulator's wait for the model, else a loaded model's 2 ms. */
static long long load_ns(const mock_conn_t *c) { return c->sim ? mock_sim_load_ns(c) : LOAD_DURATION_NS; }

/* The time the tokens not served by the cache took to evaluate. */
static long long prompt_eval_ns(const mock_resp_t *r) {
  long long per = mock_opts.prompt_eval_us_per_token ? (long long)mock_opts.prompt_eval_us_per_token * 1000 : 400000;
  return (long long)(r->prompt_tokens - r->prompt_cached) * per;
}

/* Ollama's metrics fields (api.Metrics), as the final object carries them. */
static void metrics_fields(mock_conn_t *c, mock_buf_t *b) {
  mock_resp_t *r = &c->resp;
  long long total = (long long)(mock_now_ns() - r->start_ns);
  mock_buf_printf(b,
                  ",\"total_duration\":%lld,\"load_duration\":%lld,\"prompt_eval_count\":%u,"
                  "\"prompt_eval_duration\":%lld,\"eval_count\":%u,\"eval_duration\":%lld",
                  total, load_ns(c), r->prompt_tokens, prompt_eval_ns(r), r->sent,
                  (long long)r->sent * r->delay_ms * 1000000 + 1);
  if (mock_opts.sim) mock_buf_printf(b, ",\"prompt_eval_cached_count\":%u", r->prompt_cached);
}

static void context_field(mock_conn_t *c, mock_buf_t *b) {
  unsigned n = c->resp.prompt_tokens + c->resp.sent;
  mock_buf_puts(b, ",\"context\":[");
  for (unsigned i = 0; i < n && i < 16; i++) mock_buf_printf(b, "%s%u", i ? "," : "", 128000 + i * 7);
  mock_buf_puts(b, "]");
}

static void final_ollama(mock_conn_t *c, mock_buf_t *b) {
  char ts[48];
  created_at(ts, sizeof ts);
  if (c->resp.kind == MOCK_GENERATE) {
    mock_buf_printf(b,
                    "{\"model\":%s,\"created_at\":\"%s\",\"response\":\"\",\"done\":true,"
                    "\"done_reason\":\"stop\"",
                    c->resp.model_json, ts);
    context_field(c, b);
  } else {
    mock_buf_printf(b,
                    "{\"model\":%s,\"created_at\":\"%s\",\"message\":{\"role\":\"assistant\","
                    "\"content\":\"\"},\"done_reason\":\"stop\",\"done\":true",
                    c->resp.model_json, ts);
  }
  metrics_fields(c, b);
  line_close(c, b, true);
  send_line(c, b);
}

/* The finishing chunk, the usage chunk when asked for, then [DONE]. */
static void final_openai(mock_conn_t *c, mock_buf_t *b) {
  mock_resp_t *r = &c->resp;
  openai_chunk_head(c, b);
  mock_buf_puts(b, "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                   "\"finish_reason\":\"stop\"}]");
  line_close(c, b, !r->include_usage);
  send_line(c, b);
  if (r->include_usage) {
    mock_buf_reset(b);
    openai_chunk_head(c, b);
    mock_buf_printf(b,
                    "\"choices\":[],\"usage\":{\"prompt_tokens\":%u,\"completion_tokens\":%u,"
                    "\"total_tokens\":%u}",
                    r->prompt_tokens, r->sent, r->prompt_tokens + r->sent);
    line_close(c, b, true);
    send_line(c, b);
  }
  mock_write_chunk(c, "data: [DONE]\n\n", 14);
}

static void final_pull(mock_conn_t *c, mock_buf_t *b) {
  if (mock_opts.pull_fail) { /* --pull-fail: what Ollama says for a name the registry lacks */
    static const char failed[] = "{\"error\":\"pull model manifest: file does not exist\"}\n";
    mock_write_chunk(c, failed, sizeof failed - 1);
    return;
  }
  static const char verifying[] = "{\"status\":\"verifying sha256 digest\"}\n";
  static const char writing[] = "{\"status\":\"writing manifest\"}\n";
  mock_write_chunk(c, verifying, sizeof verifying - 1);
  mock_write_chunk(c, writing, sizeof writing - 1);
  mock_buf_puts(b, "{\"status\":\"success\"");
  line_close(c, b, true);
  send_line(c, b);
}

static void stream_send_final(mock_conn_t *c) {
  mock_buf_t *b = &c->worker->scratch;
  mock_buf_reset(b);
  if (c->resp.kind == MOCK_OPENAI_CHAT) final_openai(c, b);
  else if (c->resp.kind == MOCK_PULL) final_pull(c, b);
  else final_ollama(c, b);
  mock_write_last_chunk(c);
}

/* ---- whole (non-streaming) bodies ---- */

void mock_stream_text(unsigned tokens, mock_buf_t *out) {
  for (unsigned i = 0; i < tokens; i++) mock_buf_puts(out, token_text(i));
}

static json_t *whole_text(unsigned tokens) {
  mock_buf_t t = {0};
  mock_stream_text(tokens, &t);
  json_t *s = json_string(t.p ? t.p : "");
  mock_buf_free(&t);
  return s;
}

static void whole_metrics(mock_conn_t *c, json_t *o) {
  mock_resp_t *r = &c->resp;
  json_object_set_new(o, "total_duration", json_integer((json_int_t)(mock_now_ns() - r->start_ns)));
  json_object_set_new(o, "load_duration", json_integer(load_ns(c)));
  json_object_set_new(o, "prompt_eval_count", json_integer(r->prompt_tokens));
  json_object_set_new(o, "prompt_eval_duration", json_integer(prompt_eval_ns(r)));
  if (mock_opts.sim) json_object_set_new(o, "prompt_eval_cached_count", json_integer(r->prompt_cached));
  json_object_set_new(o, "eval_count", json_integer(r->sent));
  json_object_set_new(o, "eval_duration", json_integer((json_int_t)r->sent * r->delay_ms * 1000000 + 1));
}

static json_t *whole_ollama(mock_conn_t *c, json_t *model, const char *ts) {
  json_t *o = json_pack("{s:O,s:s}", "model", model, "created_at", ts);
  if (c->resp.kind == MOCK_GENERATE) {
    json_object_set_new(o, "response", whole_text(c->resp.tokens));
    json_object_set_new(o, "done", json_true());
    json_object_set_new(o, "done_reason", json_string("stop"));
    json_object_set_new(o, "context", json_pack("[i,i,i]", 128000, 128007, 128014));
  } else {
    json_object_set_new(o, "message",
                        json_pack("{s:s,s:o}", "role", "assistant", "content", whole_text(c->resp.tokens)));
    json_object_set_new(o, "done_reason", json_string("stop"));
    json_object_set_new(o, "done", json_true());
  }
  whole_metrics(c, o);
  return o;
}

static json_t *whole_openai(mock_conn_t *c, json_t *model) {
  mock_resp_t *r = &c->resp;
  char id[32];
  snprintf(id, sizeof id, "chatcmpl-%u", openai_id(c));
  json_t *msg = json_pack("{s:s,s:o}", "role", "assistant", "content", whole_text(r->tokens));
  json_t *usage = json_pack("{s:i,s:i,s:i}", "prompt_tokens", r->prompt_tokens, "completion_tokens", r->sent,
                            "total_tokens", r->prompt_tokens + r->sent);
  return json_pack("{s:s,s:s,s:I,s:O,s:s,s:[{s:i,s:o,s:s}],s:o}", "id", id, "object", "chat.completion", "created",
                   (json_int_t)time(NULL), "model", model, "system_fingerprint", "fp_ollama", "choices", "index", 0,
                   "message", msg, "finish_reason", "stop", "usage", usage);
}

static void stream_on_whole(uv_timer_t *t) {
  mock_conn_t *c = t->data;
  char ts[48];
  json_t *model = json_loads(c->resp.model_json, JSON_DECODE_ANY, NULL);
  json_t *body;
  created_at(ts, sizeof ts);
  c->resp.sent = c->resp.tokens;
  if (c->resp.kind == MOCK_PULL) body = json_pack("{s:s}", "status", "success");
  else if (c->resp.kind == MOCK_OPENAI_CHAT) body = whole_openai(c, model);
  else body = whole_ollama(c, model, ts);
  json_decref(model);
  mock_respond_json(c, 200, body);
  mock_conn_finish(c);
}

/* ---- the stream's clock ---- */

/* X-Mock-Stall-After / -Reset-After / -Close-After: true when one fired. */
static bool stream_fault(mock_conn_t *c) {
  mock_resp_t *r = &c->resp;
  long sent = (long)r->sent;
  if (sent == r->stall_after) return true; /* nothing more; the connection stays open */
  int cut = mock_fault_cut_after();
  bool cut_now = cut >= 0 && sent >= cut;
  if (!cut_now && sent != r->reset_after && sent != r->close_after) return false;
  bool reset = cut_now || sent == r->reset_after;
  mock_event_end(c, reset ? "reset" : "close", r->sent);
  mock_conn_abort(c, reset);
  return true;
}

static void stream_tick(uv_timer_t *t) {
  mock_conn_t *c = t->data;
  mock_resp_t *r = &c->resp;
  if (stream_fault(c)) return;
  if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > MOCK_WRITE_HIGH_WATER) {
    uv_timer_start(t, stream_tick, 5, 0); /* the client reads slowly: wait */
    return;
  }
  if (r->sent < r->tokens) {
    stream_send_token(c);
    r->sent++;
    uv_timer_start(t, stream_tick, r->delay_ms, 0);
    return;
  }
  if (r->early && !r->body_done) {
    r->waiting_body = true;
    return;
  }
  stream_send_final(c);
  mock_conn_finish(c);
}

static void stream_on_first_byte(uv_timer_t *t) {
  mock_conn_t *c = t->data;
  mock_resp_t *r = &c->resp;
  bool sse = r->kind == MOCK_OPENAI_CHAT;
  mock_write_head(c, 200, sse ? "text/event-stream" : "application/x-ndjson", -1);
  r->headers_sent = true;
  if (r->kind == MOCK_PULL) {
    static const char manifest[] = "{\"status\":\"pulling manifest\"}\n";
    mock_write_chunk(c, manifest, sizeof manifest - 1);
  }
  uv_timer_start(t, stream_tick, r->delay_ms, 0);
}

/* ---- starting ---- */

/* prompt_eval_count for the request body (NULL: unknown): its rendered tokens. */
static unsigned prompt_tokens(mock_kind_t kind, json_t *req) {
  if (!req) return 1;
  mock_tokens_t t = {0};
  mock_prompt_render(&t, kind == MOCK_GENERATE, req);
  unsigned n = (unsigned)t.len;
  mock_tokens_free(&t);
  return n;
}

static int ctl_or(int v, unsigned def) { return v >= 0 ? v : (int)def; }

static void stream_setup(mock_conn_t *c, mock_kind_t kind, const char *model, json_t *req) {
  mock_resp_t *r = &c->resp;
  const mock_ctl_t *ctl = &c->ctl;
  json_t *name = json_string(model);
  r->active = true;
  r->kind = kind;
  r->early = ctl->early && !c->parked;
  r->tokens = (unsigned)ctl_or(ctl->tokens, mock_opts.tokens);
  r->delay_ms = (unsigned)ctl_or(ctl->delay_ms, mock_opts.delay_ms);
  r->stall_after = ctl->stall_after;
  r->reset_after = ctl->reset_after;
  r->close_after = ctl->close_after;
  r->line_bytes = ctl->line_bytes > 0 ? (unsigned)ctl->line_bytes : 0;
  r->stamp = ctl->stamp;
  r->include_usage = json_is_true(json_object_get(json_object_get(req, "stream_options"), "include_usage"));
  r->prompt_tokens = prompt_tokens(kind, req);
  r->model_json = json_dumps(name ? name : json_string(""), JSON_ENCODE_ANY);
  r->start_ns = mock_now_ns();
  json_decref(name);
}

/* Begin a generation (or pull) response for model; req is the parsed body
 * (NULL when started early, before the body). */
void mock_stream_start(mock_conn_t *c, mock_kind_t kind, const char *model, json_t *req, bool streaming) {
  mock_stream_start_cached(c, kind, model, req, streaming, 0);
}

/* The same, cached of the prompt's tokens served by a slot's cache: the
 * first token waits for the rest to be evaluated (--prompt-eval-us-per-token). */
void mock_stream_start_cached(mock_conn_t *c, mock_kind_t kind, const char *model, json_t *req, bool streaming,
                              unsigned cached) {
  mock_resp_t *r = &c->resp;
  mock_stream_clear(r);
  stream_setup(c, kind, model, req);
  r->streaming = streaming;
  r->prompt_cached = cached < r->prompt_tokens ? cached : 0;
  uint64_t eval_ms = (uint64_t)(r->prompt_tokens - r->prompt_cached) * mock_opts.prompt_eval_us_per_token / 1000;
  uint64_t first = (uint64_t)ctl_or(c->ctl.first_byte_ms, 0) + eval_ms;
  if (streaming) uv_timer_start(&c->timer, stream_on_first_byte, first, 0);
  else uv_timer_start(&c->timer, stream_on_whole, first + (uint64_t)r->tokens * r->delay_ms, 0);
}

/* Early mode: the request body has ended; send the final object if the
 * tokens were already out. */
void mock_stream_body_done(mock_conn_t *c) {
  mock_resp_t *r = &c->resp;
  r->body_done = true;
  r->body_bytes = c->req.body_bytes;
  if (!r->waiting_body) return;
  r->waiting_body = false;
  stream_send_final(c);
  mock_conn_finish(c);
}
