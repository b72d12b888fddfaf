/* The proxy's table (tollgate/proxy.h, tg_exchange_ops): what the client
 * connection and the upstream pool call when an exchange moves on. The
 * admission phases (src/policy/) take the head, the relay (src/relay/) the
 * body and the upstream. This file is what knows both, so that neither the
 * connection nor the pool names a layer above it. */
#include "tollgate/admission.h"
#include "tollgate/limits.h"
#include "tollgate/live-exchange.h"
#include "tollgate/proxy.h"
#include "tollgate/quota.h"

/* The live view (tollgate/live-exchange.h) lists an exchange from its
 * admission to its end. */
static void proxy_admitted(tg_exchange *x) {
  tg_live_exchange_admitted(x);
  tg_relay_start(x);
}

static void proxy_exchange_end(tg_exchange *x) {
  tg_live_exchange_end(x);
  tg_policy_exchange_end(x);
}

const tg_exchange_ops tg_proxy_ops = {
    .head = tg_admission_start,
    .admitted = proxy_admitted,
    .body_gathered = tg_inspect_body_done,
    .cors_lines = tg_cors_lines,
    .exchange_end = proxy_exchange_end,
    .response_done = tg_policy_response_done,
    .chunk_header = tg_relay_on_chunk_header,
    .body = tg_relay_on_body,
    .chunk_complete = tg_relay_on_chunk_complete,
    .request_complete = tg_relay_on_request_complete,
    .body_begin = tg_relay_body_begin,
    .body_end = tg_relay_body_end,
    .finish = tg_relay_finish,
    .abort = tg_relay_abort,
    .client_drained = tg_relay_client_drained,
    .tunnel_up = tg_relay_tunnel_up,
    .connected = tg_relay_connected,
    .upstream_read = tg_relay_upstream_read,
    .upstream_drained = tg_relay_upstream_drained,
    .upstream_timeout = tg_relay_upstream_timeout,
};
