/* The limits' phases of the admission pipeline (tollgate/admission.h):
 * the client address (trusted proxies) and the route's body limit before
 * auth; after it the admin routes, the connection and rate limits. Refusals
 * are answered in Ollama's shape (OpenAI's on /v1/) with Retry-After. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limit-wait.h"
#include "policy.h"
#include "tollgate/metrics.h"
#include "tollgate/quota.h"

#define TABLE_ENTRIES 16384

unsigned tg_limit_default_routes(void) {
  return 1u << TG_ROUTE_GENERATE | 1u << TG_ROUTE_CHAT | 1u << TG_ROUTE_EMBED | 1u << TG_ROUTE_OPENAI;
}

/* --- config objects --- */

tg_limits_conf *tg_limits_conf_new(void) {
  tg_limits_conf *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  l->status = 429;
  l->gen_timeout_ms = 30000;
  l->gen_routes = tg_limit_default_routes();
  return l;
}

static void cors_free(tg_cors_conf *cc) {
  if (!cc) return;
  for (size_t i = 0; i < cc->norigins; i++) free(cc->origins[i]);
  free(cc->origins);
  free(cc->expose);
  free(cc->methods);
  free(cc->headers);
  free(cc);
}

void tg_limits_conf_free(tg_limits_conf *l) {
  if (!l) return;
  for (size_t i = 0; i < l->nrates; i++) tg_limit_table_free(l->rates[i].table);
  free(l->rates);
  tg_limit_table_free(l->conn_table);
  tg_limit_table_free(l->user_table);
  tg_gen_cap_free(l->cap);
  for (size_t i = 0; i < l->nadmins; i++) free(l->admins[i]);
  free(l->admins);
  free(l->trusted);
  cors_free(l->cors);
  tg_models_conf_free(l->models);
  tg_quota_conf_free(l->quota);
  free(l);
}

int tg_limits_conf_finish(tg_limits_conf *l) {
  for (size_t i = 0; i < l->nrates; i++)
    if (!l->rates[i].table && !(l->rates[i].table = tg_limit_table_new(TABLE_ENTRIES))) return -1;
  if (l->conn && !l->conn_table && !(l->conn_table = tg_limit_table_new(TABLE_ENTRIES))) return -1;
  if (l->gen_max && !l->cap && !(l->cap = tg_gen_cap_new())) return -1;
  if (l->gen_user_max && !l->user_table && !(l->user_table = tg_limit_table_new(TABLE_ENTRIES))) return -1;
  return 0;
}

/* --- addresses --- */

static int addr16(const char *s, size_t n, uint8_t out[16]) {
  char buf[64];
  if (n == 0 || n >= sizeof buf) return -1;
  memcpy(buf, s, n);
  buf[n] = 0;
  struct in_addr a4;
  if (inet_pton(AF_INET, buf, &a4) == 1) {
    memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    memcpy(out + 12, &a4, 4);
    return 0;
  }
  return inet_pton(AF_INET6, buf, out) == 1 ? 0 : -1;
}

int tg_cidr_parse(const char *s, tg_cidr *out) {
  const char *slash = strchr(s, '/');
  size_t n = slash ? (size_t)(slash - s) : strlen(s);
  if (addr16(s, n, out->addr) < 0) return -1;
  int v4 = memchr(s, ':', n) == NULL;
  unsigned max = v4 ? 32 : 128;
  unsigned long bits = max;
  if (slash) {
    char *end;
    if (!slash[1] || slash[1] < '0' || slash[1] > '9') return -1;
    bits = strtoul(slash + 1, &end, 10);
    if (*end || bits > max) return -1;
  }
  out->bits = (unsigned)bits + (v4 ? 96 : 0);
  return 0;
}

static int cidr_has(const tg_cidr *c, const uint8_t a[16]) {
  unsigned full = c->bits / 8, rest = c->bits % 8;
  if (memcmp(c->addr, a, full) != 0) return 0;
  if (!rest) return 1;
  uint8_t mask = (uint8_t)(0xff << (8 - rest));
  return (c->addr[full] & mask) == (a[full] & mask);
}

int tg_cidr_match(const tg_cidr *v, size_t n, const char *ip) {
  uint8_t a[16];
  if (addr16(ip, strlen(ip), a) < 0) return 0;
  for (size_t i = 0; i < n; i++)
    if (cidr_has(&v[i], a)) return 1;
  return 0;
}

/* One element of X-Forwarded-For or of a Forwarded for= value: blanks and
 * quotes trimmed, "[v6]:port" and "v4:port" reduced to the address. */
static size_t xff_item(const char *p, size_t n, const char **out) {
  while (n && (*p == ' ' || *p == '\t' || *p == '"')) p++, n--;
  while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '"')) n--;
  if (n && *p == '[') {
    const char *close = memchr(p, ']', n);
    if (!close) return 0;
    *out = p + 1;
    return (size_t)(close - p - 1);
  }
  const char *colon = memchr(p, ':', n);
  if (colon && !memchr(colon + 1, ':', n - (size_t)(colon + 1 - p))) n = (size_t)(colon - p);
  *out = p;
  return n;
}

int tg_xff_client(const tg_cidr *v, size_t nv, const char *xff, size_t len, char *out, size_t cap) {
  size_t end = len;
  while (end > 0) {
    size_t start = end;
    while (start > 0 && xff[start - 1] != ',') start--;
    const char *a;
    size_t an = xff_item(xff + start, end - start, &a);
    uint8_t bin[16];
    if (an == 0 || an >= cap || addr16(a, an, bin) < 0) return 0; /* garbage: trust nothing further */
    memcpy(out, a, an);
    out[an] = 0;
    if (!tg_cidr_match(v, nv, out)) return 1;
    end = start ? start - 1 : 0;
  }
  return out[0] != 0; /* every hop trusted: the oldest one */
}

/* The for= values of Forwarded fields as an X-Forwarded-For list. */
static void forwarded_as_xff(const tg_head *h, tg_buf *list) {
  for (uint32_t i = 0; i < h->nfields; i++) {
    if (!tg_head_name_is(h, i, "forwarded")) continue;
    const char *v = tg_head_str(h, h->fields[i].value), *end = v + h->fields[i].value.len;
    while (v < end) {
      const char *sep = v;
      while (sep < end && *sep != ',' && *sep != ';') sep++;
      while (v < sep && *v == ' ') v++;
      /* cppcheck-suppress knownConditionTrueFalse ; sep moved: Forwarded for= is read (limits.test.mjs) */
      if (sep - v > 4 && strncasecmp(v, "for=", 4) == 0) {
        if (list->len) tg_buf_puts(list, ",");
        tg_buf_append(list, v + 4, (size_t)(sep - v - 4));
      }
      v = sep + 1;
    }
  }
}

/* With trusted proxies: the client address from Forwarded, else from
 * X-Forwarded-For, when the peer is one of them. */
static void client_address(tg_exchange *x, const tg_limits_conf *l) {
  if (!tg_cidr_match(l->trusted, l->ntrusted, x->ip)) return; /* the peer's, as the exchange began */
  const tg_head *h = &x->req;
  tg_buf list = {0};
  forwarded_as_xff(h, &list);
  if (!list.len)
    for (uint32_t i = 0; i < h->nfields; i++) {
      if (!tg_head_name_is(h, i, "x-forwarded-for")) continue;
      if (list.len) tg_buf_puts(&list, ",");
      tg_buf_append(&list, tg_head_str(h, h->fields[i].value), h->fields[i].value.len);
    }
  char ip[sizeof x->ip] = "";
  if (list.len && tg_xff_client(l->trusted, l->ntrusted, list.data, list.len, ip, sizeof ip))
    memcpy(x->ip, ip, sizeof ip);
  tg_buf_free(&list);
}

/* --- before auth --- */

tg_adm_rc tg_policy_address(tg_exchange *x) {
  const tg_limits_conf *l = x->site->limits;
  if (l && l->ntrusted) client_address(x, l);
  return TG_ADM_NEXT;
}

tg_adm_rc tg_policy_body_size(tg_exchange *x) {
  const tg_route_conf *r = x->route;
  x->adm.max_body = r && r->has_max_body ? r->max_body : x->site->max_body_bytes;
  if (x->adm.max_body && x->req_framing == TG_FRAME_LENGTH && x->req_cl > x->adm.max_body) {
    tg_exchange_fail(x, 413, "request body too large");
    return TG_ADM_DONE;
  }
  return TG_ADM_NEXT;
}

/* --- after auth --- */

void tg_limit_refuse(tg_exchange *x, int status, const char *reason, const char *by, const char *message,
                     uint64_t retry_ms) {
  char extra[48];
  x->rec.refused_by = by;
  snprintf(extra, sizeof extra, "Retry-After: %llu\r\n", (unsigned long long)(retry_ms ? (retry_ms + 999) / 1000 : 1));
  tg_metrics_refused("limit", reason);
  tg_exchange_fail_with(x, status, message, extra);
}

/* Admin routes: for the users in `admins`; without that list, for nobody
 * when the site authenticates, for everyone when it does not. */
static int admin_allowed(const tg_exchange *x, const tg_limits_conf *l) {
  if (!l || !l->nadmins) return !tg_auth_enabled(x->site->auth);
  if (!x->adm.user) return 0;
  for (size_t i = 0; i < l->nadmins; i++)
    if (strcmp(l->admins[i], x->adm.user) == 0) return 1;
  return 0;
}

static void delay_done(uv_timer_t *t) {
  tg_limit_wait *wt = t->data;
  if (!tg_deadline_passed(&wt->deadline, delay_done)) return;
  tg_exchange *x = wt->x;
  tg_limit_wait_end(wt);
  if (tg_exchange_live(x)) tg_admission_resume(x);
}

tg_adm_rc tg_policy_admin(tg_exchange *x) {
  if (x->route_kind != TG_ROUTE_ADMIN || admin_allowed(x, x->site->limits)) return TG_ADM_NEXT;
  tg_metrics_refused("limit", "admin");
  tg_exchange_fail(x, 403, "this route is for administrators");
  return TG_ADM_DONE;
}

tg_adm_rc tg_policy_conn(tg_exchange *x) {
  const tg_limits_conf *l = x->site->limits;
  if (!l || !l->conn) return TG_ADM_NEXT;
  int rc = tg_limit_count_take(l->conn_table, x->ip, l->conn);
  if (rc == 0) {
    tg_limit_refuse(x, l->status, "conn", "conn per ip", "too many requests in flight from this address", 1000);
    return TG_ADM_DONE;
  }
  if (rc == 1) x->adm.limit_held |= TG_HELD_CONN;
  return TG_ADM_NEXT;
}

tg_adm_rc tg_limit_delay(tg_exchange *x, uint64_t ms) {
  return tg_limit_wait_start(x, TG_WAIT_DELAY, ms, delay_done) ? TG_ADM_AGAIN : TG_ADM_DONE;
}

const char *tg_rate_refused_by(const tg_rate_rule *r) {
  return r->key == TG_LIMIT_BY_IP ? "rate per ip" : "rate per user";
}

tg_adm_rc tg_policy_rate(tg_exchange *x) {
  const tg_limits_conf *l = x->site->limits;
  if (!l) return TG_ADM_NEXT;
  if (x->w->shared) return tg_rate_shared_admit(x); /* the quota is checked there too */
  return l->nrates ? tg_rate_local(x) : TG_ADM_NEXT;
}

tg_adm_rc tg_rate_local(tg_exchange *x) {
  const tg_limits_conf *l = x->site->limits;
  unsigned bit = 1u << x->route_kind;
  uint64_t delay = 0, now = tg_auth_now_ms();
  for (size_t i = 0; i < l->nrates; i++) {
    const tg_rate_rule *r = &l->rates[i];
    const char *key = r->key == TG_LIMIT_BY_IP ? x->ip : x->adm.user;
    uint64_t d, retry;
    if (!(r->routes & bit) || !key) continue; /* nginx: an empty key is not limited */
    if (tg_limit_rate_check(r, key, now, &d, &retry)) {
      tg_limit_refuse(x, l->status, "rate", tg_rate_refused_by(r), TG_RATE_MESSAGE, retry);
      return TG_ADM_DONE;
    }
    if (d > delay) delay = d;
  }
  return delay ? tg_limit_delay(x, delay) : TG_ADM_NEXT;
}

/* Gives back the counts the exchange holds (once). */
static void limits_give_back(tg_exchange *x) {
  const tg_limits_conf *l = x->site->limits;
  if (!x->adm.limit_held || !l) return;
  if (x->adm.limit_held & TG_HELD_CONN) tg_limit_count_give(l->conn_table, x->ip);
  if (x->adm.limit_held & (TG_HELD_GEN | TG_HELD_USER | TG_HELD_SHARED)) tg_gen_release(x);
  x->adm.limit_held = 0;
}

void tg_policy_response_done(tg_exchange *x) {
  tg_inspect_charge(x);
  limits_give_back(x);
}

void tg_policy_exchange_end(tg_exchange *x) {
  tg_limit_wait *wt = x->adm.limit_wait;
  tg_inspect_exchange_end(x);
  if (wt && wt->kind == TG_WAIT_SHARED) x->adm.limit_wait = NULL; /* its reply frees it (rate-shared.c) */
  else if (wt) {
    if (wt->kind == TG_WAIT_QUEUE) tg_gen_dequeue(x, wt);
    else if (wt->kind == TG_WAIT_MODEL) tg_model_dequeue(x, wt);
    tg_limit_wait_end(wt);
  }
  limits_give_back(x);
}

/* --- waits --- */

static void wait_closed(uv_handle_t *h) {
  tg_limit_wait *wt = h->data;
  tg_exchange_release(wt->x);
  free(wt);
}

tg_limit_wait *tg_limit_wait_start(tg_exchange *x, int kind, uint64_t ms, uv_timer_cb cb) {
  tg_limit_wait *wt = calloc(1, sizeof *wt);
  if (!wt) {
    tg_exchange_fail(x, 500, "out of memory");
    return NULL;
  }
  wt->x = x;
  wt->kind = kind;
  tg_deadline_init(&x->w->loop, &wt->deadline);
  wt->deadline.timer.data = wt;
  tg_exchange_hold(x);
  x->adm.limit_wait = wt;
  tg_deadline_set(&wt->deadline, ms, cb); /* cannot fail: the handle is new */
  return wt;
}

void tg_limit_wait_end(tg_limit_wait *wt) {
  if (wt->x->adm.limit_wait == wt) wt->x->adm.limit_wait = NULL;
  uv_close((uv_handle_t *)&wt->deadline.timer, wait_closed);
}
