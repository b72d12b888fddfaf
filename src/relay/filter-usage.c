/* include_usage taken back out (docs/limits.md): when tollgate added it to
 * a streamed OpenAI request so the quota learns the tokens, the client
 * must not see the usage-only event it did not ask for. Each upstream
 * chunk is held until complete (the token scanner, earlier in the chain,
 * has read the usage already), the event taken out, and what is left goes
 * on as one chunk; nothing when nothing is left. A chunk too large to hold
 * goes through as it comes. */
#include "tollgate/quota.h"
#include "tollgate/resp-filter.h"

#define HOLD_MAX (256u << 10)

/* Only an upstream's chunks are held: a body without them passes as it is. */
static int usage_wanted(const tg_exchange *x, const tg_resp_head *h) {
  return x->adm.strip_usage && x->leg.up_chunked && !h->no_body;
}

static int usage_frame(tg_exchange *x, unsigned at, uint64_t size) {
  if (size > HOLD_MAX) return tg_resp_pass_frame(x, at + 1, size);
  tg_resp_hold(x, at, 1);
  x->adm.whole.len = 0;
  return 0;
}

static int usage_data(tg_exchange *x, unsigned at, const char *p, size_t n, unsigned flags) {
  if (!tg_resp_holding(x, at)) return tg_resp_pass_data(x, at + 1, p, n, flags);
  return tg_buf_append(&x->adm.whole, p, n) < 0 ? -1 : 0;
}

static int usage_frame_end(tg_exchange *x, unsigned at) {
  if (!tg_resp_holding(x, at)) return tg_resp_pass_frame_end(x, at + 1);
  tg_resp_hold(x, at, 0);
  size_t n = tg_sse_strip_usage(x->adm.whole.data, x->adm.whole.len);
  if (n == 0) return 0;
  /* the buffer holds the next chunk before this read's output is written */
  if (tg_resp_pass_frame(x, at + 1, n) < 0 || tg_resp_pass_data(x, at + 1, x->adm.whole.data, n, TG_RESP_COPY) < 0)
    return -1;
  return tg_resp_pass_frame_end(x, at + 1);
}

const tg_resp_filter tg_filter_usage = {usage_wanted, NULL, usage_frame, usage_data, usage_frame_end, NULL};
