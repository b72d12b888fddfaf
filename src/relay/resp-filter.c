/* The response filters by number, and the choice of an exchange's chain
 * (tollgate/resp-filter.h). A new filter is one file, one number and one
 * line here; the relay does not change. */
#include "tollgate/resp-filter.h"

extern const tg_resp_filter tg_relay_h1_writer, tg_h2_writer, tg_filter_tokens, tg_filter_chunks, tg_filter_usage,
    tg_filter_listing, tg_filter_error, tg_filter_learn;

const tg_resp_filter *const tg_resp_filters[TG_RF_COUNT] = {
    [TG_RF_H1_WRITER] = &tg_relay_h1_writer, [TG_RF_H2_WRITER] = &tg_h2_writer, [TG_RF_TOKENS] = &tg_filter_tokens,
    [TG_RF_CHUNKS] = &tg_filter_chunks,      [TG_RF_USAGE] = &tg_filter_usage,  [TG_RF_LISTING] = &tg_filter_listing,
    [TG_RF_ERROR] = &tg_filter_error,        [TG_RF_LEARN] = &tg_filter_learn,
};

void tg_resp_chain_build(tg_exchange *x, const tg_resp_head *h, unsigned writer) {
  tg_resp_chain *ch = &x->resp;
  unsigned n = 0;
  for (unsigned i = TG_RF_FIRST_FILTER; i < TG_RF_COUNT; i++) {
    const tg_resp_filter *f = tg_resp_filters[i];
    if (!f->wanted || f->wanted(x, h)) ch->id[n++] = (uint8_t)i;
  }
  ch->id[n++] = (uint8_t)writer;
  ch->n = (uint8_t)n;
  ch->held = 0;
}
