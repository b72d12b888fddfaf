/* Unit tests: the ordered output sink and the per-read batch
 * (src/io/sink.c), over a socketpair: every byte handed over arrives,
 * in order, whatever its size. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tg_test.h"
#include "tollgate/sink.h"

typedef struct sink_rig {
  uv_loop_t loop;
  uv_pipe_t pipe;
  tg_sink sink;
  int peer;    /* the other end, read by the test */
  int drained; /* on_drain calls */
  tg_buf got;  /* what the peer read */
} sink_rig;

static void rig_drained(tg_sink *s, int status) {
  sink_rig *r = s->stream->data;
  (void)status;
  r->drained++;
}

static int rig_open(sink_rig *r, int sndbuf) {
  int sv[2];
  memset(r, 0, sizeof *r);
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) return -1;
  if (sndbuf) setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  fcntl(sv[1], F_SETFL, O_NONBLOCK);
  r->peer = sv[1];
  if (uv_loop_init(&r->loop) || uv_pipe_init(&r->loop, &r->pipe, 0) || uv_pipe_open(&r->pipe, sv[0])) return -1;
  r->pipe.data = r;
  tg_sink_init(&r->sink, (uv_stream_t *)&r->pipe, rig_drained);
  return 0;
}

/* Reads what the peer has now into r->got. */
static void rig_read(sink_rig *r) {
  char tmp[65536];
  ssize_t n;
  while ((n = read(r->peer, tmp, sizeof tmp)) > 0) tg_buf_append(&r->got, tmp, (size_t)n);
}

/* Runs the loop and reads the peer until want bytes arrived (or nothing moves). */
static void rig_collect(sink_rig *r, size_t want) {
  for (int idle = 0; r->got.len < want && idle < 1000;) {
    size_t before = r->got.len;
    uv_run(&r->loop, UV_RUN_NOWAIT);
    rig_read(r);
    idle = r->got.len == before ? idle + 1 : 0;
  }
}

static void rig_close(sink_rig *r) {
  uv_close((uv_handle_t *)&r->pipe, NULL);
  uv_run(&r->loop, UV_RUN_DEFAULT);
  uv_loop_close(&r->loop);
  tg_sink_free(&r->sink);
  tg_buf_free(&r->got);
  close(r->peer);
}

static void fill(char *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++) p[i] = (char)('a' + (i * 7 + seed) % 26);
}

/* A copy larger than the batch's scratch used to vanish without a word. */
static void test_batch_copy_larger_than_scratch_arrives(void) {
  static tg_batch b;
  sink_rig r;
  char big[5000], expect[5000 + 16];
  TG_CHECK(rig_open(&r, 0) == 0);
  fill(big, sizeof big, 1);
  tg_batch_begin(&b, &r.sink);
  tg_batch_add_copy(&b, "1388\r\n", 6);
  tg_batch_add_copy(&b, big, sizeof big);
  tg_batch_add_copy(&b, "\r\n", 2);
  tg_batch_add(&b, "0\r\n\r\n", 5);
  tg_batch_flush(&b);
  memcpy(expect, "1388\r\n", 6);
  memcpy(expect + 6, big, sizeof big);
  memcpy(expect + 6 + sizeof big, "\r\n0\r\n\r\n", 7);
  rig_collect(&r, sizeof big + 13);
  TG_CHECK(b.status == 0);
  TG_CHECK(b.bytes == sizeof big + 13);
  TG_CHECK(r.got.len == sizeof big + 13);
  TG_CHECK(memcmp(r.got.data, expect, r.got.len) == 0);
  rig_close(&r);
}

/* The copy is taken at once: the caller may reuse its buffer before the flush. */
static void test_batch_copy_survives_the_callers_buffer(void) {
  static tg_batch b;
  sink_rig r;
  char tmp[3000], orig[3000];
  TG_CHECK(rig_open(&r, 0) == 0);
  fill(tmp, sizeof tmp, 2);
  memcpy(orig, tmp, sizeof tmp);
  tg_batch_begin(&b, &r.sink);
  tg_batch_add_copy(&b, "x", 1);
  tg_batch_add_copy(&b, tmp, sizeof tmp);
  memset(tmp, '!', sizeof tmp);
  tg_batch_add_copy(&b, tmp, 10); /* a small copy of the reused buffer */
  tg_batch_flush(&b);
  rig_collect(&r, 1 + sizeof orig + 10);
  TG_CHECK(r.got.len == 1 + sizeof orig + 10);
  TG_CHECK(r.got.data[0] == 'x');
  TG_CHECK(memcmp(r.got.data + 1, orig, sizeof orig) == 0);
  TG_CHECK(memcmp(r.got.data + 1 + sizeof orig, "!!!!!!!!!!", 10) == 0);
  rig_close(&r);
}

/* Many small copies and references past the scratch and the iovec count:
 * flushed in between, in order. */
static void test_batch_many_pieces_in_order(void) {
  static tg_batch b;
  static char refs[200][40];
  sink_rig r;
  tg_buf expect = {0};
  TG_CHECK(rig_open(&r, 0) == 0);
  tg_batch_begin(&b, &r.sink);
  for (int i = 0; i < 200; i++) {
    char line[24];
    int n = snprintf(line, sizeof line, "%x\r\n", i);
    tg_batch_add_copy(&b, line, (size_t)n);
    tg_buf_append(&expect, line, (size_t)n);
    fill(refs[i], sizeof refs[i], (unsigned)i);
    tg_batch_add(&b, refs[i], sizeof refs[i]);
    tg_buf_append(&expect, refs[i], sizeof refs[i]);
  }
  tg_batch_flush(&b);
  rig_collect(&r, expect.len);
  TG_CHECK(r.got.len == expect.len);
  TG_CHECK(memcmp(r.got.data, expect.data, expect.len) == 0);
  tg_buf_free(&expect);
  rig_close(&r);
}

/* A socket that takes little: the rest is queued (status 1), then drains. */
static void test_sink_queues_what_the_socket_does_not_take(void) {
  static tg_batch b;
  sink_rig r;
  size_t n = 1 << 20;
  char *big = malloc(n);
  TG_CHECK(big && rig_open(&r, 4096) == 0);
  fill(big, n, 3);
  tg_batch_begin(&b, &r.sink);
  tg_batch_add_copy(&b, big, 4000); /* larger than scratch */
  tg_batch_add(&b, big + 4000, n - 4000);
  TG_CHECK(tg_batch_flush(&b) == 1);
  rig_collect(&r, n);
  TG_CHECK(r.got.len == n);
  TG_CHECK(memcmp(r.got.data, big, n) == 0);
  TG_CHECK(r.drained == 1 && !r.sink.busy);
  free(big);
  rig_close(&r);
}

void tg_suite_sink(void) {
  TG_RUN(test_batch_copy_larger_than_scratch_arrives);
  TG_RUN(test_batch_copy_survives_the_callers_buffer);
  TG_RUN(test_batch_many_pieces_in_order);
  TG_RUN(test_sink_queues_what_the_socket_does_not_take);
}
