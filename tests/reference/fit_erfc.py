"""Fits the polynomial of worker/engine/simd.h's erfc: erfc(z) = t exp(-z^2 + P(u)), t = 1/(1 + z/2),
u = 2t - 1, z >= 0, P of degree 10 by least squares in the Chebyshev basis on a dense grid of
z in [0, 10], then written in powers of u (Horner order in simd.h: highest power first).

Prints the coefficients and the errors: of the fit in double, and of the float32 evaluation
(simulated with numpy) against scipy's erfc. Nothing is written; the numbers in simd.h were
pasted from this output."""
import numpy as np
from scipy.special import erfc

DEGREE = 10


def fit():
    z = np.linspace(0.0, 10.0, 200001)
    t = 1.0 / (1.0 + 0.5 * z)
    f = np.log(erfc(z) / t) + z * z
    u = 2.0 * t - 1.0
    cheb = np.polynomial.chebyshev.chebfit(u, f, DEGREE)
    mono = np.polynomial.chebyshev.cheb2poly(cheb)
    return mono, np.max(np.abs(np.polynomial.polynomial.polyval(u, mono) - f))


def float_error(mono):
    f32 = np.float32
    z = np.linspace(0.0, 6.0, 100001).astype(f32)
    t = (f32(1) / (f32(1) + f32(0.5) * z)).astype(f32)
    u = (f32(2) * t - f32(1)).astype(f32)
    p = f32(mono[-1])
    for c in mono[-2::-1]:
        p = (p * u + f32(c)).astype(f32)
    e = (t * np.exp((p - z * z).astype(np.float64))).astype(f32).astype(np.float64)
    ref = erfc(z.astype(np.float64))
    return np.max(np.abs(e - ref))


if __name__ == "__main__":
    mono, err = fit()
    print("fit_erfc: exponent error %.3g (double), erfc absolute error %.3g (float)"
          % (err, float_error(mono)))
    for c in mono[::-1]:
        print("    %.8e" % c)
