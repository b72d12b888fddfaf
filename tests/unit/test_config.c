/* Tests for src/config: defaults, the documented example, every error
 * message with its position, recovery after errors, and the value parsers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tg_test.h"
#include "tollgate/config.h"
#include "tollgate/io-engine.h"
#include "tollgate/process-conf.h"
#include "tollgate/shared.h"

void tg_suite_config(void);

/* The errors of the last parse() as printed, and their count. */
static char g_err[8192];
static int g_nerr;

static tg_config *parse_len(const char *text, size_t len) {
  char *buf = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&buf, &size);
  tg_config *cfg = tg_config_parse("t.conf", text, len, f, &g_nerr);
  fclose(f);
  snprintf(g_err, sizeof g_err, "%s", buf ? buf : "");
  free(buf);
  return cfg;
}

static tg_config *parse(const char *text) { return parse_len(text, strlen(text)); }

/* Parses text that must fail and returns its error output. */
static const char *errors_of(const char *text) {
  tg_config *cfg = parse(text);
  if (cfg) {
    tg_config_free(cfg);
    return "(parsed without errors)";
  }
  return g_err;
}

#define UP "upstream o { server 127.0.0.1:11434; }\n"
#define SITE "site s { listen :8080; }\n"

/* The complete example of docs/configuration.md, kept in sync by hand. */
static const char example[] = "# /etc/tollgate/tollgate.conf\n"
                              "workers auto;\n"
                              "access_log /var/log/tollgate/access.log;\n"
                              "error_log stderr;\n"
                              "\n"
                              "upstream ollama {\n"
                              "    server 127.0.0.1:11434;\n"
                              "    host_header localhost:11434;          # Ollama checks Host\n"
                              "    timeout dial 10s header 10m idle 5m;\n"
                              "    timeout keepalive 60s;\n"
                              "    keepalive 32;\n"
                              "}\n"
                              "\n"
                              "site ollama.example.com {\n"
                              "    listen 127.0.0.1:8080;\n"
                              "    listen [::1]:8080;\n"
                              "    mount /ollama;\n"
                              "    client_max_body_size 100m;\n"
                              "    max_header_size 16k;\n"
                              "    timeout header 60s body 60s keepalive 75s send 1h;\n"
                              "    forward_credentials off;\n"
                              "    proxy ollama;\n"
                              "}\n";

static void test_defaults(void) {
  tg_config *cfg = tg_config_new_default();
  TG_CHECK(cfg != NULL);
  TG_CHECK(cfg->path == NULL && cfg->workers == 0);
  TG_CHECK_STR(cfg->access_log, "stdout");
  TG_CHECK_STR(cfg->error_log, "stderr");
  TG_CHECK(cfg->nupstreams == 1 && cfg->nsites == 1);
  tg_upstream_conf *u = &cfg->upstreams[0];
  TG_CHECK_STR(u->name, "default");
  TG_CHECK_STR(u->servers[0].addr.host, "127.0.0.1");
  TG_CHECK(u->servers[0].addr.port == 11434);
  TG_CHECK_STR(u->host_header, "localhost:11434");
  TG_CHECK(u->dial_timeout_ms == 10000 && u->header_timeout_ms == 600000);
  TG_CHECK(u->idle_timeout_ms == 300000 && u->keepalive == 32 && u->keepalive_timeout_ms == 60000);
  tg_site_conf *s = &cfg->sites[0];
  TG_CHECK_STR(s->name, "_");
  TG_CHECK(s->nlistens == 1 && s->listens[0].port == 8080);
  TG_CHECK_STR(s->listens[0].host, "127.0.0.1");
  TG_CHECK_STR(s->mount, "");
  TG_CHECK(s->max_body_bytes == 100u << 20 && s->max_header_bytes == 16u << 10);
  TG_CHECK(s->header_timeout_ms == 60000 && s->body_timeout_ms == 60000);
  TG_CHECK(s->keepalive_timeout_ms == 75000 && s->send_timeout_ms == 60000);
  TG_CHECK(s->forward_credentials == 0 && s->upstream == u);
  tg_config_free(cfg);
}

static void test_example_file(void) {
  tg_config *cfg = parse(example);
  TG_CHECK_STR(g_err, "");
  TG_CHECK(cfg != NULL && g_nerr == 0);
  TG_CHECK_STR(cfg->path, "t.conf");
  TG_CHECK(cfg->workers == 0);
  TG_CHECK_STR(cfg->access_log, "/var/log/tollgate/access.log");
  TG_CHECK_STR(cfg->error_log, "stderr");
  TG_CHECK(cfg->nupstreams == 1 && cfg->nsites == 1);
  tg_upstream_conf *u = &cfg->upstreams[0];
  TG_CHECK_STR(u->name, "ollama");
  TG_CHECK_STR(u->servers[0].addr.host, "127.0.0.1");
  TG_CHECK(u->servers[0].addr.port == 11434);
  TG_CHECK_STR(u->host_header, "localhost:11434");
  TG_CHECK(u->dial_timeout_ms == 10000 && u->header_timeout_ms == 600000);
  TG_CHECK(u->idle_timeout_ms == 300000 && u->keepalive_timeout_ms == 60000 && u->keepalive == 32);
  tg_site_conf *s = &cfg->sites[0];
  TG_CHECK_STR(s->name, "ollama.example.com");
  TG_CHECK(s->nlistens == 2);
  TG_CHECK_STR(s->listens[0].host, "127.0.0.1");
  TG_CHECK_STR(s->listens[1].host, "::1");
  TG_CHECK(s->listens[0].port == 8080 && s->listens[1].port == 8080);
  TG_CHECK_STR(s->mount, "/ollama");
  TG_CHECK(s->max_body_bytes == 100u << 20 && s->max_header_bytes == 16u << 10);
  TG_CHECK(s->header_timeout_ms == 60000 && s->body_timeout_ms == 60000);
  TG_CHECK(s->keepalive_timeout_ms == 75000 && s->send_timeout_ms == 3600000);
  TG_CHECK(s->forward_credentials == 0 && s->upstream == u);
  tg_config_free(cfg);
}

static void test_minimal_gets_defaults(void) {
  tg_config *cfg = parse(UP SITE);
  TG_CHECK(cfg != NULL);
  TG_CHECK_STR(cfg->access_log, "stdout");
  TG_CHECK_STR(cfg->sites[0].mount, "");
  TG_CHECK_STR(cfg->upstreams[0].host_header, "localhost:11434");
  TG_CHECK(cfg->sites[0].upstream == &cfg->upstreams[0]); /* the only upstream */
  TG_CHECK(cfg->sites[0].max_body_bytes == 100u << 20);
  TG_CHECK(cfg->upstreams[0].keepalive == 32);
  tg_config_free(cfg);
}

static void test_load_file(void) {
  char path[] = "/tmp/tg-config-test-XXXXXX";
  int fd = mkstemp(path);
  TG_CHECK(fd >= 0);
  TG_CHECK(write(fd, example, strlen(example)) == (ssize_t)strlen(example));
  close(fd);
  int n = -1;
  tg_config *cfg = tg_config_load(path, stderr, &n);
  unlink(path);
  TG_CHECK(cfg != NULL && n == 0);
  TG_CHECK_STR(cfg->path, path);
  TG_CHECK_STR(cfg->upstreams[0].name, "ollama");
  tg_config_free(cfg);
}

static void test_load_missing_file(void) {
  char *buf = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&buf, &size);
  int n = 0;
  tg_config *cfg = tg_config_load("/nonexistent/tollgate.conf", f, &n);
  fclose(f);
  TG_CHECK(cfg == NULL && n == 1);
  TG_CHECK_STR(buf, "/nonexistent/tollgate.conf: cannot read: No such file or directory\n");
  free(buf);
}

static void test_workers(void) {
  tg_config *cfg = parse("workers 4;\n" UP SITE);
  TG_CHECK(cfg && cfg->workers == 4);
  tg_config_free(cfg);
  cfg = parse("workers 256;" UP SITE);
  TG_CHECK(cfg && cfg->workers == 256);
  tg_config_free(cfg);
  TG_CHECK_STR(errors_of("workers 0;\n" UP SITE), "t.conf:1:9: 'workers' takes 'auto' or a number from 1 to 256\n");
  TG_CHECK_STR(errors_of("workers 257;\n" UP SITE), "t.conf:1:9: 'workers' takes 'auto' or a number from 1 to 256\n");
  TG_CHECK_STR(errors_of("workers;\n" UP SITE), "t.conf:1:1: 'workers' takes 'auto' or a number from 1 to 256\n");
  TG_CHECK_STR(errors_of("workers 2 3;\n" UP SITE), "t.conf:1:11: 'workers' takes 'auto' or a number from 1 to 256\n");
}

/* io_engine: epoll, auto (epoll while io_uring is a prototype) and
 * io_uring are taken; another name is refused at its line. */
static void test_io_engine(void) {
  tg_config *cfg = parse("io_engine epoll;\n" UP SITE);
  TG_CHECK(cfg && cfg->process && cfg->process->io == &tg_io_epoll);
  tg_config_free(cfg);
  cfg = parse("io_engine auto;\n" UP SITE);
  TG_CHECK(cfg && cfg->process && cfg->process->io == &tg_io_epoll);
  tg_config_free(cfg);
  cfg = parse(UP SITE);
  TG_CHECK(cfg && (!cfg->process || !cfg->process->io)); /* the workers' default: epoll */
  tg_config_free(cfg);
  cfg = parse(UP SITE "io_engine io_uring;\n");
  TG_CHECK(cfg && cfg->process && cfg->process->io == &tg_io_uring);
  tg_config_free(cfg);
  TG_CHECK(tg_io_engine_named("epoll") == &tg_io_epoll && tg_io_engine_named("io_uring") == &tg_io_uring);
  TG_CHECK(!tg_io_engine_named("auto"));
  TG_CHECK_STR(errors_of("io_engine kqueue;\n" UP SITE),
               "t.conf:1:11: 'io_engine' takes auto, epoll or io_uring, not 'kqueue'\n");
  TG_CHECK_STR(errors_of("io_engine;\n" UP SITE), "t.conf:1:1: 'io_engine' takes auto, epoll or io_uring\n");
}

static void test_http2_listen_and_switch(void) {
  tg_config *cfg = parse(UP "site s { listen :8080; listen 127.0.0.1:8081 h2c; }\n");
  TG_CHECK(cfg && cfg->sites[0].nlistens == 2);
  TG_CHECK(cfg && cfg->sites[0].listen_kind[0] == TG_LISTEN_PLAIN && cfg->sites[0].listen_kind[1] == TG_LISTEN_H2C);
  TG_CHECK(cfg && !cfg->sites[0].http2_off);
  tg_config_free(cfg);
  cfg = parse(UP "site s { listen :8080; http2 off; }\n");
  TG_CHECK(cfg && cfg->sites[0].http2_off);
  tg_config_free(cfg);
  TG_CHECK_STR(errors_of(UP "site s { listen :8080 h3; }\n"),
               "t.conf:2:23: 'listen' takes 'tls', 'redirect' or 'h2c' after the address, not 'h3'\n");
  TG_CHECK_STR(errors_of(UP "site s { listen :8080; http2 maybe; }\n"),
               "t.conf:2:30: 'http2' takes on or off, not 'maybe'\n");
  TG_CHECK_STR(errors_of(UP "site s {\n  http2 off;\n  listen :8081 h2c;\n}\n"),
               "t.conf:3:9: 'http2 off' in a site that has 'listen :8081 h2c' (which serves HTTP/2 alone)\n");
}

static void test_missing_semicolon(void) {
  /* before a block directive on the next line: the block is still read */
  TG_CHECK_STR(errors_of("workers auto\n" UP SITE), "t.conf:2:1: expected ';' after 'workers auto'\n");
  /* before a simple directive on the next line */
  TG_CHECK_STR(errors_of("workers auto\naccess_log off;\n" UP SITE), "t.conf:2:1: expected ';' after 'workers auto'\n");
  /* before '}' and at the end of the file */
  TG_CHECK_STR(errors_of(UP "site s { listen :8080 }\n"), "t.conf:2:23: expected ';' after 'listen :8080'\n");
  TG_CHECK_STR(errors_of(UP SITE "workers 2"), "t.conf:3:10: expected ';' after 'workers 2'\n");
}

static void test_unknown_directive(void) {
  TG_CHECK_STR(errors_of(UP "site s {\n  lisen :8080;\n  listen :8080;\n}\n"),
               "t.conf:3:3: unknown directive 'lisen' (did you mean 'listen'?)\n");
  TG_CHECK_STR(errors_of("tls auto;\n" UP SITE),
               "t.conf:1:1: 'tls' is not allowed at the top level (it goes in a site block)\n");
}

static void test_wrong_context(void) {
  TG_CHECK_STR(errors_of("upstream o { server :1; listen :80; server 127.0.0.1:1; }\n" SITE),
               "t.conf:1:21: 'server' needs a host, as in 127.0.0.1:11434\n"
               "t.conf:1:25: 'listen' is not allowed in an upstream (it goes in a site block)\n");
  TG_CHECK_STR(errors_of("proxy o;\n" UP SITE),
               "t.conf:1:1: 'proxy' is not allowed at the top level (it goes in a site block)\n");
}

static void test_upstream_timeout_names(void) {
  TG_CHECK_STR(errors_of("upstream o {\n  server 127.0.0.1:1;\n  timeout read 10s;\n}\n" SITE),
               "t.conf:3:11: 'timeout' in an upstream takes dial, header, idle or keepalive, "
               "not 'read'\n");
  TG_CHECK_STR(errors_of(UP "site s { listen :1; timeout idle 5s; }\n"),
               "t.conf:2:29: 'timeout' in a site takes header, body, keepalive, send or tunnel, not 'idle'\n");
}

static void test_timeout_values(void) {
  TG_CHECK_STR(errors_of("upstream o { server 127.0.0.1:1; timeout dial 10x; }\n" SITE),
               "t.conf:1:47: invalid duration '10x' (use ms, s, m, h or d)\n");
  TG_CHECK_STR(errors_of("upstream o { server 127.0.0.1:1; timeout dial 0; }\n" SITE),
               "t.conf:1:47: 'timeout dial' must be more than 0\n");
  TG_CHECK_STR(errors_of("upstream o { server 127.0.0.1:1; timeout dial 366d; }\n" SITE),
               "t.conf:1:47: 'timeout dial' is too long (at most 365d)\n");
  TG_CHECK_STR(errors_of("upstream o { server 127.0.0.1:1; timeout dial 1s idle; }\n" SITE),
               "t.conf:1:50: missing duration after 'timeout idle'\n");
  TG_CHECK_STR(errors_of("upstream o { server 127.0.0.1:1; timeout dial 1s;\n"
                         "timeout dial 2s; }\n" SITE),
               "t.conf:2:9: duplicate 'timeout dial' (first at 1:42)\n");
  TG_CHECK_STR(errors_of("upstream o { server 127.0.0.1:1; timeout; }\n" SITE),
               "t.conf:1:34: 'timeout' takes names and durations: timeout dial 10s header 10m\n");
}

static void test_unterminated_string(void) {
  TG_CHECK_STR(errors_of(UP "site \"s {\n listen :1;\n}\n"), "t.conf:2:6: unterminated string\n"
                                                             "t.conf:3:2: expected ';' after 'site s {'\n"
                                                             "t.conf:4:1: unexpected '}'\n");
  TG_CHECK_STR(errors_of(UP SITE "access_log \"x"), "t.conf:3:12: unterminated string\n"
                                                    "t.conf:3:14: expected ';' after 'access_log x'\n");
}

static void test_unexpected_braces(void) {
  TG_CHECK_STR(errors_of(UP SITE "}\n"), "t.conf:3:1: unexpected '}'\n");
  TG_CHECK_STR(errors_of(UP SITE ";\n"), "t.conf:3:1: unexpected ';'\n");
  TG_CHECK_STR(errors_of(UP SITE "{ listen :1; }\n"),
               "t.conf:3:1: unexpected '{' (a block needs a directive name before it)\n");
  /* a stray '}' that also ends a directive is reported once */
  TG_CHECK_STR(errors_of(UP SITE "workers 2 }\n"), "t.conf:3:11: expected ';' after 'workers 2'\n");
}

static void test_missing_close_brace(void) {
  TG_CHECK_STR(errors_of(UP "\nsite s {\n  listen :8080;\n"), "t.conf:5:1: missing '}' for 'site' opened at 3:1\n");
}

static void test_duplicate_upstream(void) {
  TG_CHECK_STR(errors_of("\nupstream ollama { server 127.0.0.1:1; }\n"
                         "upstream ollama { server 127.0.0.1:2; }\n" SITE),
               "t.conf:3:10: duplicate upstream 'ollama' (first defined at 2:1)\n");
}

static void test_unknown_upstream(void) {
  TG_CHECK_STR(errors_of(UP "site x { listen :1; proxy y; }\n"),
               "t.conf:2:27: site 'x' proxies to unknown upstream 'y'\n");
}

static void test_upstream_defined_after_site(void) {
  tg_config *cfg = parse("site a { listen :1; proxy second; }\n"
                         "site b { listen :2; proxy first; }\n"
                         "upstream first { server 10.0.0.1:11434; }\n"
                         "upstream second { server 10.0.0.2:11434; }\n");
  TG_CHECK_STR(g_err, "");
  TG_CHECK(cfg != NULL);
  TG_CHECK(cfg->nupstreams == 2 && cfg->nsites == 2);
  TG_CHECK_STR(cfg->sites[0].upstream->name, "second");
  TG_CHECK_STR(cfg->sites[1].upstream->name, "first");
  TG_CHECK_STR(cfg->sites[0].upstream->servers[0].addr.host, "10.0.0.2");
  tg_config_free(cfg);
}

static void test_site_needs_proxy_choice(void) {
  TG_CHECK_STR(errors_of("upstream a { server 127.0.0.1:1; }\nupstream b { server 127.0.0.1:2; }\n"
                         "site s { listen :1; }\n"),
               "t.conf:3:6: site 's' has no 'proxy' and there are 2 upstreams to choose from\n");
}

static void test_whole_file_checks(void) {
  TG_CHECK_STR(errors_of(UP "site s { mount /x; }\n"), "t.conf:2:6: site 's' has no 'listen'\n");
  TG_CHECK_STR(errors_of(SITE), "t.conf:1:1: no 'upstream' block (a site needs one to proxy to)\n");
  TG_CHECK_STR(errors_of(UP), "t.conf:1:1: no 'site' block (nothing to listen on)\n");
  TG_CHECK_STR(errors_of("upstream o { keepalive 1; }\n" SITE), "t.conf:1:10: upstream 'o' has no 'server'\n");
  TG_CHECK(errors_of("")[0] != '(' && g_nerr == 2);
}

static void test_multiple_errors_at_once(void) {
  const char *text = "workers many;\n"                  /* 1 */
                     "upstream ollama {\n"              /* 2 */
                     "  server 127.0.0.1:11434;\n"      /* 3 */
                     "  timeout dial 10x header 10m;\n" /* 4 */
                     "}\n"                              /* 5 */
                     "site a {\n"                       /* 6 */
                     "  lisen :8080;\n"                 /* 7 */
                     "  listen :8080;\n"                /* 8 */
                     "  forward_credentials yes;\n"     /* 9 */
                     "  proxy nope;\n"                  /* 10 */
                     "}\n";
  TG_CHECK_STR(errors_of(text), "t.conf:1:9: 'workers' takes 'auto' or a number from 1 to 256\n"
                                "t.conf:4:16: invalid duration '10x' (use ms, s, m, h or d)\n"
                                "t.conf:7:3: unknown directive 'lisen' (did you mean 'listen'?)\n"
                                "t.conf:9:23: 'forward_credentials' takes on or off, not 'yes'\n"
                                "t.conf:10:9: site 'a' proxies to unknown upstream 'nope'\n");
  TG_CHECK(g_nerr == 5);
}

/* The error example of docs/configuration.md, kept in sync by hand. */
static void test_documented_errors(void) {
  TG_CHECK_STR(errors_of("workers auto\n"
                         "upstream ollama {\n"
                         "    server 127.0.0.1:11434;\n"
                         "    timeout read 10m dial 10x;\n"
                         "}\n"
                         "site x {\n"
                         "    lisen :8080;\n"
                         "    listen :8080;\n"
                         "    proxy y;\n"
                         "}\n"
                         "upstream ollama { server 127.0.0.1:11435; }\n"
                         "site z {\n"
                         "    listen :8081;\n"
                         "    proxy ollama;\n"),
               "t.conf:2:1: expected ';' after 'workers auto'\n"
               "t.conf:4:13: 'timeout' in an upstream takes dial, header, idle or keepalive, not "
               "'read'\n"
               "t.conf:4:27: invalid duration '10x' (use ms, s, m, h or d)\n"
               "t.conf:7:5: unknown directive 'lisen' (did you mean 'listen'?)\n"
               "t.conf:9:11: site 'x' proxies to unknown upstream 'y'\n"
               "t.conf:11:10: duplicate upstream 'ollama' (first defined at 2:1)\n"
               "t.conf:15:1: missing '}' for 'site' opened at 12:1\n");
  TG_CHECK(g_nerr == 7);
}

static void test_recovery_inside_lost_block(void) {
  /* the ';' after 'workers auto' is missing, yet the site's own errors are found */
  TG_CHECK_STR(errors_of(UP "workers auto\nsite x {\n  lisen :80;\n}\n"),
               "t.conf:3:1: expected ';' after 'workers auto'\n"
               "t.conf:3:6: site 'x' has no 'listen'\n"
               "t.conf:4:3: unknown directive 'lisen' (did you mean 'listen'?)\n");
}

static void test_comments_and_strings(void) {
  tg_config *cfg = parse("# leading comment\n"
                         "upstream \"my up\" { server 127.0.0.1:11434; } # trailing\n"
                         "site \"a;b{c}#d\" {#no space\n"
                         "  listen :1;#x\n"
                         "  proxy \"my up\";\n"
                         "}\n"
                         "access_log \"/tmp/with \\\"quotes\\\" and \\\\ slash\";\n");
  TG_CHECK_STR(g_err, "");
  TG_CHECK(cfg != NULL);
  TG_CHECK_STR(cfg->upstreams[0].name, "my up");
  TG_CHECK_STR(cfg->sites[0].name, "a;b{c}#d");
  TG_CHECK_STR(cfg->access_log, "/tmp/with \"quotes\" and \\ slash");
  tg_config_free(cfg);
}

static void test_bad_bytes_and_escapes(void) {
  TG_CHECK_STR(errors_of(UP SITE "access_log \"a\\nb\";\n"),
               "t.conf:3:14: invalid escape in string (only \\\" and \\\\ are allowed)\n");
  static const char nul[] = UP SITE "workers\0 2;\n";
  tg_config *cfg = parse_len(nul, sizeof nul - 1);
  TG_CHECK(cfg == NULL);
  TG_CHECK_STR(g_err, "t.conf:3:8: invalid character 0x00\n");
  TG_CHECK_STR(errors_of(UP SITE "workers \x01 2;\n"), "t.conf:3:9: invalid character 0x01\n");
}

static void test_blocks_where_not_taken(void) {
  TG_CHECK_STR(errors_of(UP SITE "workers 2 { }\n"), "t.conf:3:11: 'workers' does not take a block\n");
  TG_CHECK_STR(errors_of(UP SITE "site t;\n"),
               "t.conf:3:1: 'site' takes a name and a block: site NAME { listen HOST:PORT; }\n");
  TG_CHECK_STR(errors_of(UP "site { listen :1; }\n"),
               "t.conf:2:1: 'site' takes a name and a block: site NAME { listen HOST:PORT; }\n");
}

static void test_deep_nesting(void) {
  char text[512] = UP SITE "a";
  for (int i = 0; i < 20; i++) strcat(text, "{b");
  for (int i = 0; i < 20; i++) strcat(text, "}");
  tg_config *cfg = parse(text);
  TG_CHECK(cfg == NULL);
  TG_CHECK(strstr(g_err, "blocks nested too deeply (at most 8)") != NULL);
}

static void test_listen(void) {
  tg_config *cfg = parse(UP "site s { listen 127.0.0.1:8080; listen [::]:8080; listen 9000; }\n");
  TG_CHECK(cfg != NULL);
  tg_site_conf *s = &cfg->sites[0];
  TG_CHECK(s->nlistens == 3);
  TG_CHECK_STR(s->listens[0].host, "127.0.0.1");
  TG_CHECK_STR(s->listens[1].host, "::");
  TG_CHECK_STR(s->listens[2].host, "");
  TG_CHECK(s->listens[2].port == 9000);
  tg_config_free(cfg);
  TG_CHECK_STR(errors_of(UP "site s { listen 127.0.0.1; }\n"),
               "t.conf:2:17: invalid address '127.0.0.1' (use HOST:PORT, [IPv6]:PORT or :PORT)\n");
}

static void test_listen_limits_and_overlaps(void) {
  TG_CHECK_STR(errors_of(UP "site s { listen :1; listen :2; listen :3; listen :4; listen :5;"
                            " listen :6; listen :7; listen :8; listen :9; }\n"),
               "t.conf:2:98: too many 'listen' in site 's' (at most 8)\n");
  TG_CHECK_STR(errors_of(UP "site a { listen 127.0.0.1:80; }\nsite b { listen :80; }\n"),
               "t.conf:3:17: 'listen :80' overlaps 'listen 127.0.0.1:80' at 2:17\n");
  tg_config *cfg = parse(UP "site a { listen 127.0.0.1:80; listen [::]:80; }\n"
                            "site b { listen 127.0.0.2:80; }\n");
  TG_CHECK(cfg != NULL);
  tg_config_free(cfg);
}

static void test_mount(void) {
  tg_config *cfg = parse(UP "site s { listen :1; mount /ollama/; }\n");
  TG_CHECK(cfg != NULL);
  TG_CHECK_STR(cfg->sites[0].mount, "/ollama");
  tg_config_free(cfg);
  cfg = parse(UP "site s { listen :1; mount /; }\n");
  TG_CHECK(cfg != NULL);
  TG_CHECK_STR(cfg->sites[0].mount, "");
  tg_config_free(cfg);
  TG_CHECK_STR(errors_of(UP "site s { listen :1; mount ollama; }\n"),
               "t.conf:2:27: 'mount' takes a path prefix starting with '/', not 'ollama'\n");
  TG_CHECK_STR(errors_of(UP "site s { listen :1; mount /a?b; }\n"),
               "t.conf:2:27: 'mount' takes a path prefix starting with '/', not '/a?b'\n");
}

static void test_server_forms(void) {
  tg_config *cfg = parse("upstream o { server http://[::1]:11434/; host_header preserve; }\n" SITE);
  TG_CHECK(cfg != NULL);
  TG_CHECK_STR(cfg->upstreams[0].servers[0].addr.host, "::1");
  TG_CHECK(cfg->upstreams[0].servers[0].addr.port == 11434);
  TG_CHECK(cfg->upstreams[0].host_header == NULL);
  tg_config_free(cfg);
  TG_CHECK_STR(errors_of("upstream o { server https://x:1; }\n" SITE),
               "t.conf:1:21: 'server' must be http:// (https and other schemes are not supported "
               "yet)\n");
  TG_CHECK_STR(errors_of("upstream o { server 11434; }\n" SITE),
               "t.conf:1:21: 'server' needs a host, as in 127.0.0.1:11434\n");
  TG_CHECK_STR(errors_of("upstream o { server http://a:1/x; }\n" SITE),
               "t.conf:1:21: invalid address 'http://a:1/x' (use HOST:PORT, [IPv6]:PORT or :PORT)\n");
}

/* Several servers, their options, balance and health (docs/upstreams.md). */
static void test_upstream_servers(void) {
  tg_config *cfg = parse("upstream o {\n"
                         "  server 10.0.0.5:11434 slots 4;\n"
                         "  server 10.0.0.6:11434 slots 2 weight 2;\n"
                         "  server http://10.0.0.7:11434/ backup;\n"
                         "  server 10.0.0.8:11434 drain;\n"
                         "  balance round_robin;\n"
                         "  health interval 3s timeout 1s fails 2 passes 5;\n"
                         "}\n" SITE);
  TG_CHECK(cfg != NULL);
  if (!cfg) return;
  const tg_upstream_conf *u = &cfg->upstreams[0];
  TG_CHECK(u->nservers == 4);
  TG_CHECK_STR(u->servers[2].addr.host, "10.0.0.7");
  TG_CHECK(u->servers[0].slots == 4 && u->servers[0].weight == 1 && !u->servers[0].backup && !u->servers[0].drain);
  TG_CHECK(u->servers[1].slots == 2 && u->servers[1].weight == 2);
  TG_CHECK(u->servers[2].backup && u->servers[2].slots == 1 && !u->servers[2].drain);
  TG_CHECK(u->servers[3].drain && !u->servers[3].backup);
  TG_CHECK(u->balance == TG_BALANCE_ROUND_ROBIN);
  TG_CHECK(u->health.interval_ms == 3000 && u->health.timeout_ms == 1000);
  TG_CHECK(u->health.fails == 2 && u->health.passes == 5 && u->health.written);
  TG_CHECK_STR(tg_config_where(cfg, u->servers[3].addr.host), "t.conf:5:10: ");
  tg_config_free(cfg);

  cfg = parse(UP SITE); /* the defaults */
  TG_CHECK(cfg && cfg->upstreams[0].nservers == 1 && cfg->upstreams[0].balance == TG_BALANCE_MODEL);
  TG_CHECK(cfg && cfg->upstreams[0].health.interval_ms == 5000 && cfg->upstreams[0].health.timeout_ms == 2000);
  TG_CHECK(cfg && cfg->upstreams[0].health.fails == 3 && cfg->upstreams[0].health.passes == 2);
  TG_CHECK(cfg && !cfg->upstreams[0].health.written);
  tg_config_free(cfg);

  TG_CHECK_STR(
      errors_of("upstream o {\n  server a:1 slots 0 weight 1001 heavy;\n}\n" SITE),
      "t.conf:2:20: 'slots' takes a number from 1 to 1024, not '0'\n"
      "t.conf:2:29: 'weight' takes a number from 1 to 1000, not '1001'\n"
      "t.conf:2:34: 'server' takes slots N, weight N, max_loaded N, backup or drain after the address, not 'heavy'\n");
  cfg = parse("upstream o {\n  server a:1 slots 2 max_loaded 1;\n  server b:2;\n}\n" SITE);
  TG_CHECK(cfg && cfg->upstreams[0].servers[0].max_loaded == 1 && cfg->upstreams[0].servers[0].slots == 2);
  TG_CHECK(cfg && cfg->upstreams[0].servers[1].max_loaded == 0); /* not said */
  tg_config_free(cfg);
  TG_CHECK_STR(errors_of("upstream o { server a:1 max_loaded 0; }\n" SITE),
               "t.conf:1:36: 'max_loaded' takes a number from 1 to 1024, not '0'\n");
  TG_CHECK_STR(errors_of("upstream o { server a:1 backup backup; }\n" SITE),
               "t.conf:1:32: duplicate 'backup' (first at 1:25)\n");
  TG_CHECK_STR(errors_of("upstream o { server a:1 backup; server b:1 drain backup; }\n" SITE),
               "t.conf:1:10: every server of upstream 'o' is a backup (at least one must not be)\n");
  TG_CHECK_STR(errors_of("upstream o { server a:1 slots; }\n" SITE), "t.conf:1:25: missing number after 'slots'\n");
  TG_CHECK_STR(errors_of("upstream o { server a:1; server http://a:1; }\n" SITE),
               "t.conf:1:33: duplicate server 'http://a:1' in upstream 'o'\n");
  TG_CHECK_STR(errors_of("upstream o { server a:1; balance random; }\n" SITE),
               "t.conf:1:34: 'balance' takes model, least_conn or round_robin, not 'random'\n");
  TG_CHECK_STR(errors_of("upstream o { server a:1; balance least_conn; balance model; }\n" SITE),
               "t.conf:1:46: duplicate 'balance' (first at 1:26)\n");
  TG_CHECK_STR(errors_of("upstream o { server a:1; health interval 1s timeout 2s; }\n" SITE),
               "t.conf:1:45: 'health timeout' must not exceed its interval (1000ms)\n");
  TG_CHECK_STR(errors_of("upstream o { server a:1; health fails 0 every 1s passes; }\n" SITE),
               "t.conf:1:39: 'health fails' takes a number from 1 to 100, not '0'\n"
               "t.conf:1:41: 'health' takes interval, timeout, fails or passes, not 'every'\n"
               "t.conf:1:50: missing number after 'health passes'\n");
}

static void test_upstream_values(void) {
  tg_config *cfg = parse("upstream o { server a.local:1; keepalive 0; host_header \"h:1\"; }\n" SITE);
  TG_CHECK(cfg != NULL);
  TG_CHECK(cfg->upstreams[0].keepalive == 0);
  TG_CHECK_STR(cfg->upstreams[0].host_header, "h:1");
  tg_config_free(cfg);
  TG_CHECK_STR(errors_of("upstream o { server a:1; keepalive 100001; }\n" SITE),
               "t.conf:1:36: 'keepalive' takes a number from 0 to 100000\n");
  TG_CHECK_STR(errors_of("upstream o { server a:1; host_header \"a b\"; }\n" SITE),
               "t.conf:1:38: invalid Host 'a b' for 'host_header' (use HOST[:PORT] or preserve)\n");
}

static void test_site_values(void) {
  tg_config *cfg = parse(UP "site s { listen :1; client_max_body_size 0; max_header_size 1m;"
                            " forward_credentials on; }\n");
  TG_CHECK(cfg != NULL);
  TG_CHECK(cfg->sites[0].max_body_bytes == 0);
  TG_CHECK(cfg->sites[0].max_header_bytes == 1u << 20);
  TG_CHECK(cfg->sites[0].forward_credentials == 1);
  tg_config_free(cfg);
  TG_CHECK_STR(errors_of(UP "site s { listen :1; max_header_size 512; }\n"),
               "t.conf:2:37: 'max_header_size' must be from 1k to 1m, not '512'\n");
  TG_CHECK_STR(errors_of(UP "site s { listen :1; client_max_body_size 10q; }\n"),
               "t.conf:2:42: invalid size '10q' (use a number with an optional k, m or g)\n");
}

static void test_logs(void) {
  tg_config *cfg = parse("access_log off; error_log /var/log/tg.err;\n" UP SITE);
  TG_CHECK(cfg != NULL);
  TG_CHECK_STR(cfg->access_log, "off");
  TG_CHECK_STR(cfg->error_log, "/var/log/tg.err");
  tg_config_free(cfg);
  TG_CHECK_STR(errors_of("error_log off;\n" UP SITE),
               "t.conf:1:11: 'error_log' cannot be off (use stderr, stdout or a file path)\n");
  TG_CHECK_STR(errors_of("access_log \"\";\n" UP SITE),
               "t.conf:1:12: 'access_log' takes stdout, stderr, off or a file path\n");
}

static void test_duplicate_singletons(void) {
  TG_CHECK_STR(errors_of("workers 1;\nworkers 2;\n" UP SITE), "t.conf:2:1: duplicate 'workers' (first at 1:1)\n");
  TG_CHECK_STR(errors_of(UP "site s { listen :1; mount /a; mount /b; }\n"),
               "t.conf:2:31: duplicate 'mount' (first at 2:21)\n");
}

static void test_duration_parse(void) {
  uint64_t ms = 0;
  TG_CHECK(tg_duration_parse("250ms", &ms) == 0 && ms == 250);
  TG_CHECK(tg_duration_parse("10s", &ms) == 0 && ms == 10000);
  TG_CHECK(tg_duration_parse("10", &ms) == 0 && ms == 10000);
  TG_CHECK(tg_duration_parse("5m", &ms) == 0 && ms == 300000);
  TG_CHECK(tg_duration_parse("1h", &ms) == 0 && ms == 3600000);
  TG_CHECK(tg_duration_parse("2d", &ms) == 0 && ms == 172800000);
  TG_CHECK(tg_duration_parse("0", &ms) == 0 && ms == 0);
  TG_CHECK(tg_duration_parse("18446744073709551615ms", &ms) == 0 && ms == UINT64_MAX);
  ms = 7;
  TG_CHECK(tg_duration_parse("18446744073709551616ms", &ms) == -1 && ms == 7);
  TG_CHECK(tg_duration_parse("18446744073709551615s", &ms) == -1);
  TG_CHECK(tg_duration_parse("213503982334601d", &ms) == -1);
  TG_CHECK(tg_duration_parse("", &ms) == -1);
  TG_CHECK(tg_duration_parse("s", &ms) == -1);
  TG_CHECK(tg_duration_parse("10x", &ms) == -1);
  TG_CHECK(tg_duration_parse("10S", &ms) == -1);
  TG_CHECK(tg_duration_parse("-1s", &ms) == -1);
  TG_CHECK(tg_duration_parse("1.5s", &ms) == -1);
  TG_CHECK(tg_duration_parse("10 s", &ms) == -1);
  TG_CHECK(tg_duration_parse("10mss", &ms) == -1);
}

static void test_size_parse(void) {
  uint64_t b = 0;
  TG_CHECK(tg_size_parse("512", &b) == 0 && b == 512);
  TG_CHECK(tg_size_parse("16k", &b) == 0 && b == 16384);
  TG_CHECK(tg_size_parse("16K", &b) == 0 && b == 16384);
  TG_CHECK(tg_size_parse("100m", &b) == 0 && b == 100u << 20);
  TG_CHECK(tg_size_parse("1G", &b) == 0 && b == 1u << 30);
  TG_CHECK(tg_size_parse("0", &b) == 0 && b == 0);
  TG_CHECK(tg_size_parse("17179869183g", &b) == 0 && b == 17179869183ull << 30);
  TG_CHECK(tg_size_parse("17179869184g", &b) == -1);
  TG_CHECK(tg_size_parse("99999999999999999999", &b) == -1);
  TG_CHECK(tg_size_parse("", &b) == -1);
  TG_CHECK(tg_size_parse("k", &b) == -1);
  TG_CHECK(tg_size_parse("1kb", &b) == -1);
  TG_CHECK(tg_size_parse("1t", &b) == -1);
  TG_CHECK(tg_size_parse("-1", &b) == -1);
}

static void test_hostport_parse(void) {
  tg_hostport hp;
  TG_CHECK(tg_hostport_parse("127.0.0.1:8080", &hp) == 0 && hp.port == 8080);
  TG_CHECK_STR(hp.host, "127.0.0.1");
  free(hp.host);
  TG_CHECK(tg_hostport_parse("[::1]:8080", &hp) == 0 && hp.port == 8080);
  TG_CHECK_STR(hp.host, "::1");
  free(hp.host);
  TG_CHECK(tg_hostport_parse(":8080", &hp) == 0 && hp.port == 8080);
  TG_CHECK_STR(hp.host, "");
  free(hp.host);
  TG_CHECK(tg_hostport_parse("localhost:11434", &hp) == 0 && hp.port == 11434);
  TG_CHECK_STR(hp.host, "localhost");
  free(hp.host);
  TG_CHECK(tg_hostport_parse("8080", &hp) == 0 && hp.port == 8080);
  TG_CHECK_STR(hp.host, "");
  free(hp.host);
  TG_CHECK(tg_hostport_parse("*:65535", &hp) == 0 && hp.port == 65535);
  TG_CHECK_STR(hp.host, "");
  free(hp.host);
  TG_CHECK(tg_hostport_parse("[fe80::1%eth0]:1", &hp) == 0);
  TG_CHECK_STR(hp.host, "fe80::1%eth0");
  free(hp.host);
  const char *bad[] = {"",         ":",         "localhost", ":0",      ":65536", "::1:8080",
                       "[::1]",    "[::1]8080", "[]:80",     "a b:80",  "h:+80",  "h:-1",
                       "h:080000", "[zz]:80",   "h:80:",     "[::1:80", "host:",  "99999"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    hp.host = NULL;
    if (tg_hostport_parse(bad[i], &hp) != -1 || hp.host) fprintf(stderr, "  accepted '%s'\n", bad[i]);
    TG_CHECK(hp.host == NULL);
  }
}

/* Every error path frees what it built: run under ASan, a leak fails the
 * whole binary at exit. */
static void test_error_paths_free_everything(void) {
  static const char *broken[] = {
      "upstream o { server a:1; server b:2; host_header x; host_header y; }\nsite s { listen :1; }",
      "upstream o { server a:1; }\nupstream o { server b:1; host_header z; }\n" SITE,
      UP "site s { listen :1; listen :1; mount /a; mount /b; }",
      UP "site s { listen :1; proxy x; proxy y; }",
      UP "site a { listen :1; } site a { listen :1; }",
      UP "site \"unterminated\n{ listen :1; }",
      "workers auto\nupstream o { server a:1; }\n" SITE "{{{{",
      UP SITE "}}}};;;{",
      "upstream o { server a:1",
  };
  for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
    tg_config *cfg = parse(broken[i]);
    if (cfg) fprintf(stderr, "  parsed: %s\n", broken[i]);
    TG_CHECK(cfg == NULL && g_nerr > 0);
  }
}

static void test_error_count_capped(void) {
  char text[4000];
  memset(text, ';', sizeof text);
  tg_config *cfg = parse_len(text, sizeof text);
  TG_CHECK(cfg == NULL);
  TG_CHECK(g_nerr == 4002); /* 4000 ';' plus no upstream, no site */
  TG_CHECK(strstr(g_err, "t.conf: 4002 errors; only the first 100 are shown\n") != NULL);
}

static void test_null_err_stream(void) {
  int n = 0;
  tg_config *cfg = tg_config_parse(NULL, "bogus;", 6, NULL, &n);
  TG_CHECK(cfg == NULL && n == 3);
  cfg = tg_config_parse(NULL, UP SITE, strlen(UP SITE), NULL, NULL);
  TG_CHECK(cfg != NULL && cfg->path == NULL);
  tg_config_free(cfg);
  tg_config_free(NULL);
}

/* The preflight's problems for text (which must parse), as printed. */
static const char *preflight_of(const char *text) {
  static char out[2048];
  tg_config *cfg = parse(text);
  if (!cfg) return g_err;
  char *buf = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&buf, &size);
  int n = tg_config_preflight(cfg, f);
  fclose(f);
  snprintf(out, sizeof out, "%d %s", n, buf ? buf : "");
  free(buf);
  tg_config_free(cfg);
  return out;
}

/* Start binds the admin listener without a lookup: a name passes the
 * parser but not the preflight, which names its place. Numeric addresses
 * and a writable log pass. */
static void test_preflight_positions(void) {
  TG_CHECK_STR(preflight_of("admin localhost:9090;\n" UP "site s { listen 127.0.0.1:8080; }\n"),
               "1 t.conf:1:7: 'admin' takes a numeric IP address (127.0.0.1:9090, [::1]:9090), not the name "
               "'localhost'\n");
  TG_CHECK_STR(preflight_of("admin [::1]:9090;\naccess_log /dev/null;\n" UP "site s { listen 127.0.0.1:8080; }\n"),
               "0 ");
  TG_CHECK_STR(preflight_of(UP "error_log /proc/no/such/file;\nsite s { listen 127.0.0.1:8080; }\n"),
               "1 t.conf:2:11: cannot open error log /proc/no/such/file: No such file or directory\n");
  tg_config *cfg = parse(UP "site s {\n  listen 127.0.0.1:8080;\n}\n");
  TG_CHECK(cfg);
  TG_CHECK_STR(tg_config_where(cfg, cfg->sites[0].listens[0].host), "t.conf:3:10: ");
  TG_CHECK_STR(tg_config_where(cfg, cfg->upstreams[0].servers[0].addr.host), "t.conf:1:21: ");
  TG_CHECK_STR(tg_config_where(cfg, "elsewhere"), "");
  tg_config_free(cfg);
}

/* The shared block: its defaults, every key, the URL forms. */
static void test_shared_values(void) {
  char dir[] = "/tmp/tg-shared-XXXXXX", pw[64], text[512];
  TG_CHECK(mkdtemp(dir));
  snprintf(pw, sizeof pw, "%s/pass", dir);
  FILE *f = fopen(pw, "w");
  TG_CHECK(f);
  fputs("  s3cret \n second line\n", f);
  fclose(f);
  tg_config *cfg = parse("shared redis://127.0.0.1;\n" UP SITE);
  TG_CHECK(cfg && cfg->shared);
  const tg_shared_conf *c = cfg->shared;
  TG_CHECK_STR(c->host, "127.0.0.1");
  TG_CHECK(c->port == 6379 && c->db == 0 && !c->unix_path && !c->password && !c->user);
  TG_CHECK_STR(c->prefix, "tollgate:");
  TG_CHECK(c->timeout_ms == 50 && c->on_failure == TG_SHARED_LOCAL);
  tg_config_free(cfg);
  snprintf(text, sizeof text,
           "shared redis://[::1]:6380/3 {\n password_file %s;\n user alice;\n prefix tg:eu:;\n"
           " timeout 20ms;\n on_failure closed;\n}\n" UP SITE,
           pw);
  cfg = parse(text);
  TG_CHECK(cfg && cfg->shared);
  c = cfg->shared;
  TG_CHECK_STR(c->host, "::1");
  TG_CHECK(c->port == 6380 && c->db == 3 && c->timeout_ms == 20 && c->on_failure == TG_SHARED_CLOSED);
  TG_CHECK_STR(c->password, "s3cret");
  TG_CHECK_STR(c->user, "alice");
  TG_CHECK_STR(c->prefix, "tg:eu:");
  tg_config_free(cfg);
  cfg = parse("shared unix:/run/redis/redis.sock { on_failure open; }\n" UP SITE);
  TG_CHECK(cfg && cfg->shared && !cfg->shared->host && cfg->shared->on_failure == TG_SHARED_OPEN);
  TG_CHECK_STR(cfg->shared->unix_path, "/run/redis/redis.sock");
  tg_config_free(cfg);
  unlink(pw);
  rmdir(dir);
}

/* Each wrong shared block names the place of its mistake. */
static void test_shared_errors(void) {
  static const struct {
    const char *text, *errors;
  } cases[] = {
      {"shared http://x:1;\n" UP SITE,
       "t.conf:1:8: 'http://x:1': the store's address is redis://HOST[:PORT][/DB] or unix:PATH\n"},
      {"shared redis://x:0;\n" UP SITE, "t.conf:1:8: 'redis://x:0': the port is a number from 1 to 65535\n"},
      {"shared redis://u:p@x;\n" UP SITE,
       "t.conf:1:8: 'redis://u:p@x': the password goes in a password_file, not in the URL\n"},
      {"shared redis://x/db1;\n" UP SITE, "t.conf:1:8: 'redis://x/db1': the database after '/' is a number\n"},
      {"shared unix:redis.sock;\n" UP SITE,
       "t.conf:1:8: 'unix:redis.sock': unix: takes an absolute socket path: unix:/run/redis/redis.sock\n"},
      {"shared redis://x {\n  timeout 0ms;\n}\n" UP SITE,
       "t.conf:2:11: 'timeout' takes a duration from 1ms to 60s, not '0ms'\n"},
      {"shared redis://x {\n  on_failure maybe;\n}\n" UP SITE,
       "t.conf:2:14: 'on_failure' takes local, open or closed, not 'maybe'\n"},
      {"shared redis://x {\n  password_file /no/such/file;\n}\n" UP SITE,
       "t.conf:2:17: cannot read the password file /no/such/file: No such file or directory\n"},
      {"shared redis://x {\n  user bob;\n}\n" UP SITE, "t.conf:2:3: 'user' needs a password_file (AUTH takes both)\n"},
      {"shared redis://x {\n  prefix a;\n  prefix b;\n}\n" UP SITE, "t.conf:3:3: duplicate 'prefix' (first at 2:3)\n"},
      {"shared redis://x {\n  server y;\n}\n" UP SITE,
       "t.conf:2:3: unknown directive 'server' in shared (password_file, user, prefix, timeout, "
       "on_failure)\n"},
      {"shared;\n" UP SITE, "t.conf:1:1: 'shared' takes the store's address: shared redis://127.0.0.1:6379 { ... }\n"},
      {"shared redis://a;\nshared redis://b;\n" UP SITE, "t.conf:2:1: duplicate 'shared' (first at 1:1)\n"},
      {UP "site s { listen :8080; shared redis://a; }\n",
       "t.conf:2:24: 'shared' is not allowed in a site (it goes at the top level)\n"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) TG_CHECK_STR(errors_of(cases[i].text), cases[i].errors);
}

/* One shared-store script evaluates every rate rule of a request: a site
 * takes at most 16. */
static void test_rate_rules_capped(void) {
  char text[4096] = UP "site s { listen :8080;\n";
  for (int i = 0; i < 17; i++) strcat(text, "limit rate 1r/s per ip;\n");
  strcat(text, "}\n");
  TG_CHECK_STR(errors_of(text), "t.conf:19:1: a site takes at most 16 'limit rate' lines\n");
}

/* -t resolves the store's host as start would, and names its place. */
static void test_shared_preflight(void) {
  TG_CHECK_STR(preflight_of("shared redis://127.0.0.1:6379;\n" UP "site s { listen 127.0.0.1:8080; }\n"), "0 ");
  const char *out = preflight_of("shared redis://no-such-host.invalid;\n" UP "site s { listen 127.0.0.1:8080; }\n");
  TG_CHECK(strncmp(out, "1 t.conf:1:8: cannot resolve 'no-such-host.invalid': ", 53) == 0);
}

void tg_suite_config(void) {
  TG_RUN(test_shared_values);
  TG_RUN(test_shared_errors);
  TG_RUN(test_shared_preflight);
  TG_RUN(test_rate_rules_capped);
  TG_RUN(test_preflight_positions);
  TG_RUN(test_defaults);
  TG_RUN(test_example_file);
  TG_RUN(test_minimal_gets_defaults);
  TG_RUN(test_load_file);
  TG_RUN(test_load_missing_file);
  TG_RUN(test_workers);
  TG_RUN(test_io_engine);
  TG_RUN(test_http2_listen_and_switch);
  TG_RUN(test_missing_semicolon);
  TG_RUN(test_unknown_directive);
  TG_RUN(test_wrong_context);
  TG_RUN(test_upstream_timeout_names);
  TG_RUN(test_timeout_values);
  TG_RUN(test_unterminated_string);
  TG_RUN(test_unexpected_braces);
  TG_RUN(test_missing_close_brace);
  TG_RUN(test_duplicate_upstream);
  TG_RUN(test_unknown_upstream);
  TG_RUN(test_upstream_defined_after_site);
  TG_RUN(test_site_needs_proxy_choice);
  TG_RUN(test_whole_file_checks);
  TG_RUN(test_multiple_errors_at_once);
  TG_RUN(test_documented_errors);
  TG_RUN(test_recovery_inside_lost_block);
  TG_RUN(test_comments_and_strings);
  TG_RUN(test_bad_bytes_and_escapes);
  TG_RUN(test_blocks_where_not_taken);
  TG_RUN(test_deep_nesting);
  TG_RUN(test_listen);
  TG_RUN(test_listen_limits_and_overlaps);
  TG_RUN(test_mount);
  TG_RUN(test_server_forms);
  TG_RUN(test_upstream_servers);
  TG_RUN(test_upstream_values);
  TG_RUN(test_site_values);
  TG_RUN(test_logs);
  TG_RUN(test_duplicate_singletons);
  TG_RUN(test_duration_parse);
  TG_RUN(test_size_parse);
  TG_RUN(test_hostport_parse);
  TG_RUN(test_error_paths_free_everything);
  TG_RUN(test_error_count_capped);
  TG_RUN(test_null_err_stream);
}
