/* FNV-1a, 64 bits (Fowler, Noll, Vo; the offset basis and prime of
 * draft-eastlake-fnv): the hash of tollgate's in-memory tables (rate and
 * count limits, token quotas, the auth failure throttle). Fast on short
 * keys (an address, a user name) and not keyed: a table using it bounds
 * each bucket, so that colliding keys cost a lookup, never a long chain.
 * Inline: a request hashes a few keys. */
#ifndef TOLLGATE_HASH_H
#define TOLLGATE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define TG_FNV1A64_BASIS 14695981039346656037ull
#define TG_FNV1A64_PRIME 1099511628211ull

/* h carried over n more bytes: start from TG_FNV1A64_BASIS. */
static inline uint64_t tg_fnv1a64_add(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * TG_FNV1A64_PRIME;
  return h;
}

/* The hash of n bytes. */
static inline uint64_t tg_fnv1a64(const void *p, size_t n) { return tg_fnv1a64_add(TG_FNV1A64_BASIS, p, n); }

/* The hash of a NUL-terminated string (without its NUL). */
static inline uint64_t tg_fnv1a64_str(const char *s) {
  uint64_t h = TG_FNV1A64_BASIS;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * TG_FNV1A64_PRIME;
  return h;
}

#endif
