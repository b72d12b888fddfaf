/* doctor-stream: the streaming check of `tollgate doctor`. A short
 * /api/generate streams NDJSON; every line's arrival time is the time of
 * the read that completed it. When a proxy buffers, (nearly) all lines
 * arrive at once at the end although the server produced them over a much
 * longer time (its eval_duration); tg_doctor_classify tells the two apart.
 * The request asks for gzip, as browsers do: a compressed stream cannot be
 * split into lines here, so its reads stand for the chunks. */
#include <stdlib.h>
#include <string.h>

#include "doctor-run.h"
#include "tollgate/doctor.h"

#define BUFFER_HINT "check proxy_buffering off in nginx, flush_interval -1 in Caddy, gzip/compression on streams"

/* ---- the classifier (pure) ---- */

static size_t count_in_window(const double *t, size_t n, double window) {
  size_t k = 0;
  while (k < n && t[n - 1 - k] >= t[n - 1] - window) k++;
  return k;
}

/* Runs of chunks closer together than a quarter of the even spacing. */
static size_t count_groups(const double *t, size_t n, double expected) {
  double gap = expected / (double)(n - 1) / 4.0;
  size_t groups = 1;
  for (size_t i = 1; i < n; i++)
    if (t[i] - t[i - 1] > gap) groups++;
  return groups;
}

void tg_doctor_classify(const double *t, size_t n, double sent_s, double server_s, tg_stream_verdict *v) {
  memset(v, 0, sizeof *v);
  v->n = n;
  if (n == 0) return;
  v->first_s = t[0] - sent_s;
  v->last_s = t[n - 1] - sent_s;
  v->expected_s = server_s > 0 ? server_s : v->last_s;
  if (v->expected_s < 0.1) return; /* too fast to tell */
  v->judged = 1;
  double window = v->expected_s * 0.1 > 0.01 ? v->expected_s * 0.1 : 0.01;
  v->in_window = count_in_window(t, n, window);
  v->window_s = t[n - 1] - t[n - v->in_window];
  v->groups = count_groups(t, n, v->expected_s);
  v->buffered = v->in_window >= n - n / 10;
  v->bursty = !v->buffered && v->groups * 2 < n;
}

/* ---- reading the stream ---- */

typedef struct stream_info {
  double *t; /* arrival time per line (or per read when encoded) */
  size_t n;
  int done;          /* a final object with "done":true arrived */
  double server_s;   /* its eval_duration, seconds */
  char error[160];   /* an {"error":...} line */
  char encoding[40]; /* Content-Encoding, when the proxy compressed */
} stream_info;

/* The time of the read that carried body byte off. */
static double arrival_of(const dr_resp *rs, size_t off) {
  for (size_t i = 0; i < rs->narr; i++)
    if (off < rs->arr[i].off + rs->arr[i].len) return rs->arr[i].t;
  return rs->narr ? rs->arr[rs->narr - 1].t : rs->t_end;
}

static void read_line(stream_info *si, const char *p, size_t n) {
  json_t *j = json_loadb(p, n, 0, NULL);
  if (!j) return;
  json_t *e = json_object_get(j, "error");
  if (json_is_string(e)) snprintf(si->error, sizeof si->error, "%s", json_string_value(e));
  if (json_is_true(json_object_get(j, "done"))) {
    si->done = 1;
    si->server_s = (double)json_integer_value(json_object_get(j, "eval_duration")) / 1e9;
  }
  json_decref(j);
}

static void split_lines(const dr_resp *rs, stream_info *si) {
  const char *b = rs->res.resp.body.data;
  size_t start = 0;
  for (size_t i = 0; i < rs->res.resp.body.len; i++) {
    if (b[i] != '\n') continue;
    if (i > start) {
      si->t[si->n++] = arrival_of(rs, i);
      read_line(si, b + start, i - start);
    }
    start = i + 1;
  }
}

/* Fills si from the response; si->t must be freed. */
static int read_stream(const dr_resp *rs, stream_info *si) {
  memset(si, 0, sizeof *si);
  dr_field(rs, "Content-Encoding", si->encoding, sizeof si->encoding);
  int encoded = si->encoding[0] && strcmp(si->encoding, "identity") != 0;
  si->t = malloc((rs->res.resp.body.len + rs->narr + 1) * sizeof *si->t);
  if (!si->t) return -1;
  if (!encoded) split_lines(rs, si);
  else
    for (size_t i = 0; i < rs->narr; i++) si->t[si->n++] = rs->arr[i].t;
  return 0;
}

/* ---- the report ---- */

/* "at once" (one read) or "within 2.1 ms". */
static void window_text(double w, char *out, size_t n) {
  if (w <= 0) snprintf(out, n, "at once");
  else snprintf(out, n, "within %.*f ms", w < 0.01, w * 1000.0);
}

static void report_buffered(doctor *d, const tg_stream_verdict *v, const stream_info *si) {
  char win[40];
  window_text(v->window_s, win, sizeof win);
  if (si->encoding[0]) {
    dr_report(d, DR_FAIL, "streaming",
              "a proxy in the path buffers the stream: it compressed it (Content-Encoding: %s) and the whole "
              "response arrived %s after %.2f s (" BUFFER_HINT ")",
              si->encoding, win, v->last_s);
    return;
  }
  dr_report(d, DR_FAIL, "streaming",
            "a proxy in the path buffers the stream: %s%zu chunks arrived %s after %.2f s, "
            "the server took %.2f s to produce them (" BUFFER_HINT ")",
            v->in_window == v->n ? "all " : "", v->in_window, win, v->last_s, v->expected_s);
}

static void report_verdict(doctor *d, const tg_stream_verdict *v, const stream_info *si) {
  char enc[100] = "";
  const char *unit = si->encoding[0] ? "reads" : "chunks";
  if (si->encoding[0]) snprintf(enc, sizeof enc, ", compressed by the proxy (Content-Encoding: %s)", si->encoding);
  if (!v->judged) {
    dr_report(d, DR_WARN, "streaming", "%zu %s over %.2f s%s: too short a generation to tell streaming from buffering",
              v->n, unit, v->last_s - v->first_s, enc);
  } else if (v->buffered) {
    report_buffered(d, v, si);
  } else if (v->bursty) {
    dr_report(d, DR_WARN, "streaming",
              "%zu %s arrived in %zu bursts over %.2f s%s: part of the stream is held back (" BUFFER_HINT ")", v->n,
              unit, v->groups, v->last_s - v->first_s, enc);
  } else {
    dr_report(d, DR_OK, "streaming", "%zu %s over %.2f s, first after %.0f ms, spread evenly (model %s)%s", v->n, unit,
              v->last_s - v->first_s, v->first_s * 1000.0, d->model, enc);
  }
}

/* A failed or cut generation. Returns 1 when it reported one. */
static int report_failure(doctor *d, const dr_resp *rs, const stream_info *si) {
  char out[300];
  if (!rs->got_head || rs->status != 200) {
    dr_outcome(rs, out, sizeof out);
    dr_report(d, DR_FAIL, "streaming", "/api/generate (model %s) answered %s", d->model, out);
  } else if (si->error[0]) {
    dr_report(d, DR_FAIL, "streaming", "the generation failed: %s", si->error);
  } else if (rs->err) {
    dr_report(d, DR_FAIL, "streaming", "the stream was cut after %zu chunks and %.2f s: %s", si->n, rs->t_end,
              rs->errmsg);
  } else if (!si->encoding[0] && !si->done) {
    dr_report(d, DR_FAIL, "streaming", "the stream ended after %zu chunks without its final \"done\" object", si->n);
  } else {
    return 0;
  }
  return 1;
}

/* The JSON body of a short streamed generation, or of a load-only request. */
static char *generate_body(const char *model, int load_only) {
  json_t *req = load_only ? json_pack("{s:s}", "model", model)
                          : json_pack("{s:s, s:s, s:b, s:{s:i}}", "model", model, "prompt", "Write 10 words only.",
                                      "stream", 1, "options", "num_predict", 32);
  char *body = json_dumps(req, JSON_COMPACT);
  json_decref(req);
  if (!body) abort();
  return body;
}

void dr_check_stream(doctor *d) {
  if (!d->model) {
    dr_report(d, DR_SKIP, "streaming", "no model to generate with (pass --model NAME)");
    return;
  }
  char *load = generate_body(d->model, 1), *body = generate_body(d->model, 0);
  dr_resp rs;
  stream_info si;
  /* Load the model first, so that the timing is the generation's alone. */
  dr_request(d, "POST", "/api/generate", load, NULL, 1, DR_GENERATE_MS, &rs);
  dr_resp_free(&rs);
  /* A browser's Accept-Encoding, so that a compressing proxy shows. */
  dr_request(d, "POST", "/api/generate", body, "Accept-Encoding: gzip\r\n", 1, DR_GENERATE_MS, &rs);
  if (read_stream(&rs, &si) < 0) abort();
  if (!report_failure(d, &rs, &si)) {
    tg_stream_verdict v;
    tg_doctor_classify(si.t, si.n, rs.t_sent, si.server_s, &v);
    report_verdict(d, &v, &si);
  }
  free(si.t);
  dr_resp_free(&rs);
  free(body);
  free(load);
}
