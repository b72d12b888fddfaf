/* The body read whole before a server is chosen (tollgate/body-buffer.h):
 * in memory up to client_body_buffer_size, past it in a temporary file
 * (tollgate/body-temp.h) in client_body_temp_path, never more than
 * client_max_body_size (docs/upstreams.md#the-body-read-whole). */
#include "tollgate/body-buffer.h"

#include <string.h>

#include "policy.h"
#include "tollgate/body-temp.h"
#include "tollgate/quota.h"

int tg_body_buffer_wanted(const tg_site_conf *s) { return s->upstream && s->upstream->nservers > 1; }

int tg_body_buffer_route(const char *path, size_t len) {
  static const char *const routes[] = {"/api/generate",   "/api/chat",     "/api/embed",
                                       "/api/embeddings", "/api/show",     "/v1/chat/completions",
                                       "/v1/completions", "/v1/embeddings"};
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
    if (strlen(routes[i]) == len && memcmp(routes[i], path, len) == 0) return 1;
  return 0;
}

tg_adm_rc tg_body_buffer_admit(tg_exchange *x) {
  if (x->adm.gathered || x->req_framing == TG_FRAME_NONE || x->method != HTTP_POST) return TG_ADM_NEXT;
  if (!x->path.len || !tg_body_buffer_route(tg_exchange_path(x), x->path.len)) return TG_ADM_NEXT;
  /* a declared length past client_max_body_size got its 413 with the head;
   * a chunked body gets it past x->adm.max_body as it is read */
  x->adm.may_spill = 1;
  tg_inspect_gather(x);
  return TG_ADM_AGAIN;
}

/* The file failed: its error logged, the file dropped (no more events). */
static void temp_drop(tg_exchange *x) {
  int e = tg_body_temp_error(x->adm.temp);
  tg_log(TG_LOG_ERROR, x->request_id[0] ? x->request_id : NULL, "client_body_temp_path %s: %s", x->site->body_temp_dir,
         strerror(e));
  tg_body_temp_release(x->adm.temp);
  x->adm.temp = NULL;
}

/* The file's events while the body is read. */
static void gather_event(void *owner, tg_body_temp_event ev, size_t n) {
  (void)n;
  tg_exchange *x = owner; /* the file is the exchange's: no event comes after it ends */
  if (ev == TG_BODY_TEMP_FAILED) {
    temp_drop(x);
    tg_exchange_fail(x, 500, "the request body could not be kept in a temporary file");
  } else if (ev == TG_BODY_TEMP_FLUSHED) {
    tg_inspect_body_done(x); /* the message ended before the file had it all */
  } else if (ev == TG_BODY_TEMP_ROOM) {
    x->down->body_go(x);
  }
}

int tg_body_buffer_append(tg_exchange *x, const char *p, size_t n) {
  if (!x->adm.temp) {
    if (!x->adm.may_spill || x->adm.whole.len + n <= x->site->body_buffer_bytes)
      return tg_buf_append(&x->adm.whole, p, n);
    /* past the buffer: what it holds goes first, then the rest as it comes */
    x->adm.temp = tg_body_temp_new(&x->w->loop, x->site->body_temp_dir, gather_event, x);
    if (!x->adm.temp) return x->status = 500, -1;
    if (tg_body_temp_write(x->adm.temp, x->adm.whole.data, x->adm.whole.len) < 0) {
      temp_drop(x);
      return x->status = 500, -1;
    }
    tg_buf_free(&x->adm.whole);
  }
  int rc = tg_body_temp_write(x->adm.temp, p, n);
  if (rc > 0) x->down->body_hold(x); /* until the disk catches up (TG_BODY_TEMP_ROOM) */
  if (rc >= 0) return 0;
  temp_drop(x); /* failed before its event came: the parse stops here with a 500 */
  x->status = 500;
  return -1;
}

int tg_body_buffer_unflushed(tg_exchange *x) { return x->adm.temp && !tg_body_temp_flushed(x->adm.temp); }
