/* The model allow-list and token quota directives of a site (docs/limits.md):
 *   models USER|* NAME...;                 NAME: llama3.2, qwen2.5:7b, qwen2.5:*, *
 *   quota tokens LIMIT... per user [on ROUTES...];   LIMIT: 10k/m, 100k/d (or /min, /day)
 *   quota_state PATH;
 */
#include <stdlib.h>
#include <string.h>

#include "syntax.h"
#include "tollgate/limits.h"
#include "tollgate/model-name.h"
#include "tollgate/quota.h"

#define ERR(errs, tok, ...) tg_cfg_error_at((errs), (tok)->line, (tok)->col, __VA_ARGS__)

static tg_models_conf *models_of(tg_site_conf *s, tg_cfg_errors *errs) {
  tg_limits_conf *l = tg_cfg_site_limits(s, errs);
  if (l && !l->models && !(l->models = calloc(1, sizeof *l->models))) errs->oom = 1;
  return l ? l->models : NULL;
}

/* A NAME of a `models` line in normal form (tollgate/model-name.h), the
 * way a request's model is compared: `*`, a name, or a name with the tag
 * `*`. Returns 0, or -1 when it is not one. */
static int model_pattern(const char *w, char out[TG_MODEL_NAME_MAX]) {
  size_t len = strlen(w);
  if (strcmp(w, "*") == 0) return strcpy(out, "*"), 0;
  int tag_any = len > 2 && strcmp(w + len - 2, ":*") == 0;
  if (tag_any) {
    len -= 2;
    const char *slash = memrchr(w, '/', len), *colon = memrchr(w, ':', len);
    if (colon && (!slash || colon > slash)) return -1; /* a tag before the `:*` */
  }
  if (tg_model_normal(w, len, out, TG_MODEL_NAME_MAX) < 0) return -1;
  if (tag_any) strcpy(strrchr(out, ':') + 1, "*"); /* the normal form ends in :latest */
  return 0;
}

/* The names of a `models` line in normal form. */
static int model_names(tg_model_list *ml, const tg_cfg_node *n, tg_cfg_errors *errs) {
  if (!(ml->names = calloc(n->nargs, sizeof *ml->names))) return errs->oom = 1, -1;
  for (size_t i = 1; i < n->nargs; i++) {
    const char *w = n->args[i].text;
    char normal[TG_MODEL_NAME_MAX];
    if (model_pattern(w, normal) < 0) {
      ERR(errs, &n->args[i], "invalid model name '%s' (such as llama3.2, qwen2.5:7b, qwen2.5:* or *)", w);
      return -1;
    }
    if (!(ml->names[ml->n++] = strdup(normal))) return errs->oom = 1, -1;
  }
  return 0;
}

void tg_cfg_models_directive(tg_site_conf *s, const tg_cfg_node *n, tg_cfg_errors *errs) {
  tg_models_conf *m = models_of(s, errs);
  if (!m) return;
  const char *user = n->args[0].text;
  int any = strcmp(user, "*") == 0;
  for (size_t i = 0; i < m->n; i++)
    if (any ? !m->lists[i].user : (m->lists[i].user && strcmp(m->lists[i].user, user) == 0)) {
      ERR(errs, &n->args[0], "a second 'models' line for '%s'", user);
      return;
    }
  tg_model_list *v = realloc(m->lists, (m->n + 1) * sizeof *v);
  if (!v) return (void)(errs->oom = 1);
  m->lists = v;
  tg_model_list *ml = &m->lists[m->n++];
  memset(ml, 0, sizeof *ml);
  if (!any && !(ml->user = strdup(user))) errs->oom = 1;
  model_names(ml, n, errs);
}

static tg_quota_conf *quota_of(tg_site_conf *s, tg_cfg_errors *errs) {
  tg_limits_conf *l = tg_cfg_site_limits(s, errs);
  if (!l) return NULL;
  if (!l->quota) {
    if (!(l->quota = calloc(1, sizeof *l->quota))) return errs->oom = 1, NULL;
    l->quota->routes = tg_limit_default_routes();
  }
  return l->quota;
}

/* "10k/m", "2m/day", "5000/min": tokens (k = 1000, m = 1000000) per window. */
static int parse_tokens(const char *s, uint64_t *per_minute, uint64_t *per_day) {
  const char *slash = strchr(s, '/');
  char num[24];
  uint64_t v, mult = 1;
  if (!slash || slash == s || (size_t)(slash - s) >= sizeof num) return -1;
  size_t n = (size_t)(slash - s);
  memcpy(num, s, n);
  num[n] = 0;
  if (num[n - 1] == 'k') mult = 1000, num[n - 1] = 0;
  else if (num[n - 1] == 'm') mult = 1000000, num[n - 1] = 0;
  if (tg_cfg_parse_uint(num, 1000000000000ull, &v) < 0 || v == 0) return -1;
  const char *w = slash + 1;
  if (!strcmp(w, "m") || !strcmp(w, "min")) *per_minute = v * mult;
  else if (!strcmp(w, "d") || !strcmp(w, "day")) *per_day = v * mult;
  else return -1;
  return 0;
}

void tg_cfg_quota_directive(tg_site_conf *s, const tg_cfg_node *n, tg_cfg_errors *errs) {
  tg_quota_conf *q = quota_of(s, errs);
  static const char usage[] = "'quota' takes tokens LIMIT... per user [on ROUTES...], LIMIT such as 10k/m or 100k/d";
  if (!q) return;
  if (q->per_minute || q->per_day) return (void)ERR(errs, &n->name, "duplicate 'quota'");
  if (strcmp(n->args[0].text, "tokens") != 0) return (void)ERR(errs, &n->args[0], "%s", usage);
  uint64_t m = 0, d = 0;
  size_t i = 1;
  for (; i < n->nargs && strcmp(n->args[i].text, "per") != 0; i++)
    if (parse_tokens(n->args[i].text, &m, &d) < 0)
      return (void)ERR(errs, &n->args[i], "invalid token limit '%s' (such as 10k/m or 100k/d)", n->args[i].text);
  if (i == 1 || i + 1 >= n->nargs || strcmp(n->args[i + 1].text, "user") != 0)
    return (void)ERR(errs, &n->args[i < n->nargs ? i : n->nargs - 1], "%s", usage);
  i += 2;
  if (i < n->nargs && strcmp(n->args[i].text, "on") == 0) {
    if (!(q->routes = tg_cfg_parse_routes(n, i + 1, errs))) return;
  } else if (i < n->nargs) {
    return (void)ERR(errs, &n->args[i], "%s", usage);
  }
  q->per_minute = m, q->per_day = d;
  if (!q->store && !(q->store = tg_quota_store_new(16384))) errs->oom = 1;
}

void tg_cfg_quota_state_directive(tg_site_conf *s, const tg_cfg_node *n, const char *config_path, tg_cfg_errors *errs) {
  tg_quota_conf *q = quota_of(s, errs);
  if (!q) return;
  char *path = tg_cfg_resolve_path(config_path, n->args[0].text), err[256];
  if (!path) return (void)(errs->oom = 1);
  tg_quota_store *st = tg_quota_store_open(path, err, sizeof err);
  if (!st) ERR(errs, &n->args[0], "quota state %s: %s", path, err);
  else {
    tg_quota_store_release(q->store); /* a private one made by `quota` */
    q->store = st;
  }
  free(path);
}
