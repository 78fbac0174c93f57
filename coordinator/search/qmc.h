/* Quasi-random standard normal draws for Monte Carlo acquisition functions.
 *
 * A Sobol' sequence (base-2 digital net; Bratley and Fox's construction) in as many dimensions
 * as asked: dimension 0 is van der Corput's, dimension j >= 1 uses the j-th primitive
 * polynomial over GF(2) (enumerated by degree, then by value, and tested here for primitivity)
 * with initial direction numbers drawn from the seed. The net is randomised by a linear matrix
 * scramble and a digital shift (Matousek 1998), both from the seed, and mapped to normals by the
 * exact inverse CDF. A fixed seed gives the same draws every time: acquisition values are then
 * deterministic functions of the candidate (common random numbers), which the discrete optimiser
 * needs to compare candidates fairly. */
#ifndef AUTOPEFT_QMC_H
#define AUTOPEFT_QMC_H

#include <stdint.h>

/* Primitive polynomials of degree <= 20 suffice for this many dimensions. */
#define QMC_MAX_DIMS 16384
#define QMC_MAX_POINTS (1 << 20)

/* n x dims normal deviates, row-major (row i = point i). ERR_INVAL beyond the caps. */
int qmc_normal(uint64_t seed, int n, int dims, double *out);

/* The same points as uniforms in (0, 1) (for tests of the net's balance). */
int qmc_uniform(uint64_t seed, int n, int dims, double *out);

/* Whether the polynomial with these bits (bit k = coefficient of x^k) is primitive over GF(2). */
int qmc_primitive(uint32_t poly);

#endif
