/* A body read whole into a temporary file (policy/body-buffer.c,
 * tollgate/body-temp.h) goes up after the request head one piece at a
 * time: each piece read on the thread pool is offered to the upstream's
 * sink, and the next is read when the sink took it (at once, or when it
 * drains). A failover rewinds the file for the next server; a piece read
 * for a connection that is gone is dropped. */
#include <string.h>

#include "tollgate/body-temp.h"
#include "tollgate/proxy.h"

static void send_event(void *owner, tg_body_temp_event ev, size_t n) {
  tg_exchange *x = owner; /* the file is the exchange's: no event comes after it ends */
  tg_body_temp *t = x->adm.temp;
  tg_upconn *u = x->leg.up;
  if (ev == TG_BODY_TEMP_FAILED) {
    tg_log(TG_LOG_ERROR, x->request_id[0] ? x->request_id : NULL, "client_body_temp_path %s: reading back: %s",
           x->site->body_temp_dir, strerror(tg_body_temp_error(t)));
    tg_exchange_fail(x, 500, "the request body could not be read back from its temporary file");
    return;
  }
  /* between two servers (none yet, or the next still dialling: its head
   * must go first): the next one rewinds when it is connected */
  if (ev != TG_BODY_TEMP_PIECE_READ || !u || u->state != TG_UP_ACTIVE) return;
  uv_buf_t b = uv_buf_init((char *)tg_body_temp_data(t), (unsigned)n);
  /* a failed write: the upstream's read side tells what became of it */
  if (tg_sink_writev(&u->sink, &b, 1) == 0) tg_body_temp_next(t); /* else when the sink drains */
}

void tg_body_send_start(tg_exchange *x) {
  tg_body_temp_owner(x->adm.temp, send_event, x);
  tg_body_temp_rewind(x->adm.temp);
}

void tg_body_send_drained(tg_exchange *x) {
  if (x->adm.temp && x->adm.gathered) tg_body_temp_next(x->adm.temp);
}

int tg_body_send_done(const tg_exchange *x) {
  return !x->adm.temp || !x->adm.gathered || tg_body_temp_read_all(x->adm.temp);
}
