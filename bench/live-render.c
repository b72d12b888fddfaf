/* bench/live-render.c: what rendering /status.json costs the admin thread
 * with N live streams, apart from the machine's other load: N streams
 * registered on one worker-like thread (with their facts and tokens), then
 * /status.json rendered R times on this thread; prints the CPU time and the
 * wall time per render and the size. The N streams' registry is copied,
 * sorted and written each time, as a read of the admin listener does.
 *   make && cc -O2 -Iinclude -I/usr/share/include/llhttp -D_GNU_SOURCE -DTG_VERSION='"bench"' \
 *     -o build/live-render bench/live-render.c build/libtg.a build/llhttp/*.o \
 *     -luv -ljansson -lm -lssl -lcrypto -lcrypt -lhiredis -luring -lnghttp2 -pthread
 *   build/live-render [N=2000] [R=200] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tollgate/live-streams.h"
#include "tollgate/metrics.h"

static double now_s(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 2000, r = argc > 2 ? atoi(argv[2]) : 200;
  char ip[48], user[32];
  for (int i = 0; i < n; i++) {
    snprintf(ip, sizeof ip, "10.%d.%d.%d", i / 65536 % 256, i / 256 % 256, i % 256);
    snprintf(user, sizeof user, "user%d", i % 50);
    tg_live_stream *s = tg_live_begin(ip, 1000000000ull, TG_ROUTE_CHAT, user, i % 3 ? "llama3.2:latest" : "qwen3:8b");
    if (!s) return 1;
    tg_live_facts(s, TG_ROUTE_CHAT, NULL, NULL, i % 2 ? "10.0.0.1:11434" : "10.0.0.2:11434");
    tg_live_tokens(s, 1, 1200);
    tg_live_tokens(s, 40 + (uint64_t)i % 400, 2500);
  }
  tg_buf out = {0};
  double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_THREAD_CPUTIME_ID);
  for (int i = 0; i < r; i++) {
    out.len = 0;
    if (tg_metrics_render_json(&out) < 0) return 1;
  }
  double w = now_s(CLOCK_MONOTONIC) - w0, c = now_s(CLOCK_THREAD_CPUTIME_ID) - c0;
  printf("{\"streams\":%d,\"renders\":%d,\"bytes\":%zu,\"cpu_ms_per_render\":%.2f,\"wall_ms_per_render\":%.2f}\n", n, r,
         out.len, c * 1000 / r, w * 1000 / r);
  tg_buf_free(&out);
  return 0;
}
