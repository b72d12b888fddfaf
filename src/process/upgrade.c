/* The zero-downtime binary upgrade, as nginx does it: on SIGUSR2 the
 * binary at the same path is started with the same command line and every
 * listening socket handed over in the sd_listen_fds(3) way ($LISTEN_FDS
 * descriptors from 3 on, $LISTEN_PID its pid), so the new process binds
 * nothing (inherit.c takes them, as it does systemd's). It reads its
 * configuration, starts serving, and writes one byte on the pipe named by
 * $TOLLGATE_UPGRADE_FD; then the old process stops accepting and drains.
 * If the new one exits (a bad config, a port it cannot bind) or stays
 * silent for UPGRADE_TIMEOUT_MS, the old one goes on serving and says why.
 * Both accept from the same sockets while they overlap: a connection waits
 * in the kernel's queue for one of them, and none is refused. */
#include "upgrade.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tollgate/log.h"

#define UPGRADE_TIMEOUT_MS 60000
#define FDS_START 3

extern char **environ;

static struct {
  char **argv;
  char exe[PATH_MAX];
  pid_t child;     /* the new process, while it is ours to watch */
  int pending;     /* started, neither serving nor failed yet */
  int handles;     /* the handles below are initialised */
  uv_poll_t *poll; /* the pipe's read end, while pending */
  int rfd;
  uv_timer_t timer;
  uv_signal_t sigchld;
  tg_upgrade_cb cb;
} U = {.rfd = -1};

static int child_fd = -1; /* in the new process: where readiness goes */

void tg_upgrade_remember(char **argv) {
  U.argv = argv;
  ssize_t n = readlink("/proc/self/exe", U.exe, sizeof U.exe - 1);
  U.exe[n > 0 ? n : 0] = 0;
}

int tg_upgrade_pending(void) { return U.pending; }

/* The new process's environment: this one's without LISTEN_* and
 * TOLLGATE_UPGRADE_FD, plus those three. LISTEN_PID's digits are written
 * by the child itself (into pidvar) once it knows its pid. */
static char **child_env(size_t nfds, char *pidvar, char *fdsvar, size_t fdsvar_len, char *upvar, size_t upvar_len) {
  size_t n = 0;
  while (environ[n]) n++;
  char **env = calloc(n + 4, sizeof *env);
  if (!env) return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], "LISTEN_", 7) && strncmp(environ[i], "TOLLGATE_UPGRADE_FD=", 20)) env[k++] = environ[i];
  snprintf(fdsvar, fdsvar_len, "LISTEN_FDS=%zu", nfds);
  snprintf(upvar, upvar_len, "TOLLGATE_UPGRADE_FD=%zu", FDS_START + nfds);
  env[k++] = fdsvar;
  env[k++] = pidvar;
  env[k++] = upvar;
  return env;
}

/* In the forked child: only async-signal-safe calls until execve. */
static void child_exec(const int *fds, size_t n, int wfd, char *pidvar, char **env) {
  int tmp[1025];
  if (n > 1024) _exit(126);
  /* Above the target range first, so that no dup2 overwrites a source. */
  for (size_t i = 0; i < n; i++)
    if ((tmp[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, (int)(FDS_START + n + 1))) < 0) _exit(126);
  if ((tmp[n] = fcntl(wfd, F_DUPFD_CLOEXEC, (int)(FDS_START + n + 1))) < 0) _exit(126);
  for (size_t i = 0; i <= n; i++)
    if (dup2(tmp[i], (int)(FDS_START + i)) < 0) _exit(126); /* without FD_CLOEXEC */
  char digits[16];
  int d = 0;
  for (long pid = (long)getpid(); pid; pid /= 10) digits[d++] = (char)('0' + pid % 10);
  char *p = pidvar + strlen("LISTEN_PID=");
  while (d) *p++ = digits[--d];
  *p = 0;
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execve(U.exe, U.argv, env);
  _exit(127);
}

static void free_handle(uv_handle_t *h) { free(h); }

static void upgrade_end(int ok) {
  if (!U.pending) return;
  U.pending = 0;
  if (U.poll) uv_close((uv_handle_t *)U.poll, free_handle);
  U.poll = NULL;
  uv_timer_stop(&U.timer);
  close(U.rfd);
  U.rfd = -1;
  U.cb(ok);
}

static void on_pipe(uv_poll_t *h, int status, int events) {
  (void)h;
  if (!U.pending) return;
  (void)events;
  char b;
  ssize_t n = status < 0 ? -1 : read(U.rfd, &b, 1);
  if (n < 0 && status >= 0 && errno == EAGAIN) return;
  if (n == 1) {
    tg_log_info("upgrade: the new process (pid %ld) serves", (long)U.child);
  } else {
    tg_log_error("upgrade failed: the new process (pid %ld) ended before serving (its errors are above); this "
                 "process goes on serving",
                 (long)U.child);
  }
  upgrade_end(n == 1);
}

static void on_timeout(uv_timer_t *t) {
  (void)t;
  tg_log_error("upgrade failed: the new process (pid %ld) did not serve within %d s: stopped; this process goes on "
               "serving",
               (long)U.child, UPGRADE_TIMEOUT_MS / 1000);
  kill(U.child, SIGKILL);
  upgrade_end(0);
}

static void on_sigchld(uv_signal_t *s, int signum) {
  (void)s;
  (void)signum;
  int st;
  pid_t pid;
  while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
    if (WIFEXITED(st)) tg_log_warn("the new process (pid %ld) exited with status %d", (long)pid, WEXITSTATUS(st));
    else if (WIFSIGNALED(st)) tg_log_warn("the new process (pid %ld) was ended by signal %d", (long)pid, WTERMSIG(st));
  }
}

static int handles_init(uv_loop_t *loop) {
  if (U.handles) return 0;
  int rc = uv_timer_init(loop, &U.timer);
  if (rc == 0) rc = uv_signal_init(loop, &U.sigchld);
  if (rc == 0) rc = uv_signal_start(&U.sigchld, on_sigchld, SIGCHLD);
  if (rc < 0) return rc;
  uv_unref((uv_handle_t *)&U.sigchld); /* never what keeps the process up */
  U.handles = 1;
  return 0;
}

int tg_upgrade_start(uv_loop_t *loop, const int *fds, size_t n, tg_upgrade_cb cb) {
  if (!U.exe[0] || !U.argv) {
    tg_log_error("upgrade: the binary's path is unknown");
    return -1;
  }
  if (access(U.exe, X_OK) < 0) {
    tg_log_error("upgrade: cannot run %s: %s; this process goes on serving", U.exe, strerror(errno));
    return -1;
  }
  int p[2] = {-1, -1}, rc = handles_init(loop);
  char pidvar[32] = "LISTEN_PID=", fdsvar[32], upvar[48];
  char **env =
      rc == 0 && pipe2(p, O_CLOEXEC) == 0 ? child_env(n, pidvar, fdsvar, sizeof fdsvar, upvar, sizeof upvar) : NULL;
  pid_t pid = env ? fork() : -1;
  if (pid == 0) child_exec(fds, n, p[1], pidvar, env);
  int saved = errno;
  free(env);
  if (p[1] >= 0) close(p[1]);
  if (pid < 0) {
    if (p[0] >= 0) close(p[0]);
    tg_log_error("upgrade: cannot start %s: %s", U.exe, rc < 0 ? uv_strerror(rc) : strerror(saved));
    return -1;
  }
  fcntl(p[0], F_SETFL, O_NONBLOCK);
  U.rfd = p[0];
  U.child = pid;
  U.cb = cb;
  U.pending = 1;
  U.poll = malloc(sizeof *U.poll);
  if (U.poll && uv_poll_init(loop, U.poll, U.rfd) == 0) {
    uv_poll_start(U.poll, UV_READABLE | UV_DISCONNECT, on_pipe);
  } else { /* the timer decides: the new process is stopped after it */
    free(U.poll);
    U.poll = NULL;
  }
  uv_timer_start(&U.timer, on_timeout, UPGRADE_TIMEOUT_MS, 0);
  tg_log_info("upgrade: started %s as pid %ld with %zu listening sockets", U.exe, (long)pid, n);
  return 0;
}

void tg_upgrade_close(void) {
  if (U.pending) { /* stopping while the new process starts: it stops too */
    tg_log_warn("upgrade: stopping the new process (pid %ld), which had not served yet", (long)U.child);
    kill(U.child, SIGTERM);
    U.cb = NULL;
    U.pending = 0;
    if (U.poll) uv_close((uv_handle_t *)U.poll, free_handle);
    U.poll = NULL;
    close(U.rfd);
    U.rfd = -1;
  }
  if (!U.handles) return;
  uv_close((uv_handle_t *)&U.timer, NULL);
  uv_close((uv_handle_t *)&U.sigchld, NULL);
  U.handles = 0;
}

void tg_upgrade_child_init(void) {
  const char *v = getenv("TOLLGATE_UPGRADE_FD");
  char *end;
  long fd = v ? strtol(v, &end, 10) : -1;
  unsetenv("TOLLGATE_UPGRADE_FD");
  if (!v || *end || fd < FDS_START || fd > INT_MAX || fcntl((int)fd, F_SETFD, FD_CLOEXEC) < 0) return;
  child_fd = (int)fd;
}

void tg_upgrade_child_ready(void) {
  if (child_fd < 0) return;
  if (write(child_fd, "R", 1) != 1) tg_log_warn("upgrade: cannot tell the old process: %s", strerror(errno));
  close(child_fd);
  child_fd = -1;
}
