/* Pareto fronts and 2-D hypervolume: see pareto.h. */
#include "coordinator/search/pareto.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mem.h"

typedef struct {
    double f0, f1;
    int i;
} item_t;

/* f0 descending, then f1 descending, then index: the sweep order of the front. */
static int cmp_desc(const void *pa, const void *pb)
{
    const item_t *a = pa, *b = pb;

    if (a->f0 != b->f0)
        return a->f0 > b->f0 ? -1 : 1;
    if (a->f1 != b->f1)
        return a->f1 > b->f1 ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

/* Sorts the points that pass `ref` (all when ref is NULL) and sweeps them in decreasing f0:
 * a point is on the front when its f1 beats every f1 seen so far. Returns the kept items, in
 * that decreasing-f0 order (*k of them, in a buffer the caller frees), or NULL with ERR_NOMEM. */
static item_t *sweep(const double *pts, int n, const double *ref, int *k)
{
    item_t *items = mem_alloc((size_t)n, sizeof *items, "Pareto front");
    int m = 0;
    double best = -INFINITY;

    if (!items)
        return NULL;
    for (int i = 0; i < n; i++) {
        if (ref && !(pts[2 * i] > ref[0] && pts[2 * i + 1] > ref[1]))
            continue;
        items[m++] = (item_t){pts[2 * i], pts[2 * i + 1], i};
    }
    qsort(items, (size_t)m, sizeof *items, cmp_desc);
    *k = 0;
    for (int j = 0; j < m; j++) {
        if (items[j].f1 > best) {
            best = items[j].f1;
            items[(*k)++] = items[j];
        }
    }
    return items;
}

int pareto_front(const double *pts, int n, bool *keep)
{
    item_t *items;
    int k;

    if (n <= 0)
        return 0;
    items = sweep(pts, n, NULL, &k);
    if (!items)
        return ERR_NOMEM;
    memset(keep, 0, (size_t)n * sizeof *keep);
    for (int j = 0; j < k; j++)
        keep[items[j].i] = true;
    free(items);
    return k;
}

int pareto_staircase(const double *pts, int n, const double ref[2], double *out)
{
    item_t *items;
    int k;

    if (n <= 0)
        return 0;
    items = sweep(pts, n, ref, &k);
    if (!items)
        return ERR_NOMEM;
    for (int j = 0; j < k; j++) {
        out[2 * j] = items[k - 1 - j].f0;
        out[2 * j + 1] = items[k - 1 - j].f1;
    }
    free(items);
    return k;
}

double pareto_hv_staircase(const double *front, int m, const double ref[2])
{
    double hv = 0.0, prev = ref[0];

    /* Columns between successive f0 values, each as high as the point closing it. */
    for (int j = 0; j < m; j++) {
        hv += (front[2 * j] - prev) * (front[2 * j + 1] - ref[1]);
        prev = front[2 * j];
    }
    return hv;
}

double pareto_hv(const double *pts, int n, const double ref[2])
{
    double *front, hv;
    int m;

    if (n <= 0)
        return 0.0;
    front = mem_alloc((size_t)n, 2 * sizeof(double), "hypervolume");
    if (!front)
        return ERR_NOMEM;
    m = pareto_staircase(pts, n, ref, front);
    hv = m < 0 ? (double)m : pareto_hv_staircase(front, m, ref);
    free(front);
    return hv;
}

double pareto_hvi(const double *front, int m, const double ref[2], const double p[2])
{
    double covered = 0.0, prev = ref[0];

    if (!(p[0] > ref[0] && p[1] > ref[1]))
        return 0.0;
    /* hv(front + p) - hv(front) = area of the box [ref, p] minus the part of it the front
     * already covers; clipping the staircase to the box keeps it a staircase, whose area is
     * the columns sum again. Points past p in f0 clip to zero-width columns: stop there. */
    for (int j = 0; j < m && prev < p[0]; j++) {
        double c0 = front[2 * j] < p[0] ? front[2 * j] : p[0];
        double c1 = front[2 * j + 1] < p[1] ? front[2 * j + 1] : p[1];
        covered += (c0 - prev) * (c1 - ref[1]);
        prev = c0;
    }
    return (p[0] - ref[0]) * (p[1] - ref[1]) - covered;
}

void pareto_ref_point(const double *pts, int n, double frac, double ref[2])
{
    double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};

    /* A point is on the front unless another dominates it; O(n^2) is fine for the few hundred
     * points of a study and needs no allocation. */
    for (int i = 0; i < n; i++) {
        bool dominated = false;
        for (int j = 0; j < n && !dominated; j++)
            dominated = j != i && pts[2 * j] >= pts[2 * i] && pts[2 * j + 1] >= pts[2 * i + 1] &&
                        (pts[2 * j] > pts[2 * i] || pts[2 * j + 1] > pts[2 * i + 1]);
        if (dominated)
            continue;
        for (int k = 0; k < 2; k++) {
            lo[k] = fmin(lo[k], pts[2 * i + k]);
            hi[k] = fmax(hi[k], pts[2 * i + k]);
        }
    }
    for (int k = 0; k < 2; k++) {
        double range = hi[k] - lo[k];
        if (!(range > 0.0))
            range = fmax(fabs(lo[k]), 1.0);
        ref[k] = lo[k] - frac * range;
    }
}
