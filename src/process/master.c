/* The main thread: starts a generation of workers for a configuration,
 * handles signals (SIGHUP reload, SIGTERM/SIGINT drain then stop), and joins
 * the workers of old generations as they finish draining. It never touches
 * connections: workers own them. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "listeners.h"
#include "inherit.h"
#include "privileges.h"
#include "upgrade.h"
#include "tollgate/health.h"
#include "tollgate/acme.h"
#include "tollgate/admin.h"
#include "tollgate/hash.h"
#include "tollgate/metrics.h"
#include "tollgate/notify.h"
#include "tollgate/process-conf.h"
#include "tollgate/proxy.h"
#include "tollgate/readiness.h"
#include "tollgate/tls.h"
#include "tollgate/quota.h"
#include "tollgate/worker.h"

/* How often changed quota counters are written to their state files. */
#define QUOTA_FLUSH_MS 5000

typedef struct tg_gen {
  tg_config *cfg;
  tg_worker *workers;
  unsigned n;
  unsigned joined;
  int log_fd;
  struct tg_gen *next; /* older generations */
} tg_gen;

static struct {
  uv_loop_t *loop;
  uv_signal_t sig_term, sig_int, sig_hup, sig_usr1, sig_usr2;
  uv_async_t worker_exited;
  uv_timer_t cert_watch;  /* certificate files changed on disk: reload */
  uint64_t cert_sig;      /* of the files the newest configuration loaded */
  uv_timer_t quota_flush; /* writes changed quota state files */
  uv_async_t acme_issued; /* the ACME manager stored a certificate: reload */
  tg_acme_manager *acme;  /* NULL until a config asks for certificates */
  tg_gen *gens;           /* newest first */
  const char *config_path;
  char *pid_file; /* written at start, removed at exit */
  const tg_overrides *ov;
  int stopping;
} M;

static void worker_thread(void *arg) {
  tg_worker *w = arg;
  tg_worker_main(w);
  atomic_store((_Atomic int *)&w->exited, 1);
  uv_async_send(&M.worker_exited);
}

static unsigned worker_count(const tg_config *cfg) {
  if (cfg->workers) return cfg->workers;
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (unsigned)n : 1;
}

static size_t listen_count(const tg_config *cfg) {
  size_t n = 0;
  for (size_t s = 0; s < cfg->nsites; s++) n += cfg->sites[s].nlistens;
  return n;
}

static void gen_free(tg_gen *g) {
  for (unsigned i = 0; i < g->n; i++) tg_worker_free(&g->workers[i]);
  free(g->workers);
  if (g->log_fd > STDERR_FILENO) close(g->log_fd);
  tg_config_free(g->cfg);
  free(g);
}

/* Prepares worker i of g; returns 0 or -1 (logged). */
static int gen_init_worker(tg_gen *g, unsigned i) {
  size_t n = listen_count(g->cfg), got = 0;
  int *fds = calloc(n ? n : 1, sizeof *fds);
  int rc = fds ? tg_listeners_for(g->cfg, i, fds, &got) : -1;
  if (rc == 0 && tg_worker_init(&g->workers[i], i, g->cfg, fds, got, g->log_fd) < 0) {
    while (got) close(fds[--got]);
    uv_loop_close(&g->workers[i].loop);
    rc = -1;
  }
  g->workers[i].gen = g;
  free(fds);
  return rc;
}

/* A worker whose thread could not be created: its loop and listeners are
 * released and it counts as joined, so the generation ends without it. */
static void gen_worker_unstarted(tg_gen *g, unsigned i) {
  tg_worker_abandon(&g->workers[i]);
  atomic_store((_Atomic int *)&g->workers[i].exited, 2);
  g->joined++;
}

/* Builds and starts a generation for cfg (taking it). NULL on failure, with
 * cfg freed and the reason logged. */
static tg_gen *gen_start(tg_config *cfg) {
  tg_gen *g = calloc(1, sizeof *g);
  if (!g) return tg_config_free(cfg), NULL;
  g->cfg = cfg;
  g->n = worker_count(cfg);
  g->log_fd = tg_access_log_open(cfg->access_log);
  if (g->log_fd == -2)
    tg_log_error("%scannot open access log %s: %s", tg_config_where(cfg, cfg->access_log), cfg->access_log,
                 strerror(errno));
  g->workers = calloc(g->n, sizeof *g->workers);
  unsigned ready = 0;
  while (g->log_fd != -2 && g->workers && ready < g->n && gen_init_worker(g, ready) == 0) ready++;
  /* The first generation's sockets are bound and its keys read: root is
   * dropped before the first thread starts. */
  int ok = ready == g->n && (M.gens || tg_privileges_drop(cfg) == 0);
  if (!ok) {
    for (unsigned i = 0; i < ready; i++) tg_worker_abandon(&g->workers[i]);
    g->n = 0;
    gen_free(g);
    return NULL;
  }
  for (unsigned i = 0; i < g->n; i++) {
    int rc = uv_thread_create(&g->workers[i].thread, worker_thread, &g->workers[i]);
    if (rc < 0) { /* the workers already running serve; this one never will */
      tg_log_error("worker %u: cannot start its thread: %s", i, uv_strerror(rc));
      gen_worker_unstarted(g, i);
    }
  }
  return g;
}

static void log_listening(const tg_gen *g) {
  const tg_config *cfg = g->cfg;
  for (size_t s = 0; s < cfg->nsites; s++)
    for (size_t l = 0; l < cfg->sites[s].nlistens; l++) {
      const tg_hostport *hp = &cfg->sites[s].listens[l];
      const tg_upstream_conf *up = cfg->sites[s].upstream;
      uint8_t kind = cfg->sites[s].listen_kind[l];
      if (kind == TG_LISTEN_REDIRECT)
        tg_log_info("listening on %s:%u (%u workers), redirecting to https", hp->host[0] ? hp->host : "*", hp->port,
                    g->n);
      else
        tg_log_info("listening on %s:%u (%s%u workers), proxying to %s:%u%s", hp->host[0] ? hp->host : "*", hp->port,
                    kind == TG_LISTEN_TLS ? "TLS, " : "", g->n, up->servers[0].addr.host, up->servers[0].addr.port,
                    up->nservers > 1 ? " and other servers" : "");
    }
}

static void gen_stop(tg_gen *g, int mode) {
  for (unsigned i = 0; i < g->n; i++)
    if (atomic_load((_Atomic int *)&g->workers[i].exited) == 0) tg_worker_request_stop(&g->workers[i], mode);
}

static void master_close_signals(void) {
  static int closed;
  if (closed++) return;
  tg_admin_stop();
  tg_health_stop();
  tg_acme_manager_stop(M.acme); /* before its async handle goes */
  M.acme = NULL;
  uv_close((uv_handle_t *)&M.acme_issued, NULL);
  uv_close((uv_handle_t *)&M.sig_term, NULL);
  uv_close((uv_handle_t *)&M.sig_int, NULL);
  uv_close((uv_handle_t *)&M.sig_hup, NULL);
  uv_close((uv_handle_t *)&M.sig_usr1, NULL);
  uv_close((uv_handle_t *)&M.sig_usr2, NULL);
  tg_upgrade_close();
  uv_close((uv_handle_t *)&M.worker_exited, NULL);
  uv_close((uv_handle_t *)&M.cert_watch, NULL);
  uv_close((uv_handle_t *)&M.quota_flush, NULL);
}

/* A TLS handshake allocates and frees tens of KB around the few KB a
 * connection keeps; glibc keeps the freed pages between live objects
 * (about 10 KB per connection measured, docs/tls.md). After handshakes,
 * the main thread hands them back to the kernel, every QUOTA_FLUSH_MS at
 * most, off the workers' loops. */
static void trim_after_handshakes(void) {
  static uint64_t seen;
  uint64_t n = tg_metrics_tls_handshakes();
  if (n == seen) return;
  seen = n;
  malloc_trim(0);
}

static void on_quota_flush(uv_timer_t *t) {
  (void)t;
  trim_after_handshakes();
  tg_quota_flush_all();
}

/* Joins workers that have returned; frees generations whose workers all did. */
static void on_worker_exited(uv_async_t *a) {
  (void)a;
  for (tg_gen **pg = &M.gens; *pg;) {
    tg_gen *g = *pg;
    for (unsigned i = 0; i < g->n; i++) {
      tg_worker *w = &g->workers[i];
      if (atomic_load((_Atomic int *)&w->exited) == 1) {
        uv_thread_join(&w->thread);
        atomic_store((_Atomic int *)&w->exited, 2);
        g->joined++;
      }
    }
    if (g->joined == g->n && (g != M.gens || M.stopping)) {
      *pg = g->next;
      gen_free(g);
    } else {
      pg = &g->next;
    }
  }
  if (M.stopping && !M.gens) master_close_signals();
}

/* ---- certificate files ---- */

#define CERT_WATCH_MS 1000

/* v in host byte order: a signature is only compared within this process. */
static uint64_t sig_mix(uint64_t h, uint64_t v) { return tg_fnv1a64_add(h, &v, sizeof v); }

static uint64_t file_sig(uint64_t h, const char *path) {
  struct stat st;
  if (stat(path, &st) < 0) return sig_mix(h, (uint64_t)errno);
  h = sig_mix(h, (uint64_t)st.st_ino);
  h = sig_mix(h, (uint64_t)st.st_size);
  h = sig_mix(h, (uint64_t)st.st_mtim.tv_sec);
  return sig_mix(h, (uint64_t)st.st_mtim.tv_nsec);
}

/* A fingerprint of every certificate and key file cfg loaded; 0 for none. */
static uint64_t certs_signature(const tg_config *cfg) {
  uint64_t h = TG_FNV1A64_BASIS;
  int any = 0;
  for (size_t s = 0; s < cfg->nsites; s++) {
    const tg_tls_conf *t = cfg->sites[s].tls;
    for (size_t i = 0; t && i < t->ncerts; i++, any = 1) {
      h = file_sig(h, t->certs[i].cert_file);
      h = file_sig(h, t->certs[i].key_file);
    }
  }
  return any ? h : 0;
}

/* The certificates of the newest generation, for the expiry gauge. */
static void certs_to_metrics(const tg_config *cfg) {
  tg_metrics_certs_reset();
  for (size_t s = 0; s < cfg->nsites; s++) {
    const tg_tls_conf *t = cfg->sites[s].tls;
    for (size_t i = 0; t && i < t->ncerts; i++)
      tg_metrics_cert(t->certs[i].nnames ? t->certs[i].names[0] : t->certs[i].cert_file, t->certs[i].not_after);
  }
}

static void reload(void);

static void cert_watch_cb(uv_timer_t *t) {
  (void)t;
  if (M.stopping || !M.gens || !M.config_path) return;
  uint64_t sig = certs_signature(M.gens->cfg);
  if (sig == M.cert_sig) return;
  tg_log_info("certificate files changed on disk: reloading %s", M.config_path);
  reload();
}

/* ---- ACME ---- */

/* Called on the manager's thread: the reload happens on the main one. */
static void on_acme_issued(void *arg, const tg_acme_names *set) {
  (void)arg;
  (void)set;
  uv_async_send(&M.acme_issued);
}

static void on_acme_issued_async(uv_async_t *a) {
  (void)a;
  if (!M.stopping && M.config_path) reload();
}

/* Starts the ACME manager for cfg's name sets, or hands it the new ones. */
static void acme_follow(const tg_config *cfg) {
  size_t n = 0;
  tg_acme_name_sets(cfg, &n);
  if (M.acme && cfg->acme) {
    tg_acme_manager_update(M.acme, cfg->acme);
  } else if (M.acme) { /* the acme block is gone: the manager idles */
    tg_acme_conf *none = tg_acme_conf_new();
    tg_acme_manager_update(M.acme, none);
    tg_acme_conf_free(none);
  } else if (n && !(M.acme = tg_acme_manager_start(cfg->acme, on_acme_issued, NULL)))
    tg_log_error("acme: cannot start the certificate manager thread");
}

static void reload_config(void) {
  if (!M.config_path) {
    tg_log_warn("SIGHUP: tollgate was started without a config file: nothing to reload");
    return;
  }
  int nerrors = 0;
  tg_config *cfg = tg_config_load(M.config_path, stderr, &nerrors);
  if (cfg && tg_overrides_apply(cfg, M.ov) == 0) nerrors = tg_config_preflight(cfg, stderr);
  if (!cfg || nerrors) {
    tg_config_free(cfg);
    tg_log_error("reload refused: %s has %d error(s); the running configuration stays", M.config_path, nerrors);
    M.cert_sig = certs_signature(M.gens->cfg); /* the same bad files do not retrigger */
    return;
  }
  tg_gen *g = gen_start(cfg);
  if (!g) {
    tg_listeners_keep_only(M.gens->cfg, M.gens->n);
    tg_log_error("reload refused: the new configuration could not be put to work; the running one stays");
    M.cert_sig = certs_signature(M.gens->cfg);
    return;
  }
  tg_listeners_prune(g->n);
  gen_stop(M.gens, TG_STOP_DRAIN);
  g->next = M.gens;
  M.gens = g;
  tg_metrics_set_workers(g->n);
  tg_metrics_set_shared(cfg->shared != NULL);
  tg_readiness_set_targets(M.loop, cfg);
  tg_health_start(M.loop, cfg);
  M.cert_sig = certs_signature(cfg);
  certs_to_metrics(cfg);
  tg_log_info("reloaded %s; the previous workers drain", M.config_path);
  log_listening(g);
  acme_follow(g->cfg);
}

/* A reload, told to the service manager: systemctl reload returns when
 * the new generation serves (or the configuration was refused). */
static void reload(void) {
  tg_notify("RELOADING=1");
  reload_config();
  tg_notify("READY=1");
}

/* Reopens path onto fd (the same descriptor number, so writes under way in
 * the thread pool and the workers never see a closed one). */
static void reopen_onto(const char *path, int fd) {
  int nfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (nfd < 0 || dup2(nfd, fd) < 0) tg_log_error("cannot reopen %s: %s", path, strerror(errno));
  if (nfd >= 0) close(nfd);
}

/* SIGUSR1, after logrotate moved the files: write to new ones. */
static void reopen_logs(void) {
  for (tg_gen *g = M.gens; g; g = g->next)
    if (g->log_fd > STDERR_FILENO) reopen_onto(g->cfg->access_log, g->log_fd);
  const char *el = M.gens ? M.gens->cfg->error_log : NULL;
  if (el && strcmp(el, "stderr") && strcmp(el, "stdout")) reopen_onto(el, STDERR_FILENO);
  tg_log_info("SIGUSR1: log files reopened");
}

/* Stops accepting and drains every generation (now: cuts them); the
 * process exits when the last worker is joined. */
static void drain_all(int now) {
  M.stopping = 1;
  tg_readiness_draining();
  tg_listeners_close_all();
  for (tg_gen *g = M.gens; g; g = g->next) gen_stop(g, now ? TG_STOP_NOW : TG_STOP_DRAIN);
  on_worker_exited(NULL);
}

/* The new binary serves (it told us so): this process hands over. */
static void on_upgrade_done(int ok) {
  if (!ok || M.stopping) return;
  tg_log_info("upgrade: this process (pid %ld) stops accepting and drains its live streams", (long)getpid());
  tg_admin_stop(); /* the new process answers there now */
  drain_all(0);
}

/* SIGUSR2: the binary at the same path, started with every listening
 * socket (and the admin one) handed over (upgrade.c). */
static void start_upgrade(void) {
  if (M.stopping) return;
  if (tg_upgrade_pending()) {
    tg_log_warn("SIGUSR2: an upgrade is already under way");
    return;
  }
  int fds[1025];
  size_t n = tg_listeners_fds(fds, 1024);
  int admin = tg_admin_fd();
  if (admin >= 0) fds[n++] = admin;
  tg_log_info("SIGUSR2: starting the new binary");
  tg_upgrade_start(M.loop, fds, n, on_upgrade_done);
}

static void on_signal(uv_signal_t *s, int signum) {
  (void)s;
  if (signum == SIGUSR1) {
    reopen_logs();
    return;
  }
  if (signum == SIGUSR2) {
    start_upgrade();
    return;
  }
  if (signum == SIGHUP) {
    if (!M.stopping) reload();
    return;
  }
  int now = M.stopping;
  if (!now) tg_notify("STOPPING=1");
  tg_upgrade_close(); /* a new binary that has not served yet stops too */
  tg_log_info("%s received, %s", signum == SIGTERM ? "SIGTERM" : "SIGINT",
              now ? "stopping now" : "draining (a second signal stops at once)");
  drain_all(now);
}

/* The admin listener's inherited socket, or -1 to bind one. */
static int admin_inherited(const tg_hostport *admin) {
  struct sockaddr_storage ss;
  if (tg_admin_sockaddr(admin, &ss) < 0) return -1;
  return tg_inherit_take((struct sockaddr *)&ss, sizeof ss, 0);
}

static void raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

int tg_overrides_apply(tg_config *cfg, const tg_overrides *ov) {
  if (!ov) return 0;
  if (ov->workers) cfg->workers = ov->workers;
  if (ov->access_log) {
    char *s = strdup(ov->access_log);
    if (!s) return -1;
    free(cfg->access_log);
    cfg->access_log = s;
    if (tg_config_origin_set(cfg, s, "--access-log") < 0) return -1;
  }
  return 0;
}

/* The main loop's signals, wake-ups and timers. On Linux these fail only
 * for a bad argument or when the kernel is out of descriptors or memory;
 * either way tollgate cannot be stopped or told to reload, so it does not
 * start. Returns 0, or -1 with the reason logged. */
static int master_handles_start(void) {
  static const struct {
    uv_signal_t *h;
    int signum;
  } sigs[] = {{&M.sig_term, SIGTERM},
              {&M.sig_int, SIGINT},
              {&M.sig_hup, SIGHUP},
              {&M.sig_usr1, SIGUSR1},
              {&M.sig_usr2, SIGUSR2}};
  int rc = 0;
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0] && rc == 0; i++) {
    rc = uv_signal_init(M.loop, sigs[i].h);
    if (rc == 0) rc = uv_signal_start(sigs[i].h, on_signal, sigs[i].signum);
  }
  if (rc == 0) rc = uv_async_init(M.loop, &M.worker_exited, on_worker_exited);
  if (rc == 0) rc = uv_async_init(M.loop, &M.acme_issued, on_acme_issued_async);
  if (rc == 0) rc = uv_timer_init(M.loop, &M.quota_flush);
  if (rc == 0) rc = uv_timer_start(&M.quota_flush, on_quota_flush, QUOTA_FLUSH_MS, QUOTA_FLUSH_MS);
  if (rc < 0) {
    tg_log_error("cannot set up signal handling: %s", uv_strerror(rc));
    return -1;
  }
  uv_unref((uv_handle_t *)&M.quota_flush); /* never what keeps the process up */
  return 0;
}

int tg_run(tg_config *cfg, const char *config_path, const tg_overrides *ov) {
  signal(SIGPIPE, SIG_IGN);
  raise_nofile();
  M.config_path = config_path;
  M.ov = ov;
  M.loop = uv_default_loop();
  tg_upgrade_child_init();
  size_t inherited = tg_inherit_init(); /* systemd's sockets, or those of the process this one replaces */
  /* Signals are caught before the first workers start: a SIGHUP or SIGTERM
   * that arrives early is handled, not fatal. */
  if (master_handles_start() < 0) return 1;
  if (tg_pid_file_write(cfg) < 0) {
    tg_config_free(cfg);
    return 1;
  }
  if (cfg->process && cfg->process->pid_file && !(M.pid_file = strdup(cfg->process->pid_file))) abort();
  M.gens = gen_start(cfg);
  if (!M.gens) {
    tg_listeners_close_all();
    tg_pid_file_remove(M.pid_file);
    return 1; /* the process exits; the loop's handles go with it */
  }
  tg_metrics_set_workers(M.gens->n);
  tg_metrics_set_shared(M.gens->cfg->shared != NULL);
  tg_readiness_set_targets(M.loop, M.gens->cfg);
  tg_health_start(M.loop, M.gens->cfg);
  uv_timer_init(M.loop, &M.cert_watch); /* cannot fail: a timer takes no descriptor */
  M.cert_sig = certs_signature(M.gens->cfg);
  certs_to_metrics(M.gens->cfg);
  if (M.config_path && uv_timer_start(&M.cert_watch, cert_watch_cb, CERT_WATCH_MS, CERT_WATCH_MS) < 0)
    tg_log_warn("certificate files will not be watched for changes (SIGHUP still reloads them)");
  const tg_hostport *admin = M.gens->cfg->admin;
  if (admin && tg_admin_start(M.loop, admin, admin_inherited(admin), tg_config_where(M.gens->cfg, admin->host)) < 0) {
    tg_listeners_close_all();
    tg_pid_file_remove(M.pid_file);
    return 1;
  }
  if (inherited) tg_inherit_close_unused();
  log_listening(M.gens); /* once every listener, the admin one too, takes connections */
  tg_upgrade_child_ready();
  char ready[48]; /* MAINPID: after an upgrade the service's main process is this new one */
  snprintf(ready, sizeof ready, "READY=1\nMAINPID=%ld", (long)getpid());
  if (tg_notify(ready) < 0) tg_log_warn("cannot send readiness to $NOTIFY_SOCKET: %s", strerror(errno));
  acme_follow(M.gens->cfg); /* after the listeners: HTTP-01 is answered there */
  uv_run(M.loop, UV_RUN_DEFAULT);
  uv_loop_close(M.loop);
  tg_pid_file_remove(M.pid_file);
  free(M.pid_file);
  return 0;
}
