/* Where a configuration value came from ("file:line:col: ", or the flag
 * that gave it), so that a refusal at start, long after parsing, names the
 * line to fix. A value is known by the address of its string (a listen's
 * or a server's host, the access log's path), which stays put while the
 * arrays holding the structs grow. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "syntax.h"

typedef struct origin {
  const void *what;
  char *text; /* "file:line:col: " */
} origin;

struct tg_cfg_origins {
  origin *v;
  size_t n;
};

int tg_config_origin_set(tg_config *cfg, const void *what, const char *text) {
  struct tg_cfg_origins *o = cfg->origins;
  if (!o && !(o = cfg->origins = calloc(1, sizeof *o))) return -1;
  origin *grown = realloc(o->v, (o->n + 1) * sizeof *grown);
  if (!grown) return -1;
  o->v = grown;
  size_t len = strlen(text) + 3;
  if (!(o->v[o->n].text = malloc(len))) return -1;
  snprintf(o->v[o->n].text, len, "%s: ", text);
  o->v[o->n++].what = what;
  return 0;
}

void tg_cfg_origin_note(tg_config *cfg, const void *what, const tg_cfg_token *t, tg_cfg_errors *errs) {
  char text[512];
  snprintf(text, sizeof text, "%s:%u:%u", cfg->path ? cfg->path : "(config)", t->line, t->col);
  if (tg_config_origin_set(cfg, what, text) < 0) errs->oom = 1;
}

const char *tg_config_where(const tg_config *cfg, const void *what) {
  const struct tg_cfg_origins *o = cfg ? cfg->origins : NULL;
  for (size_t i = o ? o->n : 0; i-- > 0;)
    if (o->v[i].what == what) return o->v[i].text;
  return "";
}

void tg_cfg_origins_free(struct tg_cfg_origins *o) {
  if (!o) return;
  for (size_t i = 0; i < o->n; i++) free(o->v[i].text);
  free(o->v);
  free(o);
}
