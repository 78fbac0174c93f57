/* Fully Bayesian GP hyperparameters under the sparse axis-aligned subspace (SAAS) prior
 * (Eriksson and Jankowiak 2021), sampled with NUTS, as AutoPEFT does through BoTorch:
 *
 *   tau ~ HalfCauchy(0.1)                       global shrinkage
 *   lambda_k ~ HalfCauchy(1)                    one per input dimension
 *   lengthscale_k = (tau * lambda_k)^(-1/2)     i.e. inverse squared lengthscales tau * lambda_k
 *   outputscale ~ Gamma(2, rate 0.15), noise ~ Gamma(0.9, rate 10), mean ~ Normal(0, 1)
 *
 * The prior concentrates on long lengthscales (inputs switched off) unless the data demand
 * otherwise, which lets a GP over 27 inputs learn from a few dozen points which of them matter.
 * NUTS runs on the logarithms of the positive variables (the Jacobians are in the density);
 * defaults are AutoPEFT's: 128 warmup, 64 samples, thinning 4 (16 kept draws), tree depth 6.
 * The GP is then set to the kept draws, and its predictions average over them. */
#ifndef AUTOPEFT_SAAS_H
#define AUTOPEFT_SAAS_H

#include "common/rng.h"
#include "coordinator/search/gp.h"
#include "coordinator/search/nuts.h"

typedef struct {
    nuts_opts_t nuts;
    double tau_scale;           /* 0.1 */
    double scale_a, scale_b;    /* outputscale Gamma(shape, rate): 2, 0.15 */
    double noise_a, noise_b;    /* noise Gamma(shape, rate): 0.9, 10 */
    double mean_sigma;          /* 1 */
} saas_opts_t;

void saas_opts_default(saas_opts_t *o);
/* Dimension of the sampler's space for d inputs: d lambdas, tau, outputscale, noise, mean. */
static inline int saas_dim(int dims) { return dims + 4; }

/* Log posterior density (up to a constant) at u (saas_dim(d) values: log lambda_1..d, log tau,
 * log outputscale, log noise, mean) and its gradient (may be NULL). Non-zero when u is refused. */
int saas_log_density(gp_t *gp, const saas_opts_t *o, const double *u, double *lp, double *grad);
/* GP hyperparameters (gp.h's layout) of a sampler point. */
void saas_to_theta(int dims, const double *u, double *theta);
/* A sampler point with these GP hyperparameters (the global/local split: lambdas centred). */
void saas_from_theta(int dims, const double *theta, double *u);

/* Samples the posterior for the GP's data and sets the GP to the kept draws. init: GP
 * hyperparameters to start the chain from (a MAP fit is a good start) or NULL for the prior's
 * centre. st (may be NULL) receives the sampler's statistics. */
int saas_fit(gp_t *gp, const saas_opts_t *o, const double *init, rng_t *rng, nuts_stats_t *st);

#endif
