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
 * The exchange records the phase it is in (c->x.adm.phase). Adding a phase
 * is one entry in the table and its function. */
#ifndef TOLLGATE_ADMISSION_H
#define TOLLGATE_ADMISSION_H

typedef struct tg_client tg_client;

typedef enum tg_adm_rc {
  TG_ADM_NEXT,
  TG_ADM_DONE,
  TG_ADM_AGAIN,
} tg_adm_rc;

/* The request head of c is complete and valid: runs the phases from the
 * first. */
void tg_admission_start(tg_client *c);

/* The phase that returned TG_ADM_AGAIN for c is done and let it through:
 * runs the phases after it. */
void tg_admission_resume(tg_client *c);

#endif
