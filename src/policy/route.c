/* Per-route overrides and the path normalisation they are matched on, and
 * the first admission phase, which settles both once per request. A
 * rule written for /api/pull must hold for /api/../api/pull, //api/pull,
 * /%61pi/pull and /API/pull alike: the path is percent-decoded (%2F
 * included, as Go's net/http decodes it before Ollama's router sees it),
 * '//' collapsed, '.' and '..' resolved, and routes compared ignoring ASCII
 * case. Only the match uses the normalised path; the upstream receives the
 * target as the client sent it. */
#include <string.h>
#include <strings.h>

#include "policy.h"
#include "tollgate/hex.h"

/* Percent-decodes the path part of target into out; returns the length,
 * -1 for a bad or NUL escape, -2 when out is too small. */
static long decode(const char *t, size_t n, char *out, size_t cap) {
  size_t o = 0;
  if (cap < 2) return -2;
  out[o++] = '/'; /* the path always starts at the root */
  for (size_t i = 0; i < n && t[i] != '?' && t[i] != '#'; i++) {
    char ch = t[i];
    if (ch == '%') {
      int hi = i + 2 < n ? tg_hex_digit((unsigned char)t[i + 1]) : -1;
      int lo = i + 2 < n ? tg_hex_digit((unsigned char)t[i + 2]) : -1;
      if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return -1;
      ch = (char)(hi << 4 | lo);
      i += 2;
    }
    if (o + 1 >= cap) return -2;
    out[o++] = ch;
  }
  return (long)o;
}

long tg_path_normalize(const char *target, size_t n, char *out, size_t cap) {
  long len = decode(target, n, out, cap);
  if (len < 0) return len;
  size_t o = 0, i = 0, L = (size_t)len;
  int trailing = 0;
  while (i < L) {
    while (i < L && out[i] == '/') i++;
    size_t j = i;
    while (i < L && out[i] != '/') i++;
    size_t sl = i - j;
    trailing = i == L && (sl == 0 || (sl == 1 && out[j] == '.') || (sl == 2 && out[j] == '.' && out[j + 1] == '.'));
    if (sl == 0 || (sl == 1 && out[j] == '.')) continue;
    if (sl == 2 && out[j] == '.' && out[j + 1] == '.') {
      while (o > 0 && out[o - 1] != '/') o--;
      if (o > 0) o--;
      continue;
    }
    out[o++] = '/';
    memmove(out + o, out + j, sl);
    o += sl;
  }
  if (o == 0 || trailing) out[o++] = '/';
  if (o >= 2 && out[o - 1] == '/' && out[o - 2] == '/') o--;
  out[o] = '\0';
  return (long)o;
}

const tg_route_conf *tg_route_match(const tg_auth_conf *a, const char *path, size_t n) {
  const tg_route_conf *best = NULL;
  size_t best_len = 0;
  for (size_t i = 0; i < a->nroutes; i++) {
    const tg_route_conf *r = &a->routes[i];
    size_t rl = strlen(r->path);
    if (n < rl || strncasecmp(path, r->path, rl) != 0) continue;
    if (r->exact) {
      if (n == rl) return r;
      continue;
    }
    if (n > rl && path[rl] != '/' && r->path[rl - 1] != '/') continue; /* /api/tag is not /api/tags */
    if (!best || rl > best_len) {
      best = r;
      best_len = rl;
    }
  }
  return best;
}

/* Normalises into the head's buffer (no allocation: the buffer is kept
 * from one request to the next). Returns tg_path_normalize's answer, or
 * -3 when out of memory. */
static long path_settle(tg_exchange *x) {
  size_t n = x->req.target.len - x->target_skip;
  char *out = tg_head_room(&x->req, n + 2);
  if (!out) return -3;
  long pn = tg_path_normalize(tg_head_str(&x->req, x->req.target) + x->target_skip, n, out, n + 2);
  if (pn >= 0) x->path = tg_head_keep(&x->req, (size_t)pn);
  return pn;
}

/* The route kind is the normalised path's: Ollama (Go's net/http) decodes
 * the path before routing, so /api/%70ull is /api/pull and must meet the
 * admin check and the limits of /api/pull. A path that does not normalise
 * (Go refuses a bad escape too) is refused when the site has limits, whose
 * checks depend on the kind; auth routes refuse it in their phase. */
tg_adm_rc tg_request_facts(tg_exchange *x) {
  long pn = path_settle(x);
  if (pn == -3) return tg_exchange_fail(x, 500, "out of memory"), TG_ADM_DONE;
  if (pn < 0) {
    x->route_kind = (uint8_t)tg_route_kind_of(tg_head_str(&x->req, x->req.target) + x->target_skip,
                                              x->req.target.len - x->target_skip);
    if (!x->site->limits) return TG_ADM_NEXT;
    tg_exchange_fail(x, 400, "invalid request path");
    return TG_ADM_DONE;
  }
  x->route_kind = (uint8_t)tg_route_kind_of(tg_exchange_path(x), x->path.len);
  if (x->site->auth) x->route = tg_route_match(x->site->auth, tg_exchange_path(x), x->path.len);
  return TG_ADM_NEXT;
}
