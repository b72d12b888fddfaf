/* The merges of the listings several servers answer (tollgate/fanout.h):
 * pure functions of the servers' bodies, which are outside input. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate/fanout.h"

/* n decimal digits at s, or -1. */
static int digits(const char *s, int n) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's
 * days_from_civil). */
static long long days_from_civil(long long y, unsigned m, unsigned d) {
  y -= m <= 2;
  long long era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (long long)doe - 719468;
}

int tg_fanout_time(const char *s, long long *sec, long *nsec) {
  if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
    return -1;
  int Y = digits(s, 4), M = digits(s + 5, 2), D = digits(s + 8, 2), h = digits(s + 11, 2), m = digits(s + 14, 2),
      S = digits(s + 17, 2);
  if (Y < 0 || M < 1 || M > 12 || D < 1 || D > 31 || h < 0 || h > 23 || m < 0 || m > 59 || S < 0 || S > 60) return -1;
  const char *p = s + 19;
  long ns = 0;
  if (*p == '.') {
    int k = 0;
    for (p++; *p >= '0' && *p <= '9'; p++, k++)
      if (k < 9) ns = ns * 10 + (*p - '0');
    if (k == 0) return -1;
    for (; k < 9; k++) ns *= 10;
  }
  int off = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int oh = digits(p + 1, 2), om = p[1] && p[2] && p[3] == ':' ? digits(p + 4, 2) : -1;
    if (oh < 0 || oh > 23 || om < 0 || om > 59) return -1;
    off = (*p == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    p += 6;
  } else {
    return -1;
  }
  if (*p) return -1;
  *sec = days_from_civil(Y, (unsigned)M, (unsigned)D) * 86400 + h * 3600 + m * 60 + S - off;
  *nsec = ns;
  return 0;
}

/* One model of the merged listing. */
typedef struct item {
  json_t *m;
  long long sec; /* its time; LLONG_MIN-ish when it has none */
  long nsec;
  size_t order; /* first seen: keeps the sort stable */
} item;

typedef struct merge {
  tg_fanout_kind kind;
  item *items;
  size_t n, cap;
  json_t *index; /* name -> position in items */
} merge;

/* The time an entry carries: modified_at (tags) or created (OpenAI). */
static void entry_time(const merge *g, json_t *m, long long *sec, long *nsec) {
  *sec = -(1LL << 62), *nsec = 0;
  if (g->kind == TG_FANOUT_MODELS) {
    json_t *c = json_object_get(m, "created");
    if (json_is_integer(c)) *sec = (long long)json_integer_value(c);
    return;
  }
  json_t *t = json_object_get(m, "modified_at");
  long long s;
  long ns;
  if (json_is_string(t) && tg_fanout_time(json_string_value(t), &s, &ns) == 0) *sec = s, *nsec = ns;
}

static int newer(const item *a, long long sec, long nsec) { return sec > a->sec || (sec == a->sec && nsec > a->nsec); }

/* Appends m (a reference taken). Returns 0, or -1 when out of memory. */
static int item_add(merge *g, json_t *m, long long sec, long nsec) {
  if (g->n == g->cap) {
    size_t cap = g->cap ? g->cap * 2 : 64;
    item *grown = realloc(g->items, cap * sizeof *grown);
    if (!grown) return -1;
    g->items = grown, g->cap = cap;
  }
  g->items[g->n] = (item){json_incref(m), sec, nsec, g->n};
  g->n++;
  return 0;
}

/* Adds entry m (the part's root keeps it alive: a reference is taken),
 * or keeps it in place of an older one of the same name. */
static int merge_entry(merge *g, json_t *m, const char *server) {
  if (!json_is_object(m)) return 0;
  if (g->kind == TG_FANOUT_PS) {
    if (json_object_set_new(m, "server", json_string(server)) < 0) return -1;
  } else {
    json_t *name = json_object_get(m, g->kind == TG_FANOUT_MODELS ? "id" : "name");
    if (!json_is_string(name) && g->kind == TG_FANOUT_TAGS) name = json_object_get(m, "model");
    if (!json_is_string(name) || strlen(json_string_value(name)) != json_string_length(name)) return 0;
    long long sec;
    long nsec;
    entry_time(g, m, &sec, &nsec);
    json_t *at = json_object_get(g->index, json_string_value(name));
    if (at) {
      item *it = &g->items[json_integer_value(at)];
      if (newer(it, sec, nsec)) {
        json_decref(it->m);
        it->m = json_incref(m), it->sec = sec, it->nsec = nsec;
      }
      return 0;
    }
    if (json_object_set_new(g->index, json_string_value(name), json_integer((json_int_t)g->n)) < 0) return -1;
    return item_add(g, m, sec, nsec);
  }
  return item_add(g, m, 0, 0);
}

/* Newest first; equal times in the order first seen. */
static int by_time(const void *pa, const void *pb) {
  const item *a = pa, *b = pb;
  if (a->sec != b->sec) return a->sec > b->sec ? -1 : 1;
  if (a->nsec != b->nsec) return a->nsec > b->nsec ? -1 : 1;
  return a->order < b->order ? -1 : a->order > b->order;
}

/* One server's answer: its entries merged. Returns 1 when it was a
 * listing, 0 when not, -1 when out of memory. */
static int merge_part(merge *g, const tg_fanout_part *p) {
  json_t *root = json_loadb(p->body, p->len, 0, NULL);
  json_t *list = json_is_object(root) ? json_object_get(root, g->kind == TG_FANOUT_MODELS ? "data" : "models") : NULL;
  int rc = json_is_array(list);
  size_t i;
  json_t *m;
  if (rc) json_array_foreach(list, i, m) if (merge_entry(g, m, p->server) < 0) rc = -1;
  json_decref(root);
  return rc;
}

char *tg_fanout_merge(tg_fanout_kind kind, const tg_fanout_part *parts, size_t n, size_t *out_len, size_t *used) {
  merge g = {.kind = kind, .index = json_object()};
  json_t *list = json_array(), *out = NULL;
  char *text = NULL;
  *used = 0;
  if (!g.index || !list) goto done;
  for (size_t i = 0; i < n; i++) {
    int rc = merge_part(&g, &parts[i]);
    if (rc < 0) goto done;
    *used += (size_t)rc;
  }
  if (kind != TG_FANOUT_PS && g.n) qsort(g.items, g.n, sizeof *g.items, by_time);
  for (size_t i = 0; i < g.n; i++)
    if (json_array_append(list, g.items[i].m) < 0) goto done;
  out = kind == TG_FANOUT_MODELS ? json_pack("{s:s,s:O}", "object", "list", "data", list)
                                 : json_pack("{s:O}", "models", list);
  if (out) text = json_dumps(out, JSON_COMPACT);
  if (text) *out_len = strlen(text);
done:
  for (size_t i = 0; i < g.n; i++) json_decref(g.items[i].m);
  free(g.items);
  json_decref(g.index);
  json_decref(list);
  json_decref(out);
  return text;
}
