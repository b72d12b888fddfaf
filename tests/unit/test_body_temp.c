/* Unit tests: a request body in a temporary file (src/io/body-temp.c) on a
 * private loop: every byte written comes back in order, the writer is
 * paused and let go, the file never has a name, a missing directory fails,
 * and a release with a write under way frees it all (ASan's leak check). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tg_test.h"
#include "tollgate/body-temp.h"
#include "tollgate/buf.h"

typedef struct rig {
  uv_loop_t loop;
  tg_body_temp *t;
  int room, flushed, failed;
  tg_buf got;
} rig;

static void on_event(void *owner, tg_body_temp_event ev, size_t n) {
  rig *r = owner;
  if (ev == TG_BODY_TEMP_ROOM) r->room++;
  else if (ev == TG_BODY_TEMP_FLUSHED) r->flushed++;
  else if (ev == TG_BODY_TEMP_FAILED) r->failed++;
  else if (tg_buf_append(&r->got, tg_body_temp_data(r->t), n) == 0) tg_body_temp_next(r->t);
}

static void fill(char *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++) p[i] = (char)((i * 131 + seed) >> 3);
}

/* A loop and a body file in dir (a fresh directory when dir ends in XXXXXX). */
static int rig_open(rig *r, char *dir) {
  memset(r, 0, sizeof *r);
  if (strstr(dir, "XXXXXX") && !mkdtemp(dir)) return -1;
  if (uv_loop_init(&r->loop)) return -1;
  return (r->t = tg_body_temp_new(&r->loop, dir, on_event, r)) ? 0 : -1;
}

static void test_body_temp_gives_back_every_byte(void) {
  char dir[] = "/tmp/tg-body-temp-XXXXXX";
  rig r;
  TG_CHECK(rig_open(&r, dir) == 0);
  size_t n = 3u << 20, piece = 10000;
  char *body = malloc(n);
  TG_CHECK(body);
  fill(body, n, 7);
  int paused = 0;
  for (size_t off = 0; off < n; off += piece) {
    size_t k = n - off < piece ? n - off : piece;
    int rc = tg_body_temp_write(r.t, body + off, k);
    TG_CHECK(rc >= 0);
    if (rc == 1) { /* the writer waits for the disk, as a client is not read */
      paused++;
      int before = r.room;
      while (r.room == before && !r.failed) uv_run(&r.loop, UV_RUN_ONCE);
    }
  }
  TG_CHECK(paused > 0);
  TG_CHECK(r.room == paused);
  TG_CHECK(tg_body_temp_size(r.t) == n);
  if (!tg_body_temp_flushed(r.t))
    while (!r.flushed && !r.failed) uv_run(&r.loop, UV_RUN_ONCE);
  TG_CHECK(!r.failed && tg_body_temp_flushed(r.t));
  TG_CHECK(rmdir(dir) == 0);                /* empty: the file has no name (its descriptor still reads it) */
  for (int round = 0; round < 2; round++) { /* twice: a failover reads it again */
    r.got.len = 0;
    tg_body_temp_rewind(r.t);
    if (round) tg_body_temp_rewind(r.t); /* a rewind while a read runs: that piece is dropped */
    uv_run(&r.loop, UV_RUN_DEFAULT);
    TG_CHECK(r.got.len == n);
    TG_CHECK(memcmp(r.got.data, body, n) == 0);
    TG_CHECK(tg_body_temp_read_all(r.t));
  }
  tg_body_temp_release(r.t);
  uv_run(&r.loop, UV_RUN_DEFAULT); /* the close, on the thread pool */
  TG_CHECK(uv_loop_close(&r.loop) == 0);
  tg_buf_free(&r.got);
  free(body);
}

static void test_body_temp_missing_dir_fails(void) {
  char dir[] = "/nonexistent/tollgate-dir";
  rig r;
  TG_CHECK(rig_open(&r, dir) == 0);
  TG_CHECK(tg_body_temp_write(r.t, "{}", 2) == 0);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  TG_CHECK(r.failed == 1 && tg_body_temp_error(r.t) == ENOENT);
  TG_CHECK(tg_body_temp_write(r.t, "{}", 2) == -1);
  tg_body_temp_release(r.t);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  TG_CHECK(uv_loop_close(&r.loop) == 0);
}

static void test_body_temp_release_with_a_write_under_way(void) {
  char dir[] = "/tmp/tg-body-temp-XXXXXX";
  rig r;
  TG_CHECK(rig_open(&r, dir) == 0);
  static char big[300 * 1024];
  TG_CHECK(tg_body_temp_write(r.t, big, 1) == 0);          /* goes to the thread pool at once */
  TG_CHECK(tg_body_temp_write(r.t, big, sizeof big) == 1); /* waits behind it: past the mark */
  tg_body_temp_release(r.t);                               /* the owner is gone: no more events */
  uv_run(&r.loop, UV_RUN_DEFAULT);
  TG_CHECK(r.room == 0 && r.flushed == 0 && r.failed == 0);
  TG_CHECK(uv_loop_close(&r.loop) == 0);
  TG_CHECK(rmdir(dir) == 0); /* empty */
}

void tg_suite_body_temp(void) {
  TG_RUN(test_body_temp_gives_back_every_byte);
  TG_RUN(test_body_temp_missing_dir_fails);
  TG_RUN(test_body_temp_release_with_a_write_under_way);
}
