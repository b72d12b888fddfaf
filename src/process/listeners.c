/* The listening sockets, owned by the main thread across reloads: one
 * SO_REUSEPORT socket per (address, worker index). Workers get duplicates,
 * so a reload that keeps an address keeps its sockets (and their accept
 * queues): no connection is refused while generations change. */
#include "listeners.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "inherit.h"
#include "tollgate/access-log.h"

typedef struct lsock {
  char *host;
  uint16_t port;
  int *fds;
  unsigned nfds;
  int used; /* by the newest configuration */
} lsock;

static lsock *socks;
static size_t nsocks;

/* Whether another socket already holds the address: a bind without
 * SO_REUSEPORT fails then. Every listener of tollgate's has SO_REUSEPORT
 * (one per worker), which would otherwise let a second process bind the
 * same port silently and take a share of its connections. */
static int address_taken(const struct addrinfo *res) {
  int one = 1, fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (res->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  int taken = bind(fd, res->ai_addr, res->ai_addrlen) < 0 && errno == EADDRINUSE;
  close(fd);
  if (taken) errno = EADDRINUSE;
  return taken;
}

/* A port one of tollgate's own sockets already listens on (any address). */
static int port_is_ours(uint16_t port) {
  for (size_t i = 0; i < nsocks; i++)
    if (socks[i].port == port && socks[i].nfds) return 1;
  return 0;
}

/* Opens worker index's socket for hp, or takes the one inherited for it
 * (inherit.c); a failure is logged after where (the listen's
 * "file:line:col: "). */
static int open_listener(const tg_hostport *hp, unsigned index, const char *where) {
  struct addrinfo hints = {0}, *res = NULL;
  char port[8];
  snprintf(port, sizeof port, "%u", hp->port);
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  int rc = getaddrinfo(hp->host[0] ? hp->host : NULL, port, &hints, &res);
  if (rc) {
    tg_log_error("%scannot listen on %s:%u: %s", where, hp->host, hp->port, gai_strerror(rc));
    return -1;
  }
  int one = 1, fd = tg_inherit_take(res->ai_addr, res->ai_addrlen, index);
  if (fd >= 0) {
    freeaddrinfo(res);
    return fd;
  }
  if (!port_is_ours(hp->port) && address_taken(res)) goto fail;
  fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) goto fail;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) goto fail;
  if (res->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 4096) < 0) goto fail;
  freeaddrinfo(res);
  return fd;
fail:
  tg_log_error("%scannot listen on %s:%u: %s", where, hp->host[0] ? hp->host : "*", hp->port, strerror(errno));
  if (fd >= 0) close(fd);
  freeaddrinfo(res);
  return -1;
}

static lsock *find_or_add(const tg_hostport *hp) {
  for (size_t i = 0; i < nsocks; i++)
    if (socks[i].port == hp->port && strcmp(socks[i].host, hp->host) == 0) return &socks[i];
  lsock *grown = realloc(socks, (nsocks + 1) * sizeof *socks);
  if (!grown) return NULL;
  socks = grown;
  lsock *s = &socks[nsocks];
  memset(s, 0, sizeof *s);
  s->host = strdup(hp->host);
  s->port = hp->port;
  if (!s->host) return NULL;
  nsocks++;
  return s;
}

/* Makes sure s has a socket for worker index i. */
static int ensure_fd(lsock *s, unsigned i, const tg_hostport *hp, const char *where) {
  if (i < s->nfds) return 0;
  int *grown = realloc(s->fds, (i + 1) * sizeof *grown);
  if (!grown) return -1;
  s->fds = grown;
  while (s->nfds <= i) {
    int fd = open_listener(hp, s->nfds, where);
    if (fd < 0) return -1;
    s->fds[s->nfds++] = fd;
  }
  return 0;
}

int tg_listeners_for(const tg_config *cfg, unsigned worker, int *out, size_t *n) {
  size_t k = 0;
  for (size_t i = 0; i < nsocks && worker == 0; i++) socks[i].used = 0;
  for (size_t s = 0; s < cfg->nsites; s++)
    for (size_t l = 0; l < cfg->sites[s].nlistens; l++) {
      const tg_hostport *hp = &cfg->sites[s].listens[l];
      lsock *ls = find_or_add(hp);
      if (!ls || ensure_fd(ls, worker, hp, tg_config_where(cfg, hp->host)) < 0) goto fail;
      ls->used = 1;
      if ((out[k] = fcntl(ls->fds[worker], F_DUPFD_CLOEXEC, 0)) < 0) goto fail;
      k++;
    }
  *n = k;
  return 0;
fail:
  while (k) close(out[--k]);
  return -1;
}

void tg_listeners_prune(unsigned nworkers) {
  size_t kept = 0;
  for (size_t i = 0; i < nsocks; i++) {
    lsock *s = &socks[i];
    while (s->nfds > (s->used ? nworkers : 0)) close(s->fds[--s->nfds]);
    if (s->used) {
      socks[kept++] = *s;
    } else {
      free(s->host);
      free(s->fds);
    }
  }
  nsocks = kept;
}

void tg_listeners_keep_only(const tg_config *cfg, unsigned nworkers) {
  for (size_t i = 0; i < nsocks; i++) {
    socks[i].used = 0;
    for (size_t st = 0; st < cfg->nsites; st++)
      for (size_t l = 0; l < cfg->sites[st].nlistens; l++) {
        const tg_hostport *hp = &cfg->sites[st].listens[l];
        if (hp->port == socks[i].port && strcmp(hp->host, socks[i].host) == 0) socks[i].used = 1;
      }
  }
  tg_listeners_prune(nworkers);
}

size_t tg_listeners_fds(int *out, size_t cap) {
  size_t k = 0;
  for (size_t i = 0; i < nsocks; i++)
    for (unsigned j = 0; j < socks[i].nfds && k < cap; j++) out[k++] = socks[i].fds[j];
  return k;
}

void tg_listeners_close_all(void) {
  for (size_t i = 0; i < nsocks; i++) socks[i].used = 0;
  tg_listeners_prune(0);
  free(socks);
  socks = NULL;
}
