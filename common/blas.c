/* OpenBLAS core selection and threads: see blas.h. */
#include "common/blas.h"

#include <cblas.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/log.h"

/* Set in the environment of the re-executed process: the core OpenBLAS had chosen. */
#define FIXED_ENV "AUTOPEFT_BLAS_CORE_FIXED"
#define OPT_OUT_ENV "AUTOPEFT_NO_BLAS_CORE_FIX"
/* For tests only: the core name blas_startup acts on instead of OpenBLAS's, so that the
 * re-execution path can be exercised on a machine where OpenBLAS picks a good core. */
#define PRETEND_ENV "AUTOPEFT_BLAS_PRETEND_CORE"

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

/* What blas_startup found, for blas_log_core. */
static char core_note[256];

void blas_log_core(void)
{
    if (core_note[0])
        log_info("%s", core_note);
}

void blas_startup(char **argv, unsigned flags)
{
    const char *core = getenv(PRETEND_ENV) ? getenv(PRETEND_ENV) : blas_core();
    const char *fixed = getenv(FIXED_ENV), *opt = getenv(OPT_OUT_ENV);
    bool opt_out = (flags & BLAS_NO_CORE_FIX) || (opt && *opt && strcmp(opt, "0") != 0);
    const char *want;

    if (fixed) {
        snprintf(core_note, sizeof core_note,
                 "OpenBLAS core %s (autopeft set OPENBLAS_CORETYPE=%s: OpenBLAS had chosen %s "
                 "on this CPU; %s=1 turns this off)",
                 blas_core(), getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "?",
                 fixed, OPT_OUT_ENV);
        unsetenv(FIXED_ENV);
        return;
    }
    want = blas_core_choice(core, blas_cpu(), getenv("OPENBLAS_CORETYPE"), opt_out);
    if (!want || !argv || !argv[0]) {
        snprintf(core_note, sizeof core_note, "OpenBLAS core %s", core);
        return;
    }
    log_info("OpenBLAS chose its generic core %s on a CPU with %s: restarting with "
             "OPENBLAS_CORETYPE=%s (%s=1 turns this off)",
             core, blas_cpu() == BLAS_CPU_AVX512 ? "AVX-512" : "AVX2", want, OPT_OUT_ENV);
    if (setenv("OPENBLAS_CORETYPE", want, 1) != 0 || setenv(FIXED_ENV, core, 1) != 0) {
        log_warn("OpenBLAS core: cannot set the environment (%s); staying on %s", strerror(errno), core);
        return;
    }
    execv("/proc/self/exe", argv);
    log_warn("OpenBLAS core: cannot re-execute the program (%s); staying on %s", strerror(errno), core);
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv(FIXED_ENV);
}

void blas_set_threads(int n)
{
    openblas_set_num_threads(n < 1 ? 1 : n);
}
