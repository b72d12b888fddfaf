/* A small unit-test harness. A suite is a function that calls TG_RUN on
 * each of its tests; tests/unit/main.c calls every suite and prints
 * "N passed, N failed". A test fails at its first failed TG_CHECK. */
#ifndef TG_TEST_H
#define TG_TEST_H

#include <stdio.h>
#include <string.h>

extern int tg_test_passed, tg_test_failed, tg_test_current_failed;

#define TG_CHECK(cond)                                                                                                 \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                                       \
      tg_test_current_failed = 1;                                                                                      \
      return;                                                                                                          \
    }                                                                                                                  \
  } while (0)

#define TG_CHECK_STR(a, b)                                                                                             \
  do {                                                                                                                 \
    const char *tg_a_ = (a), *tg_b_ = (b);                                                                             \
    if (!tg_a_ || !tg_b_ || strcmp(tg_a_, tg_b_) != 0) {                                                               \
      fprintf(stderr, "  %s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__, tg_a_ ? tg_a_ : "(null)",                     \
              tg_b_ ? tg_b_ : "(null)");                                                                               \
      tg_test_current_failed = 1;                                                                                      \
      return;                                                                                                          \
    }                                                                                                                  \
  } while (0)

#define TG_RUN(fn)                                                                                                     \
  do {                                                                                                                 \
    tg_test_current_failed = 0;                                                                                        \
    fn();                                                                                                              \
    if (tg_test_current_failed) {                                                                                      \
      tg_test_failed++;                                                                                                \
      fprintf(stderr, "FAIL %s\n", #fn);                                                                               \
    } else {                                                                                                           \
      tg_test_passed++;                                                                                                \
      printf("ok   %s\n", #fn);                                                                                        \
    }                                                                                                                  \
  } while (0)

#endif
