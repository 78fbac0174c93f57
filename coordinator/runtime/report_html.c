/* The study report as one web page and four SVG files (report_html.h). */
#include "coordinator/runtime/report_html.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/mem.h"
#include "common/space.h"
#include "common/version.h"
#include "coordinator/runtime/report_fig.h"

/* How many failed trials' errors the page quotes. */
#define REPORT_HTML_ERRORS 5

typedef struct {
    svg_buf_t front, hv, layers, relevance;
    bool fitted;
} figures_t;

static const char page_style[] =
    "body{margin:0;background:#f5f6f8;color:#1d2330;"
    "font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif}"
    "main{max-width:1120px;margin:0 auto;padding:24px 28px 60px}"
    "h1{font-size:24px;margin:0 0 4px}"
    "h2{font-size:17px;margin:0 0 10px}"
    "h3{font-size:14px;margin:16px 0 6px}"
    ".sub{color:#5b6472;margin:0 0 20px}"
    "section{background:#fff;border:1px solid #dfe3e8;border-radius:6px;padding:16px 20px;"
    "margin:0 0 20px}"
    "figure{margin:0;overflow-x:auto}"
    "figure svg{max-width:100%;height:auto;display:block}"
    "figcaption{color:#4a5260;font-size:13px;margin-top:6px}"
    "p{margin:6px 0}"
    ".scroll{overflow-x:auto}"
    "table{border-collapse:collapse;font-size:13px}"
    "th,td{border-bottom:1px solid #e6e9ee;padding:4px 10px;text-align:left;vertical-align:top}"
    "thead th{background:#f1f3f6;font-weight:600;position:sticky;top:0}"
    "table.facts th{font-weight:600;width:210px}"
    "td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    "td.cfg{font-family:'DejaVu Sans Mono',ui-monospace,monospace;font-size:12px;"
    "word-break:break-all}"
    "tr.baseline td{background:#fff4ec}"
    "tr.confirm td{background:#eefaf6}"
    "td.failed{color:#b00020}"
    ".err{font-family:'DejaVu Sans Mono',ui-monospace,monospace;font-size:12px;"
    "white-space:pre-wrap;color:#7a1020}";

static void esc(svg_buf_t *b, const char *s)
{
    svg_escape(b, s);
}

/* Formatted text, escaped. */
static void escf(svg_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void escf(svg_buf_t *b, const char *fmt, ...)
{
    char text[STUDY_VIEW_MAX_TEXT + 256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    svg_escape(b, text);
}

/* A row of the facts table: key, then formatted text (escaped). */
static void fact(svg_buf_t *b, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fact(svg_buf_t *b, const char *key, const char *fmt, ...)
{
    char text[STUDY_VIEW_MAX_TEXT + 256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    svg_puts(b, "<tr><th>");
    esc(b, key);
    svg_puts(b, "</th><td>");
    esc(b, text);
    svg_puts(b, "</td></tr>\n");
}

/* "2024-05-01 12:00:00 UTC", or "-" for 0. */
static void when(double t, char *buf, size_t len)
{
    time_t s = (time_t)t;
    struct tm tm;

    if (!(t > 0) || !gmtime_r(&s, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm))
        snprintf(buf, len, "-");
}

/* "2 h 05 min", "3 min 20 s", "4.2 s". */
static void duration(double s, char *buf, size_t len)
{
    if (!isfinite(s) || s < 0)
        s = 0;
    if (s >= 3600)
        snprintf(buf, len, "%d h %02d min", (int)(s / 3600), (int)fmod(s / 60, 60));
    else if (s >= 60)
        snprintf(buf, len, "%d min %02d s", (int)(s / 60), (int)fmod(s, 60));
    else
        snprintf(buf, len, "%.1f s", s);
}

/* A number cell: fmt is "f" (fixed) or "g", prec its precision, a leading "+" when signed;
 * "-" when not finite. */
static void num_cell(svg_buf_t *b, double x, const char *fmt, int prec)
{
    bool sign = fmt[0] == '+';
    char text[64];

    if (x == 0)
        x = 0;   /* no "-0" */
    if (isfinite(x) && fmt[sign] == 'g')
        snprintf(text, sizeof text, "%s%.*g", sign && x >= 0 ? "+" : "", prec, x);
    else if (isfinite(x))
        snprintf(text, sizeof text, "%s%.*f", sign && x >= 0 ? "+" : "", prec, x);
    else
        snprintf(text, sizeof text, "-");
    svg_puts(b, "<td class=\"num\">");
    esc(b, text);
    svg_puts(b, "</td>");
}

/* ---- facts ----------------------------------------------------------------------------------- */

static void facts_model(svg_buf_t *b, const config_t *c)
{
    char labels[64];

    fact(b, "mode", "%s", config_mode_name(c->mode));
    if (c->model_embedded)
        fact(b, "model", "the embedded model (seed %llu)", (unsigned long long)c->model_seed);
    else if (c->model_path[0])
        fact(b, "model", "%s", c->model_path);
    else
        fact(b, "model", "none (%s)", c->mode == CONFIG_MODE_SYNTHETIC
                                          ? "synthetic mode: costs counted on the shape below"
                                          : "not set");
    fact(b, "model shape", "hidden %d, %d layers, %d heads, intermediate %d", c->shape.hidden,
         c->shape.layers, c->shape.heads, c->shape.intermediate);
    if (c->num_labels > 0)
        snprintf(labels, sizeof labels, "%d label%s", c->num_labels,
                 c->num_labels == 1 ? " (regression)" : "s");
    else
        snprintf(labels, sizeof labels, "the task's labels");
    fact(b, "task", "%s%s, metric %s, %s%s%s", c->task_name, c->task_embedded ? " (embedded)" : "",
         c->metric[0] ? c->metric : "(the task's)", labels, c->data_dir[0] ? ", data " : "",
         c->data_dir);
    fact(b, "recipe", "%d epochs, learning rate %g, batch %d, max length %d, warm-up %g, "
         "weight decay %g, patience %d%s", c->epochs, c->learning_rate, c->batch_size,
         c->max_length, c->warmup_ratio, c->weight_decay, c->patience,
         c->full_finetune ? ", full fine-tuning" : "");
}

/* The ladders of the space, its dimensions and cardinality. */
static void facts_space(svg_buf_t *b, const config_t *c)
{
    space_t *sp = space_new(&c->space);
    char text[1024];
    int n = 0;

    if (!sp) {
        fact(b, "space", "cannot be built: %s", err_msg());
        return;
    }
    for (int m = 0; m < SPACE_NMODULES && n < (int)sizeof text - 64; m++) {
        n += snprintf(text + n, sizeof text - (size_t)n, "%s%s ", m ? "; " : "",
                      space_module_name((space_module_t)m));
        for (int k = 0; k < space_nlevels(sp, (space_module_t)m) && n < (int)sizeof text - 32; k++)
            n += snprintf(text + n, sizeof text - (size_t)n, "%s%u", k ? "," : "",
                          space_level_size(sp, (space_module_t)m, k));
    }
    fact(b, "space: ladders", "%s", text);
    fact(b, "space: masks", "%s, %d layers", space_separate_masks(sp) ? "one per module"
                                                                     : "one shared", c->shape.layers);
    fact(b, "space: size", "%.6g configurations, %d encoded dimensions", space_cardinality(sp),
         space_dims(sp));
    space_free(&sp);
}

static void facts_study(svg_buf_t *b, const study_view_t *v)
{
    const config_t *c = v->config;

    fact(b, "study", "%s", v->name[0] ? v->name : "(unnamed)");
    if (c) {
        facts_model(b, c);
        facts_space(b, c);
        fact(b, "search", "budget %d, %d initial random, seed %llu, objective %s, surrogate %s",
             c->budget, c->n_init, (unsigned long long)c->seed,
             c->objective == CONFIG_OBJ_HV ? "hv" : "metric", config_surrogate_name(c->surrogate));
    } else {
        fact(b, "configuration", "unavailable: %s", v->config_error);
        fact(b, "budget", "%d", v->budget);
    }
    fact(b, "reference point", "metric %.6g, %.6g %% parameters (%s)", v->ref_metric, v->ref_cost,
         v->ref_from_study ? "the study's" : "lowest metric and highest cost seen");
    fact(b, "hypervolume", "search front %.6g; baselines %.6g", v->hv_search, v->hv_baselines);
}

static void facts_times(svg_buf_t *b, const study_view_t *v)
{
    char t0[64], t1[64], wall[64], work[64];

    when(v->first_dispatch, t0, sizeof t0);
    when(v->last_finish, t1, sizeof t1);
    duration(v->last_finish > v->first_dispatch && v->first_dispatch > 0
                 ? v->last_finish - v->first_dispatch : 0, wall, sizeof wall);
    duration(v->worker_s, work, sizeof work);
    fact(b, "wall time", "%s (first dispatch %s, last finish %s)", wall, t0, t1);
    fact(b, "worker time", "%s, summed over trials (their results' total_s, else dispatch to "
         "finish)", work);
    fact(b, "autopeft", "%s (this report); store schema %d, created by %s, %d coordinator "
         "start%s", version_long(), v->schema_version, v->created_at[0] ? v->created_at : "?",
         v->starts, v->starts == 1 ? "" : "s");
}

/* Trials by kind (rows) and state (columns). */
static void facts_counts(svg_buf_t *b, const study_view_t *v)
{
    svg_puts(b, "<h3>Trials by kind and state</h3>\n<table><thead><tr><th>kind</th>");
    for (int s = 0; s < VIEW_NSTATES; s++)
        svg_printf(b, "<th>%s</th>", study_view_state_name((study_view_state_t)s));
    svg_puts(b, "<th>all</th></tr></thead>\n<tbody>\n");
    for (int k = 0; k < VIEW_NKINDS; k++) {
        int all = 0;
        svg_printf(b, "<tr><td>%s</td>", study_view_kind_name((study_view_kind_t)k));
        for (int s = 0; s < VIEW_NSTATES; s++) {
            all += v->count[k][s];
            svg_printf(b, "<td class=\"num\">%d</td>", v->count[k][s]);
        }
        svg_printf(b, "<td class=\"num\">%d</td></tr>\n", all);
    }
    svg_puts(b, "</tbody></table>\n");
}

static void failures(svg_buf_t *b, const study_view_t *v)
{
    int failed = 0, shown = 0;

    for (int k = 0; k < VIEW_NKINDS; k++)
        failed += v->count[k][VIEW_FAILED];
    svg_printf(b, "<h3>Failures</h3>\n<p>%d failed trial%s.", failed, failed == 1 ? "" : "s");
    if (failed > REPORT_HTML_ERRORS)
        svg_printf(b, " The first %d:", REPORT_HTML_ERRORS);
    svg_puts(b, "</p>\n");
    for (int i = 0; i < v->ntrials && shown < REPORT_HTML_ERRORS; i++) {
        const study_view_trial_t *t = &v->trials[i];
        if (t->state != VIEW_FAILED)
            continue;
        shown++;
        svg_printf(b, "<p>trial %lld (%s): <span class=\"err\">", (long long)t->id,
                   study_view_kind_name(t->kind));
        esc(b, t->error ? t->error : "(no message)");
        svg_puts(b, "</span></p>\n");
    }
}

/* ---- tables ---------------------------------------------------------------------------------- */

static void dominance_table(svg_buf_t *b, const study_view_t *v)
{
    if (v->ndominance == 0)
        return;
    svg_puts(b, "<h3>Baselines against the front</h3>\n<div class=\"scroll\"><table><thead><tr>"
                "<th>baseline</th><th>trial</th><th>metric (mean when confirmed)</th>"
                "<th>params %</th>"
                "<th>dominated by</th><th>Δ metric</th><th>Δ params %</th><th>compared on</th>"
                "<th>Δ metric / pooled σ</th></tr></thead>\n<tbody>\n");
    for (int k = 0; k < v->ndominance; k++) {
        const study_view_dominance_t *d = &v->dominance[k];
        const study_view_trial_t *t = study_view_point_trial(v, d->baseline);
        svg_puts(b, "<tr class=\"baseline\"><td>");
        esc(b, t->label ? t->label : "baseline");
        svg_printf(b, "</td><td class=\"num\">%lld</td>", (long long)t->id);
        num_cell(b, v->points[d->baseline].n > 1 ? v->points[d->baseline].mean : t->metric, "f",
                 4);
        num_cell(b, t->cost, "g", 4);
        if (d->by < 0) {
            svg_puts(b, "<td>no front point</td><td></td><td></td><td></td><td></td></tr>\n");
            continue;
        }
        svg_printf(b, "<td>trial %lld</td>", (long long)study_view_point_trial(v, d->by)->id);
        num_cell(b, d->d_metric, "+f", 4);
        num_cell(b, -d->d_cost, "+g", 4);
        svg_printf(b, "<td>%s</td>", d->on_means ? "confirmed means" : "single runs");
        num_cell(b, d->d_metric_sd, "f", 2);
        svg_puts(b, "</tr>\n");
    }
    svg_puts(b, "</tbody></table></div>\n");
}

static void confirmed_table(svg_buf_t *b, const study_view_t *v)
{
    int n = 0;

    for (int p = 0; p < v->npoints; p++)
        n += v->points[p].n > 1;
    if (n == 0)
        return;
    svg_puts(b, "<h3>Confirmed points</h3>\n<div class=\"scroll\"><table><thead><tr>"
                "<th>trial</th><th>kind</th><th>seeds</th><th>mean</th><th>std</th>"
                "<th>params %</th><th>seeds used</th></tr></thead>\n<tbody>\n");
    for (int p = 0; p < v->npoints; p++) {
        const study_view_point_t *pt = &v->points[p];
        const study_view_trial_t *t = study_view_point_trial(v, p);
        if (pt->n < 2)
            continue;
        svg_printf(b, "<tr><td class=\"num\">%lld</td><td>", (long long)t->id);
        esc(b, t->label ? t->label : study_view_kind_name(t->kind));
        svg_printf(b, "</td><td class=\"num\">%d</td>", pt->n);
        num_cell(b, pt->mean, "f", 4);
        num_cell(b, pt->std, "f", 4);
        num_cell(b, t->cost, "g", 4);
        svg_puts(b, "<td>");
        for (int s = 0; s < pt->n; s++)
            svg_printf(b, "%s%llu", s ? ", " : "", (unsigned long long)pt->seeds[s]);
        svg_puts(b, pt->seeds_known ? "</td></tr>\n" : " (some: the study seed)</td></tr>\n");
    }
    svg_puts(b, "</tbody></table></div>\n");
}

static void trial_row(svg_buf_t *b, const study_view_trial_t *t)
{
    svg_printf(b, "<tr class=\"%s\"><td class=\"num\">%lld</td><td>%s</td><td>",
               study_view_kind_name(t->kind), (long long)t->id, study_view_kind_name(t->kind));
    esc(b, t->label ? t->label : "");
    svg_printf(b, "</td><td%s>%s</td><td class=\"cfg\">",
               t->state == VIEW_FAILED ? " class=\"failed\"" : "", study_view_state_name(t->state));
    esc(b, t->config);
    svg_puts(b, "</td>");
    num_cell(b, t->has_metric ? t->metric : NAN, "f", 4);
    num_cell(b, t->cost, "g", 4);
    if (t->has_seed)
        svg_printf(b, "<td class=\"num\">%llu</td>", (unsigned long long)t->seed);
    else
        svg_puts(b, "<td class=\"num\">study</td>");
    if (t->origin)
        svg_printf(b, "<td class=\"num\">%lld</td>", (long long)t->origin);
    else
        svg_puts(b, "<td></td>");
    num_cell(b, t->worker_s > 0 ? t->worker_s : NAN, "f", 1);
    svg_puts(b, "</tr>\n");
}

static void trials_table(svg_buf_t *b, const study_view_t *v)
{
    svg_puts(b, "<section id=\"trials\"><h2>Trials</h2>\n<div class=\"scroll\"><table "
                "class=\"trials\"><thead><tr><th>id</th><th>kind</th><th>label</th><th>state</th>"
                "<th>configuration</th><th>metric</th><th>params %</th><th>seed</th>"
                "<th>origin</th><th>seconds</th></tr></thead>\n<tbody>\n");
    for (int i = 0; i < v->ntrials; i++)
        trial_row(b, &v->trials[i]);
    svg_puts(b, "</tbody></table></div></section>\n");
}

/* ---- the page -------------------------------------------------------------------------------- */

static void figures_free(figures_t *f)
{
    svg_buf_free(&f->front);
    svg_buf_free(&f->hv);
    svg_buf_free(&f->layers);
    svg_buf_free(&f->relevance);
}

static int figures_make(const study_view_t *v, figures_t *f)
{
    int rc;

    memset(f, 0, sizeof *f);
    if ((rc = report_fig_front(v, &f->front)) != 0 ||
        (rc = report_fig_hypervolume(v, &f->hv)) != 0 ||
        (rc = report_fig_layers(v, &f->layers)) != 0 ||
        (rc = report_fig_relevance(v, &f->relevance, &f->fitted)) != 0)
        figures_free(f);
    return rc;
}

/* A section with a figure and its caption (caption_fn writes it, escaped). */
static void figure(svg_buf_t *b, const char *id, const char *heading, const svg_buf_t *svg)
{
    svg_printf(b, "<section id=\"%s\"><h2>", id);
    esc(b, heading);
    svg_puts(b, "</h2>\n<figure>\n");
    svg_puts(b, svg->data ? svg->data : "");
    svg_puts(b, "<figcaption>");
}

static void figure_end(svg_buf_t *b)
{
    svg_puts(b, "</figcaption>\n</figure>\n");
}

static void sections(svg_buf_t *b, const study_view_t *v, const figures_t *f)
{
    figure(b, "front", "Trials and the Pareto front", &f->front);
    report_fig_front_caption(v, b);
    svg_puts(b, " Baselines are not part of the front. Hover a mark for its trial.");
    figure_end(b);
    dominance_table(b, v);
    confirmed_table(b, v);
    svg_puts(b, "</section>\n");

    figure(b, "hypervolume", "Hypervolume", &f->hv);
    escf(b, "The exact 2-D hypervolume of the search front (metric up, parameters down) over "
         "the reference point (metric %.4g, %.4g %%), after each counted search trial (failed "
         "ones add nothing), against the trial count and the search trials' summed worker time: "
         "%.6g at the end.", v->ref_metric, v->ref_cost, v->hv_search);
    if (v->ndominance)
        escf(b, " The set of %d baseline points, over the same reference point: %.6g.",
             v->ndominance, v->hv_baselines);
    figure_end(b);
    svg_puts(b, "</section>\n");

    figure(b, "layers", "Where the front puts its modules", &f->layers);
    escf(b, "For each module and layer, the fraction of the %d front configurations that insert "
         "the module in that layer (a module of size 0 counts as absent).", v->nfront);
    figure_end(b);
    svg_puts(b, "</section>\n");

    figure(b, "relevance", "Relevance of each search dimension", &f->relevance);
    svg_puts(b, "A Gaussian process with the search's own MAP fit (ARD Matérn 5/2, copula "
                "output transform) on the done search trials' encoded configurations; a "
                "dimension's relevance is 1 / its lengthscale, scaled so the largest is 1. "
                "Short lengthscales mean the metric changes quickly along that dimension. "
                "The fit's lengthscales are used rather than, say, permutation importance "
                "because they are what the search itself believed when it chose trials.");
    figure_end(b);
    svg_puts(b, "</section>\n");
}

static int page(const study_view_t *v, const figures_t *f, double generated, svg_buf_t *b)
{
    char date[64];

    when(generated, date, sizeof date);
    svg_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
                "<title>autopeft report: ");
    esc(b, v->name);
    svg_printf(b, "</title>\n<style>%s%s</style>\n</head>\n<body>\n<main>\n<h1>", page_style,
               svg_style());
    esc(b, v->name[0] ? v->name : "study");
    svg_puts(b, "</h1>\n<p class=\"sub\">");
    escf(b, "autopeft %s report, %s; %d trials, %d on the front.", version_string(), date,
         v->ntrials, v->nfront);
    svg_puts(b, "</p>\n");
    sections(b, v, f);
    svg_puts(b, "<section id=\"facts\"><h2>Facts</h2>\n<table class=\"facts\"><tbody>\n");
    facts_study(b, v);
    facts_times(b, v);
    svg_puts(b, "</tbody></table>\n");
    facts_counts(b, v);
    failures(b, v);
    svg_puts(b, "</section>\n");
    trials_table(b, v);
    svg_puts(b, "</main>\n</body>\n</html>\n");
    return svg_buf_error(b);
}

int report_html_page(const study_view_t *v, double generated, svg_buf_t *b)
{
    figures_t f;
    int rc = figures_make(v, &f);

    if (rc == 0)
        rc = page(v, &f, generated, b);
    figures_free(&f);
    return rc;
}

/* ---- files ----------------------------------------------------------------------------------- */

/* dir/name written through a temporary name and renamed, so readers never see half a file;
 * prefix (may be NULL) is written first. */
static int write_file(const char *dir, const char *name, const char *prefix, const svg_buf_t *b)
{
    char tmp[4300], path[4300];
    FILE *f;
    int rc = 0;

    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path ||
        (size_t)snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name) >= sizeof tmp)
        return err_set(ERR_RANGE, "%s: path too long", dir);
    if (!(f = fopen(tmp, "w")))
        return err_set(ERR_IO, "%s: %s", tmp, strerror(errno));
    if (prefix)
        fputs(prefix, f);
    if (b->len)
        fwrite(b->data, 1, b->len, f);
    if (fflush(f) != 0 || ferror(f))
        rc = err_set(ERR_IO, "%s: write error: %s", tmp, strerror(errno));
    fclose(f);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = err_set(ERR_IO, "%s: %s", path, strerror(errno));
    if (rc != 0)
        unlink(tmp);
    return rc;
}

int report_html_write(const char *dir, char *path_out, size_t len)
{
    static const char xml_decl[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    study_view_t v;
    figures_t f;
    svg_buf_t html;
    int rc;

    if (!dir)
        return err_set(ERR_INVAL, "report_html_write: no study folder");
    if ((rc = study_view_load(dir, &v)) != 0)
        return rc;
    svg_buf_init(&html);
    if ((rc = figures_make(&v, &f)) != 0)
        goto out_view;
    if ((rc = write_file(dir, "front.svg", xml_decl, &f.front)) != 0 ||
        (rc = write_file(dir, "hypervolume.svg", xml_decl, &f.hv)) != 0 ||
        (rc = write_file(dir, "layers.svg", xml_decl, &f.layers)) != 0 ||
        (rc = write_file(dir, "relevance.svg", xml_decl, &f.relevance)) != 0 ||
        (rc = page(&v, &f, (double)time(NULL), &html)) != 0 ||
        (rc = write_file(dir, "report.html", NULL, &html)) != 0)
        goto out;
    if (path_out && len > 0)
        snprintf(path_out, len, "%s/report.html", dir);
out:
    figures_free(&f);
out_view:
    svg_buf_free(&html);
    study_view_free(&v);
    return rc;
}
