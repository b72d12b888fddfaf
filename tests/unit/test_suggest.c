/* What an unknown directive's error suggests: the nginx or Caddy name's
 * counterpart, or the nearest of tollgate's own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tg_test.h"
#include "tollgate/config.h"

#define UP "upstream u { server 127.0.0.1:11434; }\n"

/* The error output of a config whose site (or top level) holds line. */
static const char *error_for(const char *top, const char *site_line, char *out, size_t size) {
  char text[512];
  snprintf(text, sizeof text, "%s\n" UP "site s {\n  listen :8080;\n  %s\n}\n", top, site_line);
  int nerr = 0;
  memset(out, 0, size);
  FILE *f = fmemopen(out, size - 1, "w"); /* the errors, written into out */
  if (!f) return "(fmemopen failed)";
  tg_config_free(tg_config_parse("t.conf", text, strlen(text), f, &nerr));
  fclose(f);
  return out;
}

static void test_suggest_nginx_and_caddy_names(void) {
  static const struct {
    const char *line, *want;
  } cases[] = {
      {"proxy_pass http://127.0.0.1:11434;", "t.conf:5:3: unknown directive 'proxy_pass': nginx's 'proxy_pass' is "
                                             "'proxy UPSTREAM;', the server going in an 'upstream' block\n"},
      {"reverse_proxy 127.0.0.1:11434;", "unknown directive 'reverse_proxy': Caddy's 'reverse_proxy' is 'proxy "},
      {"basic_auth { alice x }", "Caddy's 'basic_auth' is 'auth basic FILE;'"},
      {"basicauth { alice x }", "Caddy's 'basicauth' is 'auth basic FILE;'"},
      {"auth_basic \"x\";", "nginx's 'auth_basic' is 'auth basic FILE [realm NAME];'"},
      {"limit_req zone=x;", "nginx's 'limit_req' is 'limit rate R [burst N] [nodelay] per ip|user;' (generation"},
      {"proxy_read_timeout 1h;", "nginx's 'proxy_read_timeout' is 'timeout idle D;' in the upstream block"},
      {"proxy_send_timeout 1h;", "nginx's 'proxy_send_timeout' is 'timeout send D;' in the site"},
      {"lisen :8081;", "t.conf:5:3: unknown directive 'lisen' (did you mean 'listen'?)\n"},
      {"client_max_bodysize 1m;", "unknown directive 'client_max_bodysize' (did you mean 'client_max_body_size'?)"},
      {"frobnicate on;", "t.conf:5:3: unknown directive 'frobnicate'\n"},
  };
  char out[1024];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    error_for("", cases[i].line, out, sizeof out);
    if (!strstr(out, cases[i].want)) fprintf(stderr, "  for '%s': got %s", cases[i].line, out);
    TG_CHECK(strstr(out, cases[i].want) != NULL);
  }
}

static void test_suggest_top_level_typo_and_kept_names(void) {
  char out[1024];
  TG_CHECK_STR(error_for("wrokers 2;", "", out, sizeof out),
               "t.conf:1:1: unknown directive 'wrokers' (did you mean 'workers'?)\n");
  /* nginx's own name where tollgate has the same one: accepted as it is */
  TG_CHECK_STR(error_for("", "client_max_body_size 10m;", out, sizeof out), "");
}

void tg_suite_suggest(void) {
  TG_RUN(test_suggest_nginx_and_caddy_names);
  TG_RUN(test_suggest_top_level_typo_and_kept_names);
}
