/* Authentication at the edge (src/policy/): who is asking, decided before a
 * request goes upstream.
 *
 *   auth.c        the dispatcher: tg_auth_admit, the per-worker state, 401/429
 *   basic.c       Basic auth: thread-pool verification, the credential cache,
 *                 the failure throttle
 *   htpasswd.c    verifying a password against each hash format
 *   hash-class.c  which format an htpasswd hash field is (asks libcrypt),
 *                 plain text only when nothing about it looks like a hash
 *   keys.c        API keys (Authorization: Bearer), stored as SHA-256
 *   ollama-sig.c  requests signed by the ollama CLI's ed25519 key
 *   forward.c     forward auth: a subrequest to an auth server
 *   route.c       path normalisation, per-route overrides, the request facts
 *   authfile.c    files re-read when they change (shared by the above)
 *   cli.c         `tollgate passwd` and `tollgate key new`
 *
 * Everything under tg_auth_conf is built at config load and shared read-only
 * by the workers, except the loaded contents of the credential files, which
 * are swapped under a mutex when a file changes on disk. Per-worker state
 * (the verified-credential cache, in-flight verifications) lives in
 * tg_worker.auth and is touched only by its thread. */
#ifndef TOLLGATE_AUTH_H
#define TOLLGATE_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tollgate/admission.h"

#define TG_USER_MAX 64 /* longest user name, in bytes */

typedef struct tg_client tg_client;
typedef struct tg_worker tg_worker;
typedef struct tg_authfile tg_authfile;

/* Reports one problem in a file being loaded, already formatted as
 * "path:line: message": an error (the file is refused) or, when warning is
 * set, something accepted that the operator should know (a weak hash). */
typedef void (*tg_auth_report)(void *ctx, int warning, const char *msg);

/* The kind of a file under tg_authfile. */
typedef enum tg_authfile_kind { TG_AF_HTPASSWD, TG_AF_KEYS, TG_AF_OLLAMA } tg_authfile_kind;

typedef struct tg_forward_conf {
  char *url;                    /* as written, for messages */
  char *host;                   /* Host header of the subrequest */
  char *path;                   /* request target of the subrequest */
  struct sockaddr_storage addr; /* resolved at load */
  char **copy;                  /* header names copied from a 2xx answer, NULL-terminated */
  uint64_t timeout_ms;          /* whole subrequest; default 5 s */
} tg_forward_conf;

typedef struct tg_route_conf {
  char *path;        /* normalised; a prefix unless exact */
  int exact;         /* `route = /path` */
  int auth_off;      /* `auth off;` in the route */
  int has_max_body;  /* `client_max_body_size SIZE;` in the route */
  uint64_t max_body; /* its value (0 = unlimited) */
} tg_route_conf;

typedef struct tg_auth_conf {
  tg_authfile *basic;        /* htpasswd, or NULL */
  char *realm;               /* WWW-Authenticate realm; default "Ollama" */
  int allow_plain;           /* plain-text passwords in the htpasswd file */
  tg_authfile *keys;         /* API key hashes, or NULL */
  tg_authfile *ollama;       /* ollama CLI public keys, or NULL */
  uint64_t ollama_window_ms; /* accepted |now - ts|; default 5 min */
  tg_forward_conf *forward;  /* or NULL */
  uint64_t cache_ms;         /* verified Basic credentials are remembered; default 5 min; 0 = off */
  uint64_t forward_cache_ms; /* positive forward answers; default 0 (off) */
  tg_route_conf *routes;
  size_t nroutes;
} tg_auth_conf;

/* Any authentication configured (a route may still turn it off)? */
int tg_auth_enabled(const tg_auth_conf *a);

/* --- the dispatcher (src/policy/auth.c) --- */

/* Admission phase: decides who is asking. TG_ADM_NEXT when it can at once
 * (an open route, a key, a cached credential), TG_ADM_DONE after answering
 * 400/401/429/5xx, TG_ADM_AGAIN while a slow hash or forward auth runs
 * (holding its exchange), which then resumes the pipeline or answers. */
tg_adm_rc tg_auth_admit(tg_exchange *x);

/* Frees a worker's auth state (at worker exit). */
void tg_auth_worker_free(tg_worker *w);

/* --- config (src/policy/auth.c) --- */
tg_auth_conf *tg_auth_conf_new(void);
void tg_auth_conf_free(tg_auth_conf *a);

/* --- files (src/policy/authfile.c) --- */

/* Loads a credential file. Each problem goes to report as "path:line: msg";
 * returns NULL when there was any error (the file is refused as a whole);
 * warnings do not refuse it. */
tg_authfile *tg_authfile_load(const char *path, tg_authfile_kind kind, int allow_plain, tg_auth_report report,
                              void *ctx);
void tg_authfile_free(tg_authfile *f);

/* --- path normalisation (src/policy/route.c) --- */

/* Normalises the path part of target (n bytes; a query is ignored) into out
 * (cap bytes): percent-decoding, '//' collapsed, '.' and '..' segments
 * resolved (never above '/'). Returns the length, -1 for a path that cannot
 * be normalised safely (a bad or NUL escape), -2 when cap is too small. */
long tg_path_normalize(const char *target, size_t n, char *out, size_t cap);

/* The route for a normalised path: the exact match, else the longest
 * prefix match (a prefix matches at a '/' boundary), compared ignoring
 * ASCII case. NULL when none. */
const tg_route_conf *tg_route_match(const tg_auth_conf *a, const char *path, size_t n);

/* The first admission phase: the request's facts every later phase reads,
 * settled once: the path normalised (x->path), its route (x->route)
 * and route kind. 400 for a path that does not normalise on a site with
 * limits. */
tg_adm_rc tg_request_facts(tg_exchange *x);

/* --- password hashes (src/policy/htpasswd.c) --- */

typedef enum tg_hash_kind {
  TG_HASH_CRYPT, /* any scheme the system's libcrypt verifies: bcrypt, SHA-crypt, yescrypt, DES... */
  TG_HASH_APR1,
  TG_HASH_SHA1,
  TG_HASH_SSHA,
  TG_HASH_PLAIN,
  TG_HASH_UNKNOWN
} tg_hash_kind;

/* What an htpasswd hash field is (src/policy/hash-class.c). */
typedef struct tg_hash_class {
  tg_hash_kind kind; /* TG_HASH_UNKNOWN: refused, and error says why */
  const char *error;
  const char *weak; /* accepted but weak (a warning at load): why; else NULL */
  char scheme[12];  /* for messages: "$1$", "DES", "{SHA}", "plain text"... */
} tg_hash_class;

/* Classifies a hash field: {PLAIN} (only with allow_plain), {SHA}, {SSHA},
 * $apr1$, then anything with the shape of a crypt(3) hash ($id$..., 13 DES
 * characters, _ + 19) as libcrypt's crypt_checksalt judges it; a field of
 * no hash shape is plain text with allow_plain, refused without. */
tg_hash_class tg_hash_classify(const char *hash, int allow_plain);

/* Has the field the shape of a crypt(3) hash? */
int tg_hash_looks_crypt(const char *hash);

/* Does password match hash? Constant time in the comparison. bcrypt and
 * the other crypt(3) schemes cost what their parameters say: call them off
 * the loop.
 * Returns 1 (match), 0 (no match) or -1 (error). */
int tg_hash_verify(const char *hash, tg_hash_kind kind, const char *password, size_t plen);

/* Is this kind slow enough to belong on the thread pool? Every crypt(3)
 * scheme is (DES too, for one path: it is rare and its result is cached). */
int tg_hash_is_slow(tg_hash_kind kind);

/* Apache's $apr1$ MD5-crypt of password with salt (at most 8 bytes used),
 * into out (at least 38 bytes). Returns 0 or -1. */
int tg_apr1_crypt(const char *password, size_t plen, const char *salt, size_t slen, char *out, size_t cap);

/* --- API keys (src/policy/keys.c) --- */

/* SHA-256 of key as 64 lowercase hex characters and a NUL into hex. */
void tg_key_hash_hex(const char *key, size_t n, char hex[65]);

/* --- subcommands (src/policy/cli.c) --- */
int tg_passwd_main(int argc, char **argv);
int tg_key_main(int argc, char **argv);

#endif
