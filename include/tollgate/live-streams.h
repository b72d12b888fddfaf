/* The live streams: every exchange in progress, with who asked, from
 * where, for which model, on which server, and its tokens counted as the
 * stream goes (src/observe/live-streams.c). Each thread registers its own
 * exchanges in a registry of its own; the registry's lock is taken when an
 * exchange begins or ends, when its facts are settled (twice at most), and
 * by a reader copying the rows. Its token count and rate are written by
 * the thread alone with relaxed stores, as the metrics' counters, and read
 * without the lock. */
#ifndef TOLLGATE_LIVE_STREAMS_H
#define TOLLGATE_LIVE_STREAMS_H

#include <stddef.h>
#include <stdint.h>

#include "tollgate/llm.h"

typedef struct tg_live_stream tg_live_stream;

/* One live exchange as a reader sees it. Times are uv_hrtime()'s. */
typedef struct tg_live_row {
  char ip[48], user[64], model[TG_MODEL_MAX + 1], server[64];
  uint8_t route;                 /* tg_route_kind */
  uint64_t start_ns;             /* its request's first byte */
  uint64_t first_ns;             /* its first token (0: none yet) */
  uint64_t tokens;               /* generated so far: the chunks seen, then the count the stream reports */
  uint64_t mark_ns, mark_tokens; /* the count at the last second's mark (the current rate's base) */
  uint64_t rate_milli;           /* tokens per second over the last whole second before the mark, x1000 */
  uint64_t next_ms;              /* the owning thread's: its loop time of the next mark (0: at the first token) */
} tg_live_row;

/* Registers an exchange of this thread that began at start_ns from ip,
 * with its route, user and model (NULL: none); NULL without memory (it is
 * then not listed). */
tg_live_stream *tg_live_begin(const char *ip, uint64_t start_ns, int route, const char *user, const char *model);

/* Its facts as they become known (NULL or "" leaves one as it was). */
void tg_live_facts(tg_live_stream *s, int route, const char *user, const char *model, const char *server);

/* The slow part of tg_live_tokens: the first token, or a mark. */
int tg_live_tokens_mark(tg_live_stream *s, uint64_t total, uint64_t now_ms);

/* Its tokens so far: total, at now_ms (the loop's cached time: a chunk
 * reads no clock). The first sets its time to first token; the tokens go
 * to the live windows (tollgate/live-window.h) at its first, then once a
 * second (its mark), and at its end. Returns 1 when this was its first
 * token. Inline: it runs for every chunk, and costs a compare and a store. */
static inline int tg_live_tokens(tg_live_stream *s, uint64_t total, uint64_t now_ms) {
  tg_live_row *r = (tg_live_row *)s; /* an entry begins with its row */
  if (total == r->tokens) return 0;
  __atomic_store_n(&r->tokens, total, __ATOMIC_RELAXED);
  if (__builtin_expect(now_ms < r->next_ms, 1)) return 0;
  return tg_live_tokens_mark(s, total, now_ms);
}

/* Its tokens so far and when the first came (0: none yet). */
uint64_t tg_live_tokens_of(const tg_live_stream *s, uint64_t *first_ns);

/* Unregisters it (on the thread that registered it) at now_ms (the loop's
 * time): its tokens not yet in the live windows go there. */
void tg_live_end(tg_live_stream *s, uint64_t now_ms);

/* The calling thread ends: its registry goes to the next thread. */
void tg_live_thread_done(void);

/* Every live exchange of every thread, copied into a new array (*n rows;
 * free() it), or NULL (*n 0) when there is none or no memory. */
tg_live_row *tg_live_snapshot(size_t *n);

/* A row's current tokens per second at now_ns: over the last whole second
 * while tokens come, falling as they stop. */
double tg_live_rate(const tg_live_row *r, uint64_t now_ns);

#endif
