/* Gaussian-process surrogate of the task metric, in double precision.
 *
 * Model: y = f(x) + eps with f ~ GP(c, s * Matern52(r)), eps ~ N(0, noise), where
 * r^2 = sum_k ((x_k - x'_k) / l_k)^2 over the inputs (points of the unit cube from the search
 * space's encoding) with one lengthscale l_k per input dimension (ARD). The targets are first
 * mapped by an output transform: none, standardisation (zero mean, unit variance, ddof 0 as
 * scikit-learn's normalize_y), or the normal copula (y -> Phi^-1 of its mid-rank ECDF value),
 * which makes the GP robust to outliers and skew such as diverged fine-tuning runs. Everything
 * the GP predicts is in the transformed units; gp_untransform maps values back.
 *
 * Hyperparameters are a vector theta of gp_nparams(d) = d + 3 numbers:
 *   theta[0 .. d)     log lengthscales
 *   theta[GP_TH_SCALE] log outputscale s (signal variance)
 *   theta[GP_TH_NOISE] log noise variance
 *   theta[GP_TH_MEAN]  constant mean c (transformed units)
 * A GP holds one or more such vectors ("components"): one for a MAP fit (gp_map.h), several
 * posterior samples for the fully Bayesian SAAS model (saas.h); predictions then average over
 * the components (a mixture with equal weights).
 *
 * Each component's kernel matrix is factorised with LAPACKE's Cholesky; when it is not
 * numerically positive definite, a jitter of 1e-8 times the mean diagonal is added and grown
 * tenfold up to 1e-2 times it before giving up with ERR_NUMERIC.
 *
 * Not thread-safe per object (even the computing calls reuse work space inside it); distinct
 * objects may be used from distinct threads. */
#ifndef AUTOPEFT_GP_H
#define AUTOPEFT_GP_H

#include <stdbool.h>

#include "common/rng.h"

/* Hard caps: inputs come from a search space (at most a few hundred dimensions) and a study's
 * history (the O(n^3) algebra makes more than a few thousand points pointless). */
#define GP_MAX_DIMS 2048
#define GP_MAX_POINTS 8192
#define GP_MAX_COMPONENTS 1024

#define GP_TH_SCALE(d) (d)
#define GP_TH_NOISE(d) ((d) + 1)
#define GP_TH_MEAN(d) ((d) + 2)

typedef enum {
    GP_TRANSFORM_NONE = 0,
    GP_TRANSFORM_STANDARDISE,
    GP_TRANSFORM_COPULA
} gp_transform_t;

typedef struct gp gp_t;

/* ERR_INVAL (NULL) for dims outside 1..GP_MAX_DIMS or an unknown transform. */
gp_t *gp_new(int dims, gp_transform_t transform);
void gp_free(gp_t **gpp);

static inline int gp_nparams(int dims) { return dims + 3; }
int gp_dims(const gp_t *gp);
int gp_n(const gp_t *gp);
gp_transform_t gp_transform(const gp_t *gp);
/* "none", "standardise", "copula"; gp_transform_parse accepts those (and "standardize"). */
const char *gp_transform_name(gp_transform_t t);
int gp_transform_parse(const char *text, gp_transform_t *out);

/* Training data: x is n x d row-major in [0, 1], y the raw targets (finite). Copies both,
 * computes the transform and drops any fitted components (gp_set_theta must follow).
 * ERR_INVAL for n outside 1..GP_MAX_POINTS or a non-finite value. */
int gp_set_data(gp_t *gp, const double *x, const double *y, int n);
/* Transformed targets (n values). */
const double *gp_targets(const gp_t *gp);
const double *gp_inputs(const gp_t *gp);

/* Output transform of a single value, both ways. Monotone increasing. For the copula they
 * interpolate linearly between the observed (y, z) pairs and extrapolate beyond them with the
 * least-squares slope of y on z, so that values better than any observed stay ordered and finite. */
double gp_transform_y(const gp_t *gp, double y);
double gp_untransform(const gp_t *gp, double z);

/* Sets ncomp hyperparameter vectors (ncomp x gp_nparams(d), row-major) and factorises each
 * kernel matrix. ERR_NUMERIC if one cannot be factorised even with the largest jitter;
 * ERR_STATE before gp_set_data. */
int gp_set_theta(gp_t *gp, const double *theta, int ncomp);
int gp_ncomponents(const gp_t *gp);
const double *gp_theta(const gp_t *gp, int comp);
/* Jitter added to the diagonal of a component's kernel matrix (0 when none was needed). */
double gp_jitter(const gp_t *gp, int comp);

/* Log marginal likelihood of the transformed targets under theta and, when grad is not NULL,
 * its gradient with respect to theta (gp_nparams(d) values). Independent of the components set.
 * ERR_NUMERIC when the kernel matrix cannot be factorised or theta is not finite. */
int gp_lml(gp_t *gp, const double *theta, double *lml, double *grad);

/* Posterior of the latent f at m points a (m x d row-major), averaged over the components:
 * mean and variance (noise excluded) of the mixture. Either output may be NULL. */
int gp_predict(gp_t *gp, const double *a, int m, double *mean, double *var);

/* nsamples joint draws of the latent f at the m points: out is nsamples x m row-major. Draw j
 * comes from component j mod ncomponents, so that draws average over the components. */
int gp_sample(gp_t *gp, const double *a, int m, int nsamples, rng_t *rng, double *out);

/* ---- building blocks for the acquisition function --------------------------------------------
 * For one component, with L the Cholesky factor of K(X, X) + noise I:
 *   v = L^-1 K(X, a)  (n x m, column-major: column j belongs to point j)
 *   mean_j = c + v_j . L^-1 (y - c),   var_j = s - |v_j|^2
 * so that the posterior covariance between point sets a and b is K(a, b) - v_a^T v_b. */
int gp_component_solve(gp_t *gp, int comp, const double *a, int m, double *v,
                       double *mean, double *var);
/* The prior kernel K(a, b) of a component (na x nb, column-major, noise excluded). */
int gp_kernel(gp_t *gp, int comp, const double *a, int na, const double *b, int nb,
              double *out);

/* Cholesky factorisation of the lower triangle of the n x n column-major matrix a, with the
 * jitter escalation described above; orig must hold the matrix (the factorisation overwrites a,
 * and a retry restarts from orig plus jitter). *jitter_out (may be NULL) gets the jitter used. */
int gp_cholesky(double *a, const double *orig, int n, double *jitter_out);

#endif
