/* Baselines against the front, and confirmed points (report_compare.h). */
#include "coordinator/runtime/report_compare.h"

#include <math.h>

/* n, mean, std and seeds of a point. */
static void set_confirmed(json_t *o, const study_view_point_t *p)
{
    json_t *seeds = json_array();

    json_object_set_new(o, "n", json_integer(p->n));
    json_object_set_new(o, "mean", json_real(p->mean));
    json_object_set_new(o, "std", json_real(p->std));
    if (p->seeds_known)
        for (int i = 0; i < p->n; i++)
            json_array_append_new(seeds, json_integer((json_int_t)p->seeds[i]));
    json_object_set_new(o, "seeds", seeds);
}

static json_t *point_json(const study_view_t *v, int point)
{
    const study_view_trial_t *t = study_view_point_trial(v, point);
    json_t *o = json_object();

    json_object_set_new(o, "id", json_integer(t->id));
    if (t->label)
        json_object_set_new(o, "label", json_string(t->label));
    json_object_set_new(o, "config", json_string(t->config));
    json_object_set_new(o, "metric", json_real(t->metric));
    json_object_set_new(o, "param_percent", json_real(t->cost));
    set_confirmed(o, &v->points[point]);
    return o;
}

static json_t *dominance_json(const study_view_t *v, const study_view_dominance_t *d)
{
    json_t *o;

    if (d->by < 0)
        return json_null();
    o = json_object();
    json_object_set_new(o, "id", json_integer(study_view_point_trial(v, d->by)->id));
    json_object_set_new(o, "on_confirmed_means", json_boolean(d->on_means));
    json_object_set_new(o, "metric_margin", json_real(d->d_metric));
    json_object_set_new(o, "param_percent_margin", json_real(d->d_cost));
    json_object_set_new(o, "pooled_seed_std", json_real(d->pooled_std));
    json_object_set_new(o, "metric_margin_in_std",
                        isfinite(d->d_metric_sd) ? json_real(d->d_metric_sd) : json_null());
    return o;
}

json_t *report_compare_baselines_json(const study_view_t *v)
{
    json_t *a = json_array();

    for (int i = 0; i < v->ndominance; i++) {
        const study_view_dominance_t *d = &v->dominance[i];
        json_t *o = point_json(v, d->baseline);
        json_object_set_new(o, "dominated_by", dominance_json(v, d));
        json_array_append_new(a, o);
    }
    return a;
}

json_t *report_compare_best_json(const study_view_t *v)
{
    int best = -1;

    for (int i = 0; i < v->npoints; i++)
        if (v->points[i].n > 1 && (best < 0 || v->points[i].mean > v->points[best].mean))
            best = i;
    return best < 0 ? json_null() : point_json(v, best);
}

json_t *report_compare_front_json(const study_view_t *v)
{
    json_t *a = json_array();

    for (int i = 0; i < v->nfront; i++)
        json_array_append_new(a, point_json(v, v->front[i]));
    return a;
}

/* "0.7362 ±0.0041 (n=3)" or "0.7362" for a point without confirmations. */
static void metric_text(const study_view_point_t *p, const study_view_trial_t *t, char *buf,
                        size_t len)
{
    if (p->n > 1)
        snprintf(buf, len, "%.4f ±%.4f (n=%d)", p->mean, p->std, p->n);
    else
        snprintf(buf, len, "%.4f", t->metric);
}

void report_compare_print(FILE *f, const study_view_t *v)
{
    int dominated = 0;

    if (v->ndominance == 0)
        return;
    fprintf(f, "%-16s %22s %9s  %s\n", "baseline", "metric", "params %",
            "dominated by (metric +, params % -)");
    for (int i = 0; i < v->ndominance; i++) {
        const study_view_dominance_t *d = &v->dominance[i];
        const study_view_trial_t *t = study_view_point_trial(v, d->baseline);
        char m[64];
        metric_text(&v->points[d->baseline], t, m, sizeof m);
        fprintf(f, "%-16s %22s %9.4f  ", t->label ? t->label : "?", m, t->cost);
        if (d->by < 0) {
            fprintf(f, "none: on or beyond the front\n");
            continue;
        }
        dominated++;
        fprintf(f, "trial %lld (+%.4f, -%.4f%%)", (long long)study_view_point_trial(v, d->by)->id,
                d->d_metric, d->d_cost);
        if (d->on_means && isfinite(d->d_metric_sd))
            fprintf(f, ", %.1f seed std", d->d_metric_sd);
        fputc('\n', f);
    }
    fprintf(f, "the front dominates %d of %d baselines%s\n", dominated, v->ndominance,
            v->ndominance && v->dominance[0].on_means ? " (on confirmed means)" : "");
}

int report_compare_print_dir(FILE *f, const char *dir)
{
    study_view_t v;
    int rc = study_view_load(dir, &v);

    if (rc == 0 && v.ndominance > 0) {
        fputc('\n', f);
        report_compare_print(f, &v);
    }
    study_view_free(&v);
    return rc;
}
