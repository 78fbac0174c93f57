/* The No-U-Turn sampler (Hoffman and Gelman 2014) in its multinomial form with the generalised
 * U-turn criterion and the checks across merged subtrees (Betancourt 2017, as in Stan), over
 * any differentiable log density.
 *
 * Warmup adapts the step size by dual averaging (target acceptance statistic 0.8 by default)
 * and a diagonal inverse mass matrix from the draws of a slow window, after Stan's schedule: a
 * fast initial buffer (15% of warmup), one or more doubling slow windows, a fast terminal buffer
 * (10%); the variance estimate is shrunk towards 1e-3 as Stan does. After warmup, `samples`
 * iterations are run and every `thin`-th is kept. Reproducible from the rng state. */
#ifndef AUTOPEFT_NUTS_H
#define AUTOPEFT_NUTS_H

#include <stdbool.h>

#include "common/rng.h"

#define NUTS_MAX_DIM 4096
#define NUTS_MAX_DEPTH 12
#define NUTS_MAX_ITER 1000000

/* log p(x) (up to a constant) and its gradient; 0, or non-zero to refuse x (as -infinity,
 * which ends the trajectory as a divergence). */
typedef int (*nuts_logp_fn)(void *ctx, const double *x, double *logp, double *grad);

typedef struct {
    int warmup;            /* default 128 (AutoPEFT's) */
    int samples;           /* post-warmup iterations; default 64 */
    int thin;              /* keep every thin-th; default 4 */
    int max_depth;         /* tree depth limit: at most 2^max_depth leapfrog steps; default 6 */
    double target_accept;  /* default 0.8 */
    double step;           /* initial step size; <= 0: found by Stan's heuristic from 1 */
    bool adapt_mass;       /* default true */
    const double *inv_mass;/* initial diagonal inverse mass (dim values) or NULL for ones */
} nuts_opts_t;

typedef struct {
    double step;           /* step size after warmup */
    int divergences;       /* post-warmup */
    int warmup_divergences;
    double accept;         /* mean acceptance statistic post-warmup */
    double depth;          /* mean tree depth post-warmup */
    long grad_evals;       /* all iterations */
    int kept;              /* draws written */
} nuts_stats_t;

void nuts_opts_default(nuts_opts_t *o);
/* Number of draws nuts_run writes for these options: samples / thin. */
int nuts_kept(const nuts_opts_t *o);

/* Runs warmup and sampling from x (dim values; receives the last state). draws receives
 * nuts_kept(o) x dim values; inv_mass_out (may be NULL) the adapted inverse mass. ERR_INVAL on
 * bad options, ERR_NUMERIC when the log density refuses the initial point. */
int nuts_run(int dim, double *x, nuts_logp_fn fn, void *ctx, const nuts_opts_t *o, rng_t *rng,
             double *draws, nuts_stats_t *st, double *inv_mass_out);

#endif
