/* The admission pipeline: what a request goes through between its head and
 * the relay, as phases run in the order of one table (src/policy/admission.c),
 * nginx's ngx_http_core_run_phases as the model.
 *
 * Each phase is a function of the exchange's client that returns
 *   TG_ADM_NEXT   go on with the next phase;
 *   TG_ADM_DONE   the exchange was answered (refused, a preflight, an
 *                 error) or handed on (the relay): the pipeline ends;
 *   TG_ADM_AGAIN  suspended: work on the thread pool, a subrequest, a delay,
 *                 a queue or the body being read holds the exchange; when it
 *                 ends it calls tg_admission_resume (or answers the client),
 *                 which goes on with the phase after the one that suspended.
 * The exchange records the phase it is in (x->adm.phase). Adding a phase
 * is one entry in the table and its function (and, when only some sites
 * need it, the test that says which).
 *
 * Like nginx's phase engine, which keeps only the handlers a location's
 * configuration installs, a site runs only the phases its configuration
 * gives something to do (tg_admission_plan, at load): a site without auth
 * or limits never calls their phases. */
#ifndef TOLLGATE_ADMISSION_H
#define TOLLGATE_ADMISSION_H

typedef struct tg_client tg_client;
typedef struct tg_exchange tg_exchange;
struct tg_site_conf;

typedef enum tg_adm_rc {
  TG_ADM_NEXT,
  TG_ADM_DONE,
  TG_ADM_AGAIN,
} tg_adm_rc;

/* Records in s->adm_phases the phases its configuration needs (at config
 * load, once its auth and limits are set). */
void tg_admission_plan(struct tg_site_conf *s);

/* The request head of x is complete and valid: runs the phases from the
 * first. */
void tg_admission_start(tg_exchange *x);

/* The phase that returned TG_ADM_AGAIN for x is done and let it through:
 * runs the phases after it. */
void tg_admission_resume(tg_exchange *x);

#endif
