/* Listening sockets inherited at start, by systemd's socket activation and
 * by tollgate's own binary upgrade (SIGUSR2, upgrade.c) alike: the
 * sd_listen_fds(3) protocol, $LISTEN_FDS descriptors from fd 3 on, for the
 * process named by $LISTEN_PID. Each is matched to a `listen` of the
 * configuration by the address it is bound to, so no new bind happens for
 * an address that was inherited: no connection is refused while one
 * process hands over to the next. */
#include "inherit.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tollgate/log.h"

#define TG_LISTEN_FDS_START 3
#define TG_INHERIT_MAX 1024

typedef struct inherited {
  int fd;
  int taken;
  struct sockaddr_storage addr;
  socklen_t len;
} inherited;

static inherited *socks;
static size_t nsocks;

static int env_number(const char *name, long *out) {
  const char *v = getenv(name);
  char *end;
  if (!v || !*v) return -1;
  errno = 0;
  *out = strtol(v, &end, 10);
  return *end || errno || *out < 0 ? -1 : 0;
}

/* Whether fd is a listening TCP socket; fills its bound address. */
static int is_listener(int fd, inherited *s) {
  int yes = 0, type = 0;
  socklen_t n = sizeof yes, tn = sizeof type;
  s->len = sizeof s->addr;
  return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &yes, &n) == 0 && yes &&
         getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tn) == 0 && type == SOCK_STREAM &&
         getsockname(fd, (struct sockaddr *)&s->addr, &s->len) == 0 &&
         (s->addr.ss_family == AF_INET || s->addr.ss_family == AF_INET6);
}

size_t tg_inherit_init(void) {
  long n, pid;
  int ours = env_number("LISTEN_FDS", &n) == 0 && env_number("LISTEN_PID", &pid) == 0 && pid == (long)getpid();
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDNAMES");
  if (!ours || n == 0) return 0;
  if (n > TG_INHERIT_MAX) n = TG_INHERIT_MAX;
  socks = calloc((size_t)n, sizeof *socks);
  if (!socks) return 0;
  for (int fd = TG_LISTEN_FDS_START; fd < TG_LISTEN_FDS_START + n; fd++) {
    inherited *s = &socks[nsocks];
    if (!is_listener(fd, s)) {
      tg_log_warn("inherited descriptor %d is not a listening TCP socket: closed", fd);
      close(fd);
      continue;
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    s->fd = fd;
    nsocks++;
  }
  return nsocks;
}

/* The same address and port: what a bind to sa would have made. */
static int same_address(const struct sockaddr_storage *a, const struct sockaddr *b) {
  if (a->ss_family != b->sa_family) return 0;
  if (b->sa_family == AF_INET) {
    const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
  return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
}

int tg_inherit_take(const struct sockaddr *sa, socklen_t len, unsigned index) {
  (void)len;
  size_t k = 0, first = nsocks;
  for (size_t i = 0; i < nsocks; i++) {
    if (socks[i].fd < 0 || !same_address(&socks[i].addr, sa)) continue;
    if (first == nsocks) first = i;
    if (k++ == index) {
      socks[i].taken = 1;
      return socks[i].fd;
    }
  }
  if (first == nsocks) return -1;
  /* More workers than inherited sockets for the address: they share one. */
  socks[first].taken = 1;
  return fcntl(socks[first].fd, F_DUPFD_CLOEXEC, 0);
}

void tg_inherit_close_unused(void) {
  for (size_t i = 0; i < nsocks; i++) {
    if (socks[i].taken || socks[i].fd < 0) continue;
    tg_log_warn("an inherited listening socket (descriptor %d) matches no listen of the configuration: closed",
                socks[i].fd);
    close(socks[i].fd);
  }
  free(socks);
  socks = NULL;
  nsocks = 0;
}
