/* cx_test.h: a tiny test helper for the unit tests (no framework needed).
 * Each test file defines test functions and calls CX_RUN(fn) from main;
 * CX_DONE() prints "N passed, N failed" and returns the exit code. */
#ifndef CX_TEST_H
#define CX_TEST_H

#include <stdio.h>
#include <string.h>

static int cx_t_failed_checks;
static int cx_t_pass, cx_t_fail;

#define CX_CHECK(cond)                                                        \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            cx_t_failed_checks++;                                             \
        }                                                                     \
    } while (0)

#define CX_CHECK_STR(a, b)                                                                    \
    do {                                                                                      \
        const char *cx_a_ = (a), *cx_b_ = (b);                                                \
        if (!cx_a_ || !cx_b_ || strcmp(cx_a_, cx_b_) != 0) {                                  \
            fprintf(stderr, "  FAIL %s:%d: %s == %s\n    got:  %s\n    want: %s\n", __FILE__, \
                    __LINE__, #a, #b, cx_a_ ? cx_a_ : "(null)", cx_b_ ? cx_b_ : "(null)");    \
            cx_t_failed_checks++;                                                             \
        }                                                                                     \
    } while (0)

#define CX_CHECK_INT(a, b)                                                              \
    do {                                                                                \
        long long cx_a_ = (long long)(a), cx_b_ = (long long)(b);                       \
        if (cx_a_ != cx_b_) {                                                           \
            fprintf(stderr, "  FAIL %s:%d: %s == %s (got %lld, want %lld)\n", __FILE__, \
                    __LINE__, #a, #b, cx_a_, cx_b_);                                    \
            cx_t_failed_checks++;                                                       \
        }                                                                               \
    } while (0)

#define CX_RUN(fn)                              \
    do {                                        \
        int cx_before_ = cx_t_failed_checks;    \
        fn();                                   \
        if (cx_t_failed_checks == cx_before_) { \
            cx_t_pass++;                        \
            printf("ok   %s\n", #fn);           \
        } else {                                \
            cx_t_fail++;                        \
            printf("FAIL %s\n", #fn);           \
        }                                       \
    } while (0)

#define CX_DONE() (printf("%d passed, %d failed\n", cx_t_pass, cx_t_fail), cx_t_fail ? 1 : 0)

#endif
