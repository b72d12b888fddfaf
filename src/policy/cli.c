/* `tollgate passwd [-c COST] USER`: prints an htpasswd line with a bcrypt
 * ($2y$) hash, as `htpasswd -nB` does; the password is read from the
 * terminal (twice, without echo) or from the first line of stdin.
 * `tollgate key new NAME`: prints a new random API key once on stdout, and
 * the line for the keys file (NAME and the key's SHA-256) on stderr, so
 * that `KEY=$(tollgate key new NAME)` captures the secret alone.
 * Both take -h/--help (usage on stdout, exit 0); a usage error exits 2. */
#include <crypt.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "policy.h"

static int read_password(const char *prompt, char *buf, size_t cap) {
  int tty = isatty(STDIN_FILENO);
  struct termios old, quiet;
  if (tty) {
    fputs(prompt, stderr);
    tcgetattr(STDIN_FILENO, &old);
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  char *r = fgets(buf, (int)cap, stdin);
  if (tty) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    fputc('\n', stderr);
  }
  if (!r) return -1;
  buf[strcspn(buf, "\r\n")] = '\0';
  return 0;
}

static int valid_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > TG_USER_MAX) return 0;
  for (; *s; s++)
    if ((unsigned char)*s <= ' ' || *s == ':' || *s == 0x7f || *s == '"' || *s == '\\') return 0;
  return 1;
}

static const char passwd_usage[] = "usage: tollgate passwd [-c COST] USER\n"
                                   "Prints USER:$2y$... (bcrypt) for an htpasswd file. The password is read\n"
                                   "from the terminal (twice, without echo) or from the first line of stdin.\n"
                                   "  -c, --cost COST   bcrypt cost, 4 to 31 (default 10)\n"
                                   "  -h, --help        this text\n";

static const char key_usage[] = "usage: tollgate key new NAME\n"
                                "Prints a new API key for NAME on stdout (shown once; the only output\n"
                                "there, so KEY=$(tollgate key new NAME) captures it) and the line for\n"
                                "the keys file (NAME SHA256-HEX) on stderr.\n"
                                "  -h, --help        this text\n";

/* A usage error: what is wrong, the usage, exit status 2. */
static int usage_error(const char *usage, const char *what) {
  if (what) fprintf(stderr, "%s\n", what);
  fputs(usage, stderr);
  return 2;
}

/* Reads -c/--cost and -h/--help into *cost. Returns -1 to go on, else the
 * exit status (0 after --help, 2 after a usage error). */
static int passwd_options(int argc, char **argv, long *cost) {
  static const struct option longs[] = {
      {"cost", required_argument, 0, 'c'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  int ch;
  optind = 1;
  while ((ch = getopt_long(argc, argv, "c:h", longs, NULL)) != -1) {
    if (ch == 'h') return fputs(passwd_usage, stdout), 0;
    if (ch != 'c') return usage_error(passwd_usage, NULL); /* getopt said what */
    char *end;
    *cost = strtol(optarg, &end, 10);
    if (!optarg[0] || *end || *cost < 4 || *cost > 31)
      return usage_error(passwd_usage, "tollgate passwd: the bcrypt cost is 4 to 31");
  }
  if (optind + 1 != argc) return usage_error(passwd_usage, "tollgate passwd: give exactly one USER");
  if (!valid_name(argv[optind]))
    return usage_error(passwd_usage, "tollgate passwd: a USER has no spaces, ':', '\"' or '\\'");
  return -1;
}

int tg_passwd_main(int argc, char **argv) {
  long cost = 10;
  int done = passwd_options(argc, argv, &cost);
  if (done >= 0) return done;
  const char *user = argv[optind];
  char pw[1024], again[1024], salt[64];
  int rc = 1;
  if (read_password("Password: ", pw, sizeof pw) < 0 || !pw[0]) {
    fprintf(stderr, "tollgate passwd: no password given\n");
    goto out;
  }
  if (isatty(STDIN_FILENO) && (read_password("Again: ", again, sizeof again) < 0 || strcmp(pw, again) != 0)) {
    fprintf(stderr, "tollgate passwd: the passwords differ\n");
    goto out;
  }
  struct crypt_data *cd = calloc(1, sizeof *cd);
  const char *hash = NULL;
  if (cd && crypt_gensalt_rn("$2y$", (unsigned long)cost, NULL, 0, salt, sizeof salt)) hash = crypt_r(pw, salt, cd);
  if (hash && hash[0] == '$') {
    printf("%s:%s\n", user, hash);
    rc = 0;
  } else {
    fprintf(stderr, "tollgate passwd: bcrypt failed\n");
  }
  if (cd) OPENSSL_cleanse(cd, sizeof *cd);
  free(cd);
out:
  OPENSSL_cleanse(pw, sizeof pw);
  OPENSSL_cleanse(again, sizeof again);
  return rc;
}

/* Reads -h/--help, then `new NAME`. Returns -1 to go on (NAME at
 * argv[optind + 1]), else the exit status. */
static int key_options(int argc, char **argv) {
  static const struct option longs[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  int ch;
  optind = 1;
  while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
    if (ch == 'h') return fputs(key_usage, stdout), 0;
    return usage_error(key_usage, NULL);
  }
  if (optind + 2 != argc || strcmp(argv[optind], "new") != 0)
    return usage_error(key_usage, "tollgate key: the one command is 'new NAME'");
  if (!valid_name(argv[optind + 1]))
    return usage_error(key_usage, "tollgate key: a NAME has no spaces, ':', '\"' or '\\'");
  return -1;
}

int tg_key_main(int argc, char **argv) {
  int done = key_options(argc, argv);
  if (done >= 0) return done;
  const char *name = argv[optind + 1];
  unsigned char raw[32];
  char key[64], hex[65];
  if (RAND_bytes(raw, sizeof raw) != 1) return 1;
  memcpy(key, "tg-", 3);
  size_t o = 3 + tg_b64url_encode(raw, sizeof raw, key + 3);
  tg_key_hash_hex(key, o, hex);
  printf("%s\n", key);
  fflush(stdout);
  fprintf(stderr,
          "tollgate key: the key above is shown once; give it to %s.\n"
          "line for the keys file:\n%s %s\n",
          name, name, hex);
  OPENSSL_cleanse(key, sizeof key);
  OPENSSL_cleanse(raw, sizeof raw);
  return 0;
}
