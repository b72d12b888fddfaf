/* One blocking HTTP/1.1 call over the non-blocking client
 * (tollgate/http-client-sync.h). */
#include "tollgate/http-client-sync.h"

#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <uv.h>

/* The callback's response, moved into the caller's result. */
static void fetch_done(tg_http_response *r, void *data) {
  tg_http_result *out = data;
  out->resp = *r;
  snprintf(out->why, sizeof out->why, "%s", r->why ? r->why : "");
  memset(&r->head, 0, sizeof r->head); /* the call frees what it still holds */
  memset(&r->body, 0, sizeof r->body);
}

static void addr_text(const struct sockaddr *sa, char *out, size_t n) {
  char ip[INET6_ADDRSTRLEN] = "?";
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *s4 = (const void *)sa;
    inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
    snprintf(out, n, "%s:%d", ip, ntohs(s4->sin_port));
  } else {
    const struct sockaddr_in6 *s6 = (const void *)sa;
    inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
    snprintf(out, n, "[%s]:%d", ip, ntohs(s6->sin6_port));
  }
}

/* One try at one address, on a loop of its own. */
static int fetch_at(const struct sockaddr *sa, const tg_http_place *to, const tg_http_request *rq,
                    tg_http_result *out) {
  uv_loop_t loop;
  if (uv_loop_init(&loop) < 0) return -1;
  tg_http_target target = {.addr = sa, .tls = to->tls, .server_name = to->host, .verify_after = to->verify_after};
  int rc = tg_http_call_start(&loop, &target, rq, fetch_done, out);
  if (rc == 0) uv_run(&loop, UV_RUN_DEFAULT); /* returns once the call's handles are closed */
  uv_loop_close(&loop);
  return rc;
}

static void result_reset(tg_http_result *r) {
  tg_http_result_free(r);
  memset(r, 0, sizeof *r);
}

int tg_http_fetch(const tg_http_place *to, const tg_http_request *rq, tg_http_result *out) {
  memset(out, 0, sizeof *out);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
  int gai = getaddrinfo(to->host, to->port, &hints, &res);
  if (gai) {
    out->resp.error = TG_UPERR_UNREACHABLE;
    snprintf(out->why, sizeof out->why, "cannot resolve %s: %s", to->host, gai_strerror(gai));
    return -1;
  }
  for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    char addr[sizeof out->addr];
    addr_text(ai->ai_addr, addr, sizeof addr);
    result_reset(out);
    memcpy(out->addr, addr, sizeof addr);
    if (fetch_at(ai->ai_addr, to, rq, out) < 0) {
      out->resp.error = TG_UPERR_LOCAL;
      snprintf(out->why, sizeof out->why, "out of memory");
    }
    if (out->resp.connected) break; /* past the dial, another address would send the request twice */
  }
  freeaddrinfo(res);
  return out->resp.error == TG_UPERR_NONE ? 0 : -1;
}

void tg_http_result_free(tg_http_result *r) {
  tg_head_free(&r->resp.head);
  tg_buf_free(&r->resp.body);
}
