/* The study read back for outputs (coordinator/runtime/study_view.c), on a store written by
 * hand (tests/report_study.c): every derived number is recomputed here from the raw rows by a
 * brute-force oracle, not by the view's own code path. */
#include <sqlite3.h>
#include <sys/stat.h>

#include "coordinator/runtime/report.h"
#include "coordinator/runtime/study_view.h"
#include "tests/harness.h"
#include "tests/report_study.h"

static const char *study_dir(const char *name)
{
    static char dir[1100];

    snprintf(dir, sizeof dir, "%s/%s", harness_tmpdir(), name);
    return dir;
}

static bool row_point(const report_row_t *r)
{
    return r->state == STORE_DONE && (r->kind == STORE_SEARCH || r->kind == STORE_BASELINE);
}

/* Brute force: no other search point is at least as good on both and better on one. */
static bool row_on_front(const report_row_t *rows, int n, const report_row_t *r)
{
    if (r->kind != STORE_SEARCH || !row_point(r))
        return false;
    for (int j = 0; j < n; j++) {
        const report_row_t *o = &rows[j];
        if (o != r && o->kind == STORE_SEARCH && row_point(o) && o->metric >= r->metric &&
            o->cost <= r->cost && (o->metric > r->metric || o->cost < r->cost))
            return false;
    }
    return true;
}

/* Mean and sample std of a point's own metric and its done confirmations'. */
static void row_stats(const report_row_t *rows, int n, const report_row_t *r, int *k,
                      double *mean, double *std)
{
    double x[64], sum = 0, ss = 0;

    *k = 0;
    x[(*k)++] = r->metric;
    for (int j = 0; j < n; j++)
        if (rows[j].kind == STORE_CONFIRM && rows[j].state == STORE_DONE && rows[j].origin == r->id)
            x[(*k)++] = rows[j].metric;
    for (int i = 0; i < *k; i++)
        sum += x[i];
    *mean = sum / *k;
    for (int i = 0; i < *k; i++)
        ss += (x[i] - *mean) * (x[i] - *mean);
    *std = *k > 1 ? sqrt(ss / (*k - 1)) : 0;
}

static const study_view_trial_t *trial(const study_view_t *v, int64_t id)
{
    for (int i = 0; i < v->ntrials; i++)
        if (v->trials[i].id == id)
            return &v->trials[i];
    FAIL("no trial %lld", (long long)id);
}

static int point_of(const study_view_t *v, int64_t id)
{
    for (int p = 0; p < v->npoints; p++)
        if (study_view_point_trial(v, p)->id == id)
            return p;
    return -1;
}

TEST(trials_points_and_counts)
{
    const report_row_t *rows;
    study_view_t v;
    int n, npoints = 0, counts[3][4] = {{0}};

    rows = report_study_rows(&n);
    report_study_write(study_dir("s"));
    ASSERT_OK(study_view_load(study_dir("s"), &v));
    ASSERT_EQ(v.schema_version, 2);
    ASSERT_STR_EQ(v.name, "report-test");
    ASSERT_NOT_NULL(v.config);
    ASSERT_EQ(v.layers, 12);
    ASSERT_EQ(v.budget, 9);
    ASSERT_EQ(v.ntrials, n);
    for (int i = 0; i < n; i++) {
        const study_view_trial_t *t = trial(&v, (int64_t)rows[i].id);
        counts[rows[i].kind][rows[i].state]++;
        npoints += row_point(&rows[i]);
        ASSERT_EQ(t->kind, (int)rows[i].kind);
        ASSERT_EQ(t->state, (int)rows[i].state);
        ASSERT_STR_EQ(t->config, rows[i].config);
        ASSERT_EQ(t->has_metric, rows[i].state == STORE_DONE);
        if (t->has_metric)
            ASSERT_NEAR(t->metric, rows[i].metric, 0);
        ASSERT_NEAR(t->cost, rows[i].cost, 0);
        ASSERT_EQ_U(t->seed, rows[i].seed);
        ASSERT_EQ(t->origin, (int64_t)rows[i].origin);
        ASSERT_EQ(t->seq, rows[i].seq);
        ASSERT_TRUE((t->label == NULL) == (rows[i].label == NULL));
        if (t->label)
            ASSERT_STR_EQ(t->label, rows[i].label);
        if (rows[i].state == STORE_DONE)
            ASSERT_NEAR(t->worker_s, rows[i].total_s, 1e-9);
    }
    ASSERT_STR_EQ(trial(&v, 7)->error, "out of memory <allocating 3 GB> & more");
    ASSERT_TRUE(trial(&v, 12)->full_finetune);
    for (int k = 0; k < 3; k++)
        for (int s = 0; s < 4; s++)
            ASSERT_EQ(v.count[k][s], counts[k][s]);
    ASSERT_EQ(v.npoints, npoints);
    ASSERT_EQ(v.npoints, 11);   /* six search, five baselines: confirmations are not points */
    study_view_free(&v);
}

TEST(front_is_the_non_dominated_search_points_by_cost)
{
    static const int64_t expect[] = {5, 3, 1, 2, 6};   /* by hand: trial 4 is beaten by 2 */
    const report_row_t *rows;
    study_view_t v;
    int n, nfront = 0;

    rows = report_study_rows(&n);
    report_study_write(study_dir("s"));
    ASSERT_OK(study_view_load(study_dir("s"), &v));
    for (int i = 0; i < n; i++)
        nfront += row_on_front(rows, n, &rows[i]);
    ASSERT_EQ(v.nfront, nfront);
    ASSERT_EQ(v.nfront, 5);
    for (int k = 0; k < v.nfront; k++) {
        ASSERT_EQ(study_view_point_trial(&v, v.front[k])->id, expect[k]);
        ASSERT_TRUE(v.points[v.front[k]].on_front);
    }
    for (int p = 0; p < v.npoints; p++) {
        const study_view_trial_t *t = study_view_point_trial(&v, p);
        for (int i = 0; i < n; i++)
            if ((int64_t)rows[i].id == t->id)
                ASSERT_EQ(v.points[p].on_front, row_on_front(rows, n, &rows[i]));
    }
    study_view_free(&v);
}

TEST(confirmed_mean_std_and_seeds)
{
    const report_row_t *rows;
    study_view_t v;
    int n;

    rows = report_study_rows(&n);
    report_study_write(study_dir("s"));
    ASSERT_OK(study_view_load(study_dir("s"), &v));
    for (int i = 0; i < n; i++) {
        double mean, std;
        int k, p;
        if (!row_point(&rows[i]))
            continue;
        row_stats(rows, n, &rows[i], &k, &mean, &std);
        ASSERT_GE(p = point_of(&v, (int64_t)rows[i].id), 0);
        ASSERT_EQ(v.points[p].n, k);
        ASSERT_NEAR(v.points[p].mean, mean, 1e-12);
        ASSERT_NEAR(v.points[p].std, std, 1e-12);
        ASSERT_EQ_U(v.points[p].seeds[0], rows[i].seed);
    }
    /* Trial 1: its own run (seed 1) and confirmations 14 and 15; the failed 19 is left out. */
    {
        const study_view_point_t *p1 = &v.points[point_of(&v, 1)];
        ASSERT_EQ(p1->n, 3);
        ASSERT_NEAR(p1->mean, (0.80 + 0.82 + 0.79) / 3, 1e-12);
        ASSERT_EQ_U(p1->seeds[0], 1);
        ASSERT_EQ_U(p1->seeds[1], 2);
        ASSERT_EQ_U(p1->seeds[2], 3);
        ASSERT_TRUE(p1->seeds_known);
        ASSERT_EQ(v.points[point_of(&v, 2)].n, 1);
        ASSERT_NEAR(v.points[point_of(&v, 2)].std, 0, 0);
    }
    study_view_free(&v);
}

/* The oracle's dominance of baseline row b: best front row by metric margin (then cost). */
static void row_dominance(const report_row_t *rows, int n, const report_row_t *b, int64_t *by,
                          double *dm, double *dc, double *pooled)
{
    int kb, kf;
    double mb, sb, mf, sf;

    *by = -1;
    row_stats(rows, n, b, &kb, &mb, &sb);
    for (int j = 0; j < n; j++) {
        const report_row_t *f = &rows[j];
        if (!row_on_front(rows, n, f))
            continue;
        row_stats(rows, n, f, &kf, &mf, &sf);
        bool means = kb > 1 && kf > 1;
        double m = (means ? mf : f->metric) - (means ? mb : b->metric), c = b->cost - f->cost;
        if (m < 0 || c < 0 || (m == 0 && c == 0) || (*by >= 0 && (m < *dm || (m == *dm && c <= *dc))))
            continue;
        *by = (int64_t)f->id;
        *dm = m;
        *dc = c;
        *pooled = means ? sqrt(((kf - 1) * sf * sf + (kb - 1) * sb * sb) / (kf + kb - 2)) : 0;
    }
}

TEST(dominance_of_each_baseline)
{
    const report_row_t *rows;
    study_view_t v;
    int n, nb = 0;

    rows = report_study_rows(&n);
    report_study_write(study_dir("s"));
    ASSERT_OK(study_view_load(study_dir("s"), &v));
    for (int i = 0; i < n; i++)
        nb += rows[i].kind == STORE_BASELINE && rows[i].state == STORE_DONE;
    ASSERT_EQ(v.ndominance, nb);
    for (int k = 0; k < v.ndominance; k++) {
        const study_view_dominance_t *d = &v.dominance[k];
        const study_view_trial_t *t = study_view_point_trial(&v, d->baseline);
        double dm = 0, dc = 0, pooled = 0;
        int64_t by = -1;
        for (int i = 0; i < n; i++)
            if ((int64_t)rows[i].id == t->id)
                row_dominance(rows, n, &rows[i], &by, &dm, &dc, &pooled);
        ASSERT_EQ(d->by >= 0 ? study_view_point_trial(&v, d->by)->id : -1, by);
        if (by < 0)
            continue;
        ASSERT_NEAR(d->d_metric, dm, 1e-12);
        ASSERT_NEAR(d->d_cost, dc, 1e-12);
        ASSERT_NEAR(d->pooled_std, pooled, 1e-12);
        if (d->on_means)
            ASSERT_NEAR(d->d_metric_sd, dm / pooled, 1e-9);
        else
            ASSERT_TRUE(isnan(d->d_metric_sd));
    }
    /* By hand: pfeiffer (10) is beaten by trial 1 at the same cost, both confirmed: means
     * 0.80333 against 0.77; lora (11) by trial 2 (single runs: 2 has no confirmation);
     * full-finetune (12) by nothing; the escaped label (13) by trial 3. */
    ASSERT_EQ(study_view_point_trial(&v, v.dominance[0].by)->id, 1);
    ASSERT_TRUE(v.dominance[0].on_means);
    ASSERT_NEAR(v.dominance[0].d_metric, (0.80 + 0.82 + 0.79) / 3 - 0.77, 1e-12);
    ASSERT_NEAR(v.dominance[0].d_cost, 0, 0);
    ASSERT_EQ(study_view_point_trial(&v, v.dominance[1].by)->id, 2);
    ASSERT_FALSE(v.dominance[1].on_means);
    ASSERT_NEAR(v.dominance[1].d_metric, 0.02, 1e-12);
    ASSERT_NEAR(v.dominance[1].d_cost, 0.5, 1e-12);
    ASSERT_EQ(v.dominance[2].by, -1);
    ASSERT_EQ(study_view_point_trial(&v, v.dominance[3].by)->id, 3);
    ASSERT_EQ(v.dominance[4].by, -1);   /* head-only: nothing costs less than 0 % */
    study_view_free(&v);
}

static report_point_t rpt(const report_row_t *r)
{
    report_point_t p;

    memset(&p, 0, sizeof p);
    p.id = (long long)r->id;
    p.metric = r->metric;
    p.cost = r->cost;
    return p;
}

TEST(reference_point_and_hypervolume_history)
{
    report_point_t pts[64], base[64];
    const report_row_t *rows;
    double ref_m = INFINITY, ref_c = -INFINITY, work = 0;
    study_view_t v;
    int n, ns = 0, nb = 0, k = 0;

    rows = report_study_rows(&n);
    report_study_write(study_dir("s"));
    ASSERT_OK(study_view_load(study_dir("s"), &v));
    for (int i = 0; i < n; i++)
        if (row_point(&rows[i])) {
            ref_m = fmin(ref_m, rows[i].metric);
            ref_c = fmax(ref_c, rows[i].cost);
            if (rows[i].kind == STORE_BASELINE)
                base[nb++] = rpt(&rows[i]);
        }
    ASSERT_FALSE(v.ref_from_study);
    ASSERT_NEAR(v.ref_metric, ref_m, 0);
    ASSERT_NEAR(v.ref_cost, ref_c, 0);
    ASSERT_NEAR(v.hv_baselines, report_hypervolume(base, nb, ref_m, ref_c), 1e-12);
    /* The history: counted search trials in seq order (the failed one counts, adding nothing);
     * each value is report.c's hypervolume of the done search rows counted so far. */
    for (int64_t seq = 1; seq <= 64; seq++)
        for (int i = 0; i < n; i++) {
            if (rows[i].seq != seq || rows[i].kind != STORE_SEARCH)
                continue;
            if (rows[i].state == STORE_DONE)
                pts[ns++] = rpt(&rows[i]);
            work += rows[i].total_s + (rows[i].state == STORE_FAILED);   /* dispatch to finish */
            ASSERT_LT(k, v.nhv);
            ASSERT_EQ(v.hv[k].id, (int64_t)rows[i].id);
            ASSERT_NEAR(v.hv[k].hv, report_hypervolume(pts, ns, ref_m, ref_c), 1e-12);
            ASSERT_NEAR(v.hv[k].worker_s, work, 1e-6);
            k++;
        }
    ASSERT_EQ(v.nhv, k);
    ASSERT_EQ(k, 7);
    ASSERT_NEAR(v.hv_search, report_hypervolume(pts, ns, ref_m, ref_c), 1e-12);
    ASSERT_NEAR(v.hv[v.nhv - 1].hv, v.hv_search, 1e-12);
    study_view_free(&v);
}

TEST(relevance_from_the_map_fit)
{
    double rel[64], ls[64], top = 0;
    char names[64][32];
    study_view_t v;
    int d;

    report_study_write(study_dir("s"));
    ASSERT_OK(study_view_load(study_dir("s"), &v));
    ASSERT_OK(study_view_relevance(&v, rel, ls, &names[0][0], sizeof names[0], 64, &d));
    ASSERT_EQ(d, 4 + 12);   /* sa, pa, pt, lora levels, then one bit per layer */
    ASSERT_STR_EQ(names[0], "sa");
    ASSERT_STR_EQ(names[3], "lora");
    ASSERT_STR_EQ(names[4], "layer0");
    for (int k = 0; k < d; k++) {
        ASSERT_TRUE(rel[k] > 0 && rel[k] <= 1);
        ASSERT_TRUE(ls[k] >= 1e-3 && ls[k] <= 1e3);   /* gp_map's box */
        top = fmax(top, rel[k]);
        for (int j = 0; j < d; j++)   /* relevance is 1 / lengthscale, scaled */
            ASSERT_NEAR(rel[k] * ls[k], rel[j] * ls[j], 1e-9);
    }
    ASSERT_NEAR(top, 1, 1e-12);
    ASSERT_ERR(study_view_relevance(&v, rel, ls, NULL, 0, 8, &d), ERR_RANGE);
    study_view_free(&v);
}

TEST(relevance_needs_five_search_trials)
{
    double rel[64];
    study_view_t v;
    int d = -1;

    report_study_write_small(study_dir("few"), 4);
    ASSERT_OK(study_view_load(study_dir("few"), &v));
    ASSERT_EQ(v.npoints, 4);
    ASSERT_ERR(study_view_relevance(&v, rel, NULL, NULL, 0, 64, &d), ERR_STATE);
    ASSERT_CONTAINS(err_msg(), "4 done search trials");
    ASSERT_EQ(d, 0);
    study_view_free(&v);
}

/* A version 1 store: the trials table without kind, label, seed, origin, full_finetune. */
static void write_v1(const char *dir)
{
    char path[1200];
    sqlite3 *db;

    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/study.db", dir);
    ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO meta VALUES('schema_version','1'),('study_name','old'),"
        "('ref_metric','0.5'),('ref_cost','10');"
        "CREATE TABLE trials(id INTEGER PRIMARY KEY, config TEXT NOT NULL, state TEXT NOT NULL,"
        " attempt INTEGER, worker TEXT, random INTEGER, acq_value REAL, created_at REAL NOT NULL,"
        " dispatched_at REAL, finished_at REAL, objective REAL, cost REAL, error TEXT,"
        " result_attempt INTEGER, seq INTEGER);"
        "CREATE TABLE attempts(trial_id INTEGER, attempt INTEGER, worker TEXT, dispatched_at REAL,"
        " ended_at REAL, outcome TEXT);"
        "CREATE TABLE results(trial_id INTEGER, attempt INTEGER, status TEXT, objective REAL,"
        " objective_name TEXT, percent REAL, trainable INTEGER, deployed INTEGER, backbone INTEGER,"
        " best_epoch INTEGER, epochs_run INTEGER, total_s REAL, worker TEXT, error TEXT,"
        " received_at REAL, json TEXT);"
        "INSERT INTO trials VALUES(1,'sa=8 pa=0 pt=0 layers=1111','done',1,NULL,1,0,1,2,5,0.7,"
        " 1.5,NULL,1,1),(2,'sa=4 pa=0 pt=0 layers=0011','done',1,NULL,1,0,1,3,7,0.6,0.5,NULL,1,2),"
        " (3,'sa=2 pa=0 pt=0 layers=0001','failed',1,NULL,1,0,1,3,4,NULL,0.2,'boom',NULL,3);",
        NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

TEST(a_version_1_store_reads_as_search_trials)
{
    study_view_t v;

    write_v1(study_dir("v1"));
    ASSERT_OK(study_view_load(study_dir("v1"), &v));
    ASSERT_EQ(v.schema_version, 1);
    ASSERT_EQ(v.ntrials, 3);
    ASSERT_EQ(v.count[VIEW_SEARCH][VIEW_DONE], 2);
    ASSERT_EQ(v.count[VIEW_SEARCH][VIEW_FAILED], 1);
    ASSERT_EQ(v.layers, 4);   /* no configuration stored: from the masks */
    ASSERT_TRUE(v.config == NULL);
    ASSERT_FALSE(v.trials[0].has_seed);
    ASSERT_TRUE(v.trials[0].label == NULL);
    ASSERT_NEAR(v.trials[0].worker_s, 3, 1e-12);   /* no result row: dispatch to finish */
    ASSERT_TRUE(v.ref_from_study);
    ASSERT_NEAR(v.ref_metric, 0.5, 0);
    ASSERT_EQ(v.nfront, 2);
    ASSERT_NEAR(v.hv_search, (1.5 - 0.5) * (0.6 - 0.5) + (10 - 1.5) * (0.7 - 0.5), 1e-12);
    study_view_free(&v);
}

TEST(a_missing_store_is_an_error)
{
    study_view_t v;

    ASSERT_ERR(study_view_load(study_dir("nothing"), &v), ERR_NOTFOUND);
    ASSERT_EQ(v.ntrials, 0);
    study_view_free(&v);
}
