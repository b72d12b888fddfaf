/* tg_acceptors: a worker's listening sockets, accepted from by tollgate
 * itself (a uv_poll_t per socket and accept4) rather than by uv_listen, so
 * that accepting can pause. When accept fails for lack of descriptors or
 * memory (EMFILE, ENFILE, ENOMEM, ENOBUFS), or the owner cannot take the
 * connection, every socket of the worker stops being polled for
 * TG_ACCEPT_PAUSE_MS, as nginx does: the connections wait in the kernel's
 * accept queue instead of being accepted and dropped, and the loop does not
 * spin on an error that repeats. A line goes to the error log at most once
 * a second, process-wide, with the number of failures it stands for. */
#ifndef TOLLGATE_ACCEPTOR_H
#define TOLLGATE_ACCEPTOR_H

#include <stddef.h>
#include <uv.h>

#define TG_ACCEPT_PAUSE_MS 500

typedef struct tg_acceptors tg_acceptors;

/* A connection was accepted on socket i: the callback owns fd (a
 * non-blocking, close-on-exec socket). Returns 0, or a negative libuv error
 * when it could not take it (it closed fd): UV_ENOMEM and the like pause
 * accepting. */
typedef int (*tg_accept_cb)(tg_acceptors *s, size_t i, int fd);

struct tg_acceptors {
  uv_poll_t *polls;
  const int *fds; /* the listening sockets (not owned until started) */
  size_t n;
  size_t npolls;     /* polls initialised */
  uv_timer_t resume; /* ends a pause */
  tg_accept_cb on_accept;
  void *data; /* the owner's */
  unsigned started : 1;
  unsigned paused : 1;
  unsigned closed : 1;
};

/* Starts polling the n listening sockets fds on loop; from now on s owns
 * them (tg_acceptors_close closes them). Returns 0 or a negative libuv
 * error (what was started is closed by tg_acceptors_close). */
int tg_acceptors_start(tg_acceptors *s, uv_loop_t *loop, const int *fds, size_t n, tg_accept_cb cb, void *data);

/* Stops accepting for good: closes the handles and the sockets. */
void tg_acceptors_close(tg_acceptors *s);

/* Frees what s holds, once the loop has run the close callbacks. */
void tg_acceptors_free(tg_acceptors *s);

/* Is err (a libuv code) a shortage that should pause accepting? */
int tg_accept_err_is_pressure(int err);

#endif
