/* Header rewriting between client and upstream: what is hop-by-hop, what the
 * edge keeps for itself, and the heads tollgate writes each way. Pure
 * functions over tg_head, so they are unit-tested without sockets. */
#ifndef TOLLGATE_REWRITE_H
#define TOLLGATE_REWRITE_H

#include <stdint.h>

#include "tollgate/buf.h"
#include "tollgate/config.h"
#include "tollgate/head.h"

/* How a body is delimited on the wire. */
typedef enum tg_framing {
  TG_FRAME_NONE,    /* no body (HEAD, 204, 304, a request without one) */
  TG_FRAME_LENGTH,  /* Content-Length */
  TG_FRAME_CHUNKED, /* Transfer-Encoding: chunked */
  TG_FRAME_CLOSE,   /* until the connection closes (responses only) */
  TG_FRAME_UPGRADE  /* 101 Switching Protocols to a WebSocket tunnel */
} tg_framing;

/* What the proxy decided about a request, for writing the upstream head. */
typedef struct tg_req_meta {
  const char *method;
  const char *target; /* after the mount prefix was stripped */
  int root_slash;     /* write "/" before target (the mount point itself, with a query) */
  size_t target_len;
  const char *client_ip;
  const char *proto;  /* "http" or "https": X-Forwarded-Proto */
  tg_framing framing; /* of the request body */
  uint64_t content_length;
  int websocket;           /* a WebSocket handshake: Upgrade passed on */
  const char *request_id;  /* X-Request-Id to send, or NULL */
  const char *extra;       /* header lines to add ("Name: value\r\n"...), or NULL */
  const char *const *drop; /* more client field names not to pass on (NULL-terminated), or NULL */
} tg_req_meta;

/* Is the field named (name, len) one that a proxy must not forward: the
 * RFC 9110 hop-by-hop set, a field listed in the message's Connection
 * header, or an underscore spelling of one of them (Transfer_Encoding)? */
int tg_is_hop_by_hop(const tg_head *h, const char *name, size_t len);

/* Writes the head tollgate sends upstream for a client request: hop-by-hop
 * fields removed, Host pinned (or kept with `host_header preserve`),
 * Authorization and Cookie dropped unless site->forward_credentials, the
 * fields named in m->drop dropped and m->extra added (forward auth),
 * X-Forwarded-For/-Proto/-Host set from the connection, framing fields
 * written from m. Returns 0 or -1 (out of memory). */
int tg_rewrite_request(tg_buf *out, const tg_head *h, const tg_req_meta *m, const tg_site_conf *site);

/* Writes the head tollgate sends the client for an upstream response with
 * the given status: hop-by-hop fields removed, framing fields written from
 * framing and content_length, `Connection: close` added when close is set.
 * Returns 0 or -1. */
int tg_rewrite_response(tg_buf *out, const tg_head *h, int status, tg_framing framing, uint64_t content_length,
                        int close);

/* Adds one "Name: value" field to a head already written into out (before
 * its final empty line). Returns 0 or -1. */
int tg_head_out_add(tg_buf *out, const char *name, const char *value);

/* The standard reason phrase of an HTTP status code ("Bad Gateway"). */
const char *tg_status_reason(int status);

#endif
