/* The read buffer every socket of a worker's loop shares (tollgate/proxy.h):
 * a read is handled before the next one starts, so one buffer serves them
 * all and no connection holds one while idle. */
#include "tollgate/proxy.h"

void tg_worker_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  tg_worker *w = h->loop->data;
  *buf = uv_buf_init(w->rbuf, sizeof w->rbuf);
}
