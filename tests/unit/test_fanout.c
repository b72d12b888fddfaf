/* The merges of the listings several servers answer (tollgate/fanout.h). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tg_test.h"
#include "tollgate/fanout.h"

static json_t *merged(tg_fanout_kind kind, const char *const *bodies, size_t n, size_t *used) {
  tg_fanout_part parts[8];
  static const char *const servers[] = {"a:1", "b:2", "c:3", "d:4"};
  for (size_t i = 0; i < n; i++) parts[i] = (tg_fanout_part){bodies[i], strlen(bodies[i]), servers[i]};
  size_t len = 0;
  char *text = tg_fanout_merge(kind, parts, n, &len, used);
  if (!text) return NULL;
  json_t *o = json_loadb(text, len, 0, NULL);
  free(text);
  return o;
}

static const char *name_at(json_t *o, const char *list, size_t i, const char *key) {
  return json_string_value(json_object_get(json_array_get(json_object_get(o, list), i), key));
}

/* The values of key over o's list, joined by ',' ("-" for none). */
static const char *joined(json_t *o, const char *list, const char *key) {
  static char out[256];
  size_t n = 0;
  out[0] = 0;
  for (size_t i = 0; i < json_array_size(json_object_get(o, list)); i++) {
    const char *v = name_at(o, list, i, key);
    n += (size_t)snprintf(out + n, sizeof out - n, "%s%s", i ? "," : "", v ? v : "-");
    if (n >= sizeof out) break;
  }
  return out;
}

static void test_time(void) {
  long long s;
  long ns;
  TG_CHECK(tg_fanout_time("1970-01-01T00:00:00Z", &s, &ns) == 0 && s == 0 && ns == 0);
  TG_CHECK(tg_fanout_time("2024-05-01T10:00:00.5-07:00", &s, &ns) == 0 && s == 1714582800 && ns == 500000000);
  TG_CHECK(tg_fanout_time("2024-05-01T17:00:00.123456789123Z", &s, &ns) == 0 && s == 1714582800 && ns == 123456789);
  TG_CHECK(tg_fanout_time("2024-05-01 17:00:00Z", &s, &ns) < 0);
  TG_CHECK(tg_fanout_time("2024-13-01T17:00:00Z", &s, &ns) < 0);
  TG_CHECK(tg_fanout_time("2024-05-01T17:00:00", &s, &ns) < 0);
  TG_CHECK(tg_fanout_time("2024-05-01T17:00:00+0100", &s, &ns) < 0);
  TG_CHECK(tg_fanout_time("2024-05-01T17:00:00.Z", &s, &ns) < 0);
}

static void test_tags_dedup_newest(void) {
  const char *const bodies[] = {
      "{\"models\":[{\"name\":\"b:latest\",\"modified_at\":\"2024-01-01T00:00:00Z\",\"digest\":\"old\"},"
      "{\"name\":\"a:latest\",\"modified_at\":\"2024-03-01T00:00:00+01:00\"}]}",
      "{\"models\":[{\"name\":\"b:latest\",\"modified_at\":\"2024-02-01T00:00:00-05:00\",\"digest\":\"new\"},"
      "{\"name\":\"c:latest\",\"modified_at\":\"bad\"},{\"nameless\":1},7]}",
      "not json",
      "{\"models\":{}}",
  };
  size_t used = 0;
  json_t *o = merged(TG_FANOUT_TAGS, bodies, 4, &used);
  TG_CHECK(o && used == 2);
  TG_CHECK_STR(joined(o, "models", "name"), "a:latest,b:latest,c:latest"); /* c has no time: last */
  TG_CHECK_STR(joined(o, "models", "digest"), "-,new,-");
  TG_CHECK_STR(joined(o, "models", "server"), "-,-,-");
  json_decref(o);
}

static void test_openai_models(void) {
  const char *const bodies[] = {
      "{\"object\":\"list\",\"data\":[{\"id\":\"x\",\"created\":5},{\"id\":\"y\",\"created\":9}]}",
      "{\"object\":\"list\",\"data\":[{\"id\":\"x\",\"created\":10,\"owned_by\":\"me\"}]}",
  };
  size_t used = 0;
  json_t *o = merged(TG_FANOUT_MODELS, bodies, 2, &used);
  TG_CHECK(o && used == 2);
  TG_CHECK_STR(json_string_value(json_object_get(o, "object")), "list");
  TG_CHECK_STR(joined(o, "data", "id"), "x,y");
  TG_CHECK_STR(joined(o, "data", "owned_by"), "me,-");
  json_decref(o);
}

static void test_ps_each_with_server(void) {
  const char *const bodies[] = {"{\"models\":[{\"name\":\"a:latest\"}]}", "{\"models\":[]}",
                                "{\"models\":[{\"name\":\"a:latest\"},{\"name\":\"b:latest\"}]}"};
  size_t used = 0;
  json_t *o = merged(TG_FANOUT_PS, bodies, 3, &used);
  TG_CHECK(o && used == 3);
  TG_CHECK_STR(joined(o, "models", "server"), "a:1,c:3,c:3");
  TG_CHECK_STR(joined(o, "models", "name"), "a:latest,a:latest,b:latest");
  json_decref(o);
}

static void test_nothing_usable(void) {
  const char *const bodies[] = {"[]", "{\"models\":null}"};
  size_t used = 9;
  json_t *o = merged(TG_FANOUT_TAGS, bodies, 2, &used);
  TG_CHECK(o && used == 0);
  TG_CHECK(json_array_size(json_object_get(o, "models")) == 0);
  json_decref(o);
}

void tg_suite_fanout(void) {
  TG_RUN(test_time);
  TG_RUN(test_tags_dedup_newest);
  TG_RUN(test_openai_models);
  TG_RUN(test_ps_each_with_server);
  TG_RUN(test_nothing_usable);
}
