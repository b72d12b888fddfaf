/* sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET. */
#include "tollgate/notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int tg_notify(const char *state) {
  const char *path = getenv("NOTIFY_SOCKET");
  if (!path || !path[0]) return 0;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  size_t n = strlen(path);
  if ((path[0] != '/' && path[0] != '@') || n >= sizeof sa.sun_path) {
    errno = EINVAL;
    return -1;
  }
  memcpy(sa.sun_path, path, n);
  if (path[0] == '@') sa.sun_path[0] = 0; /* an abstract name: no trailing NUL in its length */
  socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/'));
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  ssize_t w = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
  int saved = errno;
  close(fd);
  errno = saved;
  return w < 0 ? -1 : 1;
}
