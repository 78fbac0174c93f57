/* Tests of common/rng.c: determinism, stream independence, and the distributions' moments. */
#include "common/rng.h"
#include "tests/harness.h"

TEST(same_seed_same_stream)
{
    rng_t a, b;

    rng_seed(&a, 42);
    rng_seed(&b, 42);
    for (int i = 0; i < 1000; i++)
        ASSERT_EQ_U(rng_next(&a), rng_next(&b));
}

TEST(seeds_and_streams_differ)
{
    rng_t a, b, c;
    int same_ab = 0, same_ac = 0;

    rng_seed(&a, 1);
    rng_seed(&b, 2);
    rng_seed_stream(&c, 1, 1);
    for (int i = 0; i < 1000; i++) {
        uint64_t x = rng_next(&a);
        same_ab += x == rng_next(&b);
        same_ac += x == rng_next(&c);
    }
    ASSERT_EQ(same_ab, 0);
    ASSERT_EQ(same_ac, 0);
}

/* xoshiro256** reference values: state {1, 2, 3, 4} gives 11520, 0, 1509978240, 1215971899390074240
 * as its first outputs (published with the algorithm). */
TEST(xoshiro_reference_outputs)
{
    rng_t r = {.s = {1, 2, 3, 4}};

    ASSERT_EQ_U(rng_next(&r), 11520);
    ASSERT_EQ_U(rng_next(&r), 0);
    ASSERT_EQ_U(rng_next(&r), 1509978240);
    ASSERT_EQ_U(rng_next(&r), 1215971899390074240ULL);
}

TEST(below_is_uniform)
{
    enum { N = 7, DRAWS = 700000 };
    long counts[N] = {0};
    double chi2 = 0;
    rng_t r;

    rng_seed(&r, 7);
    for (int i = 0; i < DRAWS; i++) {
        uint64_t v = rng_below(&r, N);
        ASSERT_LT(v, N);
        counts[v]++;
    }
    for (int k = 0; k < N; k++) {
        double e = DRAWS / (double)N;
        chi2 += (counts[k] - e) * (counts[k] - e) / e;
    }
    /* 6 degrees of freedom: P(chi2 > 22.46) = 0.001. */
    ASSERT_LT(chi2, 22.46);
}

TEST(uniform_and_normal_moments)
{
    enum { DRAWS = 400000 };
    double su = 0, su2 = 0, sn = 0, sn2 = 0, sn4 = 0;
    rng_t r;

    rng_seed(&r, 3);
    for (int i = 0; i < DRAWS; i++) {
        double u = rng_uniform(&r), n = rng_normal(&r);
        float f = rng_uniform_f(&r);
        ASSERT_TRUE(u >= 0 && u < 1);
        ASSERT_TRUE(f >= 0 && f < 1);
        su += u;
        su2 += u * u;
        sn += n;
        sn2 += n * n;
        sn4 += n * n * n * n;
    }
    /* Tolerances are about 5 standard errors of each estimate. */
    ASSERT_NEAR(su / DRAWS, 0.5, 5 * 0.2887 / sqrt(DRAWS));
    ASSERT_NEAR(su2 / DRAWS, 1.0 / 3, 5 * 0.2981 / sqrt(DRAWS));
    ASSERT_NEAR(sn / DRAWS, 0.0, 5 / sqrt(DRAWS));
    ASSERT_NEAR(sn2 / DRAWS, 1.0, 5 * sqrt(2.0) / sqrt(DRAWS));
    ASSERT_NEAR(sn4 / DRAWS, 3.0, 5 * sqrt(96.0) / sqrt(DRAWS));
}

TEST(shuffle_is_a_permutation)
{
    uint32_t idx[100];
    int seen[100] = {0}, moved = 0;
    rng_t r;

    for (uint32_t i = 0; i < 100; i++)
        idx[i] = i;
    rng_seed(&r, 11);
    rng_shuffle(&r, idx, 100);
    for (int i = 0; i < 100; i++) {
        ASSERT_LT(idx[i], 100);
        seen[idx[i]]++;
        moved += idx[i] != (uint32_t)i;
    }
    for (int i = 0; i < 100; i++)
        ASSERT_EQ(seen[i], 1);
    ASSERT_GT(moved, 90);
}
