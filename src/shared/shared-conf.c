/* The `shared` block's settings: the store's address as a URL, the
 * password file. Filled by src/config/shared-directives.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate/shared.h"

tg_shared_conf *tg_shared_conf_new(void) {
  tg_shared_conf *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->port = TG_SHARED_DEFAULT_PORT;
  c->timeout_ms = TG_SHARED_DEFAULT_TIMEOUT_MS;
  c->on_failure = TG_SHARED_LOCAL;
  if (!(c->prefix = strdup(TG_SHARED_DEFAULT_PREFIX))) {
    free(c);
    return NULL;
  }
  return c;
}

void tg_shared_conf_free(tg_shared_conf *c) {
  if (!c) return;
  free(c->url);
  free(c->host);
  free(c->unix_path);
  free(c->user);
  if (c->password) memset(c->password, 0, strlen(c->password));
  free(c->password);
  free(c->prefix);
  free(c);
}

/* "6379" and "/3" style numbers: digits only, at most max. */
static int parse_number(const char *s, size_t n, unsigned long max, unsigned long *out) {
  unsigned long v = 0;
  if (!n || n > 10) return -1;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (unsigned long)(s[i] - '0');
  }
  if (v > max) return -1;
  *out = v;
  return 0;
}

/* HOST[:PORT] of redis://, host set in c (brackets of [v6] dropped). */
static const char *parse_authority(tg_shared_conf *c, const char *s, size_t n) {
  const char *host = s, *colon = NULL;
  size_t hn;
  if (memchr(s, '@', n)) return "the password goes in a password_file, not in the URL";
  if (n && s[0] == '[') {
    const char *close = memchr(s, ']', n);
    if (!close || close == s + 1) return "an IPv6 address is written in brackets: redis://[::1]:6379";
    host = s + 1;
    hn = (size_t)(close - host);
    if (close + 1 < s + n) {
      if (close[1] != ':') return "a port follows ']' after a ':'";
      colon = close + 1;
    }
  } else {
    colon = memchr(s, ':', n);
    hn = colon ? (size_t)(colon - s) : n;
  }
  if (!hn) return "the URL names no host: redis://127.0.0.1:6379";
  for (size_t i = 0; i < hn; i++)
    if (host[i] <= ' ' || host[i] > '~' || strchr("/?#%\"\\", host[i])) return "the host has a character it cannot";
  if (colon) {
    unsigned long port;
    if (parse_number(colon + 1, (size_t)(s + n - colon - 1), 65535, &port) < 0 || port == 0)
      return "the port is a number from 1 to 65535";
    c->port = (uint16_t)port;
  }
  free(c->host);
  return (c->host = strndup(host, hn)) ? NULL : "out of memory";
}

const char *tg_shared_url_parse(tg_shared_conf *c, const char *url) {
  if (strncmp(url, "unix:", 5) == 0) {
    const char *p = url + 5;
    if (p[0] != '/') return "unix: takes an absolute socket path: unix:/run/redis/redis.sock";
    if (strlen(p) >= 108) return "the socket path is longer than a unix socket takes (107 bytes)";
    free(c->unix_path);
    return (c->unix_path = strdup(p)) ? NULL : "out of memory";
  }
  if (strncmp(url, "redis://", 8) != 0) return "the store's address is redis://HOST[:PORT][/DB] or unix:PATH";
  const char *a = url + 8, *slash = strchr(a, '/');
  size_t an = slash ? (size_t)(slash - a) : strlen(a);
  if (strpbrk(a, "?#")) return "the URL takes no query or fragment";
  const char *why = parse_authority(c, a, an);
  if (why) return why;
  if (slash && slash[1]) {
    unsigned long db;
    if (parse_number(slash + 1, strlen(slash + 1), 1000000, &db) < 0) return "the database after '/' is a number";
    c->db = (unsigned)db;
  }
  return NULL;
}

const char *tg_shared_password_read(const char *path, char **out) {
  char line[1024];
  FILE *f = fopen(path, "re");
  if (!f) return strerror(errno);
  int got = fgets(line, sizeof line, f) != NULL;
  fclose(f);
  size_t n = got ? strcspn(line, "\r\n") : 0;
  size_t start = 0;
  while (start < n && (line[start] == ' ' || line[start] == '\t')) start++;
  while (n > start && (line[n - 1] == ' ' || line[n - 1] == '\t')) n--;
  if (n == start) return "the file is empty (its first line is the password)";
  *out = strndup(line + start, n - start);
  memset(line, 0, sizeof line);
  return *out ? NULL : "out of memory";
}
