/* Tests for src/base/: the base64 codec (RFC 4648's vectors in both
 * alphabets, the padding and trailing-bit rules each alphabet's callers
 * need), hex digits and bytes, the atomic file write (old or new
 * contents, never a mix; the file and its directory fsynced), FNV-1a
 * against published vectors. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tg_test.h"
#include "tollgate/atomic-file.h"
#include "tollgate/base64.h"
#include "tollgate/hash.h"
#include "tollgate/hex.h"

void tg_suite_base(void);

/* ---- base64 ---- */

/* RFC 4648 section 10. */
static const char *const b64_vectors[][2] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static void test_b64_rfc4648_vectors(void) {
  for (size_t i = 0; i < sizeof b64_vectors / sizeof b64_vectors[0]; i++) {
    const char *raw = b64_vectors[i][0], *enc = b64_vectors[i][1];
    char out[16], url[16];
    unsigned char dec[16];
    TG_CHECK(tg_b64_encode(raw, strlen(raw), out) == strlen(enc));
    TG_CHECK_STR(out, enc);
    TG_CHECK(tg_b64_encoded_len(strlen(raw)) == strlen(enc));
    TG_CHECK(tg_b64_decode(enc, strlen(enc), dec, sizeof dec) == (long)strlen(raw));
    TG_CHECK(memcmp(dec, raw, strlen(raw)) == 0);
    /* base64url: the same without its padding */
    size_t unpadded = strcspn(enc, "=");
    TG_CHECK(tg_b64url_encode(raw, strlen(raw), url) == unpadded);
    TG_CHECK(strncmp(url, enc, unpadded) == 0 && url[unpadded] == '\0');
    TG_CHECK(tg_b64url_decode(url, unpadded, dec, sizeof dec) == (long)strlen(raw));
    TG_CHECK(memcmp(dec, raw, strlen(raw)) == 0);
    TG_CHECK(tg_b64_decode(url, unpadded, dec, sizeof dec) == (long)strlen(raw)); /* padding optional */
  }
}

static void test_b64_alphabets(void) {
  const unsigned char raw[] = {0xfb, 0xff, 0xfe};
  char out[8];
  unsigned char dec[8];
  tg_b64_encode(raw, 3, out);
  TG_CHECK_STR(out, "+//+");
  tg_b64url_encode(raw, 3, out);
  TG_CHECK_STR(out, "-__-");
  TG_CHECK(tg_b64_decode("+//+", 4, dec, sizeof dec) == 3 && memcmp(dec, raw, 3) == 0);
  TG_CHECK(tg_b64url_decode("-__-", 4, dec, sizeof dec) == 3 && memcmp(dec, raw, 3) == 0);
  TG_CHECK(tg_b64_decode("-__-", 4, dec, sizeof dec) == -1); /* each alphabet alone */
  TG_CHECK(tg_b64url_decode("+//+", 4, dec, sizeof dec) == -1);
  char *m = tg_b64url(raw, 3);
  TG_CHECK(m != NULL);
  TG_CHECK_STR(m, "-__-");
  free(m);
}

static void test_b64_decode_rules(void) {
  unsigned char dec[8];
  TG_CHECK(tg_b64_decode("Zg", 2, dec, sizeof dec) == 1 && dec[0] == 'f');
  TG_CHECK(tg_b64_decode("Zh==", 4, dec, sizeof dec) == 1 && dec[0] == 'f'); /* unused bits ignored */
  TG_CHECK(tg_b64url_decode("Zh", 2, dec, sizeof dec) == -1);                /* ... but not in JOSE */
  TG_CHECK(tg_b64url_decode("Zm8=", 4, dec, sizeof dec) == -1);              /* JOSE has no padding */
  TG_CHECK(tg_b64_decode("Zm9vY", 5, dec, sizeof dec) == -1);                /* a length no encoding has */
  TG_CHECK(tg_b64url_decode("Z", 1, dec, sizeof dec) == -1);
  TG_CHECK(tg_b64_decode("Zm 9v", 5, dec, sizeof dec) == -1); /* no blanks */
  TG_CHECK(tg_b64_decode("Zm9v", 4, dec, 2) == -1);           /* does not fit */
  TG_CHECK(tg_b64url_decode("Zm9v", 4, dec, 3) == 3);
}

static void test_b64_round_trip(void) {
  unsigned char raw[256], dec[256];
  char enc[400];
  for (int i = 0; i < 256; i++) raw[i] = (unsigned char)(i * 37 + 11);
  for (size_t n = 0; n <= sizeof raw; n += 1 + n / 8) {
    TG_CHECK(tg_b64_decode(enc, tg_b64_encode(raw, n, enc), dec, sizeof dec) == (long)n && memcmp(dec, raw, n) == 0);
    TG_CHECK(tg_b64url_decode(enc, tg_b64url_encode(raw, n, enc), dec, sizeof dec) == (long)n &&
             memcmp(dec, raw, n) == 0);
  }
}

/* ---- hex ---- */

static void test_hex_digit(void) {
  for (int c = 0; c < 256; c++) {
    const char *digits = "0123456789abcdef", *upper = "0123456789ABCDEF";
    const char *at = c ? strchr(digits, c) : NULL, *up = c ? strchr(upper, c) : NULL;
    int want = at ? (int)(at - digits) : up ? (int)(up - upper) : -1;
    TG_CHECK(tg_hex_digit((unsigned char)c) == want);
  }
}

static void test_hex_bytes(void) {
  const unsigned char raw[] = {0x00, 0x7f, 0x80, 0xab, 0xff};
  unsigned char dec[5];
  char out[11];
  tg_hex_encode(raw, sizeof raw, out);
  TG_CHECK_STR(out, "007f80abff");
  TG_CHECK(tg_hex_decode("007F80abFF", 5, dec) == 0 && memcmp(dec, raw, 5) == 0);
  TG_CHECK(tg_hex_decode("007g", 2, dec) == -1);
  TG_CHECK(tg_hex_decode("0x12", 2, dec) == -1);
  tg_hex_encode(raw, 0, out);
  TG_CHECK_STR(out, "");
}

/* ---- atomic file write ---- */

/* Every fsync of this program is recorded here (this definition takes the
 * place of libc's at link time and makes the system call itself), so a
 * test can see which files and directories were made durable. */
static struct {
  int n;
  ino_t ino[8];
  int dir[8];
} fsyncs;

int fsync(int fd) {
  struct stat st;
  if (fsyncs.n < 8 && fstat(fd, &st) == 0) {
    fsyncs.ino[fsyncs.n] = st.st_ino;
    fsyncs.dir[fsyncs.n++] = S_ISDIR(st.st_mode);
  }
  return (int)syscall(SYS_fsync, fd);
}

static int fsynced(const char *path, int dir) {
  struct stat st;
  if (stat(path, &st) < 0) return 0;
  for (int i = 0; i < fsyncs.n; i++)
    if (fsyncs.ino[i] == st.st_ino && fsyncs.dir[i] == dir) return 1;
  return 0;
}

static int read_text(const char *path, char *out, size_t cap) {
  int fd = open(path, O_RDONLY);
  ssize_t n = fd < 0 ? -1 : read(fd, out, cap - 1);
  if (fd >= 0) close(fd);
  if (n < 0) return -1;
  out[n] = '\0';
  return 0;
}

/* Files in dir besides "." and "..". */
static int entries(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
  if (d) closedir(d);
  return n;
}

static void test_atomic_write_new_and_replace(void) {
  char dir[] = "/tmp/tg-base-XXXXXX", path[64], got[32];
  TG_CHECK(mkdtemp(dir) != NULL);
  snprintf(path, sizeof path, "%s/state.json", dir);
  fsyncs.n = 0;
  TG_CHECK(tg_write_file_atomic(path, "old", 3, 0600) == 0);
  TG_CHECK(read_text(path, got, sizeof got) == 0);
  TG_CHECK_STR(got, "old");
  TG_CHECK(fsynced(path, 0) && fsynced(dir, 1)); /* the file, then the rename */
  struct stat st;
  TG_CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);

  int reader = open(path, O_RDONLY); /* a reader of the old file keeps it whole */
  TG_CHECK(reader >= 0);
  fsyncs.n = 0;
  TG_CHECK(tg_write_file_atomic(path, "newer", 5, 0644) == 0);
  TG_CHECK(fsynced(path, 0) && fsynced(dir, 1));
  ssize_t n = read(reader, got, sizeof got - 1);
  close(reader);
  TG_CHECK(n == 3 && memcmp(got, "old", 3) == 0);
  TG_CHECK(read_text(path, got, sizeof got) == 0);
  TG_CHECK_STR(got, "newer");
  TG_CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644);
  TG_CHECK(entries(dir) == 1); /* no temporary file left */
  unlink(path);
  rmdir(dir);
}

static void test_atomic_write_failure_keeps_old(void) {
  char dir[] = "/tmp/tg-base-XXXXXX", path[64], sub[80], got[32];
  TG_CHECK(mkdtemp(dir) != NULL);
  snprintf(path, sizeof path, "%s/a", dir);
  snprintf(sub, sizeof sub, "%s/a/inside", dir);
  TG_CHECK(mkdir(path, 0700) == 0 && tg_write_file_atomic(sub, "old", 3, 0600) == 0);
  /* a rename over a non-empty directory fails: what was there stays, and
   * the temporary file goes */
  TG_CHECK(tg_write_file_atomic(path, "new", 3, 0600) == -1);
  TG_CHECK(read_text(sub, got, sizeof got) == 0);
  TG_CHECK_STR(got, "old");
  TG_CHECK(entries(dir) == 1);
  snprintf(sub, sizeof sub, "%s/missing/x", dir);
  TG_CHECK(tg_write_file_atomic(sub, "new", 3, 0600) == -1 && errno == ENOENT);
  snprintf(sub, sizeof sub, "%s/a/inside", dir);
  unlink(sub);
  rmdir(path);
  rmdir(dir);
}

/* ---- FNV-1a ---- */

/* From the FNV reference test suite (Landon Curt Noll's fnv_test.c). */
static void test_fnv1a64_vectors(void) {
  TG_CHECK(tg_fnv1a64_str("") == 0xcbf29ce484222325ull);
  TG_CHECK(tg_fnv1a64_str("a") == 0xaf63dc4c8601ec8cull);
  TG_CHECK(tg_fnv1a64_str("foobar") == 0x85944171f73967e8ull);
  TG_CHECK(tg_fnv1a64("foobar", 6) == 0x85944171f73967e8ull);
  TG_CHECK(tg_fnv1a64_add(tg_fnv1a64("foo", 3), "bar", 3) == 0x85944171f73967e8ull); /* in pieces */
  TG_CHECK(tg_fnv1a64("\0", 1) == 0xaf63bd4c8601b7dfull);
}

void tg_suite_base(void) {
  TG_RUN(test_b64_rfc4648_vectors);
  TG_RUN(test_b64_alphabets);
  TG_RUN(test_b64_decode_rules);
  TG_RUN(test_b64_round_trip);
  TG_RUN(test_hex_digit);
  TG_RUN(test_hex_bytes);
  TG_RUN(test_atomic_write_new_and_replace);
  TG_RUN(test_atomic_write_failure_keeps_old);
  TG_RUN(test_fnv1a64_vectors);
}
