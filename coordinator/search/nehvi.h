/* Noisy expected hypervolume improvement (qNEHVI with q = 1, Daulton et al. 2021) and noisy
 * expected improvement, by quasi-Monte Carlo over a GP posterior.
 *
 * Objectives, both maximised: the task metric, modelled by the GP, and a second objective known
 * exactly for every configuration (the search passes -parameter %). The baseline is every
 * configuration whose metric the acquisition must integrate over: the observed ones (their
 * latent, noise-free metric is uncertain: "noisy") and the pending ones (running trials, not
 * observed at all). For each of S fixed quasi-random draws of the GP's joint posterior over
 * baseline and candidate, the improvement is the exact 2-D hypervolume the candidate adds to the
 * Pareto front of that draw's baseline; NEHVI is its mean. With several GP components (SAAS
 * samples) each component gets its own S draws and the values are averaged.
 *
 * Draws: the baseline's joint posterior N(mu_B, Sigma_B) is factorised once (Sigma_B = L L^T)
 * and its draws f_B = mu_B + L z_B are fixed; a candidate's metric is drawn conditionally on
 * them, f_c = mu_c + w^T z_B + sqrt(var_c - |w|^2) z_0 with w = L^-1 Sigma_Bc, exactly the last
 * row of the joint Cholesky factor. So candidates are scored against the same baseline draws
 * (common random numbers), with BLAS-3 work per block of candidates.
 *
 * The hypervolume is computed in the metric's own units: draws are mapped back through the
 * GP's output transform (gp_untransform), so the reference point is in metric units too.
 *
 * Baseline pruning (on by default, as BoTorch's prune_baseline): points that are on no draw's
 * front (above the reference point) cannot change any improvement; they are dropped and the
 * remaining points' draws recomputed from their own factor.
 *
 * Noisy EI (mode NEHVI_EI): the improvement of the candidate's draw over the best baseline draw,
 * metric only. */
#ifndef AUTOPEFT_NEHVI_H
#define AUTOPEFT_NEHVI_H

#include <stdbool.h>
#include <stdint.h>

#include "coordinator/search/gp.h"

#define NEHVI_MAX_SAMPLES 65536
#define NEHVI_DEFAULT_SEED 0x5eed0fa1u

typedef enum { NEHVI_HV = 0, NEHVI_EI = 1 } nehvi_mode_t;

typedef struct {
    nehvi_mode_t mode;
    int samples;     /* QMC draws per GP component, 1..NEHVI_MAX_SAMPLES; default 128 */
    uint64_t seed;   /* QMC seed; default NEHVI_DEFAULT_SEED */
    double ref[2];   /* reference point (metric units, second objective); NEHVI_HV only */
    bool prune;      /* drop baseline points on no draw's front; default true */
} nehvi_opts_t;

typedef struct nehvi nehvi_t;

void nehvi_opts_default(nehvi_opts_t *o);
const char *nehvi_mode_name(nehvi_mode_t m);

/* Prepares the acquisition over the GP (fitted; borrowed, must outlive the object and not be
 * changed meanwhile) with nb baseline points xb (nb x d row-major: observed, then pending) and
 * their second objective obj2 (ignored in EI mode, may be NULL there). Repeated baseline points
 * count once. NULL with err_set on bad options or failure. */
nehvi_t *nehvi_new(gp_t *gp, const double *xb, const double *obj2, int nb,
                   const nehvi_opts_t *o);
void nehvi_free(nehvi_t **ap);

/* Acquisition values of nc candidates xc (nc x d) with second objectives obj2c. */
int nehvi_eval(nehvi_t *a, const double *xc, const double *obj2c, int nc, double *out);

/* Baseline points kept for a component after deduplication and pruning. */
int nehvi_baseline_size(const nehvi_t *a, int comp);

#endif
