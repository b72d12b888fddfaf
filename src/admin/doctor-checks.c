/* doctor-checks: the authentication, WebSocket and long-request checks of
 * `tollgate doctor`. Each sends its own request(s) and prints one line. */
#include <stdlib.h>
#include <string.h>

#include "doctor-run.h"

static int is_2xx(int status) { return status >= 200 && status < 300; }

/* ---- authentication ---- */

static void auth_open(doctor *d) {
  if (is_2xx(d->tags_status))
    dr_report(d, DR_WARN, "auth",
              "open: /api/tags answers without credentials, anyone who reaches the URL can "
              "use it (--user U:P or --key K checks authentication)");
  else if (d->tags_status == 401 || d->tags_status == 403)
    dr_report(d, DR_WARN, "auth",
              "the endpoint refuses requests without credentials (%d); pass --user U:P or "
              "--key K",
              d->tags_status);
  else dr_report(d, DR_SKIP, "auth", "not checked (/api/tags did not answer)");
}

void dr_check_auth(doctor *d) {
  if (!d->auth) {
    auth_open(d);
    return;
  }
  const char *kind = d->key ? "the Bearer key" : "the Basic credentials";
  dr_resp anon, with;
  char out[300];
  dr_request(d, "GET", "/api/tags", NULL, NULL, 0, d->timeout_ms, &anon);
  dr_request(d, "GET", "/api/tags", NULL, NULL, 1, d->timeout_ms, &with);
  if (is_2xx(anon.status)) {
    dr_report(d, DR_FAIL, "auth", "/api/tags answers without credentials (%d): authentication is not enforced",
              anon.status);
  } else if (anon.status != 401 && anon.status != 403) {
    dr_outcome(&anon, out, sizeof out);
    dr_report(d, DR_FAIL, "auth", "without credentials /api/tags answered %s; expected 401 or 403", out);
  } else if (!is_2xx(with.status)) {
    dr_outcome(&with, out, sizeof out);
    dr_report(d, DR_FAIL, "auth", "%s were refused: /api/tags answered %s", kind, out);
  } else {
    dr_report(d, DR_OK, "auth", "refused without credentials (%d), accepted with %s (%d)", anon.status, kind,
              with.status);
  }
  dr_resp_free(&anon);
  dr_resp_free(&with);
}

/* ---- WebSocket ---- */

#define WS_HINT                                                                                                        \
  "a proxy does not pass upgrades: in nginx proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; "          \
  "proxy_set_header Connection \"upgrade\""

/* The RFC 6455 example key and the accept value it must produce. */
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

static void ws_verdict(doctor *d, const char *path, const dr_resp *rs) {
  char out[300], acc[64];
  if (!rs->got_head) {
    dr_report(d, DR_FAIL, "websocket", "the handshake to %s got no answer: %s after %.1f s (" WS_HINT ")", path,
              rs->errmsg, rs->t_end);
  } else if (rs->status == 101) {
    const char *a = dr_field(rs, "Sec-WebSocket-Accept", acc, sizeof acc);
    int good = a && strcmp(a, WS_ACCEPT) == 0;
    dr_report(d, good ? DR_OK : DR_FAIL, "websocket", "the upgrade to %s passed (101 Switching Protocols)%s", path,
              good ? "" : ", but Sec-WebSocket-Accept is wrong or missing");
  } else if (rs->status == 400 || rs->status == 426) {
    dr_outcome(rs, out, sizeof out);
    dr_report(d, DR_FAIL, "websocket", "the handshake to %s was refused with %s (" WS_HINT ")", path, out);
  } else if (rs->status >= 500) {
    dr_outcome(rs, out, sizeof out);
    dr_report(d, DR_WARN, "websocket", "the handshake to %s answered %s", path, out);
  } else {
    dr_report(d, DR_OK, "websocket",
              "the handshake to %s reached the server and got a plain %d (not refused: "
              "Ollama has no WebSocket route of its own)",
              path, rs->status);
  }
}

void dr_check_websocket(doctor *d) {
  char path[512];
  if (d->ws_path) snprintf(path, sizeof path, "%s", d->ws_path);
  else snprintf(path, sizeof path, "%s/", d->url.base);
  tg_buf hdrs = {0};
  if (tg_buf_printf(&hdrs, DR_USER_AGENT "Sec-WebSocket-Key: " WS_KEY "\r\nSec-WebSocket-Version: 13\r\n%s",
                    d->auth ? d->auth : "") < 0)
    abort();
  tg_http_request rq = {.method = "GET", .target = path, .headers = hdrs.data, .upgrade = "websocket"};
  dr_resp rs;
  dr_send(d, &rq, d->timeout_ms, &rs);
  ws_verdict(d, path, &rs);
  dr_resp_free(&rs);
  tg_buf_free(&hdrs);
}

/* ---- long request ---- */

#define SLOW_HINT                                                                                                      \
  "a proxy's read timeout is shorter than the generation: raise proxy_read_timeout in nginx (default 60s), "           \
  "response_header_timeout in Caddy or Traefik, the idle timeout of a load balancer"

static void slow_verdict(doctor *d, const dr_resp *rs) {
  char out[300];
  double t = rs->got_head ? rs->t_head : rs->t_end;
  if (is_2xx(rs->status) && rs->complete) {
    if (rs->t_head >= 60.0)
      dr_report(d, DR_OK, "long request", "first byte after %.1f s, answer complete: no timeout under %.0f s",
                rs->t_head, rs->t_head);
    else
      dr_report(d, DR_WARN, "long request",
                "inconclusive: the answer came after %.1f s; the check needs a "
                "generation whose first byte takes over 60 s",
                rs->t_head);
  } else if (!rs->got_head && (rs->err == TG_UPERR_HEADER_TIMEOUT || rs->err == TG_UPERR_TIMEOUT)) {
    dr_report(d, DR_FAIL, "long request", "no answer within %d s", DR_SLOW_MS / 1000);
  } else if (!rs->got_head) {
    dr_report(d, DR_FAIL, "long request", "the connection was cut after %.1f s without an answer: %s (" SLOW_HINT ")",
              t, rs->errmsg);
  } else {
    dr_outcome(rs, out, sizeof out);
    int timeout = rs->status == 504 || rs->status == 502 || rs->status == 408 || rs->status == 524;
    dr_report(d, DR_FAIL, "long request", "answered %s after %.1f s%s%s%s", out, t, timeout ? " (" : "",
              timeout ? SLOW_HINT : "", timeout ? ")" : "");
  }
}

void dr_check_slow(doctor *d) {
  if (!d->slow) {
    dr_report(d, DR_SKIP, "long request", "not run (--slow sends a request whose first byte takes over 60 s)");
    return;
  }
  if (!d->model) {
    dr_report(d, DR_SKIP, "long request", "no model to generate with (pass --model NAME)");
    return;
  }
  /* stream:false: the first byte comes when the generation ends. The mock
   * Ollama waits X-Mock-First-Byte-Ms; a real one ignores the field. */
  json_t *req = json_pack("{s:s, s:s, s:b, s:{s:i}}", "model", d->model, "prompt",
                          "Write a long, detailed story about a lighthouse keeper, at least 3000 words.", "stream", 0,
                          "options", "num_predict", 8192);
  char *body = json_dumps(req, JSON_COMPACT);
  dr_resp rs;
  dr_request(d, "POST", "/api/generate", body, "X-Mock-First-Byte-Ms: 65000\r\n", 1, DR_SLOW_MS, &rs);
  slow_verdict(d, &rs);
  dr_resp_free(&rs);
  free(body);
  json_decref(req);
}
