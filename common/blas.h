/* OpenBLAS: which kernels it runs (its "core") and how many threads.
 *
 * OpenBLAS picks its core once, when the library loads, from the CPU it recognises. Debian's
 * 0.3.21 does not know CPUs newer than itself and may fall back to a generic core (Prescott:
 * SSE3 kernels, 5-7x slower sgemm on an AVX-512 machine). blas_startup, called first thing in
 * main(), notes the core (blas_log_core logs it) and, where
 *   - the user has not set OPENBLAS_CORETYPE (their value is never overridden),
 *   - the opt-out is off (AUTOPEFT_NO_BLAS_CORE_FIX=1 in the environment, or BLAS_NO_CORE_FIX),
 *   - OpenBLAS chose a core below AVX2 while the CPU (and OS) supports AVX-512 or AVX2,
 * re-executes the program with OPENBLAS_CORETYPE=SkylakeX (AVX-512) or Haswell (AVX2), so the
 * library loads again and picks that core; the new process notes what was done. Cores of AVX2
 * or better (Haswell, Zen, SkylakeX, Cooperlake, SapphireRapids) are left alone. */
#ifndef AUTOPEFT_BLAS_H
#define AUTOPEFT_BLAS_H

#include <stdbool.h>

/* Flags of blas_startup. */
#define BLAS_NO_CORE_FIX 1u

typedef enum {
    BLAS_CPU_BASELINE = 0,   /* neither of the below */
    BLAS_CPU_AVX2 = 1,       /* AVX2 and FMA */
    BLAS_CPU_AVX512 = 2      /* AVX-512 F, BW, VL, DQ, CD */
} blas_cpu_t;

/* openblas_get_corename(), e.g. "Haswell". */
const char *blas_core(void);
/* What this CPU and OS support. */
blas_cpu_t blas_cpu(void);
/* The core to force, or NULL to leave OpenBLAS alone: the decision of blas_startup as a pure
 * function of the core OpenBLAS chose, the CPU, the user's OPENBLAS_CORETYPE (NULL when unset)
 * and the opt-out. */
const char *blas_core_choice(const char *core, blas_cpu_t cpu, const char *user_coretype,
                             bool opt_out);
/* May replace the process (execv of /proc/self/exe with argv) as described above, saying so
 * in the log first. Returns only when no re-execution happened (or it failed, which is
 * logged). */
void blas_startup(char **argv, unsigned flags);
/* Logs (info) the core blas_startup found and whether autopeft chose it: programs call this
 * once their options are read, so that --help stays quiet and --log-level applies. */
void blas_log_core(void);

/* OpenBLAS's thread count for later calls. The engine sets 1 and splits products itself. */
void blas_set_threads(int n);

#endif
