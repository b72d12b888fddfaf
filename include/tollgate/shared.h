/* The shared store: limits counted across every tollgate instance that
 * names the same Redis and key prefix (docs/limits.md, "several
 * instances"). The `shared` block's settings (src/shared/shared-conf.c,
 * filled by src/config/shared-directives.c) and one non-blocking Redis
 * connection per worker (src/shared/redis-conn.c: hiredis through its
 * libuv adapter). Nothing here knows what the commands mean: the limits
 * that use the store build their commands and read the replies. */
#ifndef TOLLGATE_SHARED_H
#define TOLLGATE_SHARED_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* What a request does while the store cannot answer in time. */
typedef enum tg_shared_failure {
  TG_SHARED_LOCAL,  /* count per instance, as without a shared block (default) */
  TG_SHARED_OPEN,   /* let requests through unlimited */
  TG_SHARED_CLOSED, /* refuse them: 503 with Retry-After */
} tg_shared_failure;

#define TG_SHARED_DEFAULT_PORT 6379
#define TG_SHARED_DEFAULT_PREFIX "tollgate:"
#define TG_SHARED_DEFAULT_TIMEOUT_MS 50

typedef struct tg_shared_conf {
  char *url;           /* as written, for messages */
  char *host;          /* redis://HOST...: a name or an address ([v6] without brackets); NULL for unix: */
  uint16_t port;       /* default 6379 */
  char *unix_path;     /* unix:PATH; NULL for redis:// */
  unsigned db;         /* redis://HOST/DB; default 0 */
  char *user;          /* `user NAME`: an ACL user; NULL = the default user */
  char *password;      /* the first line of `password_file`; NULL = no AUTH */
  char *prefix;        /* `prefix`: every key starts with it; default "tollgate:" */
  uint64_t timeout_ms; /* `timeout`: one command's answer; default 50 ms */
  tg_shared_failure on_failure;
} tg_shared_conf;

tg_shared_conf *tg_shared_conf_new(void);
void tg_shared_conf_free(tg_shared_conf *c);

/* Reads url ("redis://HOST[:PORT][/DB]" or "unix:PATH") into c's host,
 * port, unix_path and db. Returns NULL, or why it cannot. */
const char *tg_shared_url_parse(tg_shared_conf *c, const char *url);

/* Reads the password from the first line of path (its line end and
 * surrounding blanks dropped) into *out (malloc'd). Returns NULL, or why
 * it cannot ("empty", strerror). */
const char *tg_shared_password_read(const char *path, char **out);

/* ---- one worker's connection (src/shared/redis-conn.c) ---- */

typedef struct tg_shared_conn tg_shared_conn;
struct redisReply;

/* A command's outcome: the reply (an error reply included), or NULL when
 * the command failed: no answer within the timeout, the connection lost.
 * The reply belongs to the connection and is freed after the call. */
typedef void (*tg_shared_reply_fn)(void *data, const struct redisReply *reply);

/* Hooks the owner may set after tg_shared_conn_start: state changes (up is
 * 1 when the handshake of a new connection succeeded, 0 when it is lost),
 * and each answered command's round trip in microseconds. */
typedef struct tg_shared_hooks {
  void (*state)(void *data, int up);
  void (*round_trip)(void *data, uint64_t us);
  void *data;
} tg_shared_hooks;

/* Starts connecting on loop (the name resolved with uv_getaddrinfo, never
 * by a blocking call on the loop); it reconnects by itself after a loss,
 * with a backoff from 50 ms to 500 ms. The connection is up once AUTH
 * (with c->password), SELECT (c->db != 0) and a PING have answered.
 * Returns NULL when out of memory. name labels its log lines. */
tg_shared_conn *tg_shared_conn_start(uv_loop_t *loop, const tg_shared_conf *c, const char *name);

void tg_shared_conn_set_hooks(tg_shared_conn *s, const tg_shared_hooks *h);

/* Whether the connection is up: commands are sent only then. */
int tg_shared_conn_up(const tg_shared_conn *s);

/* Sends one command (argv of argc strings, with their lengths) and calls
 * fn with its reply, or with NULL after the conf's timeout. Commands of one
 * loop turn go out in one write (hiredis queues them), their replies in
 * order. Returns 0, or -1 (fn never called) while the connection is not
 * up. A timeout takes the connection down (the commands still waiting get
 * NULL) and a new one is made: a store that does not answer in time is
 * treated as a store that is not there. */
int tg_shared_command(tg_shared_conn *s, int argc, const char **argv, const size_t *lens, tg_shared_reply_fn fn,
                      void *data);

/* A Lua script run with EVALSHA, its text sent (EVAL) only when the store
 * does not have it (NOSCRIPT: a new or restarted store, SCRIPT FLUSH). */
typedef struct tg_shared_script {
  const char *text;
  char sha1[41]; /* hex, set by tg_shared_script_init */
} tg_shared_script;

/* Computes the script's SHA-1 (once, before use). */
void tg_shared_script_init(tg_shared_script *sc, const char *text);

/* Runs sc with nkeys keys then nargs arguments (argv and lens hold the
 * keys first): EVALSHA, and on NOSCRIPT the same call as EVAL, within the
 * same timeout; fn gets the script's reply, an error reply, or NULL as for
 * tg_shared_command. Returns 0, or -1 (fn never called) while the
 * connection is not up. At most TG_SHARED_EVAL_MAX keys and arguments. */
#define TG_SHARED_EVAL_MAX 96
int tg_shared_eval(tg_shared_conn *s, const tg_shared_script *sc, int nkeys, int nargs, const char **argv,
                   const size_t *lens, tg_shared_reply_fn fn, void *data);

/* Keys known to be over a limit until a time: refused here without a
 * round trip until then (a flood costs the store nothing). A small table
 * per connection, by the key's 64-bit hash; forgotten when the connection
 * is made again (the store may have restarted empty). Times are the
 * caller's monotonic milliseconds. */
void tg_shared_over_note(tg_shared_conn *s, const char *key, size_t len, uint64_t until_ms);
/* The time key is known over its limit until, or 0 when it is not (any
 * more) at now_ms. */
uint64_t tg_shared_over_until(tg_shared_conn *s, const char *key, size_t len, uint64_t now_ms);

/* Closes the connection: the commands still waiting get NULL; its handles
 * close on the loop, which must run again for the memory to be freed. */
void tg_shared_conn_close(tg_shared_conn *s);

#endif
