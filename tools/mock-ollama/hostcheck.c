/* hostcheck.c: the Host check of Ollama's allowedHostsMiddleware
 * (server/routes.go), applied when the mock listens on a loopback address. */
#include "mock.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Go's net.SplitHostPort, loosely: "[v6]:port" and "name:port" lose the
 * port; anything else (no colon, several colons) is kept whole. */
static void host_strip_port(const char *in, char *out, size_t outlen) {
  const char *colon = strrchr(in, ':');
  size_t n = strlen(in);
  if (in[0] == '[' && colon && colon > in && colon[-1] == ']') {
    in++;
    n = (size_t)(colon - 1 - in);
  } else if (colon && strchr(in, ':') == colon && in[0] != '[') {
    n = (size_t)(colon - in);
  }
  if (n >= outlen) n = outlen - 1;
  memcpy(out, in, n);
  out[n] = '\0';
}

/* netip's IsLoopback, IsPrivate and IsUnspecified for v4. */
static bool host_v4_local(const unsigned char *a) {
  if (a[0] == 127 || a[0] == 10) return true;
  if (a[0] == 172 && (a[1] & 0xf0) == 16) return true;
  if (a[0] == 192 && a[1] == 168) return true;
  return a[0] == 0 && a[1] == 0 && a[2] == 0 && a[3] == 0;
}

/* The same for v6: ::1, ::, fc00::/7. */
static bool host_v6_local(const unsigned char *a) {
  static const unsigned char zero[16];
  if (memcmp(a, zero, 15) == 0 && (a[15] == 0 || a[15] == 1)) return true;
  return (a[0] & 0xfe) == 0xfc;
}

static bool host_ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n > k && strcasecmp(s + n - k, suffix) == 0;
}

/* Ollama's allowedHost: empty, localhost, our hostname, *.localhost,
 * *.local, *.internal. */
static bool host_name_allowed(const char *host) {
  char name[256];
  if (host[0] == '\0' || strcasecmp(host, "localhost") == 0) return true;
  if (gethostname(name, sizeof name) == 0 && strcasecmp(host, name) == 0) return true;
  return host_ends_with(host, ".localhost") || host_ends_with(host, ".local") || host_ends_with(host, ".internal");
}

/* Whether a request with this Host header (NULL: none) may pass. */
bool mock_host_allowed(const char *host_header) {
  char host[256];
  unsigned char addr[16];
  host_strip_port(host_header ? host_header : "", host, sizeof host);
  if (inet_pton(AF_INET, host, addr) == 1) return host_v4_local(addr);
  if (inet_pton(AF_INET6, host, addr) == 1) return host_v6_local(addr);
  return host_name_allowed(host);
}
