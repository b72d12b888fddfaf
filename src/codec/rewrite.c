/* Header rewriting between client and upstream (see tollgate/rewrite.h). */
#include "tollgate/rewrite.h"

#include <stdint.h>
#include <string.h>

/* Fields a proxy never forwards as they are: RFC 9110 7.6.1 hop-by-hop
 * fields, framing fields tollgate writes itself, and the forwarding fields
 * it sets from what it saw. */
// clang-format off
#define DROPPED_FIELDS(X)                                                                              \
  X("connection") X("keep-alive") X("proxy-connection") X("te") X("trailer") X("transfer-encoding")      \
  X("upgrade") X("proxy-authorization") X("proxy-authenticate") X("content-length") X("expect") X("host") \
  X("x-forwarded-for") X("x-forwarded-proto") X("x-forwarded-host") X("forwarded") X("x-real-ip")       \
  X("x-request-id")
// clang-format on
#define FIELD(s) {s, sizeof s - 1},
static const struct {
  const char *name;
  size_t len;
} dropped_fields[] = {DROPPED_FIELDS(FIELD)};
#undef FIELD
/* Bit n is set when some dropped name is n bytes long: most names are ruled
 * out by their length alone. */
#define LENGTH_BIT(s) | (1u << (sizeof s - 1))
static const uint32_t dropped_lengths = 0 DROPPED_FIELDS(LENGTH_BIT);
#undef LENGTH_BIT

/* Folds a name character for comparison: ASCII case-insensitive, '_' as
 * '-' (no locale: field names are ASCII tokens). */
static char fold(char c) {
  if (c >= 'A' && c <= 'Z') return (char)(c + ('a' - 'A'));
  return c == '_' ? '-' : c;
}

/* Compares two field names, case-insensitively and with '_' as '-'. */
static int names_eq_loose(const char *a, size_t an, const char *b, size_t bn) {
  if (an != bn) return 0;
  for (size_t i = 0; i < an; i++)
    if (fold(a[i]) != fold(b[i])) return 0;
  return 1;
}

static int name_eq_loose(const char *name, size_t len, const char *lower) {
  return names_eq_loose(name, len, lower, strlen(lower));
}

/* Is (name, len) one of the tokens of the message's Connection fields? */
static int listed_in_connection(const tg_head *h, const char *name, size_t len) {
  for (uint32_t i = 0; i < h->nfields; i++) {
    if (!tg_head_name_is(h, i, "connection")) continue;
    const char *v = tg_head_str(h, h->fields[i].value);
    const char *end = v + h->fields[i].value.len;
    while (v < end) {
      while (v < end && (*v == ' ' || *v == '\t' || *v == ',')) v++;
      const char *tok = v;
      while (v < end && *v != ',' && *v != ' ' && *v != '\t') v++;
      if (len && names_eq_loose(tok, (size_t)(v - tok), name, len)) return 1;
    }
  }
  return 0;
}

/* Is (name, len) one of dropped_fields? */
static int is_dropped(const char *name, size_t len) {
  if (len >= 32 || !(dropped_lengths >> len & 1)) return 0;
  char first = fold(name[0]);
  for (size_t i = 0; i < sizeof dropped_fields / sizeof dropped_fields[0]; i++)
    if (dropped_fields[i].len == len && dropped_fields[i].name[0] == first &&
        names_eq_loose(name, len, dropped_fields[i].name, len))
      return 1;
  return 0;
}

int tg_is_hop_by_hop(const tg_head *h, const char *name, size_t len) {
  return is_dropped(name, len) || listed_in_connection(h, name, len);
}

static int is_credential(const char *name, size_t len) {
  return name_eq_loose(name, len, "authorization") || name_eq_loose(name, len, "cookie");
}

static int in_list(const char *const *list, const char *name, size_t len) {
  for (; list && *list; list++)
    if (name_eq_loose(name, len, *list)) return 1;
  return 0;
}

/* Appends "Name: value\r\n" for every field that passes the filter. */
static int copy_fields(tg_buf *out, const tg_head *h, int drop_credentials, const char *const *drop) {
  int has_connection = tg_head_find(h, "connection") >= 0; /* its options are hop-by-hop too */
  for (uint32_t i = 0; i < h->nfields; i++) {
    const tg_field *f = &h->fields[i];
    const char *name = tg_head_str(h, f->name);
    if (is_dropped(name, f->name.len) || (has_connection && listed_in_connection(h, name, f->name.len))) continue;
    if (drop_credentials && is_credential(name, f->name.len)) continue;
    if (in_list(drop, name, f->name.len)) continue;
    if (tg_buf_reserve(out, f->name.len + f->value.len + 4) < 0) return -1;
    char *p = out->data + out->len;
    memcpy(p, name, f->name.len);
    p += f->name.len;
    *p++ = ':', *p++ = ' ';
    memcpy(p, tg_head_str(h, f->value), f->value.len);
    p += f->value.len;
    *p++ = '\r', *p++ = '\n';
    out->len = (size_t)(p - out->data);
  }
  return 0;
}

static int write_framing(tg_buf *out, tg_framing framing, uint64_t content_length) {
  if (framing == TG_FRAME_UPGRADE) return tg_buf_puts(out, "Connection: Upgrade\r\nUpgrade: websocket\r\n");
  if (framing == TG_FRAME_LENGTH)
    return tg_buf_puts(out, "Content-Length: ") | tg_buf_put_u64(out, content_length) | tg_buf_puts(out, "\r\n");
  if (framing == TG_FRAME_CHUNKED) return tg_buf_puts(out, "Transfer-Encoding: chunked\r\n");
  return 0;
}

/* Appends "Name: value\r\n". Returns 0 or -1. */
static int put_field(tg_buf *out, const char *name, const char *v, size_t n) {
  return tg_buf_puts(out, name) | tg_buf_append(out, v, n) | tg_buf_append(out, "\r\n", 2);
}

int tg_rewrite_request(tg_buf *out, const tg_head *h, const tg_req_meta *m, const tg_site_conf *site) {
  int host = tg_head_find(h, "host");
  const char *host_v = host >= 0 ? tg_head_str(h, h->fields[host].value) : "";
  size_t host_n = host >= 0 ? h->fields[host].value.len : 0;
  const char *pinned = site->upstream->host_header;
  int rc = tg_buf_puts(out, m->method) | tg_buf_append(out, m->root_slash ? " /" : " ", m->root_slash ? 2 : 1) |
           tg_buf_append(out, m->target, m->target_len) | tg_buf_append(out, " HTTP/1.1\r\n", 11);
  rc |= pinned ? put_field(out, "Host: ", pinned, strlen(pinned)) : put_field(out, "Host: ", host_v, host_n);
  rc |= copy_fields(out, h, !site->forward_credentials, m->drop);
  if (m->extra) rc |= tg_buf_puts(out, m->extra);
  rc |= put_field(out, "X-Forwarded-For: ", m->client_ip, strlen(m->client_ip));
  rc |= put_field(out, "X-Forwarded-Proto: ", m->proto, strlen(m->proto));
  if (host >= 0) rc |= put_field(out, "X-Forwarded-Host: ", host_v, host_n);
  if (m->request_id) rc |= put_field(out, "X-Request-Id: ", m->request_id, strlen(m->request_id));
  rc |= write_framing(out, m->websocket ? TG_FRAME_UPGRADE : m->framing, m->content_length);
  rc |= tg_buf_append(out, "\r\n", 2);
  return rc ? -1 : 0;
}

int tg_rewrite_response(tg_buf *out, const tg_head *h, int status, tg_framing framing, uint64_t content_length,
                        int close) {
  const char *reason = tg_status_reason(status);
  size_t reason_len = strlen(reason);
  if (h->target.len) {
    const char *r = tg_head_str(h, h->target);
    size_t i = 0;
    while (i < h->target.len && (unsigned char)r[i] >= 0x20 && r[i] != 0x7f) i++;
    if (i == h->target.len) { /* else the standard phrase: no control byte reaches the client */
      reason = r;
      reason_len = h->target.len;
    }
  }
  int rc = tg_buf_puts(out, "HTTP/1.1 ") | tg_buf_put_u64(out, (unsigned)status) | tg_buf_append(out, " ", 1) |
           tg_buf_append(out, reason, reason_len) | tg_buf_append(out, "\r\n", 2);
  rc |= copy_fields(out, h, 0, NULL);
  rc |= write_framing(out, framing, content_length);
  if (close) rc |= tg_buf_puts(out, "Connection: close\r\n");
  rc |= tg_buf_append(out, "\r\n", 2);
  return rc ? -1 : 0;
}

int tg_head_out_add(tg_buf *out, const char *name, const char *value) {
  if (out->len < 2) return -1;
  out->len -= 2; /* the empty line goes back after the new field */
  return tg_buf_puts(out, name) | tg_buf_append(out, ": ", 2) | tg_buf_puts(out, value) |
         tg_buf_append(out, "\r\n\r\n", 4);
}

const char *tg_status_reason(int status) {
  switch (status) {
  case 100: return "Continue";
  case 200: return "OK";
  case 204: return "No Content";
  case 301: return "Moved Permanently";
  case 304: return "Not Modified";
  case 308: return "Permanent Redirect";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 411: return "Length Required";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 417: return "Expectation Failed";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  case 505: return "HTTP Version Not Supported";
  default: return "Unknown";
  }
}
