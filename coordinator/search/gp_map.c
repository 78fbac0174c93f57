/* MAP hyperparameters: see gp_map.h. */
#include "coordinator/search/gp_map.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mem.h"
#include "coordinator/search/lbfgs.h"
#include "coordinator/search/rank.h"
#include "coordinator/search/stat.h"

/* The box: lengthscales 1e-3 .. 1e3 (the inputs live in the unit cube), outputscale 1e-4 .. 1e3,
 * noise 1e-6 .. 10 (standardised units), mean within 10 standard deviations. */
#define LS_LO (-6.907755279)
#define LS_HI 6.907755279
#define SCALE_LO (-9.210340372)
#define SCALE_HI 6.907755279
#define NOISE_LO (-13.815510558)
#define NOISE_HI 2.302585093
#define MEAN_BOUND 10.0

void gp_map_opts_default(gp_map_opts_t *o, int dims)
{
    o->restarts = 3;
    o->candidates = 32;
    o->max_iter = 100;
    o->ls_mu = STAT_SQRT2 + 0.5 * log(dims > 0 ? dims : 1);
    o->ls_sigma = sqrt(3.0);
    o->scale_mu = 0.0;
    o->scale_sigma = 1.0;
    o->noise_mu = -4.0;
    o->noise_sigma = 1.0;
    o->mean_sigma = 1.0;
}

static void bounds(int d, int k, double *lo, double *hi)
{
    if (k < d)
        *lo = LS_LO, *hi = LS_HI;
    else if (k == GP_TH_SCALE(d))
        *lo = SCALE_LO, *hi = SCALE_HI;
    else if (k == GP_TH_NOISE(d))
        *lo = NOISE_LO, *hi = NOISE_HI;
    else
        *lo = -MEAN_BOUND, *hi = MEAN_BOUND;
}

double gp_map_log_prior(const gp_map_opts_t *o, int d, const double *theta, double *grad)
{
    double lp = 0.0, *gk;

    for (int k = 0; k < d + 3; k++) {
        double lo, hi;
        bounds(d, k, &lo, &hi);
        if (!(theta[k] >= lo && theta[k] <= hi))
            return -INFINITY;
    }
    for (int k = 0; k < d; k++)
        lp += stat_lognormal_lp(theta[k], o->ls_mu, o->ls_sigma, grad ? &grad[k] : NULL);
    gk = grad ? &grad[GP_TH_SCALE(d)] : NULL;
    lp += stat_lognormal_lp(theta[GP_TH_SCALE(d)], o->scale_mu, o->scale_sigma, gk);
    gk = grad ? &grad[GP_TH_NOISE(d)] : NULL;
    lp += stat_lognormal_lp(theta[GP_TH_NOISE(d)], o->noise_mu, o->noise_sigma, gk);
    gk = grad ? &grad[GP_TH_MEAN(d)] : NULL;
    lp += stat_normal_lp(theta[GP_TH_MEAN(d)], 0.0, o->mean_sigma, gk);
    return lp;
}

typedef struct {
    gp_t *gp;
    const gp_map_opts_t *o;
    double *gprior;
} objective_t;

/* Negative log posterior and its gradient, for the minimiser. */
static int neg_log_post(void *ctx, const double *theta, double *f, double *g)
{
    objective_t *ob = ctx;
    int d = gp_dims(ob->gp), p = gp_nparams(d), rc;
    double lml, lp = gp_map_log_prior(ob->o, d, theta, ob->gprior);

    if (!isfinite(lp))
        return ERR_RANGE;
    rc = gp_lml(ob->gp, theta, &lml, g);
    if (rc)
        return rc;
    *f = -(lml + lp);
    for (int k = 0; k < p; k++)
        g[k] = -(g[k] + ob->gprior[k]);
    return 0;
}

static double log_post(gp_t *gp, const gp_map_opts_t *o, const double *theta)
{
    double lml, lp = gp_map_log_prior(o, gp_dims(gp), theta, NULL);

    if (!isfinite(lp) || gp_lml(gp, theta, &lml, NULL) != 0)
        return -INFINITY;
    return lml + lp;
}

static void prior_centre(const gp_map_opts_t *o, int d, double *theta)
{
    for (int k = 0; k < d; k++)
        theta[k] = o->ls_mu;
    theta[GP_TH_SCALE(d)] = o->scale_mu;
    theta[GP_TH_NOISE(d)] = o->noise_mu;
    theta[GP_TH_MEAN(d)] = 0.0;
}

static double clamp_in(double v, double lo, double hi)
{
    double margin = 1e-6 * (hi - lo);
    return v < lo + margin ? lo + margin : v > hi - margin ? hi - margin : v;
}

static void prior_draw(const gp_map_opts_t *o, int d, rng_t *rng, double *theta)
{
    double lo, hi;

    for (int k = 0; k < d; k++)
        theta[k] = o->ls_mu + o->ls_sigma * rng_normal(rng);
    theta[GP_TH_SCALE(d)] = o->scale_mu + o->scale_sigma * rng_normal(rng);
    theta[GP_TH_NOISE(d)] = o->noise_mu + o->noise_sigma * rng_normal(rng);
    theta[GP_TH_MEAN(d)] = o->mean_sigma * rng_normal(rng);
    for (int k = 0; k < d + 3; k++) {
        bounds(d, k, &lo, &hi);
        theta[k] = clamp_in(theta[k], lo, hi);
    }
}

/* The nc = 2 + candidates starting points (nc x p) in cand, and score their indices best
 * first by log posterior: the prior's centre, the warm start clamped into the box (or a copy of
 * the centre that is never run), then random draws from the prior. */
static void rank_starts(gp_t *gp, const gp_map_opts_t *o, const double *warm, rng_t *rng,
                        double *cand, rank_t *score)
{
    int d = gp_dims(gp), p = gp_nparams(d), nc = 2 + o->candidates;

    prior_centre(o, d, cand);
    if (warm) {
        for (int k = 0; k < p; k++) {
            double lb, hb;
            bounds(d, k, &lb, &hb);
            cand[p + k] = clamp_in(warm[k], lb, hb);
        }
    } else {
        memcpy(cand + p, cand, (size_t)p * sizeof(double));
    }
    for (int c = 2; c < nc; c++)
        prior_draw(o, d, rng, cand + (size_t)c * p);
    for (int c = 0; c < nc; c++) {
        score[c] = (rank_t){log_post(gp, o, cand + (size_t)c * p), c};
        if (c == 1 && !warm)
            score[c].v = -INFINITY;  /* a copy of the centre: do not start twice from it */
    }
    qsort(score, (size_t)nc, sizeof *score, rank_cmp);
}

/* L-BFGS from the best `restarts` starts with a finite posterior; the best optimum goes to
 * theta_out. Returns its log posterior (-inf when no run succeeded). */
static double climb_starts(objective_t *ob, const double *cand, const rank_t *score,
                           double *x, double *theta_out)
{
    const gp_map_opts_t *o = ob->o;
    int p = gp_nparams(gp_dims(ob->gp)), nc = 2 + o->candidates;
    int starts = o->restarts < nc ? o->restarts : nc;
    double best_lp = -INFINITY;
    lbfgs_opts_t lo;

    lbfgs_opts_default(&lo);
    lo.max_iter = o->max_iter;
    lo.max_evals = 4 * o->max_iter;
    lo.gtol = 1e-4;
    lo.ftol = 1e-9;
    for (int s = 0; s < starts; s++) {
        lbfgs_result_t res;
        double lp;

        if (!isfinite(score[s].v))
            continue;
        memcpy(x, cand + (size_t)score[s].i * p, (size_t)p * sizeof(double));
        if (lbfgs_minimize(p, x, neg_log_post, ob, &lo, &res) != 0)
            continue;
        lp = -res.f;
        if (lp > best_lp) {
            best_lp = lp;
            memcpy(theta_out, x, (size_t)p * sizeof(double));
        }
    }
    return best_lp;
}

int gp_map_fit(gp_t *gp, const gp_map_opts_t *o, const double *warm, rng_t *rng,
               double *theta_out, double *lp_out)
{
    int p = gp_nparams(gp_dims(gp)), rc = 0, nc;
    double *cand = NULL, *x = NULL, best_lp;
    rank_t *score = NULL;
    objective_t ob = {gp, o, NULL};

    if (gp_n(gp) < 1)
        return err_set(ERR_STATE, "MAP fit: the GP has no data");
    if (o->restarts < 1 || o->candidates < 0 || o->max_iter < 1 || o->restarts > 1000 ||
        o->candidates > 100000)
        return err_set(ERR_INVAL, "MAP fit: restarts %d, candidates %d, max_iter %d", o->restarts,
                       o->candidates, o->max_iter);
    nc = 2 + o->candidates;
    cand = mem_alloc((size_t)nc * p, sizeof(double), "MAP starts");
    score = mem_alloc((size_t)nc, sizeof *score, "MAP starts");
    x = mem_alloc((size_t)p, sizeof(double), "MAP point");
    ob.gprior = mem_alloc((size_t)p, sizeof(double), "MAP prior gradient");
    if (!cand || !score || !x || !ob.gprior) {
        rc = ERR_NOMEM;
        goto out;
    }
    rank_starts(gp, o, warm, rng, cand, score);
    best_lp = climb_starts(&ob, cand, score, x, theta_out);
    if (!isfinite(best_lp)) {
        rc = err_set(ERR_NUMERIC, "MAP fit: no start gave a finite posterior (%d points)",
                     gp_n(gp));
        goto out;
    }
    rc = gp_set_theta(gp, theta_out, 1);
    if (lp_out)
        *lp_out = best_lp;
out:
    free(cand);
    free(score);
    free(x);
    free(ob.gprior);
    return rc;
}
