/* The error log (see tollgate/log.h). */
#include "tollgate/log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const level_names[] = {"error", "warn", "info"};

static size_t put_time(char *out, size_t cap, long long now_ms) {
  time_t secs = (time_t)(now_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
  int m = snprintf(out + n, cap - n, ".%03dZ ", (int)(now_ms % 1000));
  return n + (size_t)(m > 0 ? m : 0);
}

size_t tg_log_format(char *out, tg_log_level lvl, const char *request_id, long long now_ms, const char *fmt,
                     va_list ap) {
  const size_t cap = TG_LOG_LINE_MAX - 1; /* room for the newline */
  size_t n = put_time(out, cap, now_ms);
  int m = request_id && request_id[0] ? snprintf(out + n, cap - n, "%s [%s] ", level_names[lvl], request_id)
                                      : snprintf(out + n, cap - n, "%s ", level_names[lvl]);
  n += (size_t)(m > 0 ? m : 0);
  if (n >= cap) n = cap - 1;
  m = vsnprintf(out + n, cap - n, fmt, ap);
  if (m < 0) m = 0;
  if ((size_t)m >= cap - n) { /* cut: say so */
    n = cap;
    memcpy(out + n - 3, "...", 3);
  } else {
    n += (size_t)m;
  }
  out[n++] = '\n';
  return n;
}

void tg_vlog(tg_log_level lvl, const char *request_id, const char *fmt, va_list ap) {
  char line[TG_LOG_LINE_MAX];
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  long long now_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  ssize_t w = write(STDERR_FILENO, line, tg_log_format(line, lvl, request_id, now_ms, fmt, ap));
  (void)w; /* nowhere left to report a failed write of the error log */
}
