/* `tollgate passwd [-c COST] USER`: prints an htpasswd line with a bcrypt
 * ($2y$) hash, as `htpasswd -nB` does; the password is read from the
 * terminal (twice, without echo) or from the first line of stdin.
 * `tollgate key new NAME`: prints a new random API key once, and the line
 * for the keys file (NAME and the key's SHA-256). */
#include <crypt.h>
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

int tg_passwd_main(int argc, char **argv) {
  long cost = 10;
  int i = 1;
  if (i + 1 < argc && strcmp(argv[i], "-c") == 0) {
    char *end;
    cost = strtol(argv[i + 1], &end, 10);
    if (*end || cost < 4 || cost > 31) {
      fprintf(stderr, "tollgate passwd: the bcrypt cost is 4 to 31\n");
      return 2;
    }
    i += 2;
  }
  if (i + 1 != argc || !valid_name(argv[i])) {
    fprintf(stderr, "usage: tollgate passwd [-c COST] USER   (prints USER:$2y$... for an htpasswd file)\n");
    return 2;
  }
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
  if (cd && crypt_gensalt_rn("$2y$", (unsigned long)cost, NULL, 0, salt, sizeof salt))
    hash = crypt_r(pw, salt, cd);
  if (hash && hash[0] == '$') {
    printf("%s:%s\n", argv[i], hash);
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

int tg_key_main(int argc, char **argv) {
  if (argc != 3 || strcmp(argv[1], "new") != 0 || !valid_name(argv[2])) {
    fprintf(stderr, "usage: tollgate key new NAME   (prints a new API key and its keys-file line)\n");
    return 2;
  }
  unsigned char raw[32];
  char b64[48], key[64], hex[65];
  if (RAND_bytes(raw, sizeof raw) != 1) return 1;
  tg_b64_encode(raw, sizeof raw, b64);
  size_t o = 0;
  memcpy(key, "tg-", 3);
  o = 3;
  for (char *p = b64; *p && *p != '='; p++) key[o++] = *p == '+' ? '-' : *p == '/' ? '_' : *p;
  key[o] = '\0';
  tg_key_hash_hex(key, o, hex);
  printf("key (shown once; give it to %s): %s\n", argv[2], key);
  printf("line for the keys file:\n%s %s\n", argv[2], hex);
  OPENSSL_cleanse(key, sizeof key);
  OPENSSL_cleanse(raw, sizeof raw);
  return 0;
}
