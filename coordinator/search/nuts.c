/* No-U-Turn sampler: see nuts.h. */
#include "coordinator/search/nuts.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mem.h"

#define MAX_DELTA_H 1000.0  /* energy error that counts as a divergence */

typedef struct {
    double *x, *p, *g;
    double logp;
} point_t;

/* Summary of a trajectory segment, in the order it was built: "first" is the end next to where
 * building started, "last" the far end. */
typedef struct {
    double *rho;               /* sum of momenta */
    double *ps_first, *ps_last;/* velocities M^-1 p at the ends */
    double *p_first, *p_last;  /* momenta at the ends */
    double *sx, *sg;           /* the segment's multinomial sample: position and gradient */
    double slogp;
    double log_w;              /* log of the summed weights exp(-H) relative to H0 */
} seg_t;

typedef struct {
    int dim;
    nuts_logp_fn fn;
    void *ctx;
    rng_t *rng;
    double *inv_mass;
    double eps, h0;
    /* The last transition: leapfrog steps, summed acceptance statistics, a divergence. */
    int n_leapfrog;
    double sum_metro;
    bool divergent;
    long grad_evals;
    seg_t *levels;  /* two segments per depth for the recursion */
    seg_t tree, sub;
    point_t cur;    /* the chain's state */
    point_t probe;  /* the step-size heuristic's trial point */
    point_t fwd, bck;
    double *tmp;
    double *pool;   /* the one buffer every vector above lives in (sampler_init) */
} sampler_t;

/* Stan's windowed adaptation of the diagonal inverse mass matrix: after a fast initial buffer,
 * slow windows [start, end) that double in size, each estimating the variance of its draws
 * (Welford), then a fast terminal buffer of `term` iterations. */
typedef struct {
    int warmup, term;
    int start, size, end;
    int count;          /* draws in the current window so far */
    double *mean, *m2;  /* their running mean and sum of squared deviations */
} windows_t;

void nuts_opts_default(nuts_opts_t *o)
{
    o->warmup = 128;
    o->samples = 64;
    o->thin = 4;
    o->max_depth = 6;
    o->target_accept = 0.8;
    o->step = 0.0;
    o->adapt_mass = true;
    o->inv_mass = NULL;
}

int nuts_kept(const nuts_opts_t *o)
{
    return o->thin > 0 ? o->samples / o->thin : 0;
}

static double dot(const double *a, const double *b, int n)
{
    double s = 0.0;

    for (int i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static double log_sum_exp(double a, double b)
{
    double m = fmax(a, b);

    if (m == -INFINITY)
        return -INFINITY;
    return m + log(exp(a - m) + exp(b - m));
}

static double kinetic(const sampler_t *s, const double *p)
{
    double k = 0.0;

    for (int i = 0; i < s->dim; i++)
        k += s->inv_mass[i] * p[i] * p[i];
    return 0.5 * k;
}

static bool eval(sampler_t *s, point_t *z)
{
    s->grad_evals++;
    if (s->fn(s->ctx, z->x, &z->logp, z->g) != 0 || !isfinite(z->logp))
        return false;
    for (int i = 0; i < s->dim; i++)
        if (!isfinite(z->g[i]))
            return false;
    return true;
}

/* One leapfrog step of size eps (negative: backwards in time). */
static bool leapfrog(sampler_t *s, point_t *z, double eps)
{
    int n = s->dim;

    for (int i = 0; i < n; i++)
        z->p[i] += 0.5 * eps * z->g[i];
    for (int i = 0; i < n; i++)
        z->x[i] += eps * s->inv_mass[i] * z->p[i];
    if (!eval(s, z))
        return false;
    for (int i = 0; i < n; i++)
        z->p[i] += 0.5 * eps * z->g[i];
    return true;
}

static void copy(double *dst, const double *src, int n)
{
    memcpy(dst, src, (size_t)n * sizeof(double));
}

static bool no_u_turn(const sampler_t *s, const double *ps_a, const double *ps_b,
                      const double *rho)
{
    return dot(ps_a, rho, s->dim) > 0.0 && dot(ps_b, rho, s->dim) > 0.0;
}

static void velocity(const sampler_t *s, const double *p, double *ps)
{
    for (int i = 0; i < s->dim; i++)
        ps[i] = s->inv_mass[i] * p[i];
}

/* Merges two adjacent segments (left built first) into t, sampling between them in proportion
 * to their weights, and applies the U-turn checks across the merge. */
static bool merge(sampler_t *s, const seg_t *left, const seg_t *right, seg_t *t)
{
    int n = s->dim;
    bool ok;

    t->log_w = log_sum_exp(left->log_w, right->log_w);
    if (log(rng_uniform(s->rng)) < right->log_w - t->log_w) {
        copy(t->sx, right->sx, n);
        copy(t->sg, right->sg, n);
        t->slogp = right->slogp;
    } else {
        copy(t->sx, left->sx, n);
        copy(t->sg, left->sg, n);
        t->slogp = left->slogp;
    }
    for (int i = 0; i < n; i++)
        t->rho[i] = left->rho[i] + right->rho[i];
    ok = no_u_turn(s, left->ps_first, right->ps_last, t->rho);
    for (int i = 0; i < n && ok; i++)
        s->tmp[i] = left->rho[i] + right->p_first[i];
    ok = ok && no_u_turn(s, left->ps_first, right->ps_first, s->tmp);
    for (int i = 0; i < n && ok; i++)
        s->tmp[i] = right->rho[i] + left->p_last[i];
    ok = ok && no_u_turn(s, left->ps_last, right->ps_last, s->tmp);
    copy(t->ps_first, left->ps_first, n);
    copy(t->p_first, left->p_first, n);
    copy(t->ps_last, right->ps_last, n);
    copy(t->p_last, right->p_last, n);
    return ok;
}

/* The segment of the single point z (its weight log_w is the caller's). */
static void seg_from_point(const sampler_t *s, const point_t *z, seg_t *t)
{
    int n = s->dim;

    copy(t->rho, z->p, n);
    copy(t->p_first, z->p, n);
    copy(t->p_last, z->p, n);
    velocity(s, z->p, t->ps_first);
    copy(t->ps_last, t->ps_first, n);
    copy(t->sx, z->x, n);
    copy(t->sg, z->g, n);
    t->slogp = z->logp;
}

/* Builds a subtree of 2^depth leapfrog steps from edge z (advanced in place) into t. */
static bool build(sampler_t *s, point_t *z, int depth, double dir, seg_t *t)
{
    if (depth == 0) {
        double h;
        bool ok = leapfrog(s, z, dir * s->eps);

        s->n_leapfrog++;
        h = ok ? -z->logp + kinetic(s, z->p) : INFINITY;
        if (!isfinite(h) || h - s->h0 > MAX_DELTA_H) {
            s->divergent = true;
            return false;
        }
        seg_from_point(s, z, t);
        t->log_w = s->h0 - h;
        s->sum_metro += s->h0 - h > 0.0 ? 1.0 : exp(s->h0 - h);
        return true;
    }
    {
        seg_t *left = &s->levels[2 * (depth - 1)], *right = &s->levels[2 * (depth - 1) + 1];
        if (!build(s, z, depth - 1, dir, left))
            return false;
        if (!build(s, z, depth - 1, dir, right))
            return false;
        return merge(s, left, right, t);
    }
}

/* Extends the trajectory tr by the subtree sub just built at its forward or backward end:
 * biased progressive sampling between them, then the generalised U-turn checks over the whole
 * trajectory and across the junction. False when the trajectory makes a U-turn. */
static bool extend(sampler_t *s, seg_t *tr, const seg_t *sub, bool forward)
{
    int n = s->dim;
    /* The tree's end at the junction plays "last", the other "first". */
    double *ps_far = forward ? tr->ps_first : tr->ps_last;
    double *ps_near = forward ? tr->ps_last : tr->ps_first;
    double *p_near = forward ? tr->p_last : tr->p_first;
    bool ok;

    /* Biased progressive sampling: favour the new subtree when it carries more weight. */
    if (log(rng_uniform(s->rng)) < sub->log_w - tr->log_w) {
        copy(tr->sx, sub->sx, n);
        copy(tr->sg, sub->sg, n);
        tr->slogp = sub->slogp;
    }
    tr->log_w = log_sum_exp(tr->log_w, sub->log_w);
    for (int i = 0; i < n; i++)
        s->tmp[i] = tr->rho[i] + sub->rho[i];
    ok = no_u_turn(s, ps_far, sub->ps_last, s->tmp);
    for (int i = 0; i < n; i++)
        tr->rho[i] = s->tmp[i];
    for (int i = 0; i < n && ok; i++)
        s->tmp[i] = tr->rho[i] - sub->rho[i] + sub->p_first[i];
    ok = ok && no_u_turn(s, ps_far, sub->ps_first, s->tmp);
    for (int i = 0; i < n && ok; i++)
        s->tmp[i] = sub->rho[i] + p_near[i];
    ok = ok && no_u_turn(s, ps_near, sub->ps_last, s->tmp);
    copy(ps_near, sub->ps_last, n);
    copy(p_near, sub->p_last, n);
    return ok;
}

/* One NUTS transition from cur (position, gradient, logp; replaced by the new state): a fresh
 * momentum, then the trajectory doubles in a random direction until it makes a U-turn, diverges
 * or reaches max_depth. Returns the tree depth reached. */
static int transition(sampler_t *s, point_t *cur, int max_depth)
{
    int n = s->dim, depth = 0;
    seg_t *tr = &s->tree, *sub = &s->sub;

    for (int i = 0; i < n; i++)
        cur->p[i] = rng_normal(s->rng) / sqrt(s->inv_mass[i]);
    s->h0 = -cur->logp + kinetic(s, cur->p);
    s->n_leapfrog = 0;
    s->sum_metro = 0.0;
    s->divergent = false;
    seg_from_point(s, cur, tr);  /* first = backward end, last = forward end */
    tr->log_w = 0.0;
    for (point_t *e = &s->fwd; e; e = e == &s->fwd ? &s->bck : NULL) {
        copy(e->x, cur->x, n);
        copy(e->p, cur->p, n);
        copy(e->g, cur->g, n);
        e->logp = cur->logp;
    }
    while (depth < max_depth) {
        bool forward = rng_uniform(s->rng) < 0.5;

        if (!build(s, forward ? &s->fwd : &s->bck, depth, forward ? 1.0 : -1.0, sub))
            break;
        depth++;
        if (!extend(s, tr, sub, forward))
            break;
    }
    copy(cur->x, tr->sx, n);
    copy(cur->g, tr->sg, n);
    cur->logp = tr->slogp;
    return depth;
}

/* Stan's heuristic: double or halve the step until one leapfrog step's acceptance crosses 0.8. */
static int init_step(sampler_t *s, point_t *cur, point_t *z)
{
    int n = s->dim, dir = 0;

    for (int it = 0; it < 100; it++) {
        double h0, h, dh;
        bool ok;

        copy(z->x, cur->x, n);
        copy(z->g, cur->g, n);
        z->logp = cur->logp;
        for (int i = 0; i < n; i++)
            z->p[i] = rng_normal(s->rng) / sqrt(s->inv_mass[i]);
        h0 = -z->logp + kinetic(s, z->p);
        ok = leapfrog(s, z, s->eps);
        h = ok ? -z->logp + kinetic(s, z->p) : INFINITY;
        dh = h0 - h;
        if (dir == 0)
            dir = dh > log(0.8) ? 1 : -1;
        if (dir == 1 && !(dh > log(0.8)))
            return 0;
        if (dir == -1 && !(dh < log(0.8)))
            return 0;
        s->eps = dir == 1 ? 2.0 * s->eps : 0.5 * s->eps;
        if (s->eps > 1e7 || s->eps < 1e-12)
            break;
    }
    return err_set(ERR_NUMERIC, "NUTS: no usable step size (reached %g)", s->eps);
}

typedef struct {
    double mu, hbar, log_eps_bar;
    int t;
} dual_t;

static void dual_reset(dual_t *d, double eps)
{
    *d = (dual_t){.mu = log(10.0 * eps), .hbar = 0.0, .log_eps_bar = 0.0, .t = 0};
}

/* Dual averaging (Hoffman and Gelman 2014, gamma 0.05, t0 10, kappa 0.75); returns the step. */
static double dual_update(dual_t *d, double accept, double target)
{
    double eta, log_eps;

    d->t++;
    eta = 1.0 / (d->t + 10.0);
    d->hbar = (1.0 - eta) * d->hbar + eta * (target - accept);
    log_eps = d->mu - sqrt((double)d->t) / 0.05 * d->hbar;
    eta = pow((double)d->t, -0.75);
    d->log_eps_bar = eta * log_eps + (1.0 - eta) * d->log_eps_bar;
    return exp(log_eps);
}

/* The sampler's buffer plan, in dim-vectors: SEG_VECTORS per segment (seg_t's vectors), 3 per
 * point (position, momentum, gradient) of the four (cur, probe, fwd, bck), then the inverse
 * mass, the scratch vector and the windows' Welford pair. */
enum { SEG_VECTORS = 7, POINTS = 4, POINT_VECTORS = 3, OTHER_VECTORS = 4 };

static void alloc_seg(seg_t *g, int n, double **pool)
{
    double **fields[SEG_VECTORS] = {&g->rho, &g->ps_first, &g->ps_last, &g->p_first, &g->p_last,
                                    &g->sx, &g->sg};
    for (size_t f = 0; f < SEG_VECTORS; f++) {
        *fields[f] = *pool;
        *pool += n;
    }
}

static int check_opts(int dim, const nuts_opts_t *o)
{
    if (dim < 1 || dim > NUTS_MAX_DIM || o->warmup < 0 || o->samples < 0 || o->thin < 1 ||
        o->max_depth < 1 || o->max_depth > NUTS_MAX_DEPTH ||
        (long)o->warmup + o->samples > NUTS_MAX_ITER || !(o->target_accept > 0.0) ||
        !(o->target_accept < 1.0))
        return err_set(ERR_INVAL,
                       "NUTS: bad options (dim %d, warmup %d, samples %d, thin %d, depth %d)",
                       dim, o->warmup, o->samples, o->thin, o->max_depth);
    return 0;
}

/* Carves the buffer plan out of one pool. The segments: two per depth level for the
 * recursion, the trajectory and the new subtree. */
static int sampler_init(sampler_t *s, int dim, int max_depth, windows_t *w)
{
    point_t *pts[POINTS] = {&s->cur, &s->probe, &s->fwd, &s->bck};
    int nseg = 2 * max_depth + 2;
    size_t need = (size_t)(SEG_VECTORS * nseg + POINT_VECTORS * POINTS + OTHER_VECTORS) *
                  (size_t)dim;
    double *p;

    s->dim = dim;
    s->pool = mem_alloc(need, sizeof(double), "NUTS");
    s->levels = mem_alloc((size_t)nseg, sizeof(seg_t), "NUTS");
    if (!s->pool || !s->levels)
        return ERR_NOMEM;
    p = s->pool;
    for (int k = 0; k < nseg - 2; k++)
        alloc_seg(&s->levels[k], dim, &p);
    alloc_seg(&s->tree, dim, &p);
    alloc_seg(&s->sub, dim, &p);
    for (int k = 0; k < POINTS; k++) {
        pts[k]->x = p, p += dim;
        pts[k]->p = p, p += dim;
        pts[k]->g = p, p += dim;
    }
    s->inv_mass = p, p += dim;
    s->tmp = p, p += dim;
    w->mean = p, p += dim;
    w->m2 = p, p += dim;
    assert((size_t)(p - s->pool) == need);
    return 0;
}

/* The chain's start: the initial point, the initial inverse mass and the step size. */
static int sampler_start(sampler_t *s, const double *x, const nuts_opts_t *o)
{
    for (int i = 0; i < s->dim; i++)
        s->inv_mass[i] = o->inv_mass && o->inv_mass[i] > 0.0 ? o->inv_mass[i] : 1.0;
    copy(s->cur.x, x, s->dim);
    if (!eval(s, &s->cur))
        return err_set(ERR_NUMERIC, "NUTS: the log density refuses the initial point");
    s->eps = o->step > 0.0 ? o->step : 1.0;
    if (o->step <= 0.0 && o->warmup > 0)
        return init_step(s, &s->cur, &s->probe);
    return 0;
}

/* Keeps the next slow window's end clear of the terminal buffer: a window that would leave
 * less than its successor's size before the buffer runs to the buffer instead. */
static void windows_clamp(windows_t *w)
{
    if (w->end + 2 * w->size > w->warmup - w->term)
        w->end = w->warmup - w->term;
}

/* Stan's windows (75, 25 doubling, 50), scaled down for short warmups. */
static void windows_init(windows_t *w, int warmup)
{
    int init = 75;

    w->warmup = warmup;
    w->term = 50;
    w->size = 25;
    if (init + w->term + w->size > warmup) {
        init = (int)(0.15 * warmup);
        w->term = (int)(0.1 * warmup);
        w->size = warmup - init - w->term;
    }
    w->start = init;
    w->end = init + w->size;
    windows_clamp(w);
}

/* Adds draw x of iteration it to the current window; true when that closed the window, whose
 * regularised variance estimate (shrunk towards 1e-3 as Stan does) is then the new inverse
 * mass, and the next window begins. */
static bool windows_add(windows_t *w, int it, const double *x, double *inv_mass, int dim)
{
    /* Welford's running variance of the window's draws. */
    w->count++;
    for (int i = 0; i < dim; i++) {
        double dlt = x[i] - w->mean[i];
        w->mean[i] += dlt / w->count;
        w->m2[i] += dlt * (x[i] - w->mean[i]);
    }
    if (it != w->end - 1)
        return false;
    for (int i = 0; i < dim; i++) {
        double var = w->count > 1 ? w->m2[i] / (w->count - 1) : 1.0;
        inv_mass[i] = (w->count / (w->count + 5.0)) * var + 1e-3 * (5.0 / (w->count + 5.0));
        w->mean[i] = w->m2[i] = 0.0;
    }
    w->count = 0;
    w->start = w->end;
    w->size *= 2;
    w->end = w->start + w->size;
    windows_clamp(w);
    return true;
}

/* Warmup: every transition adapts the step size by dual averaging; the draws of the slow
 * windows adapt the inverse mass, and each new mass restarts the step size search. The last
 * iteration fixes the step at the dual average. */
static int warmup(sampler_t *s, windows_t *w, const nuts_opts_t *o, nuts_stats_t *st)
{
    dual_t da;
    int rc;

    dual_reset(&da, s->eps);
    for (int it = 0; it < o->warmup; it++) {
        double accept;

        transition(s, &s->cur, o->max_depth);
        accept = s->n_leapfrog ? s->sum_metro / s->n_leapfrog : 0.0;
        st->warmup_divergences += s->divergent;
        s->eps = dual_update(&da, accept, o->target_accept);
        if (o->adapt_mass && o->warmup >= 20 && it >= w->start && it < w->end &&
            windows_add(w, it, s->cur.x, s->inv_mass, s->dim)) {
            rc = init_step(s, &s->cur, &s->probe);
            if (rc)
                return rc;
            dual_reset(&da, s->eps);
        }
        if (it == o->warmup - 1)
            s->eps = exp(da.log_eps_bar);
    }
    return 0;
}

/* Sampling at the adapted step and mass: every thin-th state is a draw. */
static void sample(sampler_t *s, const nuts_opts_t *o, double *draws, nuts_stats_t *st)
{
    double acc_sum = 0.0, depth_sum = 0.0;
    int kept = 0;

    for (int i = 0; i < o->samples; i++) {
        int depth = transition(s, &s->cur, o->max_depth);

        acc_sum += s->n_leapfrog ? s->sum_metro / s->n_leapfrog : 0.0;
        depth_sum += depth;
        st->divergences += s->divergent;
        if ((i + 1) % o->thin == 0 && kept < nuts_kept(o))
            copy(draws + (size_t)kept++ * s->dim, s->cur.x, s->dim);
    }
    st->accept = o->samples ? acc_sum / o->samples : 0.0;
    st->depth = o->samples ? depth_sum / o->samples : 0.0;
    st->kept = kept;
}

int nuts_run(int dim, double *x, nuts_logp_fn fn, void *ctx, const nuts_opts_t *o, rng_t *rng,
             double *draws, nuts_stats_t *st, double *inv_mass_out)
{
    sampler_t s = {.fn = fn, .ctx = ctx, .rng = rng};
    windows_t w = {0};
    nuts_stats_t unused;
    int rc = check_opts(dim, o);

    if (rc)
        return rc;
    if (!st)
        st = &unused;
    rc = sampler_init(&s, dim, o->max_depth, &w);
    if (!rc)
        rc = sampler_start(&s, x, o);
    if (rc)
        goto out;
    windows_init(&w, o->warmup);
    memset(st, 0, sizeof *st);
    rc = warmup(&s, &w, o, st);
    if (rc)
        goto out;
    sample(&s, o, draws, st);
    copy(x, s.cur.x, dim);
    if (inv_mass_out)
        copy(inv_mass_out, s.inv_mass, dim);
    st->step = s.eps;
    st->grad_evals = s.grad_evals;
out:
    free(s.pool);
    free(s.levels);
    return rc;
}
