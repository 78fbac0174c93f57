/* Private to worker/: how hot loops are compiled, and the vectorisable exp and normal CDF.
 *
 * SIMD_FN builds a function three times (AVX-512, AVX2+FMA, baseline x86-64) and picks one when
 * the program loads, so one binary runs everywhere and uses the CPU it finds. The loops are
 * vectorised at the project's -O2 by asking for it on these functions alone, without
 * floating-point traps (which the engine never enables) so that selects vectorise on AVX2 too,
 * and with a * b + c contracted to one fused multiply-add (ISO C mode turns that off: without
 * it the polynomials of exp and erfc took twice the instructions).
 * Sanitizer builds and other compilers get one plain version. */
#ifndef AUTOPEFT_SIMD_H
#define AUTOPEFT_SIMD_H

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define SIMD_FN                                                                         \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"),        \
                   optimize("tree-vectorize", "vect-cost-model=dynamic", "no-trapping-math", \
                            "fp-contract=fast")))
#else
#define SIMD_FN
#endif
/* Helpers of SIMD_FN functions must be inlined into each clone to get its instructions. */
#define SIMD_INLINE static inline __attribute__((always_inline))

/* exp(x) for float: x = n ln2 + r with |r| <= ln2/2, exp(r) by its degree-7 Taylor polynomial
 * (truncation 6e-9 relative), 2^n put in the exponent bits. Arguments below -87.3 give 0 and
 * above 88.7 are clamped (no infinities in the engine's uses: softmax and GELU only pass
 * x <= 0). Branch-free so that loops calling it vectorise. */
SIMD_INLINE float simd_expf(float x)
{
    const float lo = -87.33654f;
    float xc = x < lo ? lo : x;
    xc = xc > 88.72f ? 88.72f : xc;
    /* Round to nearest by the 1.5 * 2^23 trick: exact for |x * log2(e)| < 2^22. */
    float t = xc * 1.44269504f + 12582912.0f;
    float n = t - 12582912.0f;
    /* ln 2 split in a part exact in 11 bits and the rest, so n * hi is exact. */
    float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;

    memcpy(&scale, &bits, sizeof scale);
    return x < lo ? 0.0f : p * scale;
}

/* erfc(z) for z >= 0 as t exp(-z^2 + P(t)), t = 1/(1 + z/2), P a degree-10 polynomial in
 * u = 2t - 1 fitted here (least squares on Chebyshev nodes, tests/reference/fit_erfc.py) to
 * log(erfc(z)/t) + z^2 on z in [0, 10]: 2.4e-8 in the exponent; about 3e-7 absolute in float. */
SIMD_INLINE float simd_erfcf_pos(float z)
{
    float t = 1.0f / (1.0f + 0.5f * z);
    float u = 2.0f * t - 1.0f;
    float p = -1.29090194e-04f;
    p = p * u + 5.02994076e-04f;
    p = p * u + -5.53407990e-05f;
    p = p * u + -2.27893707e-03f;
    p = p * u + 1.71500583e-03f;
    p = p * u + 8.81265689e-03f;
    p = p * u + -9.86461808e-03f;
    p = p * u + -4.68945588e-02f;
    p = p * u + 4.73427987e-02f;
    p = p * u + 6.72643193e-01f;
    p = p * u + -6.71794079e-01f;
    return t * simd_expf(p - z * z);
}

/* The standard normal CDF Phi(x) = erfc(-x/sqrt(2)) / 2, accurate in absolute terms for x > 0
 * and in relative terms for x < 0 (where GELU needs it). */
SIMD_INLINE float simd_phif(float x)
{
    float z = (x < 0.0f ? -x : x) * 0.70710678118654752f;
    float h = 0.5f * simd_erfcf_pos(z);
    return x < 0.0f ? h : 1.0f - h;
}

#endif
