/* The top-level shared block (docs/configuration.md, docs/limits.md):
 *   shared redis://127.0.0.1:6379/0 {   # or unix:/run/redis/redis.sock
 *       password_file FILE;            # AUTH with its first line
 *       user NAME;                     # the ACL user AUTH names (needs password_file)
 *       prefix tollgate:;              # every key starts with it
 *       timeout 50ms;                  # one command's answer
 *       on_failure local|open|closed;  # while the store does not answer
 *   }
 * The block may be left out (`shared URL;`). The password file is read
 * here, so -t and a reload see a missing or empty one. */
#include <stdlib.h>
#include <string.h>

#include "syntax.h"
#include "tollgate/shared.h"

#define ERR(errs, tok, ...) tg_cfg_error_at((errs), (tok)->line, (tok)->col, __VA_ARGS__)
#define TIMEOUT_MAX_MS 60000

static void set_str(char **field, char *v, tg_cfg_errors *errs) {
  if (!v) return (void)(errs->oom = 1);
  free(*field);
  *field = v;
}

static void shared_password_file(tg_shared_conf *c, const tg_cfg_token *t, const char *config_path,
                                 tg_cfg_errors *errs) {
  char *path = tg_cfg_resolve_path(config_path, t->text), *pw = NULL;
  if (!path) return (void)(errs->oom = 1);
  const char *why = tg_shared_password_read(path, &pw);
  if (why) ERR(errs, t, "cannot read the password file %s: %s", path, why);
  else set_str(&c->password, pw, errs);
  free(path);
}

static void shared_user(tg_shared_conf *c, const tg_cfg_token *t, tg_cfg_errors *errs) {
  const char *v = t->text;
  int ok = v[0] && strlen(v) < 256;
  for (const char *p = v; ok && *p; p++) ok = *p > ' ' && *p <= '~';
  if (!ok) return ERR(errs, t, "'user' takes an ACL user name without spaces, not '%s'", v);
  set_str(&c->user, strdup(v), errs);
}

static void shared_prefix(tg_shared_conf *c, const tg_cfg_token *t, tg_cfg_errors *errs) {
  const char *v = t->text;
  int ok = strlen(v) < 128;
  for (const char *p = v; ok && *p; p++) ok = *p > ' ' && *p <= '~';
  if (!ok) return ERR(errs, t, "'prefix' takes at most 127 printable characters without spaces");
  set_str(&c->prefix, strdup(v), errs);
}

static void shared_timeout(tg_shared_conf *c, const tg_cfg_token *t, tg_cfg_errors *errs) {
  uint64_t ms;
  if (tg_duration_parse(t->text, &ms) < 0 || ms < 1 || ms > TIMEOUT_MAX_MS)
    return ERR(errs, t, "'timeout' takes a duration from 1ms to 60s, not '%s'", t->text);
  c->timeout_ms = ms;
}

static void shared_on_failure(tg_shared_conf *c, const tg_cfg_token *t, tg_cfg_errors *errs) {
  static const char *const names[] = {"local", "open", "closed"};
  for (int i = 0; i < 3; i++)
    if (strcmp(t->text, names[i]) == 0) return (void)(c->on_failure = (tg_shared_failure)i);
  ERR(errs, t, "'on_failure' takes local, open or closed, not '%s'", t->text);
}

static const char *const shared_keys[] = {"password_file", "user", "prefix", "timeout", "on_failure"};
#define NKEYS (sizeof shared_keys / sizeof shared_keys[0])

/* Checks k's name, shape and repetition; its index in shared_keys or -1. */
static int shared_key_of(const tg_cfg_node *k, const tg_cfg_node **first, tg_cfg_errors *errs) {
  for (size_t i = 0; i < NKEYS; i++) {
    if (strcmp(shared_keys[i], k->name.text) != 0) continue;
    if (k->has_block) return tg_cfg_error_at(errs, k->bline, k->bcol, "'%s' does not take a block", k->name.text), -1;
    if (k->nargs != 1) return ERR(errs, &k->name, "'%s' takes one value", k->name.text), -1;
    if (first[i])
      return ERR(errs, &k->name, "duplicate '%s' (first at %u:%u)", k->name.text, first[i]->name.line,
                 first[i]->name.col),
             -1;
    first[i] = k;
    return (int)i;
  }
  ERR(errs, &k->name, "unknown directive '%s' in shared (password_file, user, prefix, timeout, on_failure)",
      k->name.text);
  return -1;
}

void tg_cfg_shared_directive(tg_config *cfg, const tg_cfg_node *n, tg_cfg_errors *errs) {
  const tg_cfg_node *first[NKEYS] = {0};
  tg_shared_conf *c = tg_shared_conf_new();
  if (!c || !(c->url = strdup(n->args[0].text))) {
    tg_shared_conf_free(c);
    return (void)(errs->oom = 1);
  }
  const char *why = tg_shared_url_parse(c, c->url);
  if (why) ERR(errs, &n->args[0], "'%s': %s", c->url, why);
  else if (c->host) tg_cfg_origin_note(cfg, c->host, &n->args[0], errs); /* preflight resolves it */
  for (size_t i = 0; i < n->nkids; i++) {
    const tg_cfg_node *k = &n->kids[i];
    switch (shared_key_of(k, first, errs)) {
    case 0: shared_password_file(c, &k->args[0], cfg->path, errs); break;
    case 1: shared_user(c, &k->args[0], errs); break;
    case 2: shared_prefix(c, &k->args[0], errs); break;
    case 3: shared_timeout(c, &k->args[0], errs); break;
    case 4: shared_on_failure(c, &k->args[0], errs); break;
    default: break;
    }
  }
  if (first[1] && !first[0]) ERR(errs, &first[1]->name, "'user' needs a password_file (AUTH takes both)");
  tg_shared_conf_free(cfg->shared);
  cfg->shared = c;
}

void tg_cfg_shared_check_site(const tg_cfg_node *site_node, tg_cfg_errors *errs) {
  for (size_t i = 0; i < site_node->nkids; i++) {
    const tg_cfg_node *k = &site_node->kids[i];
    if (strcmp(k->name.text, "quota_state") == 0)
      tg_cfg_warn_at(errs, k->name.line, k->name.col,
                     "'quota_state' is not needed with a shared block: the quota counts in the shared store "
                     "(the file keeps only what this instance counts while the store does not answer)");
  }
}
