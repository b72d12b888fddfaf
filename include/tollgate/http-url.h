/* tg_http_url: a base URL as the command line and the config give one
 * (http[s]://host[:port][/prefix]), split into what a call needs: the name
 * to resolve, the port, the Host field and the path prefix. Used by the
 * blocking HTTP client's callers (`tollgate doctor`, ACME). */
#ifndef TOLLGATE_HTTP_URL_H
#define TOLLGATE_HTTP_URL_H

#include <stddef.h>

typedef struct tg_http_url {
  int tls;
  char *host; /* without IPv6 brackets */
  char *port;
  char *authority; /* the Host field: host[:port] as written */
  char *base;      /* path prefix without a trailing '/', "" when none */
} tg_http_url;

/* Parses s (no user, query or fragment). Returns 0, or -1 with a message
 * in err and nothing to free. */
int tg_http_url_parse(const char *s, tg_http_url *u, char *err, size_t errlen);
void tg_http_url_free(tg_http_url *u);

#endif
