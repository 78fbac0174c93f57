#include "coordinator/search/stat.h"

#include <math.h>
#include <stdlib.h>

double stat_norm_pdf(double x)
{
    return exp(-0.5 * x * x - 0.5 * STAT_LOG_2PI);
}

double stat_norm_cdf(double x)
{
    /* erfc keeps full relative precision in the lower tail, where 1 - erf would cancel. */
    return 0.5 * erfc(-x / STAT_SQRT2);
}

/* The lower-tail quantile for p <= 0.5: a coarse rational start (Abramowitz and Stegun 26.2.23,
 * absolute error below 4.5e-4) refined by Halley steps on erfc, which converge cubically; three
 * steps reach the limit of double precision from that start. */
static double ppf_lower(double p)
{
    double t = sqrt(-2.0 * log(p));
    double x = -(t - (2.515517 + 0.802853 * t + 0.010328 * t * t) /
                         (1.0 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t));

    for (int it = 0; it < 4; it++) {
        double f = stat_norm_cdf(x) - p;
        double d = stat_norm_pdf(x);
        double u;

        if (d == 0.0)
            break;
        u = f / d;
        /* Halley: x -= u / (1 + x u / 2), using phi'(x) = -x phi(x). */
        x -= u / (1.0 + 0.5 * x * u);
    }
    return x;
}

double stat_norm_ppf(double p)
{
    if (isnan(p) || p < 0.0 || p > 1.0)
        return NAN;
    if (p == 0.0)
        return -INFINITY;
    if (p == 1.0)
        return INFINITY;
    if (p == 0.5)
        return 0.0;
    return p < 0.5 ? ppf_lower(p) : -ppf_lower(1.0 - p);
}

double stat_lognormal_lp(double theta, double mu, double sigma, double *dlp)
{
    /* A normal density on theta itself: the Jacobian of x -> log x cancels the 1/x of the
     * log-normal density. */
    return stat_normal_lp(theta, mu, sigma, dlp);
}

double stat_gamma_lp(double theta, double a, double b, double *dlp)
{
    double x = exp(theta);

    /* p(x) = b^a x^(a-1) e^(-b x) / Gamma(a); times dx/dtheta = x. */
    if (dlp)
        *dlp = a - b * x;
    return a * log(b) - lgamma(a) + a * theta - b * x;
}

double stat_halfcauchy_lp(double theta, double scale, double *dlp)
{
    double x = exp(theta);
    double q = (x / scale) * (x / scale);

    /* p(x) = 2 / (pi scale (1 + (x/scale)^2)); times dx/dtheta = x. */
    if (dlp)
        *dlp = 1.0 - 2.0 * q / (1.0 + q);
    return log(2.0 / (M_PI * scale)) - log1p(q) + theta;
}

double stat_normal_lp(double x, double mu, double sigma, double *dlp)
{
    double z = (x - mu) / sigma;

    if (dlp)
        *dlp = -z / sigma;
    return -0.5 * z * z - log(sigma) - 0.5 * STAT_LOG_2PI;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y ? 1 : 0;
}

double stat_quantile(double *x, int n, double q)
{
    double pos = q * (n - 1);
    int i = (int)floor(pos);

    qsort(x, (size_t)n, sizeof *x, by_value);
    if (i >= n - 1)
        return x[n - 1];
    return x[i] + (pos - i) * (x[i + 1] - x[i]);
}
