/* The directives of an upstream block for `balance model`'s queue at the
 * gateway and its fairness bound (docs/upstreams.md#balance-model):
 *   fairness D;             how long a request waits before it may swap
 *                           a busy server's model (0: at once)
 *   queue N [timeout D];    requests held at once (0: none, 503 at once),
 *                           and how long each may wait
 *   affinity_table N;       conversation affinity's entries (0: off)
 *   affinity_slack D|auto;  how much longer than the best a wait may be
 *                           to reach a server holding the prompt's prefix */
#include <string.h>

#include "syntax.h"

#define ERR(errs, tok, ...) tg_cfg_error_at((errs), (tok)->line, (tok)->col, __VA_ARGS__)
#define MAX_FAIRNESS_MS (3600ull * 1000)
#define MAX_QUEUE 1000000
#define MAX_QUEUE_TIMEOUT_MS (24ull * 3600 * 1000)

void tg_cfg_fairness_directive(tg_upstream_conf *u, const tg_cfg_node *n, tg_cfg_errors *errs) {
  uint64_t v;
  if (tg_duration_parse(n->args[0].text, &v) < 0 || v > MAX_FAIRNESS_MS)
    ERR(errs, &n->args[0], "'fairness' takes a duration from 0 to 1h, not '%s'", n->args[0].text);
  else u->model.fairness_ms = v;
}

void tg_cfg_queue_directive(tg_upstream_conf *u, const tg_cfg_node *n, tg_cfg_errors *errs) {
  uint64_t v;
  if (tg_cfg_parse_uint(n->args[0].text, MAX_QUEUE, &v) < 0) {
    ERR(errs, &n->args[0], "'queue' takes a number from 0 to %d, not '%s'", MAX_QUEUE, n->args[0].text);
    return;
  }
  u->model.queue_max = (unsigned)v;
  if (n->nargs == 1) return;
  if (strcmp(n->args[1].text, "timeout") != 0) {
    ERR(errs, &n->args[1], "'queue' takes N [timeout D], not '%s'", n->args[1].text);
    return;
  }
  if (n->nargs < 3) {
    ERR(errs, &n->args[1], "missing duration after 'queue %s timeout'", n->args[0].text);
    return;
  }
  if (tg_duration_parse(n->args[2].text, &v) < 0 || v == 0 || v > MAX_QUEUE_TIMEOUT_MS)
    ERR(errs, &n->args[2], "'queue timeout' takes a duration from 1ms to 24h, not '%s'", n->args[2].text);
  else u->model.queue_timeout_ms = v;
}

#define MAX_AFFINITY_TABLE (64ull << 20)
#define MAX_AFFINITY_SLACK_MS (3600ull * 1000)

void tg_cfg_affinity_table_directive(tg_upstream_conf *u, const tg_cfg_node *n, tg_cfg_errors *errs) {
  uint64_t v;
  if (tg_cfg_parse_uint(n->args[0].text, MAX_AFFINITY_TABLE, &v) < 0)
    ERR(errs, &n->args[0], "'affinity_table' takes a number of entries from 0 (off) to %llu, not '%s'",
        (unsigned long long)MAX_AFFINITY_TABLE, n->args[0].text);
  else u->model.affinity_table = v;
}

void tg_cfg_affinity_slack_directive(tg_upstream_conf *u, const tg_cfg_node *n, tg_cfg_errors *errs) {
  uint64_t v;
  if (strcmp(n->args[0].text, "auto") == 0) u->model.affinity_slack_ms = UINT64_MAX;
  else if (tg_duration_parse(n->args[0].text, &v) < 0 || v > MAX_AFFINITY_SLACK_MS)
    ERR(errs, &n->args[0], "'affinity_slack' takes 'auto' or a duration from 0 to 1h, not '%s'", n->args[0].text);
  else u->model.affinity_slack_ms = v;
}
