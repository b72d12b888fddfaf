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
  tg_client *c = owner;
  tg_body_temp *t = c->x->adm.temp;
  tg_upconn *u = c->x->leg.up;
  if (ev == TG_BODY_TEMP_FAILED) {
    tg_log(TG_LOG_ERROR, c->x->request_id[0] ? c->x->request_id : NULL, "client_body_temp_path %s: reading back: %s",
           c->site->body_temp_dir, strerror(tg_body_temp_error(t)));
    tg_client_fail(c, 500, "the request body could not be read back from its temporary file");
    return;
  }
  /* between two servers (none yet, or the next still dialling: its head
   * must go first): the next one rewinds when it is connected */
  if (ev != TG_BODY_TEMP_PIECE_READ || !u || u->state != TG_UP_ACTIVE) return;
  uv_buf_t b = uv_buf_init((char *)tg_body_temp_data(t), (unsigned)n);
  /* a failed write: the upstream's read side tells what became of it */
  if (tg_sink_writev(&u->sink, &b, 1) == 0) tg_body_temp_next(t); /* else when the sink drains */
}

void tg_body_send_start(tg_client *c) {
  tg_body_temp_owner(c->x->adm.temp, send_event, c);
  tg_body_temp_rewind(c->x->adm.temp);
}

void tg_body_send_drained(tg_client *c) {
  if (c->x->adm.temp && c->x->adm.gathered) tg_body_temp_next(c->x->adm.temp);
}

int tg_body_send_done(const tg_client *c) {
  return !c->x->adm.temp || !c->x->adm.gathered || tg_body_temp_read_all(c->x->adm.temp);
}
