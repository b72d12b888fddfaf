/* respond.c: HTTP/1.1 response heads, whole responses (text, JSON, errors in
 * Ollama's and OpenAI's shapes) and chunked transfer-encoding framing. */
#include "mock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *status_text(int status) {
  switch (status) {
  case 200: return "OK";
  case 204: return "No Content";
  case 400: return "Bad Request";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 413: return "Request Entity Too Large";
  case 503: return "Service Unavailable";
  default: return "Internal Server Error";
  }
}

/* The Date header value, formatted once a second per worker. */
static const char *date_now(mock_worker_t *w) {
  time_t now = time(NULL);
  if (now != w->date_sec) {
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(w->date, sizeof w->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    w->date_sec = now;
  }
  return w->date;
}

/* Append a response head; clen < 0 means chunked. */
static void head_format(mock_conn_t *c, mock_buf_t *out, int status, const char *ctype, long long clen) {
  c->status = status;
  mock_buf_printf(out, "HTTP/1.1 %d %s\r\n", status, status_text(status));
  if (ctype) mock_buf_printf(out, "Content-Type: %s\r\n", ctype);
  mock_buf_printf(out, "Date: %s\r\n", date_now(c->worker));
  if (clen >= 0) mock_buf_printf(out, "Content-Length: %lld\r\n", clen);
  else mock_buf_puts(out, "Transfer-Encoding: chunked\r\n");
  if (!c->keep_alive) mock_buf_puts(out, "Connection: close\r\n");
  mock_buf_puts(out, "\r\n");
}

void mock_write_head(mock_conn_t *c, int status, const char *ctype, long long clen) {
  mock_buf_t out = {0};
  head_format(c, &out, status, ctype, clen);
  mock_conn_write(c, out.p, out.len);
  mock_buf_free(&out);
}

/* A whole response in one write; HEAD requests get the head only. */
void mock_respond(mock_conn_t *c, int status, const char *ctype, const char *body, size_t len) {
  mock_buf_t out = {0};
  head_format(c, &out, status, ctype, (long long)len);
  if (!c->head) mock_buf_append(&out, body, len);
  mock_conn_write(c, out.p, out.len);
  mock_buf_free(&out);
}

/* Respond with a JSON document (steals the reference), as gin's c.JSON does. */
void mock_respond_json(mock_conn_t *c, int status, json_t *body) {
  char *text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(9));
  json_decref(body);
  if (!text) {
    mock_respond(c, 500, "text/plain; charset=utf-8", "json error", 10);
    return;
  }
  mock_respond(c, status, "application/json; charset=utf-8", text, strlen(text));
  free(text);
}

/* An OpenAI error type for a status, as openai.NewError picks it. */
static const char *openai_error_type(int status) {
  if (status == 400) return "invalid_request_error";
  if (status == 404) return "not_found_error";
  return "api_error";
}

/* {"error":msg} (Ollama) or {"error":{"message",...}} (OpenAI-compatible routes). */
void mock_respond_error(mock_conn_t *c, int status, const char *msg, bool openai) {
  if (!openai) {
    mock_respond_json(c, status, json_pack("{s:s}", "error", msg));
    return;
  }
  json_t *err = json_pack("{s:s,s:s,s:n,s:n}", "message", msg, "type", openai_error_type(status), "param", "code");
  mock_respond_json(c, status, json_pack("{s:o}", "error", err));
}

/* One chunk of a chunked body, in its own write. */
void mock_write_chunk(mock_conn_t *c, const char *data, size_t len) {
  char size[24];
  int n = snprintf(size, sizeof size, "%zx\r\n", len);
  uv_buf_t parts[3] = {uv_buf_init(size, (unsigned)n), uv_buf_init((char *)data, (unsigned)len),
                       uv_buf_init("\r\n", 2)};
  mock_conn_writev(c, parts, 3);
}

void mock_write_last_chunk(mock_conn_t *c) { mock_conn_write(c, "0\r\n\r\n", 5); }
