/* Tests for src/base/: the base64 codec (RFC 4648's vectors in both
 * alphabets, the padding and trailing-bit rules each alphabet's callers
 * need), hex digits and bytes. */
#include <stdlib.h>
#include <string.h>

#include "tg_test.h"
#include "tollgate/base64.h"
#include "tollgate/hex.h"

void tg_suite_base(void);

/* ---- base64 ---- */

/* RFC 4648 section 10. */
static const char *const b64_vectors[][2] = {
    {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
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
  TG_CHECK(tg_b64_decode("Zm 9v", 5, dec, sizeof dec) == -1);                /* no blanks */
  TG_CHECK(tg_b64_decode("Zm9v", 4, dec, 2) == -1);                          /* does not fit */
  TG_CHECK(tg_b64url_decode("Zm9v", 4, dec, 3) == 3);
}

static void test_b64_round_trip(void) {
  unsigned char raw[256], dec[256];
  char enc[400];
  for (int i = 0; i < 256; i++) raw[i] = (unsigned char)(i * 37 + 11);
  for (size_t n = 0; n <= sizeof raw; n += 1 + n / 8) {
    TG_CHECK(tg_b64_decode(enc, tg_b64_encode(raw, n, enc), dec, sizeof dec) == (long)n && memcmp(dec, raw, n) == 0);
    TG_CHECK(tg_b64url_decode(enc, tg_b64url_encode(raw, n, enc), dec, sizeof dec) == (long)n && memcmp(dec, raw, n) == 0);
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

void tg_suite_base(void) {
  TG_RUN(test_b64_rfc4648_vectors);
  TG_RUN(test_b64_alphabets);
  TG_RUN(test_b64_decode_rules);
  TG_RUN(test_b64_round_trip);
  TG_RUN(test_hex_digit);
  TG_RUN(test_hex_bytes);
}
