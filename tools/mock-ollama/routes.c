/* routes.c: which answer each request gets: the /_mock/ introspection
 * routes, the Host check, X-Mock-Busy and X-Mock-Echo, then Ollama's route
 * table (unknown method or path: Go's "404 page not found"). */
#include "api.h"
#include "mock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUSY_MSG "server busy, please try again.  maximum pending requests exceeded"

typedef struct route {
  const char *method, *path;
  void (*fn)(mock_conn_t *c, const char *path);
  bool prefix; /* path is a prefix ("/v1/models/" + name) */
} route_t;

static void text_ok(mock_conn_t *c, const char *text) {
  mock_respond(c, 200, "text/plain; charset=utf-8", text, strlen(text));
}

static void route_root(mock_conn_t *c, const char *path) {
  (void)path;
  text_ok(c, "Ollama is running");
}

static void route_version(mock_conn_t *c, const char *path) {
  (void)path;
  mock_respond_json(c, 200, json_pack("{s:s}", "version", MOCK_OLLAMA_VERSION));
}

static void route_tags(mock_conn_t *c, const char *path) {
  (void)path;
  mock_respond_json(c, 200, mock_catalog_tags());
}

static void route_ps(mock_conn_t *c, const char *path) {
  (void)path;
  mock_respond_json(c, 200, mock_opts.sim ? mock_sim_ps() : mock_catalog_ps());
}

static void route_empty_ok(mock_conn_t *c, const char *path) {
  (void)path;
  mock_respond(c, 200, NULL, "", 0);
}

static void route_generate(mock_conn_t *c, const char *path) {
  (void)path;
  mock_api_generation(c, MOCK_GENERATE);
}

static void route_chat(mock_conn_t *c, const char *path) {
  (void)path;
  mock_api_generation(c, MOCK_CHAT);
}

static void route_openai_chat(mock_conn_t *c, const char *path) {
  (void)path;
  mock_api_generation(c, MOCK_OPENAI_CHAT);
}

static void route_pull(mock_conn_t *c, const char *path) {
  (void)path;
  mock_api_pull(c);
}

static void route_show(mock_conn_t *c, const char *path) {
  (void)path;
  mock_api_show(c);
}

static void route_embed(mock_conn_t *c, const char *path) {
  (void)path;
  mock_api_embed(c);
}

static void route_embeddings(mock_conn_t *c, const char *path) {
  (void)path;
  mock_api_embeddings(c);
}

static void route_openai_models(mock_conn_t *c, const char *path) {
  (void)path;
  mock_respond_json(c, 200, mock_catalog_openai_models());
}

static void route_openai_model(mock_conn_t *c, const char *path) {
  const char *name = path + strlen("/v1/models/");
  const mock_model_t *m = mock_model_find(name);
  char msg[512];
  if (m) {
    mock_respond_json(c, 200, mock_catalog_openai_model(m));
    return;
  }
  snprintf(msg, sizeof msg, "model \"%s\" not found", name);
  mock_respond_error(c, 404, msg, true);
}

static const route_t routes[] = {
    {"GET", "/", route_root, false},
    {"HEAD", "/", route_root, false},
    {"GET", "/api/version", route_version, false},
    {"HEAD", "/api/version", route_version, false},
    {"GET", "/api/tags", route_tags, false},
    {"HEAD", "/api/tags", route_tags, false},
    {"GET", "/api/ps", route_ps, false},
    {"POST", "/api/show", route_show, false},
    {"POST", "/api/generate", route_generate, false},
    {"POST", "/api/chat", route_chat, false},
    {"POST", "/api/embed", route_embed, false},
    {"POST", "/api/embeddings", route_embeddings, false},
    {"POST", "/api/pull", route_pull, false},
    {"POST", "/api/create", route_pull, false},
    {"POST", "/api/copy", route_empty_ok, false},
    {"DELETE", "/api/delete", route_empty_ok, false},
    {"POST", "/v1/chat/completions", route_openai_chat, false},
    {"GET", "/v1/models", route_openai_models, false},
    {"GET", "/v1/models/", route_openai_model, true},
};

static const route_t *route_find(const char *method, const char *path) {
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
    const route_t *r = &routes[i];
    if (strcmp(r->method, method) != 0) continue;
    if (r->prefix ? strncmp(path, r->path, strlen(r->path)) == 0 && path[strlen(r->path)] : strcmp(path, r->path) == 0)
      return r;
  }
  return NULL;
}

/* The request target without its query string. */
static void route_path(const mock_conn_t *c, char *out, size_t outlen) {
  const char *url = c->req.url.p ? c->req.url.p : "/";
  size_t n = strcspn(url, "?#");
  if (n >= outlen) n = outlen - 1;
  memcpy(out, url, n);
  out[n] = '\0';
}

static bool route_host_ok(const mock_conn_t *c) {
  if (!mock_opts.host_check || !mock_opts.loopback) return true;
  return mock_host_allowed(mock_req_header(&c->req, "host"));
}

/* X-Mock-Echo: what the mock received. */
static void route_echo(mock_conn_t *c, const char *path) {
  (void)path;
  json_t *o = json_object();
  json_object_set_new(o, "method", json_string(c->req.method));
  json_object_set_new(o, "path", json_string(c->req.url.p ? c->req.url.p : "/"));
  json_object_set_new(o, "headers", mock_req_headers_json(&c->req));
  json_object_set_new(o, "body_bytes", json_integer((json_int_t)c->req.body_bytes));
  mock_respond_json(c, 200, o);
}

/* /_mock/events and /_mock/reset: no Host check, not logged. */
static void route_mock(mock_conn_t *c, const char *path) {
  bool get = strcmp(c->req.method, "GET") == 0, post = strcmp(c->req.method, "POST") == 0;
  if (get && strcmp(path, "/_mock/events") == 0) {
    size_t len;
    char *text = mock_events_dump(&len);
    mock_respond(c, 200, "application/json; charset=utf-8", text, len);
    free(text);
  } else if (post && strcmp(path, "/_mock/reset") == 0) {
    mock_events_reset();
    mock_fault_clear();
    mock_sim_stats_reset();
    mock_respond_json(c, 200, json_pack("{s:s}", "status", "ok"));
  } else if (post && strcmp(path, "/_mock/fault") == 0) {
    mock_fault_route(c);
  } else if (get && strcmp(path, "/_mock/stats") == 0) {
    mock_respond_json(c, 200, mock_sim_stats());
  } else {
    mock_respond(c, 404, "text/plain", "404 page not found", 18);
  }
}

static bool is_openai_path(const char *path) { return strncmp(path, "/v1/", 4) == 0; }

/* The routes a busy Ollama refuses (those that take a model to run). */
static bool is_model_run(const char *path) {
  return strcmp(path, "/api/generate") == 0 || strcmp(path, "/api/chat") == 0 || strcmp(path, "/api/embed") == 0 ||
         strcmp(path, "/api/embeddings") == 0 || strcmp(path, "/v1/chat/completions") == 0;
}

/* Answer a complete request. Synchronous answers log their "done" event
 * here; timer-driven ones when they finish. */
void mock_route(mock_conn_t *c) {
  char path[4096];
  route_path(c, path, sizeof path);
  if (strncmp(path, "/_mock/", 7) == 0) {
    route_mock(c, path);
    return;
  }
  const route_t *r = route_find(c->req.method, path);
  mock_fault_t fault = mock_fault_mode();
  if (fault == MOCK_FAULT_RESET) {
    mock_event_end(c, "reset", 0);
    mock_conn_abort(c, true);
    return;
  }
  bool busy = c->ctl.busy || (fault == MOCK_FAULT_BUSY && is_model_run(path));
  if (busy && !c->ctl.busy) mock_sim_count("busy");
  if (!route_host_ok(c)) mock_respond(c, 403, NULL, "", 0);
  else if (busy) mock_respond_error(c, 503, BUSY_MSG, is_openai_path(path));
  else if (c->ctl.echo && strcmp(c->req.method, "POST") == 0) route_echo(c, path);
  else if (!r) mock_respond(c, 404, "text/plain", "404 page not found", 18);
  else r->fn(c, path);
  if (!c->resp.active) mock_event_end(c, "done", 0);
}

/* X-Mock-Early: start a streaming route as soon as the headers are in;
 * false when the request is not one (it is then answered normally). */
bool mock_route_early(mock_conn_t *c) {
  static const struct {
    const char *path;
    mock_kind_t kind;
  } early[] = {{"/api/generate", MOCK_GENERATE},
               {"/api/chat", MOCK_CHAT},
               {"/v1/chat/completions", MOCK_OPENAI_CHAT},
               {"/api/pull", MOCK_PULL}};
  char path[4096];
  route_path(c, path, sizeof path);
  if (strcmp(c->req.method, "POST") != 0 || !route_host_ok(c) || c->ctl.busy || c->ctl.echo) return false;
  for (size_t i = 0; i < sizeof early / sizeof early[0]; i++) {
    if (strcmp(path, early[i].path) == 0) {
      mock_stream_start(c, early[i].kind, "llama3.2", NULL, true);
      return true;
    }
  }
  return false;
}
