/* Small statistical functions for the search engine: the standard normal distribution (density,
 * CDF, quantile) and the log-densities of the priors placed on GP hyperparameters.
 *
 * Prior log-densities are written for a variable that is sampled or optimised on the log scale
 * (theta = log x) and include the Jacobian of that change of variable, so that the optimiser and
 * the sampler can work with theta directly. */
#ifndef AUTOPEFT_STAT_H
#define AUTOPEFT_STAT_H

#define STAT_SQRT2 1.41421356237309504880
#define STAT_LOG_2PI 1.83787706640934548356

double stat_norm_pdf(double x);
double stat_norm_cdf(double x);
/* Quantile of the standard normal, accurate to a few ulp over (0, 1); -inf at 0, +inf at 1,
 * NaN outside [0, 1]. */
double stat_norm_ppf(double p);

/* The q-quantile (q in [0, 1]) of x[0..n), n >= 1, linear between order statistics (numpy's
 * default); sorts x in place. */
double stat_quantile(double *x, int n, double q);

/* log density of theta = log x where log x ~ Normal(mu, sigma) (a log-normal prior on x).
 * *dlp (may be NULL) receives d/dtheta. */
double stat_lognormal_lp(double theta, double mu, double sigma, double *dlp);
/* log density of theta = log x where x ~ Gamma(shape a, rate b). */
double stat_gamma_lp(double theta, double a, double b, double *dlp);
/* log density of theta = log x where x ~ HalfCauchy(scale). */
double stat_halfcauchy_lp(double theta, double scale, double *dlp);
/* log density of x ~ Normal(mu, sigma) (no change of variable). */
double stat_normal_lp(double x, double mu, double sigma, double *dlp);

#endif
