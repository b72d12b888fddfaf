/* The body read whole before a server is chosen (docs/upstreams.md#the-body-read-whole):
 * for a site whose upstream has several servers, a POST to a route that
 * names a model is read whole before anything goes upstream, in memory up
 * to the site's client_body_buffer_size, so that the choice can read its
 * model and a failover can send it again. An admission phase
 * (src/policy/body-buffer.c) that reuses the inspection's gathering
 * (tg_inspect_gather, c->x->adm.whole). */
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
 * whole); 413 for a declared length past client_body_buffer_size; AGAIN
 * while the body is read (tg_inspect_body_done resumes). */
tg_adm_rc tg_body_buffer_admit(tg_client *c);

#endif
