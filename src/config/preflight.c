/* The checks start makes before it binds anything, run as well by
 * `tollgate -t` and before a reload, so that -t passes only what start
 * accepts: names that must resolve, the admin address (numeric, as the
 * admin listener binds it without a lookup), log files that must open.
 * Each problem is printed at the place it was written (origin.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tollgate/config.h"
#include "tollgate/shared.h"

static void report(const tg_config *cfg, const void *what, FILE *err, int *n, const char *fmt, const char *a,
                   const char *b) {
  const char *where = tg_config_where(cfg, what);
  if (err) {
    fputs(where[0] ? where : "tollgate: ", err);
    fprintf(err, fmt, a, b);
    fputc('\n', err);
  }
  (*n)++;
}

/* host:port resolves (passive: "" is every address). */
static void check_resolves(const tg_config *cfg, const tg_hostport *hp, int passive, FILE *err, int *n) {
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = passive ? AI_PASSIVE : 0}, *res = NULL;
  char port[8];
  snprintf(port, sizeof port, "%u", hp->port);
  int rc = getaddrinfo(hp->host[0] || !passive ? hp->host : NULL, port, &hints, &res);
  if (rc) report(cfg, hp->host, err, n, "cannot resolve '%s': %s", hp->host, gai_strerror(rc));
  else freeaddrinfo(res);
}

static void check_admin(const tg_config *cfg, FILE *err, int *n) {
  const char *h = cfg->admin->host;
  unsigned char buf[sizeof(struct in6_addr)];
  if (!h[0] || inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1) return;
  report(cfg, h, err, n, "'admin' takes a numeric IP address (127.0.0.1:9090, [::1]:9090), not the name '%s'%s", h, "");
}

/* A log file start will open for appending: it exists and is writable, or
 * its directory lets it be created. Nothing is created here. */
static void check_log_file(const tg_config *cfg, const char *path, const char *what, FILE *err, int *n) {
  if (!path || !strcmp(path, "stdout") || !strcmp(path, "stderr") || !strcmp(path, "off")) return;
  int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd >= 0) {
    close(fd);
    return;
  }
  if (errno == ENOENT) {
    char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;
    const char *d = !dir ? "." : !slash ? "." : slash == dir ? "/" : (*slash = 0, dir);
    int ok = access(d, W_OK | X_OK) == 0;
    errno = ok ? 0 : errno;
    free(dir);
    if (ok) return;
  }
  char msg[64];
  snprintf(msg, sizeof msg, ": %s", strerror(errno));
  report(cfg, path, err, n, what, path, msg);
}

int tg_config_preflight(const tg_config *cfg, FILE *err) {
  int n = 0;
  for (size_t s = 0; s < cfg->nsites; s++)
    for (size_t l = 0; l < cfg->sites[s].nlistens; l++) check_resolves(cfg, &cfg->sites[s].listens[l], 1, err, &n);
  for (size_t u = 0; u < cfg->nupstreams; u++)
    for (size_t i = 0; i < cfg->upstreams[u].nservers; i++)
      check_resolves(cfg, &cfg->upstreams[u].servers[i].addr, 0, err, &n);
  if (cfg->admin) check_admin(cfg, err, &n);
  if (cfg->shared && cfg->shared->host) { /* workers resolve it off their loop, again at each reconnect */
    tg_hostport store = {.host = cfg->shared->host, .port = cfg->shared->port};
    check_resolves(cfg, &store, 0, err, &n);
  }
  check_log_file(cfg, cfg->access_log, "cannot open access log %s%s", err, &n);
  check_log_file(cfg, cfg->error_log, "cannot open error log %s%s", err, &n);
  return n;
}
