/* L-BFGS: see lbfgs.h. */
#include "coordinator/search/lbfgs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mem.h"

#define C1 1e-4  /* sufficient decrease (Armijo) */
#define C2 0.9   /* curvature: 0.9 is the usual choice for quasi-Newton directions */
#define LS_MAX 30

void lbfgs_opts_default(lbfgs_opts_t *o)
{
    o->history = 10;
    o->max_iter = 200;
    o->max_evals = 1000;
    o->gtol = 1e-5;
    o->ftol = 1e-10;
}

typedef struct {
    int n;
    lbfgs_fn fn;
    void *ctx;
    const double *x0, *p;
    double *xt, *gt;  /* the last trial point and its gradient */
    int evals;
} line_t;

static double dot(const double *a, const double *b, int n)
{
    double s = 0.0;

    for (int i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* phi(a) = f(x0 + a p) and phi'(a); false when the objective refused the point. */
static bool eval_at(line_t *ls, double a, double *f, double *d)
{
    for (int i = 0; i < ls->n; i++)
        ls->xt[i] = ls->x0[i] + a * ls->p[i];
    ls->evals++;
    if (ls->fn(ls->ctx, ls->xt, f, ls->gt) != 0 || !isfinite(*f)) {
        *f = INFINITY;
        return false;
    }
    *d = dot(ls->gt, ls->p, ls->n);
    if (!isfinite(*d)) {
        *f = INFINITY;
        return false;
    }
    return true;
}

/* Minimiser of the cubic through (a0, f0, d0) and (a1, f1, d1), kept inside the middle 80% of
 * the interval; bisection when the cubic has no usable minimiser. */
static double cubic_step(double a0, double f0, double d0, double a1, double f1, double d1)
{
    double lo = fmin(a0, a1), hi = fmax(a0, a1), w = hi - lo, a;
    double t = d0 + d1 - 3.0 * (f0 - f1) / (a0 - a1);
    double rad = t * t - d0 * d1;

    if (!isfinite(f1) || !isfinite(f0) || rad < 0.0)
        return 0.5 * (a0 + a1);
    rad = (a1 > a0 ? 1.0 : -1.0) * sqrt(rad);
    a = a1 - (a1 - a0) * (d1 + rad - t) / (d1 - d0 + 2.0 * rad);
    if (!isfinite(a) || a < lo + 0.1 * w || a > hi - 0.1 * w)
        return 0.5 * (a0 + a1);
    return a;
}

/* Strong-Wolfe line search. On success ls->xt / ls->gt hold the accepted point and *fa its value. */
static bool line_search(line_t *ls, double f0, double d0, double a, int max_evals, double *fa)
{
    double a_prev = 0.0, f_prev = f0, d_prev = d0, f, d;
    double lo, f_lo, d_lo, hi, f_hi, d_hi;
    bool ok;

    for (int i = 0; i < LS_MAX; i++) {
        if (ls->evals >= max_evals)
            return false;
        ok = eval_at(ls, a, &f, &d);
        if (!ok || f > f0 + C1 * a * d0 || (i > 0 && f >= f_prev)) {
            lo = a_prev, f_lo = f_prev, d_lo = d_prev;
            hi = a, f_hi = f, d_hi = ok ? d : 0.0;
            goto zoom;
        }
        if (fabs(d) <= -C2 * d0) {
            *fa = f;
            return true;
        }
        if (d >= 0.0) {
            lo = a, f_lo = f, d_lo = d;
            hi = a_prev, f_hi = f_prev, d_hi = d_prev;
            goto zoom;
        }
        a_prev = a, f_prev = f, d_prev = d;
        a *= 2.0;
    }
    return false;

zoom:
    for (int i = 0; i < LS_MAX && ls->evals < max_evals; i++) {
        a = cubic_step(lo, f_lo, d_lo, hi, f_hi, d_hi);
        if (fabs(hi - lo) < 1e-16 * fmax(1.0, fabs(lo)))
            break;
        ok = eval_at(ls, a, &f, &d);
        if (!ok || f > f0 + C1 * a * d0 || f >= f_lo) {
            hi = a, f_hi = f, d_hi = ok ? d : 0.0;
            continue;
        }
        if (fabs(d) <= -C2 * d0) {
            *fa = f;
            return true;
        }
        if (d * (hi - lo) >= 0.0)
            hi = lo, f_hi = f_lo, d_hi = d_lo;
        lo = a, f_lo = f, d_lo = d;
    }
    /* No strong-Wolfe point, but lo (when it moved) satisfies sufficient decrease: take it. */
    if (lo > 0.0 && f_lo < f0 && ls->evals < max_evals && eval_at(ls, lo, &f, &d)) {
        *fa = f;
        return true;
    }
    return false;
}

int lbfgs_minimize(int n, double *x, lbfgs_fn fn, void *ctx, const lbfgs_opts_t *o,
                   lbfgs_result_t *res)
{
    lbfgs_opts_t def;
    int m, rc = 0, count = 0, head = 0, iter = 0;
    double *g = NULL, *p = NULL, *xt = NULL, *gt = NULL, *s = NULL, *y = NULL, *rho = NULL;
    double *alpha = NULL, f;
    line_t ls = {0};
    lbfgs_stop_t stop = LBFGS_MAX_ITER;

    if (!o) {
        lbfgs_opts_default(&def);
        o = &def;
    }
    if (n < 1 || o->history < 1 || o->history > 1000 || o->max_iter < 0 || o->max_evals < 1)
        return err_set(ERR_INVAL, "L-BFGS: bad size or options (n %d, history %d)", n,
                       o->history);
    m = o->history;
    g = mem_alloc((size_t)n, sizeof(double), "L-BFGS");
    p = mem_alloc((size_t)n, sizeof(double), "L-BFGS");
    xt = mem_alloc((size_t)n, sizeof(double), "L-BFGS");
    gt = mem_alloc((size_t)n, sizeof(double), "L-BFGS");
    s = mem_alloc((size_t)m * n, sizeof(double), "L-BFGS history");
    y = mem_alloc((size_t)m * n, sizeof(double), "L-BFGS history");
    rho = mem_alloc((size_t)m, sizeof(double), "L-BFGS history");
    alpha = mem_alloc((size_t)m, sizeof(double), "L-BFGS history");
    if (!g || !p || !xt || !gt || !s || !y || !rho || !alpha) {
        rc = ERR_NOMEM;
        goto out;
    }
    ls = (line_t){.n = n, .fn = fn, .ctx = ctx, .x0 = x, .p = p, .xt = xt, .gt = gt};
    ls.evals = 1;
    if (fn(ctx, x, &f, g) != 0 || !isfinite(f) || !isfinite(dot(g, g, n))) {
        rc = err_set(ERR_NUMERIC, "L-BFGS: objective refused the starting point");
        goto out;
    }
    for (;;) {
        double gmax = 0.0, d0, step, fnew, sy, yy, fold;

        for (int i = 0; i < n; i++)
            gmax = fmax(gmax, fabs(g[i]));
        if (gmax <= o->gtol) {
            stop = LBFGS_CONVERGED_GRAD;
            break;
        }
        if (iter >= o->max_iter) {
            stop = LBFGS_MAX_ITER;
            break;
        }
        if (ls.evals >= o->max_evals) {
            stop = LBFGS_MAX_EVALS;
            break;
        }
        /* Two-loop recursion: p = -H g, newest pair first, H0 = (s.y / y.y) I. */
        for (int i = 0; i < n; i++)
            p[i] = -g[i];
        for (int k = 0; k < count; k++) {
            int j = (head - 1 - k + m) % m;
            alpha[j] = rho[j] * dot(s + (size_t)j * n, p, n);
            for (int i = 0; i < n; i++)
                p[i] -= alpha[j] * y[(size_t)j * n + i];
        }
        if (count > 0) {
            int j = (head - 1 + m) % m;
            double gamma = dot(s + (size_t)j * n, y + (size_t)j * n, n) /
                           dot(y + (size_t)j * n, y + (size_t)j * n, n);
            for (int i = 0; i < n; i++)
                p[i] *= gamma;
        }
        for (int k = count - 1; k >= 0; k--) {
            int j = (head - 1 - k + m) % m;
            double b = rho[j] * dot(y + (size_t)j * n, p, n);
            for (int i = 0; i < n; i++)
                p[i] += (alpha[j] - b) * s[(size_t)j * n + i];
        }
        d0 = dot(g, p, n);
        if (!(d0 < 0.0)) {
            /* Not a descent direction (rounding in the history): restart from steepest descent. */
            count = 0;
            for (int i = 0; i < n; i++)
                p[i] = -g[i];
            d0 = dot(g, p, n);
        }
        step = count == 0 ? fmin(1.0, 1.0 / sqrt(-d0)) : 1.0;
        if (!line_search(&ls, f, d0, step, o->max_evals, &fnew)) {
            stop = ls.evals >= o->max_evals ? LBFGS_MAX_EVALS : LBFGS_LINE_SEARCH;
            break;
        }
        /* Store the pair (s, y) unless its curvature is not safely positive. */
        sy = yy = 0.0;
        for (int i = 0; i < n; i++) {
            double si = xt[i] - x[i], yi = gt[i] - g[i];
            s[(size_t)head * n + i] = si;
            y[(size_t)head * n + i] = yi;
            sy += si * yi;
            yy += yi * yi;
        }
        if (sy > 1e-12 * yy && yy > 0.0) {
            rho[head] = 1.0 / sy;
            head = (head + 1) % m;
            if (count < m)
                count++;
        }
        fold = f;
        memcpy(x, xt, (size_t)n * sizeof(double));
        memcpy(g, gt, (size_t)n * sizeof(double));
        f = fnew;
        iter++;
        if (fold - f <= o->ftol * fmax(fabs(f), 1.0)) {
            stop = LBFGS_CONVERGED_F;
            break;
        }
    }
out:
    if (res && rc == 0)
        *res = (lbfgs_result_t){.f = f, .iters = iter, .evals = ls.evals, .stop = stop};
    free(g);
    free(p);
    free(xt);
    free(gt);
    free(s);
    free(y);
    free(rho);
    free(alpha);
    return rc;
}
