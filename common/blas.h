/* OpenBLAS: which kernels it runs (its "core"), which core autopeft prefers on this CPU, and
 * how many threads. Pure queries and settings: choosing the core at program start, which may
 * re-execute the program, is blas_startup.h's. */
#ifndef AUTOPEFT_BLAS_H
#define AUTOPEFT_BLAS_H

#include <stdbool.h>

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
 * and the opt-out (blas_startup.h). */
const char *blas_core_choice(const char *core, blas_cpu_t cpu, const char *user_coretype,
                             bool opt_out);
/* OpenBLAS's thread count for later calls. The engine sets 1 and splits products itself. */
void blas_set_threads(int n);

#endif
