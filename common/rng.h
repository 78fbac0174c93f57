/* The one random number generator of autopeft: xoshiro256** (Blackman and Vigna), seeded
 * through splitmix64. Every random choice (sampling configurations, initialising weights,
 * dropout, shuffling data, Monte Carlo draws) comes from an rng_t seeded from the study or trial
 * seed, so that a run is reproducible from its seed alone.
 *
 * rng_t is a plain struct rather than an opaque object: it is embedded by value in the objects
 * and hot loops that use it, and copying it forks an identical stream (useful in tests).
 * Independent streams for threads or components come from rng_seed_stream(seed, stream). */
#ifndef AUTOPEFT_RNG_H
#define AUTOPEFT_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
    double spare;  /* second normal deviate of the last polar draw */
    int has_spare;
} rng_t;

void rng_seed(rng_t *r, uint64_t seed);
/* A stream that does not overlap others of the same seed in practice: the state is derived
 * from a hash of (seed, stream). */
void rng_seed_stream(rng_t *r, uint64_t seed, uint64_t stream);

uint64_t rng_next(rng_t *r);
/* Uniform integer in [0, n), without modulo bias; n must be > 0. */
uint64_t rng_below(rng_t *r, uint64_t n);
/* Uniform in [0, 1) with 53 (double) or 24 (float) random bits. */
double rng_uniform(rng_t *r);
float rng_uniform_f(rng_t *r);
/* Standard normal deviate (Marsaglia's polar method). */
double rng_normal(rng_t *r);
/* Uniform random permutation of idx[0..n) in place (Fisher-Yates). */
void rng_shuffle(rng_t *r, uint32_t *idx, size_t n);

/* splitmix64 step: also a good 64-bit mixing function for hashing seeds and keys. */
uint64_t rng_mix64(uint64_t x);

#endif
