/* The live streams' registries (see tollgate/live-streams.h). One per
 * thread, taken at its first exchange and given to the next thread when it
 * ends, never freed (a reader may walk it at any time). An exchange's
 * entry comes from its registry's free list (a malloc only when the
 * registry holds more live exchanges than it ever did). */
#include "tollgate/live-streams.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate/live-window.h"

typedef struct live_reg live_reg;

struct tg_live_stream {
  tg_live_row row; /* strings under reg->lock; numbers written by the owning thread, relaxed */
  tg_live_stream *next, *prev;
  live_reg *reg;
};

struct live_reg {
  pthread_mutex_t lock;
  tg_live_stream *live, *free; /* under lock */
  size_t n;                    /* live ones, under lock */
  live_reg *next;              /* every registry, under regs_lock */
  int in_use;                  /* under regs_lock */
};

static pthread_mutex_t regs_lock = PTHREAD_MUTEX_INITIALIZER;
static live_reg *regs;
static _Thread_local live_reg *here;

static live_reg *reg_take(void) {
  pthread_mutex_lock(&regs_lock);
  live_reg *r = regs;
  while (r && r->in_use) r = r->next;
  if (!r && (r = calloc(1, sizeof *r))) {
    pthread_mutex_init(&r->lock, NULL);
    r->next = regs;
    regs = r;
  }
  if (r) r->in_use = 1;
  pthread_mutex_unlock(&regs_lock);
  return here = r;
}

void tg_live_thread_done(void) {
  live_reg *r = here;
  if (!r) return;
  pthread_mutex_lock(&regs_lock);
  r->in_use = 0;
  pthread_mutex_unlock(&regs_lock);
  here = NULL;
}

static inline void set64(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static inline uint64_t get64(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

tg_live_stream *tg_live_begin(const char *ip, uint64_t start_ns) {
  live_reg *r = here;
  if (!r && !(r = reg_take())) return NULL;
  pthread_mutex_lock(&r->lock);
  tg_live_stream *s = r->free;
  if (s) r->free = s->next;
  else if (!(s = malloc(sizeof *s))) {
    pthread_mutex_unlock(&r->lock);
    return NULL;
  }
  memset(&s->row, 0, sizeof s->row);
  snprintf(s->row.ip, sizeof s->row.ip, "%s", ip ? ip : "");
  s->row.start_ns = s->row.mark_ns = start_ns;
  s->reg = r;
  s->prev = NULL;
  s->next = r->live;
  if (r->live) r->live->prev = s;
  r->live = s;
  r->n++;
  pthread_mutex_unlock(&r->lock);
  return s;
}

void tg_live_facts(tg_live_stream *s, int route, const char *user, const char *model, const char *server) {
  pthread_mutex_lock(&s->reg->lock);
  s->row.route = (uint8_t)route;
  if (user && *user) snprintf(s->row.user, sizeof s->row.user, "%s", user);
  if (model && *model) snprintf(s->row.model, sizeof s->row.model, "%s", model);
  if (server && *server) snprintf(s->row.server, sizeof s->row.server, "%s", server);
  pthread_mutex_unlock(&s->reg->lock);
}

/* The first token, or a second since the last mark: the tokens since the
 * mark go to the live windows (so a chunk costs a store and a compare, the
 * windows a call a second), and a new mark is set. */
static __attribute__((noinline)) int tokens_mark(tg_live_row *r, uint64_t total, uint64_t now_ns) {
  uint64_t made = total > r->mark_tokens ? total - r->mark_tokens : 0;
  int first = !r->first_ns;
  if (made) tg_lw_tokens(made, tg_lw_sec_of(now_ns));
  if (first) {
    set64(&r->first_ns, now_ns);
    tg_lw_ttft(now_ns > r->start_ns ? (double)(now_ns - r->start_ns) / 1e9 : 0, tg_lw_sec_of(now_ns));
  } else {
    set64(&r->rate_milli, made * 1000000000000ull / (now_ns - r->mark_ns));
  }
  set64(&r->mark_tokens, total);
  set64(&r->mark_ns, now_ns);
  return first;
}

int tg_live_tokens(tg_live_stream *s, uint64_t total, uint64_t now_ns) {
  tg_live_row *r = &s->row; /* only this thread writes its numbers */
  if (total == r->tokens) return 0;
  set64(&r->tokens, total);
  if (__builtin_expect(r->first_ns && now_ns - r->mark_ns < 1000000000ull, 1)) return 0;
  return tokens_mark(r, total, now_ns);
}

uint64_t tg_live_tokens_of(const tg_live_stream *s, uint64_t *first_ns) {
  *first_ns = s->row.first_ns;
  return s->row.tokens;
}

void tg_live_end(tg_live_stream *s) {
  live_reg *r = s->reg;
  if (s->row.tokens > s->row.mark_tokens) tg_lw_tokens(s->row.tokens - s->row.mark_tokens, tg_lw_now());
  pthread_mutex_lock(&r->lock);
  if (s->prev) s->prev->next = s->next;
  else r->live = s->next;
  if (s->next) s->next->prev = s->prev;
  r->n--;
  s->next = r->free;
  r->free = s;
  pthread_mutex_unlock(&r->lock);
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
  pthread_mutex_lock(&regs_lock);
  for (live_reg *r = regs; r; r = r->next) {
    pthread_mutex_lock(&r->lock);
    if (*n + r->n > cap) {
      size_t want = (*n + r->n) * 2;
      tg_live_row *grown = realloc(rows, want * sizeof *rows);
      if (!grown) {
        pthread_mutex_unlock(&r->lock);
        break;
      }
      rows = grown;
      cap = want;
    }
    for (const tg_live_stream *s = r->live; s; s = s->next) row_copy(&rows[(*n)++], &s->row);
    pthread_mutex_unlock(&r->lock);
  }
  pthread_mutex_unlock(&regs_lock);
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
