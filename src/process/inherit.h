/* Listening sockets handed to tollgate at start (see inherit.c). */
#ifndef TOLLGATE_INHERIT_H
#define TOLLGATE_INHERIT_H

#include <stddef.h>
#include <sys/socket.h>

/* Takes the sockets of $LISTEN_FDS (from fd 3 on) when $LISTEN_PID is this
 * process, and clears both variables. Returns how many were taken (a
 * descriptor that is not a listening stream socket is closed and said so). */
size_t tg_inherit_init(void);

/* A descriptor for worker `index`'s socket on the address sa, when sockets
 * bound to it were inherited: the index'th of them itself, or, past their
 * count, a duplicate of one (the workers then share it). -1 when none was. */
int tg_inherit_take(const struct sockaddr *sa, socklen_t len, unsigned index);

/* Closes the inherited sockets no listener took (the configuration no
 * longer names their address), saying so. */
void tg_inherit_close_unused(void);

#endif
