/* tollgate top (see tollgate/top.h): reads /status.json from an admin
 * listener once a second through the blocking HTTP client and draws it
 * with plain ANSI sequences (the alternate screen, home, erase to the end
 * of line), keys read raw from the terminal: q quits, s changes the order
 * of the streams. --once prints one screen without escapes and exits. */
#include "tollgate/top.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "tollgate/http-client-sync.h"
#include "tollgate/http-url.h"

#define TOP_MAX_STATUS (64u << 20) /* /status.json of tens of thousands of streams */

static void usage(FILE *f) {
  fputs("usage: tollgate top [--once] [ADDR]\n"
        "  ADDR       the admin listener: HOST:PORT or http://HOST:PORT (default 127.0.0.1:9090)\n"
        "  --once     print one screen (no terminal control) and exit\n"
        "Keys: q quits, s orders the streams: longest, slowest, most tokens first.\n",
        f);
}

/* GET /status.json into body. Returns 0, or -1 with why in err. */
static int fetch(const tg_http_url *u, tg_buf *body, char *err, size_t errlen) {
  char target[512];
  snprintf(target, sizeof target, "%s/status.json", u->base);
  tg_http_request rq = {.method = "GET",
                        .target = target,
                        .host = u->authority,
                        .max_response = TOP_MAX_STATUS,
                        .timeout_ms = 3000,
                        .connect_ms = 1000};
  tg_http_place to = {.host = u->host, .port = u->port};
  tg_http_result res;
  int rc = tg_http_fetch(&to, &rq, &res);
  if (rc == 0 && res.resp.status == 200) {
    tg_buf_append(body, res.resp.body.data ? res.resp.body.data : "", res.resp.body.len);
  } else {
    if (rc == 0) snprintf(err, errlen, "%s/status.json answered %d", u->authority, res.resp.status);
    else snprintf(err, errlen, "cannot read http://%s/status.json: %s", u->authority, res.why[0] ? res.why : "failed");
    rc = -1;
  }
  tg_http_result_free(&res);
  return rc;
}

static struct termios saved;
static int raw_on;

static void restore(void) {
  if (!raw_on) return;
  tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
  fputs("\x1b[?25h\x1b[?1049l", stdout); /* the cursor back, the main screen back */
  fflush(stdout);
  raw_on = 0;
}

static void on_signal(int sig) {
  restore();
  signal(sig, SIG_DFL);
  raise(sig);
}

static void raw_start(void) {
  if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved) < 0) return;
  struct termios t = saved;
  t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
  t.c_cc[VMIN] = 0;
  t.c_cc[VTIME] = 0;
  if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) < 0) return;
  raw_on = 1;
  atexit(restore);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  fputs("\x1b[?1049h\x1b[?25l", stdout); /* the alternate screen, no cursor */
}

static void term_size(unsigned *w, unsigned *h) {
  struct winsize ws;
  *w = 100, *h = 30;
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) *w = ws.ws_col, *h = ws.ws_row;
}

/* Draws a screen: home, each line erased to its end, the rest erased. */
static void draw(const tg_buf *screen, const char *foot) {
  tg_buf o = {0};
  tg_buf_puts(&o, "\x1b[H");
  for (size_t i = 0, start = 0; i < screen->len; i++)
    if (screen->data[i] == '\n') {
      tg_buf_append(&o, screen->data + start, i - start);
      tg_buf_puts(&o, "\x1b[K\r\n");
      start = i + 1;
    }
  tg_buf_printf(&o, "\x1b[7m%s\x1b[0m\x1b[K\x1b[J", foot);
  if (o.data) fwrite(o.data, 1, o.len, stdout);
  fflush(stdout);
  tg_buf_free(&o);
}

/* Waits up to ms for a key; returns it, or 0. */
static int key_wait(int ms) {
  struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
  if (!raw_on) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
    return 0;
  }
  char c = 0;
  if (poll(&p, 1, ms) > 0 && read(STDIN_FILENO, &c, 1) == 1) return (unsigned char)c;
  return 0;
}

static int run(const tg_http_url *u) {
  tg_top_sort sort = TG_TOP_AGE;
  raw_start();
  for (;;) {
    unsigned w, h;
    term_size(&w, &h);
    tg_buf body = {0}, screen = {0};
    char err[300] = "";
    if (fetch(u, &body, err, sizeof err) == 0) tg_top_render(&screen, body.data, body.len, w, h - 1, sort);
    else tg_buf_printf(&screen, "%s\n", err);
    char foot[160];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    snprintf(foot, sizeof foot, " %s  %02d:%02d:%02d  q quit  s order", u->authority, tm.tm_hour, tm.tm_min, tm.tm_sec);
    draw(&screen, foot);
    tg_buf_free(&body);
    tg_buf_free(&screen);
    for (int waited = 0; waited < 1000; waited += 100) { /* a key acts at once; the screen redraws each second */
      int k = key_wait(100);
      if (k == 'q' || k == 'Q' || k == 3) {
        restore();
        return 0;
      }
      if (k == 's' || k == 'S') {
        sort = (tg_top_sort)((sort + 1) % TG_TOP_SORTS);
        break;
      }
    }
  }
}

int tg_top_main(int argc, char **argv) {
  int once = 0;
  const char *addr = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--once")) {
      once = 1;
    } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      usage(stdout);
      return 0;
    } else if (argv[i][0] == '-' || addr) {
      usage(stderr);
      return 2;
    } else {
      addr = argv[i];
    }
  }
  char url[512], err[200];
  if (!addr) addr = "127.0.0.1:9090";
  snprintf(url, sizeof url, "%s%s", strstr(addr, "://") ? "" : "http://", addr);
  tg_http_url u = {0};
  if (tg_http_url_parse(url, &u, err, sizeof err) < 0) {
    fprintf(stderr, "tollgate top: %s: %s\n", addr, err);
    return 2;
  }
  if (u.tls) {
    fprintf(stderr, "tollgate top: %s: the admin listener speaks plain HTTP\n", addr);
    tg_http_url_free(&u);
    return 2;
  }
  int rc = 0;
  if (once) {
    tg_buf body = {0}, screen = {0};
    if (fetch(&u, &body, err, sizeof err) < 0) {
      fprintf(stderr, "tollgate top: %s\n", err);
      rc = 1;
    } else if (tg_top_render(&screen, body.data, body.len, 0, 0, TG_TOP_AGE) < 0) {
      fprintf(stderr, "tollgate top: %.*s", (int)screen.len, screen.data);
      rc = 1;
    } else {
      fwrite(screen.data, 1, screen.len, stdout);
    }
    tg_buf_free(&body);
    tg_buf_free(&screen);
  } else {
    rc = run(&u);
  }
  tg_http_url_free(&u);
  return rc;
}
