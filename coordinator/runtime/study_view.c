/* A study read back for outputs (study_view.h). */
#include "coordinator/runtime/study_view.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/mem.h"
#include "common/rng.h"
#include "common/space.h"
#include "coordinator/runtime/store.h"
#include "coordinator/search/gp.h"
#include "coordinator/search/gp_map.h"
#include "coordinator/search/pareto.h"

static const char *const kind_names[VIEW_NKINDS] = {"search", "baseline", "confirm"};
static const char *const state_names[VIEW_NSTATES] = {"queued", "dispatched", "done", "failed"};

const char *study_view_kind_name(study_view_kind_t k)
{
    return (unsigned)k < VIEW_NKINDS ? kind_names[k] : "?";
}

const char *study_view_state_name(study_view_state_t s)
{
    return (unsigned)s < VIEW_NSTATES ? state_names[s] : "?";
}

const study_view_trial_t *study_view_point_trial(const study_view_t *v, int point)
{
    return &v->trials[v->points[point].trial];
}

/* ---- reading the store ----------------------------------------------------------------------- */

/* A meta value, malloc'd (NULL when absent or on allocation failure). */
static char *meta_text(sqlite3 *db, const char *key)
{
    sqlite3_stmt *st;
    char *value = NULL;

    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        value = mem_strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return value;
}

static void meta_copy(sqlite3 *db, const char *key, char *buf, size_t len)
{
    char *s = meta_text(db, key);

    snprintf(buf, len, "%s", s ? s : "");
    free(s);
}

/* A meta number; false when absent or not a finite number. */
static bool meta_number(sqlite3 *db, const char *key, double *out)
{
    char *s = meta_text(db, key), *end = NULL;
    bool ok = false;

    if (s) {
        errno = 0;
        *out = strtod(s, &end);
        ok = end != s && errno == 0 && isfinite(*out);
    }
    free(s);
    return ok;
}

/* 2 when the trials table has the kind column (schema version 2), 1 otherwise. */
static int trials_version(sqlite3 *db)
{
    sqlite3_stmt *st;
    int version = 1;

    if (sqlite3_prepare_v2(db, "PRAGMA table_info(trials)", -1, &st, NULL) != SQLITE_OK)
        return 1;
    while (sqlite3_step(st) == SQLITE_ROW)
        if (sqlite3_column_text(st, 1) && !strcmp((const char *)sqlite3_column_text(st, 1), "kind"))
            version = 2;
    sqlite3_finalize(st);
    return version;
}

/* The stored configuration, parsed as the coordinator parses it; a failure is noted, not an
 * error (the model's folder may not be readable where the report is made). */
static void read_config(sqlite3 *db, const char *dir, study_view_t *v)
{
    char *text = meta_text(db, "config"), *cdir = meta_text(db, "config_dir");
    char name[4200];

    if (!text) {
        snprintf(v->config_error, sizeof v->config_error, "the store holds no configuration");
        goto out;
    }
    v->config = mem_alloc(1, sizeof *v->config, "configuration");
    snprintf(name, sizeof name, "%s/study.db (stored configuration)", dir);
    if (!v->config || config_parse(text, name, cdir, v->config) != 0) {
        snprintf(v->config_error, sizeof v->config_error, "%s", err_msg());
        mem_freep(&v->config);
    }
out:
    free(text);
    free(cdir);
}

static void read_meta(sqlite3 *db, const char *dir, study_view_t *v)
{
    double x;

    meta_copy(db, "study_name", v->name, sizeof v->name);
    meta_copy(db, "created_at", v->created_at, sizeof v->created_at);
    if (meta_number(db, "budget", &x) && x >= 0 && x <= CONFIG_MAX_BUDGET)
        v->budget = (int)x;
    if (meta_number(db, "starts", &x) && x >= 0 && x <= 1e9)
        v->starts = (int)x;
    v->ref_from_study = meta_number(db, "ref_metric", &v->ref_metric) &&
                        meta_number(db, "ref_cost", &v->ref_cost);
    read_config(db, dir, v);
}

static const char trials_v2[] =
    "SELECT t.id, t.config, t.state, t.attempt, t.worker, t.error, t.objective, t.cost, "
    "t.created_at, t.dispatched_at, t.finished_at, t.seq, r.total_s, "
    "t.kind, t.label, t.seed, t.origin, t.full_finetune "
    "FROM trials t LEFT JOIN results r ON r.trial_id = t.id AND r.attempt = t.result_attempt "
    "ORDER BY t.id";
/* A version 1 store: every trial a search trial, trained with the study seed. */
static const char trials_v1[] =
    "SELECT t.id, t.config, t.state, t.attempt, t.worker, t.error, t.objective, t.cost, "
    "t.created_at, t.dispatched_at, t.finished_at, t.seq, r.total_s, "
    "'search', NULL, NULL, NULL, 0 "
    "FROM trials t LEFT JOIN results r ON r.trial_id = t.id AND r.attempt = t.result_attempt "
    "ORDER BY t.id";

static double col_double(sqlite3_stmt *st, int i)
{
    double x = sqlite3_column_type(st, i) == SQLITE_NULL ? 0 : sqlite3_column_double(st, i);

    return isfinite(x) ? x : 0;
}

/* A text column, malloc'd and cut at STUDY_VIEW_MAX_TEXT bytes; NULL when NULL. *ok is cleared
 * when an allocation fails. */
static char *col_text(sqlite3_stmt *st, int i, bool *ok)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    char *copy;

    if (!s)
        return NULL;
    copy = mem_strndup(s, STUDY_VIEW_MAX_TEXT);
    if (!copy)
        *ok = false;
    return copy;
}

static int parse_enum(const char *text, const char *const *names, int n, const char *what,
                      int64_t id)
{
    for (int i = 0; i < n; i++)
        if (text && !strcmp(text, names[i]))
            return i;
    return err_set(ERR_PARSE, "trial %lld: unknown %s '%s'", (long long)id, what,
                   text ? text : "(null)");
}

/* One row of the trials query into t. */
static int read_row(sqlite3_stmt *st, study_view_trial_t *t)
{
    bool ok = true;
    int state, kind;

    t->id = sqlite3_column_int64(st, 0);
    state = parse_enum((const char *)sqlite3_column_text(st, 2), state_names, VIEW_NSTATES,
                       "state", t->id);
    kind = parse_enum((const char *)sqlite3_column_text(st, 13), kind_names, VIEW_NKINDS, "kind",
                      t->id);
    if (state < 0 || kind < 0)
        return state < 0 ? state : kind;
    t->state = (study_view_state_t)state;
    t->kind = (study_view_kind_t)kind;
    t->config = col_text(st, 1, &ok);
    t->worker = col_text(st, 4, &ok);
    t->error = col_text(st, 5, &ok);
    t->label = col_text(st, 14, &ok);
    if (!ok || !t->config)
        return ok ? err_set(ERR_PARSE, "trial %lld has no configuration", (long long)t->id)
                  : ERR_NOMEM;
    t->attempt = sqlite3_column_int(st, 3);
    t->has_metric = t->state == VIEW_DONE && sqlite3_column_type(st, 6) != SQLITE_NULL &&
                    isfinite(sqlite3_column_double(st, 6));
    t->metric = t->has_metric ? sqlite3_column_double(st, 6) : 0;
    t->cost = col_double(st, 7);
    t->created_at = col_double(st, 8);
    t->dispatched_at = col_double(st, 9);
    t->finished_at = col_double(st, 10);
    t->seq = sqlite3_column_int64(st, 11);
    t->worker_s = col_double(st, 12);
    if (!(t->worker_s > 0) && t->finished_at > t->dispatched_at && t->dispatched_at > 0)
        t->worker_s = t->finished_at - t->dispatched_at;
    t->has_seed = sqlite3_column_type(st, 15) != SQLITE_NULL;
    t->seed = (uint64_t)sqlite3_column_int64(st, 15);
    t->origin = sqlite3_column_int64(st, 16);
    t->full_finetune = sqlite3_column_int(st, 17) != 0;
    return 0;
}

static void tally(study_view_t *v, const study_view_trial_t *t)
{
    v->count[t->kind][t->state]++;
    v->worker_s += t->worker_s;
    if (t->dispatched_at > 0 && (v->first_dispatch == 0 || t->dispatched_at < v->first_dispatch))
        v->first_dispatch = t->dispatched_at;
    if (t->finished_at > v->last_finish)
        v->last_finish = t->finished_at;
}

static int read_trials(sqlite3 *db, const char *dir, study_view_t *v)
{
    sqlite3_stmt *st = NULL;
    int rc = 0, step, cap = 0;

    v->schema_version = trials_version(db);
    if (sqlite3_prepare_v2(db, v->schema_version == 2 ? trials_v2 : trials_v1, -1, &st, NULL) !=
        SQLITE_OK)
        return err_set(ERR_IO, "%s: reading trials: %s", dir, sqlite3_errmsg(db));
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (v->ntrials >= STUDY_VIEW_MAX_TRIALS) {
            rc = err_set(ERR_RANGE, "%s: more than %d trials", dir, STUDY_VIEW_MAX_TRIALS);
            break;
        }
        if ((rc = mem_grow(&v->trials, &cap, v->ntrials, sizeof *v->trials, 64, "trials")) != 0)
            break;
        memset(&v->trials[v->ntrials], 0, sizeof *v->trials);
        rc = read_row(st, &v->trials[v->ntrials]);
        v->ntrials++;   /* counted even when half read, so that free releases its strings */
        if (rc != 0) {
            err_prefix(rc, "%s: ", dir);
            break;
        }
        tally(v, &v->trials[v->ntrials - 1]);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = err_set(ERR_IO, "%s: reading trials: %s", dir, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc;
}

/* The first dispatch of any attempt (a trial's dispatched_at is its latest). */
static void read_first_dispatch(sqlite3 *db, study_view_t *v)
{
    sqlite3_stmt *st;

    if (sqlite3_prepare_v2(db, "SELECT min(dispatched_at) FROM attempts WHERE dispatched_at > 0",
                           -1, &st, NULL) != SQLITE_OK)
        return;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        double first = sqlite3_column_double(st, 0);
        if (isfinite(first) && (v->first_dispatch == 0 || first < v->first_dispatch))
            v->first_dispatch = first;
    }
    sqlite3_finalize(st);
}

/* ---- points and their confirmations ---------------------------------------------------------- */

/* The index of trial id (trials are by id), or -1. */
static int find_trial(const study_view_t *v, int64_t id)
{
    int lo = 0, hi = v->ntrials - 1;

    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (v->trials[mid].id == id)
            return mid;
        if (v->trials[mid].id < id)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

static bool is_point(const study_view_trial_t *t)
{
    return t->has_metric && (t->kind == VIEW_SEARCH || t->kind == VIEW_BASELINE);
}

/* The point a done confirm trial belongs to (point_of maps trials to points), or -1. */
static int confirm_point(const study_view_t *v, const study_view_trial_t *t, const int *point_of)
{
    int o;

    if (t->kind != VIEW_CONFIRM || !t->has_metric || (o = find_trial(v, t->origin)) < 0)
        return -1;
    return point_of[o];
}

/* The sums over each point's own metric and its confirmations': n, mean, then the squared
 * deviations (two passes, for accuracy), and the seeds. */
static int confirm_stats(study_view_t *v, const int *point_of)
{
    for (int i = 0; i < v->ntrials; i++) {
        int p = confirm_point(v, &v->trials[i], point_of);
        if (p >= 0) {
            v->points[p].n++;
            v->points[p].mean += v->trials[i].metric;
        }
    }
    for (int p = 0; p < v->npoints; p++) {
        study_view_point_t *pt = &v->points[p];
        const study_view_trial_t *t = &v->trials[pt->trial];
        pt->mean /= pt->n;
        pt->std = (t->metric - pt->mean) * (t->metric - pt->mean);
        if (!(pt->seeds = mem_alloc((size_t)pt->n, sizeof *pt->seeds, "seeds")))
            return ERR_NOMEM;
        pt->seeds[0] = t->seed;
        pt->seeds_known = t->has_seed;
        pt->n = 1;   /* counted again below, as the seeds are filled in */
    }
    for (int i = 0; i < v->ntrials; i++) {
        const study_view_trial_t *t = &v->trials[i];
        int p = confirm_point(v, t, point_of);
        if (p >= 0) {
            study_view_point_t *pt = &v->points[p];
            pt->std += (t->metric - pt->mean) * (t->metric - pt->mean);
            pt->seeds[pt->n++] = t->seed;
            pt->seeds_known = pt->seeds_known && t->has_seed;
        }
    }
    for (int p = 0; p < v->npoints; p++)
        v->points[p].std = v->points[p].n > 1 ? sqrt(v->points[p].std / (v->points[p].n - 1)) : 0;
    return 0;
}

static int read_points(study_view_t *v)
{
    int *point_of = mem_alloc((size_t)v->ntrials + 1, sizeof *point_of, "points");
    int rc;

    if (!point_of)
        return ERR_NOMEM;
    for (int i = 0; i < v->ntrials; i++)
        if (is_point(&v->trials[i]))
            v->npoints++;
    v->points = mem_alloc((size_t)v->npoints + 1, sizeof *v->points, "points");
    if (!v->points) {
        v->npoints = 0;
        free(point_of);
        return ERR_NOMEM;
    }
    v->npoints = 0;
    for (int i = 0; i < v->ntrials; i++) {
        point_of[i] = -1;
        if (is_point(&v->trials[i])) {
            point_of[i] = v->npoints;
            v->points[v->npoints].trial = i;
            v->points[v->npoints].n = 1;
            v->points[v->npoints++].mean = v->trials[i].metric;
        }
    }
    rc = confirm_stats(v, point_of);
    free(point_of);
    return rc;
}

/* ---- the front, the reference point and the hypervolume -------------------------------------- */

/* A sort key: qsort has no context argument, so each item carries what it is sorted by. */
typedef struct {
    double cost, metric;
    int64_t id, seq;
    int index;
} sort_key_t;

static int cmp_front(const void *a, const void *b)
{
    const sort_key_t *x = a, *y = b;

    if (x->cost != y->cost)
        return x->cost < y->cost ? -1 : 1;
    if (x->metric != y->metric)
        return x->metric > y->metric ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int cmp_seq(const void *a, const void *b)
{
    const sort_key_t *x = a, *y = b;

    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The items' trials (point: indices into points, else into trials) sorted by cmp, in place. */
static int sort_by(const study_view_t *v, int *items, int n, bool point,
                   int (*cmp)(const void *, const void *))
{
    sort_key_t *k = mem_alloc((size_t)n + 1, sizeof *k, "sort keys");

    if (!k)
        return ERR_NOMEM;
    for (int i = 0; i < n; i++) {
        const study_view_trial_t *t = point ? study_view_point_trial(v, items[i])
                                            : &v->trials[items[i]];
        k[i] = (sort_key_t){t->cost, t->metric, t->id, t->seq, items[i]};
    }
    qsort(k, (size_t)n, sizeof *k, cmp);
    for (int i = 0; i < n; i++)
        items[i] = k[i].index;
    free(k);
    return 0;
}

/* The points of one kind as (metric, -cost) pairs, both maximised (pareto.h); *idx (may be
 * NULL) gets their indices. Returns how many, or ERR_NOMEM. */
static int objectives(const study_view_t *v, study_view_kind_t kind, double **xy, int **idx)
{
    int n = 0;

    *xy = mem_alloc((size_t)v->npoints + 1, 2 * sizeof **xy, "objectives");
    if (idx)
        *idx = mem_alloc((size_t)v->npoints + 1, sizeof **idx, "objectives");
    if (!*xy || (idx && !*idx)) {
        mem_freep(xy);
        if (idx)
            mem_freep(idx);
        return ERR_NOMEM;
    }
    for (int p = 0; p < v->npoints; p++) {
        const study_view_trial_t *t = study_view_point_trial(v, p);
        if (t->kind != kind)
            continue;
        (*xy)[2 * n] = t->metric;
        (*xy)[2 * n + 1] = -t->cost;
        if (idx)
            (*idx)[n] = p;
        n++;
    }
    return n;
}

static int find_front(study_view_t *v)
{
    double *xy;
    int *idx, n = objectives(v, VIEW_SEARCH, &xy, &idx), rc = 0;
    bool *keep;

    if (n < 0)
        return n;
    keep = mem_alloc((size_t)n + 1, sizeof *keep, "front");
    v->front = mem_alloc((size_t)n + 1, sizeof *v->front, "front");
    if (!keep || !v->front || (n > 0 && pareto_front(xy, n, keep) < 0)) {
        rc = ERR_NOMEM;
        goto out;
    }
    for (int i = 0; i < n; i++)
        if (keep[i]) {
            v->points[idx[i]].on_front = true;
            v->front[v->nfront++] = idx[i];
        }
    rc = sort_by(v, v->front, v->nfront, true, cmp_front);
out:
    free(keep);
    free(xy);
    free(idx);
    return rc;
}

/* The study's reference point, or the lowest metric and highest cost of the points. */
static void find_ref(study_view_t *v)
{
    if (v->ref_from_study)
        return;
    v->ref_metric = v->ref_cost = 0;
    for (int p = 0; p < v->npoints; p++) {
        const study_view_trial_t *t = study_view_point_trial(v, p);
        if (p == 0 || t->metric < v->ref_metric)
            v->ref_metric = t->metric;
        if (p == 0 || t->cost > v->ref_cost)
            v->ref_cost = t->cost;
    }
}

static int kind_hv(const study_view_t *v, study_view_kind_t kind, double *hv)
{
    double ref[2] = {v->ref_metric, -v->ref_cost}, *xy;
    int n = objectives(v, kind, &xy, NULL);

    if (n < 0)
        return n;
    *hv = pareto_hv(xy, n, ref);
    free(xy);
    return *hv < 0 ? ERR_NOMEM : 0;
}

/* The counted search trials in seq order, into v->hv (ids and worker time); returns the trial
 * indices (malloc'd) or NULL. */
static int *search_by_seq(study_view_t *v)
{
    int *order = mem_alloc((size_t)v->ntrials + 1, sizeof *order, "history");

    if (!order || !(v->hv = mem_alloc((size_t)v->ntrials + 1, sizeof *v->hv, "history"))) {
        free(order);
        return NULL;
    }
    for (int i = 0; i < v->ntrials; i++)
        if (v->trials[i].kind == VIEW_SEARCH && v->trials[i].seq > 0 &&
            (v->trials[i].state == VIEW_DONE || v->trials[i].state == VIEW_FAILED))
            order[v->nhv++] = i;
    if (sort_by(v, order, v->nhv, false, cmp_seq) != 0) {
        free(order);
        return NULL;
    }
    for (int k = 0; k < v->nhv; k++) {
        v->hv[k].id = v->trials[order[k]].id;
        v->hv[k].worker_s = (k ? v->hv[k - 1].worker_s : 0) + v->trials[order[k]].worker_s;
    }
    return order;
}

/* The hypervolume after each counted search trial: the staircase of the front so far grows by
 * a point only when the point improves it (pareto_hvi > 0), so the history costs O(n m log m)
 * for a front of m points rather than a full recomputation per trial. */
static int hv_history(study_view_t *v)
{
    double ref[2] = {v->ref_metric, -v->ref_cost}, *stair, *next, hv = 0;
    int *order = search_by_seq(v), m = 0, rc = 0;

    stair = mem_alloc((size_t)v->nhv + 2, 2 * sizeof *stair, "history");
    next = mem_alloc((size_t)v->nhv + 2, 2 * sizeof *next, "history");
    if (!order || !stair || !next) {
        rc = ERR_NOMEM;
        goto out;
    }
    for (int k = 0; k < v->nhv; k++) {
        const study_view_trial_t *t = &v->trials[order[k]];
        double p[2] = {t->metric, -t->cost}, gain;
        if (t->has_metric && (gain = pareto_hvi(stair, m, ref, p)) > 0) {
            memcpy(next, stair, (size_t)m * 2 * sizeof *stair);
            next[2 * m] = p[0];
            next[2 * m + 1] = p[1];
            if ((m = pareto_staircase(next, m + 1, ref, stair)) < 0) {
                rc = ERR_NOMEM;
                goto out;
            }
            hv = pareto_hv_staircase(stair, m, ref);
        }
        v->hv[k].hv = hv;
    }
out:
    free(order);
    free(stair);
    free(next);
    return rc;
}

/* ---- dominance of the baselines -------------------------------------------------------------- */

/* The metric a comparison uses: the confirmed mean when both points have confirmations. */
static double compared(const study_view_t *v, int p, bool on_means)
{
    return on_means ? v->points[p].mean : study_view_point_trial(v, p)->metric;
}

/* The front point that dominates baseline point b with the largest metric margin (ties: the
 * larger cost saving). */
static void dominate(const study_view_t *v, int b, study_view_dominance_t *d)
{
    const study_view_point_t *pb = &v->points[b];
    double cb = study_view_point_trial(v, b)->cost;

    *d = (study_view_dominance_t){.baseline = b, .by = -1, .d_metric_sd = NAN};
    for (int k = 0; k < v->nfront; k++) {
        int f = v->front[k];
        bool means = pb->n > 1 && v->points[f].n > 1;
        double dm = compared(v, f, means) - compared(v, b, means);
        double dc = cb - study_view_point_trial(v, f)->cost;
        if (dm < 0 || dc < 0 || (dm == 0 && dc == 0))
            continue;
        if (d->by >= 0 && (dm < d->d_metric || (dm == d->d_metric && dc <= d->d_cost)))
            continue;
        d->by = f;
        d->on_means = means;
        d->d_metric = dm;
        d->d_cost = dc;
    }
    if (d->by >= 0 && d->on_means) {
        const study_view_point_t *pf = &v->points[d->by];
        double ss = (pf->n - 1) * pf->std * pf->std + (pb->n - 1) * pb->std * pb->std;
        d->pooled_std = sqrt(ss / (pf->n + pb->n - 2));
        d->d_metric_sd = d->pooled_std > 0 ? d->d_metric / d->pooled_std : NAN;
    }
}

static int find_dominance(study_view_t *v)
{
    v->dominance = mem_alloc((size_t)v->npoints + 1, sizeof *v->dominance, "dominance");
    if (!v->dominance)
        return ERR_NOMEM;
    for (int p = 0; p < v->npoints; p++)
        if (study_view_point_trial(v, p)->kind == VIEW_BASELINE)
            dominate(v, p, &v->dominance[v->ndominance++]);
    return 0;
}

/* ---- the view -------------------------------------------------------------------------------- */

/* Layers of the configurations' masks, when the configuration cannot say: the length of the
 * first mask ("layers=0110" or "sa=8@0110") of any trial. */
static int mask_layers(const study_view_t *v)
{
    for (int i = 0; i < v->ntrials; i++) {
        const char *s = v->trials[i].config, *m = strstr(s, "layers=");
        size_t n;
        m = m ? m + 7 : strchr(s, '@');
        if (m && *m == '@')
            m++;
        if (m && (n = strspn(m, "01")) > 0 && n <= SPACE_MAX_LAYERS)
            return (int)n;
    }
    return 0;
}

int study_view_load(const char *dir, study_view_t *v)
{
    sqlite3 *db = NULL;
    int rc;

    memset(v, 0, sizeof *v);
    if ((rc = store_open_raw_readonly(dir, &db)) != 0)
        return rc;
    read_meta(db, dir, v);
    if ((rc = read_trials(db, dir, v)) != 0)
        goto out;
    read_first_dispatch(db, v);
    v->layers = v->config ? v->config->shape.layers : mask_layers(v);
    if ((rc = read_points(v)) != 0 || (rc = find_front(v)) != 0)
        goto out;
    find_ref(v);
    if ((rc = kind_hv(v, VIEW_SEARCH, &v->hv_search)) != 0 ||
        (rc = kind_hv(v, VIEW_BASELINE, &v->hv_baselines)) != 0 || (rc = hv_history(v)) != 0)
        goto out;
    rc = find_dominance(v);
out:
    sqlite3_close(db);
    if (rc != 0)
        study_view_free(v);
    return rc;
}

void study_view_free(study_view_t *v)
{
    for (int i = 0; i < v->ntrials; i++) {
        free(v->trials[i].config);
        free(v->trials[i].label);
        free(v->trials[i].worker);
        free(v->trials[i].error);
    }
    for (int p = 0; p < v->npoints; p++)
        free(v->points[p].seeds);
    free(v->trials);
    free(v->points);
    free(v->front);
    free(v->dominance);
    free(v->hv);
    free(v->config);
    memset(v, 0, sizeof *v);
}

/* ---- relevance ------------------------------------------------------------------------------- */

/* The done search trials' encodings (x, n x dims) and metrics (y); returns n or ERR_NOMEM.
 * Configurations that no longer parse are left out. */
static int encode_search(const study_view_t *v, const space_t *sp, int dims, double **x,
                         double **y)
{
    int n = 0;

    *x = mem_alloc((size_t)v->npoints + 1, (size_t)dims * sizeof **x, "relevance inputs");
    *y = mem_alloc((size_t)v->npoints + 1, sizeof **y, "relevance targets");
    if (!*x || !*y)
        return ERR_NOMEM;
    /* The latest ones: a fit costs n^3, and the report is written when a study ends. */
    for (int p = v->npoints - 1; p >= 0 && n < STUDY_VIEW_MAX_RELEVANCE_FIT; p--) {
        const study_view_trial_t *t = study_view_point_trial(v, p);
        space_config_t c;
        if (t->kind != VIEW_SEARCH || space_config_parse(t->config, v->layers, &c) != 0)
            continue;
        space_encode(sp, &c, *x + (size_t)n * dims);
        (*y)[n++] = t->metric;
    }
    return n;
}

/* The MAP fit's lengthscales into ls (dims values); the stream is fixed so that a report is
 * the same each time it is made. */
static int fit_lengthscales(const double *x, const double *y, int n, int dims, double *ls)
{
    gp_t *gp = gp_new(dims, GP_TRANSFORM_COPULA);
    double *theta = mem_alloc((size_t)gp_nparams(dims), sizeof *theta, "relevance fit");
    gp_map_opts_t mo;
    rng_t r;
    int rc = gp && theta ? 0 : ERR_NOMEM;

    if (rc == 0 && (rc = gp_set_data(gp, x, y, n)) == 0) {
        gp_map_opts_default(&mo, dims);
        rng_seed(&r, 0x5eedu);
        rc = gp_map_fit(gp, &mo, NULL, &r, theta, NULL);
    }
    for (int k = 0; rc == 0 && k < dims; k++)
        ls[k] = exp(theta[k]);
    gp_free(&gp);
    free(theta);
    return rc;
}

int study_view_relevance(const study_view_t *v, double *rel, double *ls, char *names,
                         size_t name_len, int cap, int *dims)
{
    space_t *sp = NULL;
    double *x = NULL, *y = NULL, *own = NULL, top = 0;
    int rc = 0, n, d;

    *dims = 0;
    if (!v->config)
        return err_set(ERR_STATE, "the study's configuration cannot be read: %s", v->config_error);
    if (!(sp = space_new(&v->config->space)))
        return err_code() ? err_code() : ERR_INVAL;
    d = space_dims(sp);
    if (d > cap || d > GP_MAX_DIMS) {
        rc = err_set(ERR_RANGE, "the space has %d dimensions, more than %d", d, cap);
        goto out;
    }
    if ((n = encode_search(v, sp, d, &x, &y)) < 0 || !(own = mem_alloc((size_t)d, sizeof *own, "ls"))) {
        rc = ERR_NOMEM;
        goto out;
    }
    if (n < STUDY_VIEW_MIN_RELEVANCE) {
        rc = err_set(ERR_STATE, "%d done search trial%s, fewer than the %d a fit needs", n,
                     n == 1 ? "" : "s", STUDY_VIEW_MIN_RELEVANCE);
        goto out;
    }
    if ((rc = fit_lengthscales(x, y, n, d, own)) != 0)
        goto out;
    for (int k = 0; k < d; k++)
        top = fmax(top, 1 / own[k]);
    for (int k = 0; k < d; k++) {
        rel[k] = top > 0 ? 1 / own[k] / top : 0;
        if (ls)
            ls[k] = own[k];
        if (names && space_dim_name(sp, k, names + (size_t)k * name_len, name_len) != 0)
            snprintf(names + (size_t)k * name_len, name_len, "x%d", k);
    }
    *dims = d;
out:
    space_free(&sp);
    free(x);
    free(y);
    free(own);
    return rc;
}
