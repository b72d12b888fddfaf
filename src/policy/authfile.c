/* Credential files: htpasswd (`user:hash`), API keys (`user sha256-hex`)
 * and ollama CLI public keys (`user ssh-ed25519 AAAA... [comment]`). Loaded
 * at config time (every problem reported as "path:line: message"), then
 * re-read when their mtime, size or inode changes, looked at no more than
 * once per second. The contents are swapped under a mutex; lookups copy
 * what they need while holding it, so no reader keeps a pointer into them. */
#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "policy.h"
#include "tollgate/hex.h"

#define HASH_MAX 256

typedef struct af_entry {
  char user[TG_USER_MAX + 1];
  tg_hash_kind kind;
  char *hash;            /* htpasswd */
  unsigned char bin[32]; /* keys: SHA-256; ollama: the ed25519 key */
} af_entry;

typedef struct af_table {
  af_entry *v;
  size_t n;
} af_table;

struct tg_authfile {
  char *path;
  tg_authfile_kind kind;
  int allow_plain;
  pthread_mutex_t lock;
  af_table cur;
  struct stat st; /* of the contents loaded */
  _Atomic uint64_t generation;
  _Atomic uint64_t next_check_ms;
};

static _Atomic uint64_t generations = 1;

/* --- parsing --- */

typedef struct loader {
  const char *path;
  unsigned line;
  tg_auth_report report;
  void *ctx;
  int nerr;
} loader;

/* Reports "path:line: " + fmt (with detail) as an error or a warning. */
static void report_line(loader *l, int warning, const char *fmt, const char *detail) {
  char msg[512];
  int n = snprintf(msg, sizeof msg, "%s:%u: ", l->path, l->line);
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof msg) n = (int)sizeof msg - 1; /* a very long path: the message is cut */
  snprintf(msg + n, sizeof msg - (size_t)n, fmt, detail ? detail : "");
  if (!warning) l->nerr++;
  if (l->report) l->report(l->ctx, warning, msg);
}

static void problem(loader *l, const char *fmt, const char *detail) { report_line(l, 0, fmt, detail); }

static int valid_user(loader *l, const char *u, size_t n) {
  if (n == 0) return problem(l, "empty user name%s", NULL), 0;
  if (n > TG_USER_MAX) return problem(l, "user name longer than 64 bytes%s", NULL), 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)u[i] <= ' ' || u[i] == 0x7f || u[i] == '"' || u[i] == '\\')
      return problem(l, "invalid character in the user name%s", NULL), 0;
  return 1;
}

static int parse_htpasswd(loader *l, char *line, af_entry *e, int allow_plain) {
  char *colon = strchr(line, ':');
  if (!colon) return problem(l, "expected user:hash%s", NULL), -1;
  if (!valid_user(l, line, (size_t)(colon - line))) return -1;
  memcpy(e->user, line, (size_t)(colon - line));
  char *hash = colon + 1, *more = strchr(hash, ':'); /* nginx allows user:hash:comment */
  if (more) *more = '\0';
  if (strlen(hash) >= HASH_MAX) return problem(l, "password hash too long%s", NULL), -1;
  tg_hash_class c = tg_hash_classify(hash, allow_plain);
  if (c.error) return problem(l, "%s", c.error), -1;
  if (c.weak) {
    char why[128];
    snprintf(why, sizeof why, "%s (%s)", c.scheme, c.weak);
    report_line(l, 1, "weak password hash: %s; 'tollgate passwd' writes bcrypt", why);
  }
  e->kind = c.kind;
  e->hash = strdup(hash);
  return e->hash ? 0 : -1;
}

/* Splits line into blank-separated words (at most max); returns how many. */
static int split_words(char *line, char **w, int max) {
  int n = 0;
  char *save;
  for (char *p = strtok_r(line, " \t", &save); p && n < max; p = strtok_r(NULL, " \t", &save)) w[n++] = p;
  return n;
}

static int parse_key(loader *l, char *line, af_entry *e) {
  char *w[3];
  int n = split_words(line, w, 3);
  if (n != 2 || strlen(w[1]) != 64)
    return problem(l, "expected: NAME SHA256-HEX (from 'tollgate key new')%s", NULL), -1;
  if (!valid_user(l, w[0], strlen(w[0]))) return -1;
  strcpy(e->user, w[0]);
  if (tg_hex_decode(w[1], 32, e->bin) < 0) return problem(l, "the key hash is not hexadecimal%s", NULL), -1;
  return 0;
}

/* An SSH wire-format ed25519 public key: string "ssh-ed25519", string key. */
int tg_ssh_ed25519_key(const unsigned char *b, long n, unsigned char key[32]) {
  static const unsigned char head[] = {0, 0, 0, 11, 's', 's', 'h', '-', 'e', 'd', '2', '5', '5', '1', '9', 0, 0, 0, 32};
  if (n != (long)sizeof head + 32 || memcmp(b, head, sizeof head) != 0) return -1;
  memcpy(key, b + sizeof head, 32);
  return 0;
}

static int parse_ollama(loader *l, char *line, af_entry *e) {
  char *w[4];
  int n = split_words(line, w, 4);
  unsigned char blob[128];
  if (n < 3 || strcmp(w[1], "ssh-ed25519") != 0)
    return problem(l, "expected: USER ssh-ed25519 AAAA... (the line in ~/.ollama/id_ed25519.pub)%s", NULL), -1;
  if (!valid_user(l, w[0], strlen(w[0]))) return -1;
  strcpy(e->user, w[0]);
  long bn = tg_b64_decode(w[2], strlen(w[2]), blob, sizeof blob);
  if (bn < 0 || tg_ssh_ed25519_key(blob, bn, e->bin) < 0)
    return problem(l, "invalid ssh-ed25519 public key%s", NULL), -1;
  return 0;
}

static void table_free(af_table *t) {
  for (size_t i = 0; i < t->n; i++) {
    if (t->v[i].hash) OPENSSL_cleanse(t->v[i].hash, strlen(t->v[i].hash));
    free(t->v[i].hash);
  }
  free(t->v);
  t->v = NULL;
  t->n = 0;
}

static int parse_line(loader *l, char *line, tg_authfile_kind kind, int allow_plain, af_table *t) {
  size_t len = strlen(line);
  while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
  char *p = line;
  while (*p == ' ' || *p == '\t') p++;
  if (!*p || *p == '#') return 0;
  af_entry *v = realloc(t->v, (t->n + 1) * sizeof *v);
  if (!v) return -1;
  t->v = v;
  af_entry *e = &v[t->n];
  memset(e, 0, sizeof *e);
  int rc = kind == TG_AF_HTPASSWD ? parse_htpasswd(l, p, e, allow_plain)
           : kind == TG_AF_KEYS   ? parse_key(l, p, e)
                                  : parse_ollama(l, p, e);
  if (rc < 0) return 0; /* reported; the file is refused at the end */
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->v[i].user, e->user) == 0 && kind == TG_AF_HTPASSWD) {
      problem(l, "duplicate user '%s'", e->user);
      free(e->hash);
      return 0;
    }
  t->n++;
  return 0;
}

/* Reads path into t; returns the number of problems (-1: cannot read). */
static int load_table(const char *path, tg_authfile_kind kind, int allow_plain, af_table *t, struct stat *st,
                      tg_auth_report report, void *ctx) {
  loader l = {.path = path, .report = report, .ctx = ctx};
  FILE *f = fopen(path, "r");
  if (!f || fstat(fileno(f), st) < 0) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s: cannot read: %s", path, strerror(errno));
    if (report) report(ctx, 0, msg);
    if (f) fclose(f);
    return -1;
  }
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, f) >= 0) {
    l.line++;
    if (parse_line(&l, line, kind, allow_plain, t) < 0) {
      problem(&l, "out of memory%s", NULL);
      break;
    }
  }
  if (line) OPENSSL_cleanse(line, cap);
  free(line);
  fclose(f);
  if (!l.nerr && kind == TG_AF_HTPASSWD && t->n == 0) {
    l.line = 1;
    problem(&l, "no users in the file%s", NULL);
  }
  return l.nerr;
}

tg_authfile *tg_authfile_load(const char *path, tg_authfile_kind kind, int allow_plain, tg_auth_report report,
                              void *ctx) {
  tg_authfile *f = calloc(1, sizeof *f);
  if (!f || !(f->path = strdup(path))) {
    free(f);
    return NULL;
  }
  f->kind = kind;
  f->allow_plain = allow_plain;
  pthread_mutex_init(&f->lock, NULL);
  if (load_table(path, kind, allow_plain, &f->cur, &f->st, report, ctx) != 0) {
    tg_authfile_free(f);
    return NULL;
  }
  atomic_store(&f->generation, atomic_fetch_add(&generations, 1));
  atomic_store(&f->next_check_ms, tg_auth_now_ms() + 1000);
  return f;
}

void tg_authfile_free(tg_authfile *f) {
  if (!f) return;
  table_free(&f->cur);
  pthread_mutex_destroy(&f->lock);
  free(f->path);
  free(f);
}

static void log_problem(void *ctx, int warning, const char *msg) {
  (void)ctx;
  tg_log_error("%s%s", warning ? "warning: " : "", msg);
}

void tg_authfile_refresh(tg_authfile *f) {
  uint64_t now = tg_auth_now_ms(), next = atomic_load(&f->next_check_ms);
  if (now < next || !atomic_compare_exchange_strong(&f->next_check_ms, &next, now + 1000)) return;
  struct stat st;
  if (stat(f->path, &st) < 0) return; /* gone for now: keep what is loaded */
  pthread_mutex_lock(&f->lock);
  int same = st.st_mtim.tv_sec == f->st.st_mtim.tv_sec && st.st_mtim.tv_nsec == f->st.st_mtim.tv_nsec &&
             st.st_size == f->st.st_size && st.st_ino == f->st.st_ino;
  pthread_mutex_unlock(&f->lock);
  if (same) return;
  af_table t = {0};
  int rc = load_table(f->path, f->kind, f->allow_plain, &t, &st, log_problem, NULL);
  pthread_mutex_lock(&f->lock);
  f->st = st; /* a broken version is not read again until it changes */
  if (rc == 0) {
    af_table old = f->cur;
    f->cur = t;
    t = old;
    atomic_store(&f->generation, atomic_fetch_add(&generations, 1));
  }
  pthread_mutex_unlock(&f->lock);
  if (rc == 0) tg_log_info("%s: re-read (%zu entries)", f->path, f->cur.n);
  else tg_log_warn("%s: changed but has errors; still using the previous contents", f->path);
  table_free(&t);
}

uint64_t tg_authfile_generation(const tg_authfile *f) { return atomic_load(&((tg_authfile *)f)->generation); }

const char *tg_authfile_path(const tg_authfile *f) { return f->path; }

int tg_authfile_user_hash(tg_authfile *f, const char *user, char *hash, size_t cap, tg_hash_kind *kind) {
  int rc = -1;
  pthread_mutex_lock(&f->lock);
  const af_entry *e = f->cur.n ? &f->cur.v[0] : NULL; /* the dummy for unknown users */
  int known = 0;
  for (size_t i = 0; i < f->cur.n; i++)
    if (strcmp(f->cur.v[i].user, user) == 0) {
      e = &f->cur.v[i];
      known = 1;
    }
  if (e && strlen(e->hash) < cap) {
    strcpy(hash, e->hash);
    *kind = e->kind;
    rc = known;
  }
  pthread_mutex_unlock(&f->lock);
  return rc;
}

int tg_authfile_match_key(tg_authfile *f, const unsigned char digest[32], char user[TG_USER_MAX + 1]) {
  size_t found = SIZE_MAX;
  pthread_mutex_lock(&f->lock);
  for (size_t i = 0; i < f->cur.n; i++) { /* no early exit: every entry is compared */
    size_t eq = (size_t)(CRYPTO_memcmp(f->cur.v[i].bin, digest, 32) == 0);
    found = eq ? i : found;
  }
  if (found != SIZE_MAX) memcpy(user, f->cur.v[found].user, TG_USER_MAX + 1);
  pthread_mutex_unlock(&f->lock);
  return found != SIZE_MAX;
}

int tg_authfile_match_pub(tg_authfile *f, const unsigned char key[32], char user[TG_USER_MAX + 1]) {
  return tg_authfile_match_key(f, key, user);
}
