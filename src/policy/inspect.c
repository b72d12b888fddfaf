/* Model allow-lists and token quotas: an admission phase (see
 * tollgate/quota.h) after authentication, before the connection and rate
 * limits. A request whose body decides something (the model a user
 * with an allow-list names, the stream_options of a streamed OpenAI
 * request under a quota) is read whole, up to the route's body limit,
 * before the upstream is dialled: a relay that streams the body up cannot
 * take back bytes already sent. Every other request keeps the streaming
 * path. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "limit-wait.h"
#include "policy.h"
#include "tollgate/body-buffer.h"
#include "tollgate/body-temp.h"
#include "tollgate/metrics.h"
#include "tollgate/quota.h"

static int quota_applies(const tg_exchange *x, const tg_quota_conf *q, tg_route_kind kind) {
  return q && (q->per_minute || q->per_day) && x->adm.user && (q->routes & (1u << kind));
}

/* 429 with the time the exhausted window ends (unix seconds). */
static void quota_refuse_at(tg_exchange *x, const tg_quota_conf *q, int per_day, int64_t now, int64_t reset) {
  char when[32], msg[160];
  time_t r = (time_t)reset;
  struct tm tm;
  gmtime_r(&r, &tm);
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  snprintf(msg, sizeof msg, "token quota exceeded (%llu tokens per %s); it resets at %s",
           (unsigned long long)(per_day ? q->per_day : q->per_minute), per_day ? "day" : "minute", when);
  tg_limit_refuse(x, 429, "quota", "quota tokens", msg, (uint64_t)(reset - now) * 1000);
}

int tg_quota_refuse_here(tg_exchange *x) {
  const tg_quota_conf *q = x->site->limits->quota;
  int64_t now = (int64_t)time(NULL), reset = 0;
  int per_day = 0;
  if (!tg_quota_check(q, x->adm.user, now, &reset, &per_day)) return 0;
  quota_refuse_at(x, q, per_day, now, reset);
  return 1;
}

void tg_quota_refuse_until(tg_exchange *x, int per_day, uint64_t ms) {
  const tg_quota_conf *q = x->site->limits->quota;
  int64_t now = (int64_t)time(NULL);
  if (per_day < 0) per_day = q->per_day && (ms > 60000 || !q->per_minute); /* a window known over, not which */
  quota_refuse_at(x, q, per_day, now, now + (int64_t)((ms + 999) / 1000));
}

/* Routes whose JSON body names the model they run. */
static int names_model(tg_route_kind kind, const char *path) {
  return kind == TG_ROUTE_GENERATE || kind == TG_ROUTE_CHAT || kind == TG_ROUTE_EMBED || kind == TG_ROUTE_OPENAI ||
         strcmp(path, "/api/show") == 0;
}

static int is_listing(const char *path) {
  return !strcmp(path, "/api/tags") || !strcmp(path, "/api/ps") || !strcmp(path, "/v1/models");
}

void tg_inspect_gather(tg_exchange *x) {
  x->adm.gathering = 1;
  x->adm.whole.len = 0;
  if (x->expect_continue && x->req_framing != TG_FRAME_NONE) x->down->send_continue(x); /* before its body */
  x->down->body_go(x);
}

/* GET /v1/models/NAME for a user with a list. Returns 1 when refused. */
static int model_path_refused(tg_exchange *x, const char *path) {
  const char *name = path + strlen("/v1/models/");
  if (tg_models_allowed(x->adm.models, name, strlen(name))) return 0;
  tg_metrics_refused("limit", "model");
  tg_exchange_fail(x, 403, "this model is not allowed for this user");
  return 1;
}

tg_adm_rc tg_inspect_admit(tg_exchange *x) {
  const tg_limits_conf *l = x->site->limits;
  if (!l || (!l->quota && !l->models)) return TG_ADM_NEXT;
  const char *path = tg_exchange_path(x); /* normalised: a site with limits refused a path that is not */
  tg_route_kind kind = (tg_route_kind)x->route_kind;
  x->adm.quota_on = quota_applies(x, l->quota, kind);
  /* with a shared store the quota is checked in the rates' round trip (rate-shared.c) */
  if (x->adm.quota_on && !x->w->shared && tg_quota_refuse_here(x)) return TG_ADM_DONE;
  x->adm.models = tg_models_for(l->models, x->adm.user);
  int post = x->method == HTTP_POST;
  if (x->adm.models && x->method == HTTP_GET) {
    x->adm.filter_listing = is_listing(path);
    if (!strncmp(path, "/v1/models/", 11) && path[11] && model_path_refused(x, path)) return TG_ADM_DONE;
  }
  x->adm.ask_usage =
      x->adm.quota_on && post && (!strcmp(path, "/v1/chat/completions") || !strcmp(path, "/v1/completions"));
  if (!(post && ((x->adm.models && names_model(kind, path)) || x->adm.ask_usage))) return TG_ADM_NEXT;
  tg_inspect_gather(x);
  return TG_ADM_AGAIN;
}

/* The model check and the include_usage rewrite over the whole body.
 * Returns 0 to go on, or -1 after answering. */
static int inspect_body(tg_exchange *x) {
  tg_body_facts f;
  char err[200];
  json_t *root = tg_body_inspect(x->adm.whole.data ? x->adm.whole.data : "", x->adm.whole.len, &f, err, sizeof err);
  if (!root) return tg_exchange_fail(x, 400, err), -1;
  int rc = 0;
  const tg_llm_facts *m = &x->facts; /* the model as the request scanner read it, as the log shows it */
  if (x->adm.models && m->model_state == TG_MODEL_NONE) {
    tg_exchange_fail(x, 400, "model is required");
    rc = -1;
  } else if (!tg_models_allowed_normal(x->adm.models, m->model_state == TG_MODEL_OK ? m->model : NULL)) {
    snprintf(err, sizeof err, "model \"%s\" is not allowed for this user", m->model);
    tg_metrics_refused("limit", "model");
    tg_exchange_fail(x, 403, err);
    rc = -1;
  } else if (x->adm.ask_usage && f.stream == 1 && !f.include_usage) {
    tg_buf out = {0};
    if (tg_body_ask_usage(root, &f, x->adm.whole.data, x->adm.whole.len, &out) < 0) {
      tg_buf_free(&out);
      tg_exchange_fail(x, 500, "out of memory");
      rc = -1;
    } else {
      tg_buf_free(&x->adm.whole);
      x->adm.whole = out;
      x->adm.strip_usage = 1;
    }
  }
  json_decref(root);
  return rc;
}

void tg_inspect_body_done(tg_exchange *x) {
  if (tg_body_buffer_unflushed(x)) return; /* a body in a file: once it is all on disk (body-buffer.c) */
  x->adm.gathering = 0;
  /* read whole for the choice of a server alone (body-buffer.c): nothing to check */
  if ((x->adm.models || x->adm.ask_usage) && inspect_body(x) < 0) return;
  x->adm.gathered = 1;
  tg_admission_resume(x);
}

void tg_inspect_charge(tg_exchange *x) {
  const tg_limits_conf *l = x->site->limits;
  if (!x->adm.quota_on || !l || !l->quota) return;
  x->adm.quota_on = 0; /* once */
  int64_t p = x->facts.prompt_tokens, o = x->facts.output_tokens;
  /* a stream cut before its final object: one token per streamed chunk */
  if (p < 0 && o < 0) o = x->adm.resp_chunks > 1 ? x->adm.resp_chunks - 1 : 0;
  uint64_t tokens = (uint64_t)(p > 0 ? p : 0) + (uint64_t)(o > 0 ? o : 0);
  if (tokens && x->w->shared && tg_quota_charge_shared(x, tokens) == 0) return;
  tg_quota_add(l->quota, x->adm.user, (int64_t)time(NULL), tokens);
}

void tg_inspect_exchange_end(tg_exchange *x) {
  tg_inspect_charge(x); /* an exchange cut short: charged at its end */
  tg_inspect_reset(x);
}

void tg_inspect_reset(tg_exchange *x) {
  tg_buf_free(&x->adm.whole);
  tg_body_temp_release(x->adm.temp);
  x->adm.temp = NULL;
  x->adm.may_spill = 0;
  x->adm.models = NULL;
  x->adm.resp_chunks = 0;
  x->adm.gathering = x->adm.gathered = x->adm.ask_usage = x->adm.strip_usage = 0;
  x->adm.filter_listing = x->adm.quota_on = 0;
}
