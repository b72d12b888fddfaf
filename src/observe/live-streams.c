/* The live streams' registries (see tollgate/live-streams.h). One per
 * thread, taken at its first exchange and given to the next thread when it
 * ends, never freed (a reader may walk it at any time). An exchange's
 * entry comes from its registry's free list (a malloc only when the
 * registry holds more live exchanges than it ever did). */
#include "tollgate/live-streams.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate/live-window.h"
#include "tollgate/thread-slot.h"

typedef struct live_reg live_reg;

struct tg_live_stream {
  tg_live_row row; /* first (tg_live_tokens); strings under reg->lock; numbers written by the owning thread, relaxed */
  tg_live_stream *next, *prev;
  live_reg *reg;
};

struct live_reg {
  tg_thread_slot slot;         /* first (tollgate/thread-slot.h) */
  atomic_int lock;             /* reg_lock: the owning thread and a reader */
  tg_live_stream *live, *free; /* under lock */
  _Atomic size_t n;            /* live ones: written under lock, read without it to size a copy */
};

/* A registry's lock: taken by its thread two or three times an exchange and
 * by a reader for the time it copies the rows (microseconds), so a spin
 * that yields the processor when it waits; uncontended, an exchange and a
 * store (a mutex pair costs several times that on every request). */
static inline void reg_lock(live_reg *r) {
  while (atomic_exchange_explicit(&r->lock, 1, memory_order_acquire)) sched_yield();
}

static inline void reg_unlock(live_reg *r) { atomic_store_explicit(&r->lock, 0, memory_order_release); }

static tg_thread_slots regs = TG_THREAD_SLOTS_INIT;
static _Thread_local live_reg *here;

static live_reg *reg_take(void) { return here = tg_thread_slot_take(&regs, sizeof(live_reg)); }

void tg_live_thread_done(void) {
  if (!here) return;
  tg_thread_slot_give(&regs, here);
  here = NULL;
}

/* Copies s into to (size bytes), cut to fit, NUL-terminated: what snprintf
 * "%s" does, at a fraction of its cost (an exchange does it four times). */
static void copy(char *to, size_t size, const char *s) {
  size_t n = strnlen(s, size - 1);
  memcpy(to, s, n);
  to[n] = 0;
}

static inline void set64(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static inline uint64_t get64(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

tg_live_stream *tg_live_begin(const char *ip, uint64_t start_ns, int route, const char *user, const char *model) {
  live_reg *r = here;
  if (!r && !(r = reg_take())) return NULL;
  reg_lock(r);
  tg_live_stream *s = r->free;
  if (s) r->free = s->next;
  else if (!(s = malloc(sizeof *s))) {
    reg_unlock(r);
    return NULL;
  }
  tg_live_row *w = &s->row; /* not yet listed: plain writes */
  copy(w->ip, sizeof w->ip, ip ? ip : "");
  copy(w->user, sizeof w->user, user ? user : "");
  copy(w->model, sizeof w->model, model ? model : "");
  w->server[0] = 0;
  w->route = (uint8_t)route;
  w->start_ns = w->mark_ns = start_ns;
  w->first_ns = w->tokens = w->mark_tokens = w->rate_milli = w->next_ms = 0;
  s->reg = r;
  s->prev = NULL;
  s->next = r->live;
  if (r->live) r->live->prev = s;
  r->live = s;
  atomic_store_explicit(&r->n, atomic_load_explicit(&r->n, memory_order_relaxed) + 1, memory_order_relaxed);
  reg_unlock(r);
  return s;
}

void tg_live_facts(tg_live_stream *s, int route, const char *user, const char *model, const char *server) {
  reg_lock(s->reg);
  s->row.route = (uint8_t)route;
  if (user && *user) copy(s->row.user, sizeof s->row.user, user);
  if (model && *model) copy(s->row.model, sizeof s->row.model, model);
  if (server && *server) copy(s->row.server, sizeof s->row.server, server);
  reg_unlock(s->reg);
}

/* The first token, or a second since the last mark: the tokens since the
 * mark go to the live windows (so a chunk costs a store and a compare, the
 * windows a call a second), and a new mark is set. */
int tg_live_tokens_mark(tg_live_stream *s, uint64_t total, uint64_t now_ms) {
  tg_live_row *r = &s->row;
  uint64_t now_ns = now_ms * 1000000; /* the loop's time, as the chunk's */
  r->next_ms = now_ms + 1000;
  uint64_t made = total > r->mark_tokens ? total - r->mark_tokens : 0;
  int first = !r->first_ns;
  if (made) tg_lw_tokens(made, tg_lw_sec_of(now_ns));
  if (first) {
    set64(&r->first_ns, now_ns);
    tg_lw_ttft(now_ns > r->start_ns ? (double)(now_ns - r->start_ns) / 1e9 : 0, tg_lw_sec_of(now_ns));
  } else if (now_ns > r->mark_ns) {
    set64(&r->rate_milli, made * 1000000000000ull / (now_ns - r->mark_ns));
  }
  set64(&r->mark_tokens, total);
  set64(&r->mark_ns, now_ns);
  return first;
}

uint64_t tg_live_tokens_of(const tg_live_stream *s, uint64_t *first_ns) {
  *first_ns = s->row.first_ns;
  return s->row.tokens;
}

void tg_live_end(tg_live_stream *s, uint64_t now_ms) {
  live_reg *r = s->reg;
  if (s->row.tokens > s->row.mark_tokens) tg_lw_tokens(s->row.tokens - s->row.mark_tokens, tg_lw_sec_of_ms(now_ms));
  reg_lock(r);
  if (s->prev) s->prev->next = s->next;
  else r->live = s->next;
  if (s->next) s->next->prev = s->prev;
  atomic_store_explicit(&r->n, atomic_load_explicit(&r->n, memory_order_relaxed) - 1, memory_order_relaxed);
  s->next = r->free;
  r->free = s;
  reg_unlock(r);
}

/* Copies a row: its strings as they are under the lock, its numbers whole. */
static void row_copy(tg_live_row *to, const tg_live_row *from) {
  memcpy(to, from, offsetof(tg_live_row, start_ns));
  to->start_ns = from->start_ns;
  to->first_ns = get64(&from->first_ns);
  to->tokens = get64(&from->tokens);
  to->mark_ns = get64(&from->mark_ns);
  to->mark_tokens = get64(&from->mark_tokens);
  to->rate_milli = get64(&from->rate_milli);
}

tg_live_row *tg_live_snapshot(size_t *n) {
  tg_live_row *rows = NULL;
  size_t cap = 0;
  *n = 0;
  pthread_mutex_lock(&regs.lock);
  for (live_reg *r = (live_reg *)regs.all; r; r = (live_reg *)r->slot.next)
    for (;;) { /* the array grown first, outside the lock its thread may wait for */
      size_t want = *n + atomic_load_explicit(&r->n, memory_order_relaxed);
      if (want > cap) {
        tg_live_row *grown = realloc(rows, (want + want / 2 + 16) * sizeof *rows);
        if (!grown) goto out;
        rows = grown;
        cap = want + want / 2 + 16;
      }
      reg_lock(r);
      int fits = *n + atomic_load_explicit(&r->n, memory_order_relaxed) <= cap;
      if (fits)
        for (const tg_live_stream *s = r->live; s; s = s->next) row_copy(&rows[(*n)++], &s->row);
      reg_unlock(r);
      if (fits) break;
    }
out:
  pthread_mutex_unlock(&regs.lock);
  if (!*n) {
    free(rows);
    rows = NULL;
  }
  return rows;
}

double tg_live_rate(const tg_live_row *r, uint64_t now_ns) {
  if (!r->first_ns || now_ns <= r->mark_ns) return (double)r->rate_milli / 1000;
  uint64_t since = now_ns - r->mark_ns;
  if (since < 1000000000ull) { /* within a second of the mark: the last second's rate, else since the first token */
    if (r->rate_milli || r->mark_ns != r->first_ns) return (double)r->rate_milli / 1000;
    return (double)(r->tokens - r->mark_tokens) * 1e9 / (double)since;
  }
  return (double)(r->tokens - r->mark_tokens) * 1e9 / (double)since; /* no token for a while: it falls */
}
