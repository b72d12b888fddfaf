/* How the process runs as a service without a service manager: the user it
 * becomes after binding its sockets and reading its keys (`user NAME
 * [GROUP];`), and the file its pid is written to (`pid_file PATH;`); and
 * the engine its workers' sockets do their I/O through (`io_engine`). Filled
 * by src/config/process-directives.c, used by src/process/. */
#ifndef TOLLGATE_PROCESS_CONF_H
#define TOLLGATE_PROCESS_CONF_H

#include <sys/types.h>

typedef struct tg_process_conf {
  char *user, *group; /* names as written; group NULL = the user's own */
  uid_t uid;          /* resolved at load */
  gid_t gid;
  int has_user;
  char *pid_file;                /* absolute (resolved against the config's directory), or NULL */
  const struct tg_io_engine *io; /* `io_engine`: the workers' (tollgate/io-engine.h), NULL = the default */
} tg_process_conf;

void tg_process_conf_free(tg_process_conf *p);

#endif
