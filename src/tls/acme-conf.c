/* tg_acme_conf (tollgate/acme.h): built with its defaults, copied for the
 * manager (which keeps one across config generations), name sets added and
 * checked. The config's acme block fills it (src/config/acme-directives.c);
 * the manager and the store read it. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tollgate/acme.h"
#include "tollgate/config.h"

tg_acme_conf *tg_acme_conf_new(void) {
  tg_acme_conf *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->directory = strdup(TG_ACME_LETSENCRYPT);
  c->storage = strdup(TG_ACME_DEFAULT_STORAGE);
  c->retry_min_ms = 60 * 1000;
  c->retry_max_ms = 6 * 3600 * 1000;
  if (c->directory && c->storage) return c;
  tg_acme_conf_free(c);
  return NULL;
}

static void names_clear(tg_acme_names *s) {
  for (size_t i = 0; i < s->n; i++) free(s->v[i]);
  free(s->v);
  s->v = NULL;
  s->n = 0;
}

void tg_acme_conf_free(tg_acme_conf *c) {
  if (!c) return;
  free(c->directory);
  free(c->ca_bundle);
  free(c->email);
  free(c->storage);
  for (size_t i = 0; i < c->nsets; i++) names_clear(&c->sets[i]);
  free(c->sets);
  free(c);
}

static int dup_opt(char **dst, const char *src) {
  *dst = src ? strdup(src) : NULL;
  return !src || *dst ? 0 : -1;
}

tg_acme_conf *tg_acme_conf_dup(const tg_acme_conf *c) {
  tg_acme_conf *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->challenge = c->challenge;
  d->agree_tos = c->agree_tos;
  d->retry_min_ms = c->retry_min_ms;
  d->retry_max_ms = c->retry_max_ms;
  int rc = dup_opt(&d->directory, c->directory) | dup_opt(&d->ca_bundle, c->ca_bundle) | dup_opt(&d->email, c->email) |
           dup_opt(&d->storage, c->storage);
  for (size_t i = 0; rc == 0 && i < c->nsets; i++)
    rc = tg_acme_conf_add_names(d, (const char *const *)c->sets[i].v, c->sets[i].n);
  if (rc == 0) return d;
  tg_acme_conf_free(d);
  return NULL;
}

static int set_has(const tg_acme_names *s, const char *name) {
  for (size_t i = 0; i < s->n; i++)
    if (strcasecmp(s->v[i], name) == 0) return 1;
  return 0;
}

int tg_acme_names_equal(const tg_acme_names *s, const char *const *names, size_t n) {
  if (s->n != n) return 0;
  for (size_t i = 0; i < n; i++)
    if (!set_has(s, names[i])) return 0;
  return 1;
}

const tg_acme_names *tg_acme_conf_clash(const tg_acme_conf *c, const char *const *names, size_t n) {
  for (size_t i = 0; i < c->nsets; i++)
    if (strcasecmp(c->sets[i].v[0], names[0]) == 0 && !tg_acme_names_equal(&c->sets[i], names, n)) return &c->sets[i];
  return NULL;
}

int tg_acme_conf_add_names(tg_acme_conf *c, const char *const *names, size_t n) {
  for (size_t i = 0; i < c->nsets; i++)
    if (tg_acme_names_equal(&c->sets[i], names, n)) return 0;
  tg_acme_names *sets = realloc(c->sets, (c->nsets + 1) * sizeof *sets);
  if (!sets) return -1;
  c->sets = sets;
  tg_acme_names *s = &sets[c->nsets];
  *s = (tg_acme_names){.v = calloc(n + 1, sizeof *s->v)};
  if (!s->v) return -1;
  for (size_t i = 0; i < n; i++) {
    if (set_has(s, names[i])) continue; /* "names a.test a.test" */
    if (!(s->v[s->n] = strdup(names[i]))) {
      names_clear(s);
      return -1;
    }
    for (char *p = s->v[s->n]; *p; p++) *p = (char)tolower((unsigned char)*p);
    s->n++;
  }
  c->nsets++;
  return 0;
}

const tg_acme_names *tg_acme_name_sets(const tg_config *cfg, size_t *n) {
  *n = cfg && cfg->acme ? cfg->acme->nsets : 0;
  return *n ? cfg->acme->sets : NULL;
}

int tg_acme_name_valid(const char *name) {
  size_t len = strlen(name), label = 0;
  int digits_only = 1; /* of the last label: "10.0.0.1" is an address, not a name */
  if (len == 0 || len > 253 || name[len - 1] == '.') return 0;
  for (const char *p = name; *p; p++) {
    unsigned char ch = (unsigned char)*p;
    if (ch == '.') {
      if (label == 0 || p[-1] == '-') return 0;
      label = 0;
      digits_only = 1;
      continue;
    }
    if ((!isalnum(ch) && ch != '-') || (label == 0 && ch == '-') || ++label > 63) return 0;
    if (!isdigit(ch)) digits_only = 0;
  }
  return name[len - 1] != '-' && !digits_only;
}
