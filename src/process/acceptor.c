/* Accepting on a worker's listening sockets, with a pause under descriptor
 * or memory pressure (see tollgate/acceptor.h). */
#include "tollgate/acceptor.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tollgate/access-log.h"

/* Connections accepted per wake-up of one socket before the loop moves on
 * (epoll is level-triggered: the rest are taken on the next turn). */
#define ACCEPT_BATCH 64

int tg_accept_err_is_pressure(int err) {
  return err == UV_EMFILE || err == UV_ENFILE || err == UV_ENOMEM || err == UV_ENOBUFS;
}

/* One error-log line a second at most, for every worker together; the
 * failures in between are counted into the next line. */
static void accept_log(int err) {
  static _Atomic uint64_t last_ms;
  static _Atomic unsigned long quiet;
  uint64_t now = uv_hrtime() / 1000000, last = atomic_load(&last_ms);
  if ((last && now - last < 1000) || !atomic_compare_exchange_strong(&last_ms, &last, now)) {
    atomic_fetch_add(&quiet, 1);
    return;
  }
  unsigned long more = atomic_exchange(&quiet, 0);
  if (tg_accept_err_is_pressure(err))
    tg_log_error("accept: %s: not accepting for %d ms (%lu more such failures since the last line)", uv_strerror(err),
                 TG_ACCEPT_PAUSE_MS, more);
  else tg_log_error("accept: %s (%lu more such failures since the last line)", uv_strerror(err), more);
}

static void acceptor_poll_cb(uv_poll_t *p, int status, int events);

static void acceptors_poll(tg_acceptors *s, int on) {
  for (size_t i = 0; i < s->npolls; i++) {
    int rc = on ? uv_poll_start(&s->polls[i], UV_READABLE, acceptor_poll_cb) : uv_poll_stop(&s->polls[i]);
    if (rc < 0) tg_log_error("accept: cannot %s polling a listener: %s", on ? "resume" : "stop", uv_strerror(rc));
  }
}

static void acceptors_resume(uv_timer_t *t) {
  tg_acceptors *s = t->data;
  s->paused = 0;
  if (!s->closed) acceptors_poll(s, 1);
}

static void acceptors_pause(tg_acceptors *s, int err) {
  accept_log(err);
  if (s->paused || s->closed) return;
  s->paused = 1;
  acceptors_poll(s, 0);
  int rc = uv_timer_start(&s->resume, acceptors_resume, TG_ACCEPT_PAUSE_MS, 0);
  if (rc < 0) { /* no pause possible: keep accepting rather than stop for good */
    tg_log_error("accept: cannot pause: %s", uv_strerror(rc));
    acceptors_resume(&s->resume);
  }
}

static void acceptor_poll_cb(uv_poll_t *p, int status, int events) {
  tg_acceptors *s = p->data;
  size_t i = (size_t)(p - s->polls);
  (void)events;
  if (status < 0) {
    accept_log(status);
    return;
  }
  for (int k = 0; k < ACCEPT_BATCH && !s->paused && !s->closed; k++) {
    /* cppcheck-suppress nullPointer ; accept(2): addrlen may be NULL when addr is (gnu.cfg says it may not) */
    int fd = accept4(s->fds[i], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    int err = fd < 0 ? -errno : 0;
    if (err == UV_EAGAIN || err == -EWOULDBLOCK) return;
    if (err == UV_EINTR || err == UV_ECONNABORTED) continue; /* that connection is gone; others may wait */
    if (err == 0) err = s->on_accept(s, i, fd);
    if (tg_accept_err_is_pressure(err)) acceptors_pause(s, err);
    else if (err < 0) accept_log(err);
  }
}

int tg_acceptors_start(tg_acceptors *s, uv_loop_t *loop, const int *fds, size_t n, tg_accept_cb cb, void *data) {
  s->fds = fds;
  s->n = n;
  s->on_accept = cb;
  s->data = data;
  uv_timer_init(loop, &s->resume); /* cannot fail: it only fills the handle */
  s->resume.data = s;
  s->started = 1;
  s->polls = calloc(n ? n : 1, sizeof *s->polls);
  if (!s->polls) return UV_ENOMEM;
  for (; s->npolls < n; s->npolls++) {
    uv_poll_t *p = &s->polls[s->npolls];
    int rc = uv_poll_init_socket(loop, p, fds[s->npolls]);
    if (rc < 0) return rc;
    p->data = s;
    if ((rc = uv_poll_start(p, UV_READABLE, acceptor_poll_cb)) < 0) {
      s->npolls++; /* initialised: closed with the others */
      return rc;
    }
  }
  return 0;
}

void tg_acceptors_close(tg_acceptors *s) {
  if (s->closed || !s->started) return;
  s->closed = 1;
  for (size_t i = 0; i < s->npolls; i++) uv_close((uv_handle_t *)&s->polls[i], NULL);
  /* uv_close stops a poll at once: the descriptors may go now */
  for (size_t i = 0; i < s->n; i++) close(s->fds[i]);
  uv_close((uv_handle_t *)&s->resume, NULL);
}

void tg_acceptors_free(tg_acceptors *s) {
  free(s->polls);
  s->polls = NULL;
}
