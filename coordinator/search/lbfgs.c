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
    int evals, max_evals;
} line_t;

/* A point of the line search: the step a, phi(a) = f(x0 + a p) and phi'(a). */
typedef struct {
    double a, f, d;
} probe_t;

static double dot(const double *a, const double *b, int n)
{
    double s = 0.0;

    for (int i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* phi(a) and phi'(a); false when the objective refused the point (f is then +infinity). */
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

/* Minimiser of the cubic through p0 and p1, kept inside the middle 80% of the interval;
 * bisection when the cubic has no usable minimiser. */
static double cubic_step(probe_t p0, probe_t p1)
{
    double a0 = p0.a, f0 = p0.f, d0 = p0.d, a1 = p1.a, f1 = p1.f, d1 = p1.d;
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

/* Whether value f at step a fails the sufficient-decrease (Armijo) condition. */
static bool above_armijo(probe_t at0, double a, double f)
{
    return f > at0.f + C1 * a * at0.d;
}

/* The strong curvature condition: |phi'(a)| <= c2 |phi'(0)|. */
static bool curvature_ok(probe_t at0, double d)
{
    return fabs(d) <= -C2 * at0.d;
}

/* Zoom (algorithm 3.6): the interval between lo (sufficient decrease, the lower value) and hi
 * holds a strong-Wolfe step; narrow it by cubic interpolation until a trial point is one. */
static bool zoom(line_t *ls, probe_t at0, probe_t lo, probe_t hi, double *fa)
{
    double a, f, d;
    bool ok;

    for (int i = 0; i < LS_MAX && ls->evals < ls->max_evals; i++) {
        a = cubic_step(lo, hi);
        if (fabs(hi.a - lo.a) < 1e-16 * fmax(1.0, fabs(lo.a)))
            break;
        ok = eval_at(ls, a, &f, &d);
        if (!ok || above_armijo(at0, a, f) || f >= lo.f) {
            hi = (probe_t){a, f, ok ? d : 0.0};
            continue;
        }
        if (curvature_ok(at0, d)) {
            *fa = f;
            return true;
        }
        if (d * (hi.a - lo.a) >= 0.0)
            hi = lo;
        lo = (probe_t){a, f, d};
    }
    /* No strong-Wolfe point, but lo (when it moved) satisfies sufficient decrease: take it. */
    if (lo.a > 0.0 && lo.f < at0.f && ls->evals < ls->max_evals && eval_at(ls, lo.a, &f, &d)) {
        *fa = f;
        return true;
    }
    return false;
}

/* Strong-Wolfe line search (algorithm 3.5) from at0 (step 0) with first trial step a: the
 * step doubles until it brackets an acceptable one, which zoom then finds. On success ls->xt /
 * ls->gt hold the accepted point and *fa its value. */
static bool line_search(line_t *ls, probe_t at0, double a, double *fa)
{
    probe_t prev = at0;
    double f, d;
    bool ok;

    for (int i = 0; i < LS_MAX; i++) {
        if (ls->evals >= ls->max_evals)
            return false;
        ok = eval_at(ls, a, &f, &d);
        if (!ok || above_armijo(at0, a, f) || (i > 0 && f >= prev.f))
            return zoom(ls, at0, prev, (probe_t){a, f, ok ? d : 0.0}, fa);
        if (curvature_ok(at0, d)) {
            *fa = f;
            return true;
        }
        if (d >= 0.0)
            return zoom(ls, at0, (probe_t){a, f, d}, prev, fa);
        prev = (probe_t){a, f, d};
        a *= 2.0;
    }
    return false;
}

/* The correction pairs (s_k, y_k) = (x_k+1 - x_k, g_k+1 - g_k) of the last m iterations, in a
 * ring: the newest at head - 1. */
typedef struct {
    int n, m, count, head;
    double *s, *y;       /* m x n */
    double *rho, *alpha; /* m: 1 / (s.y), and the two-loop recursion's coefficients */
} history_t;

static int history_init(history_t *h, int n, int m)
{
    *h = (history_t){.n = n, .m = m};
    h->s = mem_alloc((size_t)m * n, sizeof(double), "L-BFGS history");
    h->y = mem_alloc((size_t)m * n, sizeof(double), "L-BFGS history");
    h->rho = mem_alloc((size_t)m, sizeof(double), "L-BFGS history");
    h->alpha = mem_alloc((size_t)m, sizeof(double), "L-BFGS history");
    return h->s && h->y && h->rho && h->alpha ? 0 : ERR_NOMEM;
}

static void history_free(history_t *h)
{
    free(h->s);
    free(h->y);
    free(h->rho);
    free(h->alpha);
}

/* The two-loop recursion (algorithm 7.4): p = -H g, newest pair first, H0 = (s.y / y.y) I. */
static void two_loop(history_t *h, const double *g, double *p)
{
    int n = h->n, m = h->m;
    const double *s = h->s, *y = h->y;

    for (int i = 0; i < n; i++)
        p[i] = -g[i];
    for (int k = 0; k < h->count; k++) {
        int j = (h->head - 1 - k + m) % m;
        h->alpha[j] = h->rho[j] * dot(s + (size_t)j * n, p, n);
        for (int i = 0; i < n; i++)
            p[i] -= h->alpha[j] * y[(size_t)j * n + i];
    }
    if (h->count > 0) {
        int j = (h->head - 1 + m) % m;
        double gamma = dot(s + (size_t)j * n, y + (size_t)j * n, n) /
                       dot(y + (size_t)j * n, y + (size_t)j * n, n);
        for (int i = 0; i < n; i++)
            p[i] *= gamma;
    }
    for (int k = h->count - 1; k >= 0; k--) {
        int j = (h->head - 1 - k + m) % m;
        double b = h->rho[j] * dot(y + (size_t)j * n, p, n);
        for (int i = 0; i < n; i++)
            p[i] += (h->alpha[j] - b) * s[(size_t)j * n + i];
    }
}

/* The search direction p and the slope g.p along it. */
static double search_direction(history_t *h, const double *g, double *p)
{
    double d0;

    two_loop(h, g, p);
    d0 = dot(g, p, h->n);
    if (!(d0 < 0.0)) {
        /* Not a descent direction (rounding in the history): restart from steepest descent. */
        h->count = 0;
        for (int i = 0; i < h->n; i++)
            p[i] = -g[i];
        d0 = dot(g, p, h->n);
    }
    return d0;
}

/* Stores the step from (x, g) to (xt, gt) unless its curvature is not safely positive. */
static void history_push(history_t *h, const double *x, const double *g, const double *xt,
                         const double *gt)
{
    int n = h->n;
    double *s = h->s + (size_t)h->head * n, *y = h->y + (size_t)h->head * n, sy = 0.0, yy = 0.0;

    for (int i = 0; i < n; i++) {
        double si = xt[i] - x[i], yi = gt[i] - g[i];
        s[i] = si;
        y[i] = yi;
        sy += si * yi;
        yy += yi * yi;
    }
    if (sy > 1e-12 * yy && yy > 0.0) {
        h->rho[h->head] = 1.0 / sy;
        h->head = (h->head + 1) % h->m;
        if (h->count < h->m)
            h->count++;
    }
}

/* Whether the iteration should stop before another step, and why. */
static bool should_stop(const lbfgs_opts_t *o, const double *g, int n, int iter, int evals,
                        lbfgs_stop_t *stop)
{
    double gmax = 0.0;

    for (int i = 0; i < n; i++)
        gmax = fmax(gmax, fabs(g[i]));
    if (gmax <= o->gtol)
        *stop = LBFGS_CONVERGED_GRAD;
    else if (iter >= o->max_iter)
        *stop = LBFGS_MAX_ITER;
    else if (evals >= o->max_evals)
        *stop = LBFGS_MAX_EVALS;
    else
        return false;
    return true;
}

int lbfgs_minimize(int n, double *x, lbfgs_fn fn, void *ctx, const lbfgs_opts_t *o,
                   lbfgs_result_t *res)
{
    lbfgs_opts_t def;
    int rc = 0, iter = 0;
    double *g = NULL, *p = NULL, *xt = NULL, *gt = NULL, f;
    history_t h = {0};
    line_t ls = {0};
    lbfgs_stop_t stop = LBFGS_MAX_ITER;

    if (!o) {
        lbfgs_opts_default(&def);
        o = &def;
    }
    if (n < 1 || o->history < 1 || o->history > 1000 || o->max_iter < 0 || o->max_evals < 1)
        return err_set(ERR_INVAL, "L-BFGS: bad size or options (n %d, history %d)", n,
                       o->history);
    g = mem_alloc((size_t)n, sizeof(double), "L-BFGS");
    p = mem_alloc((size_t)n, sizeof(double), "L-BFGS");
    xt = mem_alloc((size_t)n, sizeof(double), "L-BFGS");
    gt = mem_alloc((size_t)n, sizeof(double), "L-BFGS");
    if (history_init(&h, n, o->history) != 0 || !g || !p || !xt || !gt) {
        rc = ERR_NOMEM;
        goto out;
    }
    ls = (line_t){.n = n, .fn = fn, .ctx = ctx, .x0 = x, .p = p, .xt = xt, .gt = gt,
                  .evals = 1, .max_evals = o->max_evals};
    if (fn(ctx, x, &f, g) != 0 || !isfinite(f) || !isfinite(dot(g, g, n))) {
        rc = err_set(ERR_NUMERIC, "L-BFGS: objective refused the starting point");
        goto out;
    }
    while (!should_stop(o, g, n, iter, ls.evals, &stop)) {
        double d0 = search_direction(&h, g, p), fnew, fold;
        double step = h.count == 0 ? fmin(1.0, 1.0 / sqrt(-d0)) : 1.0;

        if (!line_search(&ls, (probe_t){0.0, f, d0}, step, &fnew)) {
            stop = ls.evals >= o->max_evals ? LBFGS_MAX_EVALS : LBFGS_LINE_SEARCH;
            break;
        }
        history_push(&h, x, g, xt, gt);
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
    history_free(&h);
    return rc;
}
