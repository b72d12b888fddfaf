/* body.c: reading a request's JSON body the way Ollama (Go's encoding/json
 * through gin's ShouldBindJSON) does, with Go's error messages. */
#include "body.h"

#include <stdio.h>
#include <string.h>

static const char *go_json_kind(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT: return "object";
  case JSON_ARRAY: return "array";
  case JSON_STRING: return "string";
  case JSON_INTEGER:
  case JSON_REAL: return "number";
  default: return "bool";
  }
}

static void syntax_error(const char *body, size_t len, const json_error_t *e, char *err, size_t errlen) {
  size_t pos = (size_t)e->position;
  if (strstr(e->text, "end of file expected")) {
    json_error_t e2;
    json_decref(json_loadb(body, len, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &e2));
    pos = (size_t)e2.position;
    while (pos < len && strchr(" \t\r\n", body[pos])) pos++;
    snprintf(err, errlen, "invalid character '%c' after top-level value", pos < len ? body[pos] : '?');
  } else if (pos >= len) {
    snprintf(err, errlen, "unexpected EOF");
  } else {
    pos = pos > 0 ? pos - 1 : 0;
    snprintf(err, errlen, "invalid character '%c' looking for beginning of value", body[pos]);
  }
}

/* Parse the body into an object. On failure returns NULL with *empty set
 * for an empty body (Go's io.EOF) or err holding Go's message. go_type names
 * the Go struct, e.g. "api.GenerateRequest". A JSON null reads as {}. */
json_t *mock_body_parse(const mock_buf_t *body, const char *go_type, bool *empty, char *err, size_t errlen) {
  const char *p = body->p ? body->p : "";
  size_t len = body->len, i = 0;
  json_error_t e;
  *empty = false;
  while (i < len && strchr(" \t\r\n", p[i])) i++;
  if (i == len) {
    *empty = true;
    snprintf(err, errlen, "EOF");
    return NULL;
  }
  if (!strchr("{[\"-0123456789tfn", p[i])) {
    snprintf(err, errlen, "invalid character '%c' looking for beginning of value", p[i]);
    return NULL;
  }
  json_t *v = json_loadb(p, len, JSON_DECODE_ANY, &e);
  if (!v) {
    syntax_error(p, len, &e, err, errlen);
    return NULL;
  }
  if (json_is_null(v)) {
    json_decref(v);
    return json_object();
  }
  if (!json_is_object(v)) {
    snprintf(err, errlen, "json: cannot unmarshal %s into Go value of type %s", go_json_kind(v), go_type);
    json_decref(v);
    return NULL;
  }
  return v;
}

/* Go's error for a field of the wrong JSON type: want is JSON_STRING or
 * JSON_TRUE (bool). Returns false with err set when the field is wrong. */
bool mock_body_field_ok(json_t *obj, const char *key, json_type want, const char *go_type, char *err, size_t errlen) {
  json_t *v = json_object_get(obj, key);
  if (!v || json_is_null(v)) return true;
  if (want == JSON_STRING ? json_is_string(v) : json_is_boolean(v)) return true;
  const char *dot = strchr(go_type, '.');
  snprintf(err, errlen, "json: cannot unmarshal %s into Go struct field %s.%s of type %s", go_json_kind(v),
           dot ? dot + 1 : go_type, key, want == JSON_STRING ? "string" : "bool");
  return false;
}
