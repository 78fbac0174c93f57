/* The report's figures (report_fig.h). */
#include "coordinator/runtime/report_fig.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mem.h"
#include "common/space.h"

#define TITLE_MAX (STUDY_VIEW_MAX_TEXT + 1024)
/* The most dimensions the relevance figure shows (a space with separate masks on 64 layers). */
#define REL_DIMS_CAP 512

/* The point of each trial (-1 for trials that are not points), malloc'd; NULL on failure. */
static int *point_index(const study_view_t *v)
{
    int *of = mem_alloc((size_t)v->ntrials + 1, sizeof *of, "point index");

    if (!of)
        return NULL;
    for (int i = 0; i < v->ntrials; i++)
        of[i] = -1;
    for (int p = 0; p < v->npoints; p++)
        of[v->points[p].trial] = p;
    return of;
}

/* ---- figure 1: trials and the front ------------------------------------------------------------ */

typedef struct {
    double cmin, cmax, cpos_min;   /* costs: all, and the smallest positive */
    double mmin, mmax;             /* metrics, error bars and the reference point */
    bool logx, zero_cost;
    int ndone;
} front_range_t;

static void range_add(front_range_t *r, double cost, double lo, double hi)
{
    r->cmin = fmin(r->cmin, cost);
    r->cmax = fmax(r->cmax, cost);
    if (cost > 0)
        r->cpos_min = fmin(r->cpos_min, cost);
    r->mmin = fmin(r->mmin, lo);
    r->mmax = fmax(r->mmax, hi);
}

static front_range_t front_range(const study_view_t *v)
{
    front_range_t r = {INFINITY, -INFINITY, INFINITY, INFINITY, -INFINITY, false, false, 0};

    for (int i = 0; i < v->ntrials; i++)
        if (v->trials[i].has_metric) {
            range_add(&r, v->trials[i].cost, v->trials[i].metric, v->trials[i].metric);
            r.zero_cost = r.zero_cost || v->trials[i].cost <= 0;
            r.ndone++;
        }
    for (int p = 0; p < v->npoints; p++)
        if (v->points[p].n > 1)
            range_add(&r, study_view_point_trial(v, p)->cost, v->points[p].mean - v->points[p].std,
                      v->points[p].mean + v->points[p].std);
    if (r.ndone > 0)
        range_add(&r, v->ref_cost, v->ref_metric, v->ref_metric);
    else
        r = (front_range_t){0, 1, 1, 0, 1, false, false, 0};
    r.logx = r.cmax > 0 && isfinite(r.cpos_min) && r.cmax / r.cpos_min > 100;
    return r;
}

bool report_fig_front_logx(const study_view_t *v)
{
    return front_range(v).logx;
}

void report_fig_front_caption(const study_view_t *v, svg_buf_t *b)
{
    front_range_t r = front_range(v);
    int failed = 0, pending = 0;

    for (int k = 0; k < VIEW_NKINDS; k++) {
        failed += v->count[k][VIEW_FAILED];
        pending += v->count[k][VIEW_QUEUED] + v->count[k][VIEW_DISPATCHED];
    }
    svg_printf(b, "%d done trial%s (%d search, %d baseline, %d confirmation), %d failed, "
                  "%d pending (queued or running); the front has %d point%s.", r.ndone,
               r.ndone == 1 ? "" : "s", v->count[VIEW_SEARCH][VIEW_DONE],
               v->count[VIEW_BASELINE][VIEW_DONE], v->count[VIEW_CONFIRM][VIEW_DONE], failed,
               pending, v->nfront, v->nfront == 1 ? "" : "s");
    if (r.logx)
        svg_puts(b, " Log x: the costs span more than two decades.");
    if (r.logx && r.zero_cost)
        svg_puts(b, " Trials with 0 % deployed parameters (e.g. head only) are drawn at the axis "
                    "minimum.");
}

/* The hover text of a done trial: id, kind, configuration, metric, cost and, for a confirmed
 * point, its statistics. */
static void trial_title(const study_view_t *v, const study_view_trial_t *t, int point, char *buf,
                        size_t len)
{
    int n = snprintf(buf, len, "trial %lld (%s", (long long)t->id, study_view_kind_name(t->kind));

    if (t->label)
        n += snprintf(buf + n, len - (size_t)n, " %s", t->label);
    if (t->kind == VIEW_CONFIRM)
        n += snprintf(buf + n, len - (size_t)n, " of trial %lld", (long long)t->origin);
    if (t->has_seed)
        n += snprintf(buf + n, len - (size_t)n, ", seed %llu", (unsigned long long)t->seed);
    n += snprintf(buf + n, len - (size_t)n, ")\n%s\nmetric %.4f, %.4g %% parameters deployed",
                  t->config, t->metric, t->cost);
    if (point >= 0 && v->points[point].n > 1 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, "\nconfirmed: %.4f ± %.4f over %d seeds",
                 v->points[point].mean, v->points[point].std, v->points[point].n);
}

static void draw_front_line(const study_view_t *v, const svg_plot_t *p, svg_buf_t *b)
{
    double *xy = mem_alloc((size_t)v->nfront * 2 + 2, 2 * sizeof *xy, "front line");
    int n = 0;

    if (!xy) {
        b->err = ERR_NOMEM;
        return;
    }
    for (int k = 0; k < v->nfront; k++) {
        const study_view_trial_t *t = study_view_point_trial(v, v->front[k]);
        double x = svg_scale_map(&p->x, t->cost), y = svg_scale_map(&p->y, t->metric);
        if (k > 0) {   /* the step: across at the previous metric, then up */
            xy[2 * n] = x;
            xy[2 * n + 1] = xy[2 * n - 1];
            n++;
        }
        xy[2 * n] = x;
        xy[2 * n + 1] = y;
        n++;
    }
    if (n > 0) {
        xy[2 * n] = p->left + p->width;
        xy[2 * n + 1] = xy[2 * n - 1];
        svg_polyline(b, xy, n + 1, "front");
    }
    free(xy);
}

static void draw_errbars(const study_view_t *v, const svg_plot_t *p, svg_buf_t *b)
{
    for (int q = 0; q < v->npoints; q++) {
        const study_view_point_t *pt = &v->points[q];
        double x = svg_scale_map(&p->x, study_view_point_trial(v, q)->cost);
        double lo = svg_scale_map(&p->y, pt->mean - pt->std);
        double hi = svg_scale_map(&p->y, pt->mean + pt->std);
        double mid = svg_scale_map(&p->y, pt->mean);
        if (pt->n < 2)
            continue;
        svg_line(b, x, lo, x, hi, "errbar");
        svg_line(b, x - 4, lo, x + 4, lo, "errbar");
        svg_line(b, x - 4, hi, x + 4, hi, "errbar");
        svg_line(b, x - 6, mid, x + 6, mid, "errbar");
    }
}

/* The class of a done trial's mark, and the order marks are drawn in (later on top). */
static int mark_layer(const study_view_t *v, const study_view_trial_t *t, int point,
                      const char **cls)
{
    if (t->kind == VIEW_CONFIRM) {
        *cls = "trial confirm";
        return 0;
    }
    if (t->kind == VIEW_BASELINE) {
        *cls = "trial baseline";
        return 3;
    }
    *cls = point >= 0 && v->points[point].on_front ? "trial on-front" : "trial";
    return point >= 0 && v->points[point].on_front ? 2 : 1;
}

/* A baseline's name beside its mark: to the right, or to the left where it would leave the
 * plot; below the mark near the top. */
static void baseline_label(const svg_plot_t *p, svg_buf_t *b, const study_view_trial_t *t)
{
    const char *label = t->label ? t->label : "baseline";
    double x = svg_scale_map(&p->x, t->cost), y = svg_scale_map(&p->y, t->metric) - 7;
    double w = 6.2 * (double)strlen(label);   /* 11 px text, a little wide to be safe */
    bool left = x + 8 + w > p->left + p->width;

    if (y < p->top + 12)
        y += 21;
    svg_text(b, left ? x - 8 : x + 8, y, left ? "end" : "start", "baseline-label", label);
}

static int draw_trials(const study_view_t *v, const svg_plot_t *p, svg_buf_t *b)
{
    static const double radius[4] = {3, 3.5, 4.5, 6};
    char *title = mem_alloc(TITLE_MAX, 1, "title");
    int *of = point_index(v);

    if (!title || !of) {
        free(title);
        free(of);
        return b->err = ERR_NOMEM;
    }
    for (int layer = 0; layer < 4; layer++)
        for (int i = 0; i < v->ntrials; i++) {
            const study_view_trial_t *t = &v->trials[i];
            const char *cls;
            if (!t->has_metric || mark_layer(v, t, of[i], &cls) != layer)
                continue;
            trial_title(v, t, of[i], title, TITLE_MAX);
            svg_circle(b, svg_scale_map(&p->x, t->cost), svg_scale_map(&p->y, t->metric),
                       radius[layer], cls, title);
        }
    for (int i = 0; i < v->ntrials; i++)
        if (v->trials[i].has_metric && v->trials[i].kind == VIEW_BASELINE)
            baseline_label(p, b, &v->trials[i]);
    free(title);
    free(of);
    return b->err;
}

static void draw_ref(const study_view_t *v, const svg_plot_t *p, svg_buf_t *b)
{
    double x = svg_scale_map(&p->x, v->ref_cost), y = svg_scale_map(&p->y, v->ref_metric);

    svg_printf(b, "<g class=\"ref-point\"><title>reference point: metric %.4g, %.4g %% "
                  "parameters (%s)</title>\n", v->ref_metric, v->ref_cost,
               v->ref_from_study ? "the study's" : "lowest metric, highest cost seen");
    svg_line(b, x - 6, y - 6, x + 6, y + 6, "ref");
    svg_line(b, x - 6, y + 6, x + 6, y - 6, "ref");
    svg_puts(b, "</g>\n");
}

/* One legend entry at x: a mark (circle of class cls, or a line when cls is NULL and line
 * is given) and its text; returns the x of the next entry. */
static double legend_item(svg_buf_t *b, double x, double y, const char *cls, const char *line,
                          const char *text)
{
    if (cls)
        svg_circle(b, x + 5, y - 4, 4, cls, NULL);
    else
        svg_line(b, x, y - 4, x + 14, y - 4, line);
    svg_text(b, x + 18, y, "start", "legend-text", text);
    return x + 30 + 6.5 * (double)strlen(text);
}

static void draw_legend(svg_buf_t *b, double x, double y)
{
    x = legend_item(b, x, y, "lg-search", NULL, "search trial");
    x = legend_item(b, x, y, "lg-front", NULL, "on the front");
    x = legend_item(b, x, y, NULL, "front", "Pareto front");
    x = legend_item(b, x, y, "lg-baseline", NULL, "baseline");
    x = legend_item(b, x, y, "lg-confirm", NULL, "confirmation");
    x = legend_item(b, x, y, NULL, "errbar", "mean ± std over seeds");
    legend_item(b, x, y, NULL, "ref", "reference");
}

int report_fig_front(const study_view_t *v, svg_buf_t *b)
{
    front_range_t r = front_range(v);
    double x0 = r.logx ? r.cpos_min : r.cmin, x1 = r.cmax, pad = (r.mmax - r.mmin) * 0.04;
    svg_plot_t p;
    int rc;

    svg_open(b, 860, 520, "Trials: dev metric against deployed parameters");
    draw_legend(b, 70, 22);
    if (!r.logx)
        x0 = fmin(x0, 0);
    if ((rc = svg_plot_init(&p, 70, 40, 760, 400, x0, x1, r.logx, r.mmin - pad, r.mmax + pad,
                            false)) != 0)
        return b->err = rc;
    svg_axes(b, &p, r.logx ? "deployed parameters, % of the backbone (log scale)"
                           : "deployed parameters, % of the backbone", "dev metric");
    draw_front_line(v, &p, b);
    draw_errbars(v, &p, b);
    draw_ref(v, &p, b);
    draw_trials(v, &p, b);
    if (r.ndone == 0)
        svg_text(b, 70 + 380, 240, "middle", "note", "no trial is done yet");
    else if (r.logx && r.zero_cost)
        svg_text(b, 70, 505, "start", "note",
                 "trials with 0 % deployed parameters are drawn at the axis minimum");
    svg_close(b);
    return b->err;
}

/* ---- figure 2: the hypervolume's history --------------------------------------------------- */

/* Worker time in the unit that keeps its numbers short. */
static double time_unit(double max_s, const char **name)
{
    if (max_s > 7200) {
        *name = "cumulative worker time, hours";
        return 3600;
    }
    if (max_s > 120) {
        *name = "cumulative worker time, minutes";
        return 60;
    }
    *name = "cumulative worker time, seconds";
    return 1;
}

/* One panel: the history as a step line against x[k] (trial number or worker time). */
static void hv_panel(const study_view_t *v, svg_buf_t *b, double left, bool by_time)
{
    double top = 0, xmax = 1, unit = 1, *xy;
    const char *xlabel = "search trials counted";
    svg_plot_t p;

    for (int k = 0; k < v->nhv; k++)
        top = fmax(top, v->hv[k].hv);
    top = fmax(fmax(top, v->hv_baselines), 1e-12);
    if (by_time) {
        unit = time_unit(v->nhv ? v->hv[v->nhv - 1].worker_s : 0, &xlabel);
        xmax = fmax(v->nhv ? v->hv[v->nhv - 1].worker_s / unit : 0, 1e-9);
    } else {
        xmax = fmax(v->nhv, 1);
    }
    if ((b->err = b->err ? b->err : svg_plot_init(&p, left, 30, 330, 260, 0, xmax, false, 0,
                                                  top * 1.05, false)) != 0)
        return;
    svg_axes(b, &p, xlabel, "hypervolume");
    if (v->hv_baselines > 0) {
        double y = svg_scale_map(&p.y, v->hv_baselines);
        svg_line(b, p.left, y, p.left + p.width, y, "hv-baseline");
        svg_text(b, p.left + p.width - 4, y - 5, "end", "baseline-label", "baselines");
    }
    if (!(xy = mem_alloc((size_t)v->nhv * 2 + 2, 2 * sizeof *xy, "history line"))) {
        b->err = ERR_NOMEM;
        return;
    }
    xy[0] = svg_scale_map(&p.x, 0);
    xy[1] = svg_scale_map(&p.y, 0);
    for (int k = 0; k < v->nhv; k++) {
        double x = svg_scale_map(&p.x, by_time ? v->hv[k].worker_s / unit : k + 1);
        xy[4 * k + 2] = x;   /* across at the previous value, then up to this one */
        xy[4 * k + 3] = xy[4 * k + 1];
        xy[4 * k + 4] = x;
        xy[4 * k + 5] = svg_scale_map(&p.y, v->hv[k].hv);
    }
    svg_polyline(b, xy, 2 * v->nhv + 1, "hv-search");
    free(xy);
}

int report_fig_hypervolume(const study_view_t *v, svg_buf_t *b)
{
    svg_open(b, 860, 340, "Hypervolume of the search front");
    svg_text(b, 80, 18, "start", "legend-text",
             v->ndominance ? "search front (blue); the baselines' own hypervolume (dashed), same "
                             "reference point"
                           : "search front; the study has no baseline");
    hv_panel(v, b, 80, false);
    hv_panel(v, b, 510, true);
    if (v->nhv == 0)
        svg_text(b, 430, 170, "middle", "note", "no search trial is counted yet");
    svg_close(b);
    return b->err;
}

/* ---- figure 3: modules by layer on the front ------------------------------------------------- */

static const char *const module_title[SPACE_NMODULES] = {
    "sa: serial adapter", "pa: parallel adapter", "pt: prefix", "lora: LoRA",
    "ha: Houlsby adapters"};

/* How many front configurations insert each module in each layer (counts, SPACE_NMODULES x
 * layers); returns how many front configurations could be read. */
static int layer_counts(const study_view_t *v, int *counts)
{
    int nread = 0;

    for (int k = 0; k < v->nfront; k++) {
        space_config_t c;
        if (space_config_parse(study_view_point_trial(v, v->front[k])->config, v->layers, &c) != 0)
            continue;
        nread++;
        for (int m = 0; m < SPACE_NMODULES; m++)
            for (int l = 0; l < v->layers; l++)
                if (space_config_active(&c, (space_module_t)m) &&
                    space_config_layer(&c, (space_module_t)m, l))
                    counts[m * v->layers + l]++;
    }
    return nread;
}

/* White to the palette's blue by f in [0, 1]. */
static void shade(double f, char *buf, size_t len)
{
    static const int lo[3] = {247, 251, 255}, hi[3] = {0, 84, 147};
    int c[3];

    f = isfinite(f) ? fmax(0, fmin(1, f)) : 0;
    for (int i = 0; i < 3; i++)
        c[i] = (int)lround(lo[i] + f * (hi[i] - lo[i]));
    snprintf(buf, len, "#%02x%02x%02x", c[0], c[1], c[2]);
}

static void layer_cells(const study_view_t *v, svg_buf_t *b, const int *counts, int nread,
                        double cell)
{
    char title[160], fill[16], label[16];

    for (int m = 0; m < SPACE_NMODULES; m++) {
        double y = 40 + m * cell;
        svg_text(b, 164, y + cell / 2 + 4, "end", "axis-label", module_title[m]);
        for (int l = 0; l < v->layers; l++) {
            int c = counts[m * v->layers + l];
            double f = nread ? (double)c / nread : 0, x = 170 + l * cell;
            shade(f, fill, sizeof fill);
            snprintf(title, sizeof title, "%s, layer %d: %.2f of the front (%d of %d "
                     "configurations)", space_module_name((space_module_t)m), l, f, c, nread);
            svg_rect(b, x, y, cell, cell, "cell", fill, title);
            if (cell >= 26) {
                snprintf(label, sizeof label, "%.2f", f);
                svg_text(b, x + cell / 2, y + cell / 2 + 4, "middle",
                         f > 0.55 ? "cell-label light" : "cell-label", label);
            }
        }
    }
    for (int l = 0; l < v->layers; l++)
        if (cell >= 14 || l % 2 == 0) {
            snprintf(label, sizeof label, "%d", l);
            svg_text(b, 170 + l * cell + cell / 2, 40 + SPACE_NMODULES * cell + 16, "middle",
                     "tick-label", label);
        }
}

int report_fig_layers(const study_view_t *v, svg_buf_t *b)
{
    int layers = v->layers > 0 ? v->layers : 1, nread = 0;
    double cell = fmin(40, 660.0 / layers);
    int width = (int)(170 + layers * cell + 30), height = (int)(40 + SPACE_NMODULES * cell + 70);
    int *counts = mem_alloc((size_t)SPACE_NMODULES * (size_t)layers, sizeof *counts, "layers");

    if (!counts)
        return b->err = ERR_NOMEM;
    svg_open(b, width < 500 ? 500 : width, height, "Modules by layer on the Pareto front");
    if (v->layers > 0)
        nread = layer_counts(v, counts);
    if (nread == 0) {
        svg_text(b, 20, 60, "start", "note", v->layers > 0 ? "the front is empty"
                                                         : "the number of layers is unknown");
    } else {
        layer_cells(v, b, counts, nread, cell);
        svg_text(b, 170 + layers * cell / 2, 40 + 4 * cell + 36, "middle", "axis-label",
                 "layer (0 = bottom)");
    }
    svg_text(b, 20, 22, "start", "legend-text",
             "fraction of the front's configurations that insert the module in the layer");
    svg_close(b);
    free(counts);
    return b->err;
}

/* ---- figure 4: relevance of each dimension ----------------------------------------------------- */

#define REL_NAME 32

static void relevance_bars(svg_buf_t *b, const double *rel, const double *ls, const char *names,
                           int d)
{
    char title[160], label[32];

    for (int k = 0; k < d; k++) {
        double y = 40 + k * 18, w = 560 * (isfinite(rel[k]) ? rel[k] : 0);
        snprintf(title, sizeof title, "%s: relevance %.3f (lengthscale %.3g)",
                 names + (size_t)k * REL_NAME, rel[k], ls[k]);
        svg_text(b, 112, y + 11, "end", "tick-label", names + (size_t)k * REL_NAME);
        svg_rect(b, 120, y, w, 14, "bar", NULL, title);
        snprintf(label, sizeof label, "%.2f", rel[k]);
        svg_text(b, 124 + w, y + 11, "start", "tick-label", label);
    }
}

int report_fig_relevance(const study_view_t *v, svg_buf_t *b, bool *fitted)
{
    int cap = REL_DIMS_CAP, d = 0, rc;
    double *rel = mem_alloc((size_t)cap, sizeof *rel, "relevance");
    double *ls = mem_alloc((size_t)cap, sizeof *ls, "relevance");
    char *names = mem_alloc((size_t)cap, REL_NAME, "relevance");

    if (fitted)
        *fitted = false;
    if (!rel || !ls || !names) {
        rc = b->err = ERR_NOMEM;
        goto out;
    }
    rc = study_view_relevance(v, rel, ls, names, REL_NAME, cap, &d);
    svg_open(b, 760, rc == 0 ? 40 + 18 * d + 40 : 90, "Relevance of each search dimension");
    if (rc != 0) {
        svg_text(b, 20, 30, "start", "note", "No relevance figure:");
        svg_text(b, 20, 50, "start", "note", err_msg());
    } else {
        svg_text(b, 20, 22, "start", "legend-text",
                 "1 / lengthscale of the MAP GP fit on the done search trials (largest = 1)");
        relevance_bars(b, rel, ls, names, d);
        if (fitted)
            *fitted = true;
    }
    svg_close(b);
    rc = b->err;
out:
    free(rel);
    free(ls);
    free(names);
    return rc;
}
