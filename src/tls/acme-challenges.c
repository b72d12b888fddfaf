/* The challenge table: what the CA will ask for while an authorization is
 * pending. The manager thread puts entries in before it tells the CA to
 * validate and removes them after; worker threads look them up when a
 * request for /.well-known/acme-challenge/TOKEN or a TLS handshake with
 * ALPN acme-tls/1 comes in. A handful of entries at most, off the hot path:
 * one mutex and linear search. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "tollgate/acme.h"

typedef struct http01_entry {
  char *token, *key_authz;
  struct http01_entry *next;
} http01_entry;

typedef struct alpn_entry {
  char *name;
  X509 *cert;
  EVP_PKEY *key;
  struct alpn_entry *next;
} alpn_entry;

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static http01_entry *http01_list;
static alpn_entry *alpn_list;

static void http01_free(http01_entry *e) {
  free(e->token);
  if (e->key_authz) OPENSSL_cleanse(e->key_authz, strlen(e->key_authz));
  free(e->key_authz);
  free(e);
}

static void alpn_free(alpn_entry *e) {
  free(e->name);
  X509_free(e->cert);
  EVP_PKEY_free(e->key);
  free(e);
}

/* Unlinks and returns the entry for token; the caller holds the lock. */
static http01_entry *http01_unlink(const char *token) {
  for (http01_entry **p = &http01_list; *p; p = &(*p)->next) {
    if (strcmp((*p)->token, token) != 0) continue;
    http01_entry *e = *p;
    *p = e->next;
    return e;
  }
  return NULL;
}

int tg_acme_http01_put(const char *token, const char *key_authz) {
  http01_entry *e = calloc(1, sizeof *e);
  if (!e || !(e->token = strdup(token)) || !(e->key_authz = strdup(key_authz))) {
    if (e) http01_free(e);
    return -1;
  }
  pthread_mutex_lock(&table_lock);
  http01_entry *old = http01_unlink(token);
  e->next = http01_list;
  http01_list = e;
  pthread_mutex_unlock(&table_lock);
  if (old) http01_free(old);
  return 0;
}

void tg_acme_http01_remove(const char *token) {
  pthread_mutex_lock(&table_lock);
  http01_entry *e = http01_unlink(token);
  pthread_mutex_unlock(&table_lock);
  if (e) http01_free(e);
}

long tg_acme_http01_lookup(const char *token, size_t len, char *out, size_t outlen) {
  long rc = -1;
  pthread_mutex_lock(&table_lock);
  for (http01_entry *e = http01_list; e; e = e->next) {
    /* Constant time over the token, so that a prober learns nothing from timing. */
    if (strlen(e->token) != len || CRYPTO_memcmp(e->token, token, len) != 0) continue;
    size_t n = strlen(e->key_authz);
    if (n < outlen) {
      memcpy(out, e->key_authz, n + 1);
      rc = (long)n;
    }
    break;
  }
  pthread_mutex_unlock(&table_lock);
  return rc;
}

static alpn_entry *alpn_unlink(const char *name) {
  for (alpn_entry **p = &alpn_list; *p; p = &(*p)->next) {
    if (strcasecmp((*p)->name, name) != 0) continue;
    alpn_entry *e = *p;
    *p = e->next;
    return e;
  }
  return NULL;
}

int tg_acme_alpn_put(const char *name, X509 *cert, EVP_PKEY *key) {
  alpn_entry *e = calloc(1, sizeof *e);
  if (!e || !(e->name = strdup(name)) || X509_up_ref(cert) != 1) {
    if (e) free(e->name);
    free(e);
    return -1;
  }
  e->cert = cert;
  if (EVP_PKEY_up_ref(key) != 1) {
    alpn_free(e);
    return -1;
  }
  e->key = key;
  pthread_mutex_lock(&table_lock);
  alpn_entry *old = alpn_unlink(name);
  e->next = alpn_list;
  alpn_list = e;
  pthread_mutex_unlock(&table_lock);
  if (old) alpn_free(old);
  return 0;
}

void tg_acme_alpn_remove(const char *name) {
  pthread_mutex_lock(&table_lock);
  alpn_entry *e = alpn_unlink(name);
  pthread_mutex_unlock(&table_lock);
  if (e) alpn_free(e);
}

int tg_acme_alpn_lookup(const char *name, X509 **cert, EVP_PKEY **key) {
  int rc = -1;
  pthread_mutex_lock(&table_lock);
  for (alpn_entry *e = alpn_list; e; e = e->next) {
    if (strcasecmp(e->name, name) != 0) continue;
    if (X509_up_ref(e->cert) == 1 && EVP_PKEY_up_ref(e->key) == 1) {
      *cert = e->cert;
      *key = e->key;
      rc = 0;
    }
    break;
  }
  pthread_mutex_unlock(&table_lock);
  return rc;
}

void tg_acme_challenges_clear(void) {
  pthread_mutex_lock(&table_lock);
  http01_entry *h = http01_list;
  alpn_entry *a = alpn_list;
  http01_list = NULL;
  alpn_list = NULL;
  pthread_mutex_unlock(&table_lock);
  while (h) {
    http01_entry *n = h->next;
    http01_free(h);
    h = n;
  }
  while (a) {
    alpn_entry *n = a->next;
    alpn_free(a);
    a = n;
  }
}
