/* Tests for src/shared: the store's URL and password file, and one
 * worker's connection against a real redis-server (Debian's, in
 * TEST_PKGS) that each test starts on a free port with its own data
 * directory: the handshake (AUTH with and without an ACL user, SELECT),
 * pipelined commands answered in order, a store that stops answering
 * (SIGSTOP: the command fails at its timeout, the connection comes back
 * after SIGCONT), one killed and restarted empty, a refused password, and
 * closing with commands in flight. Waits are bounded by hang guards only. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tg_test.h"
#include "tollgate/limits.h"
#include "tollgate/quota.h"
#include "tollgate/shared.h"

void tg_suite_shared(void);

#define REDIS_BIN "/usr/bin/redis-server"
#define GUARD_MS 5000 /* hang guard of every wait */

/* ---- URL and password file ---- */

static void test_url_forms(void) {
  tg_shared_conf *c = tg_shared_conf_new();
  TG_CHECK(c);
  TG_CHECK(tg_shared_url_parse(c, "redis://cache.internal") == NULL);
  TG_CHECK(strcmp(c->host, "cache.internal") == 0 && c->port == 6379 && c->db == 0);
  TG_CHECK(tg_shared_url_parse(c, "redis://10.0.0.5:7000/15") == NULL);
  TG_CHECK(strcmp(c->host, "10.0.0.5") == 0 && c->port == 7000 && c->db == 15);
  TG_CHECK(tg_shared_url_parse(c, "redis://[fd00::1]/") == NULL);
  TG_CHECK(strcmp(c->host, "fd00::1") == 0);
  TG_CHECK(tg_shared_url_parse(c, "redis://[fd00::1]x") != NULL);
  TG_CHECK(tg_shared_url_parse(c, "redis://[]:1") != NULL);
  TG_CHECK(tg_shared_url_parse(c, "redis://:6379") != NULL);
  TG_CHECK(tg_shared_url_parse(c, "redis://h:65536") != NULL);
  TG_CHECK(tg_shared_url_parse(c, "redis://h:12a") != NULL);
  TG_CHECK(tg_shared_url_parse(c, "redis://h?db=1") != NULL);
  TG_CHECK(tg_shared_url_parse(c, "rediss://h") != NULL);
  tg_shared_conf_free(c);
}

static void test_password_file(void) {
  char path[] = "/tmp/tg-pw-XXXXXX", *pw = NULL;
  int fd = mkstemp(path);
  TG_CHECK(fd >= 0);
  TG_CHECK(write(fd, "\tp w\r\n", 6) == 6);
  close(fd);
  TG_CHECK(tg_shared_password_read(path, &pw) == NULL);
  TG_CHECK_STR(pw, "p w");
  free(pw);
  pw = NULL;
  fd = open(path, O_WRONLY | O_TRUNC);
  TG_CHECK(fd >= 0 && write(fd, "  \n", 3) == 3);
  close(fd);
  TG_CHECK(tg_shared_password_read(path, &pw) != NULL && pw == NULL);
  unlink(path);
}

/* ---- a redis-server of the test's own ---- */

typedef struct redis_proc {
  pid_t pid;
  int port;
  char dir[64];
} redis_proc;

static int free_port(void) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
  if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0) close(fd);
  return port;
}

static int port_open(int port) {
  struct sockaddr_in a = {
      .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
  if (fd >= 0) close(fd);
  return ok;
}

/* Starts redis-server on r->port (a free one when 0) in r->dir (a new
 * one when empty), with extra arguments; waits until it accepts. */
static int redis_start(redis_proc *r, const char *const *extra) {
  char port[16];
  const char *argv[24] = {REDIS_BIN,      "--port", port,    "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no",     "--dir", r->dir,   "--logfile", ""};
  size_t n = 13;
  if (!r->dir[0]) {
    snprintf(r->dir, sizeof r->dir, "/tmp/tg-redis-XXXXXX");
    if (!mkdtemp(r->dir)) return -1;
  }
  if (!r->port && (r->port = free_port()) < 0) return -1;
  snprintf(port, sizeof port, "%d", r->port);
  for (; extra && *extra && n < 22; extra++) argv[n++] = *extra;
  argv[n] = NULL;
  if ((r->pid = fork()) == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* a test that dies leaves no store behind */
    execv(REDIS_BIN, (char *const *)argv);
    _exit(127);
  }
  for (int i = 0; i < GUARD_MS / 10; i++) {
    if (port_open(r->port)) return 0;
    if (waitpid(r->pid, NULL, WNOHANG) == r->pid) return -1;
    usleep(10000);
  }
  return -1;
}

static void redis_kill(redis_proc *r) {
  if (r->pid <= 0) return;
  kill(r->pid, SIGCONT);
  kill(r->pid, SIGKILL);
  waitpid(r->pid, NULL, 0);
  r->pid = 0;
}

static void redis_stop(redis_proc *r) {
  redis_kill(r);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->dir);
  if (r->dir[0] && system(cmd) != 0) fprintf(stderr, "  cannot remove %s\n", r->dir);
}

/* ---- the connection ---- */

typedef struct probe {
  uv_loop_t loop;
  tg_shared_conf *conf;
  tg_shared_conn *conn;
  int ups, downs, trips;
  int answered, failed, nils;
  long long last_int;
  char last_str[64];
  int order_ok;
  long long next_expected;
} probe;

static void on_state(void *data, int up) {
  probe *p = data;
  if (up) p->ups++;
  else p->downs++;
}

static void on_trip(void *data, uint64_t us) {
  probe *p = data;
  (void)us;
  p->trips++;
}

static void on_reply(void *data, const redisReply *r) {
  probe *p = data;
  if (!r) return (void)p->failed++;
  p->answered++;
  if (r->type == REDIS_REPLY_NIL) p->nils++;
  if (r->type == REDIS_REPLY_INTEGER) {
    if (r->integer != p->next_expected) p->order_ok = 0;
    p->next_expected = r->integer + 1;
    p->last_int = r->integer;
  }
  if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR)
    snprintf(p->last_str, sizeof p->last_str, "%.*s", (int)r->len, r->str);
}

static void tick(uv_timer_t *t) { (void)t; }

/* Runs the loop until *flag reaches want or ms pass (a timer keeps the
 * loop turning). Returns whether it did. */
static int run_for(probe *p, const int *flag, int want, uint64_t ms) {
  uv_timer_t t;
  uv_timer_init(&p->loop, &t);
  uv_timer_start(&t, tick, 5, 5);
  uint64_t end = uv_now(&p->loop) + ms;
  while (*flag < want && uv_now(&p->loop) < end) uv_run(&p->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&p->loop, UV_RUN_NOWAIT);
  return *flag >= want;
}

static int run_until(probe *p, const int *flag, int want) { return run_for(p, flag, want, GUARD_MS); }

static int probe_open(probe *p, const redis_proc *r, const char *password, const char *user, unsigned db) {
  char url[64];
  memset(p, 0, sizeof *p);
  p->order_ok = 1;
  p->next_expected = 1;
  if (uv_loop_init(&p->loop) || !(p->conf = tg_shared_conf_new())) return -1;
  snprintf(url, sizeof url, "redis://localhost:%d/%u", r->port, db);
  p->conf->url = strdup(url);
  if (tg_shared_url_parse(p->conf, url)) return -1;
  p->conf->password = password ? strdup(password) : NULL;
  p->conf->user = user ? strdup(user) : NULL;
  p->conf->timeout_ms = 2000; /* a busy machine's slow answer is not a failure; test_hung_store sets 100 */
  if (!(p->conn = tg_shared_conn_start(&p->loop, p->conf, "test"))) return -1;
  tg_shared_hooks h = {.state = on_state, .round_trip = on_trip, .data = p};
  tg_shared_conn_set_hooks(p->conn, &h);
  return 0;
}

static void probe_close(probe *p) {
  tg_shared_conn_close(p->conn);
  uv_run(&p->loop, UV_RUN_DEFAULT); /* ends once every handle has closed */
  uv_loop_close(&p->loop);
  tg_shared_conf_free(p->conf);
}

static int cmd(probe *p, int argc, const char **argv) {
  size_t lens[8];
  for (int i = 0; i < argc; i++) lens[i] = strlen(argv[i]);
  return tg_shared_command(p->conn, argc, argv, lens, on_reply, p);
}

static const char *incr[] = {"INCR", "tg:n"};

/* A store of the test's own and a connection to it, up. The probe is
 * opened whatever happens, for probe_close. */
static int store_up(redis_proc *r, probe *p) {
  int started = redis_start(r, NULL) == 0;
  int opened = probe_open(p, r, NULL, NULL, 0) == 0;
  return started && opened && run_until(p, &p->ups, 1);
}

/* The handshake, then 200 INCRs sent in one loop turn: every reply, in
 * order, each with its round trip; SELECT put them in database 2. */
static void test_pipelined_in_order(void) {
  redis_proc r = {0};
  probe p;
  TG_CHECK(redis_start(&r, NULL) == 0);
  TG_CHECK(probe_open(&p, &r, NULL, NULL, 2) == 0);
  const char *get[] = {"GET", "tg:n"}, *sel[] = {"SELECT", "0"};
  TG_CHECK(cmd(&p, 2, incr) < 0); /* not up yet: refused at once, no callback */
  int ok = run_until(&p, &p.ups, 1);
  for (int i = 0; ok && i < 200; i++) ok = cmd(&p, 2, incr) == 0;
  ok =
      ok && run_until(&p, &p.answered, 200) && p.order_ok && p.last_int == 200 && p.trips == 202; /* and SELECT, PING */
  ok = ok && cmd(&p, 2, sel) == 0 && cmd(&p, 2, get) == 0 && run_until(&p, &p.answered, 202);
  int in_db0 = ok && p.nils == 1; /* nil: the counter is in database 2 */
  int never_lost = p.downs == 0;
  probe_close(&p);
  redis_stop(&r);
  TG_CHECK(ok && in_db0 && p.failed == 0 && never_lost);
  TG_CHECK(p.downs == 1); /* closed while up: told, so that a count of connections up stays right */
}

/* A password, then an ACL user: the connection comes up only with the
 * right one, and a wrong one is refused without crashing or spinning. */
static void test_auth(void) {
  redis_proc r = {0};
  probe p;
  const char *extra[] = {"--requirepass", "s3cret", "--user", "alice", "on", ">alicepw", "~*", "&*", "+@all", NULL};
  TG_CHECK(redis_start(&r, extra) == 0);
  TG_CHECK(probe_open(&p, &r, "s3cret", NULL, 0) == 0);
  int plain = run_until(&p, &p.ups, 1);
  probe_close(&p);
  TG_CHECK(probe_open(&p, &r, "alicepw", "alice", 0) == 0);
  int acl = run_until(&p, &p.ups, 1);
  const char *who[] = {"ACL", "WHOAMI"};
  acl = acl && cmd(&p, 2, who) == 0 && run_until(&p, &p.answered, 1) && strcmp(p.last_str, "alice") == 0;
  probe_close(&p);
  TG_CHECK(probe_open(&p, &r, "wrong", NULL, 0) == 0);
  int never = 0;
  run_for(&p, &never, 1, 600); /* several tries with the wrong password */
  int refused = p.ups == 0;
  probe_close(&p);
  redis_stop(&r);
  TG_CHECK(plain && acl && refused);
}

/* A store that stops answering (SIGSTOP): the command fails at its timeout
 * and the connection goes down; after SIGCONT it comes back by itself. */
static void test_hung_store(void) {
  redis_proc r = {0};
  probe p;
  int ok = store_up(&r, &p);
  p.conf->timeout_ms = 100; /* read by each command */
  kill(r.pid, SIGSTOP);
  ok = ok && cmd(&p, 2, incr) == 0 && cmd(&p, 2, incr) == 0;
  uint64_t t0 = uv_hrtime();
  ok = ok && run_until(&p, &p.failed, 2);
  uint64_t waited_ms = (uv_hrtime() - t0) / 1000000;
  int down = p.downs == 1 && !tg_shared_conn_up(p.conn) && cmd(&p, 2, incr) < 0;
  kill(r.pid, SIGCONT);
  int back = run_until(&p, &p.ups, 2) && cmd(&p, 2, incr) == 0 && run_until(&p, &p.answered, 1);
  probe_close(&p);
  redis_stop(&r);
  TG_CHECK(ok && down && back);
  TG_CHECK(waited_ms < 2000); /* hang guard: the timeout is 100 ms */
}

/* Killed with commands in flight, then restarted empty on the same port:
 * the commands fail, the connection comes back, the count starts over. */
static void test_killed_and_restarted(void) {
  redis_proc r = {0};
  probe p;
  int ok = store_up(&r, &p) && cmd(&p, 2, incr) == 0 && run_until(&p, &p.answered, 1);
  kill(r.pid, SIGSTOP);
  ok = ok && cmd(&p, 2, incr) == 0;
  redis_kill(&r);
  ok = ok && run_until(&p, &p.failed, 1) && run_until(&p, &p.downs, 1);
  ok = ok && redis_start(&r, NULL) == 0 && run_until(&p, &p.ups, 2);
  p.next_expected = 1;
  ok = ok && cmd(&p, 2, incr) == 0 && run_until(&p, &p.answered, 2) && p.last_int == 1;
  probe_close(&p);
  redis_stop(&r);
  TG_CHECK(ok && p.order_ok);
}

/* Closing with commands in flight: each gets NULL, the memory goes (ASan
 * checks), and the loop ends. */
static void test_close_in_flight(void) {
  redis_proc r = {0};
  probe p;
  int ok = store_up(&r, &p);
  kill(r.pid, SIGSTOP);
  for (int i = 0; ok && i < 5; i++) ok = cmd(&p, 2, incr) == 0;
  probe_close(&p);
  redis_stop(&r);
  TG_CHECK(ok && p.failed == 5 && p.answered == 0);
}

/* No store at the address: refused connects retry with a backoff, the
 * connection never claims to be up, and closing mid-backoff is clean. */
static void test_nothing_listening(void) {
  redis_proc r = {.port = free_port()};
  probe p;
  TG_CHECK(r.port > 0);
  TG_CHECK(probe_open(&p, &r, NULL, NULL, 0) == 0);
  int never = 0;
  run_for(&p, &never, 1, 600);
  int down = p.ups == 0 && !tg_shared_conn_up(p.conn);
  probe_close(&p);
  TG_CHECK(down);
}

/* ---- limit rate's script ---- */

typedef struct verdict {
  int done;
  long long v[3]; /* {0, delay} or {1, i, retry} */
} verdict;

static void on_script(void *data, const redisReply *r) {
  verdict *v = data;
  v->done = -1;
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2) return;
  for (size_t i = 0; i < r->elements && i < 3; i++) v->v[i] = r->element[i]->integer;
  v->done = 1;
}

/* One request against rule r's bucket key at now_ms, through p's
 * connection; 0 with *d, 1 with *retry, -1 when the store failed. */
static int script_check(probe *p, const char *key, const tg_rate_rule *r, uint64_t now_ms, uint64_t *d,
                        uint64_t *retry) {
  char now[24], rate[24], burst[24], delay[24];
  snprintf(now, sizeof now, "%llu", (unsigned long long)now_ms);
  snprintf(rate, sizeof rate, "%llu", (unsigned long long)r->rate);
  snprintf(burst, sizeof burst, "%llu", (unsigned long long)r->burst);
  snprintf(delay, sizeof delay, "%lld", r->delay == TG_LIMIT_NODELAY ? -1LL : (long long)r->delay);
  const char *argv[] = {key, now, "", "", rate, burst, delay};
  size_t lens[7];
  for (int i = 0; i < 7; i++) lens[i] = strlen(argv[i]);
  verdict v = {0};
  int waiting = 0;
  if (tg_shared_eval(p->conn, tg_rate_shared_script(), 1, 6, argv, lens, on_script, &v) < 0) return -1;
  uv_timer_t t;
  uv_timer_init(&p->loop, &t);
  uv_timer_start(&t, tick, GUARD_MS, 0);
  while (!v.done && uv_timer_get_due_in(&t) > 0) uv_run(&p->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&p->loop, UV_RUN_NOWAIT);
  (void)waiting;
  if (v.done != 1) return -1;
  *d = v.v[0] == 0 ? (uint64_t)v.v[1] : 0;
  *retry = v.v[0] == 1 ? (uint64_t)v.v[2] : 0;
  return (int)v.v[0];
}

typedef struct step {
  int rule;        /* index into the rules */
  uint64_t now_ms; /* the time the request arrives */
} step;

/* The sequence through the local limiter (tg_leaky_bucket) and through
 * the script, alternating between two connections (two instances): the
 * same verdict, delay and retry at every step. Returns the first step that
 * differs, or -1. */
static int replay(probe *two, const tg_rate_rule *rules, const step *steps, int n) {
  int64_t ex[8] = {0};
  uint64_t last[8] = {0};
  int seen[8] = {0};
  char key[32];
  for (int i = 0; i < n; i++) {
    const step *s = &steps[i];
    uint64_t d1, r1, d2, r2;
    int rc1 = tg_leaky_bucket(&rules[s->rule], &ex[s->rule], &last[s->rule], !seen[s->rule], s->now_ms, &d1, &r1);
    seen[s->rule] = 1;
    snprintf(key, sizeof key, "tg:test:rate:%d", s->rule);
    int rc2 = script_check(&two[i % 2], key, &rules[s->rule], s->now_ms, &d2, &r2);
    if (rc1 != rc2 || d1 != d2 || (rc1 == 1 && r1 != r2)) {
      fprintf(stderr, "  step %d (rule %d at %llu ms): local %d d=%llu retry=%llu, shared %d d=%llu retry=%llu\n", i,
              s->rule, (unsigned long long)s->now_ms, rc1, (unsigned long long)d1, (unsigned long long)r1, rc2,
              (unsigned long long)d2, (unsigned long long)r2);
      return i;
    }
  }
  return -1;
}

static tg_rate_rule rule_of(uint64_t rps, uint64_t burst, uint64_t delay) {
  tg_rate_rule r = {.rate = rps * 1000, .burst = burst * 1000, .delay = delay};
  return r;
}

/* The nginx sequences of tests/unit/test_limits.c (burst nodelay, delays,
 * delay N, 30r/m), then 3,000 random arrivals over four rules: two
 * connections alternating answer as the local limiter does, to the ms. */
static void test_rate_script_as_local(void) {
  redis_proc r = {0};
  probe two[2];
  int ok = store_up(&r, &two[0]);
  ok = probe_open(&two[1], &r, NULL, NULL, 0) == 0 && run_until(&two[1], &two[1].ups, 1) && ok;
  tg_rate_rule rules[4] = {rule_of(5, 10, TG_LIMIT_NODELAY),
                           rule_of(5, 10, 0),
                           rule_of(5, 10, 2000),
                           {.rate = 30 * 1000 / 60, .burst = 0, .delay = TG_LIMIT_NODELAY}};
  step seq[64];
  int n = 0;
  for (int i = 0; i < 21; i++) seq[n++] = (step){0, 1000};
  seq[n++] = (step){0, 1150}, seq[n++] = (step){0, 1200}, seq[n++] = (step){0, 1200}, seq[n++] = (step){0, 1400};
  seq[n++] = (step){0, 100000};
  for (int i = 0; i < 3; i++) seq[n++] = (step){1, 0};
  for (int i = 0; i < 4; i++) seq[n++] = (step){2, 0};
  seq[n++] = (step){3, 0}, seq[n++] = (step){3, 1000}, seq[n++] = (step){3, 2000};
  int bad = ok ? replay(two, rules, seq, n) : -2;
  static step rnd[3000];
  uint64_t now = 200000, x = 88172645463325252ull;
  for (int i = 0; i < 3000; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    now += x % 5 == 0 ? x % 3000 : x % 120;
    rnd[i] = (step){(int)((x >> 32) % 4), now};
  }
  int bad_rnd = ok && bad < 0 ? replay(two, rules, rnd, 3000) : -2;
  probe_close(&two[0]);
  probe_close(&two[1]);
  redis_stop(&r);
  TG_CHECK(ok);
  TG_CHECK(bad == -1);
  TG_CHECK(bad_rnd == -1);
}

/* Runs script sc with argv (nkeys keys, then arguments) on p and waits
 * for its verdict. Returns 1 with v filled, or 0. */
static int run_script(probe *p, const tg_shared_script *sc, int nkeys, int nargs, const char **argv, verdict *v) {
  size_t lens[8];
  for (int i = 0; i < nkeys + nargs; i++) lens[i] = strlen(argv[i]);
  *v = (verdict){0};
  if (tg_shared_eval(p->conn, sc, nkeys, nargs, argv, lens, on_script, v) < 0) return 0;
  while (!v->done) uv_run(&p->loop, UV_RUN_ONCE); /* the command's timeout ends it at worst */
  return v->done == 1;
}

/* The token quota through the scripts (the admission check, the charge)
 * against the local counters (tg_quota_check, tg_quota_add) over the same
 * times: 100/m and 250/d, 400 random charges over three days. */
static void test_quota_scripts_as_local(void) {
  redis_proc r = {0};
  probe two[2];
  int ok = store_up(&r, &two[0]);
  ok = probe_open(&two[1], &r, NULL, NULL, 0) == 0 && run_until(&two[1], &two[1].ups, 1) && ok;
  tg_quota_conf q = {.per_minute = 100, .per_day = 250, .store = tg_quota_store_new(64)};
  int64_t now = (int64_t)time(NULL); /* the keys expire at their windows' ends, on the store's clock */
  uint64_t x = 2463534242ull;
  int bad = -1;
  for (int i = 0; ok && bad < 0 && i < 400; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    now += (int64_t)(x % 7 == 0 ? x % 40000 : x % 30);
    char ms[24], tokens[24];
    snprintf(ms, sizeof ms, "%lld", (long long)now * 1000);
    snprintf(tokens, sizeof tokens, "%llu", (unsigned long long)(x % 60));
    int64_t reset = 0;
    int per_day = 0, over = tg_quota_check(&q, "alice", now, &reset, &per_day);
    const char *check[] = {"tg:q:alice", ms, "100:250", ""};
    verdict v;
    ok = run_script(&two[i % 2], tg_rate_shared_script(), 1, 3, check, &v);
    int same =
        ok && (over ? v.v[0] == 2 && v.v[1] == (per_day ? 2 : 1) && v.v[2] == (reset - now) * 1000 : v.v[0] == 0);
    if (!same && ok) {
      fprintf(stderr, "  step %d at %lld: local over=%d day=%d reset=%lld, script %lld %lld %lld\n", i, (long long)now,
              over, per_day, (long long)reset, v.v[0], v.v[1], v.v[2]);
      bad = i;
    }
    if (over) continue; /* refused: nothing used */
    tg_quota_add(&q, "alice", now, x % 60);
    const char *charge[] = {"tg:q:alice", ms, tokens, "100:250"};
    ok = ok && run_script(&two[(i + 1) % 2], tg_quota_charge_script(), 1, 3, charge, &v);
  }
  tg_quota_store_release(q.store);
  probe_close(&two[0]);
  probe_close(&two[1]);
  redis_stop(&r);
  TG_CHECK(ok);
  TG_CHECK(bad == -1);
}

/* NOSCRIPT: a store without the script (flushed) gets it as EVAL in the
 * same call; the next call finds it by its SHA-1. */
static void test_script_after_flush(void) {
  redis_proc r = {0};
  probe p;
  int ok = store_up(&r, &p);
  const char *flush[] = {"SCRIPT", "FLUSH"};
  ok = ok && cmd(&p, 2, flush) == 0 && run_until(&p, &p.answered, 1);
  tg_rate_rule rule = rule_of(1, 0, TG_LIMIT_NODELAY);
  uint64_t d, retry;
  int first = ok ? script_check(&p, "tg:k", &rule, 5000, &d, &retry) : -1;
  int second = ok ? script_check(&p, "tg:k", &rule, 5000, &d, &retry) : -1;
  const char *exists[] = {"SCRIPT", "EXISTS", tg_rate_shared_script()->sha1};
  p.answered = 0;
  ok = ok && cmd(&p, 3, exists) == 0 && run_until(&p, &p.answered, 1);
  probe_close(&p);
  redis_stop(&r);
  TG_CHECK(ok && first == 0 && second == 1 && retry == 1000);
}

/* The keys known over their limit: noted until a time, forgotten after it,
 * and when the connection is made again. */
static void test_over_cache(void) {
  redis_proc r = {0};
  probe p;
  int ok = store_up(&r, &p);
  tg_shared_over_note(p.conn, "k1", 2, 1500);
  int noted = tg_shared_over_until(p.conn, "k1", 2, 1000) == 1500 && tg_shared_over_until(p.conn, "k2", 2, 1000) == 0;
  int expired = tg_shared_over_until(p.conn, "k1", 2, 1500) == 0;
  char k[16];
  for (int i = 0; i < 5000; i++) { /* far more keys than slots: bounded, no failure */
    snprintf(k, sizeof k, "k%d", i);
    tg_shared_over_note(p.conn, k, strlen(k), 9000);
  }
  int kept = tg_shared_over_until(p.conn, "k4999", 5, 1000) == 9000;
  kill(r.pid, SIGKILL);
  waitpid(r.pid, NULL, 0);
  r.pid = 0;
  ok = ok && run_until(&p, &p.downs, 1) && redis_start(&r, NULL) == 0 && run_until(&p, &p.ups, 2);
  int forgotten = tg_shared_over_until(p.conn, "k4999", 5, 1000) == 0;
  probe_close(&p);
  redis_stop(&r);
  TG_CHECK(ok && noted && expired && kept && forgotten);
}

void tg_suite_shared(void) {
  TG_RUN(test_url_forms);
  TG_RUN(test_password_file);
  if (access(REDIS_BIN, X_OK) != 0) {
    fprintf(stderr, "  shared: %s is missing (apt-get install redis-server): its tests are skipped\n", REDIS_BIN);
    return;
  }
  TG_RUN(test_pipelined_in_order);
  TG_RUN(test_auth);
  TG_RUN(test_hung_store);
  TG_RUN(test_killed_and_restarted);
  TG_RUN(test_close_in_flight);
  TG_RUN(test_nothing_listening);
  TG_RUN(test_rate_script_as_local);
  TG_RUN(test_script_after_flush);
  TG_RUN(test_quota_scripts_as_local);
  TG_RUN(test_over_cache);
}
