/* SAAS fully Bayesian GP: see saas.h. */
#include "coordinator/search/saas.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mem.h"
#include "coordinator/search/stat.h"

/* Lengthscales beyond e^+-30 (and the like) are refused as divergences: far outside anything
 * the data can distinguish, and where exp() starts to lose the kernel. */
#define LOG_BOUND 30.0

void saas_opts_default(saas_opts_t *o)
{
    nuts_opts_default(&o->nuts);
    o->tau_scale = 0.1;
    o->scale_a = 2.0;
    o->scale_b = 0.15;
    o->noise_a = 0.9;
    o->noise_b = 10.0;
    o->mean_sigma = 1.0;
}

void saas_to_theta(int d, const double *u, double *theta)
{
    for (int k = 0; k < d; k++)
        theta[k] = -0.5 * (u[d] + u[k]);
    theta[GP_TH_SCALE(d)] = u[d + 1];
    theta[GP_TH_NOISE(d)] = u[d + 2];
    theta[GP_TH_MEAN(d)] = u[d + 3];
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void saas_from_theta(int d, const double *theta, double *u)
{
    double med;

    /* log tau + log lambda_k = -2 log l_k: put the median into tau so the lambdas sit near 1. */
    for (int k = 0; k < d; k++)
        u[k] = -2.0 * theta[k];
    qsort(u, (size_t)d, sizeof *u, cmp_double);
    med = d % 2 ? u[d / 2] : 0.5 * (u[d / 2 - 1] + u[d / 2]);
    for (int k = 0; k < d; k++)
        u[k] = -2.0 * theta[k] - med;
    u[d] = med;
    u[d + 1] = theta[GP_TH_SCALE(d)];
    u[d + 2] = theta[GP_TH_NOISE(d)];
    u[d + 3] = theta[GP_TH_MEAN(d)];
}

typedef struct {
    gp_t *gp;
    const saas_opts_t *o;
} target_t;

int saas_log_density(gp_t *gp, const saas_opts_t *o, const double *u, double *lp, double *grad)
{
    int d = gp_dims(gp), rc;
    double theta[GP_MAX_DIMS + 3], gt[GP_MAX_DIMS + 3], lml, prior = 0.0, dp, sum = 0.0;

    for (int k = 0; k < d + 3; k++)
        if (!isfinite(u[k]) || fabs(u[k]) > 2 * LOG_BOUND)
            return ERR_RANGE;
    saas_to_theta(d, u, theta);
    for (int k = 0; k < d + 2; k++)
        if (fabs(theta[k]) > LOG_BOUND)
            return ERR_RANGE;
    rc = gp_lml(gp, theta, &lml, grad ? gt : NULL);
    if (rc)
        return rc;
    for (int k = 0; k < d; k++) {
        prior += stat_halfcauchy_lp(u[k], 1.0, &dp);
        if (grad) {
            grad[k] = -0.5 * gt[k] + dp;
            sum += gt[k];
        }
    }
    prior += stat_halfcauchy_lp(u[d], o->tau_scale, &dp);
    if (grad)
        grad[d] = -0.5 * sum + dp;
    prior += stat_gamma_lp(u[d + 1], o->scale_a, o->scale_b, &dp);
    if (grad)
        grad[d + 1] = gt[GP_TH_SCALE(d)] + dp;
    prior += stat_gamma_lp(u[d + 2], o->noise_a, o->noise_b, &dp);
    if (grad)
        grad[d + 2] = gt[GP_TH_NOISE(d)] + dp;
    prior += stat_normal_lp(u[d + 3], 0.0, o->mean_sigma, &dp);
    if (grad)
        grad[d + 3] = gt[GP_TH_MEAN(d)] + dp;
    *lp = lml + prior;
    return isfinite(*lp) ? 0 : ERR_NUMERIC;
}

static int density(void *ctx, const double *u, double *lp, double *grad)
{
    target_t *t = ctx;
    return saas_log_density(t->gp, t->o, u, lp, grad);
}

int saas_fit(gp_t *gp, const saas_opts_t *o, const double *init, rng_t *rng, nuts_stats_t *st)
{
    int d = gp_dims(gp), dim = saas_dim(d), p = gp_nparams(d), kept = nuts_kept(&o->nuts), rc;
    double *u = NULL, *draws = NULL, *theta = NULL;
    target_t t = {gp, o};

    if (gp_n(gp) < 1)
        return err_set(ERR_STATE, "SAAS fit: the GP has no data");
    if (kept < 1 || kept > GP_MAX_COMPONENTS || !(o->tau_scale > 0) || !(o->scale_a > 0) ||
        !(o->scale_b > 0) || !(o->noise_a > 0) || !(o->noise_b > 0) || !(o->mean_sigma > 0))
        return err_set(ERR_INVAL, "SAAS fit: bad options (%d kept draws, priors)", kept);
    u = mem_alloc((size_t)dim, sizeof(double), "SAAS");
    draws = mem_alloc((size_t)kept * dim, sizeof(double), "SAAS draws");
    theta = mem_alloc((size_t)kept * p, sizeof(double), "SAAS draws");
    if (!u || !draws || !theta) {
        rc = ERR_NOMEM;
        goto out;
    }
    if (init) {
        saas_from_theta(d, init, u);
    } else {
        /* The prior's centre: tau at its scale, lambdas 1, unit outputscale, noise 0.05. */
        for (int k = 0; k < d; k++)
            u[k] = 0.0;
        u[d] = log(o->tau_scale);
        u[d + 1] = 0.0;
        u[d + 2] = log(0.05);
        u[d + 3] = 0.0;
    }
    rc = nuts_run(dim, u, density, &t, &o->nuts, rng, draws, st, NULL);
    if (rc) {
        err_prefix(rc, "SAAS fit: ");
        goto out;
    }
    for (int k = 0; k < kept; k++)
        saas_to_theta(d, draws + (size_t)k * dim, theta + (size_t)k * p);
    rc = gp_set_theta(gp, theta, kept);
out:
    free(u);
    free(draws);
    free(theta);
    return rc;
}
