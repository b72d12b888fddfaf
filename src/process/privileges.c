/* Running as a service without a service manager: the pid file, and the
 * drop from root to the configured `user` once the sockets are bound and
 * the keys read, keeping only CAP_NET_BIND_SERVICE (so that a reload may
 * still bind ports under 1024). Done before any other thread exists: the
 * capability sets are per thread, and threads started later inherit the
 * reduced ones. */
#include "privileges.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tollgate/log.h"
#include "tollgate/process-conf.h"

/* Only CAP_NET_BIND_SERVICE, for this thread; ambient, so that the binary
 * a SIGUSR2 upgrade starts keeps it too. */
static int keep_only_bind_cap(void) {
  struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct d[2];
  memset(d, 0, sizeof d);
  d[0].effective = d[0].permitted = d[0].inheritable = 1u << CAP_NET_BIND_SERVICE;
  if (syscall(SYS_capset, &h, d) < 0) return -1;
  return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0);
}

/* A log destination that is a file: its owner becomes the user, so that
 * the file can be reopened (SIGUSR1) after the drop. */
static void chown_log(const char *dest, uid_t uid, gid_t gid) {
  if (!dest || !strcmp(dest, "stdout") || !strcmp(dest, "stderr") || !strcmp(dest, "off")) return;
  if (chown(dest, uid, gid) < 0) tg_log_warn("user: cannot give %s to the user: %s", dest, strerror(errno));
}

int tg_privileges_drop(const tg_config *cfg) {
  const tg_process_conf *p = cfg->process;
  if (!p || !p->has_user) {
    if (geteuid() == 0)
      tg_log_warn("running as root: add 'user NAME;' to the configuration so that tollgate drops root once its "
                  "sockets are bound (or run it under its systemd unit)");
    return 0;
  }
  if (geteuid() != 0) {
    if (geteuid() != p->uid)
      tg_log_warn("%s'user %s' is ignored: tollgate was not started as root", tg_config_where(cfg, p->user), p->user);
    return 0;
  }
  chown_log(cfg->access_log, p->uid, p->gid);
  chown_log(cfg->error_log, p->uid, p->gid);
  chown_log(p->pid_file, p->uid, p->gid); /* a new binary (SIGUSR2) rewrites it */
  if (prctl(PR_SET_KEEPCAPS, 1) < 0 || setgroups(1, &p->gid) < 0 || setgid(p->gid) < 0 || setuid(p->uid) < 0) {
    tg_log_error("user %s: cannot drop root: %s", p->user, strerror(errno));
    return -1;
  }
  prctl(PR_SET_KEEPCAPS, 0);
  if (keep_only_bind_cap() < 0) {
    tg_log_error("user %s: cannot keep CAP_NET_BIND_SERVICE: %s", p->user, strerror(errno));
    return -1;
  }
  if (setuid(0) == 0) { /* never: but a process that could would not be what the user asked for */
    tg_log_error("user %s: root could be taken back after the drop", p->user);
    return -1;
  }
  tg_log_info("running as user %s (uid %u, gid %u)", p->user, (unsigned)p->uid, (unsigned)p->gid);
  return 0;
}

int tg_pid_file_write(const tg_config *cfg) {
  const char *path = cfg->process ? cfg->process->pid_file : NULL;
  if (!path) return 0;
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  char line[24];
  int n = snprintf(line, sizeof line, "%ld\n", (long)getpid());
  if (fd < 0 || write(fd, line, (size_t)n) != n) {
    tg_log_error("%scannot write the pid file %s: %s", tg_config_where(cfg, path), path, strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  close(fd);
  return 0;
}

void tg_pid_file_remove(const char *path) {
  /* Only when it is still ours: after an upgrade it names the new process.
   * After a drop from root the directory may not let the user remove it: the
   * file then stays, naming a pid that no longer runs, and is rewritten at
   * the next start. */
  char line[24] = {0}, mine[24];
  int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
  if (fd < 0) return;
  ssize_t n = read(fd, line, sizeof line - 1);
  close(fd);
  snprintf(mine, sizeof mine, "%ld\n", (long)getpid());
  if (n > 0 && strcmp(line, mine) == 0) unlink(path);
}
