/* Base64 (RFC 4648), one codec for both alphabets tollgate reads and
 * writes:
 *   - standard (section 4): HTTP Basic credentials, htpasswd {SHA} hashes,
 *     SSH public keys and ollama signatures, the doctor's Basic header.
 *     Written padded; read with its padding optional and the unused bits
 *     of the last character ignored, as Go and Apache read them.
 *   - URL-safe (section 5): JOSE for ACME and tollgate's API keys. Written
 *     and read without padding; the unused bits must be zero (RFC 7515
 *     section 2: one value, one spelling).
 * Neither decoder accepts blanks. */
#ifndef TOLLGATE_BASE64_H
#define TOLLGATE_BASE64_H

#include <stddef.h>

/* Characters tg_b64_encode writes for n bytes, without the NUL. */
static inline size_t tg_b64_encoded_len(size_t n) { return (n + 2) / 3 * 4; }

/* Standard alphabet, padded: into out (tg_b64_encoded_len(n) + 1 bytes),
 * NUL-terminated. Returns the length written. */
size_t tg_b64_encode(const void *in, size_t n, char *out);
/* Standard alphabet, padding optional: the decoded bytes into out, their
 * count, or -1 (a character outside the alphabet, a length no encoding
 * has, or more than cap bytes). */
long tg_b64_decode(const char *in, size_t n, unsigned char *out, size_t cap);

/* URL-safe, unpadded: into out (tg_b64_encoded_len(n) + 1 bytes is
 * enough), NUL-terminated. Returns the length written. */
size_t tg_b64url_encode(const void *in, size_t n, char *out);
/* The same, malloc'd, or NULL. */
char *tg_b64url(const void *in, size_t n);
/* URL-safe, unpadded, canonical: the decoded bytes into out, their count,
 * or -1 (as tg_b64_decode, and also for '=' or non-zero unused bits). */
long tg_b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap);

#endif
