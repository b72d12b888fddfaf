/* OpenSSL's short-lived buffers from slots of their own, outside malloc's
 * heap (tollgate/tls.h: tg_tls_mem_init).
 *
 * A handshake allocates buffers between the small objects a connection
 * keeps: the record buffers (16.6 KB each, again for every record with
 * SSL_MODE_RELEASE_BUFFERS), the handshake message buffer (grown to 21 KB)
 * and the buffering BIO OpenSSL puts in front of the socket (two 4 KB
 * halves). Once freed, each leaves a hole in the heap, pinned by what was
 * allocated after it, and the partial pages at both ends of a hole stay
 * resident (malloc_trim releases whole pages only): about 3 KB per live
 * connection (docs/tls.md). Here those sizes take a slot of a reserved
 * region instead, so the heap only sees objects that stay or that are
 * small. What a connection keeps (the SSL object, 7.6 KB, and everything
 * below 3 KB) falls outside both size classes.
 *
 * A thread keeps a few free slots of each class resident (the record
 * buffer of the next read is one of them, taken without a lock or a
 * system call); a slot freed beyond those gives its pages back to the
 * kernel. When a class has no slot left, allocations fall back to malloc. */
#include "tollgate/tls.h"

#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <openssl/crypto.h>

#define CACHE_MAX 4 /* free slots a thread keeps, per class */

/* Off under ASan, which watches malloc's buffers and would not see these. */
#if defined(__SANITIZE_ADDRESS__)
#define SLOTS_ON 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLOTS_ON 0
#endif
#endif
#ifndef SLOTS_ON
#define SLOTS_ON 1
#endif

typedef struct slot_class {
  size_t lo, size; /* allocations of lo to size bytes */
  uint32_t nslots;
  char *base;
  pthread_mutex_t mu;
  uint32_t *free_slots; /* free slots whose pages went back to the kernel */
  uint32_t nfree, nused_ever;
} slot_class;

/* Record and message buffers; the buffering BIO's halves (and OpenSSL's
 * 3 KB scratch buffers of algorithm lookups). Each handshake under way
 * holds up to three of the first and two of the second, and a burst of
 * new connections has thousands under way: 256 MiB + 64 MiB of address
 * space, reserved without access, each slot made writable (committed) the
 * first time it is used. */
static slot_class classes[] = {
    {.lo = 12 * 1024, .size = 32 * 1024, .nslots = 8192, .mu = PTHREAD_MUTEX_INITIALIZER},
    {.lo = 3 * 1024 + 1, .size = 4 * 1024, .nslots = 16384, .mu = PTHREAD_MUTEX_INITIALIZER},
};
#define NCLASSES (sizeof classes / sizeof classes[0])

static _Thread_local char *cache[NCLASSES][CACHE_MAX];
static _Thread_local unsigned ncache[NCLASSES];

static slot_class *class_for_size(size_t n) {
  for (size_t i = 0; i < NCLASSES; i++)
    if (classes[i].base && n >= classes[i].lo && n <= classes[i].size) return &classes[i];
  return NULL;
}

static slot_class *class_of(const void *p) {
  for (size_t i = 0; i < NCLASSES; i++) {
    const char *b = classes[i].base;
    if (b && (const char *)p >= b && (const char *)p < b + (size_t)classes[i].nslots * classes[i].size)
      return &classes[i];
  }
  return NULL;
}

static char *slot_take(slot_class *k) {
  size_t ci = (size_t)(k - classes);
  if (ncache[ci]) return cache[ci][--ncache[ci]];
  char *p = NULL;
  pthread_mutex_lock(&k->mu);
  if (k->nfree)
    p = k->base + (size_t)k->free_slots[--k->nfree] * k->size;
  else if (k->nused_ever < k->nslots) {
    p = k->base + (size_t)k->nused_ever * k->size;
    if (mprotect(p, k->size, PROT_READ | PROT_WRITE) == 0)
      k->nused_ever++;
    else
      p = NULL; /* no memory to commit: malloc will say so too */
  }
  pthread_mutex_unlock(&k->mu);
  return p;
}

static void slot_give_back(slot_class *k, char *p) {
  madvise(p, k->size, MADV_DONTNEED);
  pthread_mutex_lock(&k->mu);
  k->free_slots[k->nfree++] = (uint32_t)((size_t)(p - k->base) / k->size);
  pthread_mutex_unlock(&k->mu);
}

static void slot_put(slot_class *k, char *p) {
  size_t ci = (size_t)(k - classes);
  if (ncache[ci] < CACHE_MAX)
    cache[ci][ncache[ci]++] = p;
  else
    slot_give_back(k, p);
}

static void *mem_malloc(size_t n, const char *file, int line) {
  (void)file;
  (void)line;
  if (n == 0) return NULL; /* as CRYPTO_malloc */
  slot_class *k = class_for_size(n);
  char *p = k ? slot_take(k) : NULL;
  return p ? p : malloc(n);
}

static void mem_free(void *p, const char *file, int line) {
  (void)file;
  (void)line;
  slot_class *k = p ? class_of(p) : NULL;
  if (k)
    slot_put(k, p);
  else
    free(p);
}

static void *mem_realloc(void *p, size_t n, const char *file, int line) {
  if (!p) return mem_malloc(n, file, line);
  if (n == 0) {
    mem_free(p, file, line);
    return NULL;
  }
  slot_class *from = class_of(p);
  if (from && n <= from->size) return p;
  if (!from && !class_for_size(n)) return realloc(p, n);
  size_t old = from ? from->size : malloc_usable_size(p);
  void *q = mem_malloc(n, file, line);
  if (!q) return NULL;
  memcpy(q, p, old < n ? old : n);
  mem_free(p, file, line);
  return q;
}

static int class_map(slot_class *k) {
  size_t len = (size_t)k->nslots * k->size;
  void *r = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  k->free_slots = malloc(k->nslots * sizeof *k->free_slots);
  if (r != MAP_FAILED && k->free_slots) {
    k->base = r;
    return 0;
  }
  if (r != MAP_FAILED) munmap(r, len);
  free(k->free_slots);
  k->free_slots = NULL;
  return -1;
}

void tg_tls_mem_init(void) {
  if (!SLOTS_ON) return;
  for (size_t i = 0; i < NCLASSES; i++)
    if (class_map(&classes[i]) < 0) goto undo;
  if (CRYPTO_set_mem_functions(mem_malloc, mem_realloc, mem_free)) return;
undo: /* OpenSSL allocated already, or no address space: malloc it is */
  for (size_t i = 0; i < NCLASSES; i++) {
    if (classes[i].base) munmap(classes[i].base, (size_t)classes[i].nslots * classes[i].size);
    classes[i].base = NULL;
    free(classes[i].free_slots);
    classes[i].free_slots = NULL;
  }
}

void tg_tls_mem_thread_done(void) {
  for (size_t i = 0; i < NCLASSES; i++)
    while (ncache[i]) slot_give_back(&classes[i], cache[i][--ncache[i]]);
}
