/* tollgate: command line, config, then run the workers. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate/admission.h"
#include "tollgate/auth.h"
#include "tollgate/config.h"
#include "tollgate/doctor.h"
#include "tollgate/tls.h"
#include "tollgate/top.h"
#include "tollgate/worker.h"

/* The configuration read when neither -c nor a flag describing the site is
 * given (make SYSCONFDIR=... changes it). */
#ifndef TG_CONF_PATH
#define TG_CONF_PATH "/etc/tollgate/tollgate.conf"
#endif

static void usage(FILE *f) {
  fputs("usage: tollgate [options]\n"
        "  -c, --config FILE        read the configuration from FILE\n"
        "  -t, --test               check the configuration and exit (0: valid, 1: errors)\n"
        "      --listen HOST:PORT   address to serve (default 127.0.0.1:8080; no config file)\n"
        "      --upstream URL       Ollama to proxy to (default http://127.0.0.1:11434); repeat it for\n"
        "                           several servers (least_conn among them)\n"
        "      --mount /PREFIX      serve the API under a path prefix\n"
        "      --tls-cert FILE      serve --listen over TLS with this PEM chain...\n"
        "      --tls-key FILE       ...and this key\n"
        "      --workers N          worker threads (default: one per core)\n"
        "      --access-log DEST    stdout (default), stderr, off, or a file path\n"
        "  -h, --help               this text\n"
        "  -v, --version            print the version\n"
        "Without -c, tollgate reads " TG_CONF_PATH " when it exists and no\n"
        "--listen, --upstream, --mount or --tls-* is given; otherwise it serves --listen\n"
        "and proxies to --upstream.\n"
        "Signals: HUP reloads the configuration, TERM or INT drains then exits (a second\n"
        "one stops at once), USR1 reopens the log files, USR2 upgrades the binary\n"
        "without downtime (the same path started with the listening sockets).\n"
        "Commands:\n"
        "  tollgate doctor [options] URL   check an Ollama endpoint (tollgate doctor --help)\n"
        "  tollgate passwd [-c COST] USER  print an htpasswd line (bcrypt) for USER (tollgate passwd --help)\n"
        "  tollgate key new NAME           print a new API key (stdout) and its keys-file line (stderr)\n"
        "  tollgate top [ADDR]             the live view in a terminal, from the admin listener ADDR\n"
        "                                  (default 127.0.0.1:9090; tollgate top --help)\n"
        "Manual: man tollgate, man tollgate.conf (every directive).\n",
        f);
}

#define MAX_UPSTREAM_FLAGS 64

typedef struct cli {
  const char *config, *listen, *mount, *access_log, *tls_cert, *tls_key;
  const char *upstream[MAX_UPSTREAM_FLAGS]; /* each --upstream, a server */
  size_t nupstream;
  long workers;
  int test;
} cli;

static int parse_args(int argc, char **argv, cli *o) {
  static const struct option longs[] = {
      {"config", required_argument, 0, 'c'},     {"test", no_argument, 0, 't'},
      {"listen", required_argument, 0, 'L'},     {"upstream", required_argument, 0, 'U'},
      {"mount", required_argument, 0, 'M'},      {"workers", required_argument, 0, 'W'},
      {"access-log", required_argument, 0, 'A'}, {"help", no_argument, 0, 'h'},
      {"tls-cert", required_argument, 0, 'C'},   {"tls-key", required_argument, 0, 'K'},
      {"version", no_argument, 0, 'v'},          {0, 0, 0, 0}};
  int ch;
  while ((ch = getopt_long(argc, argv, "c:thv", longs, NULL)) != -1) {
    switch (ch) {
    case 'c': o->config = optarg; break;
    case 't': o->test = 1; break;
    case 'L': o->listen = optarg; break;
    case 'U':
      if (o->nupstream == MAX_UPSTREAM_FLAGS) {
        fprintf(stderr, "tollgate: at most %d --upstream\n", MAX_UPSTREAM_FLAGS);
        return 1;
      }
      o->upstream[o->nupstream++] = optarg;
      break;
    case 'M': o->mount = optarg; break;
    case 'A': o->access_log = optarg; break;
    case 'C': o->tls_cert = optarg; break;
    case 'K': o->tls_key = optarg; break;
    case 'W': {
      char *end;
      o->workers = strtol(optarg, &end, 10);
      if (*end || o->workers < 1 || o->workers > 256) {
        fprintf(stderr, "tollgate: --workers takes a number from 1 to 256\n");
        return 1;
      }
      break;
    }
    case 'h': usage(stdout); exit(0);
    case 'v': printf("tollgate %s\n", TG_VERSION); exit(0);
    default: usage(stderr); return 1;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "tollgate: unexpected argument '%s'\n", argv[optind]);
    return 1;
  }
  if (o->config && (o->listen || o->nupstream || o->mount || o->tls_cert || o->tls_key)) {
    fprintf(stderr, "tollgate: --listen, --upstream, --mount and --tls-* go in the config file when -c is used\n");
    return 1;
  }
  if (!o->tls_cert != !o->tls_key) {
    fprintf(stderr, "tollgate: --tls-cert and --tls-key go together\n");
    return 1;
  }
  return 0;
}

static char *dup_or_die(const char *s) {
  char *d = strdup(s);
  if (!d) abort();
  return d;
}

/* --tls-cert/--tls-key: the one listener speaks TLS. */
static int apply_tls_flags(tg_site_conf *site, const cli *o) {
  char err[768];
  site->tls = calloc(1, sizeof *site->tls);
  if (!site->tls || tg_tls_conf_add_cert(site->tls, o->tls_cert, o->tls_key) < 0) abort();
  if (tg_tls_cert_build(site->tls, 0, err, sizeof err) < 0) {
    fprintf(stderr, "tollgate: %s\n", err);
    return 1;
  }
  site->listen_kind[0] = TG_LISTEN_TLS;
  return 0;
}

/* One --upstream URL: the first replaces the default server, each later
 * one adds a server with the default options. Returns 0, or 1 after a
 * message. */
static int apply_upstream_flag(tg_config *cfg, tg_upstream_conf *up, const char *url, int first) {
  const char *u = url;
  if (strncmp(u, "http://", 7) == 0) u += 7;
  else if (strstr(u, "://")) {
    fprintf(stderr, "tollgate: --upstream: only http:// upstreams are supported\n");
    return 1;
  }
  char *text = dup_or_die(u);
  char *slash = strchr(text, '/');
  if (slash) *slash = 0;
  tg_hostport hp;
  int rc = tg_hostport_parse(text, &hp);
  free(text);
  if (rc == 0 && !hp.host[0]) {
    free(hp.host);
    rc = -1;
  }
  if (rc < 0) {
    fprintf(stderr, "tollgate: --upstream: invalid URL '%s' (use http://HOST:PORT)\n", url);
    return 1;
  }
  for (size_t i = first ? up->nservers : 0; i < up->nservers; i++)
    if (strcmp(up->servers[i].addr.host, hp.host) == 0 && up->servers[i].addr.port == hp.port) {
      fprintf(stderr, "tollgate: --upstream: '%s' is given twice\n", url);
      free(hp.host);
      return 1;
    }
  if (first) {
    free(up->servers[0].addr.host);
    up->servers[0].addr = hp;
  } else if (!tg_upstream_add_server(up, hp)) {
    abort();
  }
  if (tg_config_origin_set(cfg, hp.host, "--upstream") < 0) abort();
  return 0;
}

/* Applies --listen/--upstream/--mount/--tls-* to the default config. */
static int apply_flags(tg_config *cfg, const cli *o) {
  tg_site_conf *site = &cfg->sites[0];
  tg_upstream_conf *up = &cfg->upstreams[0];
  if (o->listen) {
    free(site->listens[0].host);
    if (tg_hostport_parse(o->listen, &site->listens[0]) < 0) {
      fprintf(stderr, "tollgate: --listen: invalid address '%s' (use HOST:PORT)\n", o->listen);
      return 1;
    }
    if (tg_config_origin_set(cfg, site->listens[0].host, "--listen") < 0) abort();
  }
  for (size_t i = 0; i < o->nupstream; i++)
    if (apply_upstream_flag(cfg, up, o->upstream[i], i == 0)) return 1;
  tg_admission_plan(site); /* several servers add a phase (the body read whole before the choice) */
  if (o->mount) {
    size_t n = strlen(o->mount);
    while (n && o->mount[n - 1] == '/') n--;
    if (o->mount[0] != '/') {
      fprintf(stderr, "tollgate: --mount: the prefix must start with '/'\n");
      return 1;
    }
    free(site->mount);
    site->mount = strndup(o->mount, n);
  }
  if (o->tls_cert) return apply_tls_flags(site, o);
  return 0;
}

/* Sends the error log where the config says: stderr stays, stdout or a
 * file take its place. Returns 0, or 1 when the file cannot be opened. */
static int redirect_error_log(const char *dest, const char *where) {
  if (!dest || strcmp(dest, "stderr") == 0) return 0;
  int fd =
      strcmp(dest, "stdout") == 0 ? dup(STDOUT_FILENO) : open(dest, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) {
    fprintf(stderr, "tollgate: %scannot open error log %s: %s\n", where, dest, strerror(errno));
    return 1;
  }
  dup2(fd, STDERR_FILENO);
  close(fd);
  return 0;
}

int main(int argc, char **argv) {
  tg_upgrade_remember(argv);
  if (argc > 1 && strcmp(argv[1], "doctor") == 0) return tg_doctor_main(argc - 1, argv + 1);
  if (argc > 1 && strcmp(argv[1], "passwd") == 0) return tg_passwd_main(argc - 1, argv + 1);
  if (argc > 1 && strcmp(argv[1], "key") == 0) return tg_key_main(argc - 1, argv + 1);
  if (argc > 1 && strcmp(argv[1], "top") == 0) return tg_top_main(argc - 1, argv + 1);
  cli o = {0};
  if (parse_args(argc, argv, &o)) return 1;
  if (!o.config && !o.listen && !o.nupstream && !o.mount && !o.tls_cert && access(TG_CONF_PATH, F_OK) == 0)
    o.config = TG_CONF_PATH;
  tg_config *cfg;
  if (o.config) {
    int nerrors = 0;
    cfg = tg_config_load(o.config, stderr, &nerrors);
    if (!cfg) return 1;
  } else {
    cfg = tg_config_new_default();
    if (!cfg) return 1;
    if (apply_flags(cfg, &o)) {
      tg_config_free(cfg);
      return 1;
    }
  }
  tg_overrides ov = {.workers = (unsigned)o.workers, .access_log = o.access_log};
  if (tg_overrides_apply(cfg, &ov) < 0) abort();
  if (tg_config_preflight(cfg, stderr) > 0) { /* what start would refuse, -t refuses */
    tg_config_free(cfg);
    return 1;
  }
  if (o.test) {
    printf("tollgate: the configuration %s is valid\n", o.config ? o.config : "(from flags)");
    tg_config_free(cfg);
    return 0;
  }
  if (redirect_error_log(cfg->error_log, tg_config_where(cfg, cfg->error_log))) {
    tg_config_free(cfg);
    return 1;
  }
  return tg_run(cfg, o.config, &ov);
}
