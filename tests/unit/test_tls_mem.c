/* OpenSSL's buffers in slots (src/tls/tls-mem.c, included to reach its
 * statics): which sizes take a slot, realloc across the boundary, the
 * thread's cache, the fall back to malloc when a class is full. The
 * allocator is exercised directly; OpenSSL is not switched to it here. */
#include "../../src/tls/tls-mem.c"

#include "tg_test.h"

static int mapped(void) {
  for (size_t i = 0; i < NCLASSES; i++)
    if (!classes[i].base && class_map(&classes[i]) < 0) return 0;
  return 1;
}

static void test_tls_mem_sizes(void) {
  TG_CHECK(mapped());
  void *rec = mem_malloc(16712, NULL, 0), *half = mem_malloc(4096, NULL, 0);
  void *ssl = mem_malloc(7608, NULL, 0), *small = mem_malloc(100, NULL, 0);
  TG_CHECK(class_of(rec) == &classes[0]);
  TG_CHECK(class_of(half) == &classes[1]);
  TG_CHECK(ssl && !class_of(ssl)); /* what a connection keeps stays in the heap */
  TG_CHECK(small && !class_of(small));
  void *big = mem_malloc(40000, NULL, 0);
  TG_CHECK(big && !class_of(big)); /* past the largest class */
  mem_free(big, NULL, 0);
  memset(rec, 0xab, 16712);
  mem_free(rec, NULL, 0);
  void *again = mem_malloc(20000, NULL, 0);
  TG_CHECK(again == rec); /* the thread's cached slot, pages still there */
  TG_CHECK(((unsigned char *)again)[100] == 0xab);
  TG_CHECK(mem_malloc(0, NULL, 0) == NULL);
  mem_free(again, NULL, 0);
  mem_free(half, NULL, 0);
  mem_free(ssl, NULL, 0);
  mem_free(small, NULL, 0);
  mem_free(NULL, NULL, 0);
}

static void test_tls_mem_realloc(void) {
  TG_CHECK(mapped());
  char *p = mem_realloc(NULL, 1000, NULL, 0);
  TG_CHECK(p && !class_of(p));
  for (int i = 0; i < 1000; i++) p[i] = (char)i;
  p = mem_realloc(p, 3500, NULL, 0); /* heap -> 4 KB slot */
  TG_CHECK(class_of(p) == &classes[1]);
  p = mem_realloc(p, 4000, NULL, 0); /* fits: same slot */
  TG_CHECK(class_of(p) == &classes[1]);
  p = mem_realloc(p, 8000, NULL, 0); /* -> heap */
  TG_CHECK(p && !class_of(p));
  p = mem_realloc(p, 21848, NULL, 0); /* -> 32 KB slot, as the handshake buffer grows */
  TG_CHECK(class_of(p) == &classes[0]);
  p = mem_realloc(p, 50000, NULL, 0); /* past the class: heap */
  TG_CHECK(p && !class_of(p));
  for (int i = 0; i < 1000; i++) TG_CHECK(p[i] == (char)i);
  TG_CHECK(mem_realloc(p, 0, NULL, 0) == NULL); /* frees, as CRYPTO_realloc */
}

static void test_tls_mem_full_and_thread_done(void) {
  TG_CHECK(mapped());
  slot_class *k = &classes[1];
  char **all = malloc((k->nslots + 1) * sizeof *all);
  TG_CHECK(all);
  for (uint32_t i = 0; i <= k->nslots; i++) all[i] = mem_malloc(4096, NULL, 0);
  TG_CHECK(all[k->nslots] && !class_of(all[k->nslots])); /* every slot taken: malloc */
  for (uint32_t i = 0; i <= k->nslots; i++) TG_CHECK(all[i]);
  for (uint32_t i = 0; i <= k->nslots; i++) mem_free(all[i], NULL, 0);
  free(all);
  TG_CHECK(ncache[1] == CACHE_MAX);
  TG_CHECK(k->nfree == k->nused_ever - CACHE_MAX); /* the rest went back to the kernel */
  tg_tls_mem_thread_done();
  TG_CHECK(ncache[0] == 0 && ncache[1] == 0);
  TG_CHECK(k->nfree == k->nused_ever);
}

void tg_suite_tls_mem(void) {
  TG_RUN(test_tls_mem_sizes);
  TG_RUN(test_tls_mem_realloc);
  TG_RUN(test_tls_mem_full_and_thread_done);
}
