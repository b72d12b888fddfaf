/* The error log: one line per event on stderr, for a person to read.
 *
 *   2026-12-07T17:40:12.345Z error [3f2a9c0e] POST /api/chat: 502 upstream refused the connection
 *   2026-12-07T17:40:12.346Z info listening on 127.0.0.1:8080 (2 workers), proxying to 127.0.0.1:11434
 *
 * An RFC 3339 timestamp in UTC with milliseconds, a level (error, warn,
 * info), the request id in brackets when the line is about one request, and
 * the message. A line is written with one write(2) (lines from several
 * threads do not interleave) and is cut at TG_LOG_LINE_MAX bytes with "..."
 * so a cut is visible. Callers never pass a secret. */
#ifndef TOLLGATE_LOG_H
#define TOLLGATE_LOG_H

#include <stdarg.h>
#include <stddef.h>

#define TG_LOG_LINE_MAX 1024

typedef enum { TG_LOG_ERROR, TG_LOG_WARN, TG_LOG_INFO } tg_log_level;

/* One line at level lvl; request_id NULL or "" when the line is about no
 * single request. Every other function here ends in this one (the fuzz
 * targets silence the log by wrapping it at link time). */
void tg_vlog(tg_log_level lvl, const char *request_id, const char *fmt, va_list ap);

static inline __attribute__((format(printf, 3, 4))) void tg_log(tg_log_level lvl, const char *request_id,
                                                                const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  tg_vlog(lvl, request_id, fmt, ap);
  va_end(ap);
}

/* The common cases: a line about no single request. */
#define tg_log_error(...) tg_log(TG_LOG_ERROR, NULL, __VA_ARGS__)
#define tg_log_warn(...) tg_log(TG_LOG_WARN, NULL, __VA_ARGS__)
#define tg_log_info(...) tg_log(TG_LOG_INFO, NULL, __VA_ARGS__)

/* Formats one line (with its newline) into out, at most TG_LOG_LINE_MAX
 * bytes. now_ms is the wall clock in ms since the epoch. Returns the
 * line's length. */
size_t tg_log_format(char *out, tg_log_level lvl, const char *request_id, long long now_ms, const char *fmt,
                     va_list ap);

#endif
