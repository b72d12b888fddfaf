/* Response filters: what looks at a response on its way to the client.
 * The relay (src/relay/relay.c) parses the upstream's response and hands
 * each event to the exchange's chain of filters; each filter passes the
 * event on (tg_resp_pass_*, from its own position + 1), holds it, or
 * replaces it with others. The chain ends with a writer, which frames the
 * bytes for the client (the relay's HTTP/1 writer today).
 *
 * A chain is chosen per exchange when the response head arrives: a filter
 * is in it only when its `wanted` says so (NULL: always), so a plain
 * stream pays for nothing it does not use. The chain is a few bytes of
 * the exchange (filter numbers, not pointers): building it allocates
 * nothing, and a filter keeps its state in the exchange.
 *
 * The events, in order: the head once; then body bytes, those of an
 * upstream chunk between on_frame (its size, > 0) and on_frame_end; then
 * on_end, with a NULL failure when the body is complete, or the reason
 * when the upstream failed it (the writer then cuts the response short).
 * A filter without a callback for an event lets it through. Each returns
 * 0, or -1: the response is invalid (a 502 before its head, else cut short). */
#ifndef TOLLGATE_RESP_FILTER_H
#define TOLLGATE_RESP_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "tollgate/exchange.h"
#include "tollgate/framing.h"
#include "tollgate/head.h"

/* The response head as the client is to receive it. */
typedef struct tg_resp_head {
  const tg_head *fields;   /* the upstream's fields, valid until the writer has written the head */
  uint64_t content_length; /* with TG_FRAME_LENGTH */
  int status;
  tg_framing framing;   /* how the client receives the body */
  unsigned no_body : 1; /* HEAD, 204, 304: no body follows */
} tg_resp_head;

/* tg_resp_pass_data's flags. */
enum {
  TG_RESP_COPY = 1, /* the bytes change after the call (a filter's buffer): copy them */
};

/* A filter's callbacks, written in this order where it is defined. */
typedef struct tg_resp_filter {
  /* Is the filter needed for this exchange? NULL: always. */
  int (*wanted)(const tg_exchange *x, const tg_resp_head *h);
  int (*on_head)(tg_exchange *x, unsigned at, const tg_resp_head *h);
  int (*on_frame)(tg_exchange *x, unsigned at, uint64_t size);
  int (*on_data)(tg_exchange *x, unsigned at, const char *p, size_t n, unsigned flags);
  int (*on_frame_end)(tg_exchange *x, unsigned at);
  int (*on_end)(tg_exchange *x, unsigned at, const char *failure);
} tg_resp_filter;

/* Every filter, by number: the writers first, then the filters in the
 * order they join a chain (the token scanner first: it sees the upstream's
 * bytes as they came). Number 0 is the HTTP/1 writer, so a chain never
 * built (all zero) goes straight to it. */
enum {
  TG_RF_H1_WRITER, /* src/relay/relay.c: chunk lines, the last chunk, a cut on failure */
  TG_RF_H2_WRITER, /* src/http/h2-down.c: the stream's HEADERS, its DATA as it comes, a reset on failure */
  TG_RF_TOKENS,    /* src/relay/filter-tokens.c: the streaming scanner (always); the first filter */
  TG_RF_CHUNKS,    /* the same file: chunks counted for the quota's estimate */
  TG_RF_USAGE,     /* src/relay/filter-usage.c: include_usage's usage-only event taken out */
  TG_RF_LISTING,   /* src/relay/filter-listing.c: a listing filtered by the model allow-list */
  TG_RF_ERROR,     /* src/relay/filter-error.c: a failed stream's last line, an error as Ollama writes it */
  TG_RF_LEARN,     /* src/relay/filter-learn.c: `balance model` learns a model's load and run times */
  TG_RF_COUNT
};
extern const tg_resp_filter *const tg_resp_filters[TG_RF_COUNT];

#define TG_RF_FIRST_FILTER TG_RF_TOKENS
_Static_assert(TG_RF_COUNT - TG_RF_FIRST_FILTER + 1 <= TG_RESP_CHAIN_MAX, "a chain holds every filter");

/* Chooses the exchange's filters for the response head h, the given writer
 * last (src/relay/resp-filter.c). */
void tg_resp_chain_build(tg_exchange *x, const tg_resp_head *h, unsigned writer);

/* Hand an event to the first filter of x's chain, from position `at`, that
 * takes it (the writer takes every one). A filter passes an event on with
 * its own position + 1; the relay starts at 0. */
static inline int tg_resp_pass_head(tg_exchange *x, unsigned at, const tg_resp_head *h) {
  const tg_resp_filter *f;
  while (!(f = tg_resp_filters[x->resp.id[at]])->on_head) at++;
  return f->on_head(x, at, h);
}

static inline int tg_resp_pass_frame(tg_exchange *x, unsigned at, uint64_t size) {
  const tg_resp_filter *f;
  while (!(f = tg_resp_filters[x->resp.id[at]])->on_frame) at++;
  return f->on_frame(x, at, size);
}

static inline int tg_resp_pass_data(tg_exchange *x, unsigned at, const char *p, size_t n, unsigned flags) {
  const tg_resp_filter *f;
  while (!(f = tg_resp_filters[x->resp.id[at]])->on_data) at++;
  return f->on_data(x, at, p, n, flags);
}

static inline int tg_resp_pass_frame_end(tg_exchange *x, unsigned at) {
  const tg_resp_filter *f;
  while (!(f = tg_resp_filters[x->resp.id[at]])->on_frame_end) at++;
  return f->on_frame_end(x, at);
}

static inline int tg_resp_pass_end(tg_exchange *x, unsigned at, const char *failure) {
  const tg_resp_filter *f;
  while (!(f = tg_resp_filters[x->resp.id[at]])->on_end) at++;
  return f->on_end(x, at, failure);
}

/* A filter holding bytes or the head back marks it (the relay checks that
 * a head it saw end was either written or held). */
static inline void tg_resp_hold(tg_exchange *x, unsigned at, int on) {
  if (on) x->resp.held |= (uint8_t)(1u << at);
  else x->resp.held &= (uint8_t) ~(1u << at);
}
static inline int tg_resp_holding(const tg_exchange *x, unsigned at) { return (x->resp.held >> at) & 1; }

#endif
