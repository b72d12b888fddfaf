/* Model names as Ollama reads them (src/observe/model-name.c): the one
 * decoder of a JSON string that every reader of a request's model goes
 * through, and the one normal form that the access log, the metrics, the
 * status page and the model allow-lists share (docs/observability.md).
 *
 * Ollama decodes request bodies with Go's encoding/json and parses the
 * name with types/model: the decoder follows the first (invalid UTF-8 and
 * lone surrogates read as U+FFFD, not refused), the normal form the second
 * (`llama3.2`, `llama3.2:latest`, `Llama3.2` and
 * `registry.ollama.ai/library/llama3.2:latest` are one model). */
#ifndef TOLLGATE_MODEL_NAME_H
#define TOLLGATE_MODEL_NAME_H

#include <stddef.h>
#include <stdint.h>

/* --- the JSON string decoder --- */

/* Incremental decoder of one JSON string, fed the bytes after its opening
 * quote in any number of pieces. Zero it per string. */
typedef struct tg_jstr {
  uint32_t len;                                   /* decoded bytes so far, counted past the caller's cap too */
  uint16_t unit;                                  /* the \uXXXX code unit being read */
  uint16_t high;                                  /* a high surrogate waiting for its low half, 0 when none */
  uint8_t state;                                  /* where in an escape (model-name.c) */
  uint8_t hexn;                                   /* hex digits of unit read */
  uint8_t utf8_need, utf8_have, utf8_lo, utf8_hi; /* a UTF-8 sequence being checked */
  uint8_t flags;                                  /* TG_JSTR_* */
} tg_jstr;

#define TG_JSTR_DONE 1 /* the closing quote was read */
#define TG_JSTR_BAD 2  /* not JSON (a control byte, an unknown escape, a bad \u): Go refuses the body */
#define TG_JSTR_REPLACED                                                                                               \
  4 /* invalid UTF-8 or a lone surrogate, read as U+FFFD as Go reads it                                                \
       (jansson refuses the string) */

/* Decodes up to n bytes of p into out (cap bytes; bytes past cap are
 * counted in d->len, never written, and a character is written whole or
 * not at all). Stops after the closing quote (TG_JSTR_DONE) or as soon as
 * d->len exceeds cap. Returns the bytes of p it took. */
size_t tg_jstr_feed(tg_jstr *d, const char *p, size_t n, char *out, size_t cap);

/* The same for a string that can only matter if it is ASCII (a key
 * compared with ASCII names): runs between escapes are copied as they are,
 * without the UTF-8 check, so a key costs a memchr and not a loop per
 * byte. Stops at the closing quote or when d->len exceeds cap. */
size_t tg_jstr_feed_key(tg_jstr *d, const char *p, size_t n, char *out, size_t cap);

/* Is the next byte escaped (the last one fed was a backslash)? For a
 * reader that stops decoding a string and only looks for its end. */
int tg_jstr_escaping(const tg_jstr *d);

/* The contents of one JSON string (without its quotes) decoded at once.
 * Returns the decoded length, or -1 when they are not one JSON string's
 * contents (TG_JSTR_BAD, an unescaped quote, cut short) or do not fit.
 * *flags (may be NULL) gets TG_JSTR_REPLACED when U+FFFD stands in. */
long tg_json_str_decode(const char *p, size_t n, char *out, size_t cap, int *flags);

/* --- the normal form --- */

/* Longest normal form: host 350, namespace, model and tag 80 each. */
#define TG_MODEL_NAME_MAX 600

/* Writes the normal form of an Ollama model name into out (cap bytes,
 * NUL-terminated): the parts host/namespace/model:tag as Ollama's
 * ParseName splits and checks them, lower-cased (Ollama compares names
 * case-insensitively), the default tag `latest` filled in, and the
 * default host `registry.ollama.ai` and namespace `library` left out
 * (`llama3.2:latest`, `bob/mistral:7b`, `hf.co/org/m:q4`). Returns the
 * length, -1 when Ollama would not take the name, or -2 when the normal
 * form needs more than cap bytes. */
long tg_model_normal(const char *name, size_t n, char *out, size_t cap);

#endif
