/* Tests of coordinator/search/saas.c: the density's gradient, the parameter maps, and relevance
 * recovery on 27 inputs of which 2 matter. */
#include "coordinator/search/gp_map.h"
#include "coordinator/search/saas.h"
#include "tests/harness.h"

enum { D = 27 };

/* Inputs as the search space encodes them: 3 ordinal levels then 24 layer bits. Only input 1
 * (ordinal) and input 10 (a layer bit) matter. */
static void problem(int n, double *x, double *y, rng_t *r)
{
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < D; k++)
            x[i * D + k] = k < 3 ? (double)rng_below(r, 11) / 10.0 : (double)rng_below(r, 2);
        y[i] = sin(4.0 * x[i * D + 1]) + 0.8 * x[i * D + 10] + 0.05 * rng_normal(r);
    }
}

TEST(density_gradient_and_maps)
{
    enum { N = 20, U = D + 4 };
    double x[N * D], y[N], u[U], g[U], theta[D + 3], back[U];
    saas_opts_t o;
    gp_t *gp = gp_new(D, GP_TRANSFORM_STANDARDISE);
    rng_t r;

    rng_seed(&r, 1);
    problem(N, x, y, &r);
    ASSERT_OK(gp_set_data(gp, x, y, N));
    saas_opts_default(&o);
    for (int k = 0; k < U; k++)
        u[k] = 0.5 * rng_normal(&r);
    u[D] = -2.0;
    u[D + 2] = -3.0;
    double lp;
    ASSERT_OK(saas_log_density(gp, &o, u, &lp, g));
    for (int k = 0; k < U; k++) {
        double h = 1e-5, save = u[k], a, b;
        u[k] = save + h;
        ASSERT_OK(saas_log_density(gp, &o, u, &a, NULL));
        u[k] = save - h;
        ASSERT_OK(saas_log_density(gp, &o, u, &b, NULL));
        u[k] = save;
        ASSERT_REL(g[k], (a - b) / (2 * h), 1e-5, 1e-4);
    }
    /* theta -> u -> theta is the identity (u itself is one of many splits of tau * lambda). */
    saas_to_theta(D, u, theta);
    saas_from_theta(D, theta, back);
    double theta2[D + 3];
    saas_to_theta(D, back, theta2);
    for (int k = 0; k < D + 3; k++)
        ASSERT_NEAR(theta2[k], theta[k], 1e-12);
    gp_free(&gp);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

TEST(saas_ranks_the_two_relevant_inputs_first)
{
    enum { N = 40, P = D + 3 };
    double x[N * D], y[N], map[P], med[D];
    saas_opts_t o;
    gp_map_opts_t mo;
    nuts_stats_t st;
    gp_t *gp = gp_new(D, GP_TRANSFORM_STANDARDISE);
    rng_t r;

    rng_seed(&r, 7);
    problem(N, x, y, &r);
    ASSERT_OK(gp_set_data(gp, x, y, N));
    /* Start the chain from a MAP fit, as the strategy does. */
    gp_map_opts_default(&mo, D);
    ASSERT_OK(gp_map_fit(gp, &mo, NULL, &r, map, NULL));
    saas_opts_default(&o);
    ASSERT_OK(saas_fit(gp, &o, map, &r, &st));
    ASSERT_EQ(gp_ncomponents(gp), 16);
    ASSERT_EQ(st.kept, 16);
    ASSERT_TRUE(st.divergences <= 3);
    /* Median lengthscale of each input over the draws. */
    for (int k = 0; k < D; k++) {
        double v[16];
        for (int c = 0; c < 16; c++)
            v[c] = gp_theta(gp, c)[k];
        qsort(v, 16, sizeof *v, cmp_double);
        med[k] = 0.5 * (v[7] + v[8]);
    }
    for (int k = 0; k < D; k++)
        if (k != 1 && k != 10) {
            if (!(med[1] < med[k] && med[10] < med[k]))
                FAIL("input %d: log lengthscale %.3f, relevant ones %.3f and %.3f", k, med[k],
                     med[1], med[10]);
        }
    /* The shrinkage is strong: irrelevant inputs sit far out (a factor e^2 in lengthscale
     * beyond the relevant ones at least). */
    double lo_rest = INFINITY;
    for (int k = 0; k < D; k++)
        if (k != 1 && k != 10)
            lo_rest = fmin(lo_rest, med[k]);
    ASSERT_TRUE(fmax(med[1], med[10]) + 2.0 < lo_rest);
    gp_free(&gp);
}

TEST(bad_options)
{
    double x[D] = {0}, y[1] = {0};
    saas_opts_t o;
    gp_t *gp = gp_new(D, GP_TRANSFORM_NONE);
    rng_t r;

    rng_seed(&r, 1);
    saas_opts_default(&o);
    ASSERT_ERR(saas_fit(gp, &o, NULL, &r, NULL), ERR_STATE);
    ASSERT_OK(gp_set_data(gp, x, y, 1));
    o.nuts.samples = 2;  /* fewer than thin: nothing kept */
    ASSERT_ERR(saas_fit(gp, &o, NULL, &r, NULL), ERR_INVAL);
    saas_opts_default(&o);
    o.tau_scale = 0;
    ASSERT_ERR(saas_fit(gp, &o, NULL, &r, NULL), ERR_INVAL);
    gp_free(&gp);
}
