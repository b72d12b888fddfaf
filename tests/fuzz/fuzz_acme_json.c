// libFuzzer target for what tollgate reads from an ACME server
// (src/acme/acme-json.c): the same bytes go to the directory, order,
// authorization and problem-document parsers. Each either fills its struct
// or says why not, never crashes, leaks or reads past the input; what it
// fills is complete (every listed URL present, strings NUL-terminated).
//   make fuzz-build && FUZZ_ONLY=fuzz_acme_json tests/fuzz/run.sh build-fuzz 60
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tollgate/acme.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const char *s, size_t cap) {
  if (strnlen(s, cap) == cap) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *json = (const char *)data;
  char err[200], out[400], type[64];
  tg_acme_directory d;
  if (tg_acme_directory_parse(json, size, &d, err, sizeof err) == 0 && (!d.new_nonce || !d.new_account || !d.new_order))
    __builtin_trap();
  tg_acme_directory_free(&d);
  tg_acme_order o;
  if (tg_acme_order_parse(json, size, &o, err, sizeof err) == 0) {
    if (!o.finalize || o.status == TG_ACME_ST_UNKNOWN) __builtin_trap();
    for (size_t i = 0; i < o.nauthz; i++)
      if (!o.authz[i]) __builtin_trap();
    check_str(o.problem, sizeof o.problem);
  }
  tg_acme_order_free(&o);
  tg_acme_authz a;
  if (tg_acme_authz_parse(json, size, &a, err, sizeof err) == 0) {
    if (!a.name) __builtin_trap();
    for (size_t i = 0; i < a.nchall; i++) {
      if (!a.chall[i].type || !a.chall[i].url) __builtin_trap();
      check_str(a.chall[i].problem, sizeof a.chall[i].problem);
    }
  }
  tg_acme_authz_free(&a);
  tg_acme_problem_text(json, size, out, sizeof out, type, sizeof type);
  check_str(out, sizeof out);
  check_str(type, sizeof type);
  tg_acme_problem_text(json, size, out, 1, type, 1); /* the smallest buffers */
  if (out[0] || type[0]) __builtin_trap();
  return 0;
}
