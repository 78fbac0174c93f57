/* Scrambled Sobol' points: see qmc.h. */
#include "coordinator/search/qmc.h"

#include <stdlib.h>

#include "common/err.h"
#include "common/mem.h"
#include "common/rng.h"
#include "coordinator/search/stat.h"

#define BITS 32

static int degree(uint32_t p)
{
    return 31 - __builtin_clz(p);
}

/* a * b mod p over GF(2), for deg p <= 31. */
static uint32_t mulmod(uint32_t a, uint32_t b, uint32_t p)
{
    int s = degree(p);
    uint64_t r = 0, aa = a;

    for (; b; b >>= 1) {
        if (b & 1)
            r ^= aa;
        aa <<= 1;
        if (aa >> s & 1)
            aa ^= p;
    }
    return (uint32_t)r;
}

static uint32_t powmod(uint32_t a, uint64_t e, uint32_t p)
{
    uint32_t r = 1;

    for (; e; e >>= 1) {
        if (e & 1)
            r = mulmod(r, a, p);
        a = mulmod(a, a, p);
    }
    return r;
}

int qmc_primitive(uint32_t p)
{
    int s;
    uint64_t order, m;

    /* Degree >= 1 with a constant term; x itself (2) is not primitive. */
    if (p < 3 || !(p & 1))
        return 0;
    s = degree(p);
    order = ((uint64_t)1 << s) - 1;
    /* x has order exactly 2^s - 1 modulo p: x^order = 1 and x^(order/q) != 1 for every prime q
     * dividing the order. That makes p irreducible and primitive. */
    if (powmod(2, order, p) != 1)
        return 0;
    m = order;
    for (uint64_t q = 2; q * q <= m; q++) {
        if (m % q)
            continue;
        if (powmod(2, order / q, p) == 1)
            return 0;
        while (m % q == 0)
            m /= q;
    }
    if (m > 1 && powmod(2, order / m, p) == 1)
        return 0;
    return 1;
}

/* Direction numbers v[dim][k] (k = 0 .. BITS-1, most significant first) for dims dimensions,
 * scrambled; plus the digital shift per dimension. */
static int directions(uint64_t seed, int dims, uint32_t *v, uint32_t *shift)
{
    rng_t r;
    uint32_t poly = 1;

    rng_seed_stream(&r, seed, 0x51b0);
    for (int j = 0; j < dims; j++) {
        uint32_t *vj = v + (size_t)j * BITS, m[BITS];

        if (j == 0) {
            for (int k = 0; k < BITS; k++)
                m[k] = 1;
        } else {
            int s;
            do
                poly++;
            while (!qmc_primitive(poly));
            s = degree(poly);
            /* Initial m_k odd and below 2^k (k = 1..s), then the recurrence
             * m_k = 2 a_1 m_{k-1} ^ 4 a_2 m_{k-2} ^ ... ^ 2^s m_{k-s} ^ m_{k-s}. */
            for (int k = 0; k < s && k < BITS; k++)
                m[k] = (uint32_t)(rng_below(&r, (uint64_t)1 << k) << 1 | 1) & ((2u << k) - 1);
            for (int k = s; k < BITS; k++) {
                uint32_t t = m[k - s] ^ (m[k - s] << s);
                for (int i = 1; i < s; i++)
                    if (poly >> (s - i) & 1)
                        t ^= m[k - i] << i;
                m[k] = t;
            }
        }
        for (int k = 0; k < BITS; k++)
            vj[k] = m[k] << (BITS - 1 - k);
        /* Linear matrix scramble: output bit b (from the top) = input bit b xor a random
         * combination of the input bits above it. Linear over GF(2), so applying it to the
         * direction numbers scrambles every point. */
        {
            uint32_t rows[BITS];
            for (int b = 0; b < BITS; b++) {
                uint32_t above = b ? (uint32_t)(rng_next(&r) >> 32) & ~(0xffffffffu >> b) : 0;
                rows[b] = above | (1u << (BITS - 1 - b));
            }
            for (int k = 0; k < BITS; k++) {
                uint32_t x = vj[k], y = 0;
                for (int b = 0; b < BITS; b++)
                    y |= (uint32_t)__builtin_parity(rows[b] & x) << (BITS - 1 - b);
                vj[k] = y;
            }
        }
        shift[j] = (uint32_t)(rng_next(&r) >> 32);
        if (j > 0 && degree(poly) > 20)
            return err_set(ERR_RANGE, "QMC: %d dimensions exceed the polynomial table", dims);
    }
    return 0;
}

/* The distribution the net's uniforms are mapped to. */
typedef enum { MARGINAL_UNIFORM, MARGINAL_NORMAL } marginal_t;

static int generate(uint64_t seed, int n, int dims, marginal_t marginal, double *out)
{
    uint32_t *v, *shift;
    int rc;

    if (n < 0 || n > QMC_MAX_POINTS || dims < 0 || dims > QMC_MAX_DIMS)
        return err_set(ERR_INVAL, "QMC: %d points x %d dimensions (caps %d x %d)", n, dims,
                       QMC_MAX_POINTS, QMC_MAX_DIMS);
    if (n == 0 || dims == 0)
        return 0;
    v = mem_alloc((size_t)dims * BITS, sizeof *v, "QMC directions");
    shift = mem_alloc((size_t)dims, sizeof *shift, "QMC shifts");
    if (!v || !shift) {
        rc = ERR_NOMEM;
        goto out;
    }
    rc = directions(seed, dims, v, shift);
    if (rc)
        goto out;
    for (int j = 0; j < dims; j++) {
        const uint32_t *vj = v + (size_t)j * BITS;
        uint32_t x = shift[j];
        /* Gray-code order: point i differs from point i-1 by one direction number; the first
         * 2^m points are the same set as in natural order. */
        for (int i = 0; i < n; i++) {
            double u;
            if (i > 0)
                x ^= vj[__builtin_ctz((unsigned)i)];
            u = ((double)x + 0.5) * 0x1.0p-32;
            out[(size_t)i * dims + j] = marginal == MARGINAL_NORMAL ? stat_norm_ppf(u) : u;
        }
    }
out:
    free(v);
    free(shift);
    return rc;
}

int qmc_normal(uint64_t seed, int n, int dims, double *out)
{
    return generate(seed, n, dims, MARGINAL_NORMAL, out);
}

int qmc_uniform(uint64_t seed, int n, int dims, double *out)
{
    return generate(seed, n, dims, MARGINAL_UNIFORM, out);
}
