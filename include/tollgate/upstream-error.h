/* Why an exchange's upstream failed it, as the access log's `upstream_error`
 * field names it and the 502/504 body explains it, so that an operator can
 * tell a stopped Ollama (refused) from a firewall that drops (timeout) or
 * rejects (unreachable), and both from tollgate's own shortage (local). */
#ifndef TOLLGATE_UPSTREAM_ERROR_H
#define TOLLGATE_UPSTREAM_ERROR_H

typedef enum tg_up_error {
  TG_UPERR_NONE,
  TG_UPERR_REFUSED,        /* the dial was answered with a reset: nothing listens there */
  TG_UPERR_UNREACHABLE,    /* no route to the host or its network */
  TG_UPERR_TIMEOUT,        /* the dial got no answer within the dial timeout */
  TG_UPERR_RESET,          /* an established connection was reset */
  TG_UPERR_CLOSED,         /* the upstream closed before its response was complete */
  TG_UPERR_INVALID,        /* the response was not valid HTTP/1.x */
  TG_UPERR_HEADER_TIMEOUT, /* no response head within the header timeout */
  TG_UPERR_IDLE_TIMEOUT,   /* nothing within the idle timeout mid-response */
  TG_UPERR_LOCAL,          /* tollgate could not open a socket (descriptors, memory, ports) */
  TG_UPERR_TLS,            /* the TLS handshake failed, or the certificate did not verify */
  TG_UPERR_OTHER,
  TG_UPERR_UNAVAILABLE, /* no server of the upstream could take it (down, draining, every one tried) */
} tg_up_error;

/* The kind of a libuv error code met dialling, reading or writing an upstream. */
tg_up_error tg_up_error_of(int uv_err);

/* The access log's name for e ("refused", ...), or NULL for TG_UPERR_NONE. */
const char *tg_up_error_name(tg_up_error e);

/* Writes the 502 body's message for a dial that failed with uv_err (kind
 * from tg_up_error_of, or TG_UPERR_TIMEOUT) into out. */
void tg_up_error_dial_message(char *out, unsigned size, tg_up_error kind, int uv_err);

#endif
