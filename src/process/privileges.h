/* The pid file and the drop from root (see privileges.c). */
#ifndef TOLLGATE_PRIVILEGES_H
#define TOLLGATE_PRIVILEGES_H

#include "tollgate/config.h"

/* Becomes cfg's `user` when running as root (warns when root has no user
 * to become). Call before any thread but the main one exists. Returns 0, or
 * -1 (logged) when the drop failed: tollgate must not go on as root then. */
int tg_privileges_drop(const tg_config *cfg);

/* Writes the pid to cfg's pid_file, if any. Returns 0, or -1 (logged). */
int tg_pid_file_write(const tg_config *cfg);

/* Removes the pid file (NULL: none). */
void tg_pid_file_remove(const char *path);

#endif
