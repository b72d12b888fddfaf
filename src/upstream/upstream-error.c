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
      [TG_UPERR_OTHER] = "error",
  };
  return (unsigned)e < sizeof names / sizeof names[0] ? names[e] : "error";
}

void tg_up_error_dial_message(char *out, unsigned size, tg_up_error kind, int uv_err) {
  switch (kind) {
  case TG_UPERR_REFUSED:
    snprintf(out, size, "upstream refused the connection (nothing listens at its address)");
    break;
  case TG_UPERR_TIMEOUT:
    snprintf(out, size, "upstream did not answer the connection within the dial timeout");
    break;
  case TG_UPERR_UNREACHABLE:
    snprintf(out, size, "upstream unreachable: %s", uv_strerror(uv_err));
    break;
  case TG_UPERR_RESET:
    snprintf(out, size, "upstream reset the connection while it was being opened");
    break;
  case TG_UPERR_LOCAL:
    snprintf(out, size, "tollgate could not open a connection to the upstream: %s", uv_strerror(uv_err));
    break;
  default:
    snprintf(out, size, "upstream connection failed: %s", uv_strerror(uv_err));
    break;
  }
}
