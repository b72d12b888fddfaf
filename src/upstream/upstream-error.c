/* Upstream failures by kind (see tollgate/upstream-error.h). */
#include "tollgate/upstream-error.h"

#include <stdio.h>
#include <uv.h>

tg_up_error tg_up_error_of(int uv_err) {
  switch (uv_err) {
  case 0: return TG_UPERR_NONE;
  case UV_ECONNREFUSED: return TG_UPERR_REFUSED;
  case UV_EHOSTUNREACH:
  case UV_ENETUNREACH:
  case UV_EHOSTDOWN:
  case UV_ENETDOWN: return TG_UPERR_UNREACHABLE;
  case UV_ETIMEDOUT: return TG_UPERR_TIMEOUT;
  case UV_ECONNRESET:
  case UV_EPIPE:
  case UV_ECONNABORTED: return TG_UPERR_RESET;
  case UV_EOF: return TG_UPERR_CLOSED;
  case UV_EMFILE:
  case UV_ENFILE:
  case UV_ENOMEM:
  case UV_ENOBUFS:
  case UV_EADDRNOTAVAIL:
  case UV_EADDRINUSE: return TG_UPERR_LOCAL;
  default: return TG_UPERR_OTHER;
  }
}

const char *tg_up_error_name(tg_up_error e) {
  static const char *const names[] = {
      [TG_UPERR_NONE] = NULL,
      [TG_UPERR_REFUSED] = "refused",
      [TG_UPERR_UNREACHABLE] = "unreachable",
      [TG_UPERR_TIMEOUT] = "timeout",
      [TG_UPERR_RESET] = "reset",
      [TG_UPERR_CLOSED] = "closed",
      [TG_UPERR_INVALID] = "invalid",
      [TG_UPERR_HEADER_TIMEOUT] = "header_timeout",
      [TG_UPERR_IDLE_TIMEOUT] = "idle_timeout",
      [TG_UPERR_LOCAL] = "local",
      [TG_UPERR_TLS] = "tls",
      [TG_UPERR_OTHER] = "error",
      [TG_UPERR_UNAVAILABLE] = "unavailable",
  };
  return (unsigned)e < sizeof names / sizeof names[0] ? names[e] : "error";
}

void tg_up_error_dial_message(char *out, unsigned size, tg_up_error kind, int uv_err) {
  /* what the operator needs to tell a stopped Ollama from a firewall; the
   * system's words follow where they add something */
  static const struct {
    const char *text;
    int with_cause;
  } msgs[] = {
      [TG_UPERR_REFUSED] = {"upstream refused the connection (nothing listens at its address)", 0},
      [TG_UPERR_TIMEOUT] = {"upstream did not answer the connection within the dial timeout", 0},
      [TG_UPERR_UNREACHABLE] = {"upstream unreachable", 1},
      [TG_UPERR_RESET] = {"upstream reset the connection while it was being opened", 0},
      [TG_UPERR_LOCAL] = {"tollgate could not open a connection to the upstream", 1},
  };
  const char *text = (unsigned)kind < sizeof msgs / sizeof msgs[0] ? msgs[kind].text : NULL;
  if (!text) snprintf(out, size, "upstream connection failed: %s", uv_strerror(uv_err));
  else if (msgs[kind].with_cause) snprintf(out, size, "%s: %s", text, uv_strerror(uv_err));
  else snprintf(out, size, "%s", text);
}
