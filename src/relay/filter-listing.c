/* A listing (/api/tags, /api/ps, /v1/models) for a user with a model
 * allow-list (docs/limits.md): the head is held, the body gathered whole,
 * and at its end the filtered body goes on with its own Content-Length
 * under a 200. An encoded body cannot be filtered: refused as invalid. */
#include <strings.h>

#include "tollgate/proxy.h"
#include "tollgate/quota.h"
#include "tollgate/resp-filter.h"

#define LISTING_MAX (8u << 20)

static int listing_wanted(const tg_exchange *x, const tg_resp_head *h) {
  return x->adm.filter_listing && h->status == 200 && !h->no_body;
}

static int listing_head(tg_exchange *x, unsigned at, const tg_resp_head *h) {
  int e = tg_head_find(h->fields, "content-encoding");
  if (e >= 0 && !(h->fields->fields[e].value.len == 8 &&
                  strncasecmp(tg_head_str(h->fields, h->fields->fields[e].value), "identity", 8) == 0))
    return -1;
  tg_resp_hold(x, at, 1);
  x->adm.whole.len = 0;
  return 0;
}

/* The upstream's chunks end here: the body goes on as one piece. */
static int listing_frame(tg_exchange *x, unsigned at, uint64_t size) { return (void)x, (void)at, (void)size, 0; }
static int listing_frame_end(tg_exchange *x, unsigned at) { return (void)x, (void)at, 0; }

static int listing_data(tg_exchange *x, unsigned at, const char *p, size_t n, unsigned flags) {
  (void)at, (void)flags;
  if (x->adm.whole.len + n > LISTING_MAX) return -1;
  return tg_buf_append(&x->adm.whole, p, n) < 0 ? -1 : 0;
}

static int listing_end(tg_exchange *x, unsigned at, const char *failure) {
  if (failure) return tg_resp_pass_end(x, at + 1, failure);
  tg_resp_hold(x, at, 0);
  tg_buf out = {0};
  if (tg_models_filter_listing(x->adm.models, x->adm.whole.data ? x->adm.whole.data : "", x->adm.whole.len, &out) < 0) {
    tg_buf_free(&out);
    return -1;
  }
  tg_buf_free(&x->adm.whole);
  x->adm.whole = out; /* lives until the exchange ends, after the output is written */
  tg_resp_head h = {
      .fields = &x->leg.up->head, .status = 200, .framing = TG_FRAME_LENGTH, .content_length = x->adm.whole.len};
  if (tg_resp_pass_head(x, at + 1, &h) < 0 || tg_resp_pass_data(x, at + 1, x->adm.whole.data, x->adm.whole.len, 0) < 0)
    return -1;
  return tg_resp_pass_end(x, at + 1, NULL);
}

const tg_resp_filter tg_filter_listing = {listing_wanted, listing_head,      listing_frame,
                                          listing_data,   listing_frame_end, listing_end};
