/* doctor-run: what the checks of `tollgate doctor` share: the options, the
 * client, the chosen model, the report lines and their counts. doctor.c
 * runs the checks in order; doctor-stream.c and doctor-checks.c hold the
 * longer ones. */
#ifndef TOLLGATE_DOCTOR_RUN_H
#define TOLLGATE_DOCTOR_RUN_H

#include <stdio.h>

#include <jansson.h>

#include "doctor-http.h"

enum { DR_OK, DR_WARN, DR_FAIL, DR_SKIP };

/* Limits, in ms: a generation may wait for a model to load. */
#define DR_GENERATE_MS (300 * 1000)
#define DR_SLOW_MS (900 * 1000)

typedef struct doctor {
  /* options */
  const char *url_text, *model_opt, *user, *key, *cacert, *ws_path;
  int slow, insecure, timeout_ms;
  /* state */
  tg_http_url url;
  dh_client cli;
  char *auth;      /* "Authorization: ...\r\n", or NULL */
  char *model;     /* the model the generations use, or NULL */
  int tags_status; /* status of /api/tags (with the credentials, if any) */
  int counts[4];   /* report lines per level */
  FILE *out;
} doctor;

/* Prints one report line: "ok    check: text". */
void dr_report(doctor *d, int level, const char *check, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* One request on its own connection; the credentials go along when
 * with_auth is set. extra: more field lines ("Name: value\r\n"), or NULL. */
int dr_request(doctor *d, const char *method, const char *path, const char *body, const char *extra, int with_auth,
               int read_ms, dh_resp *rs);

/* What went wrong with a request, for a report line: the status and the
 * error text of the body ("404: model not found"), or how it failed. */
void dr_outcome(const dh_resp *rs, char *out, size_t n);

/* The JSON body of rs (NULL when it is not JSON); json_decref it. */
json_t *dr_json(const dh_resp *rs);

void dr_check_stream(doctor *d);
void dr_check_auth(doctor *d);
void dr_check_websocket(doctor *d);
void dr_check_slow(doctor *d);

#endif
