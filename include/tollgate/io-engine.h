/* The transport table: how a worker's sockets are read, written, dialled
 * and closed. The client connection (src/http/server.c), the upstream pool
 * (src/upstream/pool.c) and the sink (src/io/sink.c) call a socket through
 * it, never libuv's stream functions by name, so that a second engine
 * (io_uring: multishot receive, provided buffers, many submissions per
 * io_uring_enter) can take the worker's sockets without their callers
 * changing. The worker picks one engine for all its sockets (`io_engine`,
 * src/config/process-directives.c; w->io).
 *
 * The table's types are libuv's: the socket is the uv_tcp_t its owner
 * embeds (the holder of its descriptor, and of the owner through ->data),
 * and the callbacks are libuv's, called with what libuv would pass. An
 * engine that does not use libuv's stream code keeps its own state for a
 * socket beside that handle, and still closes it through uv_close, so the
 * handle's lifetime (and its owner's) stays libuv's.
 *
 * The one engine today is "epoll" (src/io/engine-uv.c): libuv's own
 * stream functions, one indirect call each. */
#ifndef TOLLGATE_IO_ENGINE_H
#define TOLLGATE_IO_ENGINE_H

#include <uv.h>

typedef struct tg_io_engine {
  const char *name; /* as the io_engine directive writes it */
  /* Sets the engine up on a worker's loop before its first socket, and
   * takes it down when the worker finishes (NULL: nothing to do). start
   * returns 0 or a negative libuv error (the kernel refuses io_uring...). */
  int (*start)(uv_loop_t *loop);
  void (*stop)(uv_loop_t *loop);
  /* Initialises h on loop and gives it fd, a connected socket. Returns 0,
   * or a negative libuv error with h initialised (close it; fd stays the
   * caller's). */
  int (*open)(uv_loop_t *loop, uv_tcp_t *h, int fd);
  /* Initialises h on loop without a socket yet (cannot fail), for connect. */
  void (*init)(uv_loop_t *loop, uv_tcp_t *h);
  /* Dials addr with h: cb(req, status) when connected or failed. Returns
   * 0, or a negative libuv error (cb not called; close h). */
  int (*connect)(uv_connect_t *req, uv_tcp_t *h, const struct sockaddr *addr, uv_connect_cb cb);
  /* Reads until read_stop: cb with each read, UV_EOF, or an error. */
  int (*read_start)(uv_stream_t *s, uv_alloc_cb alloc, uv_read_cb cb);
  void (*read_stop)(uv_stream_t *s);
  /* Writes what the socket takes now: bytes written, or a negative libuv
   * error (UV_EAGAIN: nothing). */
  int (*try_write)(uv_stream_t *s, const uv_buf_t *bufs, unsigned n);
  /* Writes all of bufs in the background (they must stay valid until cb). */
  int (*write)(uv_write_t *req, uv_stream_t *s, const uv_buf_t *bufs, unsigned n, uv_write_cb cb);
  /* Half-closes after what is queued. */
  int (*shutdown)(uv_shutdown_t *req, uv_stream_t *s, uv_shutdown_cb cb);
  /* Closes the socket: cb once the engine holds nothing of it. */
  void (*close)(uv_handle_t *h, uv_close_cb cb);
} tg_io_engine;

/* libuv's streams over its epoll loop: the default. */
extern const tg_io_engine tg_io_epoll;
/* io_uring for the sockets' reads and writes (src/io/engine-uring.c): a
 * prototype, chosen only by name. */
extern const tg_io_engine tg_io_uring;

/* libuv's socket set-up, which both engines use: a uv_tcp_t holds the
 * descriptor, and libuv dials it. */
int tg_io_uv_open(uv_loop_t *loop, uv_tcp_t *h, int fd);
void tg_io_uv_init(uv_loop_t *loop, uv_tcp_t *h);
int tg_io_uv_connect(uv_connect_t *req, uv_tcp_t *h, const struct sockaddr *addr, uv_connect_cb cb);

/* The engine named name ("epoll"), or NULL for a name no engine has. */
const tg_io_engine *tg_io_engine_named(const char *name);

#endif
