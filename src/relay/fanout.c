/* One request to several servers (tollgate/fanout.h): the servers it goes
 * to, the calls through tollgate's own HTTP client on the worker's loop
 * (the client held meanwhile), and the whole answers: the merged listings
 * and the outcome of a delete or copy. Pull and create stream
 * (fanout-stream.c). */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fanout-int.h"
#include "tollgate/limits.h"
#include "tollgate/model-name.h"
#include "tollgate/quota.h"

#define FAN_LISTING_MAX (8u << 20) /* a catalogue of many models fits */
#define FAN_ANSWER_MAX (1u << 20)  /* delete, copy: a short answer */
#define FAN_STREAM_KEEP 4096       /* pull, create: read as lines by the body hook, little kept */

void tg_fanout_reply(tg_exchange *x, int status, const char *type, const char *body, size_t len) {
  tg_buf h = {0};
  int rc = tg_buf_printf(&h, "Content-Type: %s\r\n", type);
  if (x->request_id[0]) rc |= tg_buf_printf(&h, "X-Request-Id: %s\r\n", x->request_id);
  if (x->site->limits) rc |= tg_cors_lines(x, &h);
  if (rc || tg_buf_reserve(&h, 1) < 0) {
    tg_buf_free(&h);
    tg_exchange_fail(x, 500, "out of memory");
    return;
  }
  h.data[h.len] = 0;
  tg_exchange_reply(x, status, h.data, body, len);
  tg_buf_free(&h);
}

void tg_fanout_list_servers(const fanout *f, int ok, int (*is_ok)(const fan_call *), tg_buf *out) {
  int first = 1;
  for (unsigned i = 0; i < f->n; i++) {
    const fan_call *k = &f->calls[i];
    if (is_ok(k) != ok) continue;
    tg_buf_printf(out, ok ? "%s%s" : "%s%s (%s)", first ? "" : ", ", k->server, k->why);
    first = 0;
  }
}

static void fan_free(fanout *f) {
  for (unsigned i = 0; i < f->n; i++) {
    tg_buf_free(&f->calls[i].body);
    tg_buf_free(&f->calls[i].line);
  }
  free(f);
}

/* --- the whole answers ------------------------------------------------- */

static void answer_listing(fanout *f) {
  tg_fanout_part parts[TG_MAX_SERVERS];
  size_t np = 0, used = 0, len = 0;
  for (unsigned i = 0; i < f->n; i++)
    if (f->calls[i].status == 200)
      parts[np++] = (tg_fanout_part){f->calls[i].body.data, f->calls[i].body.len, f->calls[i].server};
  char *text = np ? tg_fanout_merge(f->kind, parts, np, &len, &used) : NULL;
  tg_buf allowed = {0}; /* a user with a model allow-list sees only those (docs/limits.md) */
  if (text && used && f->x->adm.filter_listing && tg_models_filter_listing(f->x->adm.models, text, len, &allowed) < 0) {
    free(text), text = NULL, np = 0;
  } else if (text && used && f->x->adm.filter_listing) {
    free(text);
    text = allowed.data, len = allowed.len, allowed = (tg_buf){0};
  }
  if (text && used) tg_fanout_reply(f->x, 200, "application/json; charset=utf-8", text, len);
  else if (np && !text) tg_exchange_fail(f->x, 500, "out of memory");
  else tg_exchange_fail(f->x, 502, "no server of the upstream answered the listing");
  free(text);
}

static int answered_2xx(const fan_call *k) { return k->status >= 200 && k->status < 300; }

/* Delete, copy: 200 when every server did it; else the first failure's
 * status (502 when no server answered), its message naming each server
 * that failed and why, and those that did it. */
static void answer_each(fanout *f) {
  int status = 200;
  for (unsigned i = 0; i < f->n && status == 200; i++)
    if (!answered_2xx(&f->calls[i])) status = f->calls[i].status ? f->calls[i].status : 502;
  tg_buf msg = {0};
  json_t *servers = json_array();
  for (unsigned i = 0; i < f->n; i++) {
    const fan_call *k = &f->calls[i];
    json_t *o = json_pack("{s:s,s:i}", "server", k->server, "status", k->status);
    if (o && !answered_2xx(k)) json_object_set_new(o, "error", json_string(k->why));
    json_array_append_new(servers, o);
  }
  json_t *root = json_pack("{s:o}", "servers", servers);
  if (status != 200 && root) {
    tg_buf_printf(&msg, "%s failed on ", f->kind == TG_FANOUT_DELETE ? "delete" : "copy");
    tg_fanout_list_servers(f, 0, answered_2xx, &msg);
    int any = 0;
    for (unsigned i = 0; i < f->n; i++) any |= answered_2xx(&f->calls[i]);
    if (any) tg_buf_puts(&msg, "; done on "), tg_fanout_list_servers(f, 1, answered_2xx, &msg);
    json_object_set_new(root, "error", json_stringn(msg.data ? msg.data : "", msg.len));
  }
  char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
  if (text) tg_fanout_reply(f->x, status, "application/json; charset=utf-8", text, strlen(text));
  else tg_exchange_fail(f->x, 500, "out of memory");
  free(text);
  json_decref(root);
  tg_buf_free(&msg);
}

/* The catalogue kept of a server (its last /api/tags, tollgate/servers.h)
 * follows what was just done there: the next request for the model is
 * routed at once, not after the next health check. Not known yet: the
 * check will tell. */
static void catalogue_note(tg_server_state *st, const char *model, int add) {
  size_t n = strlen(model);
  if (!st || !n) return;
  tg_buf out = {0};
  int has = 0, known;
  pthread_mutex_lock(&st->lock);
  known = st->models != NULL;
  for (const char *p = st->models ? st->models : "", *end; (end = strchr(p, '\n')); p = end + 1) {
    int same = (size_t)(end - p) == n && memcmp(p, model, n) == 0;
    has |= same;
    if (!same || add) tg_buf_append(&out, p, (size_t)(end - p) + 1);
  }
  pthread_mutex_unlock(&st->lock);
  if (known && add && !has) tg_buf_append(&out, model, n), tg_buf_append(&out, "\n", 1);
  if (known && has != add && tg_buf_reserve(&out, 1) == 0) {
    out.data[out.len] = 0;
    tg_server_set_models(st, out.data); /* st owns it now */
    return;
  }
  tg_buf_free(&out);
}

static void catalogues_follow(const fanout *f) {
  for (unsigned i = 0; i < f->n; i++) {
    const fan_call *k = &f->calls[i];
    if (f->kind == TG_FANOUT_PULL || f->kind == TG_FANOUT_CREATE) {
      if (tg_fanout_stream_ok(k)) catalogue_note(k->st, f->model, 1);
    } else if (answered_2xx(k)) {
      catalogue_note(k->st, f->kind == TG_FANOUT_COPY ? f->dest : f->model, f->kind == TG_FANOUT_COPY);
    }
  }
}

/* Every call has ended: the client's answer, unless it went away. */
static void fan_end(fanout *f) {
  if (f->kind >= TG_FANOUT_FIRST_BODY) catalogues_follow(f);
  if (tg_exchange_release(f->x)) {
    if (f->kind <= TG_FANOUT_PS) answer_listing(f);
    else if (f->kind <= TG_FANOUT_CREATE) tg_fanout_stream_end(f);
    else answer_each(f);
  }
  fan_free(f);
}

static void call_done(tg_http_response *r, void *data) {
  fan_call *k = data;
  fanout *f = k->f;
  k->status = r->status;
  if (!r->status)
    snprintf(k->why, sizeof k->why, "%s",
             r->why                       ? r->why
             : tg_up_error_name(r->error) ? tg_up_error_name(r->error)
                                          : "failed");
  if (f->kind >= TG_FANOUT_PULL && f->kind <= TG_FANOUT_CREATE) {
    tg_fanout_stream_call_end(k);
  } else if (r->status) {
    tg_buf_append(&k->body, r->body.data, r->body.len);
    if (!answered_2xx(k)) { /* Ollama's {"error":...}, else the status */
      json_t *o = json_loadb(r->body.data, r->body.len, 0, NULL);
      json_t *e = json_is_object(o) ? json_object_get(o, "error") : NULL;
      if (json_is_string(e)) snprintf(k->why, sizeof k->why, "%s", json_string_value(e));
      else snprintf(k->why, sizeof k->why, "answered %d", r->status);
      json_decref(o);
    }
  }
  if (--f->pending == 0) fan_end(f);
}

/* --- the servers it goes to -------------------------------------------- */

static void server_text(const tg_server_conf *s, char *out, size_t cap) {
  snprintf(out, cap, "%s:%u", s->addr.host, s->addr.port);
}

/* X-Tollgate-Server: the server it names (bit i), 0 without the field;
 * -1 after a 400 for a name that is no server of the upstream. */
static int64_t named_server(tg_exchange *x, tg_pool_group *g) {
  const tg_head *h = &x->req;
  int at = tg_head_find(h, "x-tollgate-server");
  if (at < 0) return 0;
  tg_span v = h->fields[at].value;
  const char *name = tg_head_str(h, v);
  char addr[80];
  for (unsigned i = 0; i < g->n; i++) {
    server_text(g->pools[i].server, addr, sizeof addr);
    if (strlen(addr) == v.len && memcmp(addr, name, v.len) == 0) return (int64_t)(1ull << i);
  }
  tg_buf msg = {0};
  tg_buf_printf(&msg, "X-Tollgate-Server: '%.*s' is not a server of upstream '%s' (its servers: ",
                (int)(v.len > 100 ? 100 : v.len), name, g->conf->name);
  for (unsigned i = 0; i < g->n; i++) {
    server_text(g->pools[i].server, addr, sizeof addr);
    tg_buf_printf(&msg, "%s%s", i ? ", " : "", addr);
  }
  tg_buf_puts(&msg, ")");
  if (tg_buf_reserve(&msg, 1) == 0) msg.data[msg.len] = 0;
  tg_exchange_fail(x, 400, msg.data ? msg.data : "X-Tollgate-Server names no server of the upstream");
  tg_buf_free(&msg);
  return -1;
}

/* The servers a request goes to (bit i: server i): the one named, else
 * every one up and not draining; for delete and copy, only those whose
 * catalogue lists the model (or is not known yet). 0 after an answer. */
static uint64_t targets(tg_exchange *x, tg_pool_group *g, tg_fanout_kind kind, const char *model) {
  int64_t named = named_server(x, g);
  if (named) return named < 0 ? 0 : (uint64_t)named;
  uint64_t t = 0, up = 0;
  for (unsigned i = 0; i < g->n; i++) {
    const tg_pool *p = &g->pools[i];
    if (p->server->drain || !tg_server_up(p->st)) continue;
    up |= 1ull << i;
    if (kind < TG_FANOUT_DELETE || !model[0] || tg_server_has_model(p->st, model) != 0) t |= 1ull << i;
  }
  if (!up) {
    char msg[200];
    snprintf(msg, sizeof msg, "no server of upstream '%s' is up", g->conf->name);
    x->leg.up_error = (uint8_t)TG_UPERR_UNAVAILABLE;
    tg_exchange_fail(x, 502, msg);
  } else if (!t) {
    char msg[TG_MODEL_MAX + 40];
    snprintf(msg, sizeof msg, "model '%s' not found", model);
    tg_exchange_fail(x, 404, msg);
  }
  return t;
}

/* What the body says: the model (delete: "model" or "name"; copy:
 * "source"), in its normal form, and whether it asks for a stream. */
static void body_facts(tg_exchange *x, fanout *f) {
  json_t *o = json_loadb(x->adm.whole.data ? x->adm.whole.data : "", x->adm.whole.len, 0, NULL);
  json_t *m = NULL;
  if (json_is_object(o)) {
    m = json_object_get(o, f->kind == TG_FANOUT_COPY ? "source" : "model");
    if (!json_is_string(m) || !json_string_length(m)) m = json_object_get(o, "name");
    f->streaming = !json_is_false(json_object_get(o, "stream"));
  }
  if (json_is_string(m) && tg_model_normal(json_string_value(m), json_string_length(m), f->model, sizeof f->model) < 0)
    f->model[0] = 0;
  json_t *dest = f->kind == TG_FANOUT_COPY ? json_object_get(o, "destination") : NULL;
  if (json_is_string(dest) &&
      tg_model_normal(json_string_value(dest), json_string_length(dest), f->dest, sizeof f->dest) < 0)
    f->dest[0] = 0;
  json_decref(o);
}

static int call_start(tg_exchange *x, tg_pool_group *g, fan_call *k, unsigned i) {
  static const char *const paths[TG_FANOUT_COUNT] = {"",          "/api/tags",   "/v1/models",  "/api/ps",
                                                     "/api/pull", "/api/create", "/api/delete", "/api/copy"};
  fanout *f = k->f;
  const tg_upstream_conf *up = g->conf;
  char headers[512] = "";
  const char *extra = x->adm.auth_headers;
  int has_body = f->kind >= TG_FANOUT_FIRST_BODY;
  if (has_body || extra)
    snprintf(headers, sizeof headers, "%s%s", has_body ? "Content-Type: application/json\r\n" : "", extra ? extra : "");
  int streamed = f->kind == TG_FANOUT_PULL || f->kind == TG_FANOUT_CREATE;
  tg_http_target to = {.addr = (const struct sockaddr *)&g->pools[i].addr};
  tg_http_request rq = {
      .method = f->kind == TG_FANOUT_DELETE ? "DELETE"
                : has_body                  ? "POST"
                                            : "GET",
      .target = paths[f->kind],
      .host = up->host_header ? up->host_header : k->server,
      .headers = headers[0] ? headers : NULL,
      .body = has_body ? (x->adm.whole.data ? x->adm.whole.data : "") : NULL,
      .body_len = has_body ? x->adm.whole.len : 0,
      .max_response = f->kind <= TG_FANOUT_PS ? FAN_LISTING_MAX : FAN_ANSWER_MAX,
      .keep_body = streamed ? FAN_STREAM_KEEP : 0,
      .timeout_ms = f->kind <= TG_FANOUT_PS ? up->health.timeout_ms : 0,
      .connect_ms = up->dial_timeout_ms,
      .idle_ms = up->idle_timeout_ms,
      .on_body = streamed ? tg_fanout_stream_data : NULL,
      .on_body_data = k,
  };
  return tg_http_call_start(&x->w->loop, &to, &rq, call_done, k);
}

int tg_fanout_take(tg_exchange *x, tg_pool_group *g) {
  if (!x->path.len) return 0;
  tg_fanout_kind kind = tg_fanout_kind_of(x->method, tg_exchange_path(x), x->path.len);
  if (kind == TG_FANOUT_NONE) return 0;
  fanout *f = calloc(1, sizeof *f + g->n * sizeof f->calls[0]);
  if (!f) {
    tg_exchange_fail(x, 500, "out of memory");
    return 1;
  }
  f->x = x;
  f->kind = kind;
  f->chunked = x->http_minor >= 1;
  if (kind >= TG_FANOUT_FIRST_BODY) body_facts(x, f);
  uint64_t t = targets(x, g, kind, f->model);
  for (unsigned i = 0; i < g->n; i++) {
    if (!(t >> i & 1)) continue;
    fan_call *k = &f->calls[f->n++];
    k->f = f;
    server_text(g->pools[i].server, k->server, sizeof k->server);
    k->st = g->pools[i].st;
    if (call_start(x, g, k, i) == 0) f->pending++;
    else snprintf(k->why, sizeof k->why, "out of memory");
  }
  if (!t) {
    free(f);
  } else {
    tg_exchange_hold(x); /* the calls refer to x: it stays until the last one ends */
    if (!f->pending) fan_end(f);
  }
  return 1;
}
