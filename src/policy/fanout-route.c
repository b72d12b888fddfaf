/* Which requests go to every server of an upstream (tollgate/fanout.h),
 * and the admission phase that reads their bodies whole first, so that
 * the same body can go to each server. */
#include <stdio.h>
#include <string.h>

#include "policy.h"
#include "tollgate/fanout.h"
#include "tollgate/quota.h"

static const struct {
  int method;
  const char *path;
  tg_fanout_kind kind;
} fanout_routes[] = {
    {HTTP_GET, "/api/tags", TG_FANOUT_TAGS},      {HTTP_GET, "/v1/models", TG_FANOUT_MODELS},
    {HTTP_GET, "/api/ps", TG_FANOUT_PS},          {HTTP_POST, "/api/pull", TG_FANOUT_PULL},
    {HTTP_POST, "/api/create", TG_FANOUT_CREATE}, {HTTP_DELETE, "/api/delete", TG_FANOUT_DELETE},
    {HTTP_POST, "/api/copy", TG_FANOUT_COPY},
};

tg_fanout_kind tg_fanout_kind_of(int method, const char *path, size_t len) {
  for (size_t i = 0; i < sizeof fanout_routes / sizeof fanout_routes[0]; i++)
    if (fanout_routes[i].method == method && strlen(fanout_routes[i].path) == len &&
        memcmp(fanout_routes[i].path, path, len) == 0)
      return fanout_routes[i].kind;
  return TG_FANOUT_NONE;
}

tg_adm_rc tg_fanout_body_admit(tg_exchange *x) {
  if (x->adm.gathered || x->req_framing == TG_FRAME_NONE || !x->path.len) return TG_ADM_NEXT;
  if (tg_fanout_kind_of(x->method, tg_exchange_path(x), x->path.len) < TG_FANOUT_FIRST_BODY) return TG_ADM_NEXT;
  uint64_t cap = x->site->body_buffer_bytes;
  if (x->req_framing == TG_FRAME_LENGTH && x->req_cl > cap) {
    tg_exchange_fail(x, 413,
                     "request body too large: a body that goes to every server is read whole first, up to "
                     "client_body_buffer_size");
    return TG_ADM_DONE;
  }
  if (!x->adm.max_body || x->adm.max_body > cap) x->adm.max_body = cap; /* a chunked body: 413 past it */
  tg_inspect_gather(x);
  return TG_ADM_AGAIN;
}
