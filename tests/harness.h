/* The in-tree test harness.
 *
 * A test is a function declared with TEST(name) (or TEST_TIMEOUT(name, seconds)) in any file
 * under tests/; it registers itself at start-up under the suite named after its file
 * (tests/unit/common/test_space.c -> "space"). The runner (tests/harness.c) runs every test in a forked
 * child, in its own process group and temporary folder, with a timeout, captures its output and
 * shows it only when the test fails. An assertion that fails prints both operands and ends the
 * child with status 1.
 *
 *   autopeft-tests                  run everything, in parallel (-j N)
 *   autopeft-tests -t space.parse   one test (or a glob: -t 'space.*', -t '*parse*')
 *   autopeft-tests -l               list the tests
 *   autopeft-tests --no-fork -t X   run in-process (for gdb)
 *
 * A test named child_* is the second half of another test (which runs this binary again with
 * -t to get a fresh process); like the harness's own self-tests it runs only when named.
 *
 * The last line of a run is "N passed, N failed"; the exit status is non-zero on any failure. */
#ifndef AUTOPEFT_HARNESS_H
#define AUTOPEFT_HARNESS_H

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "common/err.h"

#define HARNESS_DEFAULT_TIMEOUT 60
/* A test that ends with this status was skipped; HARNESS_SKIP prints why. */
#define HARNESS_SKIP_STATUS 77

typedef void (*harness_fn)(void);

void harness_register(const char *file, const char *name, harness_fn fn, int timeout_s);
void harness_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
void harness_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* The test's own temporary folder (created before it starts, removed after it ends). */
const char *harness_tmpdir(void);
/* A path inside the tree (AUTOPEFT_SRC_DIR), the programs' folder (AUTOPEFT_BIN_DIR), and
 * the shared data (AUTOPEFT_SHARED, default SRC/../shared); the last skips the test with a
 * message naming what is missing when the path does not exist. */
const char *harness_src_path(const char *rel, char *buf, size_t len);
const char *harness_bin_path(const char *program, char *buf, size_t len);
const char *harness_shared_path(const char *rel, char *buf, size_t len);

/* Starts the program PROGRAM of the programs' folder with the NULL-terminated ARGS (at most
 * 62), stdin from the file IN, stdout to OUT and stderr to ERR (created; appended to when
 * APPEND, else emptied; when OUT and ERR are the same path they share one descriptor, so the
 * lines stay in order). The test fails when the process cannot be started. */
pid_t harness_spawn(const char *program, const char *const *args, const char *in,
                    const char *out, const char *err, bool append);

/* A whole file on the heap, NUL-terminated; *len (may be NULL) its length. The test fails when
 * the file cannot be read. */
char *harness_slurp(const char *path, size_t *len);

/* The log (common/log.h) into a file of the test's folder until harness_log_end, which puts
 * it back on stderr and returns what was written (valid until the next capture ends). */
void harness_log_begin(void);
const char *harness_log_end(void);

#define TEST_TIMEOUT(fname, seconds)                                          \
    static void test_##fname(void);                                           \
    __attribute__((constructor)) static void test_register_##fname(void)     \
    {                                                                         \
        harness_register(__FILE__, #fname, test_##fname, (seconds));          \
    }                                                                         \
    static void test_##fname(void)

#define TEST(fname) TEST_TIMEOUT(fname, HARNESS_DEFAULT_TIMEOUT)

#define HARNESS_SKIP(...) harness_skip(__VA_ARGS__)
#define FAIL(...) harness_fail(__FILE__, __LINE__, __VA_ARGS__)

#define ASSERT_TRUE(cond)                                               \
    do {                                                                \
        if (!(cond))                                                    \
            harness_fail(__FILE__, __LINE__, "ASSERT_TRUE(%s)", #cond); \
    } while (0)
#define ASSERT_FALSE(cond)                                               \
    do {                                                                 \
        if (cond)                                                        \
            harness_fail(__FILE__, __LINE__, "ASSERT_FALSE(%s)", #cond); \
    } while (0)

/* Integer comparisons print both operands as signed (ASSERT_*) or unsigned (ASSERT_*_U). */
#define HARNESS_CMP(a, op, b, T, F, name)                                                   \
    do {                                                                                    \
        T a_ = (T)(a), b_ = (T)(b);                                                         \
        if (!(a_ op b_))                                                                    \
            harness_fail(__FILE__, __LINE__, name "(%s, %s): %" F " vs %" F, #a, #b, a_, b_); \
    } while (0)
#define ASSERT_EQ(a, b) HARNESS_CMP(a, ==, b, intmax_t, PRIdMAX, "ASSERT_EQ")
#define ASSERT_NE(a, b) HARNESS_CMP(a, !=, b, intmax_t, PRIdMAX, "ASSERT_NE")
#define ASSERT_LT(a, b) HARNESS_CMP(a, <, b, intmax_t, PRIdMAX, "ASSERT_LT")
#define ASSERT_LE(a, b) HARNESS_CMP(a, <=, b, intmax_t, PRIdMAX, "ASSERT_LE")
#define ASSERT_GT(a, b) HARNESS_CMP(a, >, b, intmax_t, PRIdMAX, "ASSERT_GT")
#define ASSERT_GE(a, b) HARNESS_CMP(a, >=, b, intmax_t, PRIdMAX, "ASSERT_GE")
#define ASSERT_EQ_U(a, b) HARNESS_CMP(a, ==, b, uintmax_t, PRIuMAX, "ASSERT_EQ_U")

/* |a - b| <= tol; NaN never passes. */
#define ASSERT_NEAR(a, b, tol)                                                                  \
    do {                                                                                        \
        double a_ = (double)(a), b_ = (double)(b), t_ = (double)(tol);                          \
        if (!(fabs(a_ - b_) <= t_))                                                             \
            harness_fail(__FILE__, __LINE__, "ASSERT_NEAR(%s, %s, %s): %.17g vs %.17g (diff %.3g)", \
                         #a, #b, #tol, a_, b_, fabs(a_ - b_));                                  \
    } while (0)
/* |a - b| <= rtol * max(|a|, |b|, floor): relative, with an absolute floor near zero. */
#define ASSERT_REL(a, b, rtol, floor_)                                                        \
    do {                                                                                      \
        double a_ = (double)(a), b_ = (double)(b);                                            \
        double s_ = fmax(fmax(fabs(a_), fabs(b_)), (double)(floor_));                         \
        if (!(fabs(a_ - b_) <= (double)(rtol) * s_))                                          \
            harness_fail(__FILE__, __LINE__, "ASSERT_REL(%s, %s): %.17g vs %.17g (rel %.3g)", \
                         #a, #b, a_, b_, fabs(a_ - b_) / s_);                                 \
    } while (0)

#define ASSERT_STR_EQ(a, b)                                                                 \
    do {                                                                                    \
        const char *a_ = (a), *b_ = (b);                                                    \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                              \
            harness_fail(__FILE__, __LINE__, "ASSERT_STR_EQ(%s, %s): \"%s\" vs \"%s\"", #a, #b, \
                         a_ ? a_ : "(null)", b_ ? b_ : "(null)");                           \
    } while (0)
/* haystack contains needle */
#define ASSERT_CONTAINS(hay, needle)                                                           \
    do {                                                                                       \
        const char *h_ = (hay), *n_ = (needle);                                                \
        if (!h_ || !strstr(h_, n_))                                                            \
            harness_fail(__FILE__, __LINE__, "ASSERT_CONTAINS(%s, %s): \"%s\" lacks \"%s\"", #hay, \
                         #needle, h_ ? h_ : "(null)", n_);                                     \
    } while (0)

/* An expression returning 0 / ERR_*: ASSERT_OK expects 0 and prints err_msg() otherwise;
 * ASSERT_ERR expects the given code. */
#define ASSERT_OK(expr)                                                                            \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ != 0)                                                                              \
            harness_fail(__FILE__, __LINE__, "ASSERT_OK(%s): %s: %s", #expr, err_name(rc_), err_msg()); \
    } while (0)
#define ASSERT_ERR(expr, code)                                                                  \
    do {                                                                                        \
        int rc_ = (expr);                                                                       \
        if (rc_ != (code))                                                                      \
            harness_fail(__FILE__, __LINE__, "ASSERT_ERR(%s, %s): got %s (%s)", #expr, #code,   \
                         err_name(rc_), rc_ ? err_msg() : "no error");                          \
    } while (0)
#define ASSERT_NOT_NULL(p)                                                                     \
    do {                                                                                       \
        if ((p) == NULL)                                                                       \
            harness_fail(__FILE__, __LINE__, "ASSERT_NOT_NULL(%s): NULL (%s)", #p, err_msg()); \
    } while (0)

#endif
