/* Model names as Ollama compares them, the per-user allow-lists, request
 * bodies read the way Ollama reads them, and the filtering of listings
 * (see tollgate/quota.h). Ollama decodes bodies with Go's encoding/json,
 * which matches keys to struct fields case-insensitively (with Unicode
 * simple folding: "ſ" is "s", the Kelvin sign is "k") and keeps the last
 * of repeated keys; a check that read bodies any other way could be walked
 * around, so these functions read them the same way or refuse them. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate/model-name.h"
#include "tollgate/quota.h"

/* --- names --- */

int tg_model_match(const char *pattern, const char *normal) {
  if (strcmp(pattern, "*") == 0) return 1;
  if (!normal) return 0;
  size_t pl = strlen(pattern);
  if (pl >= 2 && pattern[pl - 1] == '*' && pattern[pl - 2] == ':') /* any tag: the rest is a tag, not a host's port */
    return strncmp(pattern, normal, pl - 1) == 0 && !strchr(normal + pl - 1, '/');
  return strcmp(pattern, normal) == 0;
}

const tg_model_list *tg_models_for(const tg_models_conf *m, const char *user) {
  const tg_model_list *any = NULL;
  if (!m) return NULL;
  for (size_t i = 0; i < m->n; i++) {
    if (!m->lists[i].user) any = &m->lists[i];
    else if (user && strcmp(m->lists[i].user, user) == 0) return &m->lists[i];
  }
  return any;
}

int tg_models_allowed_normal(const tg_model_list *l, const char *normal) {
  if (!l) return 1;
  for (size_t i = 0; i < l->n; i++)
    if (tg_model_match(l->names[i], normal)) return 1;
  return 0;
}

int tg_models_allowed(const tg_model_list *l, const char *name, size_t n) {
  char normal[TG_MODEL_NAME_MAX];
  return tg_models_allowed_normal(l, tg_model_normal(name, n, normal, sizeof normal) >= 0 ? normal : NULL);
}

void tg_models_conf_free(tg_models_conf *m) {
  if (!m) return;
  for (size_t i = 0; i < m->n; i++) {
    for (size_t j = 0; j < m->lists[i].n; j++) free(m->lists[i].names[j]);
    free(m->lists[i].names);
    free(m->lists[i].user);
  }
  free(m->lists);
  free(m);
}

/* --- keys as Go matches them --- */

/* Does the JSON key equal want (lower-case ASCII) under Go's folding? */
static int key_is(const char *key, const char *want) {
  const unsigned char *k = (const unsigned char *)key;
  for (; *want; want++) {
    if (*k == (unsigned char)*want || (*k >= 'A' && *k <= 'Z' && *k + 32 == *want)) k++;
    else if (*want == 's' && k[0] == 0xc5 && k[1] == 0xbf) k += 2;                 /* U+017F */
    else if (*want == 'k' && k[0] == 0xe2 && k[1] == 0x84 && k[2] == 0xaa) k += 3; /* U+212A */
    else return 0;
  }
  return *k == 0;
}

/* The value of the one key of obj that folds to want; NULL when none.
 * *dup is set when more than one does. */
static json_t *get_folded(json_t *obj, const char *want, int *dup) {
  json_t *found = NULL, *v;
  const char *k;
  json_object_foreach(obj, k, v) {
    if (!key_is(k, want)) continue;
    if (found) *dup = 1;
    found = v;
  }
  return found;
}

json_t *tg_body_inspect(const char *body, size_t n, tg_body_facts *f, char *err, size_t errlen) {
  json_error_t je;
  memset(f, 0, sizeof *f);
  f->stream = -1;
  json_t *root = json_loadb(body, n, JSON_REJECT_DUPLICATES, &je);
  if (!root) {
    snprintf(err, errlen, "invalid JSON in the request body: %s", je.text);
    return NULL;
  }
  int dup = 0;
  if (!json_is_object(root)) {
    snprintf(err, errlen, "the request body must be a JSON object");
    goto fail;
  }
  get_folded(root, "model", &dup), get_folded(root, "name", &dup); /* read by the request scanner; here only once */
  json_t *stream = get_folded(root, "stream", &dup), *opts = get_folded(root, "stream_options", &dup);
  json_t *usage = json_is_object(opts) ? get_folded(opts, "include_usage", &dup) : NULL;
  if (dup) {
    snprintf(err, errlen, "a key of the request body is given twice");
    goto fail;
  }
  f->stream = json_is_boolean(stream) ? json_is_true(stream) : -1;
  f->has_stream_options = opts != NULL;
  f->include_usage = json_is_true(usage);
  return root;
fail:
  json_decref(root);
  return NULL;
}

/* Sets stream_options.include_usage in the parsed body (every key that
 * Go would read as either replaced). */
static int set_include_usage(json_t *root) {
  const char *k;
  void *tmp;
  json_t *v, *opts = NULL;
  json_object_foreach_safe(root, tmp, k, v) {
    if (!key_is(k, "stream_options")) continue;
    if (json_is_object(v)) opts = json_incref(v);
    json_object_del(root, k);
  }
  if (!opts && !(opts = json_object())) return -1;
  json_object_foreach_safe(opts, tmp, k, v) if (key_is(k, "include_usage")) json_object_del(opts, k);
  if (json_object_set_new(opts, "include_usage", json_true()) < 0) return json_decref(opts), -1;
  return json_object_set_new(root, "stream_options", opts);
}

int tg_body_ask_usage(json_t *root, const tg_body_facts *f, const char *body, size_t n, tg_buf *out) {
  static const char add[] = "\"stream_options\":{\"include_usage\":true}";
  if (!f->has_stream_options) { /* insert it after the '{': the client's bytes stay as they were */
    const char *open = memchr(body, '{', n);
    if (!open) return -1;
    size_t at = (size_t)(open - body) + 1, i = at;
    while (i < n && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n')) i++;
    int rc = tg_buf_append(out, body, at) | tg_buf_append(out, add, sizeof add - 1);
    if (i < n && body[i] != '}') rc |= tg_buf_puts(out, ",");
    return rc | tg_buf_append(out, body + at, n - at);
  }
  if (set_include_usage(root) < 0) return -1;
  char *s = json_dumps(root, JSON_COMPACT);
  if (!s) return -1;
  int rc = tg_buf_puts(out, s);
  free(s);
  return rc;
}

/* --- responses --- */

size_t tg_sse_strip_usage(char *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    char *end = memmem(p + i, n - i, "\n\n", 2);
    size_t e = end ? (size_t)(end - p) + 2 : n, len = e - i;
    int usage = len > 5 && memcmp(p + i, "data:", 5) == 0 && memmem(p + i, len, "\"choices\":[]", 12) &&
                memmem(p + i, len, "\"usage\":", 8);
    if (!usage) {
      i = e;
      continue;
    }
    memmove(p + i, p + e, n - e);
    n -= len;
  }
  return n;
}

int tg_models_filter_listing(const tg_model_list *l, const char *body, size_t n, tg_buf *out) {
  json_t *root = json_loadb(body, n, 0, NULL);
  json_t *list = json_object_get(root, "models");
  const char *field = "name";
  if (!json_is_array(list)) list = json_object_get(root, "data"), field = "id";
  int rc = -1;
  if (!json_is_object(root) || !json_is_array(list)) goto done;
  for (size_t i = json_array_size(list); i-- > 0;) {
    json_t *name = json_object_get(json_array_get(list, i), field);
    if (!json_is_string(name) && !strcmp(field, "name")) name = json_object_get(json_array_get(list, i), "model");
    if (!json_is_string(name) || !tg_models_allowed(l, json_string_value(name), json_string_length(name)))
      json_array_remove(list, i);
  }
  char *s = json_dumps(root, JSON_COMPACT);
  rc = s ? tg_buf_puts(out, s) : -1;
  free(s);
done:
  json_decref(root);
  return rc;
}
