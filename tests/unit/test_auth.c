/* Unit tests: password hash formats and htpasswd files, path normalisation
 * and route matching, API key hashing, ollama signatures, and the header
 * rewrite forward auth relies on (src/policy/, src/codec/rewrite.c). */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/policy/policy.h"
#include "tg_test.h"
#include "tollgate/access-log.h"
#include "tollgate/quota.h"
#include "tollgate/rewrite.h"

static int verify(const char *hash, const char *pw) {
  return tg_hash_verify(hash, tg_hash_classify(hash, 1).kind, pw, strlen(pw));
}

static tg_hash_kind kind_of(const char *hash, int plain) { return tg_hash_classify(hash, plain).kind; }
static int refused(const char *hash, int plain) { return tg_hash_classify(hash, plain).error != NULL; }
static int weak(const char *hash) { return tg_hash_classify(hash, 1).weak != NULL; }

static void test_hash_nginx_vectors(void) {
  TG_CHECK(verify("$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.", "password") == 1);
  TG_CHECK(verify("{SSHA}yI6cZwQadOA1e+/f+T+H3eCQQhRzYWx0", "password") == 1);
  TG_CHECK(verify("{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "password") == 1);
  TG_CHECK(verify("$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.", "passwore") == 0);
  TG_CHECK(verify("{SSHA}yI6cZwQadOA1e+/f+T+H3eCQQhRzYWx0", "") == 0);
  TG_CHECK(verify("{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "password\n") == 0);
  /* nginx's broken entries: refused at load, and never a match */
  TG_CHECK(refused("$apr1$sa", 1) && refused("{SSHA}usr", 1) && refused("{SHA}usr", 1));
  TG_CHECK(verify("{SHA}usr", "password") == 0);
}

static void test_hash_crypt_formats(void) {
  /* openssl passwd -5 -salt saltsalt / -6, and a bcrypt of "password" (cost 4) */
  const char *s5 = "$5$saltsalt$gOjOtoMpVhru2uyjeJSEc/JaLQWOXMNmlOnj6T4AtC.";
  const char *s6 = "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/";
  TG_CHECK(kind_of(s5, 0) == TG_HASH_CRYPT && kind_of(s6, 0) == TG_HASH_CRYPT);
  TG_CHECK(verify(s5, "password") == 1);
  TG_CHECK(verify(s6, "password") == 1);
  TG_CHECK(verify(s6, "Password") == 0);
  const char *b = "$2y$04$u7gQkeI3yc5DecSXUTi/6esbhXTrDQA6VnlGqjIHWQMDIkjet8R/K";
  TG_CHECK(kind_of(b, 0) == TG_HASH_CRYPT && !weak(b));
  TG_CHECK(verify(b, "password") == 1 && verify(b, "passwore") == 0);
  TG_CHECK(refused("$2y$99$H1lJQTa/eRzq4BB2JSMHmOnE9AQHm9v/ygoZoUS4g7AxFz9ZApm52", 0));
  TG_CHECK(refused("$2y$04$short", 0));
  TG_CHECK(tg_hash_is_slow(TG_HASH_CRYPT) && !tg_hash_is_slow(TG_HASH_APR1));
}

/* Every scheme Debian's libxcrypt verifies, each "pw-" + its name (written
 * once by crypt_gensalt_rn + crypt_rn, as were the lines of
 * tests/integration/vectors/htpasswd-formats, which nginx checks too). */
static const char *const LIBXCRYPT[][2] = {
    {"des", "3GZX1PXtp3UAk"},
    {"bsdi", "_J9..84WNI3hZvJkPIao"},
    {"md5", "$1$zRYfKfzX$yZAmWgVm2x1ryvemg1XSu0"},
    {"yescrypt", "$y$j9T$pYfhBQh4m2tIa3shPBWUT1$9exjqKuNrzbwnEhvj6DPhmawp2DtW7bj8vKKfvM6YzA"},
    {"gostyescrypt", "$gy$j9T$jRvQEO29OeF1YDnlz6V1S/$aP3cJzcYlzCSh7hpUj6mi45TBqRqy78icKBsC96QcV6"},
    {"scrypt", "$7$CU..../....40IODsgYIkofUDwQZOve/.$RRpjVmAgvjkP1w1FNeHjKvcjN.NZps8nJqWTek0z5L6"},
    {"bcrypt2b", "$2b$05$40nV8DDWPBUkGzXf0gq2Ie4HykTgnmXQqc0K.mX.RCAz9nsiozJAu"},
    {"nt", "$3$$df2100c9c668e8a1fe1187d734f7448f"},
    {"sunmd5", "$md5,rounds=35709$XNEvEh9a$$7XErrr2DRkGgwzlOFqnK41"},
    {"sha1crypt", "$sha1$209110$xDThbJueW5Pz3gf8SJGG$qnoSVf9rcoNzMcQFiJ5oD9XvvRBi"},
};

static void test_hash_libxcrypt_schemes(void) {
  char pw[64];
  for (size_t i = 0; i < sizeof LIBXCRYPT / sizeof LIBXCRYPT[0]; i++) {
    const char *h = LIBXCRYPT[i][1];
    snprintf(pw, sizeof pw, "pw-%s", LIBXCRYPT[i][0]);
    TG_CHECK(kind_of(h, 0) == TG_HASH_CRYPT && kind_of(h, 1) == TG_HASH_CRYPT);
    TG_CHECK(verify(h, pw) == 1);
    TG_CHECK(verify(h, h) == 0); /* the stored hash is not the password */
    TG_CHECK(verify(h, "pw-") == 0);
  }
  /* libcrypt's own judgement: DES, md5crypt, NT... are legacy; yescrypt is not */
  TG_CHECK(weak(LIBXCRYPT[0][1]) && weak(LIBXCRYPT[2][1]) && weak(LIBXCRYPT[7][1]));
  TG_CHECK(!weak(LIBXCRYPT[3][1]) && !weak(LIBXCRYPT[5][1]) && !weak(LIBXCRYPT[6][1]));
  TG_CHECK_STR(tg_hash_classify(LIBXCRYPT[0][1], 0).scheme, "DES");
  TG_CHECK_STR(tg_hash_classify(LIBXCRYPT[2][1], 0).scheme, "$1$");
  TG_CHECK_STR(tg_hash_classify(LIBXCRYPT[8][1], 0).scheme, "$md5,");
}

/* The line classifier: plain text only for {PLAIN} or a field with no hash
 * shape; a hash shape is a hash, or refused. */
static void test_hash_classify_lines(void) {
  TG_CHECK(kind_of("{PLAIN}secret", 1) == TG_HASH_PLAIN && weak("{PLAIN}secret"));
  TG_CHECK(refused("{PLAIN}secret", 0));
  TG_CHECK(kind_of("secret", 1) == TG_HASH_PLAIN && weak("secret"));
  TG_CHECK(refused("secret", 0) && strstr(tg_hash_classify("secret", 0).error, "plain text needs"));
  TG_CHECK(kind_of("ab01FAX.bQRSU", 1) == TG_HASH_CRYPT && weak("ab01FAX.bQRSU")); /* DES: 13 of [./0-9A-Za-z] */
  TG_CHECK(kind_of("abcdefghijklm", 1) == TG_HASH_CRYPT);
  TG_CHECK(kind_of("abcdefghijkl!", 1) == TG_HASH_PLAIN);  /* not DES's alphabet */
  TG_CHECK(kind_of("abcdefghijklmn", 1) == TG_HASH_PLAIN); /* 14 characters */
  TG_CHECK(kind_of("_J9..84WNI3hZvJkPIao", 1) == TG_HASH_CRYPT);
  TG_CHECK(kind_of("{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", 0) == TG_HASH_SHA1 &&
           weak("{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="));
  TG_CHECK(!weak("{SSHA}yI6cZwQadOA1e+/f+T+H3eCQQhRzYWx0") && !weak("$apr1$salt$Xxd1irWT9ycqoYxGFn4cb."));
  /* hash-shaped but nothing verifies it: refused, even with plain */
  const char *shaped[] = {"{MD5}abc",
                          "{X}",
                          "$9$abc$def",
                          "$ecret$",
                          "$md5,x",
                          "$y$j9T$pYfhBQh4m2tIa3shPBWUT1$",
                          "$6$saltsalt$short",
                          "$1$zRYfKfzX$yZAm!",
                          ""};
  for (size_t i = 0; i < sizeof shaped / sizeof shaped[0]; i++) {
    TG_CHECK(refused(shaped[i], 1));
    TG_CHECK(kind_of(shaped[i], 1) == TG_HASH_UNKNOWN);
  }
  TG_CHECK(tg_hash_looks_crypt("$2b$x") && tg_hash_looks_crypt("$md5,rounds=1$") && !tg_hash_looks_crypt("$$x"));
  TG_CHECK(!tg_hash_looks_crypt("$abc") && !tg_hash_looks_crypt("{SHA}x"));
}

static void test_apr1_matches_htpasswd(void) {
  char out[64];
  TG_CHECK(tg_apr1_crypt("password", 8, "salt", 4, out, sizeof out) == 0);
  TG_CHECK_STR(out, "$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.");
  /* a password longer than 16 bytes exercises the alternate-sum loop */
  TG_CHECK(tg_apr1_crypt("a much longer password than sixteen", 35, "12345678", 8, out, sizeof out) == 0);
  TG_CHECK(verify(out, "a much longer password than sixteen") == 1);
}

static int nerrs, nwarns;
static char last_err[512], last_warn[512];
static void collect(void *ctx, int warning, const char *msg) {
  (void)ctx;
  *(warning ? &nwarns : &nerrs) += 1;
  snprintf(warning ? last_warn : last_err, sizeof last_err, "%s", msg);
}

static tg_authfile *load_text(const char *text, tg_authfile_kind kind, int plain) {
  char path[] = "/tmp/tg-unit-authXXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return NULL;
  ssize_t w = write(fd, text, strlen(text));
  close(fd);
  nerrs = nwarns = 0;
  tg_authfile *f = w < 0 ? NULL : tg_authfile_load(path, kind, plain, collect, NULL);
  unlink(path);
  return f;
}

static void test_htpasswd_file(void) {
  tg_authfile *f =
      load_text("# users\n\nalice:$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.\r\nbob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=:comment\n",
                TG_AF_HTPASSWD, 0);
  TG_CHECK(f && nerrs == 0);
  char hash[256];
  tg_hash_kind k;
  TG_CHECK(tg_authfile_user_hash(f, "bob", hash, sizeof hash, &k) == 1);
  TG_CHECK_STR(hash, "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=");
  TG_CHECK(tg_authfile_user_hash(f, "carol", hash, sizeof hash, &k) == 0); /* the dummy: alice's */
  TG_CHECK(k == TG_HASH_APR1);
  tg_authfile_free(f);
  TG_CHECK(load_text("a:plain\nb:$apr1$sa\nc:{SSHA}usr\nnocolon\n:x\n", TG_AF_HTPASSWD, 0) == NULL);
  TG_CHECK(nerrs == 5);
  TG_CHECK(load_text("a:$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.\na:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", TG_AF_HTPASSWD, 0) ==
           NULL);
  TG_CHECK(strstr(last_err, ":2: duplicate user") != NULL);
  f = load_text("a:plain\n", TG_AF_HTPASSWD, 1);
  TG_CHECK(f != NULL);
  TG_CHECK(tg_authfile_user_hash(f, "a", hash, sizeof hash, &k) == 1 && k == TG_HASH_PLAIN);
  TG_CHECK(tg_hash_verify(hash, k, "plain", 5) == 1 && tg_hash_verify(hash, k, "plai", 4) == 0);
  tg_authfile_free(f);
  /* with plain, a DES or md5crypt line is a hash (a warning), never the password */
  f = load_text("ok:$2b$05$40nV8DDWPBUkGzXf0gq2Ie4HykTgnmXQqc0K.mX.RCAz9nsiozJAu\ndes:3GZX1PXtp3UAk\n"
                "md5:$1$zRYfKfzX$yZAmWgVm2x1ryvemg1XSu0\n",
                TG_AF_HTPASSWD, 1);
  TG_CHECK(f && nerrs == 0 && nwarns == 2);
  TG_CHECK(strstr(last_warn, ":3: weak password hash: ") != NULL);
  TG_CHECK(tg_authfile_user_hash(f, "des", hash, sizeof hash, &k) == 1 && k == TG_HASH_CRYPT);
  TG_CHECK(tg_hash_verify(hash, k, "3GZX1PXtp3UAk", 13) == 0 && tg_hash_verify(hash, k, "pw-des", 6) == 1);
  tg_authfile_free(f);
  TG_CHECK(load_text("a:$9$abc$def\n", TG_AF_HTPASSWD, 1) == NULL && nerrs == 1);
}

static void test_key_hash_and_file(void) {
  char hex[65];
  tg_key_hash_hex("abc", 3, hex);
  TG_CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  char text[200];
  snprintf(text, sizeof text, "# name sha256\nann %s\nben %064d\n", hex, 0);
  tg_authfile *f = load_text(text, TG_AF_KEYS, 0);
  TG_CHECK(f != NULL);
  unsigned char d[32];
  EVP_Digest("abc", 3, d, NULL, EVP_sha256(), NULL);
  char user[TG_USER_MAX + 1];
  TG_CHECK(tg_authfile_match_key(f, d, user) == 1);
  TG_CHECK_STR(user, "ann");
  d[0] ^= 1;
  TG_CHECK(tg_authfile_match_key(f, d, user) == 0);
  tg_authfile_free(f);
  TG_CHECK(load_text("ann deadbeef\n", TG_AF_KEYS, 0) == NULL);
}

static const char *norm(const char *in) {
  static char out[256];
  long n = tg_path_normalize(in, strlen(in), out, sizeof out);
  return n < 0 ? (n == -1 ? "(invalid)" : "(small)") : out;
}

static void test_path_normalize(void) {
  TG_CHECK_STR(norm("/api/pull"), "/api/pull");
  TG_CHECK_STR(norm("/api/../api/pull"), "/api/pull");
  TG_CHECK_STR(norm("//api//pull"), "/api/pull");
  TG_CHECK_STR(norm("/%61pi/pull"), "/api/pull");
  TG_CHECK_STR(norm("/api%2Fpull"), "/api/pull");
  TG_CHECK_STR(norm("/api/./pull?x=/../y"), "/api/pull");
  TG_CHECK_STR(norm("/api/%2e%2e/%2E/pull"), "/pull");
  TG_CHECK_STR(norm("/../../x"), "/x");
  TG_CHECK_STR(norm("/api/"), "/api/");
  TG_CHECK_STR(norm("/api/tags/.."), "/api/");
  TG_CHECK_STR(norm(""), "/");
  TG_CHECK_STR(norm("?q"), "/");
  TG_CHECK_STR(norm("/a%00b"), "(invalid)");
  TG_CHECK_STR(norm("/a%zz"), "(invalid)");
  TG_CHECK_STR(norm("/a%2"), "(invalid)");
  char small[4];
  TG_CHECK(tg_path_normalize("/abcdef", 7, small, sizeof small) == -2);
}

static void test_route_match(void) {
  tg_route_conf r[] = {{"/api", 0, 1, 0, 0}, {"/api/pull", 0, 0, 0, 0}, {"/", 1, 1, 0, 0}};
  tg_auth_conf a = {.routes = r, .nroutes = 3};
  TG_CHECK(tg_route_match(&a, "/api/tags", 9) == &r[0]);
  TG_CHECK(tg_route_match(&a, "/api/pull", 9) == &r[1]);
  TG_CHECK(tg_route_match(&a, "/API/PULL/x", 11) == &r[1]);
  TG_CHECK(tg_route_match(&a, "/apix", 5) == NULL);
  TG_CHECK(tg_route_match(&a, "/", 1) == &r[2]);
  TG_CHECK(tg_route_match(&a, "/v1/models", 10) == NULL);
}

/* The normalised path is kept beside the head (tg_head_keep) without
 * counting against its size limit. */
static void test_head_keeps_path_aside(void) {
  tg_head h = {0};
  TG_CHECK(tg_head_add_target(&h, "/a/../b", 7, 12) == 0);
  char *room = tg_head_room(&h, 9);
  TG_CHECK(room != NULL);
  long n = tg_path_normalize(tg_head_str(&h, h.target), h.target.len, room, 9);
  TG_CHECK(n == 2);
  tg_span path = tg_head_keep(&h, (size_t)n);
  TG_CHECK(tg_head_add_name(&h, "X", 1, 12) == 0);
  TG_CHECK(tg_head_add_value(&h, "1234", 4, 12) == 0); /* 12 bytes of head; the path's 3 aside */
  TG_CHECK(tg_head_add_value(&h, "5", 1, 12) == TG_HEAD_TOO_BIG);
  TG_CHECK_STR(tg_head_str(&h, path), "/b");
  tg_head_reset(&h);
  TG_CHECK(h.aside == 0);
  tg_head_free(&h);
}

/* A site runs only the admission phases its configuration needs. */
static void test_admission_plan(void) {
  tg_site_conf bare = {0}, full = {0};
  tg_admission_plan(&bare);
  tg_limits_conf *l = tg_limits_conf_new();
  tg_auth_conf a = {0};
  tg_cors_conf cors = {0};
  tg_models_conf models = {0};
  TG_CHECK(l != NULL);
  l->ntrusted = l->conn = l->nrates = l->gen_max = 1;
  l->cors = &cors;
  l->models = &models;
  full.auth = &a;
  full.limits = l;
  tg_admission_plan(&full);
  free(l);
  /* the facts, the body limit, admin routes and the relay: always */
  TG_CHECK(__builtin_popcount(bare.adm_phases) == 4);
  TG_CHECK(__builtin_popcount(full.adm_phases) == 11);
  TG_CHECK((bare.adm_phases & full.adm_phases) == bare.adm_phases);
}

/* Signs chal with a fresh ed25519 key the way the ollama CLI does and
 * returns the two halves of its Authorization value. */
static int cli_sign(const char *chal, char pub[128], char sig[128]) {
  EVP_PKEY *pk = NULL;
  EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
  unsigned char raw[32], blob[51] = {0, 0, 0, 11, 's', 's', 'h', '-', 'e', 'd', '2', '5', '5', '1', '9', 0, 0, 0, 32},
                         s[64];
  size_t rl = 32, sl = 64;
  int ok = kc && EVP_PKEY_keygen_init(kc) == 1 && EVP_PKEY_keygen(kc, &pk) == 1 &&
           EVP_PKEY_get_raw_public_key(pk, raw, &rl) == 1;
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  ok = ok && md && EVP_DigestSignInit(md, NULL, NULL, NULL, pk) == 1 &&
       EVP_DigestSign(md, s, &sl, (const unsigned char *)chal, strlen(chal)) == 1;
  memcpy(blob + 19, raw, 32);
  tg_b64_encode(blob, sizeof blob, pub);
  tg_b64_encode(s, sl, sig);
  EVP_MD_CTX_free(md);
  EVP_PKEY_free(pk);
  EVP_PKEY_CTX_free(kc);
  return ok;
}

static void test_ollama_signature(void) {
  char pub[128], sig[128];
  unsigned char key[32];
  const char *chal = "POST,/api/chat?ts=1700000000";
  TG_CHECK(cli_sign(chal, pub, sig));
  TG_CHECK(tg_ollama_verify(chal, strlen(chal), pub, strlen(pub), sig, strlen(sig), key) == 1);
  const char *other = "POST,/api/chat?ts=1700000001";
  TG_CHECK(tg_ollama_verify(other, strlen(other), pub, strlen(pub), sig, strlen(sig), key) == 0);
  TG_CHECK(tg_ollama_verify(chal, strlen(chal), pub, strlen(pub) - 4, sig, strlen(sig), key) == 0);
  TG_CHECK(tg_ollama_verify(chal, strlen(chal), pub, strlen(pub), "AAAA", 4, key) == 0);
  char line[256];
  snprintf(line, sizeof line, "olga ssh-ed25519 %s olga@host\n", pub);
  tg_authfile *f = load_text(line, TG_AF_OLLAMA, 0);
  char user[TG_USER_MAX + 1];
  TG_CHECK(f && tg_authfile_match_pub(f, key, user) == 1);
  TG_CHECK_STR(user, "olga");
  tg_authfile_free(f);
  TG_CHECK(load_text("olga ssh-rsa AAAAB3NzaC1yc2E\n", TG_AF_OLLAMA, 0) == NULL);
}

static void test_b64(void) {
  unsigned char out[16];
  char enc[16];
  TG_CHECK(tg_b64_decode("YWxpY2U6cHc=", 12, out, sizeof out) == 8 && memcmp(out, "alice:pw", 8) == 0);
  TG_CHECK(tg_b64_decode("YWxpY2U6cHc", 11, out, sizeof out) == 8);
  TG_CHECK(tg_b64_decode("YW*p", 4, out, sizeof out) == -1);
  TG_CHECK(tg_b64_decode("YWxpY2U6cHc=", 12, out, 4) == -1);
  tg_b64_encode((const unsigned char *)"ab", 2, enc);
  TG_CHECK_STR(enc, "YWI=");
}

static void test_rewrite_extra_and_drop(void) {
  tg_head h = {0};
  tg_head_add_target(&h, "/api/tags", 9, 0);
  const char *f[][2] = {
      {"Host", "x"}, {"X-Auth-Request-User", "mallory"}, {"x_auth_request_user", "m2"}, {"X-Keep", "1"}};
  for (int i = 0; i < 4; i++) {
    tg_head_add_name(&h, f[i][0], strlen(f[i][0]), 0);
    tg_head_add_value(&h, f[i][1], strlen(f[i][1]), 0);
  }
  static const char *const drop[] = {"X-Auth-Request-User", NULL};
  tg_upstream_conf up = {.host_header = "localhost:11434"};
  tg_site_conf site = {.upstream = &up};
  tg_req_meta m = {.method = "GET",
                   .target = "/api/tags",
                   .target_len = 9,
                   .client_ip = "1.2.3.4",
                   .proto = "http",
                   .extra = "X-Auth-Request-User: alice\r\n",
                   .drop = drop};
  tg_buf out = {0};
  TG_CHECK(tg_rewrite_request(&out, &h, &m, &site) == 0);
  tg_buf_append(&out, "", 1);
  TG_CHECK(strstr(out.data, "mallory") == NULL && strstr(out.data, "m2") == NULL);
  TG_CHECK(strstr(out.data, "\r\nX-Auth-Request-User: alice\r\n") != NULL);
  TG_CHECK(strstr(out.data, "\r\nX-Keep: 1\r\n") != NULL);
  tg_buf_free(&out);
  tg_head_free(&h);
}

static void test_access_line_user(void) {
  tg_access_rec r = {.t_start_ns = 1};
  tg_access_entry e = {.client = "c",
                       .method = "GET",
                       .path = "/",
                       .path_len = 1,
                       .status = 200,
                       .rec = &r,
                       .now_ns = 2,
                       .user = "al\"ice",
                       .auth = "basic-cached"};
  tg_buf b = {0};
  TG_CHECK(tg_access_format(&b, &e) == 0);
  tg_buf_append(&b, "", 1);
  TG_CHECK(strstr(b.data, ",\"user\":\"al\\\"ice\",\"auth\":\"basic-cached\"") != NULL);
  b.len = 0;
  e.user = e.auth = NULL;
  TG_CHECK(tg_access_format(&b, &e) == 0);
  tg_buf_append(&b, "", 1);
  TG_CHECK(strstr(b.data, ",\"user\":null") != NULL && strstr(b.data, "\"auth\"") == NULL);
  tg_buf_free(&b);
}

void tg_suite_auth(void) {
  TG_RUN(test_hash_nginx_vectors);
  TG_RUN(test_hash_crypt_formats);
  TG_RUN(test_hash_libxcrypt_schemes);
  TG_RUN(test_hash_classify_lines);
  TG_RUN(test_apr1_matches_htpasswd);
  TG_RUN(test_htpasswd_file);
  TG_RUN(test_key_hash_and_file);
  TG_RUN(test_path_normalize);
  TG_RUN(test_route_match);
  TG_RUN(test_head_keeps_path_aside);
  TG_RUN(test_admission_plan);
  TG_RUN(test_ollama_signature);
  TG_RUN(test_b64);
  TG_RUN(test_rewrite_extra_and_drop);
  TG_RUN(test_access_line_user);
}
