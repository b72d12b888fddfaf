/* A stream the upstream fails ends the way Ollama ends a failed stream
 * (docs/upstreams.md#after-the-first-byte): a last NDJSON line
 * {"error":"..."} (or, on the OpenAI routes, an SSE data event with an OpenAI-shaped
 * error), then the last chunk, so that ollama-js and the OpenAI SDKs raise
 * an error instead of hanging or reading half a line. Only where that
 * leaves valid framing: a streamed answer (application/x-ndjson or
 * text/event-stream) relayed in the upstream's own chunks, cut between
 * two of them; otherwise the response is cut short as before. The
 * connection still closes after it. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "tollgate/resp-filter.h"

#define ERROR_LINE_MAX 512

static int has_type(const tg_head *h, const char *type) {
  int i = tg_head_find(h, "content-type");
  if (i < 0) return 0;
  tg_span v = h->fields[i].value;
  size_t n = strlen(type);
  return v.len >= n && strncasecmp(tg_head_str(h, v), type, n) == 0;
}

static int error_wanted(const tg_exchange *x, const tg_resp_head *h) {
  if (h->no_body || h->framing != TG_FRAME_CHUNKED || !x->leg.up_chunked || h->status != 200) return 0;
  return has_type(h->fields, "application/x-ndjson") || has_type(h->fields, "text/event-stream");
}

/* why as the contents of a JSON string (it is tollgate's own text: ASCII). */
static void json_text(char *out, size_t cap, const char *why) {
  size_t n = 0;
  for (; *why && n + 2 < cap; why++) {
    unsigned char ch = (unsigned char)*why;
    if (ch == '"' || ch == '\\') out[n++] = '\\';
    out[n++] = ch < 0x20 || ch > 0x7e ? '?' : (char)ch;
  }
  out[n] = '\0';
}

static int error_end(tg_exchange *x, unsigned at, const char *failure) {
  if (!failure || x->leg.up_in_chunk || !x->resp_head_sent) return tg_resp_pass_end(x, at + 1, failure);
  char text[256], line[ERROR_LINE_MAX];
  json_text(text, sizeof text, failure);
  int n = x->openai ? snprintf(line, sizeof line,
                               "data: {\"error\":{\"message\":\"%s\",\"type\":\"server_error\",\"param\":null,"
                               "\"code\":null}}\n\n",
                               text)
                    : snprintf(line, sizeof line, "{\"error\":\"%s\"}\n", text);
  if (n <= 0 || (size_t)n >= sizeof line) return tg_resp_pass_end(x, at + 1, failure);
  if (tg_resp_pass_frame(x, at + 1, (uint64_t)n) < 0 ||
      tg_resp_pass_data(x, at + 1, line, (size_t)n, TG_RESP_COPY) < 0 || tg_resp_pass_frame_end(x, at + 1) < 0)
    return -1;
  return tg_resp_pass_end(x, at + 1, NULL); /* a whole body: the last chunk follows */
}

const tg_resp_filter tg_filter_error = {error_wanted, NULL, NULL, NULL, NULL, error_end};
