/* The JSON access log and the error log (see tollgate/access-log.h). */
#include "tollgate/access-log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int tg_access_log_open(const char *spec) {
  if (!spec || strcmp(spec, "stdout") == 0) return STDOUT_FILENO;
  if (strcmp(spec, "stderr") == 0) return STDERR_FILENO;
  if (strcmp(spec, "off") == 0) return -1;
  int fd = open(spec, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  /* cppcheck-suppress resourceLeak ; the descriptor is returned: the caller owns it */
  return fd < 0 ? -2 : fd;
}

void tg_access_log_init(tg_access_log *l, uv_loop_t *loop, int fd) {
  memset(l, 0, sizeof *l);
  l->fd = fd;
  l->loop = loop;
  uv_timer_init(loop, &l->timer);
  l->timer.data = l;
}

static int format_time(tg_buf *out) {
  struct timeval tv;
  struct tm tm;
  char ts[32];
  gettimeofday(&tv, NULL);
  gmtime_r(&tv.tv_sec, &tm);
  strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  return tg_buf_printf(out, "{\"time\":\"%s.%03dZ\"", ts, (int)(tv.tv_usec / 1000));
}

static double ms_between(uint64_t a, uint64_t b) { return b > a ? (double)(b - a) / 1e6 : 0.0; }

/* A value of the request's as a JSON string (at most TG_ACCESS_VALUE_MAX
 * bytes of it), or null. */
#define TG_ACCESS_VALUE_MAX 512
static int format_value(tg_buf *out, const char *key, const char *v, size_t n) {
  if (!v) return tg_buf_printf(out, ",\"%s\":null", key);
  if (n > TG_ACCESS_VALUE_MAX) n = TG_ACCESS_VALUE_MAX;
  return tg_buf_printf(out, ",\"%s\":\"", key) | tg_buf_json_str(out, v, n) | tg_buf_puts(out, "\"");
}

/* proto, host, ua and tls ("TLSv1.3 TLS_AES_128_GCM_SHA256"). */
static int format_conn(tg_buf *out, const tg_access_conn *k) {
  static const tg_access_conn none;
  if (!k) k = &none;
  int rc = format_value(out, "proto", k->proto, k->proto ? strlen(k->proto) : 0);
  rc |= format_value(out, "host", k->host, k->host_len);
  rc |= format_value(out, "ua", k->ua, k->ua_len);
  if (k->tls_version)
    rc |= tg_buf_printf(out, ",\"tls\":\"%s%s%s\"", k->tls_version, k->tls_cipher ? " " : "",
                        k->tls_cipher ? k->tls_cipher : "");
  else rc |= tg_buf_puts(out, ",\"tls\":null");
  return rc;
}

/* The LLM fields: request id, route kind, model, tokens, time to first
 * token and tokens per second (from eval_duration, else from the time the
 * body took). */
static int format_llm(tg_buf *out, const tg_access_entry *e) {
  const tg_access_rec *r = e->rec;
  int rc = 0;
  if (e->request_id && e->request_id[0]) {
    rc |= tg_buf_puts(out, ",\"request_id\":\"") | tg_buf_json_str(out, e->request_id, strlen(e->request_id)) |
          tg_buf_puts(out, "\"");
  }
  if (e->route) rc |= tg_buf_printf(out, ",\"route\":\"%s\"", e->route);
  if (e->model && e->model[0])
    rc |= tg_buf_puts(out, ",\"model\":\"") | tg_buf_json_str(out, e->model, strlen(e->model)) | tg_buf_puts(out, "\"");
  if (e->prompt_tokens >= 0) rc |= tg_buf_printf(out, ",\"prompt_tokens\":%lld", (long long)e->prompt_tokens);
  if (e->output_tokens >= 0) rc |= tg_buf_printf(out, ",\"output_tokens\":%lld", (long long)e->output_tokens);
  if (r->t_body_ns) rc |= tg_buf_printf(out, ",\"ttft_ms\":%.3f", ms_between(r->t_start_ns, r->t_body_ns));
  double secs = e->eval_ns > 0 ? (double)e->eval_ns / 1e9
                : r->t_body_ns ? ms_between(r->t_body_ns, e->now_ns) / 1e3
                               : 0;
  if (e->output_tokens > 0 && secs > 0)
    rc |= tg_buf_printf(out, ",\"tokens_per_s\":%.1f", (double)e->output_tokens / secs);
  return rc;
}

int tg_access_format(tg_buf *out, const tg_access_entry *e) {
  const tg_access_rec *r = e->rec;
  int rc = format_time(out);
  rc |= tg_buf_puts(out, ",\"client\":\"");
  rc |= tg_buf_json_str(out, e->client, strlen(e->client));
  rc |= tg_buf_printf(out, "\",\"method\":\"%s\",\"path\":\"", e->method);
  rc |= tg_buf_json_str(out, e->path, e->path_len);
  rc |= tg_buf_printf(out, "\",\"status\":%d,\"bytes_in\":%llu,\"bytes_out\":%llu", e->status,
                      (unsigned long long)r->bytes_in, (unsigned long long)r->bytes_out);
  if (r->t_first_ns) rc |= tg_buf_printf(out, ",\"ttfb_ms\":%.3f", ms_between(r->t_start_ns, r->t_first_ns));
  else rc |= tg_buf_puts(out, ",\"ttfb_ms\":null");
  rc |= tg_buf_printf(out, ",\"duration_ms\":%.3f", ms_between(r->t_start_ns, e->now_ns));
  if (e->upstream) rc |= tg_buf_printf(out, ",\"upstream\":\"%s\"", e->upstream);
  else rc |= tg_buf_puts(out, ",\"upstream\":null");
  if (e->upstream_error) rc |= tg_buf_printf(out, ",\"upstream_error\":\"%s\"", e->upstream_error);
  if (e->server) rc |= tg_buf_printf(out, ",\"server\":\"%s\"", e->server);
  else rc |= tg_buf_puts(out, ",\"server\":null");
  if (e->failovers) rc |= tg_buf_printf(out, ",\"failovers\":%u", e->failovers);
  if (e->affinity_on) rc |= tg_buf_printf(out, ",\"affinity\":%u", e->affinity);
  if (e->user) {
    rc |= tg_buf_puts(out, ",\"user\":\"");
    rc |= tg_buf_json_str(out, e->user, strlen(e->user));
    rc |= tg_buf_puts(out, "\"");
  } else {
    rc |= tg_buf_puts(out, ",\"user\":null");
  }
  if (e->auth) rc |= tg_buf_printf(out, ",\"auth\":\"%s\"", e->auth);
  if (r->refused_by) rc |= tg_buf_printf(out, ",\"refused_by\":\"%s\"", r->refused_by);
  if (r->queued_ms) rc |= tg_buf_printf(out, ",\"queued_ms\":%u", r->queued_ms);
  rc |= format_conn(out, e->conn);
  rc |= format_llm(out, e);
  rc |= tg_buf_printf(out, ",\"client_aborted\":%s}\n", e->client_aborted ? "true" : "false");
  return rc ? -1 : 0;
}

static void access_log_flush(tg_access_log *l);
static void access_log_written(uv_fs_t *req);

/* Lines that could not be written or were dropped are said so in the error
 * log, once a second at most (a full disk would otherwise flood it). */
static void access_log_complain(tg_access_log *l, int err) {
  uint64_t now = uv_now(l->loop);
  if (l->complained_ms && now - l->complained_ms < 1000) return;
  l->complained_ms = now;
  if (err < 0)
    tg_log_error("access log: write failed: %s (%llu bytes of lines lost)", uv_strerror(err),
                 (unsigned long long)l->lost_bytes);
  else
    tg_log_error("access log: %llu lines dropped: the destination did not keep up (a backlog past %u bytes)",
                 (unsigned long long)l->dropped, TG_ACCESS_LOG_MAX);
  l->lost_bytes = 0;
  l->dropped = 0;
}

/* Hands inflight to the thread pool; what cannot be handed over is lost, loudly. */
static void access_log_send(tg_access_log *l) {
  uv_buf_t b = uv_buf_init(l->inflight.data, (unsigned)l->inflight.len);
  l->req.data = l;
  int rc = uv_fs_write(l->loop, &l->req, l->fd, &b, 1, -1, access_log_written);
  if (rc == 0) {
    l->busy = 1;
    return;
  }
  l->lost_bytes += l->inflight.len;
  l->inflight.len = 0;
  access_log_complain(l, rc);
}

static void access_log_written(uv_fs_t *req) {
  tg_access_log *l = req->data;
  ssize_t n = req->result;
  uv_fs_req_cleanup(req);
  l->busy = 0;
  if (n > 0 && (size_t)n < l->inflight.len) { /* a short write: the rest goes now */
    tg_buf_consume(&l->inflight, (size_t)n);
    access_log_send(l);
    return;
  }
  if (n <= 0 && l->inflight.len) {
    l->lost_bytes += l->inflight.len;
    access_log_complain(l, n < 0 ? (int)n : UV_EIO);
  } else if (l->dropped) {
    access_log_complain(l, 0);
  }
  l->inflight.len = 0;
  if (l->waiting.len >= TG_ACCESS_LOG_BATCH || !uv_is_active((uv_handle_t *)&l->timer)) access_log_flush(l);
}

static void access_log_timer_cb(uv_timer_t *t) {
  tg_access_log *l = t->data;
  if (l->waiting.len == 0) uv_timer_stop(t);
  access_log_flush(l);
}

static void access_log_flush(tg_access_log *l) {
  if (l->busy || l->waiting.len == 0) return;
  tg_buf t = l->inflight;
  l->inflight = l->waiting;
  l->waiting = t;
  l->waiting.len = 0;
  access_log_send(l);
}

void tg_access_log_write(tg_access_log *l, const tg_access_entry *e) {
  if (l->fd < 0) return;
  if (l->waiting.len > TG_ACCESS_LOG_MAX) {
    l->dropped++;
    return;
  }
  size_t before = l->waiting.len;
  if (tg_access_format(&l->waiting, e) < 0) { /* out of memory: no half line */
    l->waiting.len = before;
    l->dropped++;
    return;
  }
  if (l->waiting.len >= TG_ACCESS_LOG_BATCH) access_log_flush(l);
  else if (!uv_is_active((uv_handle_t *)&l->timer) &&
           uv_timer_start(&l->timer, access_log_timer_cb, TG_ACCESS_LOG_FLUSH_MS, TG_ACCESS_LOG_FLUSH_MS) < 0)
    access_log_flush(l); /* no timer (the loop is closing): now */
}

void tg_access_log_stop(tg_access_log *l) {
  access_log_flush(l);
  uv_close((uv_handle_t *)&l->timer, NULL);
}

void tg_access_log_free(tg_access_log *l) {
  tg_buf_free(&l->inflight);
  tg_buf_free(&l->waiting);
}
