/* The admission pipeline (see tollgate/admission.h): the phases in the
 * order they run. Refusals come in this order too: a client that is both
 * unauthenticated and over its rate gets the 401, not the 429. */
#include "tollgate/admission.h"

#include "tollgate/auth.h"
#include "tollgate/body-buffer.h"
#include "tollgate/fanout.h"
#include "tollgate/limits.h"
#include "tollgate/proxy.h"
#include "tollgate/quota.h"

typedef struct tg_adm_phase {
  tg_adm_rc (*run)(tg_exchange *x);
  int (*wanted)(const tg_site_conf *s); /* does the site give it anything to do? NULL: every site does */
} tg_adm_phase;

/* The last phase: the exchange goes to an upstream, through the proxy's
 * table (policy/ does not name the relay: the relay calls into policy). */
static tg_adm_rc relay_phase(tg_exchange *x) {
  x->w->ops->admitted(x);
  return TG_ADM_DONE;
}

static int has_trusted(const tg_site_conf *s) { return s->limits && s->limits->ntrusted; }
static int has_cors(const tg_site_conf *s) { return s->limits && s->limits->cors; }
static int has_auth(const tg_site_conf *s) { return s->auth != NULL; }
static int has_inspect(const tg_site_conf *s) { return s->limits && (s->limits->quota || s->limits->models); }
static int has_conn(const tg_site_conf *s) { return s->limits && s->limits->conn; }
/* with a shared store the rates' round trip checks the quota and asks for the cap's slot too */
static int has_rate(const tg_site_conf *s) {
  return s->limits && (s->limits->nrates || s->limits->quota || s->limits->gen_max);
}
static int has_cap(const tg_site_conf *s) { return s->limits && s->limits->gen_max; }

static const tg_adm_phase phases[] = {
    /* post-read: what the request is */
    {tg_request_facts, NULL},         /* route.c: the path normalised, its route and kind (400 under limits) */
    {tg_policy_address, has_trusted}, /* limits.c: the client address behind trusted proxies */
    {tg_policy_body_size, NULL},      /* limits.c: the route's body limit (413) */
    {tg_cors_preflight, has_cors},    /* cors.c: a CORS preflight answered (204, 403) */
    /* access: who asks and what they may do */
    {tg_auth_admit, has_auth},       /* auth.c: credentials (401, 429); AGAIN: a slow hash or forward auth */
    {tg_policy_admin, NULL},         /* limits.c: admin routes (403) */
    {tg_inspect_admit, has_inspect}, /* inspect.c: token quota (429), allow-lists (403); AGAIN: body read whole */
    {tg_body_buffer_admit, tg_body_buffer_wanted}, /* body-buffer.c: several servers: a model's body read whole (413) */
    {tg_fanout_body_admit, tg_body_buffer_wanted}, /* fanout-route.c: several servers: a pull's body read whole (413) */
    /* limits: how much at once */
    {tg_policy_conn, has_conn}, /* limits.c: requests in flight per address */
    {tg_policy_rate, has_rate}, /* limits.c: request rates (and a shared quota); AGAIN: the store, a delay */
    {tg_gen_admit, has_cap},    /* queue.c: the generation cap; AGAIN: a place in the queue */
    /* content */
    {relay_phase, NULL},
};

enum { NPHASES = sizeof phases / sizeof phases[0] };
_Static_assert(NPHASES < 32, "a site's plan is a 32-bit mask");

void tg_admission_plan(tg_site_conf *s) {
  s->adm_phases = 0;
  for (unsigned i = 0; i < NPHASES; i++)
    if (!phases[i].wanted || phases[i].wanted(s)) s->adm_phases |= 1u << i;
}

/* Runs the site's phases from the first at or after `from` until one
 * answers or suspends. */
static void run(tg_exchange *x, unsigned from) {
  uint32_t plan = x->site->adm_phases ? x->site->adm_phases : ~0u;
  for (plan &= ~0u << from; plan; plan &= plan - 1) {
    unsigned i = (unsigned)__builtin_ctz(plan);
    if (i >= NPHASES) return;
    x->adm.phase = (uint8_t)i;
    if (phases[i].run(x) != TG_ADM_NEXT) return;
  }
}

void tg_admission_start(tg_exchange *x) { run(x, 0); }

void tg_admission_resume(tg_exchange *x) { run(x, x->adm.phase + 1u); }
