/* Internal to src/config: the error list, the lexer, the syntax tree and
 * the directive pass. Nothing outside src/config includes this file
 * (tests/unit/test_config.c and tests/fuzz/fuzz_config.c go through
 * include/tollgate/config.h).
 *
 * A config is read in three steps: the lexer turns bytes into tokens with
 * positions (lexer.c), the parser turns tokens into a tree of generic
 * directives `name arg* ;` / `name arg* { ... }` (syntax.c), and the
 * directive pass checks each directive against a table and fills a
 * tg_config (directives.c). Every step records errors and carries on. */
#ifndef TG_CONFIG_SYNTAX_H
#define TG_CONFIG_SYNTAX_H

#include <stddef.h>

#include "tollgate/config.h"

/* ---- errors ---- */

typedef struct tg_cfg_error {
  unsigned line, col;
  char *msg;
  int warning; /* printed, but does not refuse the config */
} tg_cfg_error;

/* Every problem found in one file, in the order found. nerrs counts the
 * errors (not the warnings), even those whose message could not be stored
 * for lack of memory. */
typedef struct tg_cfg_errors {
  tg_cfg_error *v;
  size_t n, cap;
  int nerrs;
  int oom;
} tg_cfg_errors;

/* Records "message" at line:col; printf-style. */
void tg_cfg_error_at(tg_cfg_errors *e, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Records a warning at line:col: printed like an error (after "warning: "),
 * but the config is still accepted (a weak password hash, say). */
void tg_cfg_warn_at(tg_cfg_errors *e, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prints the errors sorted by position as "name:line:col: msg" to err (which
 * may be NULL), at most TG_CFG_MAX_PRINTED of them, then frees them. */
void tg_cfg_errors_flush(tg_cfg_errors *e, const char *name, FILE *err);

#define TG_CFG_MAX_PRINTED 100

/* ---- lexer ---- */

typedef enum tg_cfg_tok_type {
  TG_TOK_WORD,   /* bare word */
  TG_TOK_STRING, /* "double-quoted", escapes resolved */
  TG_TOK_SEMI,
  TG_TOK_LBRACE,
  TG_TOK_RBRACE,
  TG_TOK_EOF
} tg_cfg_tok_type;

typedef struct tg_cfg_token {
  tg_cfg_tok_type type;
  char *text;         /* owned, NUL-terminated; NULL for punctuation and EOF */
  unsigned line, col; /* 1-based; col counts bytes */
} tg_cfg_token;

typedef struct tg_cfg_lexer {
  const char *p, *end;
  unsigned line, col;
  tg_cfg_errors *errs;
} tg_cfg_lexer;

void tg_cfg_lexer_init(tg_cfg_lexer *lx, const char *text, size_t len, tg_cfg_errors *errs);

/* Reads the next token into *tok (the caller frees tok->text). Lexical
 * errors are recorded and skipped; the result is always a usable token.
 * Returns -1 only when out of memory. */
int tg_cfg_lex(tg_cfg_lexer *lx, tg_cfg_token *tok);

/* ---- syntax tree ---- */

typedef struct tg_cfg_node {
  tg_cfg_token name;
  tg_cfg_token *args;
  size_t nargs;
  int has_block;
  unsigned bline, bcol; /* the '{' when has_block */
  struct tg_cfg_node *kids;
  size_t nkids;
} tg_cfg_node;

/* Parses text into a root node whose kids are the top-level directives.
 * Syntax errors are recorded in errs; the tree holds every directive that
 * could be read. Returns -1 only when out of memory. */
int tg_cfg_parse_tree(const char *text, size_t len, tg_cfg_errors *errs, tg_cfg_node *root);

void tg_cfg_node_free(tg_cfg_node *n);

/* Writes "workers auto", the directive's name and its arguments, into buf
 * for messages; stops at the first argument on a line after max_line (0 =
 * no limit) and shortens long text with "...". Returns buf. */
const char *tg_cfg_node_text(const tg_cfg_node *n, unsigned max_line, char *buf, size_t size);

/* ---- directive pass ---- */

/* Checks the tree against the directive table and fills cfg (which starts
 * empty: no upstreams, no sites). Errors go to errs. Returns -1 only when
 * out of memory. */
int tg_cfg_apply(tg_config *cfg, const tg_cfg_node *root, tg_cfg_errors *errs);

/* Fill u or s with the documented defaults (config.h) and a copy of name;
 * an upstream gets no server and a site no listen. Return -1 when out of
 * memory, leaving what was allocated for tg_cfg_*_clear. */
int tg_cfg_upstream_defaults(tg_upstream_conf *u, const char *name);
int tg_cfg_site_defaults(tg_site_conf *s, const char *name);
void tg_cfg_upstream_clear(tg_upstream_conf *u);
void tg_cfg_site_clear(tg_site_conf *s);

/* The server directives of an upstream (upstream-directives.c): `server
 * ADDR [slots N] [weight N] [backup] [drain]`, `balance`, `health`; and
 * the check of the whole block (n is the upstream's node). */
void tg_cfg_server_directive(tg_upstream_conf *u, const tg_cfg_node *n, tg_config *cfg, tg_cfg_errors *errs);
void tg_cfg_balance_directive(tg_upstream_conf *u, const tg_cfg_node *n, tg_cfg_errors *errs);
void tg_cfg_health_directive(tg_upstream_conf *u, const tg_cfg_node *n, tg_cfg_errors *errs);
void tg_cfg_fairness_directive(tg_upstream_conf *u, const tg_cfg_node *n, tg_cfg_errors *errs);
void tg_cfg_queue_directive(tg_upstream_conf *u, const tg_cfg_node *n, tg_cfg_errors *errs);
void tg_cfg_affinity_table_directive(tg_upstream_conf *u, const tg_cfg_node *n, tg_cfg_errors *errs);
void tg_cfg_affinity_slack_directive(tg_upstream_conf *u, const tg_cfg_node *n, tg_cfg_errors *errs);
void tg_cfg_upstream_check(const tg_upstream_conf *u, const tg_cfg_node *n, tg_cfg_errors *errs);

/* The auth directives of a site (auth-directives.c): `auth ...`,
 * `auth_cache D`, `route [=] PATH { auth off; }`. config_path locates
 * relative file names. */
void tg_cfg_auth_directive(tg_site_conf *s, const tg_cfg_node *n, const char *config_path, tg_cfg_errors *errs);
void tg_cfg_auth_cache_directive(tg_site_conf *s, const tg_cfg_node *n, tg_cfg_errors *errs);
void tg_cfg_route_directive(tg_site_conf *s, const tg_cfg_node *n, tg_cfg_errors *errs);

/* The limit and route-policy directives of a site (limit-directives.c):
 * `limit rate|conn|concurrency ...`, `limit_status`, `admins`,
 * `trusted_proxies`, `cors { ... }`. */
void tg_cfg_limit_directive(tg_site_conf *s, const tg_cfg_node *n, tg_cfg_errors *errs);
void tg_cfg_limit_status_directive(tg_site_conf *s, const tg_cfg_node *n, tg_cfg_errors *errs);
void tg_cfg_admins_directive(tg_site_conf *s, const tg_cfg_node *n, tg_cfg_errors *errs);
void tg_cfg_trusted_proxies_directive(tg_site_conf *s, const tg_cfg_node *n, tg_cfg_errors *errs);
void tg_cfg_cors_directive(tg_site_conf *s, const tg_cfg_node *n, tg_cfg_errors *errs);
/* The site's limits, made on first use (NULL, errs->oom set, when out of
 * memory); the quota directives fill them too. */
struct tg_limits_conf *tg_cfg_site_limits(tg_site_conf *s, tg_cfg_errors *errs);

/* The TLS directives of a site (tls-directives.c): `tls cert F key F`,
 * `tls auto [NAME...]`, `tls protocols 1.2 1.3`; and the whole-file check
 * that loads the certificates of every site with TLS. */
void tg_cfg_tls_directive(tg_site_conf *s, const tg_cfg_node *n, const char *config_path, tg_cfg_errors *errs);
void tg_cfg_tls_check_site(tg_site_conf *s, const tg_cfg_node *site_node, tg_cfg_errors *errs);

/* A file name relative to the config file's directory (malloc'd; NULL when
 * out of memory). */
char *tg_cfg_resolve_path(const char *config_path, const char *name);
/* `on ROUTES...` from argument i of n to its end: the route kinds' bit
 * set (limit-directives.c); 0 after an error. */
unsigned tg_cfg_parse_routes(const tg_cfg_node *n, size_t i, tg_cfg_errors *errs);

/* Model allow-lists and token quotas (quota-directives.c): `models`,
 * `quota tokens ...`, `quota_state PATH`. */
void tg_cfg_models_directive(tg_site_conf *s, const tg_cfg_node *n, tg_cfg_errors *errs);
void tg_cfg_quota_directive(tg_site_conf *s, const tg_cfg_node *n, tg_cfg_errors *errs);
/* `client_body_temp_path DIR;` (body-temp-directive.c): an existing
 * directory tollgate may make files in; and the directory used without it. */
void tg_cfg_body_temp_path(tg_site_conf *s, const tg_cfg_node *n, const char *config_path, tg_cfg_errors *errs);
char *tg_cfg_body_temp_default(void);

void tg_cfg_quota_state_directive(tg_site_conf *s, const tg_cfg_node *n, const char *config_path, tg_cfg_errors *errs);

/* The top-level `shared URL { ... }` block (shared-directives.c). */
void tg_cfg_shared_directive(tg_config *cfg, const tg_cfg_node *n, tg_cfg_errors *errs);
/* With a shared block: a site's `quota_state` is said to be unneeded
 * (a warning; the quota counts in the store). */
void tg_cfg_shared_check_site(const tg_cfg_node *site_node, tg_cfg_errors *errs);

/* The top-level `acme { ... }` block (acme-directives.c); and for a site
 * with `tls auto`, once the whole file is read: its name set added to the
 * acme block's, its stored certificate added to the site's. */
/* What follows "unknown directive 'X'" (suggest.c): what tollgate has for an
 * nginx or Caddy name (": nginx's 'proxy_pass' is ..."), or the nearest of
 * names (" (did you mean 'listen'?)"), or "". Written into buf. */
const char *tg_cfg_suggest(const char *unknown, const char *const *names, size_t n, char *buf, size_t size);

/* The process directives at the top level (process-directives.c): `user
 * NAME [GROUP]`, `pid_file PATH`. */
void tg_cfg_user_directive(tg_config *cfg, const tg_cfg_node *n, tg_cfg_errors *errs);
void tg_cfg_pid_file_directive(tg_config *cfg, const tg_cfg_node *n, tg_cfg_errors *errs);
void tg_cfg_io_engine_directive(tg_config *cfg, const tg_cfg_node *n, tg_cfg_errors *errs);

void tg_cfg_acme_directive(tg_config *cfg, const tg_cfg_node *n, tg_cfg_errors *errs);
void tg_cfg_acme_site(tg_config *cfg, tg_site_conf *s, const tg_cfg_node *site_node, tg_cfg_errors *errs);

/* Records where the value whose string is what was written (token t of
 * cfg->path), for tg_config_where (origin.c); and frees the records. */
void tg_cfg_origin_note(tg_config *cfg, const void *what, const tg_cfg_token *t, tg_cfg_errors *errs);
void tg_cfg_origins_free(struct tg_cfg_origins *o);

/* Parses a plain decimal number no greater than max ("007" is fine, "+7",
 * " 7" and "" are not). Returns 0 or -1. */
int tg_cfg_parse_uint(const char *s, uint64_t max, uint64_t *out);

#endif
