/* Tests of coordinator/search/gp.c: predictions against scikit-learn (fixtures from
 * tests/reference/gp_sklearn.py), the log marginal likelihood's gradient against finite
 * differences, the output transforms, jitter, joint samples and bad input. */
#include <stdio.h>

#include "common/mem.h"
#include "common/rng.h"
#include "coordinator/search/gp.h"
#include "tests/harness.h"

typedef struct {
    char name[64], tf[32];
    int n, d, m;
    double *theta, *x, *y, *xs, *mean, *cov, *lml, *grad;
} fixture_t;

static double *parse_values(const char *line, int expect)
{
    double *v = mem_alloc((size_t)expect, sizeof(double), "fixture");
    const char *p = line;
    char *end;

    ASSERT_NOT_NULL(v);
    for (int i = 0; i < expect; i++) {
        v[i] = strtod(p, &end);
        if (end == p)
            FAIL("fixture: expected %d values, got %d", expect, i);
        p = end;
    }
    return v;
}

/* Reads the next case of the fixture file; false at its end. */
static bool read_case(FILE *f, fixture_t *c)
{
    char *line = NULL;
    size_t cap = 0;
    bool got = false;

    memset(c, 0, sizeof *c);
    while (getline(&line, &cap, f) > 0) {
        char *sp = strchr(line, ' ');
        const char *rest = sp ? sp + 1 : "";
        int d = c->d, n = c->n, m = c->m;

        if (line[0] == '#')
            continue;
        if (strncmp(line, "case ", 5) == 0) {
            ASSERT_EQ(sscanf(line, "case %63s %31s %d %d %d", c->name, c->tf, &c->n, &c->d, &c->m),
                      5);
            got = true;
        } else if (strncmp(line, "theta ", 6) == 0) {
            c->theta = parse_values(rest, d + 3);
        } else if (strncmp(line, "x ", 2) == 0) {
            c->x = parse_values(rest, n * d);
        } else if (strncmp(line, "y ", 2) == 0) {
            c->y = parse_values(rest, n);
        } else if (strncmp(line, "xs ", 3) == 0) {
            c->xs = parse_values(rest, m * d);
        } else if (strncmp(line, "mean ", 5) == 0) {
            c->mean = parse_values(rest, m);
        } else if (strncmp(line, "cov ", 4) == 0) {
            c->cov = parse_values(rest, m * m);
        } else if (strncmp(line, "lml ", 4) == 0) {
            c->lml = parse_values(rest, 1);
        } else if (strncmp(line, "grad ", 5) == 0) {
            c->grad = parse_values(rest, d + 1);
        } else if (strncmp(line, "end", 3) == 0) {
            break;
        }
    }
    free(line);
    return got;
}

static void free_case(fixture_t *c)
{
    free(c->theta);
    free(c->x);
    free(c->y);
    free(c->xs);
    free(c->mean);
    free(c->cov);
    free(c->lml);
    free(c->grad);
}

TEST(matches_sklearn)
{
    char path[4096];
    FILE *f = fopen(harness_src_path("tests/reference/gp_sklearn.txt", path, sizeof path), "r");
    fixture_t c;
    int cases = 0;

    ASSERT_NOT_NULL(f);
    while (read_case(f, &c)) {
        gp_transform_t tf;
        gp_t *gp;
        double *mean, *var, *cov, lml, *grad, *v;
        double scale;

        ASSERT_OK(gp_transform_parse(c.tf, &tf));
        gp = gp_new(c.d, tf);
        ASSERT_NOT_NULL(gp);
        ASSERT_OK(gp_set_data(gp, c.x, c.y, c.n));
        ASSERT_OK(gp_set_theta(gp, c.theta, 1));
        ASSERT_NEAR(gp_jitter(gp, 0), 0.0, 0.0);
        mean = calloc((size_t)c.m, sizeof *mean);
        var = calloc((size_t)c.m, sizeof *var);
        cov = calloc((size_t)c.m * c.m, sizeof *cov);
        grad = calloc((size_t)c.d + 3, sizeof *grad);
        v = calloc((size_t)c.n * c.m, sizeof *v);
        ASSERT_OK(gp_predict(gp, c.xs, c.m, mean, var));
        /* scikit-learn reports the standardised model in the original units. */
        scale = gp_untransform(gp, 1.0) - gp_untransform(gp, 0.0);
        for (int j = 0; j < c.m; j++) {
            ASSERT_NEAR(gp_untransform(gp, mean[j]), c.mean[j], 1e-8);
            ASSERT_NEAR(var[j] * scale * scale, c.cov[j * c.m + j], 1e-8);
        }
        /* Full covariance from the building blocks: K(a, a) - V^T V. */
        ASSERT_OK(gp_component_solve(gp, 0, c.xs, c.m, v, NULL, NULL));
        ASSERT_OK(gp_kernel(gp, 0, c.xs, c.m, c.xs, c.m, cov));
        for (int i = 0; i < c.m; i++)
            for (int j = 0; j < c.m; j++) {
                double t = cov[j * c.m + i];
                for (int k = 0; k < c.n; k++)
                    t -= v[i * c.n + k] * v[j * c.n + k];
                ASSERT_NEAR(t * scale * scale, c.cov[j * c.m + i], 1e-8);
            }
        ASSERT_OK(gp_lml(gp, c.theta, &lml, grad));
        ASSERT_REL(lml, c.lml[0], 1e-10, 1.0);
        ASSERT_REL(grad[c.d], c.grad[0], 1e-8, 1e-6);
        for (int k = 0; k < c.d; k++)
            ASSERT_REL(grad[k], c.grad[1 + k], 1e-8, 1e-6);
        free(mean);
        free(var);
        free(cov);
        free(grad);
        free(v);
        gp_free(&gp);
        ASSERT_TRUE(gp == NULL);
        free_case(&c);
        cases++;
    }
    fclose(f);
    ASSERT_EQ(cases, 4);
}

static void random_problem(rng_t *r, int n, int d, double *x, double *y)
{
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < d; k++)
            x[i * d + k] = k % 2 ? (double)(rng_below(r, 2)) : rng_uniform(r);
        y[i] = sin(4.0 * x[i * d]) + 0.5 * x[i * d + d - 1] + 0.1 * rng_normal(r);
    }
}

TEST(lml_gradient_matches_finite_differences)
{
    enum { N = 25, D = 5, P = D + 3 };
    gp_transform_t tfs[] = {GP_TRANSFORM_NONE, GP_TRANSFORM_STANDARDISE, GP_TRANSFORM_COPULA};
    double x[N * D], y[N], theta[P], grad[P];
    rng_t r;

    rng_seed(&r, 11);
    random_problem(&r, N, D, x, y);
    for (int t = 0; t < 3; t++) {
        gp_t *gp = gp_new(D, tfs[t]);
        double lml;

        ASSERT_OK(gp_set_data(gp, x, y, N));
        for (int trial = 0; trial < 3; trial++) {
            for (int k = 0; k < D; k++)
                theta[k] = -1.5 + 2.5 * rng_uniform(&r);
            theta[GP_TH_SCALE(D)] = rng_uniform(&r) - 0.5;
            theta[GP_TH_NOISE(D)] = -4.0 + 2.0 * rng_uniform(&r);
            theta[GP_TH_MEAN(D)] = rng_uniform(&r) - 0.5;
            ASSERT_OK(gp_lml(gp, theta, &lml, grad));
            for (int k = 0; k < P; k++) {
                double h = 1e-5, lp, lm, fd, save = theta[k];
                theta[k] = save + h;
                ASSERT_OK(gp_lml(gp, theta, &lp, NULL));
                theta[k] = save - h;
                ASSERT_OK(gp_lml(gp, theta, &lm, NULL));
                theta[k] = save;
                fd = (lp - lm) / (2 * h);
                ASSERT_REL(grad[k], fd, 1e-5, 1e-4);
            }
        }
        gp_free(&gp);
    }
}

TEST(copula_ranks_ties_and_inverse)
{
    double x[6] = {0, 0.2, 0.4, 0.6, 0.8, 1.0};
    double y[6] = {0.8, 0.1, 0.5, 0.5, 0.9, 0.3};
    gp_t *gp = gp_new(1, GP_TRANSFORM_COPULA);
    const double *z;

    ASSERT_OK(gp_set_data(gp, x, y, 6));
    z = gp_targets(gp);
    /* Ranks 5, 1, 3.5, 3.5, 6, 2 of 6: z = Phi^-1((r - 0.5) / 6). */
    ASSERT_NEAR(z[1], -1.3829941271006392, 1e-12);  /* Phi^-1(1/12) */
    ASSERT_NEAR(z[2], 0.0, 1e-15);
    ASSERT_NEAR(z[2], z[3], 0.0);
    ASSERT_NEAR(z[4], 1.3829941271006392, 1e-12);
    ASSERT_TRUE(z[5] < z[2] && z[2] < z[0] && z[0] < z[4]);
    for (int i = 0; i < 6; i++) {
        ASSERT_NEAR(gp_untransform(gp, z[i]), y[i], 1e-12);
        ASSERT_NEAR(gp_transform_y(gp, y[i]), z[i], 1e-12);
    }
    /* Monotone and invertible beyond the data, in both tails. */
    for (double t = -6.0; t < 6.0; t += 0.37) {
        ASSERT_TRUE(gp_untransform(gp, t + 0.01) > gp_untransform(gp, t));
        ASSERT_NEAR(gp_transform_y(gp, gp_untransform(gp, t)), t, 1e-12);
    }
    gp_free(&gp);
}

TEST(standardise_moments)
{
    double x[4] = {0, 0.3, 0.6, 1}, y[4] = {1, 2, 3, 6}, m = 0, v = 0;
    gp_t *gp = gp_new(1, GP_TRANSFORM_STANDARDISE);

    ASSERT_OK(gp_set_data(gp, x, y, 4));
    for (int i = 0; i < 4; i++)
        m += gp_targets(gp)[i];
    for (int i = 0; i < 4; i++)
        v += gp_targets(gp)[i] * gp_targets(gp)[i];
    ASSERT_NEAR(m, 0.0, 1e-12);
    ASSERT_NEAR(v / 4, 1.0, 1e-12);
    ASSERT_NEAR(gp_untransform(gp, gp_transform_y(gp, 4.25)), 4.25, 1e-12);
    gp_free(&gp);
}

TEST(jitter_rescues_duplicates)
{
    /* Identical inputs with (almost) no noise make the kernel matrix singular. */
    double x[6] = {0.1, 0.2, 0.1, 0.2, 0.7, 0.3}, y[3] = {1.0, 1.0, 0.0};
    double theta[5] = {0.0, 0.0, 0.0, -60.0, 0.0}, mean, var;
    gp_t *gp = gp_new(2, GP_TRANSFORM_NONE);

    ASSERT_OK(gp_set_data(gp, x, y, 3));
    ASSERT_OK(gp_set_theta(gp, theta, 1));
    ASSERT_TRUE(gp_jitter(gp, 0) > 0.0);
    ASSERT_OK(gp_predict(gp, x, 1, &mean, &var));
    ASSERT_NEAR(mean, 1.0, 1e-3);
    ASSERT_TRUE(var < 1e-3);
    gp_free(&gp);
}

TEST(samples_match_posterior_moments)
{
    enum { N = 15, D = 3, M = 4, S = 20000 };
    double x[N * D], y[N], theta[2 * (D + 3)], a[M * D], mean[M], var[M];
    double *draws = malloc(sizeof(double) * S * M);
    gp_t *gp = gp_new(D, GP_TRANSFORM_STANDARDISE);
    rng_t r;

    rng_seed(&r, 5);
    random_problem(&r, N, D, x, y);
    for (int i = 0; i < M * D; i++)
        a[i] = rng_uniform(&r);
    /* Two components: the draws must follow the mixture, not one of its parts. */
    for (int c = 0; c < 2; c++) {
        for (int k = 0; k < D; k++)
            theta[c * (D + 3) + k] = c ? 0.5 : -1.0;
        theta[c * (D + 3) + GP_TH_SCALE(D)] = 0.0;
        theta[c * (D + 3) + GP_TH_NOISE(D)] = -3.0;
        theta[c * (D + 3) + GP_TH_MEAN(D)] = c ? 0.3 : -0.3;
    }
    ASSERT_OK(gp_set_data(gp, x, y, N));
    ASSERT_OK(gp_set_theta(gp, theta, 2));
    ASSERT_OK(gp_predict(gp, a, M, mean, var));
    ASSERT_OK(gp_sample(gp, a, M, S, &r, draws));
    for (int j = 0; j < M; j++) {
        double s1 = 0, s2 = 0;
        for (int s = 0; s < S; s++) {
            s1 += draws[s * M + j];
            s2 += draws[s * M + j] * draws[s * M + j];
        }
        s1 /= S;
        s2 = s2 / S - s1 * s1;
        /* Five standard errors of the mean and of the variance. */
        ASSERT_NEAR(s1, mean[j], 5 * sqrt(var[j] / S));
        ASSERT_NEAR(s2, var[j], 5 * var[j] * sqrt(2.0 / S) + 1e-12);
    }
    free(draws);
    gp_free(&gp);
}

TEST(bad_input_is_rejected)
{
    double x[2] = {0.1, 0.2}, y[2] = {1.0, NAN}, theta[4] = {0, 0, NAN, 0}, lml;
    gp_t *gp;

    ASSERT_TRUE(gp_new(0, GP_TRANSFORM_NONE) == NULL);
    ASSERT_CONTAINS(err_msg(), "dimensions");
    ASSERT_TRUE(gp_new(GP_MAX_DIMS + 1, GP_TRANSFORM_NONE) == NULL);
    ASSERT_TRUE(gp_new(1, (gp_transform_t)7) == NULL);
    gp = gp_new(1, GP_TRANSFORM_NONE);
    ASSERT_ERR(gp_set_theta(gp, theta, 1), ERR_STATE);
    ASSERT_ERR(gp_set_data(gp, x, y, 0), ERR_INVAL);
    ASSERT_ERR(gp_set_data(gp, x, y, 2), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "not finite");
    ASSERT_OK(gp_set_data(gp, x, y, 1));
    ASSERT_ERR(gp_lml(gp, theta, &lml, NULL), ERR_NUMERIC);
    ASSERT_ERR(gp_set_theta(gp, theta, 0), ERR_INVAL);
    ASSERT_ERR(gp_predict(gp, x, 1, &lml, NULL), ERR_STATE);
    gp_transform_t t;
    ASSERT_ERR(gp_transform_parse("log", &t), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "copula");
    gp_free(&gp);
    gp_free(&gp);
}
