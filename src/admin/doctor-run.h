/* doctor-run: what the checks of `tollgate doctor` share: the options, the
 * TLS context, the chosen model, the report lines and their counts. doctor.c
 * runs the checks in order; doctor-stream.c and doctor-checks.c hold the
 * longer ones. Every request is a blocking call of the shared HTTP client
 * (tollgate/http-client-sync.h) on a connection of its own. */
#ifndef TOLLGATE_DOCTOR_RUN_H
#define TOLLGATE_DOCTOR_RUN_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "tollgate/http-client-sync.h"
#include "tollgate/http-url.h"

enum { DR_OK, DR_WARN, DR_FAIL, DR_SKIP };

/* Limits, in ms: a generation may wait for a model to load. */
#define DR_GENERATE_MS (300 * 1000)
#define DR_SLOW_MS (900 * 1000)

/* One read that carried body bytes: when (seconds from the call's start),
 * and which bytes of the kept body. */
typedef struct dr_arrival {
  double t;
  uint64_t ns; /* uv_hrtime() of the read */
  size_t off, len;
} dr_arrival;

/* A request's outcome as the checks read it. */
typedef struct dr_resp {
  tg_http_result res; /* head, body (its first bytes), error and why, address, TLS facts */
  int status;         /* the head's, also when the body then failed */
  int connected;      /* the TCP connection was made */
  int secured;        /* the TLS handshake finished (the certificate may still be bad) */
  int got_head;       /* the response head arrived */
  int complete;       /* the whole message arrived (or a 101 head) */
  int err;            /* res.resp.error: TG_UPERR_NONE when complete */
  const char *errmsg;
  double t_connect; /* how long the TCP connect took */
  double t_sent;    /* seconds from the call's start: request written */
  double t_head;    /* response head complete */
  double t_end;     /* response complete, or the failure */
  dr_arrival *arr;
  size_t narr, carr;
} dr_resp;

typedef struct doctor {
  /* options */
  const char *url_text, *model_opt, *user, *key, *cacert, *ws_path;
  const char *config_path; /* --config: each server of its upstreams checked (doctor-servers.c) */
  int slow, insecure, timeout_ms;
  /* state */
  tg_http_url url;
  SSL_CTX *tls;    /* https: verifies nothing in the handshake, the call checks after it */
  char *auth;      /* "Authorization: ...\r\n", or NULL */
  char *model;     /* the model the generations use, or NULL */
  int tags_status; /* status of /api/tags (with the credentials, if any) */
  int counts[4];   /* report lines per level */
  FILE *out;
} doctor;

/* Prints one report line: "ok    check: text". */
void dr_report(doctor *d, int level, const char *check, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The User-Agent field every request carries. */
#define DR_USER_AGENT "User-Agent: tollgate-doctor/" TG_VERSION "\r\n"

/* One request on its own connection; the credentials go along when
 * with_auth is set. extra: more field lines ("Name: value\r\n"), or NULL.
 * read_ms limits each wait for the response. */
int dr_request(doctor *d, const char *method, const char *path, const char *body, const char *extra, int with_auth,
               int read_ms, dr_resp *rs);

/* Sends rq (its method, target, fields, body, upgrade) to the URL's host
 * with the doctor's limits, read_ms for each wait. Returns 0 when a
 * complete response arrived, -1 otherwise (rs->err, rs->errmsg). */
int dr_send(doctor *d, tg_http_request *rq, int read_ms, dr_resp *rs);
void dr_resp_free(dr_resp *rs);

/* The value of the first field named name, copied into out (capped), or
 * NULL when there is none. */
const char *dr_field(const dr_resp *rs, const char *name, char *out, size_t outlen);

/* What went wrong with a request, for a report line: the status and the
 * error text of the body ("404: model not found"), or how it failed. */
void dr_outcome(const dr_resp *rs, char *out, size_t n);

/* The JSON body of rs (NULL when it is not JSON); json_decref it. */
json_t *dr_json(const dr_resp *rs);

/* --config FILE: each server of each upstream, asked directly
 * (doctor-servers.c). Returns -1 when the configuration does not load. */
int dr_check_servers(doctor *d);

void dr_check_stream(doctor *d);
void dr_check_auth(doctor *d);
void dr_check_websocket(doctor *d);
void dr_check_slow(doctor *d);

#endif
