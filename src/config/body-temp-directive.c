/* `client_body_temp_path DIR;` (docs/configuration.md): where a body read
 * whole before a server is chosen goes past client_body_buffer_size, and
 * the default when the directive is absent. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "syntax.h"

#define ERR(errs, tok, ...) tg_cfg_error_at((errs), (tok)->line, (tok)->col, __VA_ARGS__)

/* systemd's StateDirectory= (the unit's /var/lib/tollgate, on disk) when
 * systemd gave one, as $STATE_DIRECTORY (its first path); else /tmp. */
char *tg_cfg_body_temp_default(void) {
  const char *s = getenv("STATE_DIRECTORY");
  if (!s || s[0] != '/') return strdup("/tmp");
  size_t n = strcspn(s, ":");
  return strndup(s, n);
}

void tg_cfg_body_temp_path(tg_site_conf *s, const tg_cfg_node *n, const char *config_path, tg_cfg_errors *errs) {
  char *dir = tg_cfg_resolve_path(config_path, n->args[0].text);
  if (!dir) return (void)(errs->oom = 1);
  struct stat st;
  if (stat(dir, &st) < 0) ERR(errs, &n->args[0], "client_body_temp_path %s: %s", dir, strerror(errno));
  else if (!S_ISDIR(st.st_mode)) ERR(errs, &n->args[0], "client_body_temp_path %s: not a directory", dir);
  else if (access(dir, W_OK | X_OK) < 0)
    ERR(errs, &n->args[0], "client_body_temp_path %s: cannot make files in it: %s", dir, strerror(errno));
  else {
    free(s->body_temp_dir);
    s->body_temp_dir = dir;
    return;
  }
  free(dir);
}
