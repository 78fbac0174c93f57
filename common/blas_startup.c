/* OpenBLAS's core at program start: noted, and fixed by re-execution where needed
 * (blas_startup.h). */
#include "common/blas_startup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/blas.h"
#include "common/log.h"

/* Set in the environment of the re-executed process: the core OpenBLAS had chosen. */
#define FIXED_ENV "AUTOPEFT_BLAS_CORE_FIXED"
#define OPT_OUT_ENV "AUTOPEFT_NO_BLAS_CORE_FIX"
/* For tests only: the core name blas_startup acts on instead of OpenBLAS's, so that the
 * re-execution path can be exercised on a machine where OpenBLAS picks a good core. */
#define PRETEND_ENV "AUTOPEFT_BLAS_PRETEND_CORE"

/* What blas_startup found, for blas_startup_log. */
static char core_note[256];

void blas_startup_log(void)
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
