/* A client connection that speaks HTTP/2 (src/http/h2-down.c): its
 * session (tollgate/h2-session.h) fed from the connection's reads and
 * written to its sink, each stream an exchange through the same admission
 * phases and relay as an HTTP/1 request, answered through the exchange's
 * downstream table (tg_h2_downstream) and the HTTP/2 writer filter
 * (TG_RF_H2_WRITER). docs/http2.md. */
#ifndef TOLLGATE_H2_CONN_H
#define TOLLGATE_H2_CONN_H

#include <stddef.h>

#include "tollgate/downstream.h"
#include "tollgate/resp-filter.h"

struct tg_client;
typedef struct tg_h2_conn tg_h2_conn;

/* Starts HTTP/2 on c (a listener with `h2c`: prior knowledge): the
 * session, our SETTINGS queued for the first flush. Returns 0 or -1 (out
 * of memory). */
int tg_h2_conn_start(struct tg_client *c);

/* Plaintext bytes read from c. */
void tg_h2_conn_bytes(struct tg_client *c, const char *p, size_t n);

/* Writes what the session has ready: once c is set up, and whenever its
 * sink drains (the streams that waited for it read their upstream on). */
void tg_h2_conn_flush(struct tg_client *c);

/* c is closing: every stream's exchange ends (logged as aborted when its
 * answer was not complete). */
void tg_h2_conn_close(struct tg_client *c);

/* Frees c's session (c is being freed). */
void tg_h2_conn_free(struct tg_client *c);

/* The worker drains: GOAWAY with the last stream id; the connection
 * closes once the streams in progress have ended. */
void tg_h2_conn_drain(struct tg_client *c);

extern const tg_downstream tg_h2_downstream;
extern const tg_resp_filter tg_h2_writer;

#endif
