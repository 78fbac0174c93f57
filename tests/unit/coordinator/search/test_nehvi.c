/* Tests of coordinator/search/nehvi.c against a brute-force Monte Carlo estimate: joint draws of the
 * GP over baseline + candidate (gp_sample, i.e. an independent code path: full joint Cholesky),
 * hypervolume difference by pareto_hv, averaged. */
#include "coordinator/search/gp.h"
#include "coordinator/search/nehvi.h"
#include "coordinator/search/pareto.h"
#include "tests/harness.h"

enum { D = 2, NOBS = 8, NPEND = 2, NB = NOBS + NPEND, NC = 5 };

typedef struct {
    gp_t *gp;
    double xb[NB * D], o2[NB], xc[NC * D], oc[NC], ref[2];
} problem_t;

static double second_objective(const double *x)
{
    /* Plays -cost: larger inputs cost more. */
    return -(0.7 * x[0] + 0.3 * x[1]);
}

static void setup(problem_t *p, gp_transform_t tf, int ncomp, uint64_t seed)
{
    double y[NOBS], theta[2 * (D + 3)], ymin = INFINITY, omin = INFINITY;
    rng_t r;

    rng_seed(&r, seed);
    for (int i = 0; i < NB; i++) {
        p->xb[i * D] = rng_uniform(&r);
        p->xb[i * D + 1] = rng_uniform(&r);
        p->o2[i] = second_objective(p->xb + i * D);
        omin = fmin(omin, p->o2[i]);
    }
    for (int i = 0; i < NOBS; i++) {
        const double *x = p->xb + i * D;
        y[i] = 0.6 + 0.3 * sin(3.0 * x[0]) + 0.2 * x[1] + 0.02 * rng_normal(&r);
        ymin = fmin(ymin, y[i]);
    }
    for (int j = 0; j < NC; j++) {
        p->xc[j * D] = rng_uniform(&r);
        p->xc[j * D + 1] = rng_uniform(&r);
        p->oc[j] = second_objective(p->xc + j * D);
    }
    for (int c = 0; c < ncomp; c++) {
        double *t = theta + c * (D + 3);
        t[0] = c ? -0.3 : -1.0;
        t[1] = c ? 0.2 : -0.5;
        t[GP_TH_SCALE(D)] = c ? 0.2 : 0.0;
        t[GP_TH_NOISE(D)] = c ? -3.0 : -4.0;
        t[GP_TH_MEAN(D)] = c ? 0.1 : 0.0;
    }
    p->gp = gp_new(D, tf);
    ASSERT_OK(gp_set_data(p->gp, p->xb, y, NOBS));
    ASSERT_OK(gp_set_theta(p->gp, theta, ncomp));
    p->ref[0] = ymin - 0.05;
    p->ref[1] = omin - 0.05;
}

/* Brute-force estimate for candidate j: mean and standard error. */
static void brute(problem_t *p, nehvi_mode_t mode, int j, int draws, double *mean, double *se)
{
    double a[(NB + 1) * D], *f = malloc(sizeof(double) * draws * (NB + 1));
    double pts[2 * (NB + 1)], s1 = 0, s2 = 0;
    rng_t r;

    memcpy(a, p->xb, sizeof(double) * NB * D);
    memcpy(a + NB * D, p->xc + j * D, sizeof(double) * D);
    rng_seed(&r, 1000 + j);
    ASSERT_OK(gp_sample(p->gp, a, NB + 1, draws, &r, f));
    for (int s = 0; s < draws; s++) {
        double v, best = -INFINITY;
        for (int i = 0; i <= NB; i++) {
            pts[2 * i] = gp_untransform(p->gp, f[s * (NB + 1) + i]);
            pts[2 * i + 1] = i < NB ? p->o2[i] : p->oc[j];
            if (i < NB)
                best = fmax(best, pts[2 * i]);
        }
        if (mode == NEHVI_HV)
            v = pareto_hv(pts, NB + 1, p->ref) - pareto_hv(pts, NB, p->ref);
        else
            v = fmax(pts[2 * NB] - best, 0.0);
        s1 += v;
        s2 += v * v;
    }
    s1 /= draws;
    *mean = s1;
    *se = sqrt(fmax(s2 / draws - s1 * s1, 0.0) / draws);
    free(f);
}

static void check_against_brute(gp_transform_t tf, int ncomp, nehvi_mode_t mode, bool prune)
{
    enum { S = 4096, DRAWS = 40000 };
    problem_t p;
    nehvi_opts_t o;
    nehvi_t *a;
    double val[NC];
    int nonzero = 0;

    setup(&p, tf, ncomp, 17);
    nehvi_opts_default(&o);
    o.mode = mode;
    o.samples = S;
    o.prune = prune;
    o.ref[0] = p.ref[0];
    o.ref[1] = p.ref[1];
    a = nehvi_new(p.gp, p.xb, p.o2, NB, &o);
    ASSERT_NOT_NULL(a);
    ASSERT_OK(nehvi_eval(a, p.xc, p.oc, NC, val));
    for (int j = 0; j < NC; j++) {
        double m, se;
        brute(&p, mode, j, DRAWS, &m, &se);
        /* The brute force's error plus that of S plain draws (QMC's is smaller). */
        double tol = 4.0 * se * sqrt(1.0 + (double)DRAWS / S) + 1e-12;
        if (fabs(val[j] - m) > tol)
            FAIL("candidate %d (%s, %d comp, prune %d): NEHVI %.6g vs brute force %.6g +- %.3g",
                 j, nehvi_mode_name(mode), ncomp, prune, val[j], m, tol);
        nonzero += m > 4 * se;
    }
    /* The case must exercise improvement, not only zeros. */
    ASSERT_TRUE(nonzero >= 2);
    nehvi_free(&a);
    gp_free(&p.gp);
}

TEST(nehvi_matches_brute_force)
{
    check_against_brute(GP_TRANSFORM_STANDARDISE, 1, NEHVI_HV, false);
    check_against_brute(GP_TRANSFORM_STANDARDISE, 1, NEHVI_HV, true);
}

TEST(nehvi_matches_brute_force_copula_mixture)
{
    check_against_brute(GP_TRANSFORM_COPULA, 2, NEHVI_HV, true);
}

TEST(noisy_ei_matches_brute_force)
{
    check_against_brute(GP_TRANSFORM_STANDARDISE, 1, NEHVI_EI, false);
    check_against_brute(GP_TRANSFORM_COPULA, 2, NEHVI_EI, true);
}

TEST(pruning_shrinks_baseline_and_values_are_deterministic)
{
    problem_t p;
    nehvi_opts_t o;
    nehvi_t *a, *b;
    double v1[NC], v2[NC];

    setup(&p, GP_TRANSFORM_STANDARDISE, 1, 23);
    nehvi_opts_default(&o);
    o.ref[0] = p.ref[0];
    o.ref[1] = p.ref[1];
    a = nehvi_new(p.gp, p.xb, p.o2, NB, &o);
    b = nehvi_new(p.gp, p.xb, p.o2, NB, &o);
    ASSERT_NOT_NULL(a);
    ASSERT_TRUE(nehvi_baseline_size(a, 0) < NB);
    ASSERT_TRUE(nehvi_baseline_size(a, 0) >= 1);
    ASSERT_OK(nehvi_eval(a, p.xc, p.oc, NC, v1));
    ASSERT_OK(nehvi_eval(b, p.xc, p.oc, NC, v2));
    ASSERT_EQ(memcmp(v1, v2, sizeof v1), 0);
    /* Each candidate alone or in a block: the same value. */
    for (int j = 0; j < NC; j++) {
        double one;
        ASSERT_OK(nehvi_eval(a, p.xc + j * D, p.oc + j, 1, &one));
        ASSERT_NEAR(one, v1[j], 1e-12);
    }
    nehvi_free(&a);
    nehvi_free(&b);
    gp_free(&p.gp);
}

TEST(pending_points_lower_the_value_of_their_neighbourhood)
{
    /* A candidate right next to a pending point: most of its improvement is already expected
     * from the pending trial, so NEHVI with the pending point must be lower than without. */
    problem_t p;
    nehvi_opts_t o;
    nehvi_t *with, *without;
    double xc[D], oc, vw, vo;

    setup(&p, GP_TRANSFORM_STANDARDISE, 1, 29);
    nehvi_opts_default(&o);
    o.ref[0] = p.ref[0];
    o.ref[1] = p.ref[1];
    o.samples = 1024;
    xc[0] = p.xb[NOBS * D] + 1e-3;
    xc[1] = p.xb[NOBS * D + 1];
    oc = p.o2[NOBS];
    with = nehvi_new(p.gp, p.xb, p.o2, NB, &o);
    without = nehvi_new(p.gp, p.xb, p.o2, NOBS, &o);
    ASSERT_OK(nehvi_eval(with, xc, &oc, 1, &vw));
    ASSERT_OK(nehvi_eval(without, xc, &oc, 1, &vo));
    ASSERT_TRUE(vo > 0.0);
    ASSERT_TRUE(vw < 0.5 * vo);
    nehvi_free(&with);
    nehvi_free(&without);
    gp_free(&p.gp);
}

TEST(bad_options_are_rejected)
{
    problem_t p;
    nehvi_opts_t o;
    double v;

    setup(&p, GP_TRANSFORM_NONE, 1, 3);
    nehvi_opts_default(&o);
    o.samples = 0;
    ASSERT_TRUE(nehvi_new(p.gp, p.xb, p.o2, NB, &o) == NULL);
    ASSERT_CONTAINS(err_msg(), "samples");
    nehvi_opts_default(&o);
    o.ref[0] = NAN;
    ASSERT_TRUE(nehvi_new(p.gp, p.xb, p.o2, NB, &o) == NULL);
    ASSERT_TRUE(nehvi_new(p.gp, p.xb, NULL, NB, &o) == NULL);
    o.ref[0] = 0;
    ASSERT_TRUE(nehvi_new(p.gp, p.xb, p.o2, 0, &o) == NULL);
    nehvi_t *a = nehvi_new(p.gp, p.xb, p.o2, NB, &o);
    ASSERT_NOT_NULL(a);
    ASSERT_ERR(nehvi_eval(a, p.xc, NULL, 1, &v), ERR_INVAL);
    nehvi_free(&a);
    gp_free(&p.gp);
}
