/* Tests of coordinator/search/qmc.c: primitive polynomials, the net's balance, determinism and the
 * normal draws' moments. */
#include "coordinator/search/qmc.h"
#include "tests/harness.h"

TEST(primitive_polynomial_counts)
{
    /* The number of primitive polynomials of degree s is phi(2^s - 1) / s. */
    static const int expect[] = {0, 1, 1, 2, 2, 6, 6, 18, 16, 48, 60, 176, 144};
    for (int s = 1; s <= 12; s++) {
        int count = 0;
        for (uint32_t p = 1u << s; p < 2u << s; p++)
            count += qmc_primitive(p);
        ASSERT_EQ(count, expect[s]);
    }
    ASSERT_TRUE(qmc_primitive(0x11d));   /* x^8 + x^4 + x^3 + x^2 + 1 */
    ASSERT_FALSE(qmc_primitive(0x11b));  /* AES's: irreducible but not primitive */
}

TEST(every_dimension_is_stratified)
{
    /* 2^m points of a (scrambled) digital net put exactly one point in each of the 2^m
     * intervals [k/2^m, (k+1)/2^m) of every coordinate, and each 2-D projection of the first
     * dimensions puts 2^m/4 points in each quadrant-of-quadrants cell for 16 cells when m >= 4. */
    enum { M = 7, N = 1 << M, D = 300 };
    double *u = malloc(sizeof(double) * N * D);

    ASSERT_OK(qmc_uniform(42, N, D, u));
    for (int j = 0; j < D; j++) {
        int seen[N] = {0};
        for (int i = 0; i < N; i++) {
            int k = (int)(u[i * D + j] * N);
            ASSERT_TRUE(u[i * D + j] > 0.0 && u[i * D + j] < 1.0);
            ASSERT_EQ(seen[k], 0);
            seen[k] = 1;
        }
    }
    for (int a = 0; a < 6; a++)
        for (int b = a + 1; b < 6; b++) {
            int cell[4][4] = {{0}};
            for (int i = 0; i < N; i++)
                cell[(int)(u[i * D + a] * 4)][(int)(u[i * D + b] * 4)]++;
            for (int x = 0; x < 4; x++)
                for (int y = 0; y < 4; y++)
                    ASSERT_EQ(cell[x][y], N / 16);
        }
    free(u);
}

TEST(normals_are_deterministic_and_have_the_right_moments)
{
    enum { N = 1024, D = 50 };
    double *a = malloc(sizeof(double) * N * D), *b = malloc(sizeof(double) * N * D);

    ASSERT_OK(qmc_normal(7, N, D, a));
    ASSERT_OK(qmc_normal(7, N, D, b));
    ASSERT_EQ(memcmp(a, b, sizeof(double) * N * D), 0);
    ASSERT_OK(qmc_normal(8, N, D, b));
    ASSERT_TRUE(memcmp(a, b, sizeof(double) * N * D) != 0);
    for (int j = 0; j < D; j++) {
        double m = 0, v = 0, c = 0;
        for (int i = 0; i < N; i++) {
            m += a[i * D + j];
            v += a[i * D + j] * a[i * D + j];
            c += a[i * D + j] * a[i * D + (j + 1) % D];
        }
        /* Stratification makes these far tighter than plain Monte Carlo's 1/sqrt(N). */
        ASSERT_NEAR(m / N, 0.0, 0.01);
        ASSERT_NEAR(v / N, 1.0, 0.05);
        ASSERT_NEAR(c / N, 0.0, 0.1);
    }
    ASSERT_ERR(qmc_normal(1, 4, QMC_MAX_DIMS + 1, a), ERR_INVAL);
    free(a);
    free(b);
}
