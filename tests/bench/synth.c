/* The synthetic PEFT problem: see synth.h. */
#include "tests/bench/synth.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mem.h"
#include "coordinator/search/pareto.h"

static double capacity(const synth_t *p, uint32_t size)
{
    return log2(1.0 + size) / log2(1.0 + p->hidden);
}

double synth_metric_levels(const synth_t *p, const int lev[3], double u)
{
    double c[3], a, q, e, pen, over;

    for (int m = 0; m < 3; m++)
        c[m] = capacity(p, space_level_size(p->space, m, lev[m]));
    a = 1.0 - (1.0 - 0.9 * c[0]) * (1.0 - 0.75 * c[1]);
    q = 1.0 - (1.0 - a) * (1.0 - 0.55 * c[2]);
    e = q * pow(u / p->umax, 0.6);
    over = c[0] + c[1] + c[2] - 1.6;
    pen = over > 0.0 ? 0.04 * over * over : 0.0;
    return 0.55 + 0.35 * (1.0 - exp(-3.0 * e)) / (1.0 - exp(-3.0)) - pen;
}

static double mask_value(const synth_t *p, const space_config_t *c)
{
    double u = 0.0;
    int prev = 0;

    for (int l = 0; l < p->layers; l++) {
        int b = 0;
        for (int m = 0; m < 3; m++)
            b |= space_config_active(c, m) && space_config_layer(c, m, l);
        u += b * p->v[l] + (b && prev ? p->gamma : 0.0);
        prev = b;
    }
    return u;
}

static void levels(const synth_t *p, const space_config_t *c, int lev[3])
{
    for (int m = 0; m < 3; m++)
        lev[m] = space_level_of(p->space, m, space_config_active(c, m) ? c->size[m] : 0);
}

double synth_metric(const synth_t *p, const space_config_t *c)
{
    int lev[3];

    levels(p, c, lev);
    return synth_metric_levels(p, lev, mask_value(p, c));
}

static double *pct_at(const synth_t *p, const int lev[3], int count)
{
    return &p->pct[((size_t)(lev[0] * p->nlev + lev[1]) * p->nlev + lev[2]) * (p->layers + 1) +
                   count];
}

double synth_cost(const synth_t *p, const space_config_t *c)
{
    int lev[3], count = 0;

    levels(p, c, lev);
    for (int l = 0; l < p->layers; l++) {
        int b = 0;
        for (int m = 0; m < 3; m++)
            b |= space_config_active(c, m) && space_config_layer(c, m, l);
        count += b;
    }
    return *pct_at(p, lev, count);
}

int synth_init(synth_t *p, int layers)
{
    space_opts_t so;
    int rc, hidden = layers == 24 ? 1024 : 768;
    double mean = 0.0;

    memset(p, 0, sizeof *p);
    if (layers != 12 && layers != 24)
        return err_set(ERR_INVAL, "synthetic problem: 12 or 24 layers, not %d", layers);
    rc = shape_preset(layers == 24 ? "bert-large" : "bert-base", &p->shape);
    if (rc)
        return rc;
    space_opts_default(&so, hidden, layers);
    p->space = space_new(&so);
    if (!p->space)
        return err_code();
    p->layers = layers;
    p->hidden = hidden;
    p->nlev = space_nlevels(p->space, SPACE_SA);
    for (int l = 0; l < layers; l++) {
        double t = (double)l / (layers - 1), z = (t - 0.6) / 0.12;
        p->v[l] = 0.2 + 0.8 * pow(t, 1.5) + 0.6 * exp(-z * z);
        mean += p->v[l] / layers;
    }
    p->gamma = 0.15 * mean;
    p->umax = 0.0;
    for (int l = 0; l < layers; l++)
        p->umax += p->v[l] + (l > 0 ? p->gamma : 0.0);
    p->pct = mem_alloc((size_t)p->nlev * p->nlev * p->nlev * (layers + 1), sizeof(double),
                       "cost table");
    if (!p->pct)
        return ERR_NOMEM;
    /* The cost of every (size levels, layer count), from the exact counter with the lowest k
     * layers on; the benchmark checks random configurations against space_config_count. */
    for (int a = 0; a < p->nlev; a++)
        for (int b = 0; b < p->nlev; b++)
            for (int c = 0; c < p->nlev; c++)
                for (int k = 1; k <= layers; k++) {
                    int lev[3] = {a, b, c};
                    space_config_t cfg = {.layers = layers};
                    space_counts_t counts;
                    for (int m = 0; m < 3; m++) {
                        cfg.size[m] = space_level_size(p->space, m, lev[m]);
                        for (int l = 0; l < k; l++)
                            space_config_set_layer(&cfg, m, l, true);
                    }
                    space_config_canonicalise(&cfg);
                    rc = space_config_count(&cfg, &p->shape, SPACE_PREFIX_BOTTLENECK, &counts);
                    if (rc)
                        return rc;
                    *pct_at(p, lev, k) = counts.percent;
                    p->pct_max = fmax(p->pct_max, counts.percent);
                }
    return 0;
}

void synth_free(synth_t *p)
{
    space_free(&p->space);
    free(p->pct);
    p->pct = NULL;
}

/* The largest U over masks with exactly k bits, for every k. */
static void best_mask_values(const synth_t *p, double *best)
{
    /* dp[k][b]: best U of the layers seen so far with k bits on, the last one being b. */
    double dp[SPACE_MAX_LAYERS + 1][2], nx[SPACE_MAX_LAYERS + 1][2];
    int L = p->layers;

    for (int k = 0; k <= L; k++)
        dp[k][0] = dp[k][1] = -INFINITY;
    dp[0][0] = 0.0;
    for (int l = 0; l < L; l++) {
        for (int k = 0; k <= L; k++)
            nx[k][0] = nx[k][1] = -INFINITY;
        for (int k = 0; k <= l; k++)
            for (int b = 0; b < 2; b++) {
                if (dp[k][b] == -INFINITY)
                    continue;
                nx[k][0] = fmax(nx[k][0], dp[k][b]);
                nx[k + 1][1] = fmax(nx[k + 1][1], dp[k][b] + p->v[l] + (b ? p->gamma : 0.0));
            }
        memcpy(dp, nx, sizeof dp);
    }
    for (int k = 0; k <= L; k++)
        best[k] = fmax(dp[k][0], dp[k][1]);
}

/* Pareto filter of candidate (metric, -pct) points in place; returns the front's size. */
static int filter(double *pts, int n, double *front, int cap)
{
    bool *keep = mem_alloc((size_t)n, sizeof(bool), "front");
    int m = 0;

    if (!keep)
        return ERR_NOMEM;
    pareto_front(pts, n, keep);
    for (int i = 0; i < n; i++)
        if (keep[i] && m < cap) {
            front[2 * m] = pts[2 * i];
            front[2 * m + 1] = pts[2 * i + 1];
            m++;
        }
    free(keep);
    return m;
}

int synth_front(const synth_t *p, double *front, int cap)
{
    double best[SPACE_MAX_LAYERS + 1], *pts;
    int n = 0, nl = p->nlev, off = nl - 1, m;

    best_mask_values(p, best);
    pts = mem_alloc((size_t)nl * nl * nl * p->layers, 2 * sizeof(double), "front");
    if (!pts)
        return ERR_NOMEM;
    for (int a = 0; a < nl; a++)
        for (int b = 0; b < nl; b++)
            for (int c = 0; c < nl; c++) {
                int lev[3] = {a, b, c};
                if (a == off && b == off && c == off)
                    continue;
                for (int k = 1; k <= p->layers; k++) {
                    pts[2 * n] = synth_metric_levels(p, lev, best[k]);
                    pts[2 * n + 1] = -*pct_at(p, lev, k);
                    n++;
                }
            }
    m = filter(pts, n, front, cap);
    free(pts);
    return m;
}

int synth_front_enumerate(const synth_t *p, double *front, int cap)
{
    int L = p->layers, nl = p->nlev, off = nl - 1, n = 0, m;
    size_t nmask = (size_t)1 << L;
    double *u, *pts;
    int *cnt;

    if (L > 16)
        return err_set(ERR_RANGE, "enumeration of %d layers is too large", L);
    u = mem_alloc(nmask, sizeof(double), "masks");
    cnt = mem_alloc(nmask, sizeof(int), "masks");
    pts = mem_alloc((size_t)nl * nl * nl * nmask, 2 * sizeof(double), "configurations");
    if (!u || !cnt || !pts) {
        free(u);
        free(cnt);
        free(pts);
        return ERR_NOMEM;
    }
    for (size_t mk = 1; mk < nmask; mk++) {
        space_config_t cfg = {.layers = L, .size = {1}};
        for (int l = 0; l < L; l++)
            space_config_set_layer(&cfg, SPACE_SA, l, mk >> l & 1);
        u[mk] = mask_value(p, &cfg);
        cnt[mk] = __builtin_popcountll(mk);
    }
    /* Every valid configuration: a non-empty mask and at least one module on. */
    for (int a = 0; a < nl; a++)
        for (int b = 0; b < nl; b++)
            for (int c = 0; c < nl; c++) {
                int lev[3] = {a, b, c};
                if (a == off && b == off && c == off)
                    continue;
                for (size_t mk = 1; mk < nmask; mk++) {
                    pts[2 * n] = synth_metric_levels(p, lev, u[mk]);
                    pts[2 * n + 1] = -*pct_at(p, lev, cnt[mk]);
                    n++;
                }
            }
    m = filter(pts, n, front, cap);
    free(u);
    free(cnt);
    free(pts);
    return m;
}

double synth_hv(const synth_t *p, const double *pts, int n)
{
    double ref[2] = {SYNTH_METRIC_REF, -p->pct_max};
    return pareto_hv(pts, n, ref);
}
