/* One ACME issuance (RFC 8555), start to stored chain, blocking, on the
 * manager thread: directory, nonce, account, order, one challenge per
 * authorization, finalize with a fresh key, poll, download, store. Each
 * request is one blocking call of tollgate's HTTP client
 * (tollgate/http-client-sync.h) on its own connection, under one time
 * limit, verified against the CA bundle of the config. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "tollgate/access-log.h"
#include "tollgate/acme.h"
#include "tollgate/http-client-sync.h"
#include "tollgate/http-url.h"
#include "tollgate/tls.h"

#define CALL_MS 30000              /* one request to the CA: connect, handshake, request, response */
#define RESPONSE_MAX (1024 * 1024) /* a response's head, and its body: a chain is a few KiB */
#define NONCE_TRIES 10             /* tries per request under badNonce (RFC 8555 section 6.5) */
#define POLL_LIMIT_S 120           /* how long an authorization or order may stay pending */
#define POLL_FIRST_MS 250
#define POLL_MAX_MS 5000
#define RETRY_AFTER_MAX_S 60 /* a Retry-After longer than this is cut to it */

typedef struct acme_resp {
  int status;
  tg_buf body;
  char location[1024];
  long retry_after_s; /* -1 when none */
  char ptype[64];     /* problem type, short ("badNonce"), "" when none */
  char problem[400];  /* problem in words */
} acme_resp;

typedef struct acme {
  const tg_acme_conf *conf;
  const tg_acme_names *set;
  tg_acme_wait_fn wait;
  void *warg;
  SSL_CTX *tls; /* verifies the CA against the config's ca_bundle */
  tg_acme_directory dir;
  EVP_PKEY *key;
  char thumb[44];
  char *kid;
  char nonce[256];
  char *err;
  size_t errlen;
  tg_acme_stats stats;
} acme;

/* Records why the issuance failed; returns -1. */
__attribute__((format(printf, 2, 3))) static int FAIL(acme *a, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(a->err, a->errlen, fmt, ap);
  va_end(ap);
  return -1;
}

static const char *chall_type(const acme *a) {
  return a->conf->challenge == TG_ACME_TLSALPN01 ? "tls-alpn-01" : "http-01";
}
static const char *chall_label(const acme *a) {
  return a->conf->challenge == TG_ACME_TLSALPN01 ? "TLS-ALPN-01" : "HTTP-01";
}

static void resp_free(acme_resp *r) { tg_buf_free(&r->body); }

/* ---- HTTPS ---- */

/* "https://host[:port]/path?q" into a URL for host:port, and the path. */
static int split_url(const char *url, tg_http_url *u, char *path, size_t pathlen) {
  char err[200], origin[600];
  if (strncasecmp(url, "https://", 8) != 0) return -1;
  size_t n = strcspn(url + 8, "/");
  const char *p = url + 8 + n;
  if (n + 8 >= sizeof origin || strlen(p) >= pathlen || strpbrk(p, " \r\n\t")) return -1;
  memcpy(origin, url, n + 8);
  origin[n + 8] = 0;
  snprintf(path, pathlen, "%s", *p ? p : "/");
  return tg_http_url_parse(origin, u, err, sizeof err);
}

/* Retry-After: seconds or an HTTP date (RFC 9110 section 10.2.3). */
static long parse_retry_after(const char *v) {
  char *end;
  long s = strtol(v, &end, 10);
  if (end != v && !*end && s >= 0) return s;
  struct tm tm = {0};
  if (!strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm)) return -1;
  long d = (long)(timegm(&tm) - time(NULL));
  return d > 0 ? d : 0;
}

static void note_response(acme *a, tg_http_result *rs, acme_resp *r) {
  char v[256];
  r->status = rs->resp.status;
  r->retry_after_s = tg_head_value_copy(&rs->resp.head, "retry-after", v, sizeof v) ? parse_retry_after(v) : -1;
  if (!tg_head_value_copy(&rs->resp.head, "location", r->location, sizeof r->location)) r->location[0] = 0;
  if (tg_head_value_copy(&rs->resp.head, "replay-nonce", v, sizeof v) && v[0] &&
      strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == strlen(v))
    snprintf(a->nonce, sizeof a->nonce, "%s", v);
  r->body = rs->resp.body;
  memset(&rs->resp.body, 0, sizeof rs->resp.body);
  if (r->status >= 400)
    tg_acme_problem_text(r->body.data ? r->body.data : "", r->body.len, r->problem, sizeof r->problem, r->ptype,
                         sizeof r->ptype);
}

/* One request to url; body NULL for a GET. 0 with r filled (any status), or -1 with err. */
static int http_request(acme *a, const char *url, const char *body, const char *accept, acme_resp *r) {
  tg_http_url u;
  char path[1024], hdrs[300];
  memset(r, 0, sizeof *r);
  r->retry_after_s = -1;
  if (split_url(url, &u, path, sizeof path) < 0) return FAIL(a, "the CA gave a URL tollgate cannot use: %.200s", url);
  snprintf(hdrs, sizeof hdrs, "User-Agent: tollgate-acme/%s\r\n%sAccept: %s\r\n", TG_VERSION,
           body ? "Content-Type: application/jose+json\r\n" : "", accept ? accept : "application/json");
  tg_http_request rq = {.method = body ? "POST" : "GET",
                        .target = path,
                        .host = u.authority,
                        .headers = hdrs,
                        .body = body,
                        .body_len = body ? strlen(body) : 0,
                        .max_response = RESPONSE_MAX,
                        .timeout_ms = CALL_MS};
  tg_http_place to = {.host = u.host, .port = u.port, .tls = a->tls};
  tg_http_result rs;
  a->stats.requests++;
  int rc = tg_http_fetch(&to, &rq, &rs);
  if (rc < 0)
    FAIL(a, "cannot reach the CA at %s:%s: %s%s", u.host, u.port,
         rs.resp.error == TG_UPERR_TLS ? "TLS handshake: " : "", rs.why);
  else note_response(a, &rs, r);
  tg_http_result_free(&rs);
  tg_http_url_free(&u);
  return rc;
}

static int fetch_nonce(acme *a) {
  acme_resp r = {0};
  if (http_request(a, a->dir.new_nonce, NULL, NULL, &r) < 0) return -1;
  resp_free(&r);
  if (!a->nonce[0]) return FAIL(a, "the CA's newNonce (%s) gave no Replay-Nonce", a->dir.new_nonce);
  return 0;
}

/* A JWS POST (payload "" for POST-as-GET), signed with the account's kid,
 * or with the jwk when use_jwk (newAccount). Retries a badNonce with the
 * nonce that came with it. 0 with r (any status), or -1 with err. */
static int acme_post(acme *a, const char *url, const char *payload, int use_jwk, const char *accept, acme_resp *r) {
  for (int attempt = 0;; attempt++) {
    if (!a->nonce[0] && fetch_nonce(a) < 0) return -1;
    char *jws = tg_acme_jws(a->key, use_jwk ? NULL : a->kid, a->nonce, url, payload);
    a->nonce[0] = 0; /* each nonce is good once */
    if (!jws) return FAIL(a, "cannot sign an ACME request (out of memory)");
    int rc = http_request(a, url, jws, accept, r);
    free(jws);
    if (rc < 0) return -1;
    if (r->status < 400 || strcmp(r->ptype, "badNonce") != 0 || attempt + 1 == NONCE_TRIES) return 0;
    a->stats.bad_nonces++;
    resp_free(r);
  }
}

/* Fails with the problem the CA sent, after what. */
static int fail_problem(acme *a, const char *what, const acme_resp *r) {
  return FAIL(a, "%s: the CA answered %d: %s", what, r->status, r->problem[0] ? r->problem : "(no detail)");
}

/* ---- directory and account ---- */

static int get_directory(acme *a) {
  acme_resp r = {0};
  char e[200];
  if (http_request(a, a->conf->directory, NULL, NULL, &r) < 0) return -1;
  int rc = 0;
  if (r.status != 200) rc = FAIL(a, "the ACME directory %s answered %d", a->conf->directory, r.status);
  else if (tg_acme_directory_parse(r.body.data ? r.body.data : "", r.body.len, &a->dir, e, sizeof e) < 0)
    rc = FAIL(a, "the ACME directory %s is not usable: %s", a->conf->directory, e);
  resp_free(&r);
  return rc;
}

static int new_account(acme *a) {
  json_t *p = json_pack("{s:b}", "termsOfServiceAgreed", 1);
  char contact[400], *payload = NULL;
  if (p && a->conf->email) {
    snprintf(contact, sizeof contact, "mailto:%s", a->conf->email);
    json_object_set_new(p, "contact", json_pack("[s]", contact));
  }
  payload = p ? json_dumps(p, JSON_COMPACT) : NULL;
  json_decref(p);
  if (!payload) return FAIL(a, "out of memory");
  acme_resp r = {0};
  int rc = acme_post(a, a->dir.new_account, payload, 1, NULL, &r);
  free(payload);
  if (rc < 0) return -1;
  if (r.status != 200 && r.status != 201) rc = fail_problem(a, "creating the ACME account failed", &r);
  else if (!r.location[0]) rc = FAIL(a, "the CA created the account but sent no Location");
  else if (!(a->kid = strdup(r.location))) rc = FAIL(a, "out of memory");
  else if (tg_acme_store_set_account_url(a->conf->storage, a->conf->directory, a->kid) < 0)
    tg_log_warn("acme: cannot store the account URL in %s (it will be asked for again)", a->conf->storage);
  if (rc == 0 && r.status == 201) tg_log_info("acme: account created at %s", a->dir.new_account);
  resp_free(&r);
  return rc;
}

/* ---- polling ---- */

/* The next wait: the CA's Retry-After when it sent one (bounded), else
 * *backoff, which doubles. */
static uint64_t next_wait(const acme_resp *r, uint64_t *backoff) {
  uint64_t ms = *backoff;
  *backoff = *backoff * 2 > POLL_MAX_MS ? POLL_MAX_MS : *backoff * 2;
  if (r->retry_after_s >= 0)
    ms = (uint64_t)(r->retry_after_s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : r->retry_after_s) * 1000;
  return ms ? ms : POLL_FIRST_MS;
}

static int wait_or_stop(acme *a, uint64_t ms) {
  if (a->wait && a->wait(a->warg, ms) < 0) return FAIL(a, "stopped");
  if (!a->wait) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
  }
  return 0;
}

/* ---- authorizations ---- */

static const tg_acme_chall *find_chall(const acme *a, const tg_acme_authz *az) {
  for (size_t i = 0; i < az->nchall; i++)
    if (strcmp(az->chall[i].type, chall_type(a)) == 0 && az->chall[i].token) return &az->chall[i];
  return NULL;
}

/* Puts the response to the challenge where the CA will look for it. */
static int publish(acme *a, const char *name, const char *token, const char *key_authz) {
  if (a->conf->challenge == TG_ACME_HTTP01) return tg_acme_http01_put(token, key_authz);
  X509 *cert = NULL;
  EVP_PKEY *key = NULL;
  int rc = tg_acme_alpn_cert(name, key_authz, &cert, &key) == 0 ? tg_acme_alpn_put(name, cert, key) : -1;
  X509_free(cert);
  EVP_PKEY_free(key);
  return rc;
}

static void unpublish(acme *a, const char *name, const char *token) {
  if (a->conf->challenge == TG_ACME_HTTP01) tg_acme_http01_remove(token);
  else tg_acme_alpn_remove(name);
}

static int fetch_authz(acme *a, const char *url, tg_acme_authz *az, acme_resp *r) {
  char e[200];
  if (acme_post(a, url, "", 0, NULL, r) < 0) return -1;
  if (r->status != 200) return fail_problem(a, "fetching an authorization failed", r);
  if (tg_acme_authz_parse(r->body.data ? r->body.data : "", r->body.len, az, e, sizeof e) < 0)
    return FAIL(a, "the CA sent an authorization tollgate cannot read: %s", e);
  return 0;
}

/* Polls the authorization at url until it is no longer pending. */
static int poll_authz(acme *a, const char *url, const char *name) {
  uint64_t backoff = POLL_FIRST_MS;
  time_t deadline = time(NULL) + POLL_LIMIT_S;
  for (;;) {
    tg_acme_authz az = {0};
    acme_resp r = {0};
    int rc = fetch_authz(a, url, &az, &r);
    tg_acme_status st = az.status;
    if (rc == 0 && st == TG_ACME_ST_INVALID) {
      const tg_acme_chall *c = find_chall(a, &az);
      rc = FAIL(a, "%s challenge for %s failed: %s", chall_label(a), name,
                c && c->problem[0] ? c->problem : "the CA marked it invalid");
    } else if (rc == 0 && st != TG_ACME_ST_VALID && st != TG_ACME_ST_PENDING) {
      rc = FAIL(a, "the authorization for %s became %s", name, tg_acme_status_name(st));
    } else if (rc == 0 && st == TG_ACME_ST_PENDING && time(NULL) >= deadline) {
      rc = FAIL(a, "%s challenge for %s: the CA did not decide within %d s", chall_label(a), name, POLL_LIMIT_S);
    }
    uint64_t ms = next_wait(&r, &backoff);
    tg_acme_authz_free(&az);
    resp_free(&r);
    if (rc < 0 || st == TG_ACME_ST_VALID) return rc;
    if (wait_or_stop(a, ms) < 0) return -1;
  }
}

/* Answers the authorization at url with the configured challenge. */
static int do_authz(acme *a, const char *url) {
  tg_acme_authz az = {0};
  acme_resp r = {0};
  int rc = fetch_authz(a, url, &az, &r);
  resp_free(&r);
  const tg_acme_chall *c = rc == 0 ? find_chall(a, &az) : NULL;
  char *ka = NULL, *name = az.name;
  if (rc < 0 || az.status == TG_ACME_ST_VALID) goto out; /* a valid one is reused as it is */
  if (az.status != TG_ACME_ST_PENDING) {
    rc = FAIL(a, "the authorization for %s is %s", name, tg_acme_status_name(az.status));
  } else if (!c) {
    rc = FAIL(a, "the CA offers no %s challenge for %s", chall_type(a), name);
  } else if (!(ka = tg_acme_key_authorization(c->token, a->thumb)) || publish(a, name, c->token, ka) < 0) {
    rc = FAIL(a, "out of memory");
  } else {
    rc = acme_post(a, c->url, "{}", 0, NULL, &r);
    if (rc == 0 && r.status != 200) rc = fail_problem(a, "starting the challenge failed", &r);
    resp_free(&r);
    if (rc == 0) rc = poll_authz(a, url, name);
    unpublish(a, name, c->token);
  }
out:
  free(ka);
  tg_acme_authz_free(&az);
  return rc;
}

/* ---- order ---- */

static int fetch_order(acme *a, const char *url, tg_acme_order *o, acme_resp *r) {
  char e[200];
  if (acme_post(a, url, "", 0, NULL, r) < 0) return -1;
  if (r->status != 200) return fail_problem(a, "fetching the order failed", r);
  if (tg_acme_order_parse(r->body.data ? r->body.data : "", r->body.len, o, e, sizeof e) < 0)
    return FAIL(a, "the CA sent an order tollgate cannot read: %s", e);
  return 0;
}

/* Polls the order until its status is want (or valid), or it fails. */
static int poll_order(acme *a, const char *url, tg_acme_status want, tg_acme_order *out) {
  uint64_t backoff = POLL_FIRST_MS;
  time_t deadline = time(NULL) + POLL_LIMIT_S;
  for (;;) {
    acme_resp r = {0};
    int rc = fetch_order(a, url, out, &r);
    uint64_t ms = next_wait(&r, &backoff);
    resp_free(&r);
    if (rc < 0) return -1;
    if (out->status == want || out->status == TG_ACME_ST_VALID) return 0;
    if (out->status == TG_ACME_ST_INVALID)
      return FAIL(a, "the CA refused the order: %s", out->problem[0] ? out->problem : "it became invalid");
    if (time(NULL) >= deadline)
      return FAIL(a, "the order stayed %s for %d s", tg_acme_status_name(out->status), POLL_LIMIT_S);
    tg_acme_order_free(out);
    if (wait_or_stop(a, ms) < 0) return -1;
  }
}

/* newOrder for the set; the order URL into url. Re-registers once when the
 * stored account is unknown to the CA. */
static int new_order(acme *a, tg_acme_order *o, char *url, size_t urllen) {
  json_t *ids = json_array();
  for (size_t i = 0; ids && i < a->set->n; i++)
    json_array_append_new(ids, json_pack("{s:s,s:s}", "type", "dns", "value", a->set->v[i]));
  json_t *p = json_pack("{s:o}", "identifiers", ids);
  char *payload = p ? json_dumps(p, JSON_COMPACT) : NULL, e[200];
  json_decref(p);
  if (!payload) return FAIL(a, "out of memory");
  acme_resp r = {0};
  int rc = acme_post(a, a->dir.new_order, payload, 0, NULL, &r);
  if (rc == 0 && r.status >= 400 && (!strcmp(r.ptype, "accountDoesNotExist") || !strcmp(r.ptype, "unauthorized"))) {
    tg_log_warn("acme: the stored account is unknown to the CA; registering again");
    resp_free(&r);
    free(a->kid);
    a->kid = NULL;
    rc = new_account(a) < 0 ? -1 : acme_post(a, a->dir.new_order, payload, 0, NULL, &r);
  }
  free(payload);
  if (rc < 0) return -1;
  if (r.status != 201) rc = fail_problem(a, "the CA refused the order", &r);
  else if (!r.location[0]) rc = FAIL(a, "the CA sent an order without a Location");
  else if (tg_acme_order_parse(r.body.data ? r.body.data : "", r.body.len, o, e, sizeof e) < 0)
    rc = FAIL(a, "the CA sent an order tollgate cannot read: %s", e);
  else snprintf(url, urllen, "%s", r.location);
  resp_free(&r);
  return rc;
}

static int finalize(acme *a, const tg_acme_order *o, EVP_PKEY *key) {
  char *csr = tg_acme_csr(key, (const char *const *)a->set->v, a->set->n);
  json_t *p = csr ? json_pack("{s:s}", "csr", csr) : NULL;
  char *payload = p ? json_dumps(p, JSON_COMPACT) : NULL;
  json_decref(p);
  free(csr);
  if (!payload) return FAIL(a, "cannot make the certificate request (CSR)");
  acme_resp r = {0};
  int rc = acme_post(a, o->finalize, payload, 0, NULL, &r);
  free(payload);
  if (rc == 0 && r.status != 200) rc = fail_problem(a, "the CA refused to finalize the order", &r);
  resp_free(&r);
  return rc;
}

static int download(acme *a, const char *cert_url, EVP_PKEY *key) {
  acme_resp r = {0};
  if (acme_post(a, cert_url, "", 0, "application/pem-certificate-chain", &r) < 0) return -1;
  int rc = 0;
  if (r.status != 200 || !r.body.len) rc = fail_problem(a, "downloading the certificate failed", &r);
  else rc = tg_acme_store_save(a->conf->storage, a->set, r.body.data, r.body.len, key, a->err, a->errlen);
  resp_free(&r);
  return rc;
}

/* The order, its authorizations, finalize, the chain. */
static int issue(acme *a) {
  tg_acme_order o = {0}, done = {0};
  char url[1024];
  EVP_PKEY *key = NULL;
  int rc = -1;
  if (new_order(a, &o, url, sizeof url) < 0) goto out;
  for (size_t i = 0; i < o.nauthz; i++)
    if (do_authz(a, o.authz[i]) < 0) goto out;
  if (poll_order(a, url, TG_ACME_ST_READY, &done) < 0) goto out;
  if (done.status != TG_ACME_ST_VALID) {
    if (!(key = tg_acme_key_new())) goto out;
    if (finalize(a, &done, key) < 0) goto out;
    tg_acme_order_free(&done);
    if (poll_order(a, url, TG_ACME_ST_VALID, &done) < 0) goto out;
  }
  if (!key || !done.certificate) {
    FAIL(a, "the order is valid but has no certificate for tollgate's key");
    goto out;
  }
  rc = download(a, done.certificate, key);
out:
  EVP_PKEY_free(key);
  tg_acme_order_free(&o);
  tg_acme_order_free(&done);
  return rc;
}

/* The account key, its thumbprint, the HTTPS client, the directory and the account. */
static int prepare(acme *a) {
  char e[200];
  if (!a->conf->agree_tos)
    return FAIL(a, "the CA's terms of service are not agreed to (add 'agree_tos on;' to the acme block)");
  if (tg_acme_store_open(a->conf->storage, a->err, a->errlen) < 0) return -1;
  if (!(a->key = tg_acme_store_account_key(a->conf->storage, a->err, a->errlen))) return -1;
  char *jwk = tg_acme_jwk(a->key);
  int rc = jwk ? tg_acme_jwk_thumbprint(jwk, a->thumb) : -1;
  free(jwk);
  if (rc < 0) return FAIL(a, "cannot compute the account key's thumbprint");
  if (strncasecmp(a->conf->directory, "https://", 8) != 0)
    return FAIL(a, "the ACME directory must be an https:// URL, not %s", a->conf->directory);
  if (!(a->tls = tg_tls_client_ctx(a->conf->ca_bundle, 1, e, sizeof e))) return FAIL(a, "%s", e);
  if (get_directory(a) < 0) return -1;
  a->kid = tg_acme_store_account_url(a->conf->storage, a->conf->directory);
  return a->kid ? 0 : new_account(a);
}

int tg_acme_obtain(const tg_acme_conf *conf, const tg_acme_names *set, tg_acme_wait_fn wait, void *arg,
                   tg_acme_stats *stats, char *err, size_t errlen) {
  acme a = {.conf = conf, .set = set, .wait = wait, .warg = arg, .err = err, .errlen = errlen};
  err[0] = 0;
  int rc = set->n ? 0 : FAIL(&a, "no names to order a certificate for");
  if (rc == 0) rc = prepare(&a);
  if (rc == 0) rc = issue(&a);
  if (stats) *stats = a.stats;
  EVP_PKEY_free(a.key);
  free(a.kid);
  tg_acme_directory_free(&a.dir);
  SSL_CTX_free(a.tls);
  return rc;
}
