/* fault.c: server-wide faults for failover tests, set with
 * POST /_mock/fault {"mode":...} and cleared by mode "none" or /_mock/reset:
 *   busy    every generation and embedding request gets Ollama's 503
 *   reset   every request is answered with a TCP reset, no byte sent
 *   cut     every stream, live or new, is reset once it has sent
 *           "after_tokens" tokens (default 1)
 *   crash   every open connection is reset now and the process exits:
 *           from then on the port refuses connections
 * The mode is one atomic value: every worker thread sees it. */
#include "mock.h"

#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

static atomic_int fault_mode;
static atomic_int fault_after = 1;

mock_fault_t mock_fault_mode(void) { return (mock_fault_t)atomic_load(&fault_mode); }

int mock_fault_cut_after(void) { return atomic_load(&fault_mode) == MOCK_FAULT_CUT ? atomic_load(&fault_after) : -1; }

void mock_fault_clear(void) { atomic_store(&fault_mode, MOCK_FAULT_NONE); }

/* crash: reset this worker's connections (the others close when the
 * process ends), then exit at once. */
static uv_timer_t crash_timer;

static void fault_crash(uv_timer_t *t) {
  mock_worker_t *w = t->data;
  while (w->conns) mock_conn_abort(w->conns, true);
  _exit(0);
}

void mock_fault_route(mock_conn_t *c) {
  static const char *const names[] = {"none", "busy", "reset", "cut"};
  json_error_t jerr;
  json_t *req = json_loadb(c->req.body.p ? c->req.body.p : "", c->req.body.len, 0, &jerr);
  const char *mode = json_string_value(json_object_get(req, "mode"));
  json_t *after = json_object_get(req, "after_tokens");
  int m = -1;
  for (int i = 0; mode && i < 4; i++)
    if (strcmp(mode, names[i]) == 0) m = i;
  static bool crashing;
  if (mode && strcmp(mode, "crash") == 0) {
    mock_respond_json(c, 200, json_pack("{s:s}", "mode", "crash"));
    if (!crashing) {
      crashing = true;
      uv_timer_init(&c->worker->loop, &crash_timer);
      crash_timer.data = c->worker;
      uv_timer_start(&crash_timer, fault_crash, 20, 0); /* let the answer go out first */
    }
  } else if (m < 0 || (after && (!json_is_integer(after) || json_integer_value(after) < 0))) {
    mock_respond_error(c, 400, "mode: none, busy, reset, cut or crash; after_tokens: a count", false);
  } else {
    if (after) atomic_store(&fault_after, (int)json_integer_value(after));
    atomic_store(&fault_mode, m);
    mock_respond_json(c, 200, json_pack("{s:s}", "mode", names[m]));
  }
  json_decref(req);
}
