/* What the hash field of an htpasswd line is, decided once at load.
 *
 * nginx hands every field without {PLAIN}, {SHA}, {SSHA} or $apr1$ to
 * crypt(3), so the schemes accepted are whatever the system's libcrypt
 * verifies: it is asked (crypt_checksalt), not a list kept here. A field
 * with the shape of a hash ($id$..., {SCHEME}..., 13 or `_` + 19 DES
 * characters) is never taken as a plain-text password, even with `plain`:
 * whoever has read the file must not log in by sending the hash itself. */
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

static const char itoa64[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static int starts(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static int all_in(const char *s, size_t n, const char *set) {
  for (size_t i = 0; i < n; i++)
    if (!s[i] || !strchr(set, s[i])) return 0;
  return 1;
}

static int alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

/* "$id$" or "$id," (SunMD5's "$md5,rounds="): how modular crypt starts. */
static int has_crypt_id(const char *h) {
  size_t n = 1;
  if (h[0] != '$') return 0;
  while (alnum(h[n])) n++;
  return n > 1 && (h[n] == '$' || h[n] == ',');
}

/* "{SCHEME}": how LDAP-style hashes start. */
static int has_scheme(const char *h) {
  size_t n = 1;
  if (h[0] != '{') return 0;
  while (alnum(h[n]) || h[n] == '-' || h[n] == '_' || h[n] == '.') n++;
  return n > 1 && h[n] == '}';
}

static int is_des(const char *h) { return strlen(h) == 13 && all_in(h, 13, itoa64); }
static int is_bsdi(const char *h) { return h[0] == '_' && strlen(h) == 20 && all_in(h + 1, 19, itoa64); }

int tg_hash_looks_crypt(const char *h) { return has_crypt_id(h) || is_des(h) || is_bsdi(h); }

/* "$2y$10$" + 22 salt + 31 hash characters of bcrypt's alphabet. */
static const char *check_bcrypt(const char *h) {
  if (strlen(h) != 60) return "a bcrypt hash is 60 characters long";
  if (h[4] < '0' || h[4] > '3' || h[5] < '0' || h[5] > '9' || h[6] != '$') return "invalid bcrypt cost";
  int cost = (h[4] - '0') * 10 + (h[5] - '0');
  if (cost < 4 || cost > 31) return "bcrypt cost out of range (4 to 31)";
  if (!all_in(h + 7, 53, itoa64)) return "invalid character in the bcrypt hash";
  return NULL;
}

/* "$5$[rounds=N$]salt$hash": 43 (SHA-256) or 86 (SHA-512) hash characters. */
static const char *check_shacrypt(const char *h, size_t hash_len) {
  const char *p = h + 3;
  if (starts(p, "rounds=")) {
    p += 7;
    char *end;
    unsigned long r = strtoul(p, &end, 10);
    if (end == p || *end != '$' || r < 1000 || r > 999999999) return "invalid SHA-crypt rounds";
    p = end + 1;
  }
  const char *d = strchr(p, '$');
  if (!d || d - p > 16 || d == p) return "invalid SHA-crypt salt";
  if (strlen(d + 1) != hash_len || !all_in(d + 1, hash_len, itoa64)) return "invalid SHA-crypt hash";
  return NULL;
}

/* The formats checked in full above; for the others libcrypt has accepted
 * the setting, and the checksum after the last '$' must be there. */
static const char *check_crypt(const char *h) {
  if (has_crypt_id(h) && h[1] == '2' && h[3] == '$') return check_bcrypt(h);
  if (starts(h, "$5$")) return check_shacrypt(h, 43);
  if (starts(h, "$6$")) return check_shacrypt(h, 86);
  if (!has_crypt_id(h)) return NULL; /* DES and BSDi: their shape is their check */
  const char *sum = strrchr(h, '$') + 1;
  if (!*sum || !all_in(sum, strlen(sum), itoa64)) return "the hash has no checksum after its last '$'";
  return NULL;
}

static tg_hash_class refuse(const char *why) { return (tg_hash_class){.kind = TG_HASH_UNKNOWN, .error = why}; }

/* "$id$" (or "$id,"), "DES" or "BSDi DES": the scheme's name in messages. */
static void crypt_scheme(const char *h, char out[12]) {
  size_t n = 1;
  while (has_crypt_id(h) && alnum(h[n]) && n < 9) n++;
  if (has_crypt_id(h)) snprintf(out, 12, "%.*s", (int)n + 1, h);
  else snprintf(out, 12, "%s", is_des(h) ? "DES" : "BSDi DES");
}

static tg_hash_class crypt_class(const char *h) {
  tg_hash_class c = {.kind = TG_HASH_CRYPT};
  crypt_scheme(h, c.scheme);
  switch (crypt_checksalt(h)) {
  case CRYPT_SALT_OK: break;
  case CRYPT_SALT_METHOD_LEGACY: c.weak = "libcrypt calls the scheme legacy"; break;
#ifdef CRYPT_SALT_TOO_CHEAP
  case CRYPT_SALT_TOO_CHEAP: c.weak = "libcrypt calls its cost too cheap"; break;
#endif
  case CRYPT_SALT_METHOD_DISABLED: return refuse("this system's libcrypt has this hash scheme disabled");
  default:
    return refuse("not a hash this system's libcrypt verifies (unknown scheme or malformed salt); "
                  "a plain-text password of this shape is written {PLAIN}...");
  }
  if (is_des(h)) c.weak = "only the first 8 characters of a password count";
  if ((c.error = check_crypt(h))) c.kind = TG_HASH_UNKNOWN;
  return c;
}

static tg_hash_class sha1_class(const char *h, int salted) {
  unsigned char raw[128];
  const char *b64 = h + (salted ? 6 : 5);
  long n = tg_b64_decode(b64, strlen(b64), raw, sizeof raw);
  if (!salted && n != 20) return refuse("a {SHA} hash is base64 of 20 bytes");
  if (salted && n <= 20) return refuse("a {SSHA} hash is base64 of 20 bytes and a salt");
  if (salted) return (tg_hash_class){.kind = TG_HASH_SSHA, .scheme = "{SSHA}"};
  return (tg_hash_class){.kind = TG_HASH_SHA1, .weak = "one unsalted SHA-1", .scheme = "{SHA}"};
}

static tg_hash_class apr1_class(const char *h) {
  const char *d = strchr(h + 6, '$');
  if (!d || d == h + 6 || d - (h + 6) > 8) return refuse("invalid $apr1$ salt");
  if (strlen(d + 1) != 22 || !all_in(d + 1, 22, itoa64)) return refuse("invalid $apr1$ hash");
  return (tg_hash_class){.kind = TG_HASH_APR1, .scheme = "$apr1$"};
}

static const char plain_off[] = "plain-text password (allow it with 'auth basic FILE plain;')";
static const tg_hash_class plain = {
    .kind = TG_HASH_PLAIN, .weak = "whoever reads the file has the password", .scheme = "plain text"};

tg_hash_class tg_hash_classify(const char *h, int allow_plain) {
  if (!h[0]) return refuse("empty password hash");
  if (starts(h, "{PLAIN}")) return allow_plain ? plain : refuse(plain_off);
  if (starts(h, "{SHA}")) return sha1_class(h, 0);
  if (starts(h, "{SSHA}")) return sha1_class(h, 1);
  if (has_scheme(h))
    return refuse("unknown password scheme (nginx knows {PLAIN}, {SHA} and {SSHA}); "
                  "a plain-text password of this shape is written {PLAIN}...");
  if (starts(h, "$apr1$")) return apr1_class(h);
  if (tg_hash_looks_crypt(h)) return crypt_class(h);
  if (allow_plain) return plain;
  return refuse("unknown password hash format (plain text needs 'auth basic FILE plain;')");
}
