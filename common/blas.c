/* OpenBLAS: its core, the core to prefer, and threads (blas.h). */
#include "common/blas.h"

#include <cblas.h>
#include <string.h>
#include <strings.h>

const char *blas_core(void)
{
    const char *c = openblas_get_corename();

    return c ? c : "unknown";
}

blas_cpu_t blas_cpu(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    /* libgcc's checks include the OS's support (XSAVE state) for the vector registers. */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512cd"))
        return BLAS_CPU_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return BLAS_CPU_AVX2;
#endif
    return BLAS_CPU_BASELINE;
}

/* Cores with AVX2 kernels or better; anything else is generic for this purpose. */
static bool good_core(const char *core)
{
    static const char *const good[] = {"Haswell", "Zen", "SkylakeX", "Cooperlake",
                                       "SapphireRapids"};

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (strcasecmp(core, good[i]) == 0)
            return true;
    return false;
}

const char *blas_core_choice(const char *core, blas_cpu_t cpu, const char *user_coretype,
                             bool opt_out)
{
    if (opt_out || (user_coretype && *user_coretype) || !core || good_core(core))
        return NULL;
    switch (cpu) {
    case BLAS_CPU_AVX512:
        return "SkylakeX";
    case BLAS_CPU_AVX2:
        return "Haswell";
    default:
        return NULL;
    }
}

void blas_set_threads(int n)
{
    openblas_set_num_threads(n < 1 ? 1 : n);
}
