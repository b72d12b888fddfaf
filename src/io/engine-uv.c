/* The "epoll" engine of the transport table (tollgate/io-engine.h): libuv's
 * own stream functions. */
#include <string.h>

#include "tollgate/io-engine.h"

int tg_io_uv_open(uv_loop_t *loop, uv_tcp_t *h, int fd) {
  int rc = uv_tcp_init(loop, h);
  return rc < 0 ? rc : uv_tcp_open(h, fd);
}

void tg_io_uv_init(uv_loop_t *loop, uv_tcp_t *h) { uv_tcp_init(loop, h); /* AF_UNSPEC: no socket yet */ }

int tg_io_uv_connect(uv_connect_t *req, uv_tcp_t *h, const struct sockaddr *addr, uv_connect_cb cb) {
  return uv_tcp_connect(req, h, addr, cb);
}

static void uv_engine_read_stop(uv_stream_t *s) { uv_read_stop(s); }

const tg_io_engine tg_io_epoll = {
    .name = "epoll",
    .open = tg_io_uv_open,
    .init = tg_io_uv_init,
    .connect = tg_io_uv_connect,
    .read_start = uv_read_start,
    .read_stop = uv_engine_read_stop,
    .try_write = uv_try_write,
    .write = uv_write,
    .shutdown = uv_shutdown,
    .close = uv_close,
};

const tg_io_engine *tg_io_engine_named(const char *name) {
  static const tg_io_engine *const engines[] = {&tg_io_epoll, &tg_io_uring};
  for (size_t i = 0; i < sizeof engines / sizeof engines[0]; i++)
    if (strcmp(engines[i]->name, name) == 0) return engines[i];
  return NULL;
}
