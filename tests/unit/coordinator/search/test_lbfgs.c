/* Tests of coordinator/search/lbfgs.c on functions with known minima. */
#include "coordinator/search/lbfgs.h"
#include "tests/harness.h"

static int calls;

/* Extended Rosenbrock: minimum 0 at (1, ..., 1). */
static int rosenbrock(void *ctx, const double *x, double *f, double *g)
{
    int n = *(int *)ctx;

    calls++;
    *f = 0.0;
    for (int i = 0; i < n; i++)
        g[i] = 0.0;
    for (int i = 0; i + 1 < n; i++) {
        double a = x[i + 1] - x[i] * x[i], b = 1.0 - x[i];
        *f += 100.0 * a * a + b * b;
        g[i] += -400.0 * a * x[i] - 2.0 * b;
        g[i + 1] += 200.0 * a;
    }
    return 0;
}

TEST(rosenbrock_converges)
{
    for (int n = 2; n <= 20; n *= 3) {
        double x[20];
        lbfgs_result_t res;
        lbfgs_opts_t o;

        lbfgs_opts_default(&o);
        o.max_iter = 1000;
        o.max_evals = 5000;
        o.gtol = 1e-9;
        o.ftol = 0;
        for (int i = 0; i < n; i++)
            x[i] = i % 2 ? 1.0 : -1.2;
        ASSERT_OK(lbfgs_minimize(n, x, rosenbrock, &n, &o, &res));
        for (int i = 0; i < n; i++)
            ASSERT_NEAR(x[i], 1.0, 1e-6);
        ASSERT_TRUE(res.f < 1e-12);
        ASSERT_TRUE(res.stop == LBFGS_CONVERGED_GRAD || res.stop == LBFGS_LINE_SEARCH);
    }
}

/* An ill-conditioned quadratic (condition 1e6) whose domain is cut at x0 <= 3: refused points
 * make the line search back off instead of failing. */
static int quad_refusing(void *ctx, const double *x, double *f, double *g)
{
    (void)ctx;
    if (x[0] > 3.0)
        return -1;
    *f = 0.5 * (x[0] - 2.0) * (x[0] - 2.0) + 0.5e6 * (x[1] + 1.0) * (x[1] + 1.0);
    g[0] = x[0] - 2.0;
    g[1] = 1e6 * (x[1] + 1.0);
    return 0;
}

TEST(refused_points_and_conditioning)
{
    double x[2] = {-10.0, 5.0};
    lbfgs_result_t res;

    calls = 0;
    ASSERT_OK(lbfgs_minimize(2, x, quad_refusing, NULL, NULL, &res));
    ASSERT_NEAR(x[0], 2.0, 1e-5);
    ASSERT_NEAR(x[1], -1.0, 1e-8);
    /* The start itself refused is an error, not a silent non-result. */
    x[0] = 4.0;
    ASSERT_ERR(lbfgs_minimize(2, x, quad_refusing, NULL, NULL, &res), ERR_NUMERIC);
}

TEST(budget_is_respected)
{
    int n = 10;
    double x[10] = {0};
    lbfgs_opts_t o;
    lbfgs_result_t res;

    lbfgs_opts_default(&o);
    o.max_evals = 15;
    calls = 0;
    ASSERT_OK(lbfgs_minimize(n, x, rosenbrock, &n, &o, &res));
    ASSERT_TRUE(calls <= 15);
    ASSERT_EQ(res.evals, calls);
    ASSERT_EQ(res.stop, LBFGS_MAX_EVALS);
    o.history = 0;
    ASSERT_ERR(lbfgs_minimize(n, x, rosenbrock, &n, &o, &res), ERR_INVAL);
}
