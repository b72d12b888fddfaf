/* libFuzzer target for htpasswd files (src/policy/authfile.c) and the hash
 * field classifier (src/policy/hash-class.c). Byte 0 picks `plain` on or
 * off; the rest is the file.
 *
 * Invariants: nothing crashes or leaks; for every line's field, a class is
 * an error or a kind, never both; `plain` only turns a refusal into
 * TG_HASH_PLAIN, and never for a field shaped like a crypt(3) hash or
 * carrying nginx's {SHA}, {SSHA} or $apr1$; a {PLAIN} field does not match
 * itself as a password. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../src/policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_field(const char *h) {
  tg_hash_class off = tg_hash_classify(h, 0), on = tg_hash_classify(h, 1);
  if (!off.error != (off.kind != TG_HASH_UNKNOWN) || !on.error != (on.kind != TG_HASH_UNKNOWN)) __builtin_trap();
  if (off.kind != TG_HASH_UNKNOWN && off.kind != on.kind) __builtin_trap();
  int hashy = tg_hash_looks_crypt(h) || !strncmp(h, "$apr1$", 6) || !strncmp(h, "{SHA}", 5) || !strncmp(h, "{SSHA}", 6);
  if (on.kind == TG_HASH_PLAIN && strncmp(h, "{PLAIN}", 7) != 0 && hashy) __builtin_trap();
  if (on.kind == TG_HASH_PLAIN && strncmp(h, "{PLAIN}", 7) == 0 && tg_hash_verify(h, on.kind, h, strlen(h)) != 0)
    __builtin_trap();
}

static void check_lines(const uint8_t *p, size_t n) {
  char field[300];
  while (n) {
    const uint8_t *nl = memchr(p, '\n', n);
    size_t len = nl ? (size_t)(nl - p) : n;
    const uint8_t *colon = memchr(p, ':', len);
    if (colon) {
      size_t fl = len - (size_t)(colon + 1 - p);
      const uint8_t *more = memchr(colon + 1, ':', fl);
      if (more) fl = (size_t)(more - colon - 1);
      if (fl < sizeof field && !memchr(colon + 1, 0, fl)) {
        memcpy(field, colon + 1, fl);
        field[fl] = '\0';
        while (fl && field[fl - 1] == '\r') field[--fl] = '\0';
        check_field(field);
      }
    }
    p += len + (nl != NULL);
    n -= len + (nl != NULL);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 4096) return 0;
  check_lines(data + 1, size - 1);
  int fd = memfd_create("htpasswd", 0);
  if (fd < 0) return 0;
  if (write(fd, data + 1, size - 1) == (ssize_t)(size - 1)) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    tg_authfile_free(tg_authfile_load(path, TG_AF_HTPASSWD, data[0] & 1, NULL, NULL));
  }
  close(fd);
  return 0;
}
