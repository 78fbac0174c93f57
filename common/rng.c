#include "common/rng.h"

#include <math.h>

uint64_t rng_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

void rng_seed(rng_t *r, uint64_t seed)
{
    /* Four successive splitmix64 outputs as the state: well mixed for any seed, and never all
     * zero (splitmix64 is a bijection of its counter). */
    for (int i = 0; i < 4; i++)
        r->s[i] = rng_mix64(seed + (uint64_t)i * 0x9e3779b97f4a7c15ULL);
    r->has_spare = 0;
    r->spare = 0.0;
}

void rng_seed_stream(rng_t *r, uint64_t seed, uint64_t stream)
{
    rng_seed(r, rng_mix64(seed) ^ rng_mix64(stream ^ 0xd1b54a32d192ed03ULL));
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t rng_next(rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t rng_below(rng_t *r, uint64_t n)
{
    /* Lemire's multiply-and-reject: the 128-bit product's high word is uniform once the low word
     * clears the threshold 2^64 mod n. */
    unsigned __int128 m = (unsigned __int128)rng_next(r) * n;
    uint64_t low = (uint64_t)m;

    if (low < n) {
        uint64_t threshold = (0 - n) % n;
        while (low < threshold) {
            m = (unsigned __int128)rng_next(r) * n;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double rng_uniform(rng_t *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

float rng_uniform_f(rng_t *r)
{
    return (float)(rng_next(r) >> 40) * 0x1.0p-24f;
}

double rng_normal(rng_t *r)
{
    double u, v, s;

    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    do {
        u = 2.0 * rng_uniform(r) - 1.0;
        v = 2.0 * rng_uniform(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    s = sqrt(-2.0 * log(s) / s);
    r->spare = v * s;
    r->has_spare = 1;
    return u * s;
}

void rng_shuffle(rng_t *r, uint32_t *idx, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rng_below(r, i);
        uint32_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}
