/* The "io_uring" engine of the transport table (tollgate/io-engine.h): a
 * prototype. One ring per worker loop, watched by the loop (a uv_poll on
 * the ring's descriptor: readable while completions wait), its submissions
 * flushed once a turn by a prepare handle, so every send and re-arm of a
 * turn goes in one io_uring_enter:
 * - reads: a multishot receive per socket into the ring's provided buffers
 *   (a buffer ring of BUF_COUNT x BUF_SIZE), handed to the read callback
 *   in place (valid until it returns, as the worker's read buffer is),
 *   then the buffer goes back to the ring. No system call per read. The
 *   alloc callback is used only for bytes kept while the reader stopped. read_stop cancels the receive; what arrives
 *   meanwhile is kept and handed over after the next read_start (from an
 *   idle handle, never inside read_start);
 * - writes: try_write copies the bytes into the socket's out buffer and
 *   submits one send (one in flight per socket, so order holds); while a
 *   send is in flight it takes nothing (UV_EAGAIN) and the sink queues and
 *   calls write, which completes when the bytes are sent. A failed send
 *   fails the next write;
 * - connect stays libuv's (the connect is polled once by epoll), the
 *   descriptor stays in the uv_tcp_t, closed by uv_close after the
 *   socket's receive is cancelled (by its user data, so a reused
 *   descriptor number is never hit) and whatever is queued submitted
 *   (a send in flight completes: what try_write took is sent).
 * The socket's state is found by descriptor in a per-loop table. Not done
 * yet: accept (the acceptor's uv_poll and accept4 stay), zero-copy sends,
 * registered descriptors. */
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "tollgate/buf.h"
#include "tollgate/io-engine.h"

#define RING_ENTRIES 1024
#define BUF_COUNT 512 /* a power of two */
#define BUF_SIZE 4096
#define BUF_GROUP 7
#define MAX_LOOPS 512

enum { OP_RECV = 1, OP_SEND = 2, OP_CANCEL = 3, OP_MASK = 3 };

typedef struct usock usock;
struct usock {
  uv_stream_t *stream; /* NULL once closed */
  uv_alloc_cb alloc;
  uv_read_cb read_cb;
  int fd;
  uint8_t reading, armed, sending;
  unsigned inflight; /* completions still to come */
  tg_buf out;        /* the send in flight (from out_off) */
  size_t out_off;
  tg_buf more; /* queued behind it */
  uint64_t queued, sent;
  uv_write_t *wreq; /* the sink's background write, done once sent >= wreq_end */
  uv_write_cb wcb;
  uint64_t wreq_end;
  int error;     /* a send failed: every later write fails */
  tg_buf stash;  /* read while stopped */
  int stash_end; /* an EOF or error read while stopped (0: none) */
  usock *ready;  /* next with a stash to hand over */
  uint8_t queued_ready;
  uv_shutdown_t *shut;
  uv_shutdown_cb shut_cb;
  usock *prev, *next; /* every socket of the loop, freed with it at the latest */
};

typedef struct uring_loop {
  uv_loop_t *loop;
  struct io_uring ring;
  struct io_uring_buf_ring *br;
  char *bufs;
  uv_poll_t poll;
  uv_prepare_t flush;
  uv_idle_t deliver;
  usock **tab;
  int ntab;
  usock *ready;
  usock *all;
  unsigned nsocks;
  int closing;
} uring_loop;

static pthread_mutex_t loops_lock = PTHREAD_MUTEX_INITIALIZER;
static uring_loop *loops[MAX_LOOPS];
static _Thread_local uring_loop *cur;

static uring_loop *uring_of(const uv_loop_t *loop) {
  if (cur && cur->loop == loop) return cur;
  pthread_mutex_lock(&loops_lock);
  for (int i = 0; i < MAX_LOOPS; i++)
    if (loops[i] && loops[i]->loop == loop) cur = loops[i];
  pthread_mutex_unlock(&loops_lock);
  return cur;
}

static usock *sock_of(uring_loop *L, uv_stream_t *s) {
  uv_os_fd_t fd;
  if (uv_fileno((uv_handle_t *)s, &fd) < 0 || fd >= L->ntab) return NULL;
  return L->tab[fd];
}

static struct io_uring_sqe *sqe_get(uring_loop *L) {
  struct io_uring_sqe *sqe = io_uring_get_sqe(&L->ring);
  if (!sqe) { /* full: flush now */
    io_uring_submit(&L->ring);
    sqe = io_uring_get_sqe(&L->ring);
  }
  return sqe;
}

static void sock_free(uring_loop *L, usock *k) {
  if (k->prev) k->prev->next = k->next;
  else L->all = k->next;
  if (k->next) k->next->prev = k->prev;
  tg_buf_free(&k->out);
  tg_buf_free(&k->more);
  tg_buf_free(&k->stash);
  free(k);
  L->nsocks--;
}

static void sock_free_if_done(uring_loop *L, usock *k) {
  if (!k->stream && !k->inflight && !k->queued_ready) sock_free(L, k);
}

static void recv_arm(uring_loop *L, usock *k) {
  struct io_uring_sqe *sqe = sqe_get(L);
  if (!sqe) return;
  io_uring_prep_recv_multishot(sqe, k->fd, NULL, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = BUF_GROUP;
  io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)k | OP_RECV);
  k->armed = 1;
  k->inflight++;
}

static void op_cancel(uring_loop *L, usock *k, int op) {
  struct io_uring_sqe *sqe = sqe_get(L);
  if (!sqe) return;
  io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)k | (uint64_t)op, 0);
  io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)k | OP_CANCEL);
  k->inflight++;
}

static void send_submit(uring_loop *L, usock *k) {
  struct io_uring_sqe *sqe = sqe_get(L);
  if (!sqe) {
    k->error = UV_ENOBUFS;
    return;
  }
  io_uring_prep_send(sqe, k->fd, k->out.data + k->out_off, k->out.len - k->out_off, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)k | OP_SEND);
  k->sending = 1;
  k->inflight++;
}

/* Hands n bytes (or an end, n <= 0) to the reader, as libuv would. */
static void sock_deliver(usock *k, const char *p, ssize_t n) {
  uv_stream_t *s = k->stream;
  if (n <= 0) {
    k->read_cb(s, n == 0 ? UV_EOF : n, &(uv_buf_t){0});
    return;
  }
  while (n > 0 && k->stream && k->reading) {
    uv_buf_t b = {0};
    k->alloc((uv_handle_t *)s, 65536, &b);
    size_t m = (size_t)n < b.len ? (size_t)n : b.len;
    if (!b.base || m == 0) {
      k->read_cb(s, UV_ENOBUFS, &b);
      return;
    }
    memcpy(b.base, p, m);
    p += m;
    n -= (ssize_t)m;
    k->read_cb(s, (ssize_t)m, &b);
  }
  /* stopped by the reader in the middle: the rest waits */
  if (n > 0 && k->stream) tg_buf_append(&k->stash, p, (size_t)n);
}

static void ready_add(uring_loop *L, usock *k);

static void on_recv(uring_loop *L, usock *k, struct io_uring_cqe *cqe) {
  int more = (cqe->flags & IORING_CQE_F_MORE) != 0;
  if (!more) {
    k->armed = 0;
    k->inflight--;
  }
  int res = cqe->res;
  if (res > 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
    unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
    char *p = L->bufs + (size_t)bid * BUF_SIZE;
    if (k->stream && k->reading && !k->stash.len) { /* in place: the buffer goes back once the callback returns */
      uv_buf_t b = uv_buf_init(p, (unsigned)res);
      k->read_cb(k->stream, res, &b);
    } else if (k->stream) tg_buf_append(&k->stash, p, (size_t)res);
    io_uring_buf_ring_add(L->br, p, BUF_SIZE, (unsigned short)bid, io_uring_buf_ring_mask(BUF_COUNT), 0);
    io_uring_buf_ring_advance(L->br, 1);
  } else if (res == 0 || (res < 0 && res != -ENOBUFS && res != -ECANCELED)) {
    if (k->stream && k->reading && !k->stash.len) sock_deliver(k, NULL, res);
    else if (k->stream) {
      k->stash_end = res == 0 ? UV_EOF : res;
      if (k->reading) ready_add(L, k);
    }
    return;
  }
  if (!more && k->stream && k->reading && !k->armed) recv_arm(L, k);
}

static void on_send(uring_loop *L, usock *k, int res) {
  k->inflight--;
  k->sending = 0;
  if (!k->stream) return;
  if (res < 0) {
    k->error = res;
    k->out.len = k->more.len = 0;
    k->out_off = 0;
  } else {
    k->sent += (uint64_t)res;
    k->out_off += (size_t)res;
    if (k->out_off < k->out.len) send_submit(L, k);
    else {
      k->out.len = k->out_off = 0;
      if (k->more.len) {
        tg_buf t = k->out;
        k->out = k->more;
        k->more = t;
        send_submit(L, k);
      }
    }
  }
  if (k->wreq && (k->error || k->sent >= k->wreq_end)) {
    uv_write_t *req = k->wreq;
    k->wreq = NULL;
    k->wcb(req, k->error);
    if (!k->stream) return;
  }
  if (k->shut && !k->sending) {
    uv_shutdown_t *req = k->shut;
    k->shut = NULL;
    int rc = shutdown(k->fd, SHUT_WR) < 0 ? -errno : 0;
    k->shut_cb(req, rc);
  }
}

/* Runs the completions waiting in the ring, in order; with sends_only,
 * only those before the first receive (see ring_flush_cb). */
static void ring_reap(uring_loop *L, int sends_only) {
  struct io_uring_cqe *cqe;
  unsigned head, n = 0;
  io_uring_for_each_cqe(&L->ring, head, cqe) {
    uint64_t d = io_uring_cqe_get_data64(cqe);
    if (sends_only && (d & OP_MASK) == OP_RECV) break;
    n++;
    usock *k = (usock *)(uintptr_t)(d & ~(uint64_t)OP_MASK);
    k->inflight++; /* held while its callbacks run: one may close it */
    switch (d & OP_MASK) {
    case OP_RECV: on_recv(L, k, cqe); break;
    case OP_SEND: on_send(L, k, cqe->res); break;
    default: k->inflight--; break;
    }
    k->inflight--;
    sock_free_if_done(L, k);
  }
  io_uring_cq_advance(&L->ring, n);
}

static void ring_poll_cb(uv_poll_t *h, int status, int events) {
  (void)status, (void)events;
  ring_reap(h->data, 0);
}

/* Before the loop sleeps: the turn's submissions in one io_uring_enter.
 * A send to a socket with room completes within that call, so its
 * completion is reaped here at once, rather than waking the loop's poll
 * once more; receives wait for the poll, where the pool's reading of the
 * loop's turns (tollgate/loop-turn.h) expects them. What the sends'
 * callbacks queue goes in another call, a few times at most. */
static void ring_flush_cb(uv_prepare_t *h) {
  uring_loop *L = h->data;
  for (int i = 0; i < 4 && io_uring_sq_ready(&L->ring); i++) {
    io_uring_submit(&L->ring);
    ring_reap(L, 1);
  }
}

static void deliver_cb(uv_idle_t *h);

static void ready_add(uring_loop *L, usock *k) {
  if (k->queued_ready) return;
  k->queued_ready = 1;
  k->ready = L->ready;
  L->ready = k;
  uv_idle_start(&L->deliver, deliver_cb);
}

/* What was read while a socket was stopped, handed over once it reads. */
static void deliver_cb(uv_idle_t *h) {
  uring_loop *L = h->data;
  usock *k = L->ready;
  L->ready = NULL;
  uv_idle_stop(h);
  while (k) {
    usock *next = k->ready;
    k->queued_ready = 0;
    k->inflight++; /* held while its callbacks run */
    if (k->stream && k->reading && k->stash.len) {
      tg_buf b = k->stash;
      memset(&k->stash, 0, sizeof k->stash);
      sock_deliver(k, b.data, (ssize_t)b.len);
      tg_buf_free(&b);
    }
    if (k->stream && k->reading && !k->stash.len && k->stash_end) {
      int end = k->stash_end;
      k->stash_end = 0;
      sock_deliver(k, NULL, end == UV_EOF ? 0 : end);
    }
    k->inflight--;
    sock_free_if_done(L, k);
    k = next;
  }
}

static int uring_start(uv_loop_t *loop) {
  uring_loop *L = calloc(1, sizeof *L);
  if (!L) return UV_ENOMEM;
  L->loop = loop;
  int rc = io_uring_queue_init(RING_ENTRIES, &L->ring, 0);
  if (rc < 0) {
    free(L);
    return rc;
  }
  size_t brsize = BUF_COUNT * sizeof(struct io_uring_buf);
  L->br = mmap(NULL, brsize, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  L->bufs = malloc((size_t)BUF_COUNT * BUF_SIZE);
  struct io_uring_buf_reg reg = {.ring_addr = (uint64_t)(uintptr_t)L->br, .ring_entries = BUF_COUNT, .bgid = BUF_GROUP};
  if (L->br == MAP_FAILED || !L->bufs || (rc = io_uring_register_buf_ring(&L->ring, &reg, 0)) < 0) {
    if (L->br != MAP_FAILED) munmap(L->br, brsize);
    free(L->bufs);
    io_uring_queue_exit(&L->ring);
    free(L);
    return rc < 0 ? rc : UV_ENOMEM;
  }
  io_uring_buf_ring_init(L->br);
  for (unsigned i = 0; i < BUF_COUNT; i++)
    io_uring_buf_ring_add(L->br, L->bufs + (size_t)i * BUF_SIZE, BUF_SIZE, (unsigned short)i,
                          io_uring_buf_ring_mask(BUF_COUNT), (int)i);
  io_uring_buf_ring_advance(L->br, BUF_COUNT);
  uv_poll_init(loop, &L->poll, L->ring.ring_fd);
  uv_prepare_init(loop, &L->flush);
  uv_idle_init(loop, &L->deliver);
  L->poll.data = L->flush.data = L->deliver.data = L;
  uv_poll_start(&L->poll, UV_READABLE, ring_poll_cb);
  uv_prepare_start(&L->flush, ring_flush_cb);
  uv_unref((uv_handle_t *)&L->poll);
  uv_unref((uv_handle_t *)&L->flush);
  pthread_mutex_lock(&loops_lock);
  int slot = -1;
  for (int i = 0; i < MAX_LOOPS && slot < 0; i++)
    if (!loops[i]) slot = i;
  if (slot >= 0) loops[slot] = L;
  pthread_mutex_unlock(&loops_lock);
  return slot < 0 ? UV_ENOMEM : 0;
}

static void uring_closed(uv_handle_t *h) {
  uring_loop *L = h->data;
  if (++L->closing < 3) return;
  while (L->all) sock_free(L, L->all); /* what was still in flight when the worker ended */
  io_uring_queue_exit(&L->ring);
  munmap(L->br, BUF_COUNT * sizeof(struct io_uring_buf));
  free(L->bufs);
  free(L->tab);
  free(L);
}

static void uring_stop(uv_loop_t *loop) {
  uring_loop *L = uring_of(loop);
  if (!L) return;
  pthread_mutex_lock(&loops_lock);
  for (int i = 0; i < MAX_LOOPS; i++)
    if (loops[i] == L) loops[i] = NULL;
  pthread_mutex_unlock(&loops_lock);
  if (cur == L) cur = NULL;
  uv_close((uv_handle_t *)&L->poll, uring_closed);
  uv_close((uv_handle_t *)&L->flush, uring_closed);
  uv_close((uv_handle_t *)&L->deliver, uring_closed);
}

/* The socket's state, made when the engine first sees its descriptor. */
static usock *sock_new(uring_loop *L, uv_stream_t *s) {
  uv_os_fd_t fd;
  if (uv_fileno((uv_handle_t *)s, &fd) < 0) return NULL;
  if (fd >= L->ntab) {
    int n = fd + 1024;
    usock **t = realloc(L->tab, (size_t)n * sizeof *t);
    if (!t) return NULL;
    memset(t + L->ntab, 0, (size_t)(n - L->ntab) * sizeof *t);
    L->tab = t;
    L->ntab = n;
  }
  if (L->tab[fd]) return L->tab[fd];
  usock *k = calloc(1, sizeof *k);
  if (!k) return NULL;
  k->stream = s;
  k->fd = fd;
  k->next = L->all;
  if (L->all) L->all->prev = k;
  L->all = k;
  L->tab[fd] = k;
  L->nsocks++;
  return k;
}

static int uring_read_start(uv_stream_t *s, uv_alloc_cb alloc, uv_read_cb cb) {
  uring_loop *L = uring_of(s->loop);
  usock *k = L ? sock_new(L, s) : NULL;
  if (!k) return UV_ENOMEM;
  k->alloc = alloc;
  k->read_cb = cb;
  k->reading = 1;
  if (k->stash.len || k->stash_end) ready_add(L, k); /* before what the receive brings next */
  if (!k->armed && !k->stash_end) recv_arm(L, k);
  return 0;
}

static void uring_read_stop(uv_stream_t *s) {
  uring_loop *L = uring_of(s->loop);
  usock *k = L ? sock_of(L, s) : NULL;
  if (!k || !k->reading) return;
  k->reading = 0;
  if (k->armed) op_cancel(L, k, OP_RECV);
}

static int out_append(tg_buf *b, const uv_buf_t *bufs, unsigned n) {
  for (unsigned i = 0; i < n; i++)
    if (tg_buf_append(b, bufs[i].base, bufs[i].len) < 0) return UV_ENOMEM;
  return 0;
}

static int uring_try_write(uv_stream_t *s, const uv_buf_t *bufs, unsigned n) {
  uring_loop *L = uring_of(s->loop);
  usock *k = L ? sock_new(L, s) : NULL;
  if (!k) return UV_ENOMEM;
  if (k->error) return k->error;
  if (k->sending || k->more.len) return UV_EAGAIN;
  size_t before = k->out.len;
  if (out_append(&k->out, bufs, n) < 0) return UV_ENOMEM;
  size_t total = k->out.len - before;
  k->queued += total;
  send_submit(L, k);
  return (int)total;
}

static int uring_write(uv_write_t *req, uv_stream_t *s, const uv_buf_t *bufs, unsigned n, uv_write_cb cb) {
  uring_loop *L = uring_of(s->loop);
  usock *k = L ? sock_new(L, s) : NULL;
  if (!k) return UV_ENOMEM;
  if (k->error) return k->error;
  tg_buf *b = k->sending ? &k->more : &k->out;
  size_t before = b->len;
  if (out_append(b, bufs, n) < 0) return UV_ENOMEM;
  k->queued += b->len - before;
  k->wreq = req;
  k->wcb = cb;
  k->wreq_end = k->queued;
  if (!k->sending) send_submit(L, k);
  return 0;
}

static int uring_shutdown(uv_shutdown_t *req, uv_stream_t *s, uv_shutdown_cb cb) {
  uring_loop *L = uring_of(s->loop);
  usock *k = L ? sock_of(L, s) : NULL;
  if (!k || !k->sending) return uv_shutdown(req, s, cb); /* nothing of ours in flight */
  k->shut = req;
  k->shut_cb = cb;
  return 0;
}

static void uring_close(uv_handle_t *h, uv_close_cb cb) {
  uring_loop *L = uring_of(h->loop);
  usock *k = L ? sock_of(L, (uv_stream_t *)h) : NULL;
  if (k) {
    L->tab[k->fd] = NULL; /* the number may be reused at once */
    k->stream = NULL;
    k->reading = 0;
    if (k->armed) op_cancel(L, k, OP_RECV);
    /* What try_write took is the peer's, as with libuv (whose try_write
     * leaves it in the kernel): the send in flight runs to its end, and
     * holds the socket open until then. Submitted now, while the
     * descriptor number is still this socket's. */
    if (io_uring_sq_ready(&L->ring)) io_uring_submit(&L->ring);
    if (k->wreq) { /* as libuv: a write still queued ends cancelled */
      uv_write_t *req = k->wreq;
      k->wreq = NULL;
      k->wcb(req, UV_ECANCELED);
    }
    sock_free_if_done(L, k);
  }
  uv_close(h, cb);
}

const tg_io_engine tg_io_uring = {
    .name = "io_uring",
    .start = uring_start,
    .stop = uring_stop,
    .open = tg_io_uv_open, /* the descriptor is held by libuv's handle, */
    .init = tg_io_uv_init,
    .connect = tg_io_uv_connect, /* and its connect polled by libuv once */
    .read_start = uring_read_start,
    .read_stop = uring_read_stop,
    .try_write = uring_try_write,
    .write = uring_write,
    .shutdown = uring_shutdown,
    .close = uring_close,
};
