/* The service manager's readiness protocol (sd_notify(3)) without
 * libsystemd: one datagram of KEY=VALUE lines to the AF_UNIX socket named
 * by $NOTIFY_SOCKET (a path, or an abstract name written with a leading
 * '@'). Without $NOTIFY_SOCKET nothing is sent. */
#ifndef TOLLGATE_NOTIFY_H
#define TOLLGATE_NOTIFY_H

/* Sends state ("READY=1", "STOPPING=1", "RELOADING=1\nSTATUS=..."):
 * returns 1 when sent, 0 when there is no $NOTIFY_SOCKET, -1 on an error
 * (errno set). */
int tg_notify(const char *state);

#endif
