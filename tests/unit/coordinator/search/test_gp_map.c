/* Tests of coordinator/search/gp_map.c: prior gradient, MAP optimality, relevance recovery. */
#include "coordinator/search/gp_map.h"
#include "tests/harness.h"

TEST(log_prior_gradient)
{
    enum { D = 4, P = D + 3 };
    gp_map_opts_t o;
    double theta[P] = {-1.0, 0.5, 2.0, 3.0, 0.3, -3.0, 0.2}, g[P];

    gp_map_opts_default(&o, D);
    gp_map_log_prior(&o, D, theta, g);
    for (int k = 0; k < P; k++) {
        double h = 1e-6, save = theta[k], lp, lm;
        theta[k] = save + h;
        lp = gp_map_log_prior(&o, D, theta, NULL);
        theta[k] = save - h;
        lm = gp_map_log_prior(&o, D, theta, NULL);
        theta[k] = save;
        ASSERT_REL(g[k], (lp - lm) / (2 * h), 1e-6, 1e-6);
    }
    theta[GP_TH_NOISE(D)] = -20.0;  /* below the noise floor */
    ASSERT_TRUE(isinf(gp_map_log_prior(&o, D, theta, NULL)));
}

/* y depends on inputs 0 and 3 only, among 8; noise sd 0.05. */
static void relevance_problem(int n, double *x, double *y, rng_t *r)
{
    enum { D = 8 };
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < D; k++)
            x[i * D + k] = k >= 4 ? (double)rng_below(r, 2) : rng_uniform(r);
        y[i] = sin(5.0 * x[i * D]) + 2.0 * x[i * D + 3] * x[i * D + 3] + 0.05 * rng_normal(r);
    }
}

TEST(map_finds_stationary_optimum_and_relevant_inputs)
{
    enum { N = 60, D = 8, P = D + 3 };
    double x[N * D], y[N], theta[P], centre[P], g[P], gprior[P], lml, lp, lpc;
    gp_map_opts_t o;
    gp_t *gp = gp_new(D, GP_TRANSFORM_STANDARDISE);
    rng_t r;

    rng_seed(&r, 3);
    relevance_problem(N, x, y, &r);
    ASSERT_OK(gp_set_data(gp, x, y, N));
    gp_map_opts_default(&o, D);
    ASSERT_OK(gp_map_fit(gp, &o, NULL, &r, theta, &lp));
    ASSERT_EQ(gp_ncomponents(gp), 1);
    /* Better than the prior's centre, and stationary. */
    for (int k = 0; k < D; k++)
        centre[k] = o.ls_mu;
    centre[GP_TH_SCALE(D)] = 0, centre[GP_TH_NOISE(D)] = -4, centre[GP_TH_MEAN(D)] = 0;
    ASSERT_OK(gp_lml(gp, centre, &lml, NULL));
    lpc = lml + gp_map_log_prior(&o, D, centre, NULL);
    ASSERT_TRUE(lp > lpc + 10.0);
    ASSERT_OK(gp_lml(gp, theta, &lml, g));
    ASSERT_NEAR(lml + gp_map_log_prior(&o, D, theta, gprior), lp, 1e-9);
    for (int k = 0; k < P; k++)
        ASSERT_NEAR(g[k] + gprior[k], 0.0, 1e-2);
    /* The two relevant inputs have the two shortest lengthscales. */
    for (int k = 0; k < D; k++)
        if (k != 0 && k != 3) {
            ASSERT_TRUE(theta[0] < theta[k]);
            ASSERT_TRUE(theta[3] < theta[k]);
        }
    /* Noise sd 0.05 on a target of sd ~0.9: the standardised noise variance is near 0.003. */
    ASSERT_TRUE(exp(theta[GP_TH_NOISE(D)]) < 0.02);
    gp_free(&gp);
}

TEST(map_is_deterministic_and_warm_start_agrees)
{
    enum { N = 40, D = 8, P = D + 3 };
    double x[N * D], y[N], t1[P], t2[P], t3[P], lp1, lp3;
    gp_map_opts_t o;
    gp_t *gp = gp_new(D, GP_TRANSFORM_COPULA);
    rng_t r, r1, r2;

    rng_seed(&r, 8);
    relevance_problem(N, x, y, &r);
    ASSERT_OK(gp_set_data(gp, x, y, N));
    gp_map_opts_default(&o, D);
    rng_seed(&r1, 99);
    r2 = r1;
    ASSERT_OK(gp_map_fit(gp, &o, NULL, &r1, t1, &lp1));
    ASSERT_OK(gp_map_fit(gp, &o, NULL, &r2, t2, NULL));
    for (int k = 0; k < P; k++)
        ASSERT_NEAR(t1[k], t2[k], 0.0);
    o.restarts = 1;
    o.candidates = 0;
    ASSERT_OK(gp_map_fit(gp, &o, t1, &r, t3, &lp3));
    ASSERT_TRUE(lp3 >= lp1 - 1e-6);
    o.restarts = 0;
    ASSERT_ERR(gp_map_fit(gp, &o, NULL, &r, t3, NULL), ERR_INVAL);
    gp_free(&gp);
}
