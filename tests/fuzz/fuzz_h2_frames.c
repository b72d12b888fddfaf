/* libFuzzer target for the HTTP/2 session (src/h2/h2-session.c over
 * libnghttp2, with src/h2/h2-head.c).
 *
 * Input: byte 0 is the read size the client's bytes arrive in (bits 0-2:
 * all, 1, 7, 9, 64, 512, 4096, all), bit 3 answers each stream at once
 * (else at the end), bits 4-5 the max concurrent streams (1, 2, 8, 128);
 * the rest are frames after the client preface, which the target adds.
 * Each read is a tenth of a second after the one before. The layer above
 * consumes every body byte at once and answers each request with a 200
 * and a small body, deferred once then resumed.
 *
 * Invariants: ASan/UBSan clean, no leak; never more streams open than the
 * limit; every stream opened is closed exactly once (at the latest when
 * the session is freed); nothing is handed up for a stream after it
 * closed; whatever the session writes starts with a SETTINGS frame and is
 * whole frames. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate/h2-session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                                       \
  do {                                                                                                                 \
    if (!(c)) __builtin_trap();                                                                                        \
  } while (0)

#define MAXS 512

typedef struct fz {
  size_t limit, opens, closes;
  int answer_now;
  tg_h2_stream *open[MAXS]; /* streams opened and not closed */
  uint8_t deferred[MAXS];
  tg_buf out;
} fz;

static int slot_of(fz *f, const tg_h2_stream *st) {
  for (int i = 0; i < MAXS; i++)
    if (f->open[i] == st) return i;
  return -1;
}

static int on_open(void *ctx, tg_h2_stream *st, int end_stream) {
  fz *f = ctx;
  (void)end_stream;
  CHECK(slot_of(f, st) < 0);
  int i = slot_of(f, NULL);
  CHECK(i >= 0);
  f->open[i] = st;
  f->deferred[i] = 0;
  f->opens++;
  CHECK(tg_h2_session_streams(st->session) <= f->limit);
  if (f->answer_now) tg_h2_respond(st, 200, NULL, 1);
  return 0;
}

static int on_data(void *ctx, tg_h2_stream *st, const uint8_t *p, size_t n) {
  (void)p;
  CHECK(slot_of(ctx, st) >= 0);
  tg_h2_consume(st, n);
  return 0;
}

static void on_body_end(void *ctx, tg_h2_stream *st) { CHECK(slot_of(ctx, st) >= 0); }

static void on_close(void *ctx, tg_h2_stream *st, uint32_t error) {
  fz *f = ctx;
  (void)error;
  int i = slot_of(f, st);
  CHECK(i >= 0);
  f->open[i] = NULL;
  f->closes++;
}

static long on_read(void *ctx, tg_h2_stream *st, uint8_t *buf, size_t n, int *eof) {
  fz *f = ctx;
  int i = slot_of(f, st);
  CHECK(i >= 0);
  if (!f->deferred[i]) {
    f->deferred[i] = 1;
    return TG_H2_DEFER;
  }
  size_t k = n < 5 ? n : 5;
  memcpy(buf, "hello", k);
  *eof = 1;
  return (long)k;
}

static int on_write(void *ctx, const uint8_t *p, size_t n) { return tg_buf_append(&((fz *)ctx)->out, p, n); }

static const tg_h2_up fz_up = {on_open, on_data, on_body_end, on_close, on_read, on_write};

/* Resumes every deferred stream. */
static void resume_all(fz *f) {
  for (int i = 0; i < MAXS; i++)
    if (f->open[i] && f->deferred[i]) tg_h2_resume(f->open[i]);
}

static void check_frames(const tg_buf *out) {
  size_t i = 0;
  CHECK(out->len >= 9 && (uint8_t)out->data[3] == 4 /* SETTINGS */);
  while (i + 9 <= out->len)
    i += 9 + ((size_t)(uint8_t)out->data[i] << 16 | (size_t)(uint8_t)out->data[i + 1] << 8 | (uint8_t)out->data[i + 2]);
  CHECK(i == out->len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const size_t steps[] = {(size_t)-1, 1, 7, 9, 64, 512, 4096, (size_t)-1};
  static const uint32_t limits[] = {1, 2, 8, 128};
  static const char magic[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  if (size < 1) return 0;
  fz f = {.limit = limits[(data[0] >> 4) & 3], .answer_now = (data[0] >> 3) & 1};
  tg_h2_settings set;
  tg_h2_settings_default(&set);
  set.max_concurrent_streams = (uint32_t)f.limit;
  tg_h2_counters count = {0};
  tg_h2_session *s = tg_h2_session_new(&set, &fz_up, &f, &count);
  CHECK(s);
  tg_buf in = {0};
  tg_buf_append(&in, magic, sizeof magic - 1);
  tg_buf_append(&in, data + 1, size - 1);
  size_t step = steps[data[0] & 7], off = 0;
  uint64_t now = 0;
  int over = tg_h2_session_send(s) < 0;
  while (!over && off < in.len) {
    size_t n = in.len - off < step ? in.len - off : step;
    over = tg_h2_session_recv(s, (const uint8_t *)in.data + off, n, now += 100) < 0;
    off += n;
    resume_all(&f);
    if (tg_h2_session_send(s) < 0 || tg_h2_session_done(s)) over = 1;
  }
  if (!over && !f.answer_now) {
    for (int i = 0; i < MAXS; i++)
      if (f.open[i] && !f.open[i]->responding) tg_h2_respond(f.open[i], 204, NULL, 0);
    tg_h2_session_send(s);
  }
  check_frames(&f.out);
  tg_h2_session_free(s);
  CHECK(f.opens == f.closes);
  tg_buf_free(&in);
  tg_buf_free(&f.out);
  return 0;
}
