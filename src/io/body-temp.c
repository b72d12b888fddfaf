/* A request body in a temporary file (tollgate/body-temp.h). One system
 * call at a time runs on libuv's thread pool (uv_queue_work): the loop
 * thread and the pool's thread share the object, each touching only its
 * side's fields while an operation is under way (the queue's hand-over
 * orders them). */
#include "tollgate/body-temp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tollgate/buf.h"

enum { OP_NONE, OP_WRITE, OP_READ, OP_CLOSE };

struct tg_body_temp {
  uv_work_t req;
  uv_loop_t *loop;
  tg_body_temp_cb cb;
  void *owner;
  /* the pool's side while an operation runs */
  int fd;      /* -1 until the first write opens it */
  int err;     /* errno of the call that failed */
  tg_buf busy; /* the bytes being written */
  size_t got;  /* what the read under way got */
  char *piece; /* TG_BODY_TEMP_PIECE bytes, made at the first read */
  /* the loop's side */
  tg_buf fill;       /* bytes given while a write runs */
  uint64_t on_disk;  /* bytes in the file */
  uint64_t size;     /* bytes given */
  uint64_t cursor;   /* the next byte to hand out */
  uint64_t read_off; /* where the read under way reads */
  int error;         /* err as the loop knows it (after the call's return), or ENOMEM */
  uint8_t op;
  unsigned paused : 1;     /* the writer was told to stop */
  unsigned want_flush : 1; /* FLUSHED is awaited */
  unsigned reread : 1;     /* a rewind came while a read ran: its piece is dropped */
  unsigned released : 1;   /* the owner is gone */
  char dir[];
};

/* A file without a name in dir, 0600: O_TMPFILE, else mkstemp and unlink. */
static int temp_open(const char *dir) {
#ifdef O_TMPFILE
  int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return fd;
  /* EOPNOTSUPP: the filesystem has no O_TMPFILE; EISDIR, EINVAL: the kernel does not know it */
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) return -1;
#endif
  char path[4096];
  if ((size_t)snprintf(path, sizeof path, "%s/tollgate-body-XXXXXX", dir) >= sizeof path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  int f = mkostemp(path, O_CLOEXEC); /* 0600 */
  if (f < 0) return -1;
  if (unlink(path) < 0) {
    int e = errno;
    close(f);
    errno = e;
    return -1;
  }
  return f;
}

static void op_write(tg_body_temp *t) {
  if (t->fd < 0 && (t->fd = temp_open(t->dir)) < 0) {
    t->err = errno;
    return;
  }
  for (size_t done = 0; done < t->busy.len;) {
    ssize_t n = pwrite(t->fd, t->busy.data + done, t->busy.len - done, (off_t)(t->on_disk + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      t->err = n < 0 ? errno : EIO;
      return;
    }
    done += (size_t)n;
  }
}

static void op_read(tg_body_temp *t) {
  uint64_t left = t->size - t->read_off;
  size_t want = left < TG_BODY_TEMP_PIECE ? (size_t)left : TG_BODY_TEMP_PIECE;
  t->got = 0;
  while (t->got < want) {
    ssize_t n = pread(t->fd, t->piece + t->got, want - t->got, (off_t)(t->read_off + t->got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      t->err = n < 0 ? errno : EIO; /* shorter than what was written */
      return;
    }
    t->got += (size_t)n;
  }
}

static void work(uv_work_t *r) {
  tg_body_temp *t = r->data;
  if (t->op == OP_WRITE) op_write(t);
  else if (t->op == OP_READ) op_read(t);
  else if (t->fd >= 0) close(t->fd); /* OP_CLOSE: the file's blocks go with it */
}

static void after(uv_work_t *r, int status);

static void start(tg_body_temp *t, uint8_t op) {
  t->op = op;
  t->req.data = t;
  if (uv_queue_work(t->loop, &t->req, work, after) == 0) return;
  work(&t->req); /* cannot fail with a loop and both callbacks; run it here rather than lose it */
  after(&t->req, 0);
}

static void start_write(tg_body_temp *t) {
  tg_buf b = t->busy; /* the buffers trade places: no copy */
  t->busy = t->fill;
  t->fill = b;
  t->fill.len = 0;
  start(t, OP_WRITE);
}

static void start_read(tg_body_temp *t) {
  if (!t->piece && !(t->piece = malloc(TG_BODY_TEMP_PIECE))) {
    t->error = ENOMEM;
    t->cb(t->owner, TG_BODY_TEMP_FAILED, 0);
    return;
  }
  t->read_off = t->cursor;
  start(t, OP_READ);
}

static void destroy(tg_body_temp *t) {
  tg_buf_free(&t->busy);
  tg_buf_free(&t->fill);
  free(t->piece);
  free(t);
}

static void after_write(tg_body_temp *t) {
  t->on_disk += t->busy.len;
  t->busy.len = 0;
  if (t->fill.len) start_write(t);
  if (t->want_flush && t->on_disk == t->size) { /* the body's end: its buffers are not needed again */
    t->want_flush = t->paused = 0;
    tg_buf_free(&t->busy);
    tg_buf_free(&t->fill);
    t->cb(t->owner, TG_BODY_TEMP_FLUSHED, 0);
  } else if (t->paused && t->fill.len < TG_BODY_TEMP_HIGH) {
    t->paused = 0;
    t->cb(t->owner, TG_BODY_TEMP_ROOM, 0);
  }
}

static void after(uv_work_t *r, int status) {
  (void)status; /* never cancelled: nothing calls uv_cancel */
  tg_body_temp *t = r->data;
  uint8_t op = t->op;
  t->op = OP_NONE;
  if (op == OP_CLOSE) {
    destroy(t);
    return;
  }
  if (t->released) {
    start(t, OP_CLOSE);
    return;
  }
  if (t->err) {
    t->error = t->err;
    t->cb(t->owner, TG_BODY_TEMP_FAILED, 0);
    return;
  }
  if (op == OP_WRITE) {
    after_write(t);
    return;
  }
  if (t->reread) { /* rewound while it ran: read from the cursor again */
    t->reread = 0;
    start_read(t);
    return;
  }
  t->cursor = t->read_off + t->got;
  t->cb(t->owner, TG_BODY_TEMP_PIECE_READ, t->got);
  if (t->op == OP_NONE && t->cursor == t->size) { /* all sent: the piece's memory goes until a failover's rewind */
    free(t->piece);
    t->piece = NULL;
  }
}

tg_body_temp *tg_body_temp_new(uv_loop_t *loop, const char *dir, tg_body_temp_cb cb, void *owner) {
  size_t n = strlen(dir) + 1;
  tg_body_temp *t = calloc(1, sizeof *t + n);
  if (!t) return NULL;
  t->loop = loop;
  t->cb = cb;
  t->owner = owner;
  t->fd = -1;
  memcpy(t->dir, dir, n);
  return t;
}

void tg_body_temp_owner(tg_body_temp *t, tg_body_temp_cb cb, void *owner) {
  t->cb = cb;
  t->owner = owner;
}

int tg_body_temp_write(tg_body_temp *t, const char *p, size_t n) {
  if (t->error) return -1;
  if (tg_buf_append(&t->fill, p, n) < 0) return t->error = ENOMEM, -1;
  t->size += n;
  if (t->op == OP_NONE) start_write(t);
  if (t->fill.len < TG_BODY_TEMP_HIGH) return 0;
  t->paused = 1;
  return 1;
}

int tg_body_temp_flushed(tg_body_temp *t) {
  if (t->on_disk == t->size) return 1;
  t->want_flush = 1;
  return 0;
}

uint64_t tg_body_temp_size(const tg_body_temp *t) { return t->size; }

void tg_body_temp_rewind(tg_body_temp *t) {
  t->cursor = 0;
  if (t->op == OP_READ) t->reread = 1;
  else if (t->op == OP_NONE && t->size) start_read(t);
}

int tg_body_temp_next(tg_body_temp *t) {
  if (t->op != OP_NONE || t->error || t->cursor >= t->size) return 0;
  start_read(t);
  return 1;
}

int tg_body_temp_read_all(const tg_body_temp *t) { return t->op != OP_READ && t->cursor == t->size; }

const char *tg_body_temp_data(const tg_body_temp *t) { return t->piece; }

int tg_body_temp_error(const tg_body_temp *t) { return t->error; }

void tg_body_temp_release(tg_body_temp *t) {
  if (!t) return;
  t->released = 1;
  t->cb = NULL;
  t->owner = NULL;
  if (t->op == OP_NONE) start(t, OP_CLOSE);
}
