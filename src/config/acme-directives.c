/* The top-level acme block (docs/configuration.md, docs/tls.md):
 *   acme {
 *       directory URL|letsencrypt|letsencrypt-staging;
 *       ca_bundle FILE;                 # trusted for the CA's own TLS
 *       email ADDRESS;
 *       storage DIR;
 *       challenge http-01|tls-alpn-01;
 *       agree_tos on|off;
 *       names NAME...;                  # one certificate for these names; repeatable
 *       retry FIRST MAX;                # backoff after a failure, e.g. 1m 6h
 *   }
 * and the name sets of the sites with `tls auto` (their stored certificates
 * loaded like `tls cert` ones). The tg_acme_conf it fills is built and
 * copied by src/tls/acme-conf.c. Relative file names are taken from the
 * config file's directory. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "syntax.h"
#include "tollgate/acme.h"
#include "tollgate/tls.h"

#define ERR(errs, tok, ...) tg_cfg_error_at((errs), (tok)->line, (tok)->col, __VA_ARGS__)
#define RETRY_MAX_MS (7ull * 86400 * 1000)

/* ---- the acme block ---- */

static void set_str(char **field, char *v, tg_cfg_errors *errs) {
  if (!v) return (void)(errs->oom = 1);
  free(*field);
  *field = v;
}

static void acme_directory(tg_acme_conf *c, const tg_cfg_token *t, tg_cfg_errors *errs) {
  const char *v = t->text;
  if (strcmp(v, "letsencrypt") == 0) v = TG_ACME_LETSENCRYPT;
  else if (strcmp(v, "letsencrypt-staging") == 0) v = TG_ACME_LETSENCRYPT_STAGING;
  else if (strncasecmp(v, "https://", 8) != 0 || !v[8] || v[8] == '/' || strpbrk(v, " \t\"<>\\^`{|}?#"))
    return ERR(errs, t, "'directory' takes an https:// URL, letsencrypt or letsencrypt-staging, not '%s'", v);
  set_str(&c->directory, strdup(v), errs);
}

static void acme_email(tg_acme_conf *c, const tg_cfg_token *t, tg_cfg_errors *errs) {
  const char *v = t->text, *at = strchr(v, '@');
  int ok = at && at > v && at[1] && !strchr(at + 1, '@') && strlen(v) < 250;
  for (const char *p = v; ok && *p; p++) ok = *p > ' ' && *p <= '~' && !strchr("<>,;:\"()[]\\", *p);
  if (!ok) return ERR(errs, t, "'email' takes an address such as admin@example.com, not '%s'", v);
  set_str(&c->email, strdup(v), errs);
}

static void acme_challenge(tg_acme_conf *c, const tg_cfg_token *t, tg_cfg_errors *errs) {
  if (strcmp(t->text, "http-01") == 0) c->challenge = TG_ACME_HTTP01;
  else if (strcmp(t->text, "tls-alpn-01") == 0) c->challenge = TG_ACME_TLSALPN01;
  else ERR(errs, t, "'challenge' takes http-01 or tls-alpn-01, not '%s'", t->text);
}

static void acme_agree_tos(tg_acme_conf *c, const tg_cfg_token *t, tg_cfg_errors *errs) {
  if (strcmp(t->text, "on") == 0 || strcmp(t->text, "off") == 0) c->agree_tos = strcmp(t->text, "on") == 0;
  else ERR(errs, t, "'agree_tos' takes on or off, not '%s'", t->text);
}

static void acme_names(tg_acme_conf *c, const tg_cfg_node *k, tg_cfg_errors *errs) {
  const char *v[TG_ACME_MAX_NAMES];
  if (k->nargs > TG_ACME_MAX_NAMES)
    return ERR(errs, &k->args[TG_ACME_MAX_NAMES], "'names' takes at most %d names", TG_ACME_MAX_NAMES);
  for (size_t i = 0; i < k->nargs; i++) {
    if (!tg_acme_name_valid(k->args[i].text))
      return ERR(errs, &k->args[i], "'%s' is not a DNS name ACME can issue for here (no IP address, no wildcard)",
                 k->args[i].text);
    v[i] = k->args[i].text;
  }
  if (tg_acme_conf_clash(c, v, k->nargs))
    return ERR(errs, &k->args[0],
               "another certificate's names also start with '%s' (each first name is a directory in the store)", v[0]);
  if (tg_acme_conf_add_names(c, v, k->nargs) < 0) errs->oom = 1;
}

static void acme_retry(tg_acme_conf *c, const tg_cfg_node *k, tg_cfg_errors *errs) {
  uint64_t lo, hi;
  if (tg_duration_parse(k->args[0].text, &lo) < 0 || lo < 100 || lo > RETRY_MAX_MS)
    return ERR(errs, &k->args[0], "invalid first wait '%s' for 'retry' (from 100ms to 7d)", k->args[0].text);
  if (tg_duration_parse(k->args[1].text, &hi) < 0 || hi < lo || hi > RETRY_MAX_MS)
    return ERR(errs, &k->args[1], "invalid longest wait '%s' for 'retry' (from the first wait to 7d)", k->args[1].text);
  c->retry_min_ms = lo;
  c->retry_max_ms = hi;
}

typedef struct acme_key {
  const char *name;
  size_t min, max;
  const char *usage;
} acme_key;

static const acme_key acme_keys[] = {
    {"directory", 1, 1, "'directory' takes an https:// URL, letsencrypt or letsencrypt-staging"},
    {"ca_bundle", 1, 1, "'ca_bundle' takes a PEM file"},
    {"email", 1, 1, "'email' takes one address"},
    {"storage", 1, 1, "'storage' takes a directory"},
    {"challenge", 1, 1, "'challenge' takes http-01 or tls-alpn-01"},
    {"agree_tos", 1, 1, "'agree_tos' takes on or off"},
    {"names", 1, SIZE_MAX, "'names' takes the DNS names of one certificate"},
    {"retry", 2, 2, "'retry' takes the first and the longest wait: retry 1m 6h"},
};

#define NKEYS (sizeof acme_keys / sizeof acme_keys[0])

/* Checks k's name, shape and repetition against acme_keys; its index or -1. */
static int acme_key_of(const tg_cfg_node *k, const tg_cfg_node **first, tg_cfg_errors *errs) {
  for (size_t i = 0; i < NKEYS; i++) {
    if (strcmp(acme_keys[i].name, k->name.text) != 0) continue;
    if (k->has_block) return tg_cfg_error_at(errs, k->bline, k->bcol, "'%s' does not take a block", k->name.text), -1;
    if (k->nargs < acme_keys[i].min || k->nargs > acme_keys[i].max)
      return ERR(errs, &k->name, "%s", acme_keys[i].usage), -1;
    if (first[i] && strcmp(k->name.text, "names") != 0)
      return ERR(errs, &k->name, "duplicate '%s' (first at %u:%u)", k->name.text, first[i]->name.line,
                 first[i]->name.col),
             -1;
    first[i] = k;
    return (int)i;
  }
  ERR(errs, &k->name,
      "unknown directive '%s' in acme (directory, ca_bundle, email, storage, challenge, agree_tos, names, retry)",
      k->name.text);
  return -1;
}

static void acme_kid(tg_acme_conf *c, const tg_cfg_node *k, const char *config_path, tg_cfg_errors *errs) {
  const tg_cfg_token *t = &k->args[0];
  const char *name = k->name.text;
  if (strcmp(name, "directory") == 0) acme_directory(c, t, errs);
  else if (strcmp(name, "ca_bundle") == 0 || strcmp(name, "storage") == 0) {
    if (!t->text[0]) return ERR(errs, t, "'%s' takes a path", name);
    set_str(name[0] == 'c' ? &c->ca_bundle : &c->storage, tg_cfg_resolve_path(config_path, t->text), errs);
  } else if (strcmp(name, "email") == 0) acme_email(c, t, errs);
  else if (strcmp(name, "challenge") == 0) acme_challenge(c, t, errs);
  else if (strcmp(name, "agree_tos") == 0) acme_agree_tos(c, t, errs);
  else if (strcmp(name, "names") == 0) acme_names(c, k, errs);
  else acme_retry(c, k, errs);
}

void tg_cfg_acme_directive(tg_config *cfg, const tg_cfg_node *n, tg_cfg_errors *errs) {
  const tg_cfg_node *first[NKEYS] = {0};
  if (!cfg->acme && !(cfg->acme = tg_acme_conf_new())) return (void)(errs->oom = 1);
  for (size_t i = 0; i < n->nkids; i++)
    if (acme_key_of(&n->kids[i], first, errs) >= 0) acme_kid(cfg->acme, &n->kids[i], cfg->path, errs);
}

/* ---- sites with tls auto ---- */

static const tg_cfg_node *tls_auto_node(const tg_cfg_node *site) {
  for (size_t i = 0; i < site->nkids; i++) {
    const tg_cfg_node *n = &site->kids[i];
    if (strcmp(n->name.text, "tls") == 0 && n->nargs && strcmp(n->args[0].text, "auto") == 0) return n;
  }
  return site;
}

/* The stored certificate of set, when there is a usable one, becomes one
 * of the site's certificates (loaded with the `tls cert` ones). An expired
 * or broken one is left to the manager, which orders a new one. */
static void load_stored(const tg_acme_conf *c, tg_tls_conf *t, const tg_acme_names *set, tg_cfg_errors *errs) {
  char cert[4096], key[4096];
  tg_acme_cert_state st;
  tg_acme_store_check(c->storage, set, time(NULL), &st);
  if (!st.present || !st.covers || !st.valid) return;
  if (tg_acme_store_path(c->storage, set, "cert.pem", cert, sizeof cert) < 0 ||
      tg_acme_store_path(c->storage, set, "key.pem", key, sizeof key) < 0)
    return;
  if (tg_tls_conf_add_cert(t, cert, key) < 0) errs->oom = 1;
}

void tg_cfg_acme_site(tg_config *cfg, tg_site_conf *s, const tg_cfg_node *site_node, tg_cfg_errors *errs) {
  tg_tls_conf *t = s->tls;
  const tg_cfg_node *at = tls_auto_node(site_node);
  if (!t || !t->auto_certs) return;
  if (!cfg->acme)
    return ERR(errs, &at->name, "'tls auto' needs an acme block: acme { email admin@example.com; agree_tos on; }");
  const char *own[1] = {s->name};
  const char *const *names = t->nauto ? (const char *const *)t->auto_names : own;
  size_t n = t->nauto ? t->nauto : 1;
  if (n > TG_ACME_MAX_NAMES) return ERR(errs, &at->name, "'tls auto' takes at most %d names", TG_ACME_MAX_NAMES);
  for (size_t i = 0; i < n; i++)
    if (!tg_acme_name_valid(names[i]))
      return ERR(errs, &at->name,
                 t->nauto ? "'tls auto': '%s' is not a DNS name ACME can issue for here"
                          : "'tls auto' needs names: the site's name '%s' is not a DNS name (tls auto NAME...)",
                 names[i]);
  if (tg_acme_conf_clash(cfg->acme, names, n))
    return ERR(
        errs, &at->name,
        "'tls auto': another certificate's names also start with '%s' (each first name is a directory in the store)",
        names[0]);
  if (tg_acme_conf_add_names(cfg->acme, names, n) < 0) return (void)(errs->oom = 1);
  for (size_t i = 0; i < cfg->acme->nsets; i++) /* the set as kept: lower case, without repeats */
    if (tg_acme_names_equal(&cfg->acme->sets[i], names, n)) {
      load_stored(cfg->acme, t, &cfg->acme->sets[i], errs);
      break;
    }
}
