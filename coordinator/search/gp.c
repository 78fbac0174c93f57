/* Gaussian-process surrogate: see gp.h. Matrices are column-major (LAPACK's layout); the
 * inputs are row-major so that one point's coordinates are contiguous in the distance loops. */
#include "coordinator/search/gp.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mem.h"
#include "coordinator/search/stat.h"

#define SQRT5 2.23606797749978969641

struct gp {
    int d, n;
    gp_transform_t tf;
    double *x;  /* n x d row-major */
    double *y;  /* raw targets */
    double *z;  /* transformed targets */
    /* Transform state: standardisation's mean and deviation; the copula's sorted distinct
     * (y, z) pairs and the slope used beyond them. */
    double mu, sd;
    double *cop_y, *cop_z;
    int cop_m;
    double slope;
    /* Fitted components. */
    int ncomp;
    double *theta;   /* ncomp x P */
    double *chol;    /* ncomp x n x n, lower Cholesky factors */
    double *beta;    /* ncomp x n: L^-1 (z - c) */
    double *jitter;  /* ncomp */
    /* Work space kept between calls: the hot paths (log marginal likelihood in the optimiser
     * and the sampler, kernels in the acquisition) would otherwise allocate and fault in
     * fresh pages of several hundred kilobytes per call. */
    double *ws_mat;  /* kernel matrices of gp_lml / gp_set_theta */
    size_t ws_mat_cap;
    double *ws_pts;  /* scaled points and norms of the kernel builders */
    size_t ws_pts_cap;
};

/* A buffer of at least `need` doubles (contents undefined); NULL with ERR_NOMEM on failure. */
static double *workspace(double **buf, size_t *cap, size_t need, const char *what)
{
    if (need > *cap) {
        double *p = mem_realloc(*buf, need, sizeof(double), what);
        if (!p)
            return NULL;
        *buf = p;
        *cap = need;
    }
    return *buf;
}

/* Matern-5/2 at squared scaled distance r2 with variance s: *k the kernel value, *g the factor
 * of its derivative with respect to a log lengthscale, dk/dlog l_k = g * (delta_k / l_k)^2. */
static inline void matern52(double r2, double s, double *k, double *g)
{
    double r = sqrt(r2);
    double e = exp(-SQRT5 * r);

    *k = s * (1.0 + SQRT5 * r + (5.0 / 3.0) * r2) * e;
    if (g)
        *g = s * (5.0 / 3.0) * (1.0 + SQRT5 * r) * e;
}

static int theta_ok(const double *theta, int d)
{
    /* exp() of anything beyond +-300 over- or underflows; such values are never sensible
     * hyperparameters and would only turn into NaN further down. */
    for (int k = 0; k < d + 3; k++)
        if (!isfinite(theta[k]) || fabs(theta[k]) > 300.0)
            return err_set(ERR_NUMERIC, "GP hyperparameter %d is %g (not finite or out of range)",
                           k, theta[k]);
    return 0;
}

gp_t *gp_new(int dims, gp_transform_t transform)
{
    gp_t *gp;

    if (dims < 1 || dims > GP_MAX_DIMS) {
        err_set(ERR_INVAL, "GP: %d input dimensions (expected 1..%d)", dims, GP_MAX_DIMS);
        return NULL;
    }
    if ((int)transform < 0 || transform > GP_TRANSFORM_COPULA) {
        err_set(ERR_INVAL, "GP: unknown output transform %d", (int)transform);
        return NULL;
    }
    gp = mem_alloc(1, sizeof *gp, "GP");
    if (!gp)
        return NULL;
    gp->d = dims;
    gp->tf = transform;
    gp->sd = 1.0;
    gp->slope = 1.0;
    return gp;
}

static void drop_components(gp_t *gp)
{
    mem_freep(&gp->theta);
    mem_freep(&gp->chol);
    mem_freep(&gp->beta);
    mem_freep(&gp->jitter);
    gp->ncomp = 0;
}

void gp_free(gp_t **gpp)
{
    gp_t *gp = gpp ? *gpp : NULL;

    if (!gp)
        return;
    drop_components(gp);
    free(gp->x);
    free(gp->y);
    free(gp->z);
    free(gp->cop_y);
    free(gp->cop_z);
    free(gp->ws_mat);
    free(gp->ws_pts);
    free(gp);
    *gpp = NULL;
}

int gp_dims(const gp_t *gp) { return gp->d; }
int gp_n(const gp_t *gp) { return gp->n; }
gp_transform_t gp_transform(const gp_t *gp) { return gp->tf; }
const double *gp_targets(const gp_t *gp) { return gp->z; }
const double *gp_inputs(const gp_t *gp) { return gp->x; }
int gp_ncomponents(const gp_t *gp) { return gp->ncomp; }

const double *gp_theta(const gp_t *gp, int comp)
{
    return gp->theta + (size_t)comp * gp_nparams(gp->d);
}

double gp_jitter(const gp_t *gp, int comp) { return gp->jitter[comp]; }

const char *gp_transform_name(gp_transform_t t)
{
    switch (t) {
    case GP_TRANSFORM_NONE: return "none";
    case GP_TRANSFORM_STANDARDISE: return "standardise";
    case GP_TRANSFORM_COPULA: return "copula";
    }
    return "?";
}

int gp_transform_parse(const char *text, gp_transform_t *out)
{
    if (!text)
        return err_set(ERR_INVAL, "output transform: missing");
    if (strcmp(text, "none") == 0)
        *out = GP_TRANSFORM_NONE;
    else if (strcmp(text, "standardise") == 0 || strcmp(text, "standardize") == 0)
        *out = GP_TRANSFORM_STANDARDISE;
    else if (strcmp(text, "copula") == 0)
        *out = GP_TRANSFORM_COPULA;
    else
        return err_set(ERR_INVAL, "output transform '%s': expected none, standardise or copula",
                       text);
    return 0;
}

/* ---- output transforms ------------------------------------------------------------------------ */

typedef struct {
    const double *y;
    int i;
} yref_t;

static int cmp_yref(const void *pa, const void *pb)
{
    const yref_t *a = pa, *b = pb;

    if (a->y[a->i] < b->y[b->i])
        return -1;
    if (a->y[a->i] > b->y[b->i])
        return 1;
    return (a->i > b->i) - (a->i < b->i);
}

static void moments(const double *y, int n, double *mu, double *sd)
{
    double m = 0.0, v = 0.0;

    for (int i = 0; i < n; i++)
        m += y[i];
    m /= n;
    for (int i = 0; i < n; i++)
        v += (y[i] - m) * (y[i] - m);
    v /= n;
    *mu = m;
    /* A constant target carries no scale: keep it unscaled rather than divide by zero. */
    *sd = v > 1e-300 ? sqrt(v) : 1.0;
}

static int copula_fit(gp_t *gp)
{
    int n = gp->n, m = 0, rc = 0;
    yref_t *ord = mem_alloc((size_t)n, sizeof *ord, "copula order");
    double cyz = 0.0, czz = 0.0, ymu, ysd;

    gp->cop_y = mem_alloc((size_t)n, sizeof(double), "copula y");
    gp->cop_z = mem_alloc((size_t)n, sizeof(double), "copula z");
    if (!ord || !gp->cop_y || !gp->cop_z) {
        rc = ERR_NOMEM;
        goto out;
    }
    for (int i = 0; i < n; i++)
        ord[i] = (yref_t){gp->y, i};
    qsort(ord, (size_t)n, sizeof *ord, cmp_yref);
    /* Tied values share their average rank; the ECDF value of rank r (1-based) is (r - 0.5)/n,
     * the mid-point rule, which keeps the extremes at finite quantiles without clamping. */
    for (int lo = 0; lo < n;) {
        int hi = lo;
        double yv = gp->y[ord[lo].i], zv;

        while (hi + 1 < n && gp->y[ord[hi + 1].i] == yv)
            hi++;
        zv = stat_norm_ppf((0.5 * (lo + hi) + 1.0 - 0.5) / n);
        for (int k = lo; k <= hi; k++)
            gp->z[ord[k].i] = zv;
        gp->cop_y[m] = yv;
        gp->cop_z[m] = zv;
        m++;
        lo = hi + 1;
    }
    gp->cop_m = m;
    /* Beyond the observed range the map continues with the least-squares slope of y on z. */
    moments(gp->y, n, &ymu, &ysd);
    for (int i = 0; i < n; i++) {
        cyz += (gp->y[i] - ymu) * gp->z[i];
        czz += gp->z[i] * gp->z[i];
    }
    gp->slope = (czz > 0.0 && cyz > 0.0) ? cyz / czz : ysd;
out:
    free(ord);
    return rc;
}

/* The copula's map between the observed pairs (from[i], to[i]), from increasing: linear
 * interpolation at from[0] < v < from[m - 1] (binary search for the interval). */
static double interpolate(const double *from, const double *to, int m, double v)
{
    int lo = 0, hi = m - 1;

    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (from[mid] <= v)
            lo = mid;
        else
            hi = mid;
    }
    return to[lo] + (to[hi] - to[lo]) * (v - from[lo]) / (from[hi] - from[lo]);
}

double gp_untransform(const gp_t *gp, double z)
{
    const double *cy = gp->cop_y, *cz = gp->cop_z;
    int m = gp->cop_m;

    switch (gp->tf) {
    case GP_TRANSFORM_NONE:
        return z;
    case GP_TRANSFORM_STANDARDISE:
        return gp->mu + gp->sd * z;
    case GP_TRANSFORM_COPULA:
        break;
    }
    if (m == 0)
        return z;
    if (z <= cz[0])
        return cy[0] + gp->slope * (z - cz[0]);
    if (z >= cz[m - 1])
        return cy[m - 1] + gp->slope * (z - cz[m - 1]);
    return interpolate(cz, cy, m, z);
}

double gp_transform_y(const gp_t *gp, double y)
{
    const double *cy = gp->cop_y, *cz = gp->cop_z;
    int m = gp->cop_m;

    switch (gp->tf) {
    case GP_TRANSFORM_NONE:
        return y;
    case GP_TRANSFORM_STANDARDISE:
        return (y - gp->mu) / gp->sd;
    case GP_TRANSFORM_COPULA:
        break;
    }
    if (m == 0)
        return y;
    if (y <= cy[0])
        return cz[0] + (y - cy[0]) / gp->slope;
    if (y >= cy[m - 1])
        return cz[m - 1] + (y - cy[m - 1]) / gp->slope;
    return interpolate(cy, cz, m, y);
}

int gp_set_data(gp_t *gp, const double *x, const double *y, int n)
{
    size_t nd = (size_t)n * (size_t)gp->d;
    int rc = 0;

    if (n < 1 || n > GP_MAX_POINTS)
        return err_set(ERR_INVAL, "GP: %d training points (expected 1..%d)", n, GP_MAX_POINTS);
    for (size_t i = 0; i < nd; i++)
        if (!isfinite(x[i]))
            return err_set(ERR_INVAL, "GP: input %zu of point %zu is not finite", i % gp->d,
                           i / gp->d);
    for (int i = 0; i < n; i++)
        if (!isfinite(y[i]))
            return err_set(ERR_INVAL, "GP: target of point %d is not finite", i);
    drop_components(gp);
    mem_freep(&gp->x);
    mem_freep(&gp->y);
    mem_freep(&gp->z);
    mem_freep(&gp->cop_y);
    mem_freep(&gp->cop_z);
    gp->cop_m = 0;
    gp->n = 0;
    gp->x = mem_alloc(nd, sizeof(double), "GP inputs");
    gp->y = mem_alloc((size_t)n, sizeof(double), "GP targets");
    gp->z = mem_alloc((size_t)n, sizeof(double), "GP targets");
    if (!gp->x || !gp->y || !gp->z)
        return ERR_NOMEM;
    memcpy(gp->x, x, nd * sizeof(double));
    memcpy(gp->y, y, (size_t)n * sizeof(double));
    gp->n = n;
    gp->mu = 0.0;
    gp->sd = 1.0;
    switch (gp->tf) {
    case GP_TRANSFORM_NONE:
        memcpy(gp->z, y, (size_t)n * sizeof(double));
        break;
    case GP_TRANSFORM_STANDARDISE:
        moments(y, n, &gp->mu, &gp->sd);
        for (int i = 0; i < n; i++)
            gp->z[i] = (y[i] - gp->mu) / gp->sd;
        break;
    case GP_TRANSFORM_COPULA:
        rc = copula_fit(gp);
        break;
    }
    return rc;
}

/* ---- linear algebra ---------------------------------------------------------------------------- */

int gp_cholesky(double *a, const double *orig, int n, double *jitter_out)
{
    size_t nn = (size_t)n * (size_t)n;
    double mean_diag = 0.0, jit = 0.0;
    lapack_int info;

    for (int i = 0; i < n; i++)
        mean_diag += orig[(size_t)i * n + i];
    mean_diag = mean_diag > 0.0 ? mean_diag / n : 1.0;
    for (int attempt = 0; attempt < 8; attempt++) {
        /* Jitter 0, then 1e-8 .. 1e-2 of the mean diagonal. */
        if (attempt > 0)
            jit = mean_diag * pow(10.0, attempt - 9);
        memcpy(a, orig, nn * sizeof(double));
        if (jit > 0.0)
            for (int i = 0; i < n; i++)
                a[(size_t)i * n + i] += jit;
        info = LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'L', n, a, n);
        if (info == 0) {
            if (jitter_out)
                *jitter_out = jit;
            return 0;
        }
        if (info < 0)
            return err_set(ERR_INTERNAL, "dpotrf: argument %d invalid", (int)-info);
    }
    return err_set(ERR_NUMERIC,
                   "GP: kernel matrix (%d x %d) is not positive definite even with jitter %.3g",
                   n, n, jit);
}

/* Scaled copies of points (row-major, x_k / l_k) and their squared norms. */
static void scale_points(const double *x, int m, int d, const double *invl, double *xs,
                         double *norm)
{
    for (int i = 0; i < m; i++) {
        double q = 0.0;
        for (int k = 0; k < d; k++) {
            double t = x[(size_t)i * d + k] * invl[k];
            xs[(size_t)i * d + k] = t;
            q += t * t;
        }
        norm[i] = q;
    }
}

/* Work space of the kernel builders: scaled points and norms for `points` points. */
typedef struct {
    double *xs, *norm;
} kwork_t;

static int kwork_init(gp_t *gp, kwork_t *w, size_t points)
{
    size_t need;
    double *p;

    if (!mem_mul(points, (size_t)gp->d + 1, &need))
        return err_set(ERR_NOMEM, "GP: %zu points overflow the work space", points);
    p = workspace(&gp->ws_pts, &gp->ws_pts_cap, need, "GP scaled inputs");
    if (!p)
        return ERR_NOMEM;
    w->xs = p;
    w->norm = p + points * (size_t)gp->d;
    return 0;
}

/* K(X, X) + noise I in the lower triangle of kk (column-major); g (may be NULL) gets the
 * lengthscale-derivative factors of matern52 for the same pairs. Squared distances come from
 * the Gram matrix of the scaled inputs (|a|^2 + |b|^2 - 2 a.b, one dsyrk): rounding then
 * perturbs r^2 by ~1e-16 |a|^2, harmless because the kernel is flat (1 - 5/6 r^2) near 0. */
static void train_kernel(gp_t *gp, const double *theta, kwork_t *w, double *kk, double *g)
{
    int n = gp->n, d = gp->d;
    double s = exp(theta[GP_TH_SCALE(d)]), noise = exp(theta[GP_TH_NOISE(d)]);
    double invl[GP_MAX_DIMS];

    for (int k = 0; k < d; k++)
        invl[k] = exp(-theta[k]);
    scale_points(gp->x, n, d, invl, w->xs, w->norm);
    cblas_dsyrk(CblasColMajor, CblasLower, CblasTrans, n, d, -2.0, w->xs, d, 0.0, kk, n);
    for (int j = 0; j < n; j++) {
        kk[(size_t)j * n + j] = s + noise;
        if (g)
            g[(size_t)j * n + j] = 0.0;
        for (int i = j + 1; i < n; i++) {
            size_t ij = (size_t)j * n + i;
            double r2 = kk[ij] + w->norm[i] + w->norm[j];
            matern52(r2 > 0.0 ? r2 : 0.0, s, &kk[ij], g ? &g[ij] : NULL);
        }
    }
}

/* gp_lml's work space, carved from ws_mat: the kernel matrix k0 and its factor a (n x n
 * each), the lengthscale-derivative factors g (n x n, only with the gradient), alpha (n),
 * mx = M X (n x d) and the row sums of M (n), M as in lml_gradient. */
typedef struct {
    double *k0, *a, *g, *alpha, *mx, *rs;
} lml_work_t;

static int lml_work(gp_t *gp, bool with_grad, lml_work_t *w, kwork_t *kw)
{
    int n = gp->n, d = gp->d;
    size_t nn = (size_t)n * (size_t)n;
    /* n <= GP_MAX_POINTS and d <= GP_MAX_DIMS: these sizes cannot overflow. */
    double *ws = workspace(&gp->ws_mat, &gp->ws_mat_cap, 3 * nn + (size_t)n * (d + 2),
                           "GP kernel");

    if (!ws || kwork_init(gp, kw, (size_t)n) != 0)
        return ERR_NOMEM;
    w->k0 = ws;
    w->a = w->k0 + nn;
    w->g = with_grad ? w->a + nn : NULL;
    w->alpha = w->a + 2 * nn;
    w->mx = w->alpha + n;
    w->rs = w->mx + (size_t)n * d;
    return 0;
}

/* -1/2 (z - c)^T K^-1 (z - c) - 1/2 log det K - n/2 log 2 pi from the kernel matrix w->k0:
 * leaves its Cholesky factor in w->a and alpha = K^-1 (z - c) in w->alpha. */
static int lml_value(gp_t *gp, double c, lml_work_t *w, double *lml)
{
    int n = gp->n, rc = gp_cholesky(w->a, w->k0, n, NULL);
    double quad = 0.0, logdet = 0.0;

    if (rc)
        return rc;
    for (int i = 0; i < n; i++) {
        w->alpha[i] = gp->z[i] - c;
        logdet += 2.0 * log(w->a[(size_t)i * n + i]);
    }
    LAPACKE_dpotrs_work(LAPACK_COL_MAJOR, 'L', n, 1, w->a, n, w->alpha, n);
    for (int i = 0; i < n; i++)
        quad += (gp->z[i] - c) * w->alpha[i];
    *lml = -0.5 * quad - 0.5 * logdet - 0.5 * n * STAT_LOG_2PI;
    if (!isfinite(*lml))
        return err_set(ERR_NUMERIC, "GP: log marginal likelihood is not finite");
    return 0;
}

/* The log lengthscales' part of the gradient, from M_ij = W_ij g_ij (in w->g, both triangles):
 *   1/2 sum_ij M_ij (x_ik - x_jk)^2 = sum_i (sum_j M_ij) x_ik^2 - (X^T M X)_kk,
 * one matrix product instead of a loop over pairs and dimensions. */
static void lengthscale_gradient(gp_t *gp, const double *theta, lml_work_t *w, double *grad)
{
    int n = gp->n, d = gp->d;

    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, n, d, n, 1.0, w->g, n, gp->x, d, 0.0,
                w->mx, n);
    for (int i = 0; i < n; i++) {
        double t = 0.0;
        for (int j = 0; j < n; j++)
            t += w->g[(size_t)j * n + i];
        w->rs[i] = t;
    }
    for (int k = 0; k < d; k++) {
        double t = 0.0;
        for (int i = 0; i < n; i++) {
            double xik = gp->x[(size_t)i * d + k];
            t += w->rs[i] * xik * xik - xik * w->mx[(size_t)k * n + i];
        }
        grad[k] = t * exp(-2.0 * theta[k]);
    }
}

/* dLML/dtheta = 1/2 tr(W dK/dtheta) with W = alpha alpha^T - K^-1, after lml_value. For a log
 * lengthscale, dK_ij = g_ij (x_ik - x_jk)^2 / l_k^2 (lengthscale_gradient); the outputscale,
 * noise and mean parts are sums over W's entries. */
static int lml_gradient(gp_t *gp, const double *theta, lml_work_t *w, double *grad)
{
    int n = gp->n, d = gp->d;
    double s = exp(theta[GP_TH_SCALE(d)]), noise = exp(theta[GP_TH_NOISE(d)]);
    double gs = 0.0, gn = 0.0, ga = 0.0, *a = w->a, *g = w->g, *alpha = w->alpha;

    if (LAPACKE_dpotri_work(LAPACK_COL_MAJOR, 'L', n, a, n) != 0)
        return err_set(ERR_NUMERIC, "GP: kernel matrix inverse failed");
    for (int j = 0; j < n; j++) {
        double wd = 0.5 * (alpha[j] * alpha[j] - a[(size_t)j * n + j]);

        gs += wd * s;
        gn += wd * noise;
        ga += alpha[j];
        g[(size_t)j * n + j] = 0.0;
        for (int i = j + 1; i < n; i++) {
            size_t ij = (size_t)j * n + i;
            double wij = alpha[i] * alpha[j] - a[ij];

            gs += wij * w->k0[ij];
            g[ij] *= wij;
            g[(size_t)i * n + j] = g[ij];
        }
    }
    lengthscale_gradient(gp, theta, w, grad);
    grad[GP_TH_SCALE(d)] = gs;
    grad[GP_TH_NOISE(d)] = gn;
    grad[GP_TH_MEAN(d)] = ga;
    return 0;
}

int gp_lml(gp_t *gp, const double *theta, double *lml, double *grad)
{
    lml_work_t w;
    kwork_t kw = {0};
    int rc;

    if (gp->n < 1)
        return err_set(ERR_STATE, "GP: no training data");
    rc = theta_ok(theta, gp->d);
    if (rc)
        return rc;
    rc = lml_work(gp, grad != NULL, &w, &kw);
    if (rc)
        return rc;
    train_kernel(gp, theta, &kw, w.k0, w.g);
    rc = lml_value(gp, theta[GP_TH_MEAN(gp->d)], &w, lml);
    if (rc)
        return rc;
    return grad ? lml_gradient(gp, theta, &w, grad) : 0;
}

int gp_set_theta(gp_t *gp, const double *theta, int ncomp)
{
    int n = gp->n, d = gp->d, p = gp_nparams(d), rc = 0;
    size_t nn = (size_t)n * (size_t)n, total;
    double *k0 = NULL;
    kwork_t w = {0};

    if (n < 1)
        return err_set(ERR_STATE, "GP: hyperparameters set before the training data");
    if (ncomp < 1 || ncomp > GP_MAX_COMPONENTS)
        return err_set(ERR_INVAL, "GP: %d hyperparameter samples (expected 1..%d)", ncomp,
                       GP_MAX_COMPONENTS);
    for (int m = 0; m < ncomp; m++) {
        rc = theta_ok(theta + (size_t)m * p, d);
        if (rc)
            return rc;
    }
    if (!mem_mul(nn, (size_t)ncomp, &total))
        return err_set(ERR_NOMEM, "GP: %d factors of %d x %d overflow", ncomp, n, n);
    drop_components(gp);
    gp->theta = mem_alloc((size_t)ncomp * p, sizeof(double), "GP hyperparameters");
    gp->chol = mem_alloc(total, sizeof(double), "GP factors");
    gp->beta = mem_alloc((size_t)ncomp * n, sizeof(double), "GP weights");
    gp->jitter = mem_alloc((size_t)ncomp, sizeof(double), "GP jitter");
    k0 = workspace(&gp->ws_mat, &gp->ws_mat_cap, nn, "GP kernel");
    if (kwork_init(gp, &w, (size_t)n) != 0 || !gp->theta || !gp->chol || !gp->beta ||
        !gp->jitter || !k0) {
        rc = ERR_NOMEM;
        goto out;
    }
    memcpy(gp->theta, theta, (size_t)ncomp * p * sizeof(double));
    for (int m = 0; m < ncomp; m++) {
        const double *th = gp->theta + (size_t)m * p;
        double *l = gp->chol + (size_t)m * nn, *beta = gp->beta + (size_t)m * n;

        train_kernel(gp, th, &w, k0, NULL);
        rc = gp_cholesky(l, k0, n, &gp->jitter[m]);
        if (rc)
            goto out;
        for (int i = 0; i < n; i++)
            beta[i] = gp->z[i] - th[GP_TH_MEAN(d)];
        cblas_dtrsv(CblasColMajor, CblasLower, CblasNoTrans, CblasNonUnit, n, l, n, beta, 1);
    }
    gp->ncomp = ncomp;
out:
    if (rc)
        drop_components(gp);
    return rc;
}

/* ---- prediction -------------------------------------------------------------------------------- */

int gp_kernel(gp_t *gp, int comp, const double *a, int na, const double *b, int nb,
              double *out)
{
    int d = gp->d;
    const double *th = gp_theta(gp, comp);
    double s = exp(th[GP_TH_SCALE(d)]);
    double invl[GP_MAX_DIMS];
    kwork_t w = {0};

    if (na < 1 || nb < 1)
        return 0;
    if (kwork_init(gp, &w, (size_t)na + (size_t)nb) != 0)
        return ERR_NOMEM;
    for (int k = 0; k < d; k++)
        invl[k] = exp(-th[k]);
    scale_points(a, na, d, invl, w.xs, w.norm);
    scale_points(b, nb, d, invl, w.xs + (size_t)na * d, w.norm + na);
    /* Squared distances from the cross Gram matrix, as in train_kernel. */
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, na, nb, d, -2.0, w.xs, d,
                w.xs + (size_t)na * d, d, 0.0, out, na);
    for (int j = 0; j < nb; j++)
        for (int i = 0; i < na; i++) {
            size_t ij = (size_t)j * na + i;
            double r2 = out[ij] + w.norm[i] + w.norm[na + j];
            matern52(r2 > 0.0 ? r2 : 0.0, s, &out[ij], NULL);
        }
    return 0;
}

int gp_component_solve(gp_t *gp, int comp, const double *a, int m, double *v,
                       double *mean, double *var)
{
    int n = gp->n, d = gp->d;
    const double *th, *l, *beta;
    double *own = NULL;

    if (comp < 0 || comp >= gp->ncomp)
        return err_set(ERR_STATE, "GP: component %d of %d", comp, gp->ncomp);
    if (m < 1)
        return 0;
    th = gp_theta(gp, comp);
    l = gp->chol + (size_t)comp * n * n;
    beta = gp->beta + (size_t)comp * n;
    if (!v) {
        own = v = mem_alloc((size_t)n * m, sizeof(double), "GP cross kernel");
        if (!v)
            return ERR_NOMEM;
    }
    if (gp_kernel(gp, comp, gp->x, n, a, m, v) != 0) {
        free(own);
        return ERR_NOMEM;
    }
    cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, n, m, 1.0, l,
                n, v, n);
    for (int j = 0; j < m; j++) {
        const double *vj = v + (size_t)j * n;
        if (mean)
            mean[j] = th[GP_TH_MEAN(d)] + cblas_ddot(n, vj, 1, beta, 1);
        if (var) {
            double t = exp(th[GP_TH_SCALE(d)]) - cblas_ddot(n, vj, 1, vj, 1);
            var[j] = t > 0.0 ? t : 0.0;
        }
    }
    free(own);
    return 0;
}

int gp_predict(gp_t *gp, const double *a, int m, double *mean, double *var)
{
    enum { CHUNK = 256 };
    int n = gp->n, d = gp->d, rc = 0, k = gp->ncomp;
    double *v = NULL, *cm = NULL, *cv = NULL;

    if (k < 1)
        return err_set(ERR_STATE, "GP: predict before hyperparameters were set");
    v = mem_alloc((size_t)n * CHUNK, sizeof(double), "GP cross kernel");
    cm = mem_alloc(CHUNK, sizeof(double), "GP means");
    cv = mem_alloc(CHUNK, sizeof(double), "GP variances");
    if (!v || !cm || !cv) {
        rc = ERR_NOMEM;
        goto out;
    }
    for (int j0 = 0; j0 < m; j0 += CHUNK) {
        int mm = m - j0 < CHUNK ? m - j0 : CHUNK;
        double s1[CHUNK] = {0}, s2[CHUNK] = {0};

        for (int c = 0; c < k; c++) {
            rc = gp_component_solve(gp, c, a + (size_t)j0 * d, mm, v, cm, cv);
            if (rc)
                goto out;
            for (int j = 0; j < mm; j++) {
                s1[j] += cm[j];
                s2[j] += cv[j] + cm[j] * cm[j];
            }
        }
        /* Mixture moments: E[f] = mean of the means, Var[f] = E[var + mean^2] - E[f]^2. */
        for (int j = 0; j < mm; j++) {
            double mu = s1[j] / k, vv = s2[j] / k - mu * mu;
            if (k == 1)
                vv = cv[j];
            if (mean)
                mean[j0 + j] = mu;
            if (var)
                var[j0 + j] = vv > 0.0 ? vv : 0.0;
        }
    }
out:
    free(v);
    free(cm);
    free(cv);
    return rc;
}

int gp_sample(gp_t *gp, const double *a, int m, int nsamples, rng_t *rng, double *out)
{
    int n = gp->n, rc = 0, k = gp->ncomp;
    size_t mm = (size_t)m * (size_t)m;
    double *v = NULL, *mu = NULL, *cov = NULL, *l = NULL, *z = NULL;

    if (k < 1)
        return err_set(ERR_STATE, "GP: sample before hyperparameters were set");
    if (m < 1 || nsamples < 1)
        return 0;
    if (m > GP_MAX_POINTS)
        return err_set(ERR_RANGE, "GP: joint sample over %d points (at most %d)", m,
                       GP_MAX_POINTS);
    v = mem_alloc((size_t)n * m, sizeof(double), "GP cross kernel");
    mu = mem_alloc((size_t)m, sizeof(double), "GP means");
    cov = mem_alloc(mm, sizeof(double), "GP covariance");
    l = mem_alloc(mm, sizeof(double), "GP covariance factor");
    z = mem_alloc((size_t)m, sizeof(double), "GP normals");
    if (!v || !mu || !cov || !l || !z) {
        rc = ERR_NOMEM;
        goto out;
    }
    for (int c = 0; c < k && c < nsamples; c++) {
        rc = gp_component_solve(gp, c, a, m, v, mu, NULL);
        if (rc)
            goto out;
        /* Posterior covariance K(a, a) - V^T V, lower triangle. */
        rc = gp_kernel(gp, c, a, m, a, m, cov);
        if (rc)
            goto out;
        cblas_dsyrk(CblasColMajor, CblasLower, CblasTrans, m, n, -1.0, v, n, 1.0, cov, m);
        rc = gp_cholesky(l, cov, m, NULL);
        if (rc)
            goto out;
        for (int s = c; s < nsamples; s += k) {
            double *row = out + (size_t)s * m;
            for (int j = 0; j < m; j++)
                z[j] = rng_normal(rng);
            memcpy(row, mu, (size_t)m * sizeof(double));
            for (int j = 0; j < m; j++)
                for (int i = j; i < m; i++)
                    row[i] += l[(size_t)j * m + i] * z[j];
        }
    }
out:
    free(v);
    free(mu);
    free(cov);
    free(l);
    free(z);
    return rc;
}
