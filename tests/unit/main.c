#include "tg_test.h"

int tg_test_passed, tg_test_failed, tg_test_current_failed;

/* One line per suite; each lives in its own file. */
void tg_suite_base(void);
void tg_suite_config(void);
void tg_suite_headers(void);
void tg_suite_framing(void);
void tg_suite_auth(void);
void tg_suite_llm(void);
void tg_suite_model_name(void);
void tg_suite_limits(void);
void tg_suite_tls(void);
void tg_suite_quota(void);
void tg_suite_acme(void);
void tg_suite_metrics(void);
void tg_suite_live(void);
void tg_suite_log(void);
void tg_suite_sink(void);
void tg_suite_body_temp(void);
void tg_suite_http_client(void);
void tg_suite_deadline(void);
void tg_suite_loop_turn(void);
void tg_suite_shard_table(void);
void tg_suite_exchange(void);
void tg_suite_notify(void);
void tg_suite_fanout(void);
void tg_suite_suggest(void);
void tg_suite_servers(void);
void tg_suite_affinity(void);
void tg_suite_model_plan(void);
void tg_suite_shared(void);
void tg_suite_h2_head(void);
void tg_suite_h2_session(void);

int main(void) {
  tg_suite_base();
  tg_suite_config();
  tg_suite_headers();
  tg_suite_framing();
  tg_suite_auth();
  tg_suite_llm();
  tg_suite_model_name();
  tg_suite_limits();
  tg_suite_tls();
  tg_suite_quota();
  tg_suite_acme();
  tg_suite_metrics();
  tg_suite_live();
  tg_suite_log();
  tg_suite_sink();
  tg_suite_body_temp();
  tg_suite_http_client();
  tg_suite_deadline();
  tg_suite_loop_turn();
  tg_suite_shard_table();
  tg_suite_exchange();
  tg_suite_notify();
  tg_suite_suggest();
  tg_suite_servers();
  tg_suite_affinity();
  tg_suite_model_plan();
  tg_suite_fanout();
  tg_suite_shared();
  tg_suite_h2_head();
  tg_suite_h2_session();
  printf("unit: %d passed, %d failed\n", tg_test_passed, tg_test_failed);
  return tg_test_failed ? 1 : 0;
}
