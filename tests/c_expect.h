/* The C tests' one check: EXPECT(condition) reports a failed condition with its place and counts it in `failures`,
   which main returns as its exit status. C99, for programs of one translation unit. */
#ifndef CONVKIT_TESTS_C_EXPECT_H
#define CONVKIT_TESTS_C_EXPECT_H

#include <convkit/convkit.h>
#include <stdio.h>
#include <string.h>

static int failures = 0;

#define EXPECT(condition)                                                     \
  do {                                                                        \
    if (!(condition)) {                                                       \
      fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #condition); \
      ++failures;                                                             \
    }                                                                         \
  } while (0)

/* Whether the calling thread's last error message contains `words`. */
static inline int mentions(const char* words) { return strstr(convkit_last_error(), words) != NULL; }

#endif
