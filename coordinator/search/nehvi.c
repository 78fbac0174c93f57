/* Noisy expected hypervolume improvement: see nehvi.h. Matrices are column-major. */
#include "coordinator/search/nehvi.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mem.h"
#include "coordinator/search/pareto.h"
#include "coordinator/search/qmc.h"

/* Candidates are scored in blocks of this many: bounds the n x block work matrices. */
#define BLOCK 256

typedef struct {
    int nb;          /* baseline points kept */
    double *xb;      /* nb x d: their inputs */
    double *o2;      /* nb: their second objective */
    double *vb;      /* n x nb: L^-1 K(X, B) */
    double *lb;      /* nb x nb: lower Cholesky factor of the posterior covariance */
    double *zb;      /* S x nb: the fixed normal draws of the kept points */
    double *front;   /* S x nb x 2: each draw's staircase (HV) */
    double *zfront;  /* S x nb: the staircase's metrics in the GP's transformed units */
    int *fm;         /* S: staircase sizes */
    double *best;    /* S: each draw's best metric (EI) */
    double *zbest;   /* S: the same, transformed */
} comp_t;

struct nehvi {
    gp_t *gp;
    nehvi_opts_t o;
    int d, n, ncomp, nball;
    double *z0;      /* S: the candidate's own normal draw */
    comp_t *comp;
    /* Work space for nehvi_eval. */
    double *vc, *sbc, *f, *mu, *var;
};

void nehvi_opts_default(nehvi_opts_t *o)
{
    o->mode = NEHVI_HV;
    o->samples = 128;
    o->seed = NEHVI_DEFAULT_SEED;
    o->ref[0] = 0.0;
    o->ref[1] = 0.0;
    o->prune = true;
}

const char *nehvi_mode_name(nehvi_mode_t m)
{
    return m == NEHVI_EI ? "nei" : "nehvi";
}

static void comp_free(comp_t *c)
{
    free(c->xb);
    free(c->o2);
    free(c->vb);
    free(c->lb);
    free(c->zb);
    free(c->front);
    free(c->zfront);
    free(c->fm);
    free(c->best);
    free(c->zbest);
}

void nehvi_free(nehvi_t **ap)
{
    nehvi_t *a = ap ? *ap : NULL;

    if (!a)
        return;
    for (int c = 0; c < a->ncomp && a->comp; c++)
        comp_free(&a->comp[c]);
    free(a->comp);
    free(a->z0);
    free(a->vc);
    free(a->sbc);
    free(a->f);
    free(a->mu);
    free(a->var);
    free(a);
    *ap = NULL;
}

int nehvi_baseline_size(const nehvi_t *a, int comp)
{
    return a->comp[comp].nb;
}

/* ---- baseline ---------------------------------------------------------------------------------- */

typedef struct {
    const double *x, *o2;
    int d, i;
} row_t;

static int cmp_row(const void *pa, const void *pb)
{
    const row_t *a = pa, *b = pb;
    int c = memcmp(a->x + (size_t)a->i * a->d, b->x + (size_t)b->i * b->d,
                   (size_t)a->d * sizeof(double));

    if (c)
        return c;
    if (a->o2 && a->o2[a->i] != b->o2[b->i])
        return a->o2[a->i] < b->o2[b->i] ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

/* Indices of the distinct baseline rows (first occurrences, in input order). */
static int dedupe(const double *xb, const double *o2, int nb, int d, int *keep)
{
    row_t *rows = mem_alloc((size_t)nb, sizeof *rows, "baseline");
    char *dup = mem_alloc((size_t)nb, 1, "baseline");
    int m = 0;

    if (!rows || !dup) {
        free(rows);
        free(dup);
        return ERR_NOMEM;
    }
    for (int i = 0; i < nb; i++)
        rows[i] = (row_t){xb, o2, d, i};
    qsort(rows, (size_t)nb, sizeof *rows, cmp_row);
    for (int k = 1; k < nb; k++) {
        if (memcmp(xb + (size_t)rows[k - 1].i * d, xb + (size_t)rows[k].i * d,
                   (size_t)d * sizeof(double)) == 0 &&
            (!o2 || o2[rows[k - 1].i] == o2[rows[k].i]))
            dup[rows[k].i] = 1;  /* sorted by index within equal rows: the later one */
    }
    for (int i = 0; i < nb; i++)
        if (!dup[i])
            keep[m++] = i;
    free(rows);
    free(dup);
    return m;
}

/* Draws of the kept points in metric units, one row per draw: f[s * nb + j] is point j's
 * metric in draw s, untransform(mu + L z_s). */
static int draw_baseline(nehvi_t *a, comp_t *c, const double *mu, double *f)
{
    int s_n = a->o.samples, nb = c->nb;
    double *t = mem_alloc((size_t)s_n * nb, sizeof(double), "baseline draws");

    if (!t)
        return ERR_NOMEM;
    /* t (S x nb) = zb (S x nb) L^T: row s is L z_s. */
    memcpy(t, c->zb, (size_t)s_n * nb * sizeof(double));
    cblas_dtrmm(CblasColMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, s_n, nb, 1.0,
                c->lb, nb, t, s_n);
    for (int s = 0; s < s_n; s++)
        for (int j = 0; j < nb; j++)
            f[(size_t)s * nb + j] = gp_untransform(a->gp, mu[j] + t[(size_t)j * s_n + s]);
    free(t);
    return 0;
}

/* Draw s's points as (metric, second objective) pairs: pts (nb x 2) from the row fs of f. */
static void draw_points(const comp_t *c, const double *fs, double *pts)
{
    for (int j = 0; j < c->nb; j++) {
        pts[2 * j] = fs[j];
        pts[2 * j + 1] = c->o2[j];
    }
}

/* Marks the points that matter in some draw: on its front above the reference point (HV), or
 * its best point (EI). Returns how many. */
static int mark_useful(const nehvi_t *a, const comp_t *c, const double *f, bool *useful)
{
    int nb = c->nb, count = 0;
    double *pts = mem_alloc((size_t)nb, 2 * sizeof(double), "pruning");
    bool *keep = mem_alloc((size_t)nb, sizeof(bool), "pruning");

    if (!pts || !keep) {
        free(pts);
        free(keep);
        return ERR_NOMEM;
    }
    memset(useful, 0, (size_t)nb * sizeof(bool));
    for (int s = 0; s < a->o.samples; s++) {
        const double *fs = f + (size_t)s * nb;
        if (a->o.mode == NEHVI_EI) {
            int arg = 0;
            for (int j = 1; j < nb; j++)
                if (fs[j] > fs[arg])
                    arg = j;
            useful[arg] = true;
            continue;
        }
        draw_points(c, fs, pts);
        pareto_front(pts, nb, keep);
        for (int j = 0; j < nb; j++)
            if (keep[j] && fs[j] > a->o.ref[0] && c->o2[j] > a->o.ref[1])
                useful[j] = true;
    }
    for (int j = 0; j < nb; j++)
        count += useful[j];
    free(pts);
    free(keep);
    return count;
}

/* The deduplicated baseline every component starts from: rows idx[0..nb) of the caller's xb
 * (d values each) and obj2, and the normal draws zall (S x (1 + nball) row-major, column 1 + i
 * belongs to baseline row i; column 0 is the candidates' own). */
typedef struct {
    const double *xb, *obj2;
    const int *idx;
    int nb;
    const double *zall;
} baseline_t;

/* Work space of one component's set-up. */
typedef struct {
    double *mu;   /* nb: the baseline points' posterior means */
    double *cov;  /* nb x nb: their posterior covariance (lower triangle) */
    double *f;    /* S x nb: their draws in metric units (draw_baseline) */
} setup_t;

static int comp_alloc(const nehvi_t *a, comp_t *c, int nb)
{
    int n = a->n, d = a->d, s_n = a->o.samples;

    memset(c, 0, sizeof *c);
    c->nb = nb;
    c->xb = mem_alloc((size_t)nb, (size_t)d * sizeof(double), "baseline");
    c->o2 = mem_alloc((size_t)nb, sizeof(double), "baseline");
    c->vb = mem_alloc((size_t)n * nb, sizeof(double), "baseline");
    c->lb = mem_alloc((size_t)nb * nb, sizeof(double), "baseline");
    c->zb = mem_alloc((size_t)s_n * nb, sizeof(double), "baseline");
    c->fm = mem_alloc((size_t)s_n, sizeof(int), "baseline");
    c->best = mem_alloc((size_t)s_n, sizeof(double), "baseline");
    c->zbest = mem_alloc((size_t)s_n, sizeof(double), "baseline");
    if (!c->xb || !c->o2 || !c->vb || !c->lb || !c->zb || !c->fm || !c->best || !c->zbest)
        return ERR_NOMEM;
    return 0;
}

/* The component's copy of the baseline rows, their second objectives and normal draws. */
static void comp_gather(const nehvi_t *a, comp_t *c, const baseline_t *b)
{
    int d = a->d, s_n = a->o.samples;

    for (int j = 0; j < b->nb; j++) {
        memcpy(c->xb + (size_t)j * d, b->xb + (size_t)b->idx[j] * d, (size_t)d * sizeof(double));
        c->o2[j] = b->obj2 ? b->obj2[b->idx[j]] : 0.0;
        for (int s = 0; s < s_n; s++)
            c->zb[(size_t)j * s_n + s] = b->zall[(size_t)s * (1 + a->nball) + 1 + b->idx[j]];
    }
}

/* The baseline's joint posterior under component comp: means, V_B = L^-1 K(X, B) (kept for the
 * candidates) and the covariance K(B, B) - V_B^T V_B. */
static int comp_posterior(nehvi_t *a, comp_t *c, int comp, setup_t *w)
{
    int n = a->n, nb = c->nb;
    int rc = gp_component_solve(a->gp, comp, c->xb, nb, c->vb, w->mu, NULL);

    if (rc)
        return rc;
    rc = gp_kernel(a->gp, comp, c->xb, nb, c->xb, nb, w->cov);
    if (rc)
        return rc;
    cblas_dsyrk(CblasColMajor, CblasLower, CblasTrans, nb, n, -1.0, c->vb, n, 1.0, w->cov, nb);
    return 0;
}

/* Factorises the covariance cov of the c->nb points into c->lb and draws them into w->f. */
static int factor_and_draw(nehvi_t *a, comp_t *c, const double *cov, setup_t *w)
{
    int rc = gp_cholesky(c->lb, cov, c->nb, NULL);

    return rc ? rc : draw_baseline(a, c, w->mu, w->f);
}

/* Keeps the kept < c->nb useful points: compacts every per-point array in place (kept
 * indices only move down), takes their sub-matrix of the covariance and refactorises. */
static int keep_useful(nehvi_t *a, comp_t *c, setup_t *w, const bool *useful, int kept)
{
    int n = a->n, d = a->d, s_n = a->o.samples, nb = c->nb, m = 0, rc = 0;
    int *pos = mem_alloc((size_t)nb, sizeof(int), "baseline");
    double *sub = mem_alloc((size_t)kept * (kept ? kept : 1), sizeof(double), "baseline");

    if (!pos || !sub) {
        rc = ERR_NOMEM;
        goto out;
    }
    for (int j = 0; j < nb; j++) {
        if (!useful[j])
            continue;
        memmove(c->xb + (size_t)m * d, c->xb + (size_t)j * d, (size_t)d * sizeof(double));
        memmove(c->vb + (size_t)m * n, c->vb + (size_t)j * n, (size_t)n * sizeof(double));
        memmove(c->zb + (size_t)m * s_n, c->zb + (size_t)j * s_n, (size_t)s_n * sizeof(double));
        c->o2[m] = c->o2[j];
        w->mu[m] = w->mu[j];
        pos[m] = j;
        m++;
    }
    for (int q = 0; q < kept; q++)
        for (int p = q; p < kept; p++)
            sub[(size_t)q * kept + p] = w->cov[(size_t)pos[q] * nb + pos[p]];
    c->nb = kept;
    if (kept > 0)
        rc = factor_and_draw(a, c, sub, w);
out:
    free(pos);
    free(sub);
    return rc;
}

/* Baseline pruning: drops the points that are on no draw's front (above the reference point),
 * or no draw's best (EI). */
static int prune(nehvi_t *a, comp_t *c, setup_t *w)
{
    bool *useful = mem_alloc((size_t)c->nb, sizeof(bool), "baseline");
    int kept, rc = 0;

    if (!useful)
        return ERR_NOMEM;
    kept = mark_useful(a, c, w->f, useful);
    if (kept < 0)
        rc = kept;
    else if (kept < c->nb)
        rc = keep_useful(a, c, w, useful, kept);
    free(useful);
    return rc;
}

/* Each draw's staircase of the kept points (HV), with its metrics also in the GP's
 * transformed units. */
static int comp_fronts(nehvi_t *a, comp_t *c, const double *f)
{
    int nb = c->nb, s_n = a->o.samples, rc = 0;
    /* f's draws staged as (metric, objective 2) pairs, one draw at a time. */
    double *tmp = mem_alloc((size_t)(nb ? nb : 1), 2 * sizeof(double), "front");

    c->front = mem_alloc((size_t)s_n * (nb ? nb : 1), 2 * sizeof(double), "baseline fronts");
    c->zfront = mem_alloc((size_t)s_n * (nb ? nb : 1), sizeof(double), "baseline fronts");
    if (!c->front || !c->zfront || !tmp) {
        rc = ERR_NOMEM;
        goto out;
    }
    for (int s = 0; s < s_n; s++) {
        double *pts = c->front + (size_t)s * nb * 2;
        int m;

        draw_points(c, f + (size_t)s * nb, tmp);
        m = pareto_staircase(tmp, nb, a->o.ref, pts);
        if (m < 0) {
            rc = m;
            goto out;
        }
        c->fm[s] = m;
        for (int j = 0; j < m; j++)
            c->zfront[(size_t)s * nb + j] = gp_transform_y(a->gp, pts[2 * j]);
    }
out:
    free(tmp);
    return rc;
}

/* Each draw's best metric of the kept points (EI), also in the GP's transformed units. */
static void comp_best(nehvi_t *a, comp_t *c, const double *f)
{
    int nb = c->nb;

    for (int s = 0; s < a->o.samples; s++) {
        double best = -INFINITY;
        for (int j = 0; j < nb; j++)
            best = fmax(best, f[(size_t)s * nb + j]);
        c->best[s] = best;
        c->zbest[s] = nb ? gp_transform_y(a->gp, best) : -INFINITY;
    }
}

/* Sets up one component over the baseline b: the points' joint posterior, their fixed draws,
 * pruning, and per-draw fronts (HV) or best values (EI). */
static int comp_setup(nehvi_t *a, comp_t *c, int comp, const baseline_t *b)
{
    int nb = b->nb, s_n = a->o.samples, rc;
    setup_t w = {0};

    rc = comp_alloc(a, c, nb);
    w.mu = mem_alloc((size_t)nb, sizeof(double), "baseline");
    w.cov = mem_alloc((size_t)nb * nb, sizeof(double), "baseline");
    w.f = mem_alloc((size_t)s_n * nb, sizeof(double), "baseline");
    if (rc || !w.mu || !w.cov || !w.f) {
        rc = ERR_NOMEM;
        goto out;
    }
    comp_gather(a, c, b);
    rc = comp_posterior(a, c, comp, &w);
    if (rc)
        goto out;
    rc = factor_and_draw(a, c, w.cov, &w);
    if (rc)
        goto out;
    if (a->o.prune) {
        rc = prune(a, c, &w);
        if (rc)
            goto out;
    }
    if (a->o.mode == NEHVI_HV)
        rc = comp_fronts(a, c, w.f);
    else
        comp_best(a, c, w.f);
out:
    free(w.mu);
    free(w.cov);
    free(w.f);
    return rc;
}

static int check_new(gp_t *gp, const double *obj2, int nb, const nehvi_opts_t *o)
{
    if (!o || o->samples < 1 || o->samples > NEHVI_MAX_SAMPLES ||
        (o->mode != NEHVI_HV && o->mode != NEHVI_EI))
        return err_set(ERR_INVAL, "NEHVI: bad options (samples %d, mode %d)", o ? o->samples : 0,
                       o ? (int)o->mode : -1);
    if (o->mode == NEHVI_HV && (!obj2 || !isfinite(o->ref[0]) || !isfinite(o->ref[1])))
        return err_set(ERR_INVAL, "NEHVI: hypervolume mode needs the second objective and a "
                                  "finite reference point");
    if (gp_ncomponents(gp) < 1)
        return err_set(ERR_STATE, "NEHVI: the GP is not fitted");
    if (nb < 1 || nb >= QMC_MAX_DIMS)
        return err_set(ERR_INVAL, "NEHVI: %d baseline points (expected 1..%d)", nb,
                       QMC_MAX_DIMS - 1);
    for (int j = 0; obj2 && o->mode == NEHVI_HV && j < nb; j++)
        if (!isfinite(obj2[j]))
            return err_set(ERR_INVAL, "NEHVI: second objective of baseline point %d is not "
                                      "finite", j);
    return 0;
}

/* The candidates' own normal draws z0 and nehvi_eval's work space, for blocks of BLOCK. */
static int alloc_work(nehvi_t *a)
{
    int s_n = a->o.samples;

    a->z0 = mem_alloc((size_t)s_n, sizeof(double), "QMC draws");
    a->comp = mem_alloc((size_t)gp_ncomponents(a->gp), sizeof(comp_t), "NEHVI components");
    a->vc = mem_alloc((size_t)a->n * BLOCK, sizeof(double), "NEHVI work");
    a->sbc = mem_alloc((size_t)a->nball * BLOCK, sizeof(double), "NEHVI work");
    a->f = mem_alloc((size_t)s_n * BLOCK, sizeof(double), "NEHVI work");
    a->mu = mem_alloc(BLOCK, sizeof(double), "NEHVI work");
    a->var = mem_alloc(BLOCK, sizeof(double), "NEHVI work");
    if (!a->z0 || !a->comp || !a->vc || !a->sbc || !a->f || !a->mu || !a->var)
        return ERR_NOMEM;
    return 0;
}

nehvi_t *nehvi_new(gp_t *gp, const double *xb, const double *obj2, int nb,
                   const nehvi_opts_t *o)
{
    nehvi_t *a = NULL;
    int *idx = NULL, rc = 0, s_n;
    double *zall = NULL;

    if (check_new(gp, obj2, nb, o) != 0)
        return NULL;
    a = mem_alloc(1, sizeof *a, "NEHVI");
    if (!a)
        return NULL;
    a->gp = gp;
    a->o = *o;
    a->d = gp_dims(gp);
    a->n = gp_n(gp);
    s_n = o->samples;
    idx = mem_alloc((size_t)nb, sizeof(int), "baseline");
    if (!idx) {
        rc = ERR_NOMEM;
        goto out;
    }
    rc = dedupe(xb, o->mode == NEHVI_HV ? obj2 : NULL, nb, a->d, idx);
    if (rc < 0)
        goto out;
    a->nball = rc;
    zall = mem_alloc((size_t)s_n, (size_t)(1 + a->nball) * sizeof(double), "QMC draws");
    rc = alloc_work(a);
    if (rc || !zall) {
        rc = ERR_NOMEM;
        goto out;
    }
    rc = qmc_normal(o->seed, s_n, 1 + a->nball, zall);
    if (rc)
        goto out;
    for (int s = 0; s < s_n; s++)
        a->z0[s] = zall[(size_t)s * (1 + a->nball)];
    for (int c = 0; c < gp_ncomponents(gp); c++) {
        baseline_t b = {xb, obj2, idx, a->nball, zall};
        a->ncomp = c + 1;
        rc = comp_setup(a, &a->comp[c], c, &b);
        if (rc)
            goto out;
    }
out:
    free(idx);
    free(zall);
    if (rc) {
        if (rc != err_code())
            err_set(rc, "NEHVI: setting up the baseline failed");
        nehvi_free(&a);
    }
    return a;
}

/* ---- evaluation -------------------------------------------------------------------------------- */

/* The candidates' metric draws conditional on the component's baseline draws, less their
 * means and their own term: Sigma_BC = K(B, C) - V_B^T V_C, W = L_B^-1 Sigma_BC (left in
 * a->sbc), then a->f (S x nc) = Z_B W. With V_C in a->vc (gp_component_solve). */
static int conditional_draws(nehvi_t *a, const comp_t *c, int ci, const double *xc, int nc)
{
    int n = a->n, nb = c->nb, s_n = a->o.samples;
    int rc = gp_kernel(a->gp, ci, c->xb, nb, xc, nc, a->sbc);

    if (rc)
        return rc;
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, nb, nc, n, -1.0, c->vb, n, a->vc, n,
                1.0, a->sbc, nb);
    cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, nb, nc, 1.0,
                c->lb, nb, a->sbc, nb);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, s_n, nc, nb, 1.0, c->zb, s_n, a->sbc,
                nb, 0.0, a->f, s_n);
    return 0;
}

/* The improvement in draw s of a candidate whose metric draw is z (transformed units) and
 * whose second objective is o2: over the draw's best metric (EI), or the hypervolume it adds to
 * the draw's staircase (HV). */
static double improvement(const nehvi_t *a, const comp_t *c, int s, double z, double o2)
{
    const double *fr, *zf;
    int lo = 0, hi;
    double y;

    if (a->o.mode == NEHVI_EI) {
        /* Compare in transformed units first: the map back is monotone. */
        if (z > c->zbest[s] && (y = gp_untransform(a->gp, z)) > c->best[s])
            return y - c->best[s];
        return 0.0;
    }
    fr = c->front + (size_t)s * c->nb * 2;
    zf = c->zfront + (size_t)s * c->nb;
    hi = c->fm[s];
    /* The staircase's second objective decreases: count the points at least as good as the
     * candidate's (binary search). The last of them has the best metric among them; if it is
     * at least the draw's, the draw is dominated. */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (fr[2 * mid + 1] >= o2)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0 && zf[lo - 1] >= z)
        return 0.0;
    y = gp_untransform(a->gp, z);
    if (y > a->o.ref[0]) {
        double p[2] = {y, o2};
        return pareto_hvi(fr, c->fm[s], a->o.ref, p);
    }
    return 0.0;
}

static int eval_block(nehvi_t *a, const double *xc, const double *obj2c, int nc, double *out)
{
    int s_n = a->o.samples, rc;

    for (int j = 0; j < nc; j++)
        out[j] = 0.0;
    for (int ci = 0; ci < a->ncomp; ci++) {
        comp_t *c = &a->comp[ci];
        int nb = c->nb;

        rc = gp_component_solve(a->gp, ci, xc, nc, a->vc, a->mu, a->var);
        if (rc)
            return rc;
        if (nb > 0) {
            rc = conditional_draws(a, c, ci, xc, nc);
            if (rc)
                return rc;
        } else {
            memset(a->f, 0, (size_t)s_n * nc * sizeof(double));
        }
        /* Each candidate's draws: F + mu_c + sqrt(var_c - |w_c|^2) z_0. */
        for (int j = 0; j < nc; j++) {
            double cv = a->var[j], sum = 0.0, sd, o2 = obj2c ? obj2c[j] : 0.0;
            const double *w = a->sbc + (size_t)j * nb;
            const double *fj = a->f + (size_t)j * s_n;

            for (int k = 0; k < nb; k++)
                cv -= w[k] * w[k];
            sd = cv > 0.0 ? sqrt(cv) : 0.0;
            /* A candidate whose second objective does not pass the reference adds nothing. */
            if (a->o.mode == NEHVI_HV && !(o2 > a->o.ref[1]))
                continue;
            for (int s = 0; s < s_n; s++)
                sum += improvement(a, c, s, a->mu[j] + fj[s] + sd * a->z0[s], o2);
            out[j] += sum / s_n;
        }
    }
    for (int j = 0; j < nc; j++)
        out[j] /= a->ncomp;
    return 0;
}

int nehvi_eval(nehvi_t *a, const double *xc, const double *obj2c, int nc, double *out)
{
    if (a->o.mode == NEHVI_HV && !obj2c && nc > 0)
        return err_set(ERR_INVAL, "NEHVI: candidates need their second objective");
    for (int j0 = 0; j0 < nc; j0 += BLOCK) {
        int m = nc - j0 < BLOCK ? nc - j0 : BLOCK;
        int rc = eval_block(a, xc + (size_t)j0 * a->d, obj2c ? obj2c + j0 : NULL, m, out + j0);
        if (rc)
            return rc;
    }
    return 0;
}
