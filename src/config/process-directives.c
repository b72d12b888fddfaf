/* The top-level directives about the process itself: `user NAME [GROUP];`
 * (the account tollgate drops to once it has bound its sockets and read its
 * keys) and `pid_file PATH;`. Names are resolved at load, so `tollgate -t`
 * reports an unknown user or group at its line. `io_engine auto|epoll|io_uring;`
 * picks the transport of the workers' sockets (tollgate/io-engine.h). */
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "syntax.h"
#include "tollgate/io-engine.h"
#include "tollgate/process-conf.h"

#define ERR(errs, tok, ...) tg_cfg_error_at((errs), (tok)->line, (tok)->col, __VA_ARGS__)

void tg_process_conf_free(tg_process_conf *p) {
  if (!p) return;
  free(p->user);
  free(p->group);
  free(p->pid_file);
  free(p);
}

static tg_process_conf *process_conf(tg_config *cfg, tg_cfg_errors *errs) {
  if (!cfg->process && !(cfg->process = calloc(1, sizeof *cfg->process))) errs->oom = 1;
  return cfg->process;
}

static void set_owned(char **field, char *v, tg_cfg_errors *errs) {
  if (!v) errs->oom = 1;
  free(*field);
  *field = v;
}

void tg_cfg_user_directive(tg_config *cfg, const tg_cfg_node *n, tg_cfg_errors *errs) {
  tg_process_conf *p = process_conf(cfg, errs);
  if (!p) return;
  char buf[16384];
  struct passwd pwd, *pw = NULL;
  if (getpwnam_r(n->args[0].text, &pwd, buf, sizeof buf, &pw) != 0 || !pw) {
    ERR(errs, &n->args[0], "'user': no user named '%s' on this system", n->args[0].text);
    return;
  }
  p->uid = pw->pw_uid;
  p->gid = pw->pw_gid;
  if (n->nargs > 1) {
    struct group grp, *gr = NULL;
    if (getgrnam_r(n->args[1].text, &grp, buf, sizeof buf, &gr) != 0 || !gr) {
      ERR(errs, &n->args[1], "'user': no group named '%s' on this system", n->args[1].text);
      return;
    }
    p->gid = gr->gr_gid;
    set_owned(&p->group, strdup(n->args[1].text), errs);
  }
  set_owned(&p->user, strdup(n->args[0].text), errs);
  p->has_user = 1;
  tg_cfg_origin_note(cfg, p->user, &n->args[0], errs);
}

void tg_cfg_pid_file_directive(tg_config *cfg, const tg_cfg_node *n, tg_cfg_errors *errs) {
  tg_process_conf *p = process_conf(cfg, errs);
  if (!p) return;
  if (!n->args[0].text[0]) {
    ERR(errs, &n->args[0], "'pid_file' takes a file path");
    return;
  }
  set_owned(&p->pid_file, tg_cfg_resolve_path(cfg->path, n->args[0].text), errs);
  tg_cfg_origin_note(cfg, p->pid_file, &n->args[0], errs);
}

/* `auto` is epoll while the io_uring engine is a prototype that has not
 * won its benchmark (docs/benchmarks.md); `io_uring` asks for it (a worker
 * whose kernel refuses it logs that and serves with epoll). */
void tg_cfg_io_engine_directive(tg_config *cfg, const tg_cfg_node *n, tg_cfg_errors *errs) {
  const char *name = n->args[0].text;
  const tg_io_engine *io = tg_io_engine_named(strcmp(name, "auto") == 0 ? "epoll" : name);
  if (!io) {
    ERR(errs, &n->args[0], "'io_engine' takes auto, epoll or io_uring, not '%s'", name);
    return;
  }
  tg_process_conf *p = process_conf(cfg, errs);
  if (p) p->io = io;
}
