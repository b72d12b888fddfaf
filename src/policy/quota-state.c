/* The quota state file and the registry of stores (see tollgate/quota.h).
 *
 * A store with a state file is kept in a process-wide registry by path: a
 * reload that names the same file keeps counting in the same store, so
 * tokens of streams still finishing on the old configuration are not lost
 * and no file is read while newer counts sit in memory. The file is read
 * when the store is first made (at start, or by a reload that names a new
 * file), written every few seconds by the main thread when counts changed,
 * and when the last configuration using the store is freed (at drain).
 *
 * The file is JSON:
 *   {"tollgate_quota_state":1,"saved":UNIX,"users":[{"user":"alice",
 *    "minute":UNIX,"minute_tokens":N,"day":UNIX,"day_tokens":N},...]}
 * written with tg_write_file_atomic (a temp file in the same directory,
 * fsynced, renamed over the old one, and the directory fsynced): a crash
 * leaves the old file or the new one, never a mix. A file that does not parse completely is refused
 * as a whole. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "quota-store.h"
#include "tollgate/access-log.h"
#include "tollgate/atomic-file.h"

#define STORE_ENTRIES 16384
#define STATE_MAX (64u << 20)

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static tg_quota_store *registry;

/* --- writing --- */

/* A user's name and counts, copied out of the table. */
typedef struct saved_user {
  char user[TG_USER_MAX + 1];
  tg_quota_entry e;
} saved_user;

typedef struct shard_copy {
  saved_user *v;
  size_t n;
  int64_t today;
} shard_copy;

/* Under the shard lock: a copy, so that workers wait only for it. */
static void copy_user(const char *user, const void *value, void *arg) {
  shard_copy *c = arg;
  const tg_quota_entry *e = value;
  if (e->day < c->today) return; /* nothing left to count */
  saved_user *u = &c->v[c->n++];
  snprintf(u->user, sizeof u->user, "%s", user);
  u->e = *e;
}

static json_t *shard_json(tg_quota_store *s, size_t i, shard_copy *c, json_t *users) {
  c->n = 0;
  tg_shard_table_each(s->users, i, copy_user, c);
  for (size_t j = 0; j < c->n; j++) {
    const tg_quota_entry *e = &c->v[j].e;
    json_t *u =
        json_pack("{s:s,s:I,s:I,s:I,s:I}", "user", c->v[j].user, "minute", (json_int_t)e->minute, "minute_tokens",
                  (json_int_t)e->minute_used, "day", (json_int_t)e->day, "day_tokens", (json_int_t)e->day_used);
    if (!u || json_array_append_new(users, u) < 0) return NULL;
  }
  return users;
}

static char *state_text(tg_quota_store *s, int64_t now) {
  shard_copy copy = {.v = malloc(tg_shard_table_per_shard(s->users) * sizeof *copy.v), .today = now - now % 86400};
  json_t *users = json_array(), *root = NULL;
  char *text = NULL;
  if (!copy.v || !users) goto done;
  for (size_t i = 0; i < TG_SHARD_COUNT; i++)
    if (!shard_json(s, i, &copy, users)) goto done;
  root = json_pack("{s:i,s:I,s:O}", "tollgate_quota_state", 1, "saved", (json_int_t)now, "users", users);
  if (root) text = json_dumps(root, JSON_COMPACT);
done:
  json_decref(root);
  json_decref(users);
  free(copy.v);
  return text;
}

int tg_quota_state_write(tg_quota_store *s, const char *path, int64_t now) {
  char *text = state_text(s, now);
  size_t len = text ? strlen(text) : 0;
  char *line = text ? realloc(text, len + 1) : NULL; /* the JSON and a newline; no NUL needed */
  if (!line) {
    free(text);
    return errno = ENOMEM, -1;
  }
  line[len] = '\n';
  int rc = tg_write_file_atomic(path, line, len + 1, 0600), saved = errno;
  free(line);
  errno = saved;
  return rc;
}

/* --- reading --- */

/* One user of the file, checked; 0 or -1. */
static int entry_of(json_t *u, saved_user *out) {
  json_int_t m, mt, d, dt;
  const char *user;
  tg_quota_entry *e = &out->e;
  memset(out, 0, sizeof *out);
  if (json_unpack(u, "{s:s,s:I,s:I,s:I,s:I !}", "user", &user, "minute", &m, "minute_tokens", &mt, "day", &d,
                  "day_tokens", &dt) < 0)
    return -1;
  if (!user[0] || strlen(user) > TG_USER_MAX || m < 0 || mt < 0 || d < 0 || dt < 0 || m % 60 || d % 86400) return -1;
  strcpy(out->user, user);
  e->minute = m, e->minute_used = (uint64_t)mt, e->day = d, e->day_used = (uint64_t)dt;
  return 0;
}

static void store_put(tg_quota_store *s, const saved_user *in) {
  uint64_t h;
  tg_shard *sh = tg_shard_table_lock(s->users, in->user, &h);
  tg_quota_entry *e = tg_quota_lookup(s, sh, h, in->user, 1);
  if (e) {
    e->minute = in->e.minute, e->minute_used = in->e.minute_used;
    e->day = in->e.day, e->day_used = in->e.day_used;
  }
  tg_shard_unlock(sh);
}

/* The parsed file into s: every entry checked before any is stored. */
static int state_load(tg_quota_store *s, json_t *root, char *err, size_t errlen) {
  json_t *users = json_object_get(root, "users"), *u;
  json_t *version = json_object_get(root, "tollgate_quota_state");
  size_t i, n = json_array_size(users);
  if (!json_is_integer(version) || json_integer_value(version) != 1 || !json_is_array(users))
    return snprintf(err, errlen, "not a tollgate quota state file (version 1)"), -1;
  saved_user *v = calloc(n ? n : 1, sizeof *v);
  if (!v) return snprintf(err, errlen, "out of memory"), -1;
  json_array_foreach(users, i, u) {
    if (entry_of(u, &v[i]) == 0) continue;
    snprintf(err, errlen, "user entry %zu is not valid", i);
    free(v);
    return -1;
  }
  for (i = 0; i < n; i++) store_put(s, &v[i]);
  free(v);
  return 1;
}

int tg_quota_state_parse(tg_quota_store *s, const char *text, size_t n, char *err, size_t errlen) {
  json_error_t je;
  json_t *root = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
  if (!root)
    return snprintf(err, errlen, "not a complete quota state file (at byte %d: %s); move it aside to start afresh",
                    je.position, je.text),
           -1;
  int rc = state_load(s, root, err, errlen);
  json_decref(root);
  return rc;
}

int tg_quota_state_read(tg_quota_store *s, const char *path, char *err, size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) return 0;
  if (fd < 0) return snprintf(err, errlen, "cannot open it: %s", strerror(errno)), -1;
  struct stat st;
  char *text = NULL;
  int rc = -1;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > STATE_MAX) {
    snprintf(err, errlen, "not a regular file of at most 64 MiB");
    goto done;
  }
  size_t len = (size_t)st.st_size, got = 0;
  if (!(text = malloc(len + 1))) goto done;
  while (got < len) {
    ssize_t r = read(fd, text + got, len - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  rc = tg_quota_state_parse(s, text, got, err, errlen);
done:
  free(text);
  close(fd);
  return rc;
}

/* --- the registry --- */

tg_quota_store *tg_quota_store_open(const char *path, char *err, size_t errlen) {
  pthread_mutex_lock(&registry_lock);
  tg_quota_store *s = registry;
  while (s && strcmp(s->path, path) != 0) s = s->next;
  if (s) {
    s->refs++;
    goto done;
  }
  s = tg_quota_store_new(STORE_ENTRIES);
  if (!s || !(s->path = strdup(path))) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  if (tg_quota_state_read(s, path, err, errlen) < 0) goto fail;
  s->next = registry;
  registry = s;
done:
  pthread_mutex_unlock(&registry_lock);
  return s;
fail:
  tg_quota_store_free(s);
  pthread_mutex_unlock(&registry_lock);
  return NULL;
}

static void store_save(tg_quota_store *s) {
  if (!atomic_exchange(&s->dirty, 0)) return;
  if (tg_quota_state_write(s, s->path, (int64_t)time(NULL)) == 0) return;
  tg_log_error("quota state %s: cannot write it: %s", s->path, strerror(errno));
  atomic_store(&s->dirty, 1);
}

void tg_quota_store_release(tg_quota_store *s) {
  if (!s) return;
  pthread_mutex_lock(&registry_lock);
  if (--s->refs) {
    pthread_mutex_unlock(&registry_lock);
    return;
  }
  for (tg_quota_store **p = &registry; *p; p = &(*p)->next)
    if (*p == s) {
      *p = s->next;
      break;
    }
  pthread_mutex_unlock(&registry_lock);
  if (s->path) store_save(s);
  tg_quota_store_free(s);
}

void tg_quota_flush_all(void) {
  pthread_mutex_lock(&registry_lock);
  for (tg_quota_store *s = registry; s; s = s->next) store_save(s);
  pthread_mutex_unlock(&registry_lock);
}
