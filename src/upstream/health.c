/* Active health checks (tollgate/health.h). Each checked server has a
 * timer and at most one call in flight; a check is GET /api/tags, then GET
 * /api/ps, each a tg_http_call under the health timeout. A configuration
 * that replaces another stops the old checks: their timers close at once,
 * a call under way is left to end and its check is freed then. */
#include <jansson.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate/health.h"
#include "tollgate/http-client.h"
#include "tollgate/log.h"
#include "tollgate/model-name.h"
#include "tollgate/servers.h"

#define CHECK_MAX_RESPONSE (4u << 20) /* a catalogue of many models fits */

typedef struct check {
  uv_timer_t timer;
  struct sockaddr_storage addr;
  char host[256];     /* the Host field */
  char upstream[128]; /* its upstream's name, for the log */
  tg_health_conf h;
  tg_server_state *st;
  struct check *next;
  uint8_t calling; /* a call is in flight */
  uint8_t stopped; /* replaced or stopped: freed when its call (if any) ends and its timer closed */
  uint8_t timer_open;
  uint8_t step; /* 0: /api/tags, 1: /api/ps */
} check;

#define REFRESH_POLL_MS 100 /* how soon a catalogue a worker found stale is read again */

static struct {
  uv_loop_t *loop;
  check *list;
  uv_timer_t *refresh; /* looks for servers whose catalogue is stale (tg_server_forget_model) */
} H;

static void check_free_if_done(check *k) {
  if (k->stopped && !k->calling && !k->timer_open) free(k);
}

static void timer_closed(uv_handle_t *t) {
  check *k = t->data;
  k->timer_open = 0;
  check_free_if_done(k);
}

static void check_result(check *k, int ok, const char *why) {
  if (ok) {
    if (tg_server_passed(k->st, &k->h, 1))
      tg_log_info("upstream %s: server %s is up again after %u good checks", k->upstream, k->st->addr_text,
                  k->h.passes);
  } else if (tg_server_failed(k->st, &k->h)) {
    tg_log_error("upstream %s: server %s is down after %u failures in a row (the last: check %s)", k->upstream,
                 k->st->addr_text, k->h.fails, why);
  }
  __atomic_store_n(&k->st->checked, 1, __ATOMIC_RELAXED);
}

char *tg_health_catalogue(const char *body, size_t n) {
  json_t *root = json_loadb(body, n, 0, NULL);
  json_t *models = json_is_object(root) ? json_object_get(root, "models") : NULL;
  if (!json_is_array(models)) {
    json_decref(root);
    return NULL;
  }
  tg_buf out = {0};
  size_t i;
  json_t *m;
  int bad = 0;
  json_array_foreach(models, i, m) {
    json_t *name = json_is_object(m) ? json_object_get(m, "name") : NULL;
    if (!json_is_string(name)) name = json_is_object(m) ? json_object_get(m, "model") : NULL;
    if (!json_is_string(name)) continue;
    char normal[TG_MODEL_NAME_MAX + 1];
    long len = tg_model_normal(json_string_value(name), json_string_length(name), normal, sizeof normal);
    if (len <= 0) continue;
    normal[len] = '\n';
    bad |= tg_buf_append(&out, normal, (size_t)len + 1) < 0;
  }
  json_decref(root);
  if (bad || tg_buf_reserve(&out, 1) < 0) { /* the NUL: an empty list is a list too */
    tg_buf_free(&out);
    return NULL;
  }
  out.data[out.len] = '\0';
  return out.data;
}

static int check_call(check *k);

static void check_done(tg_http_response *r, void *data) {
  check *k = data;
  k->calling = 0;
  if (k->stopped) {
    check_free_if_done(k);
    return;
  }
  char why[96];
  if (r->status != 200) {
    if (r->status) snprintf(why, sizeof why, "%s answered %d", k->step ? "/api/ps" : "/api/tags", r->status);
    else
      snprintf(why, sizeof why, "%s: %s", k->step ? "/api/ps" : "/api/tags",
               r->why                       ? r->why
               : tg_up_error_name(r->error) ? tg_up_error_name(r->error)
                                            : "failed");
    check_result(k, 0, why);
    return;
  }
  if (k->step == 0) {
    char *models = tg_health_catalogue(r->body.data, r->body.len);
    if (!models) {
      check_result(k, 0, "/api/tags is not a model list");
      return;
    }
    tg_server_set_models(k->st, models);
    k->step = 1;
    if (check_call(k) == 0) return;
    check_result(k, 0, "/api/ps could not be started");
    return;
  }
  char *loaded = tg_health_catalogue(r->body.data, r->body.len);
  if (!loaded) {
    check_result(k, 0, "/api/ps is not a model list");
    return;
  }
  tg_server_set_loaded(k->st, loaded);
  check_result(k, 1, NULL);
}

static int check_call(check *k) {
  tg_http_target to = {.addr = (const struct sockaddr *)&k->addr};
  tg_http_request rq = {
      .method = "GET",
      .target = k->step ? "/api/ps" : "/api/tags",
      .host = k->host,
      .max_response = CHECK_MAX_RESPONSE,
      .timeout_ms = k->h.timeout_ms,
  };
  if (tg_http_call_start(H.loop, &to, &rq, check_done, k) < 0) return -1;
  k->calling = 1;
  return 0;
}

static void check_tick(uv_timer_t *t) {
  check *k = t->data;
  if (k->calling) return; /* the last one has not ended: its timeout will */
  k->step = 0;
  if (check_call(k) < 0) tg_log_error("upstream %s: cannot start a check of %s", k->upstream, k->st->addr_text);
}

static void check_stop(check *k) {
  k->stopped = 1;
  if (k->timer_open) uv_close((uv_handle_t *)&k->timer, timer_closed);
  else check_free_if_done(k);
}

/* A server a worker found with a stale catalogue (a 404 for a model it
 * listed) is checked at once rather than at its next interval. */
static void refresh_tick(uv_timer_t *t) {
  (void)t;
  for (check *k = H.list; k; k = k->next) {
    if (k->calling || !__atomic_load_n(&k->st->refresh, __ATOMIC_ACQUIRE)) continue;
    __atomic_store_n(&k->st->refresh, 0, __ATOMIC_RELAXED);
    k->step = 0;
    if (check_call(k) < 0) tg_log_error("upstream %s: cannot start a check of %s", k->upstream, k->st->addr_text);
  }
}

static void refresh_closed(uv_handle_t *h) { free(h); }

void tg_health_stop(void) {
  if (H.refresh) uv_close((uv_handle_t *)H.refresh, refresh_closed);
  H.refresh = NULL;
  while (H.list) {
    check *k = H.list;
    H.list = k->next;
    check_stop(k);
  }
}

static check *check_new(const tg_upstream_conf *up, const tg_server_conf *s) {
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
  char port[8];
  snprintf(port, sizeof port, "%u", s->addr.port);
  if (getaddrinfo(s->addr.host, port, &hints, &res) != 0) {
    tg_log_error("upstream %s: cannot resolve %s: its health is not checked", up->name, s->addr.host);
    return NULL;
  }
  check *k = calloc(1, sizeof *k);
  if (!k) {
    freeaddrinfo(res);
    return NULL;
  }
  memcpy(&k->addr, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  k->st = tg_server_state_of(up, s);
  if (!k->st) {
    free(k);
    return NULL;
  }
  if (up->host_header) snprintf(k->host, sizeof k->host, "%s", up->host_header);
  else snprintf(k->host, sizeof k->host, "%s", k->st->addr_text);
  snprintf(k->upstream, sizeof k->upstream, "%s", up->name);
  k->h = up->health;
  return k;
}

int tg_health_start(uv_loop_t *loop, const tg_config *cfg) {
  tg_health_stop();
  H.loop = loop;
  for (size_t u = 0; u < cfg->nupstreams; u++) {
    const tg_upstream_conf *up = &cfg->upstreams[u];
    if (up->nservers < 2 && !up->health.written) continue;
    for (size_t i = 0; i < up->nservers; i++) {
      check *k = check_new(up, &up->servers[i]);
      if (!k) continue;
      uv_timer_init(loop, &k->timer); /* a timer takes no descriptor: cannot fail */
      k->timer.data = k;
      k->timer_open = 1;
      k->next = H.list;
      H.list = k;
      uv_timer_start(&k->timer, check_tick, 0, k->h.interval_ms); /* the first check at once */
    }
  }
  if (H.list && (H.refresh = malloc(sizeof *H.refresh))) {
    uv_timer_init(loop, H.refresh);
    uv_timer_start(H.refresh, refresh_tick, REFRESH_POLL_MS, REFRESH_POLL_MS);
  }
  return 0;
}
