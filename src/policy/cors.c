/* CORS decided at the edge (`cors { ... }` in a site): preflight OPTIONS
 * requests are answered here (204, or 403 for an origin the policy does
 * not allow) and never reach Ollama; responses to an allowed Origin get the
 * Access-Control-* fields, and the upstream's own are always removed, so
 * the edge's policy is the only one a browser sees. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "policy.h"
#include "tollgate/metrics.h"

/* The host of an origin "scheme://host[:port]" (a bracketed IPv6 host keeps
 * its brackets). */
static void origin_host(const char *o, size_t n, const char **h, size_t *hn) {
  const char *s = memmem(o, n, "://", 3);
  const char *p = s ? s + 3 : o, *end = o + n;
  const char *colon = p < end && *p == '[' ? memchr(p, ']', (size_t)(end - p)) : p;
  colon = colon ? memchr(colon, ':', (size_t)(end - colon)) : NULL;
  *h = p;
  *hn = (size_t)((colon ? colon : end) - p);
}

static int origin_matches(const char *pat, const char *o, size_t n) {
  if (strcmp(pat, "*") == 0) return 1;
  const char *star = strstr(pat, "*.");
  if (!star) return strlen(pat) == n && strncasecmp(pat, o, n) == 0;
  /* a subdomain of any depth: the pattern "*.example.org", or with a scheme in front */
  size_t scheme = (size_t)(star - pat);
  if (scheme && (n < scheme || strncasecmp(pat, o, scheme) != 0)) return 0;
  const char *h;
  size_t hn, sl = strlen(star + 1); /* ".example.org" */
  origin_host(o, n, &h, &hn);
  return hn > sl && strncasecmp(h + hn - sl, star + 1, sl) == 0;
}

int tg_cors_origin_allowed(const tg_cors_conf *cc, const char *origin, size_t n) {
  if (n == 0 || (n == 4 && memcmp(origin, "null", 4) == 0)) return 0;
  for (size_t i = 0; i < cc->norigins; i++)
    if (origin_matches(cc->origins[i], origin, n)) return 1;
  return 0;
}

static const tg_cors_conf *cors_of(const tg_exchange *x) { return x->site->limits ? x->site->limits->cors : NULL; }

/* c's Origin value when it has exactly one; NULL otherwise. */
static const char *origin_of(const tg_exchange *x, size_t *n) {
  const tg_head *h = &x->req;
  if (tg_head_count(h, "origin") != 1) return NULL;
  tg_span v = h->fields[tg_head_find(h, "origin")].value;
  *n = v.len;
  return tg_head_str(h, v);
}

/* A header list a preflight may echo: tokens, commas and blanks only. */
static int is_header_list(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!(s[i] == ',' || s[i] == ' ' || s[i] == '-' || s[i] == '_' || s[i] == '.' || (s[i] >= '0' && s[i] <= '9') ||
          ((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'z')))
      return 0;
  return 1;
}

static int put_origin_lines(const tg_cors_conf *cc, const char *o, size_t n, tg_buf *out) {
  int any = 0;
  for (size_t i = 0; i < cc->norigins; i++) any |= strcmp(cc->origins[i], "*") == 0;
  int rc = 0;
  if (any && !cc->credentials && cc->norigins == 1) {
    rc |= tg_buf_puts(out, "Access-Control-Allow-Origin: *\r\n");
  } else {
    rc |= tg_buf_puts(out, "Access-Control-Allow-Origin: ");
    rc |= tg_buf_append(out, o, n);
    rc |= tg_buf_puts(out, "\r\nVary: Origin\r\n");
  }
  if (cc->credentials) rc |= tg_buf_puts(out, "Access-Control-Allow-Credentials: true\r\n");
  return rc;
}

tg_adm_rc tg_cors_preflight(tg_exchange *x) {
  const tg_cors_conf *cc = cors_of(x);
  if (!cc || x->method != HTTP_OPTIONS) return TG_ADM_NEXT;
  size_t on;
  const char *o = origin_of(x, &on);
  const tg_head *h = &x->req;
  if (!o || tg_head_find(h, "access-control-request-method") < 0) return TG_ADM_NEXT;
  if (!tg_cors_origin_allowed(cc, o, on)) {
    tg_metrics_refused("limit", "cors");
    tg_exchange_fail(x, 403, "origin not allowed");
    return TG_ADM_DONE;
  }
  tg_buf lines = {0};
  int rc = put_origin_lines(cc, o, on, &lines);
  rc |= tg_buf_printf(&lines, "Access-Control-Allow-Methods: %s\r\nAccess-Control-Max-Age: %llu\r\n", cc->methods,
                      (unsigned long long)cc->max_age_s);
  int rh = tg_head_find(h, "access-control-request-headers");
  if (cc->headers) {
    rc |= tg_buf_printf(&lines, "Access-Control-Allow-Headers: %s\r\n", cc->headers);
  } else if (rh >= 0) {
    tg_span v = h->fields[rh].value;
    if (is_header_list(tg_head_str(h, v), v.len)) {
      rc |= tg_buf_puts(&lines, "Access-Control-Allow-Headers: ");
      rc |= tg_buf_append(&lines, tg_head_str(h, v), v.len);
      rc |= tg_buf_puts(&lines, "\r\n");
    }
  }
  rc |= tg_buf_append(&lines, "", 1); /* tg_client_reply takes a C string */
  if (rc == 0) tg_exchange_reply(x, 204, lines.data, "", 0);
  else tg_exchange_fail(x, 500, "out of memory");
  tg_buf_free(&lines);
  return TG_ADM_DONE;
}

int tg_cors_lines(const tg_exchange *x, tg_buf *out) {
  const tg_cors_conf *cc = cors_of(x);
  size_t on;
  const char *o = cc ? origin_of(x, &on) : NULL;
  if (!o || !tg_cors_origin_allowed(cc, o, on)) return 0;
  int rc = put_origin_lines(cc, o, on, out);
  if (cc->expose) rc |= tg_buf_printf(out, "Access-Control-Expose-Headers: %s\r\n", cc->expose);
  return rc ? -1 : 0;
}

void tg_head_out_remove_prefix(tg_buf *out, const char *prefix) {
  size_t pl = strlen(prefix), i = 0;
  char *d = out->data;
  while (i < out->len && d[i] != '\n') i++; /* the status line stays */
  i++;
  while (i + 2 <= out->len && !(d[i] == '\r' && d[i + 1] == '\n')) {
    char *nl = memchr(d + i, '\n', out->len - i);
    size_t end = nl ? (size_t)(nl - d) + 1 : out->len;
    if (end - i >= pl && strncasecmp(d + i, prefix, pl) == 0) {
      memmove(d + i, d + end, out->len - end);
      out->len -= end - i;
    } else {
      i = end;
    }
  }
}

int tg_cors_response(const tg_exchange *x, tg_buf *out) {
  const tg_cors_conf *cc = cors_of(x);
  if (!cc) return 0;
  tg_head_out_remove_prefix(out, "access-control-");
  tg_buf lines = {0};
  int rc = tg_cors_lines(x, &lines);
  if (rc == 0 && lines.len) { /* before the empty line that ends the head */
    size_t at = out->len - 2;
    rc = tg_buf_append(out, lines.data, lines.len);
    if (rc == 0) {
      memmove(out->data + at + lines.len, out->data + at, 2);
      memcpy(out->data + at, lines.data, lines.len);
    }
  }
  tg_buf_free(&lines);
  return rc ? -1 : 0;
}
