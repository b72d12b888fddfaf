/* body.h: JSON request bodies read with Go's error messages (body.c). */
#ifndef MOCK_OLLAMA_BODY_H
#define MOCK_OLLAMA_BODY_H

#include "mock.h"

json_t *mock_body_parse(const mock_buf_t *body, const char *go_type, bool *empty, char *err, size_t errlen);
bool mock_body_field_ok(json_t *obj, const char *key, json_type want, const char *go_type, char *err, size_t errlen);

#endif
