/* The body read whole before a server is chosen (docs/upstreams.md#the-body-read-whole):
 * for a site whose upstream has several servers, a POST to a route that
 * names a model is read whole before anything goes upstream, in memory up
 * to the site's client_body_buffer_size and past it in a temporary file
 * (x->adm.temp, tollgate/body-temp.h), never more than
 * client_max_body_size, so that the choice can read its model and a
 * failover can send it again. An admission phase
 * (src/policy/body-buffer.c) that reuses the inspection's gathering
 * (tg_inspect_gather, x->adm.whole). The model is read by the request
 * scanner as the bytes pass (tg_llm_scan_request), wherever they are kept. */
#ifndef TOLLGATE_BODY_BUFFER_H
#define TOLLGATE_BODY_BUFFER_H

#include <stddef.h>

#include "tollgate/admission.h"

struct tg_site_conf;

/* Does the site need the phase (its upstream has several servers)? */
int tg_body_buffer_wanted(const struct tg_site_conf *s);

/* Is path (normalised) one of the routes whose body names the model the
 * choice goes by? */
int tg_body_buffer_route(const char *path, size_t len);

/* The phase: NEXT for a request that is not buffered (or already read
 * whole); AGAIN while the body is read (tg_inspect_body_done resumes). */
tg_adm_rc tg_body_buffer_admit(tg_exchange *x);

/* Keeps n body bytes of a request being read whole: in x->adm.whole,
 * or in the file once past client_body_buffer_size (a body this phase
 * reads; the inspection's stays in memory). Returns 0 or -1. */
int tg_body_buffer_append(tg_exchange *x, const char *p, size_t n);

/* Is the body still on its way to its file? Then the end of its reading
 * waits for it (tg_inspect_body_done is called again). */
int tg_body_buffer_unflushed(tg_exchange *x);

#endif
