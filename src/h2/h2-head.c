/* An HTTP/2 request's header block checked and translated into an
 * HTTP/1-shaped head (include/tollgate/h2-head.h). nghttp2 checks much of
 * this too when its HTTP messaging is on; this module does not rely on it,
 * so that the rules hold whatever nghttp2's version or options. */
#include "tollgate/h2-head.h"

#include <llhttp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char E_SIZE[] = "the header list is larger than max_header_size";
static const char E_FIELDS[] = "more header fields than tollgate keeps";
static const char E_MEMORY[] = "out of memory";
static const char E_PSEUDO_LATE[] = "a pseudo-header after a regular field";
static const char E_PSEUDO_UNKNOWN[] = "an unknown pseudo-header";
static const char E_PSEUDO_TWICE[] = "a pseudo-header twice";
static const char E_PROTOCOL[] = "extended CONNECT (:protocol) is not supported";
static const char E_NAME_EMPTY[] = "an empty field name";
static const char E_NAME_UPPER[] = "an uppercase field name";
static const char E_NAME_CHAR[] = "an invalid character in a field name";
static const char E_VALUE_CHAR[] = "an invalid character in a field value";
static const char E_VALUE_SPACE[] = "white space around a field value";
static const char E_CONN[] = "a connection-specific header field";
static const char E_TE[] = "TE other than trailers";
static const char E_CL[] = "an invalid content-length";
static const char E_CL_TWICE[] = "more than one content-length";
static const char E_HOST_TWICE[] = "more than one host";
static const char E_NO_METHOD[] = "no :method";
static const char E_NO_SCHEME[] = "no :scheme";
static const char E_NO_PATH[] = "no :path";
static const char E_CONNECT[] = "CONNECT is not supported";
static const char E_METHOD[] = "an unknown method";
static const char E_SCHEME[] = "a :scheme other than http or https";
static const char E_PATH[] = "a :path that is not a path";
static const char E_NO_HOST[] = "no :authority and no host";
static const char E_HOST[] = "an invalid :authority or host";
static const char E_HOST_DIFF[] = "host differs from :authority";
static const char E_CL_MORE[] = "more DATA than the content-length";
static const char E_CL_LESS[] = "less DATA than the content-length";

void tg_h2_req_init(tg_h2_req *r, size_t max_bytes) {
  memset(r, 0, sizeof *r);
  r->max_bytes = max_bytes;
  r->content_length = -1;
  r->method = -1;
}

void tg_h2_req_free(tg_h2_req *r) {
  tg_head_free(&r->head);
  tg_buf_free(&r->aside);
  memset(r, 0, sizeof *r);
}

static const char *refuse(tg_h2_req *r, const char *why) { return r->err = why; }

static int is_name(const uint8_t *p, size_t n, const char *lit) { return n == strlen(lit) && memcmp(p, lit, n) == 0; }

/* RFC 9110 5.6.2 tchar, lowercase only (RFC 9113 8.2.1). */
static const char *check_name(const uint8_t *p, size_t n) {
  static const char tchar_punct[] = "!#$%&'*+-.^_`|~";
  if (n == 0) return E_NAME_EMPTY;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = p[i];
    if (c >= 'A' && c <= 'Z') return E_NAME_UPPER;
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c && strchr(tchar_punct, c)))) return E_NAME_CHAR;
  }
  return NULL;
}

/* RFC 9113 8.2.1 and RFC 9110 5.5: no NUL, CR, LF or other control byte
 * but HTAB, and no white space at either end. */
static const char *check_value(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f) return E_VALUE_CHAR;
  if (n && (p[0] == ' ' || p[0] == '\t' || p[n - 1] == ' ' || p[n - 1] == '\t')) return E_VALUE_SPACE;
  return NULL;
}

/* The characters the HTTP/1 side accepts in Host (src/http/server.c
 * host_is_valid): a name, an IPv4 or bracketed IPv6 address, a port. */
static int authority_ok(const char *s, size_t n) {
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!((c | 0x20) >= 'a' && (c | 0x20) <= 'z') && !(c >= '0' && c <= '9') && !memchr("-._~:[]%", c, 8)) return 0;
  }
  return 1;
}

static int method_number(const uint8_t *p, size_t n) {
#define TG_METHOD(num, name, string)                                                                                   \
  if (n == sizeof #string - 1 && memcmp(p, #string, n) == 0) return num;
  HTTP_METHOD_MAP(TG_METHOD)
#undef TG_METHOD
  return -1;
}

static int keep_aside(tg_h2_req *r, tg_span *s, const uint8_t *v, size_t n) {
  s->off = (uint32_t)r->aside.len;
  s->len = (uint32_t)n;
  return tg_buf_append(&r->aside, v, n);
}

static const char *head_rc(tg_h2_req *r, int rc) {
  if (rc == TG_HEAD_TOO_BIG) return refuse(r, r->head.nfields >= TG_HEAD_MAX_FIELDS ? E_FIELDS : E_SIZE);
  return rc < 0 ? refuse(r, E_MEMORY) : NULL;
}

static const char *add_field(tg_h2_req *r, const char *name, size_t nlen, const void *value, size_t vlen) {
  const char *e = head_rc(r, tg_head_add_name(&r->head, name, nlen, r->max_bytes));
  return e ? e : head_rc(r, tg_head_add_value(&r->head, value, vlen, r->max_bytes));
}

static const char *pseudo_field(tg_h2_req *r, const uint8_t *name, size_t nlen, const uint8_t *v, size_t vlen) {
  if (r->regular) return refuse(r, E_PSEUDO_LATE);
  uint8_t bit = is_name(name, nlen, ":method")      ? TG_H2_SEEN_METHOD
                : is_name(name, nlen, ":scheme")    ? TG_H2_SEEN_SCHEME
                : is_name(name, nlen, ":path")      ? TG_H2_SEEN_PATH
                : is_name(name, nlen, ":authority") ? TG_H2_SEEN_AUTHORITY
                                                    : 0;
  if (!bit) return refuse(r, is_name(name, nlen, ":protocol") ? E_PROTOCOL : E_PSEUDO_UNKNOWN);
  if (r->seen & bit) return refuse(r, E_PSEUDO_TWICE);
  r->seen |= bit;
  const char *e = check_value(v, vlen);
  if (e) return refuse(r, e);
  switch (bit) {
  case TG_H2_SEEN_METHOD: r->method = method_number(v, vlen); return NULL;
  case TG_H2_SEEN_SCHEME:
    if (is_name(v, vlen, "https")) r->https = 1;
    else if (!is_name(v, vlen, "http")) return refuse(r, E_SCHEME);
    return NULL;
  case TG_H2_SEEN_PATH: return head_rc(r, tg_head_add_target(&r->head, (const char *)v, vlen, r->max_bytes));
  default: return keep_aside(r, &r->authority, v, vlen) < 0 ? refuse(r, E_MEMORY) : NULL;
  }
}

/* RFC 9113 8.2.2 (connection-specific fields), 8.1.1 (content-length),
 * 8.3.1 (host) and 8.2.3 (cookie). Sets *taken when the field is kept
 * aside (or dropped: TE: trailers) rather than added to the head as is. */
static const char *special_field(tg_h2_req *r, const uint8_t *name, size_t nlen, const uint8_t *v, size_t vlen,
                                 int *taken) {
  static const char *const conn[] = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"};
  *taken = 1;
  for (size_t i = 0; i < sizeof conn / sizeof conn[0]; i++)
    if (is_name(name, nlen, conn[i])) return refuse(r, E_CONN);
  if (is_name(name, nlen, "te")) return is_name(v, vlen, "trailers") ? NULL : refuse(r, E_TE);
  if (is_name(name, nlen, "content-length")) {
    if (r->content_length >= 0) return refuse(r, E_CL_TWICE);
    if (vlen == 0 || vlen > 18) return refuse(r, E_CL);
    int64_t n = 0;
    for (size_t i = 0; i < vlen; i++) {
      if (v[i] < '0' || v[i] > '9') return refuse(r, E_CL);
      n = n * 10 + (v[i] - '0');
    }
    r->content_length = n;
    return NULL;
  }
  if (is_name(name, nlen, "host")) {
    if (r->seen & TG_H2_SEEN_HOST) return refuse(r, E_HOST_TWICE);
    r->seen |= TG_H2_SEEN_HOST;
    return keep_aside(r, &r->host, v, vlen) < 0 ? refuse(r, E_MEMORY) : NULL;
  }
  if (is_name(name, nlen, "cookie")) {
    /* RFC 9113 8.2.3: crumbs joined with "; " into one field. */
    if (!(r->seen & TG_H2_SEEN_COOKIE)) {
      r->seen |= TG_H2_SEEN_COOKIE;
      r->cookie.off = (uint32_t)r->aside.len;
    } else if (tg_buf_append(&r->aside, "; ", 2) < 0) return refuse(r, E_MEMORY);
    if (tg_buf_append(&r->aside, v, vlen) < 0) return refuse(r, E_MEMORY);
    r->cookie.len = (uint32_t)(r->aside.len - r->cookie.off);
    return NULL;
  }
  *taken = 0;
  return NULL;
}

const char *tg_h2_req_field(tg_h2_req *r, const uint8_t *name, size_t nlen, const uint8_t *value, size_t vlen) {
  if (r->err) return r->err;
  r->list_size += nlen + vlen + TG_H2_FIELD_OVERHEAD;
  if (r->list_size > r->max_bytes) return refuse(r, E_SIZE);
  if (nlen && name[0] == ':') return pseudo_field(r, name, nlen, value, vlen);
  r->regular = 1;
  const char *e = check_name(name, nlen);
  if (!e) e = check_value(value, vlen);
  if (e) return refuse(r, e);
  int taken = 0;
  e = special_field(r, name, nlen, value, vlen, &taken);
  if (e || taken) return e;
  return add_field(r, (const char *)name, nlen, value, vlen);
}

/* A span of r->aside (which has no memory while only empty values went there). */
static const char *aside_str(const tg_h2_req *r, tg_span s) { return r->aside.data ? r->aside.data + s.off : ""; }

static const char *check_host(tg_h2_req *r) {
  const char *a = aside_str(r, r->authority), *h = aside_str(r, r->host);
  int has_a = r->seen & TG_H2_SEEN_AUTHORITY, has_h = r->seen & TG_H2_SEEN_HOST;
  if (!has_a && !has_h) return refuse(r, E_NO_HOST);
  if ((has_a && !authority_ok(a, r->authority.len)) || (has_h && !authority_ok(h, r->host.len)))
    return refuse(r, E_HOST);
  /* RFC 9113 8.3.1: a host that names another entity than :authority */
  if (has_a && has_h && (r->authority.len != r->host.len || strncasecmp(a, h, r->host.len) != 0))
    return refuse(r, E_HOST_DIFF);
  return has_a ? add_field(r, "host", 4, a, r->authority.len) : add_field(r, "host", 4, h, r->host.len);
}

const char *tg_h2_req_end(tg_h2_req *r) {
  if (r->err) return r->err;
  if (!(r->seen & TG_H2_SEEN_METHOD)) return refuse(r, E_NO_METHOD);
  if (r->method == HTTP_CONNECT) return refuse(r, E_CONNECT);
  if (r->method < 0) return refuse(r, E_METHOD);
  if (!(r->seen & TG_H2_SEEN_SCHEME)) return refuse(r, E_NO_SCHEME);
  if (!(r->seen & TG_H2_SEEN_PATH)) return refuse(r, E_NO_PATH);
  const char *t = tg_head_str(&r->head, r->head.target);
  if (r->head.target.len == 0 || t[0] != '/') return refuse(r, E_PATH);
  const char *e = check_host(r);
  if (e) return e;
  if (r->content_length >= 0) {
    char num[24];
    int n = snprintf(num, sizeof num, "%lld", (long long)r->content_length);
    if ((e = add_field(r, "content-length", 14, num, (size_t)n))) return e;
  }
  if ((r->seen & TG_H2_SEEN_COOKIE) && (e = add_field(r, "cookie", 6, aside_str(r, r->cookie), r->cookie.len)))
    return e;
  r->ended = 1;
  return NULL;
}

const char *tg_h2_req_data(tg_h2_req *r, size_t n) {
  if (r->err) return r->err;
  r->received += n;
  if (r->content_length >= 0 && r->received > (uint64_t)r->content_length) return refuse(r, E_CL_MORE);
  return NULL;
}

const char *tg_h2_req_body_end(tg_h2_req *r) {
  if (r->err) return r->err;
  if (r->content_length >= 0 && r->received < (uint64_t)r->content_length) return refuse(r, E_CL_LESS);
  return NULL;
}
