/* Study outputs (report.h). */
#include "coordinator/runtime/report.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/mem.h"
#include "coordinator/runtime/report_compare.h"
#include "coordinator/runtime/report_html.h"
#include "coordinator/runtime/store.h"
#include "coordinator/runtime/study_view.h"

/* ---- reading the store -------------------------------------------------------------------- */

static int meta_text(sqlite3 *db, const char *key, char *buf, size_t len)
{
    sqlite3_stmt *st;
    int rc = ERR_NOTFOUND;

    buf[0] = '\0';
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL) != SQLITE_OK)
        return err_set(ERR_IO, "reading meta: %s", sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

static int cmp_point(const void *a, const void *b)
{
    const report_point_t *x = a, *y = b;

    if (x->cost != y->cost)
        return x->cost < y->cost ? -1 : 1;
    if (x->metric != y->metric)
        return x->metric > y->metric ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

double report_hypervolume(const report_point_t *pts, int n, double ref_metric, double ref_cost)
{
    report_point_t *p = mem_alloc((size_t)n + 1, sizeof *p, "hypervolume points");
    double hv = 0, best = ref_metric;
    int m = 0;

    if (!p)
        return NAN;
    for (int i = 0; i < n; i++)
        if (pts[i].metric > ref_metric && pts[i].cost < ref_cost)
            p[m++] = pts[i];
    if (m > 0)
        qsort(p, (size_t)m, sizeof *p, cmp_point);
    /* Sweep by increasing cost: between consecutive costs the dominated height is the best
     * metric among the points of lower cost. */
    for (int i = 0; i < m; i++) {
        double next = i + 1 < m ? p[i + 1].cost : ref_cost;
        if (p[i].metric > best)
            best = p[i].metric;
        hv += (next - p[i].cost) * (best - ref_metric);
    }
    free(p);
    return hv;
}

/* The done trials with a metric, as report_summary reads them. */
typedef struct {
    report_point_t *all;
    int n, cap;
    double sum_s;              /* seconds of the done trials, dispatch to result */
    int n_s;
    double min_metric, max_cost;
} points_t;

/* The study's name, budget and reference point (has_ref: both of its halves stored). */
static void read_meta(sqlite3 *db, report_summary_t *out, bool *has_ref)
{
    char buf[256];

    meta_text(db, "study_name", out->name, sizeof out->name);
    if (meta_text(db, "budget", buf, sizeof buf) == 0)
        out->budget = atoi(buf);
    if (meta_text(db, "budget_epochs", buf, sizeof buf) == 0)
        out->budget_epochs = atoi(buf);
    if (meta_text(db, "epochs", buf, sizeof buf) == 0)
        out->epochs = atoi(buf);
    *has_ref = meta_text(db, "ref_metric", buf, sizeof buf) == 0;
    if (*has_ref) {
        out->ref_metric = atof(buf);
        *has_ref = meta_text(db, "ref_cost", buf, sizeof buf) == 0;
        out->ref_cost = atof(buf);
    }
}

/* One trial row: the counts and times of out, and the point of a done trial (the best one
 * noted in out). */
static int add_trial(sqlite3_stmt *st, report_summary_t *out, points_t *p)
{
    const char *state = (const char *)sqlite3_column_text(st, 1);
    double disp = sqlite3_column_double(st, 5), fin = sqlite3_column_double(st, 6);
    report_point_t *pt;

    out->created++;
    if (!strcmp((const char *)sqlite3_column_text(st, 7), "baseline"))
        out->baselines++;
    else if (!strcmp((const char *)sqlite3_column_text(st, 7), "confirm"))
        out->confirms++;
    if (!strcmp(state, "queued"))
        out->queued++;
    else if (!strcmp(state, "dispatched"))
        out->running++;
    else if (!strcmp(state, "failed"))
        out->failed++;
    else if (!strcmp(state, "done"))
        out->done++;
    if (disp > 0 && (out->first_dispatch == 0 || disp < out->first_dispatch))
        out->first_dispatch = disp;
    if (fin > out->last_finish)
        out->last_finish = fin;
    if (strcmp(state, "done") != 0 || sqlite3_column_type(st, 2) == SQLITE_NULL)
        return 0;
    if (!strcmp((const char *)sqlite3_column_text(st, 7), "baseline")) {
        /* Not on the front, but inside the reference point, so that the baselines' own
         * hypervolume is measured over the same one (study_view.h). */
        p->min_metric = fmin(p->min_metric, sqlite3_column_double(st, 2));
        p->max_cost = fmax(p->max_cost, sqlite3_column_double(st, 3));
        return 0;
    }
    if (strcmp((const char *)sqlite3_column_text(st, 7), "search") != 0)
        return 0; /* confirmations are statistics of their points */
    if (fin > disp && disp > 0) {
        p->sum_s += fin - disp;
        p->n_s++;
    }
    if (mem_grow(&p->all, &p->cap, p->n, sizeof *p->all, 256, "trial points") != 0)
        return ERR_NOMEM;
    pt = &p->all[p->n++];
    pt->id = sqlite3_column_int64(st, 0);
    pt->metric = sqlite3_column_double(st, 2);
    pt->cost = sqlite3_column_double(st, 3);
    snprintf(pt->config, sizeof pt->config, "%s", (const char *)sqlite3_column_text(st, 4));
    if (pt->metric < p->min_metric)
        p->min_metric = pt->metric;
    if (pt->cost > p->max_cost)
        p->max_cost = pt->cost;
    if (!out->has_best || pt->metric > out->best_metric) {
        out->has_best = true;
        out->best_id = pt->id;
        out->best_metric = pt->metric;
        out->best_cost = pt->cost;
        snprintf(out->best_config, sizeof out->best_config, "%s", pt->config);
    }
    return 0;
}

/* A statement of a store of schema version 2, or its version 1 form (`v1`: the trials' new
 * columns replaced by what version 1 trials were: search trials with the study seed). */
static int prepare_either(sqlite3 *db, const char *dir, const char *v2, const char *v1,
                          sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(db, v2, -1, st, NULL) == SQLITE_OK ||
        sqlite3_prepare_v2(db, v1, -1, st, NULL) == SQLITE_OK)
        return 0;
    return err_set(ERR_IO, "%s: reading trials: %s", dir, sqlite3_errmsg(db));
}

static int read_trials(sqlite3 *db, const char *dir, report_summary_t *out, points_t *p)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if ((rc = prepare_either(db, dir,
                             "SELECT id, state, objective, cost, config, dispatched_at, "
                             "finished_at, kind FROM trials ORDER BY id",
                             "SELECT id, state, objective, cost, config, dispatched_at, "
                             "finished_at, 'search' FROM trials ORDER BY id", &st)) != 0)
        return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (add_trial(st, out, p) != 0) {
            sqlite3_finalize(st);
            return ERR_NOMEM;
        }
    if (rc != SQLITE_DONE)
        rc = err_set(ERR_IO, "%s: reading trials: %s", dir, sqlite3_errmsg(db));
    else
        rc = 0;
    sqlite3_finalize(st);
    return rc;
}

/* Dispatches, and those that ended with a lost lease. */
static void read_attempts(sqlite3 *db, report_summary_t *out)
{
    sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(db, "SELECT count(*), sum(outcome = 'lost') FROM attempts", -1, &st,
                           NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        out->attempts = sqlite3_column_int(st, 0);
        out->lost = sqlite3_column_int(st, 1);
    }
    sqlite3_finalize(st);
    st = NULL;
    /* the epochs of each search trial's counted result (absent before schema 2: 0) */
    if (sqlite3_prepare_v2(db, "SELECT coalesce(sum(r.epochs_run), 0), coalesce(sum(r.status = "
                           "'stopped'), 0) FROM trials t JOIN results r ON r.trial_id = t.id "
                           "AND r.attempt = t.result_attempt WHERE t.kind = 'search'", -1, &st,
                           NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        out->epochs_spent = sqlite3_column_int64(st, 0);
        out->stopped = sqlite3_column_int(st, 1);
    }
    sqlite3_finalize(st);
}

/* The Pareto set of the n points, sorted by cost: the points that beat every cheaper one,
 * compacted in place; returns how many. */
static int pareto(report_point_t *all, int n)
{
    double best = -INFINITY;
    int np = 0;

    if (n > 0)
        qsort(all, (size_t)n, sizeof *all, cmp_point);
    for (int i = 0; i < n; i++)
        if (all[i].metric > best) {
            best = all[i].metric;
            all[np++] = all[i];
        }
    return np;
}

int report_summary(const char *dir, report_summary_t *out, report_point_t *pts, int cap,
                   int *npts)
{
    points_t p = {.min_metric = INFINITY};
    sqlite3 *db = NULL;
    bool has_ref;
    int rc, np;

    memset(out, 0, sizeof *out);
    if ((rc = store_open_raw_readonly(dir, &db)) != 0)
        return rc;
    read_meta(db, out, &has_ref);
    if ((rc = read_trials(db, dir, out, &p)) != 0)
        goto out;
    read_attempts(db, out);
    snprintf(out->report_path, sizeof out->report_path, "%s/report.html", dir);
    out->has_report = access(out->report_path, R_OK) == 0;
    out->mean_trial_s = p.n_s ? p.sum_s / p.n_s : 0;
    out->finished = out->budget > 0 && out->done + out->failed >= out->created &&
                    (out->created - out->baselines - out->confirms >= out->budget ||
                     (out->budget_epochs > 0 && out->epochs > 0 &&
                      out->budget_epochs - out->epochs_spent < out->epochs));
    if (!has_ref) {
        out->ref_metric = p.n ? p.min_metric : 0;
        out->ref_cost = p.n ? p.max_cost : 0;
    }
    np = pareto(p.all, p.n);
    out->hypervolume = report_hypervolume(p.all, np, out->ref_metric, out->ref_cost);
    if (pts && np > 0) {
        int k = np < cap ? np : cap;
        memcpy(pts, p.all, (size_t)k * sizeof *pts);
        np = k;
    }
    if (npts)
        *npts = np;
out:
    sqlite3_close(db);
    free(p.all);
    return rc;
}

/* ---- files -------------------------------------------------------------------------------- */

typedef struct {
    char tmp[4300], path[4300];
    FILE *f;
} outfile_t;

static int out_open(outfile_t *o, const char *dir, const char *name)
{
    snprintf(o->path, sizeof o->path, "%s/%s", dir, name);
    snprintf(o->tmp, sizeof o->tmp, "%s/.%s.tmp", dir, name);
    o->f = fopen(o->tmp, "w");
    if (!o->f)
        return err_set(ERR_IO, "%s: %s", o->tmp, strerror(errno));
    return 0;
}

static int out_close(outfile_t *o, int rc)
{
    if (!o->f)
        return rc;
    if (fflush(o->f) != 0 || ferror(o->f))
        rc = rc ? rc : err_set(ERR_IO, "%s: write error", o->tmp);
    fclose(o->f);
    o->f = NULL;
    if (rc == 0 && rename(o->tmp, o->path) != 0)
        rc = err_set(ERR_IO, "%s: %s", o->path, strerror(errno));
    if (rc != 0)
        unlink(o->tmp);
    return rc;
}

/* CSV field: quoted when it holds a comma, quote or line break. */
static void csv_text(FILE *f, const char *s)
{
    if (!s)
        return;
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* The kind, label, seed and origin of a trials row (columns 13..16): CSV fields, line end. */
static void trial_kind_csv(FILE *f, sqlite3_stmt *st)
{
    fprintf(f, ",%s,", (const char *)sqlite3_column_text(st, 13));
    csv_text(f, (const char *)sqlite3_column_text(st, 14));
    fputc(',', f);
    if (sqlite3_column_type(st, 15) != SQLITE_NULL)
        fprintf(f, "%lld", (long long)sqlite3_column_int64(st, 15));
    fputc(',', f);
    if (sqlite3_column_type(st, 16) != SQLITE_NULL)
        fprintf(f, "%lld", (long long)sqlite3_column_int64(st, 16));
    fputc('\n', f);
}

/* The same as JSON members (absent ones left out). */
static void trial_kind_json(json_t *o, sqlite3_stmt *st)
{
    json_object_set_new(o, "kind", json_string((const char *)sqlite3_column_text(st, 13)));
    if (sqlite3_column_type(st, 14) != SQLITE_NULL)
        json_object_set_new(o, "label", json_string((const char *)sqlite3_column_text(st, 14)));
    if (sqlite3_column_type(st, 15) != SQLITE_NULL)
        json_object_set_new(o, "seed", json_integer(sqlite3_column_int64(st, 15)));
    if (sqlite3_column_type(st, 16) != SQLITE_NULL)
        json_object_set_new(o, "origin", json_integer(sqlite3_column_int64(st, 16)));
}

static int write_trials(const char *dir, sqlite3 *db)
{
    outfile_t csv = {0}, jl = {0};
    sqlite3_stmt *st = NULL;
    int rc;

    if ((rc = out_open(&csv, dir, "trials.csv")) != 0 || (rc = out_open(&jl, dir, "trials.jsonl")))
        goto out;
    if ((rc = prepare_either(db, dir,
                             "SELECT t.id, t.state, t.attempt, t.config, t.objective, t.cost, "
                             "t.random, t.error, r.worker, r.total_s, r.json, t.created_at, "
                             "t.finished_at, t.kind, t.label, t.seed, t.origin FROM trials t "
                             "LEFT JOIN results r ON r.trial_id = t.id AND r.attempt = "
                             "t.result_attempt ORDER BY t.id",
                             "SELECT t.id, t.state, t.attempt, t.config, t.objective, t.cost, "
                             "t.random, t.error, r.worker, r.total_s, r.json, t.created_at, "
                             "t.finished_at, 'search', NULL, NULL, NULL FROM trials t "
                             "LEFT JOIN results r ON r.trial_id = t.id AND r.attempt = "
                             "t.result_attempt ORDER BY t.id", &st)) != 0)
        goto out;
    fprintf(csv.f, "id,state,attempts,config,metric,param_percent,random,worker,seconds,error,"
            "kind,label,seed,origin\n");
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *o = json_object(), *res = NULL;
        char *line;
        bool has_obj = sqlite3_column_type(st, 4) != SQLITE_NULL;
        fprintf(csv.f, "%lld,%s,%d,", (long long)sqlite3_column_int64(st, 0),
                sqlite3_column_text(st, 1), sqlite3_column_int(st, 2));
        csv_text(csv.f, (const char *)sqlite3_column_text(st, 3));
        if (has_obj)
            fprintf(csv.f, ",%.10g", sqlite3_column_double(st, 4));
        else
            fputc(',', csv.f);
        fprintf(csv.f, ",%.6g,%d,", sqlite3_column_double(st, 5), sqlite3_column_int(st, 6));
        csv_text(csv.f, (const char *)sqlite3_column_text(st, 8));
        fprintf(csv.f, ",%.3f,", sqlite3_column_double(st, 9));
        csv_text(csv.f, (const char *)sqlite3_column_text(st, 7));
        trial_kind_csv(csv.f, st);

        trial_kind_json(o, st);
        json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 0)));
        json_object_set_new(o, "state", json_string((const char *)sqlite3_column_text(st, 1)));
        json_object_set_new(o, "attempts", json_integer(sqlite3_column_int(st, 2)));
        json_object_set_new(o, "config", json_string((const char *)sqlite3_column_text(st, 3)));
        if (has_obj)
            json_object_set_new(o, "metric", json_real(sqlite3_column_double(st, 4)));
        json_object_set_new(o, "param_percent", json_real(sqlite3_column_double(st, 5)));
        json_object_set_new(o, "random", json_boolean(sqlite3_column_int(st, 6)));
        if (sqlite3_column_type(st, 7) != SQLITE_NULL)
            json_object_set_new(o, "error", json_string((const char *)sqlite3_column_text(st, 7)));
        if (sqlite3_column_type(st, 10) != SQLITE_NULL)
            res = json_loads((const char *)sqlite3_column_text(st, 10), 0, NULL);
        if (res)
            json_object_set_new(o, "result", res);
        line = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
        if (line) {
            fprintf(jl.f, "%s\n", line);
            free(line);
        }
        json_decref(o);
    }
out:
    sqlite3_finalize(st);
    rc = out_close(&csv, rc);
    return out_close(&jl, rc);
}

/* best.json's comparison of the baselines with the front, and the confirmed front. */
static int add_comparison(const char *dir, json_t *best)
{
    study_view_t v;
    int rc = study_view_load(dir, &v);

    if (rc == 0) {
        json_object_set_new(best, "baselines", report_compare_baselines_json(&v));
        json_object_set_new(best, "pareto_confirmed", report_compare_front_json(&v));
        json_object_set_new(best, "best_confirmed", report_compare_best_json(&v));
    }
    study_view_free(&v);
    return rc;
}

int report_write(const char *dir)
{
    report_point_t *pts = mem_alloc(REPORT_MAX_PARETO, sizeof *pts, "Pareto set");
    report_summary_t sum;
    outfile_t pf = {0}, bf = {0};
    sqlite3 *db = NULL;
    json_t *best = NULL, *front;
    int rc, n = 0;

    if (!pts)
        return ERR_NOMEM;
    if ((rc = report_summary(dir, &sum, pts, REPORT_MAX_PARETO, &n)) != 0 ||
        (rc = store_open_raw_readonly(dir, &db)) != 0 || (rc = write_trials(dir, db)) != 0)
        goto out;
    if ((rc = out_open(&pf, dir, "pareto.csv")) != 0)
        goto out;
    fprintf(pf.f, "id,metric,param_percent,config\n");
    for (int i = 0; i < n; i++) {
        fprintf(pf.f, "%lld,%.10g,%.6g,", pts[i].id, pts[i].metric, pts[i].cost);
        csv_text(pf.f, pts[i].config);
        fputc('\n', pf.f);
    }
    if ((rc = out_close(&pf, 0)) != 0 || (rc = out_open(&bf, dir, "best.json")) != 0)
        goto out;
    best = json_object();
    json_object_set_new(best, "study", json_string(sum.name));
    json_object_set_new(best, "done", json_integer(sum.done));
    json_object_set_new(best, "failed", json_integer(sum.failed));
    json_object_set_new(best, "hypervolume", json_real(sum.hypervolume));
    json_object_set_new(best, "reference_point",
                        json_pack("{s:f,s:f}", "metric", sum.ref_metric, "param_percent",
                                  sum.ref_cost));
    if (sum.has_best)
        json_object_set_new(best, "best_metric",
                            json_pack("{s:I,s:f,s:f,s:s}", "id", (json_int_t)sum.best_id,
                                      "metric", sum.best_metric, "param_percent", sum.best_cost,
                                      "config", sum.best_config));
    front = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(front, json_pack("{s:I,s:f,s:f,s:s}", "id", (json_int_t)pts[i].id,
                                               "metric", pts[i].metric, "param_percent",
                                               pts[i].cost, "config", pts[i].config));
    json_object_set_new(best, "pareto", front);
    if ((rc = add_comparison(dir, best)) != 0)
        goto out;
    if (json_dumpf(best, bf.f, JSON_INDENT(2) | JSON_REAL_PRECISION(10)) != 0)
        rc = err_set(ERR_IO, "writing best.json");
    fputc('\n', bf.f);
    rc = out_close(&bf, rc);
    if (rc == 0)
        rc = report_html_write(dir, NULL, 0);
out:
    if (pf.f)
        out_close(&pf, rc ? rc : ERR_IO);
    if (bf.f)
        out_close(&bf, rc ? rc : ERR_IO);
    json_decref(best);
    sqlite3_close(db);
    free(pts);
    return rc;
}

void report_print_pareto(FILE *f, const report_point_t *pts, int n)
{
    fprintf(f, "%6s  %10s  %9s  %s\n", "trial", "metric", "params %", "configuration");
    for (int i = 0; i < n; i++)
        fprintf(f, "%6lld  %10.4f  %9.4f  %s\n", pts[i].id, pts[i].metric, pts[i].cost,
                pts[i].config);
}
