/* tollgate doctor: runs the verification checklist of an Ollama deployment
 * (connectivity, TLS, version and models, authentication, unbuffered
 * streaming, WebSocket upgrades, long requests) against any URL and prints
 * one line per check. See docs/doctor.md. */
#ifndef TOLLGATE_DOCTOR_H
#define TOLLGATE_DOCTOR_H

#include <stddef.h>

/* `tollgate doctor [options] URL`: argv[0] is "doctor". Returns the exit
 * status: 0 when no check failed, 1 when one did, 2 on a usage error. */
int tg_doctor_main(int argc, char **argv);

/* How a stream's chunks arrived, from their arrival times. */
typedef struct tg_stream_verdict {
  size_t n;          /* chunks */
  double first_s;    /* first chunk, seconds after the request was sent */
  double last_s;     /* last chunk, seconds after the request was sent */
  double expected_s; /* how long the server took to produce them */
  size_t in_window;  /* chunks that arrived within window_s of the last one */
  double window_s;   /* spread of those chunks */
  size_t groups;     /* runs of chunks that arrived back to back */
  int judged;        /* 0: too fast a generation to tell (under 0.1 s) */
  int buffered;      /* (nearly) all chunks arrived at once at the end */
  int bursty;        /* chunks arrived in a few bursts (partial buffering) */
} tg_stream_verdict;

/* Classifies arrival times t[0..n) (seconds, non-decreasing, on the same
 * clock as sent_s). server_s: the generation time the server reports
 * (eval_duration), or 0 when unknown. */
void tg_doctor_classify(const double *t, size_t n, double sent_s, double server_s, tg_stream_verdict *v);

#endif
