/* tg_notify: the readiness datagram to $NOTIFY_SOCKET. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tg_test.h"
#include "tollgate/notify.h"

/* Binds a datagram socket at name (a path, or '@' for an abstract one). */
static int bind_dgram(const char *name) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  size_t n = strlen(name);
  memcpy(sa.sun_path, name, n);
  if (name[0] == '@') sa.sun_path[0] = 0;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (name[0] == '/'));
  if (bind(fd, (struct sockaddr *)&sa, len) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Binds name, sends state to it through $NOTIFY_SOCKET and reads what came:
 * returns tg_notify's result, got holds the datagram ("" for none). */
static int notify_roundtrip(const char *name, const char *state, char *got, size_t size) {
  memset(got, 0, size);
  int fd = bind_dgram(name);
  if (fd < 0) return -2;
  setenv("NOTIFY_SOCKET", name, 1);
  int rc = tg_notify(state);
  ssize_t n = recv(fd, got, size - 1, MSG_DONTWAIT);
  if (n < 0) got[0] = 0;
  unsetenv("NOTIFY_SOCKET");
  close(fd);
  return rc;
}

static void test_notify_path_socket(void) {
  char dir[] = "/tmp/tg-notify-XXXXXX", path[64], got[64];
  TG_CHECK(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/notify", dir);
  int rc = notify_roundtrip(path, "READY=1\nSTATUS=serving", got, sizeof got);
  unlink(path);
  rmdir(dir);
  TG_CHECK(rc == 1);
  TG_CHECK_STR(got, "READY=1\nSTATUS=serving");
}

static void test_notify_abstract_socket(void) {
  char name[64], got[32];
  snprintf(name, sizeof name, "@tg-notify-test-%ld", (long)getpid());
  TG_CHECK(notify_roundtrip(name, "STOPPING=1", got, sizeof got) == 1);
  TG_CHECK_STR(got, "STOPPING=1");
}

static void test_notify_without_socket(void) {
  unsetenv("NOTIFY_SOCKET");
  TG_CHECK(tg_notify("READY=1") == 0);
  setenv("NOTIFY_SOCKET", "relative/path", 1);
  int rc = tg_notify("READY=1");
  unsetenv("NOTIFY_SOCKET");
  TG_CHECK(rc == -1);
}

void tg_suite_notify(void) {
  TG_RUN(test_notify_path_socket);
  TG_RUN(test_notify_abstract_socket);
  TG_RUN(test_notify_without_socket);
}
