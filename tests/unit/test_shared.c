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
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tg_test.h"
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
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
  if (fd >= 0) close(fd);
  return ok;
}

/* Starts redis-server on r->port (a free one when 0) in r->dir (a new
 * one when empty), with extra arguments; waits until it accepts. */
static int redis_start(redis_proc *r, const char *const *extra) {
  char port[16];
  const char *argv[24] = {REDIS_BIN, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                          "--dir", r->dir, "--logfile", ""};
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
  p->conf->timeout_ms = 100;
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
  ok = ok && run_until(&p, &p.answered, 200) && p.order_ok && p.last_int == 200 && p.trips == 202; /* and SELECT, PING */
  ok = ok && cmd(&p, 2, sel) == 0 && cmd(&p, 2, get) == 0 && run_until(&p, &p.answered, 202);
  int in_db0 = ok && p.nils == 1; /* nil: the counter is in database 2 */
  probe_close(&p);
  redis_stop(&r);
  TG_CHECK(ok && in_db0 && p.failed == 0 && p.downs == 0);
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
}
