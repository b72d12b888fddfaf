/* What tollgate reads from an ACME server, parsed with jansson into plain
 * structs: the directory (RFC 8555 section 7.1.1), orders (7.1.3),
 * authorizations and their challenges (7.1.4, 8), and problem documents
 * (6.7) turned into words. Outside input: tests/fuzz/fuzz_acme_json.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tollgate/acme.h"

#define ACME_ERR_PREFIX "urn:ietf:params:acme:error:"
#define MAX_AUTHZ 1000
#define MAX_CHALL 32

static const char *const status_names[] = {
    [TG_ACME_ST_UNKNOWN] = "unknown", [TG_ACME_ST_PENDING] = "pending",
    [TG_ACME_ST_READY] = "ready",     [TG_ACME_ST_PROCESSING] = "processing",
    [TG_ACME_ST_VALID] = "valid",     [TG_ACME_ST_INVALID] = "invalid",
    [TG_ACME_ST_EXPIRED] = "expired", [TG_ACME_ST_DEACTIVATED] = "deactivated",
    [TG_ACME_ST_REVOKED] = "revoked",
};

const char *tg_acme_status_name(tg_acme_status s) {
  return (unsigned)s < sizeof status_names / sizeof status_names[0] ? status_names[s] : "unknown";
}

static tg_acme_status status_of(json_t *obj) {
  const char *s = json_string_value(json_object_get(obj, "status"));
  for (size_t i = 1; s && i < sizeof status_names / sizeof status_names[0]; i++)
    if (strcmp(s, status_names[i]) == 0) return (tg_acme_status)i;
  return TG_ACME_ST_UNKNOWN;
}

static json_t *load_object(const char *json, size_t len, char *err, size_t errlen) {
  json_error_t je;
  json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
  if (!root) snprintf(err, errlen, "not JSON: %s", je.text);
  else if (!json_is_object(root)) snprintf(err, errlen, "not a JSON object");
  else return root;
  json_decref(root);
  return NULL;
}

/* A copy of the string member key (NULL when absent); -1 when present but
 * not a string, or required and absent, or out of memory. */
static int get_str(json_t *obj, const char *key, int required, char **out, char *err, size_t errlen) {
  json_t *v = json_object_get(obj, key);
  if (!v && !required) return 0;
  const char *s = json_string_value(v);
  if (!s || (required && !s[0])) return snprintf(err, errlen, "'%s' is missing or not a string", key), -1;
  if (!(*out = strdup(s))) return snprintf(err, errlen, "out of memory"), -1;
  return 0;
}

/* ---- directory ---- */

int tg_acme_directory_parse(const char *json, size_t len, tg_acme_directory *d, char *err, size_t errlen) {
  memset(d, 0, sizeof *d);
  json_t *root = load_object(json, len, err, errlen);
  if (!root) return -1;
  json_t *meta = json_object_get(root, "meta");
  int rc = get_str(root, "newNonce", 1, &d->new_nonce, err, errlen) < 0 ||
                   get_str(root, "newAccount", 1, &d->new_account, err, errlen) < 0 ||
                   get_str(root, "newOrder", 1, &d->new_order, err, errlen) < 0 ||
                   (json_is_object(meta) && get_str(meta, "termsOfService", 0, &d->terms, err, errlen) < 0)
               ? -1
               : 0;
  json_decref(root);
  return rc;
}

void tg_acme_directory_free(tg_acme_directory *d) {
  free(d->new_nonce);
  free(d->new_account);
  free(d->new_order);
  free(d->terms);
  memset(d, 0, sizeof *d);
}

/* ---- problem documents ---- */

/* Appends s to out at *at, cut to fit. */
static void put(char *out, size_t outlen, size_t *at, const char *s) {
  if (*at >= outlen) return;
  int n = snprintf(out + *at, outlen - *at, "%s", s);
  *at += n > 0 ? (size_t)n : 0;
  if (*at >= outlen) *at = outlen - 1;
}

static const char *short_type(const char *type) {
  if (!type) return "";
  return strncmp(type, ACME_ERR_PREFIX, strlen(ACME_ERR_PREFIX)) == 0 ? type + strlen(ACME_ERR_PREFIX) : type;
}

/* Plain words before the CA's detail for the error types that mean
 * something to an operator (RFC 8555 section 6.7). */
static const char *type_lead(const char *type) {
  static const char *const leads[][2] = {
      {"connection", "the CA could not connect"},    {"dns", "the CA could not resolve the name"},
      {"tls", "the CA's TLS connection failed"},     {"incorrectResponse", "the CA got a wrong answer"},
      {"unauthorized", "the CA refused the answer"}, {"rateLimited", "the CA's rate limit"},
      {"caa", "a CAA record forbids this CA"},
  };
  for (size_t i = 0; i < sizeof leads / sizeof leads[0]; i++)
    if (strcmp(type, leads[i][0]) == 0) return leads[i][1];
  return NULL;
}

/* The words of a problem object already parsed. */
static int problem_words(json_t *p, char *out, size_t outlen, char *type, size_t typelen) {
  const char *t = json_string_value(json_object_get(p, "type"));
  const char *detail = json_string_value(json_object_get(p, "detail"));
  if (type && typelen) snprintf(type, typelen, "%s", short_type(t));
  if (!outlen) return t || detail ? 0 : -1;
  out[0] = 0;
  if (!t && !detail) return snprintf(out, outlen, "an error without a problem document"), -1;
  size_t at = 0;
  const char *lead = type_lead(short_type(t));
  if (lead && detail && detail[0]) put(out, outlen, &at, lead), put(out, outlen, &at, ": ");
  put(out, outlen, &at, detail && detail[0] ? detail : lead ? lead : short_type(t));
  json_t *subs = json_object_get(p, "subproblems");
  size_t i;
  json_t *sp;
  json_array_foreach(subs, i, sp) {
    const char *sd = json_string_value(json_object_get(sp, "detail"));
    const char *name = json_string_value(json_object_get(json_object_get(sp, "identifier"), "value"));
    if (!sd) continue;
    put(out, outlen, &at, i ? "; " : " (");
    if (name) put(out, outlen, &at, name), put(out, outlen, &at, ": ");
    put(out, outlen, &at, sd);
  }
  if (json_array_size(subs)) put(out, outlen, &at, ")");
  return 0;
}

int tg_acme_problem_text(const char *json, size_t len, char *out, size_t outlen, char *type, size_t typelen) {
  char err[120];
  if (type && typelen) type[0] = 0;
  json_t *root = load_object(json, len, err, sizeof err);
  if (!root) {
    if (outlen) snprintf(out, outlen, "an error without a problem document");
    return -1;
  }
  int rc = problem_words(root, out, outlen, type, typelen);
  json_decref(root);
  return rc;
}

/* ---- orders ---- */

int tg_acme_order_parse(const char *json, size_t len, tg_acme_order *o, char *err, size_t errlen) {
  memset(o, 0, sizeof *o);
  json_t *root = load_object(json, len, err, errlen);
  if (!root) return -1;
  int rc = -1;
  o->status = status_of(root);
  json_t *az = json_object_get(root, "authorizations"), *v;
  size_t i, n = json_array_size(az);
  if (o->status == TG_ACME_ST_UNKNOWN) {
    snprintf(err, errlen, "the order has no known status");
    goto out;
  }
  if (!json_is_array(az) || n > MAX_AUTHZ || !(o->authz = calloc(n + 1, sizeof *o->authz))) {
    snprintf(err, errlen, "'authorizations' is missing or not a list");
    goto out;
  }
  json_array_foreach(az, i, v) {
    if (!json_is_string(v) || !(o->authz[o->nauthz] = strdup(json_string_value(v)))) {
      snprintf(err, errlen, "'authorizations' holds something other than URLs");
      goto out;
    }
    o->nauthz++;
  }
  if (get_str(root, "finalize", 1, &o->finalize, err, errlen) < 0 ||
      get_str(root, "certificate", 0, &o->certificate, err, errlen) < 0)
    goto out;
  if (json_is_object(json_object_get(root, "error")))
    problem_words(json_object_get(root, "error"), o->problem, sizeof o->problem, NULL, 0);
  rc = 0;
out:
  json_decref(root);
  return rc;
}

void tg_acme_order_free(tg_acme_order *o) {
  for (size_t i = 0; i < o->nauthz; i++) free(o->authz[i]);
  free(o->authz);
  free(o->finalize);
  free(o->certificate);
  memset(o, 0, sizeof *o);
}

/* ---- authorizations ---- */

static int chall_parse(json_t *c, tg_acme_chall *ch, char *err, size_t errlen) {
  if (!json_is_object(c)) return snprintf(err, errlen, "a challenge is not an object"), -1;
  ch->status = status_of(c);
  if (get_str(c, "type", 1, &ch->type, err, errlen) < 0 || get_str(c, "url", 1, &ch->url, err, errlen) < 0 ||
      get_str(c, "token", 0, &ch->token, err, errlen) < 0)
    return -1;
  if (json_is_object(json_object_get(c, "error")))
    problem_words(json_object_get(c, "error"), ch->problem, sizeof ch->problem, NULL, 0);
  return 0;
}

int tg_acme_authz_parse(const char *json, size_t len, tg_acme_authz *a, char *err, size_t errlen) {
  memset(a, 0, sizeof *a);
  json_t *root = load_object(json, len, err, errlen);
  if (!root) return -1;
  int rc = -1;
  json_t *id = json_object_get(root, "identifier"), *cs = json_object_get(root, "challenges"), *c;
  size_t i, n = json_array_size(cs);
  a->status = status_of(root);
  a->wildcard = json_is_true(json_object_get(root, "wildcard"));
  if (a->status == TG_ACME_ST_UNKNOWN) {
    snprintf(err, errlen, "the authorization has no known status");
    goto out;
  }
  if (!json_is_object(id) || get_str(id, "value", 1, &a->name, err, errlen) < 0) goto out;
  if (!json_is_array(cs) || n > MAX_CHALL || !(a->chall = calloc(n + 1, sizeof *a->chall))) {
    snprintf(err, errlen, "'challenges' is missing or not a list");
    goto out;
  }
  json_array_foreach(cs, i, c) {
    a->nchall++;
    if (chall_parse(c, &a->chall[i], err, errlen) < 0) goto out;
  }
  rc = 0;
out:
  json_decref(root);
  return rc;
}

void tg_acme_authz_free(tg_acme_authz *a) {
  for (size_t i = 0; i < a->nchall; i++) {
    free(a->chall[i].type);
    free(a->chall[i].url);
    free(a->chall[i].token);
  }
  free(a->chall);
  free(a->name);
  memset(a, 0, sizeof *a);
}
