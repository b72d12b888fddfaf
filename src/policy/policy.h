/* Internal to src/policy: what the auth files share (see tollgate/auth.h
 * for the public side). */
#ifndef TG_POLICY_POLICY_H
#define TG_POLICY_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "tollgate/admission.h"
#include "tollgate/auth.h"
#include "tollgate/base64.h"
#include "tollgate/limits.h"
#include "tollgate/proxy.h"

/* The raw key of an SSH wire-format ssh-ed25519 public key blob; 0 or -1. */
int tg_ssh_ed25519_key(const unsigned char *blob, long n, unsigned char key[32]);

/* --- credential files (authfile.c) --- */

/* Re-reads f when it changed on disk (checked at most once per second).
 * A file that no longer loads keeps its previous contents (logged). */
void tg_authfile_refresh(tg_authfile *f);
/* Changes every time f's contents change; unique across files. */
uint64_t tg_authfile_generation(const tg_authfile *f);
const char *tg_authfile_path(const tg_authfile *f);

/* htpasswd: copies user's hash into hash (cap bytes) and its kind; when the
 * user is unknown, copies the file's first hash instead (to spend the same
 * time on a dummy verification) and returns 0; returns 1 for a known user,
 * -1 when the file is empty or the hash does not fit. */
int tg_authfile_user_hash(tg_authfile *f, const char *user, char *hash, size_t cap, tg_hash_kind *kind);
/* keys: the user whose key hashes to digest, compared in constant time
 * against every entry; copies the name into user. Returns 1 or 0. */
int tg_authfile_match_key(tg_authfile *f, const unsigned char digest[32], char user[TG_USER_MAX + 1]);
/* ollama keys: the user whose ed25519 public key is key. Returns 1 or 0. */
int tg_authfile_match_pub(tg_authfile *f, const unsigned char key[32], char user[TG_USER_MAX + 1]);

/* --- the dispatcher's helpers (auth.c) --- */

/* Per-worker auth state, created on first use. */
typedef struct tg_basic_worker tg_basic_worker;
typedef struct tg_auth_worker {
  tg_basic_worker *basic; /* basic.c: credential cache, verifications in flight */
} tg_auth_worker;
tg_auth_worker *tg_auth_worker_of(tg_worker *w);

/* Lets x through as user (copied), how naming the method for the log;
 * returns TG_ADM_NEXT. A method that accepts after going asynchronous then
 * calls tg_admission_resume. */
tg_adm_rc tg_auth_accept(tg_exchange *x, const char *user, const char *how);
/* 401 with the site's challenge (WWW-Authenticate); when failed is set
 * (credentials were given and were wrong) a failure is counted against the
 * client's address. Returns TG_ADM_DONE. */
tg_adm_rc tg_auth_deny(tg_exchange *x, const char *message, int failed);
/* Is the client's address throttled after failures? Answers 429 and
 * returns 1 when it is. */
int tg_auth_throttled(tg_exchange *x);
/* Counts one failed attempt from ip. */
void tg_auth_note_failure(const char *ip);
/* Milliseconds on a monotonic clock. */
uint64_t tg_auth_now_ms(void);

/* --- methods (each returns TG_AUTH_NOT_MINE when the credentials are not
 * of its kind, else what it did with x as an admission phase would:
 * TG_ADM_NEXT accepted, TG_ADM_DONE answered, TG_ADM_AGAIN verifying on
 * the thread pool or the loop, holding its exchange) --- */
#define TG_AUTH_NOT_MINE (-1)
int tg_basic_try(tg_exchange *x, const tg_auth_conf *a, const char *cred, size_t n);
int tg_keys_try(tg_exchange *x, const tg_auth_conf *a, const char *token, size_t n);
int tg_ollama_try(tg_exchange *x, const tg_auth_conf *a, const char *token, size_t n);
tg_adm_rc tg_forward_start(tg_exchange *x, const tg_auth_conf *a);
/* Frees what basic.c keeps per worker. */
void tg_basic_worker_free(tg_auth_worker *aw);

/* Verifies an ollama CLI signature over "METHOD,PATH?ts=TS" (pure, for
 * tests): pub is the base64 SSH wire-format key, sig the base64 raw
 * signature. Returns 1 valid, 0 invalid; the raw key goes to key. */
int tg_ollama_verify(const char *challenge, size_t clen, const char *pub, size_t pn, const char *sig, size_t sn,
                     unsigned char key[32]);

#endif
