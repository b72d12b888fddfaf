/* Automatic certificates over ACME (RFC 8555). The client is in src/acme/,
 * above tls/ and upstream/ (whose HTTP client it calls):
 *
 *   acme-jws.c         the ES256 account key, its JWK and RFC 7638
 *                      thumbprint, JWS in flattened JSON, key authorizations,
 *                      the CSR, the TLS-ALPN-01 certificate (RFC 8737)
 *   acme-json.c        what tollgate reads from the CA: the directory,
 *                      orders, authorizations, problem documents (fuzzed)
 *   acme.c             the protocol: one blocking issuance, start to chain
 *   acme-manager.c     the thread that keeps every configured name set
 *                      issued and renewed
 *
 * What serving needs stays in src/tls/, below both (config reads the store
 * at load; workers answer challenges):
 *
 *   acme-store.c       the on-disk store: account key, account URLs,
 *                      certificates and keys, written atomically
 *   acme-challenges.c  the process-wide challenge table workers answer from
 *   src/config/acme-directives.c   the `acme { ... }` block
 *
 * Everything here blocks on the network or the disk and runs on the
 * manager's own thread, never on a worker loop; workers only call the two
 * challenge-table look-ups, which take a mutex for a few microseconds. */
#ifndef TOLLGATE_ACME_H
#define TOLLGATE_ACME_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "tollgate/base64.h" /* JOSE speaks base64url (tg_b64url) */
#include "tollgate/config.h"

/* ---- configuration ---- */

#define TG_ACME_LETSENCRYPT "https://acme-v02.api.letsencrypt.org/directory"
#define TG_ACME_LETSENCRYPT_STAGING "https://acme-staging-v02.api.letsencrypt.org/directory"
#define TG_ACME_DEFAULT_STORAGE "/var/lib/tollgate/acme"
#define TG_ACME_MAX_NAMES 100 /* names in one certificate (Let's Encrypt's limit) */

typedef enum tg_acme_challenge { TG_ACME_HTTP01, TG_ACME_TLSALPN01 } tg_acme_challenge;

/* The names of one certificate, lower case; the first names its directory
 * in the store. */
typedef struct tg_acme_names {
  char **v;
  size_t n;
} tg_acme_names;

typedef struct tg_acme_conf {
  char *directory;             /* the CA's directory URL; default Let's Encrypt */
  char *ca_bundle;             /* PEM file trusted for the CA's own TLS; NULL = system store */
  char *email;                 /* account contact, NULL for none */
  char *storage;               /* store directory; default TG_ACME_DEFAULT_STORAGE */
  tg_acme_challenge challenge; /* default http-01 */
  int agree_tos;               /* issuance needs it on */
  uint64_t retry_min_ms;       /* backoff after a failure: first wait (default 1 min)... */
  uint64_t retry_max_ms;       /* ...doubling up to this (default 6 h) */
  tg_acme_names *sets;         /* every certificate to keep: `names` lines, then tls auto sites */
  size_t nsets;
} tg_acme_conf;

/* A conf with the defaults and no name set, or NULL (out of memory). */
tg_acme_conf *tg_acme_conf_new(void);
/* A deep copy, or NULL. The manager keeps one across config generations. */
tg_acme_conf *tg_acme_conf_dup(const tg_acme_conf *c);
void tg_acme_conf_free(tg_acme_conf *c);
/* Adds a name set (copied, lower-cased). A set equal to one already there,
 * in any order, is not added twice. Returns 0 or -1 (out of memory). */
int tg_acme_conf_add_names(tg_acme_conf *c, const char *const *names, size_t n);
/* Whether s holds the same names, in any order. */
int tg_acme_names_equal(const tg_acme_names *s, const char *const *names, size_t n);
/* Another set of c whose first name is names[0]: both would be stored in
 * certs/<first name>/. NULL when there is none. */
const tg_acme_names *tg_acme_conf_clash(const tg_acme_conf *c, const char *const *names, size_t n);
/* The name sets cfg asks certificates for, and their count in *n; NULL
 * and 0 when cfg has no acme block. */
const tg_acme_names *tg_acme_name_sets(const tg_config *cfg, size_t *n);
/* Whether a name is one ACME can issue for here: a DNS name of letters,
 * digits and '-' in dot-separated labels, not an IP address, no wildcard. */
int tg_acme_name_valid(const char *name);

/* ---- keys, JWS, CSR (acme-jws.c) ---- */

/* A fresh P-256 key, or NULL (acme-store.c, which makes the account key). */
EVP_PKEY *tg_acme_key_new(void);
/* The public JWK of a P-256 key in RFC 7638's canonical form
 * ({"crv":"P-256","kty":"EC","x":"...","y":"..."}), malloc'd, or NULL. */
char *tg_acme_jwk(EVP_PKEY *key);
/* RFC 7638 thumbprint of a JWK given as JSON (EC, RSA or OKP; members
 * other than the required ones are ignored): base64url SHA-256 of the
 * required members in lexicographic order, without spaces, into out
 * (44 bytes: 43 and a NUL). Returns 0 or -1. */
int tg_acme_jwk_thumbprint(const char *jwk_json, char out[44]);
/* A JWS in flattened JSON serialization, signed ES256 with key: protected
 * {"alg":"ES256","jwk":{...}|"kid":kid,"nonce":nonce,"url":url}, payload
 * base64url(payload) ("" for POST-as-GET), signature r||s (64 bytes)
 * base64url. kid NULL puts the jwk in (newAccount). malloc'd, or NULL. */
char *tg_acme_jws(EVP_PKEY *key, const char *kid, const char *nonce, const char *url, const char *payload);
/* token "." thumbprint (RFC 8555 section 8.1), malloc'd, or NULL. */
char *tg_acme_key_authorization(const char *token, const char *thumbprint);
/* A CSR for names (SANs, and the first as the CN), signed by key, as
 * base64url DER for the finalize request; malloc'd, or NULL. */
char *tg_acme_csr(EVP_PKEY *key, const char *const *names, size_t n);
/* RFC 8737: a self-signed certificate for name with the critical
 * acmeIdentifier extension (id-pe-acmeIdentifier, 1.3.6.1.5.5.7.1.31)
 * holding SHA-256(key_authz), and its fresh key. Returns 0 or -1. */
int tg_acme_alpn_cert(const char *name, const char *key_authz, X509 **cert, EVP_PKEY **key);

/* ---- what the CA sends (acme-json.c) ---- */

typedef enum tg_acme_status {
  TG_ACME_ST_UNKNOWN,
  TG_ACME_ST_PENDING,
  TG_ACME_ST_READY,
  TG_ACME_ST_PROCESSING,
  TG_ACME_ST_VALID,
  TG_ACME_ST_INVALID,
  TG_ACME_ST_EXPIRED,
  TG_ACME_ST_DEACTIVATED,
  TG_ACME_ST_REVOKED,
} tg_acme_status;

typedef struct tg_acme_directory {
  char *new_nonce, *new_account, *new_order;
  char *terms; /* meta.termsOfService, or NULL */
} tg_acme_directory;

typedef struct tg_acme_order {
  tg_acme_status status;
  char **authz;
  size_t nauthz;
  char *finalize;
  char *certificate; /* once valid */
  char problem[400]; /* the order's error, in words, when it has one */
} tg_acme_order;

typedef struct tg_acme_chall {
  char *type, *url, *token;
  tg_acme_status status;
  char problem[400];
} tg_acme_chall;

typedef struct tg_acme_authz {
  tg_acme_status status;
  char *name; /* identifier.value */
  int wildcard;
  tg_acme_chall *chall;
  size_t nchall;
} tg_acme_authz;

/* Each parser takes the CA's JSON body and fills its struct (owned
 * strings, freed by the matching _free even after a failure). Returns 0,
 * or -1 with what was wrong in err (a missing member, a wrong type). */
int tg_acme_directory_parse(const char *json, size_t len, tg_acme_directory *d, char *err, size_t errlen);
void tg_acme_directory_free(tg_acme_directory *d);
int tg_acme_order_parse(const char *json, size_t len, tg_acme_order *o, char *err, size_t errlen);
void tg_acme_order_free(tg_acme_order *o);
int tg_acme_authz_parse(const char *json, size_t len, tg_acme_authz *a, char *err, size_t errlen);
void tg_acme_authz_free(tg_acme_authz *a);
/* A problem document (RFC 7807, RFC 8555 section 6.7) in plain words:
 * its detail, then each subproblem's "name: detail", into out. type gets
 * the error type without "urn:ietf:params:acme:error:" (for example
 * "badNonce"), "" when there is none. Returns 0, or -1 when json is not a
 * problem document (out then says so). */
int tg_acme_problem_text(const char *json, size_t len, char *out, size_t outlen, char *type, size_t typelen);
const char *tg_acme_status_name(tg_acme_status s);

/* ---- the store (acme-store.c) ---- */

/* dir/account.key, dir/accounts.json (account URL per directory URL), and
 * per name set dir/certs/<first name>/cert.pem (the full chain) and
 * key.pem. Directories are 0700, keys 0600; every file is written to a
 * temporary name and renamed, so a reader sees the old file or the new. */

/* Creates dir and dir/certs when missing. Returns 0, or -1 with err. */
int tg_acme_store_open(const char *dir, char *err, size_t errlen);
/* Loads dir/account.key, or makes and stores a new one. NULL with err. */
EVP_PKEY *tg_acme_store_account_key(const char *dir, char *err, size_t errlen);
/* The account URL stored for directory_url (malloc'd), or NULL. */
char *tg_acme_store_account_url(const char *dir, const char *directory_url);
int tg_acme_store_set_account_url(const char *dir, const char *directory_url, const char *account_url);
/* dir/certs/<first name>/<file> into out; -1 when it does not fit. */
int tg_acme_store_path(const char *dir, const tg_acme_names *set, const char *file, char *out, size_t outlen);
/* Stores a PEM chain and its private key for set. Returns 0, or -1 with err. */
int tg_acme_store_save(const char *dir, const tg_acme_names *set, const char *chain_pem, size_t len, EVP_PKEY *key,
                       char *err, size_t errlen);
typedef struct tg_acme_cert_state {
  int present; /* cert.pem and key.pem read and parsed */
  int covers;  /* the leaf names every name of the set, and the key matches it */
  int valid;   /* now is between notBefore and notAfter */
  time_t not_before, not_after;
  time_t renew_at; /* notBefore + 2/3 of the lifetime */
} tg_acme_cert_state;

/* What the store holds for set at time now. Returns 1 when the stored
 * certificate can be used as is (present, covers, valid, now < renew_at),
 * else 0; st says why. */
int tg_acme_store_check(const char *dir, const tg_acme_names *set, time_t now, tg_acme_cert_state *st);
/* The renewal point of a certificate: notBefore + 2/3 (notAfter - notBefore). */
time_t tg_acme_renew_at(time_t not_before, time_t not_after);

/* ---- the challenge table (acme-challenges.c) ---- */

/* HTTP-01: token -> key authorization; TLS-ALPN-01: server name -> the
 * acmeIdentifier certificate and its key. Process-wide, behind a mutex.
 * put replaces an entry with the same key; the table takes its own copies
 * and references. */
int tg_acme_http01_put(const char *token, const char *key_authz);
void tg_acme_http01_remove(const char *token);
/* Copies the key authorization for token (len bytes, not NUL-terminated)
 * into out with a NUL; returns its length, or -1 when the token is unknown
 * or it does not fit. Tokens are compared in constant time. */
long tg_acme_http01_lookup(const char *token, size_t len, char *out, size_t outlen);
int tg_acme_alpn_put(const char *name, X509 *cert, EVP_PKEY *key);
void tg_acme_alpn_remove(const char *name);
/* New references to the certificate and key for name (the caller frees
 * them), and 0; -1 when there is no ALPN challenge for name. */
int tg_acme_alpn_lookup(const char *name, X509 **cert, EVP_PKEY **key);
/* Removes every entry (tests, and the manager at stop). */
void tg_acme_challenges_clear(void);

/* ---- one issuance (acme.c) ---- */

/* Sleeps up to ms, unless asked to stop; returns 0, or -1 to give up. */
typedef int (*tg_acme_wait_fn)(void *arg, uint64_t ms);

/* What one issuance cost: HTTPS requests made, and badNonce answers that
 * were retried with the fresh nonce. */
typedef struct tg_acme_stats {
  unsigned requests;
  unsigned bad_nonces;
} tg_acme_stats;

/* Runs the whole flow for set with conf: store, account key, directory,
 * account (stored per directory), order, each authorization through
 * conf->challenge, finalize with a fresh key, the chain, stored. Blocks
 * (seconds against a nearby CA). Returns 0, or -1 with the reason in plain
 * words in err; stats (may be NULL) is filled either way. */
int tg_acme_obtain(const tg_acme_conf *conf, const tg_acme_names *set, tg_acme_wait_fn wait, void *arg,
                   tg_acme_stats *stats, char *err, size_t errlen);

/* ---- the manager (acme-manager.c) ---- */

typedef struct tg_acme_manager tg_acme_manager;

/* Called on the manager's thread after a new certificate was stored. */
typedef void (*tg_acme_issued_fn)(void *arg, const tg_acme_names *set);

/* Starts the manager thread for a copy of conf: a valid stored certificate
 * is used as is, a missing or expiring one is ordered; each is renewed at
 * 2/3 of its lifetime; failures retry after retry_min_ms doubling up to
 * retry_max_ms. NULL when the thread cannot start. */
tg_acme_manager *tg_acme_manager_start(const tg_acme_conf *conf, tg_acme_issued_fn fn, void *arg);
/* Hands the manager a new configuration (copied); it applies it when it is
 * next idle. An unchanged conf changes nothing. */
void tg_acme_manager_update(tg_acme_manager *m, const tg_acme_conf *conf);
/* Asks the thread to stop, waits for it (at most the current network
 * operation's limit) and frees m. NULL is fine. */
void tg_acme_manager_stop(tg_acme_manager *m);

#endif
