/* The TLS directives of a site (docs/tls.md):
 *   tls cert FILE key FILE;     repeatable; SNI picks by the certificate's names,
 *                               the first one serves clients without SNI
 *   tls auto [NAME...];         certificates from ACME (the site's name by default)
 *   tls protocols 1.2 1.3;      or just 1.3
 * and `listen ADDR tls|redirect` (directives.c); `http2 off;` (directives.c)
 * turns ALPN h2 off here. Certificates are loaded
 * at the end of the file, so that `tollgate -t` and a reload check them. */
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "syntax.h"
#include "tollgate/tls.h"

#define ERR(errs, tok, ...) tg_cfg_error_at((errs), (tok)->line, (tok)->col, __VA_ARGS__)

static tg_tls_conf *tls_of(tg_site_conf *s, tg_cfg_errors *errs) {
  if (!s->tls && !(s->tls = calloc(1, sizeof *s->tls))) errs->oom = 1;
  return s->tls;
}

static void tls_cert(tg_site_conf *s, const tg_cfg_node *n, const char *config_path, tg_cfg_errors *errs) {
  if (n->nargs != 4 || strcmp(n->args[2].text, "key") != 0) {
    ERR(errs, n->nargs > 2 ? &n->args[2] : &n->args[0], "'tls cert' takes two files: tls cert FILE key FILE");
    return;
  }
  tg_tls_conf *t = tls_of(s, errs);
  char *cert = tg_cfg_resolve_path(config_path, n->args[1].text);
  char *key = tg_cfg_resolve_path(config_path, n->args[3].text);
  if (!t || !cert || !key || tg_tls_conf_add_cert(t, cert, key) < 0) errs->oom = 1;
  free(cert);
  free(key);
}

static int name_is_valid(const char *v) {
  size_t n = strlen(v);
  if (n == 0 || n > 253) return 0;
  for (const char *p = v; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
      return 0;
  return v[0] != '.' && v[0] != '-' && v[n - 1] != '.';
}

static void tls_auto(tg_site_conf *s, const tg_cfg_node *n, tg_cfg_errors *errs) {
  tg_tls_conf *t = tls_of(s, errs);
  if (!t) return;
  t->auto_certs = 1;
  for (size_t i = 1; i < n->nargs; i++) {
    if (!name_is_valid(n->args[i].text)) {
      ERR(errs, &n->args[i], "'tls auto' takes DNS names, not '%s'", n->args[i].text);
      continue;
    }
    char **grown = realloc(t->auto_names, (t->nauto + 1) * sizeof *grown);
    if (!grown || !(grown[t->nauto] = strdup(n->args[i].text))) {
      if (grown) t->auto_names = grown;
      errs->oom = 1;
      return;
    }
    t->auto_names = grown;
    t->nauto++;
  }
}

static void tls_protocols(tg_site_conf *s, const tg_cfg_node *n, tg_cfg_errors *errs) {
  int has12 = 0, has13 = 0;
  for (size_t i = 1; i < n->nargs; i++) {
    if (strcmp(n->args[i].text, "1.2") == 0) has12 = 1;
    else if (strcmp(n->args[i].text, "1.3") == 0) has13 = 1;
    else
      ERR(errs, &n->args[i], "'tls protocols' takes 1.2 and 1.3 (older versions are not offered), not '%s'",
          n->args[i].text);
  }
  if (n->nargs < 2 || (has12 && !has13)) {
    ERR(errs, &n->args[0], "'tls protocols' takes '1.2 1.3' or '1.3'");
    return;
  }
  tg_tls_conf *t = tls_of(s, errs);
  if (t) t->min_version = has12 ? TLS1_2_VERSION : TLS1_3_VERSION;
}

void tg_cfg_tls_directive(tg_site_conf *s, const tg_cfg_node *n, const char *config_path, tg_cfg_errors *errs) {
  const char *what = n->args[0].text;
  if (strcmp(what, "cert") == 0) tls_cert(s, n, config_path, errs);
  else if (strcmp(what, "auto") == 0) tls_auto(s, n, errs);
  else if (strcmp(what, "protocols") == 0) tls_protocols(s, n, errs);
  else ERR(errs, &n->args[0], "'tls' takes cert FILE key FILE, auto [NAME...] or protocols 1.2 1.3, not '%s'", what);
}

/* The k-th `tls cert` of a site node, for the position of a load error. */
static const tg_cfg_node *nth_cert_node(const tg_cfg_node *site, size_t k) {
  for (size_t i = 0; i < site->nkids; i++) {
    const tg_cfg_node *n = &site->kids[i];
    if (strcmp(n->name.text, "tls") || n->nargs != 4 || strcmp(n->args[0].text, "cert")) continue;
    if (k-- == 0) return n;
  }
  return NULL;
}

void tg_cfg_tls_check_site(tg_site_conf *s, const tg_cfg_node *site_node, tg_cfg_errors *errs) {
  tg_tls_conf *t = s->tls;
  if (!t) return;
  t->no_h2 = s->http2_off;
  for (size_t i = 0; i < t->ncerts; i++) {
    char err[768];
    if (tg_tls_cert_build(t, i, err, sizeof err) == 0) continue;
    const tg_cfg_node *n = nth_cert_node(site_node, i);
    if (n) ERR(errs, &n->args[1], "%s", err);
    else tg_cfg_error_at(errs, site_node->name.line, site_node->name.col, "%s", err);
  }
  char err[300];
  if (t->auto_certs && !t->ncerts && tg_tls_conf_build_pending(t, err, sizeof err) < 0)
    tg_cfg_error_at(errs, site_node->name.line, site_node->name.col, "%s", err);
}
