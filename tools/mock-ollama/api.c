/* api.c: the POST routes that take a model: /api/generate, /api/chat,
 * /v1/chat/completions, /api/pull, /api/show, /api/embed, /api/embeddings,
 * with Ollama's validation order and error messages. */
#include "api.h"
#include "body.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define EMBED_DIMS 768

/* Parse the body and check the common string/bool fields; responds with
 * the error and returns NULL when the body is unusable. */
static json_t *api_body(mock_conn_t *c, const char *go_type, bool openai, bool native_eof) {
  char err[256];
  bool empty;
  json_t *req = mock_body_parse(&c->req.body, go_type, &empty, err, sizeof err);
  if (!req) {
    mock_respond_error(c, 400, empty && native_eof ? "missing request body" : err, openai);
    return NULL;
  }
  if (mock_body_field_ok(req, "model", JSON_STRING, go_type, err, sizeof err) &&
      mock_body_field_ok(req, "stream", JSON_TRUE, go_type, err, sizeof err))
    return req;
  mock_respond_error(c, 400, err, openai);
  json_decref(req);
  return NULL;
}

/* The requested model, or NULL after answering 400/404 as Ollama does. */
static const char *api_model(mock_conn_t *c, json_t *req, bool openai) {
  char msg[512];
  const char *model = json_string_value(json_object_get(req, "model"));
  if (!model || !*model) {
    mock_respond_error(c, 400, "model is required", openai);
    return NULL;
  }
  if (!mock_model_find(model)) {
    mock_sim_count("not_found");
    snprintf(msg, sizeof msg, "model \"%s\" not found, try pulling it first", model);
    mock_respond_error(c, 404, msg, openai);
    return NULL;
  }
  return model;
}

/* An empty prompt (or no messages) only loads the model: done_reason "load". */
static void api_load_only(mock_conn_t *c, mock_kind_t kind, const char *model) {
  char ts[48];
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  mock_format_time(ts, sizeof ts, (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec);
  json_t *o = json_pack("{s:s,s:s}", "model", model, "created_at", ts);
  if (kind == MOCK_GENERATE) json_object_set_new(o, "response", json_string(""));
  else json_object_set_new(o, "message", json_pack("{s:s,s:s}", "role", "assistant", "content", ""));
  json_object_set_new(o, "done", json_true());
  json_object_set_new(o, "done_reason", json_string("load"));
  mock_respond_json(c, 200, o);
}

static bool api_nothing_to_do(mock_kind_t kind, json_t *req) {
  if (kind == MOCK_GENERATE) {
    const char *p = json_string_value(json_object_get(req, "prompt"));
    return (!p || !*p) && json_array_size(json_object_get(req, "images")) == 0;
  }
  return json_array_size(json_object_get(req, "messages")) == 0;
}

/* /api/generate, /api/chat and /v1/chat/completions. */
void mock_api_generation(mock_conn_t *c, mock_kind_t kind) {
  bool openai = kind == MOCK_OPENAI_CHAT;
  const char *go_type = kind == MOCK_GENERATE ? "api.GenerateRequest"
                        : openai              ? "openai.ChatCompletionRequest"
                                              : "api.ChatRequest";
  char msg[512];
  json_t *req = api_body(c, go_type, openai, !openai);
  if (!req) return;
  const char *model;
  if (openai && json_array_size(json_object_get(req, "messages")) == 0)
    mock_respond_error(c, 400, "[] is too short - 'messages'", true);
  else if (!(model = api_model(c, req, openai)))
    ;
  else if (mock_model_find(model)->embedding) {
    snprintf(msg, sizeof msg, "\"%s\" does not support %s", model, kind == MOCK_GENERATE ? "generate" : "chat");
    mock_respond_error(c, 400, msg, openai);
  } else if (!openai && api_nothing_to_do(kind, req)) api_load_only(c, kind, model);
  else {
    json_t *stream = json_object_get(req, "stream");
    bool streaming = openai ? json_is_true(stream) : !json_is_false(stream);
    if (mock_opts.sim) mock_sim_submit(c, kind, model, req, streaming);
    else mock_stream_start(c, kind, model, req, streaming);
  }
  json_decref(req);
}

/* /api/pull and /api/create: any valid name "downloads" (or fails: --pull-fail). */
void mock_api_pull(mock_conn_t *c) {
  json_t *req = api_body(c, "api.PullRequest", false, true);
  if (!req) return;
  const char *model = json_string_value(json_object_get(req, "model"));
  if (!model || !*model) model = json_string_value(json_object_get(req, "name"));
  bool streaming = !json_is_false(json_object_get(req, "stream"));
  if (!model || !*model) mock_respond_error(c, 400, "invalid model name", false);
  else if (mock_opts.pull_fail && !streaming)
    mock_respond_error(c, 500, "pull model manifest: file does not exist", false);
  else mock_stream_start(c, MOCK_PULL, model, req, !json_is_false(json_object_get(req, "stream")));
  json_decref(req);
}

/* /api/show: "model" (or the older "name"). */
void mock_api_show(mock_conn_t *c) {
  char msg[512];
  json_t *req = api_body(c, "api.ShowRequest", false, true);
  if (!req) return;
  const char *model = json_string_value(json_object_get(req, "name"));
  if (!model || !*model) model = json_string_value(json_object_get(req, "model"));
  const mock_model_t *m = mock_model_find(model);
  if (!model || !*model) {
    mock_respond_error(c, 400, "model is required", false);
  } else if (!m) {
    snprintf(msg, sizeof msg, "model '%s' not found", model);
    mock_respond_error(c, 404, msg, false);
  } else {
    mock_respond_json(c, 200, mock_catalog_show(m));
  }
  json_decref(req);
}

/* A deterministic unit vector for a text (FNV-1a seeded values). */
static json_t *embed_vector(const char *text) {
  uint64_t h = 1469598103934665603ull;
  for (const char *p = text; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
  double v[EMBED_DIMS], norm = 0;
  for (int i = 0; i < EMBED_DIMS; i++) {
    h ^= h << 13, h ^= h >> 7, h ^= h << 17;
    v[i] = (double)(h % 2001) / 1000.0 - 1.0;
    norm += v[i] * v[i];
  }
  json_t *a = json_array();
  for (int i = 0; i < EMBED_DIMS; i++) json_array_append_new(a, json_real(norm > 0 ? v[i] / sqrt(norm) : 0));
  return a;
}

/* The inputs of /api/embed: a string or an array of strings; false when
 * the type is wrong. */
static bool embed_inputs(json_t *input, json_t *out_vectors, unsigned *tokens) {
  size_t i;
  json_t *s;
  if (!input || json_is_null(input)) return true;
  if (json_is_string(input)) {
    if (*json_string_value(input)) {
      json_array_append_new(out_vectors, embed_vector(json_string_value(input)));
      *tokens += (unsigned)json_string_length(input) / 4 + 1;
    }
    return true;
  }
  if (!json_is_array(input)) return false;
  json_array_foreach(input, i, s) {
    if (!json_is_string(s)) return false;
    json_array_append_new(out_vectors, embed_vector(json_string_value(s)));
    *tokens += (unsigned)json_string_length(s) / 4 + 1;
  }
  return true;
}

/* /api/embed: {"model","embeddings":[[...]],...}. */
void mock_api_embed(mock_conn_t *c) {
  json_t *req = api_body(c, "api.EmbedRequest", false, true);
  if (!req) return;
  const char *model = api_model(c, req, false);
  json_t *vectors = json_array();
  unsigned tokens = 0;
  if (!model) {
    json_decref(vectors);
  } else if (!embed_inputs(json_object_get(req, "input"), vectors, &tokens)) {
    json_decref(vectors);
    mock_respond_error(c, 400, "invalid input type", false);
  } else {
    mock_respond_json(c, 200,
                      json_pack("{s:s,s:o,s:i,s:i,s:i}", "model", model, "embeddings", vectors, "total_duration",
                                14143917, "load_duration", 1019500, "prompt_eval_count", tokens));
  }
  json_decref(req);
}

/* /api/embeddings (legacy): {"embedding":[...]}, empty for an empty prompt. */
void mock_api_embeddings(mock_conn_t *c) {
  json_t *req = api_body(c, "api.EmbeddingRequest", false, true);
  if (!req) return;
  if (api_model(c, req, false)) {
    const char *prompt = json_string_value(json_object_get(req, "prompt"));
    json_t *v = prompt && *prompt ? embed_vector(prompt) : json_array();
    mock_respond_json(c, 200, json_pack("{s:o}", "embedding", v));
  }
  json_decref(req);
}
