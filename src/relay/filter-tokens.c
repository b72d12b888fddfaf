/* Token counting on the way down: the streaming scanner reads every
 * response's counts (src/observe/llm.c) from the bytes as the upstream sent
 * them; under a quota, the upstream's chunks are counted too, the estimate
 * of a stream cut before its counts (src/policy/inspect.c); the live view
 * sees the tokens so far (tollgate/live-exchange.h). Both pass
 * everything on unchanged. */
#include "tollgate/live-exchange.h"
#include "tollgate/llm.h"
#include "tollgate/resp-filter.h"

static int tokens_data(tg_exchange *x, unsigned at, const char *p, size_t n, unsigned flags) {
  tg_llm_scan_response(&x->scan.resp, &x->facts, p, n);
  tg_live_exchange_data(x); /* the live view's tokens so far */
  return tg_resp_pass_data(x, at + 1, p, n, flags);
}

const tg_resp_filter tg_filter_tokens = {NULL, NULL, NULL, tokens_data, NULL, NULL};

static int chunks_wanted(const tg_exchange *x, const tg_resp_head *h) { return x->adm.quota_on && !h->no_body; }

static int chunks_frame(tg_exchange *x, unsigned at, uint64_t size) {
  x->adm.resp_chunks++;
  return tg_resp_pass_frame(x, at + 1, size);
}

const tg_resp_filter tg_filter_chunks = {chunks_wanted, NULL, chunks_frame, NULL, NULL, NULL};
