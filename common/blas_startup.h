/* OpenBLAS's core at program start.
 *
 * OpenBLAS picks its core once, when the library loads, from the CPU it recognises. Debian's
 * 0.3.21 does not know CPUs newer than itself and may fall back to a generic core (Prescott:
 * SSE3 kernels, 5-7x slower sgemm on an AVX-512 machine). blas_startup, called first thing in
 * main(), notes the core (blas_startup_log logs it) and, where
 *   - the user has not set OPENBLAS_CORETYPE (their value is never overridden),
 *   - the opt-out is off (AUTOPEFT_NO_BLAS_CORE_FIX=1 in the environment, or BLAS_NO_CORE_FIX),
 *   - OpenBLAS chose a core below AVX2 while the CPU (and OS) supports AVX-512 or AVX2
 *     (blas_core_choice, blas.h),
 * re-executes the program with OPENBLAS_CORETYPE=SkylakeX (AVX-512) or Haswell (AVX2), so the
 * library loads again and picks that core; the new process notes what was done. Cores of AVX2
 * or better (Haswell, Zen, SkylakeX, Cooperlake, SapphireRapids) are left alone. */
#ifndef AUTOPEFT_BLAS_STARTUP_H
#define AUTOPEFT_BLAS_STARTUP_H

/* Flags of blas_startup. */
#define BLAS_NO_CORE_FIX 1u

/* May replace the process (execv of /proc/self/exe with argv) as described above, saying so
 * in the log first. Returns only when no re-execution happened (or it failed, which is
 * logged). */
void blas_startup(char **argv, unsigned flags);
/* Logs (info) the core blas_startup found and whether autopeft chose it: programs call this
 * once their options are read, so that --help stays quiet and --log-level applies. */
void blas_startup_log(void);

#endif
