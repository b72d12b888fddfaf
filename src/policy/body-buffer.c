/* The body read whole before a server is chosen (tollgate/body-buffer.h).
 * Past client_body_buffer_size the request is refused with 413: nothing
 * is written to a temporary file yet (docs/upstreams.md). */
#include "tollgate/body-buffer.h"

#include <stdio.h>
#include <string.h>

#include "policy.h"
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

/* "1m", "64k" or bytes, for the 413's message. */
static void size_text(char *out, size_t cap, uint64_t v) {
  if (v % (1u << 20) == 0) snprintf(out, cap, "%llum", (unsigned long long)(v >> 20));
  else if (v % 1024 == 0) snprintf(out, cap, "%lluk", (unsigned long long)(v >> 10));
  else snprintf(out, cap, "%llu", (unsigned long long)v);
}

tg_adm_rc tg_body_buffer_admit(tg_client *c) {
  tg_exchange *x = c->x;
  if (x->adm.gathered || x->req_framing == TG_FRAME_NONE || c->parser.method != HTTP_POST) return TG_ADM_NEXT;
  if (!x->path.len || !tg_body_buffer_route(tg_exchange_path(x), x->path.len)) return TG_ADM_NEXT;
  uint64_t cap = c->site->body_buffer_bytes;
  if (x->req_framing == TG_FRAME_LENGTH && x->req_cl > cap) {
    char size[32], msg[200];
    size_text(size, sizeof size, cap);
    snprintf(msg, sizeof msg,
             "request body too large: a body for an upstream of several servers is read whole first, up to "
             "client_body_buffer_size (%s)",
             size);
    tg_client_fail(c, 413, msg);
    return TG_ADM_DONE;
  }
  if (!x->adm.max_body || x->adm.max_body > cap) x->adm.max_body = cap; /* a chunked body: 413 past it */
  tg_inspect_gather(c);
  return TG_ADM_AGAIN;
}
