/* Base URLs for the blocking HTTP client's callers (tollgate/http-url.h). */
#include "tollgate/http-url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int url_fail(char *err, size_t n, const char *msg, const char *s) {
  snprintf(err, n, "%s: '%s' (use http[s]://HOST[:PORT][/PREFIX])", msg, s);
  return -1;
}

/* Splits "host[:port]" or "[v6][:port]" into u->host and u->port. */
static int url_hostport(const char *hp, size_t n, tg_http_url *u) {
  const char *colon = NULL;
  if (n && hp[0] == '[') {
    const char *rb = memchr(hp, ']', n);
    if (!rb) return -1;
    u->host = strndup(hp + 1, (size_t)(rb - hp - 1));
    if (rb + 1 < hp + n) {
      if (rb[1] != ':') return -1;
      colon = rb + 1;
    }
  } else {
    colon = memchr(hp, ':', n);
    u->host = strndup(hp, colon ? (size_t)(colon - hp) : n);
  }
  if (colon) u->port = strndup(colon + 1, (size_t)(hp + n - colon - 1));
  else u->port = strdup(u->tls ? "443" : "80");
  if (!u->host || !u->port || !u->host[0] || !u->port[0]) return -1;
  return strspn(u->port, "0123456789") == strlen(u->port) ? 0 : -1;
}

int tg_http_url_parse(const char *s, tg_http_url *u, char *err, size_t errlen) {
  memset(u, 0, sizeof *u);
  const char *p;
  if (strncasecmp(s, "http://", 7) == 0) p = s + 7;
  else if (strncasecmp(s, "https://", 8) == 0) p = s + 8, u->tls = 1;
  else return url_fail(err, errlen, "the URL must start with http:// or https://", s);
  size_t n = strcspn(p, "/?#");
  if (p[n] == '?' || p[n] == '#' || memchr(p, '@', n))
    return url_fail(err, errlen, "no user, query or fragment in the URL", s);
  if (url_hostport(p, n, u) < 0 || !(u->authority = strndup(p, n))) {
    tg_http_url_free(u);
    return url_fail(err, errlen, "invalid host or port", s);
  }
  size_t blen = strlen(p + n);
  while (blen && p[n + blen - 1] == '/') blen--;
  u->base = strndup(p + n, blen);
  if (!u->base || strcspn(u->base, " ?#\r\n") != blen) {
    tg_http_url_free(u);
    return url_fail(err, errlen, "invalid path", s);
  }
  return 0;
}

void tg_http_url_free(tg_http_url *u) {
  free(u->host);
  free(u->port);
  free(u->authority);
  free(u->base);
  memset(u, 0, sizeof *u);
}
