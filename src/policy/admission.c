/* The admission pipeline (see tollgate/admission.h): the phases in the
 * order they run. Refusals come in this order too: a client that is both
 * unauthenticated and over its rate gets the 401, not the 429. */
#include "tollgate/admission.h"

#include "tollgate/auth.h"
#include "tollgate/limits.h"
#include "tollgate/proxy.h"
#include "tollgate/quota.h"

typedef tg_adm_rc (*tg_adm_phase)(tg_client *c);

/* The last phase: the exchange goes to an upstream. */
static tg_adm_rc relay_phase(tg_client *c) {
  tg_relay_start(c);
  return TG_ADM_DONE;
}

static const tg_adm_phase phases[] = {
    /* post-read: what the request is */
    tg_request_facts,    /* route.c: the path normalised, its route and kind (400 when it cannot be, under limits) */
    tg_policy_address,   /* limits.c: the client address (trusted proxies) */
    tg_policy_body_size, /* limits.c: the route's body limit (413) */
    tg_cors_preflight,   /* cors.c: a CORS preflight answered (204, 403) */
    /* access: who asks and what they may do */
    tg_auth_admit,    /* auth.c: credentials (401, 429); AGAIN: a slow hash or forward auth */
    tg_policy_admin,  /* limits.c: admin routes (403) */
    tg_inspect_admit, /* inspect.c: the token quota (429), allow-lists (403); AGAIN: the body read whole */
    /* limits: how much at once */
    tg_policy_conn,  /* limits.c: requests in flight per address */
    tg_policy_rate,  /* limits.c: request rates; AGAIN: a delay */
    tg_gen_admit,    /* queue.c: the generation cap; AGAIN: a place in the queue */
    /* content */
    relay_phase,
};

enum { NPHASES = sizeof phases / sizeof phases[0] };

/* Runs the phases from c->x.adm.phase until one answers or suspends. */
static void run(tg_client *c) {
  while (c->x.adm.phase < NPHASES) {
    if (phases[c->x.adm.phase](c) != TG_ADM_NEXT) return;
    c->x.adm.phase++;
  }
}

void tg_admission_start(tg_client *c) {
  c->x.adm.phase = 0;
  run(c);
}

void tg_admission_resume(tg_client *c) {
  c->x.adm.phase++;
  run(c);
}
