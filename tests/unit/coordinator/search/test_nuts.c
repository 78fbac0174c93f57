/* Tests of coordinator/search/nuts.c: moments of known distributions within Monte Carlo error
 * (estimated by batch means, which accounts for autocorrelation), adaptation, determinism. */
#include "coordinator/search/nuts.h"
#include "tests/harness.h"

/* Mean and batch-means standard error of column j of draws (n x dim). */
static void moments(const double *draws, int n, int dim, int j, double (*f)(double), double *mean,
                    double *se)
{
    enum { B = 25 };
    double bm[B] = {0}, m = 0.0, v = 0.0;
    int per = n / B;

    for (int b = 0; b < B; b++) {
        for (int i = b * per; i < (b + 1) * per; i++)
            bm[b] += f(draws[(size_t)i * dim + j]);
        bm[b] /= per;
        m += bm[b];
    }
    m /= B;
    for (int b = 0; b < B; b++)
        v += (bm[b] - m) * (bm[b] - m);
    *mean = m;
    *se = sqrt(v / (B - 1) / B);
}

static double ident(double x) { return x; }
static double square(double x) { return x * x; }

/* Correlated Gaussian: means (1, -2), sds (10, 0.1), correlation 0.9. */
static int gauss2(void *ctx, const double *x, double *lp, double *g)
{
    const double m0 = 1, m1 = -2, s0 = 10, s1 = 0.1, r = 0.9;
    double a = (x[0] - m0) / s0, b = (x[1] - m1) / s1, q = 1 - r * r;

    (void)ctx;
    *lp = -(a * a - 2 * r * a * b + b * b) / (2 * q);
    g[0] = -(a - r * b) / (q * s0);
    g[1] = -(b - r * a) / (q * s1);
    return 0;
}

TEST(correlated_gaussian_moments)
{
    enum { N = 6000 };
    nuts_opts_t o;
    nuts_stats_t st;
    double x[2] = {0, 0}, *d = malloc(sizeof(double) * N * 2), m, se;
    rng_t r;

    nuts_opts_default(&o);
    o.warmup = 500;
    o.samples = N;
    o.thin = 1;
    o.max_depth = 10;
    rng_seed(&r, 1);
    ASSERT_OK(nuts_run(2, x, gauss2, NULL, &o, &r, d, &st, NULL));
    ASSERT_EQ(st.kept, N);
    ASSERT_EQ(st.divergences, 0);
    moments(d, N, 2, 0, ident, &m, &se);
    ASSERT_NEAR(m, 1.0, 5 * se);
    ASSERT_TRUE(se < 1.0);
    moments(d, N, 2, 1, ident, &m, &se);
    ASSERT_NEAR(m, -2.0, 5 * se);
    /* E[(x - mu)^2] = sd^2 on both axes. */
    for (int i = 0; i < N; i++) {
        d[2 * i] -= 1.0;
        d[2 * i + 1] += 2.0;
    }
    moments(d, N, 2, 0, square, &m, &se);
    ASSERT_NEAR(m, 100.0, 5 * se);
    moments(d, N, 2, 1, square, &m, &se);
    ASSERT_NEAR(m, 0.01, 5 * se);
    /* The adaptation's acceptance lands near its target, typically above it because the final
     * step is the dual average (smaller than the last iterate), as in Stan. */
    ASSERT_TRUE(st.accept > 0.7 && st.accept < 0.97);
    free(d);
}

/* Banana: x0 ~ N(0, 1), x1 | x0 ~ N(b x0^2, 1) with b = 1: E[x1] = 1, Var[x1] = 1 + 2 b^2 = 3,
 * E[x0^2] = 1. Curved: a diagonal metric cannot straighten it. */
static int banana(void *ctx, const double *x, double *lp, double *g)
{
    double t = x[1] - x[0] * x[0];

    (void)ctx;
    *lp = -0.5 * x[0] * x[0] - 0.5 * t * t;
    g[0] = -x[0] + 2.0 * x[0] * t;
    g[1] = -t;
    return 0;
}

TEST(banana_moments)
{
    enum { N = 10000 };
    nuts_opts_t o;
    nuts_stats_t st;
    double x[2] = {0.5, 0.5}, *d = malloc(sizeof(double) * N * 2), m, se;
    rng_t r;

    nuts_opts_default(&o);
    o.warmup = 500;
    o.samples = N;
    o.thin = 1;
    o.max_depth = 8;
    rng_seed(&r, 2);
    ASSERT_OK(nuts_run(2, x, banana, NULL, &o, &r, d, &st, NULL));
    moments(d, N, 2, 0, ident, &m, &se);
    ASSERT_NEAR(m, 0.0, 5 * se);
    moments(d, N, 2, 0, square, &m, &se);
    ASSERT_NEAR(m, 1.0, 5 * se);
    moments(d, N, 2, 1, ident, &m, &se);
    ASSERT_NEAR(m, 1.0, 5 * se);
    for (int i = 0; i < N; i++)
        d[2 * i + 1] -= 1.0;
    moments(d, N, 2, 1, square, &m, &se);
    ASSERT_NEAR(m, 3.0, 5 * se);
    free(d);
}

/* Independent Gaussians with scales 1 .. 100: the adapted inverse mass must find the variances. */
static int scales(void *ctx, const double *x, double *lp, double *g)
{
    int n = *(int *)ctx;

    *lp = 0.0;
    for (int i = 0; i < n; i++) {
        double s = pow(100.0, (double)i / (n - 1));
        *lp -= 0.5 * x[i] * x[i] / (s * s);
        g[i] = -x[i] / (s * s);
    }
    return 0;
}

TEST(mass_adaptation_finds_scales)
{
    enum { D = 10, N = 2000 };
    int dim = D;
    nuts_opts_t o;
    nuts_stats_t st;
    double x[D] = {0}, im[D], *d = malloc(sizeof(double) * N * D), m, se;
    rng_t r;

    nuts_opts_default(&o);
    o.warmup = 1000;
    o.samples = N;
    o.thin = 1;
    o.max_depth = 10;
    rng_seed(&r, 3);
    ASSERT_OK(nuts_run(D, x, scales, &dim, &o, &r, d, &st, im));
    for (int i = 0; i < D; i++) {
        double s = pow(100.0, (double)i / (D - 1));
        ASSERT_TRUE(im[i] / (s * s) > 0.5 && im[i] / (s * s) < 2.0);
        moments(d, N, D, i, square, &m, &se);
        ASSERT_NEAR(m, s * s, 5 * se);
    }
    /* Well adapted: short trajectories. */
    ASSERT_TRUE(st.depth < 4.0);
    free(d);
}

static int refuse_negative(void *ctx, const double *x, double *lp, double *g)
{
    (void)ctx;
    if (x[0] < 0.0)
        return -1;
    *lp = -0.5 * x[0] * x[0];
    g[0] = -x[0];
    return 0;
}

TEST(refused_region_and_determinism)
{
    enum { N = 8000 };
    nuts_opts_t o;
    nuts_stats_t st;
    double x[1] = {1.0}, *d = malloc(sizeof(double) * N), *e = malloc(sizeof(double) * N), m, se;
    rng_t r1, r2;

    /* A half-normal through a refused half-line: E[x] = sqrt(2 / pi). */
    nuts_opts_default(&o);
    o.warmup = 300;
    o.samples = N;
    o.thin = 1;
    rng_seed(&r1, 4);
    r2 = r1;
    ASSERT_OK(nuts_run(1, x, refuse_negative, NULL, &o, &r1, d, &st, NULL));
    moments(d, N, 1, 0, ident, &m, &se);
    ASSERT_NEAR(m, sqrt(2.0 / M_PI), 5 * se);
    ASSERT_TRUE(st.divergences > 0);
    x[0] = 1.0;
    ASSERT_OK(nuts_run(1, x, refuse_negative, NULL, &o, &r2, e, NULL, NULL));
    ASSERT_EQ(memcmp(d, e, sizeof(double) * N), 0);
    x[0] = -1.0;
    ASSERT_ERR(nuts_run(1, x, refuse_negative, NULL, &o, &r2, e, NULL, NULL), ERR_NUMERIC);
    o.thin = 0;
    ASSERT_ERR(nuts_run(1, x, refuse_negative, NULL, &o, &r2, e, NULL, NULL), ERR_INVAL);
    free(d);
    free(e);
}
