/* Maximum a posteriori GP hyperparameters: the fast way to fit the surrogate.
 *
 * Maximises log p(y | theta) + log p(theta) over theta (gp.h's layout) with L-BFGS from several
 * starts. Priors, on the standardised/copula scale of the targets (docs/search.md):
 *   log lengthscale_k ~ Normal(sqrt(2) + log(d) / 2, sqrt(3))   dimension-scaled (Hvarfner et al.
 *                                                                2024): long lengthscales a priori
 *                                                                in many dimensions
 *   log outputscale   ~ Normal(0, 1)
 *   log noise         ~ Normal(-4, 1)
 *   mean              ~ Normal(0, 1)
 * and a box (lengthscale in [1e-3, 1e3], noise >= 1e-6, ...) outside which the objective is
 * refused, so that the optimiser never wanders into overflow.
 *
 * Starts: the prior's centre, an optional warm start (e.g. the previous fit), and the best of
 * `candidates` random draws from the prior by log posterior; L-BFGS runs from the best
 * `restarts` of these and the best optimum wins. Deterministic given the rng state. */
#ifndef AUTOPEFT_GP_MAP_H
#define AUTOPEFT_GP_MAP_H

#include "common/rng.h"
#include "coordinator/search/gp.h"

typedef struct {
    int restarts;       /* L-BFGS runs; default 3 */
    int candidates;     /* random prior draws scored for starts; default 32 */
    int max_iter;       /* L-BFGS iterations per run; default 100 */
    double ls_mu, ls_sigma;      /* log lengthscale prior */
    double scale_mu, scale_sigma;/* log outputscale prior */
    double noise_mu, noise_sigma;/* log noise prior */
    double mean_sigma;           /* constant mean prior (centred at 0) */
} gp_map_opts_t;

void gp_map_opts_default(gp_map_opts_t *o, int dims);

/* Log prior density of theta and its gradient (may be NULL); -inf outside the box. */
double gp_map_log_prior(const gp_map_opts_t *o, int dims, const double *theta, double *grad);

/* Fits the GP's data: theta_out (gp_nparams(d) values) receives the MAP estimate and the GP is
 * set to it (one component). warm may be NULL. *lp_out (may be NULL): log posterior reached. */
int gp_map_fit(gp_t *gp, const gp_map_opts_t *o, const double *warm, rng_t *rng,
               double *theta_out, double *lp_out);

#endif
