/* bench-mf: multi-fidelity search against full fidelity at equal compute (issue 14).
 *
 * Each problem is searched by four methods, each with the same budget in epochs
 * ([study] budget_epochs; the trial budget is out of reach), by `autopeft run` itself (the real
 * coordinator and 2 worker processes):
 *   full    full-fidelity MAP BO (fidelity = none): every trial trains the recipe's E epochs
 *   asha    fidelity = asha with its defaults (docs/search.md): the GP over (configuration,
 *           fidelity) suggests, and decides the rungs once fitted (the model rule); MO-ASHA's
 *           rank rule before that
 *   screen  "one epoch for every configuration, the top ones to the end", asynchronously: one
 *           rung at epoch 1 with eta = E and the rank rule alone (the top 1/E go on), the GP
 *           on finished trials only (fidelity_gp = false)
 *   random  random search at full fidelity
 * For every run, the hypervolume of its search trials (objective up, parameter % down) after
 * each result, against the compute spent so far: epochs (the budget's unit) and worker seconds
 * (the results' total_s). The reference point is common to all runs of a problem: the lowest
 * objective and the highest cost any of them saw. Medians and quartiles over the seeds at
 * fractions of the budget (of full fidelity's median worker seconds for the second), then two
 * lines per problem:
 *   mf worker-seconds problem=NAME compute_ratio=X hv_ratio=Y
 *   BENCH mf problem=NAME compute_ratio=X hv_ratio=Y
 * X: the compute at which asha's median hypervolume first reaches full fidelity's final median,
 * over full fidelity's (inf when it never does); Y: the lowest ratio of asha's median to full's
 * at equal compute, from a quarter of the budget to the end.
 *
 * Problems: synthetic (fast mode with learning curves, bert-base space, E = 9, 360 epochs),
 * embedded (the embedded default task and model trained for real, E = 3, 60 epochs) and sst2
 * (SST-2 on ../shared/models/bert-mini-mlm: 500 training sentences, 400 dev, E = 3, 45 epochs).
 * Options: --problems LIST (synthetic,embedded,sst2), --seeds N (10), --keep (keep the
 * studies), --asha 'KEY = VALUE' (more [search] lines for asha), --shared DIR (../shared). */
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/mem.h"
#include "common/parse.h"
#include "coordinator/search/pareto.h"
#include "coordinator/search/stat.h"
#include "tests/bench/bench.h"

#define NMETHODS 4
#define MAX_SEEDS 50
#define NGRID 41

typedef struct {
    const char *name;
    const char *study;      /* the [study] section but its seed */
    const char *rest;       /* the sections after it; @SHARED@ stands for the shared folder's
                             * absolute path */
    int epochs, budget;     /* E, and the budget in epochs */
    bool shared;            /* needs ../shared (or $AUTOPEFT_SHARED) */
} problem_t;

static const problem_t problems[] = {
    {"synthetic",
     "[study]\nname = mf\nmode = synthetic\nbudget = 100000\nbudget_epochs = 360\n"
     "n_init = 10\n", "[model]\nshape = bert-base\n[recipe]\nepochs = 9\n"
     "[synthetic]\nduration_ms = 90\nnoise = 0.005\n",
     9, 360, false},
    {"embedded",
     "[study]\nname = mf\nmode = train\nbudget = 100000\nbudget_epochs = 60\nn_init = 6\n",
     "[model]\nembedded = true\nseed = 1\nshape = hidden=64 layers=4 heads=4 "
     "intermediate=256 vocab=89 positions=64 type_vocab=2\n[space]\nprefix_bottleneck = 16\n"
     "[task]\nname = embedded\nembedded = true\n[recipe]\nepochs = 3\nlearning_rate = 0.008\n"
     "batch_size = 32\neval_batch_size = 256\nmax_length = 24\nwarmup_ratio = 0.1\n"
     "weight_decay = 0\nmax_grad_norm = 1\ndropout = 0\n",
     3, 60, false},
    {"sst2",
     "[study]\nname = mf\nmode = train\nbudget = 100000\nbudget_epochs = 45\nn_init = 5\n",
     "[model]\npath = @SHARED@/models/bert-mini-mlm\n[task]\nname = sst2\n"
     "data_dir = @SHARED@/data/glue\n"
     "[recipe]\nepochs = 3\nlearning_rate = 1e-3\nbatch_size = 32\nmax_length = 48\n"
     "max_train_examples = 500\nmax_eval_examples = 400\nthreads = 1\n",
     3, 45, true},
};

static const char *const method_names[NMETHODS] = {"full", "asha", "screen", "random"};

/* A run's results in the order they were counted. */
typedef struct {
    int n;
    double *metric, *cost, *epochs, *seconds;   /* epochs, seconds: cumulative */
} run_t;

/* asha's [search] lines beyond the defaults (--asha). */
static const char *asha_extra = "";

static void method_search(int m, int epochs, char *buf, size_t len)
{
    if (m == 0)
        snprintf(buf, len, "[search]\nsurrogate = map\nfidelity = none\n");
    else if (m == 1)
        snprintf(buf, len, "[search]\nsurrogate = map\nfidelity = asha\n%s\n", asha_extra);
    else if (m == 2)
        snprintf(buf, len, "[search]\nsurrogate = map\nfidelity = asha\nfidelity_eta = %d\n"
                 "fidelity_projection = false\nfidelity_gp = false\n", epochs < 2 ? 2 : epochs);
    else
        snprintf(buf, len, "[search]\nsurrogate = random\nfidelity = none\n");
}

static int read_run(const char *study, run_t *r)
{
    char path[PATH_MAX + 16];
    sqlite3 *db;
    sqlite3_stmt *q;
    double e = 0, s = 0;
    int cap = 4096;

    memset(r, 0, sizeof *r);
    snprintf(path, sizeof path, "%s/study.db", study);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return err_set(ERR_IO, "%s: %s", path, sqlite3_errmsg(db));
    r->metric = mem_alloc((size_t)cap, sizeof(double), "run");
    r->cost = mem_alloc((size_t)cap, sizeof(double), "run");
    r->epochs = mem_alloc((size_t)cap, sizeof(double), "run");
    r->seconds = mem_alloc((size_t)cap, sizeof(double), "run");
    if (sqlite3_prepare_v2(db, "SELECT t.objective, t.cost, r.epochs_run, r.total_s FROM trials t "
                           "JOIN results r ON r.trial_id = t.id AND r.attempt = t.result_attempt "
                           "WHERE t.kind = 'search' AND t.state = 'done' ORDER BY t.seq", -1, &q,
                           NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return err_set(ERR_IO, "%s: %s", path, sqlite3_errmsg(db));
    }
    while (sqlite3_step(q) == SQLITE_ROW && r->n < cap) {
        e += sqlite3_column_double(q, 2);
        s += sqlite3_column_double(q, 3);
        r->metric[r->n] = sqlite3_column_double(q, 0);
        r->cost[r->n] = sqlite3_column_double(q, 1);
        r->epochs[r->n] = e;
        r->seconds[r->n++] = s;
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    return 0;
}

static void free_run(run_t *r)
{
    free(r->metric);
    free(r->cost);
    free(r->epochs);
    free(r->seconds);
}

/* Hypervolume of the results counted with at most `upto` compute (epochs or seconds). */
static double hv_upto(const run_t *r, const double *compute, double upto, const double ref[2])
{
    double *pts = mem_alloc((size_t)(r->n > 0 ? r->n : 1), 2 * sizeof(double), "points"), hv;
    int k = 0;

    for (int i = 0; i < r->n && compute[i] <= upto + 1e-9; i++) {
        pts[2 * k] = r->metric[i];
        pts[2 * k++ + 1] = -r->cost[i];
    }
    hv = pareto_hv(pts, k, ref);
    free(pts);
    return hv;
}

/* Hypervolume medians and quartiles on a grid of compute. */
typedef struct {
    double upto[NGRID];
    double med[NMETHODS][NGRID], q1[NMETHODS][NGRID], q3[NMETHODS][NGRID];
} curve_t;

typedef struct {
    run_t runs[NMETHODS][MAX_SEEDS];
    curve_t by_epochs, by_seconds;   /* the second up to full fidelity's median worker-s */
    double seconds[NMETHODS], trials[NMETHODS];
    double ref[2];
} result_t;

/* text with every @SHARED@ replaced by shared; false when it does not fit. */
static bool expand(const char *text, const char *shared, char *out, size_t len)
{
    size_t n = 0;

    for (const char *c = text; *c; ) {
        const char *piece = strncmp(c, "@SHARED@", 8) ? c : shared;
        size_t k = piece == c ? 1 : strlen(shared);
        if (n + k >= len)
            return false;
        memcpy(out + n, piece, k);
        n += k;
        c += piece == c ? 1 : 8;
    }
    out[n] = '\0';
    return true;
}

static int run_all(const problem_t *p, int seeds, const char *bindir, const char *shared,
                   bool keep, result_t *res)
{
    char rest[4096];
    char dir[] = "/tmp/autopeft-bench-mf-XXXXXX", conf[PATH_MAX], study[PATH_MAX];
    char cmd[6 * PATH_MAX], search[1024];
    FILE *f;

    if (!expand(p->rest, shared, rest, sizeof rest))
        return err_set(ERR_RANGE, "%s: the shared folder's path is too long", p->name);
    if (!mkdtemp(dir))
        return err_set(ERR_IO, "mkdtemp failed");
    for (int m = 0; m < NMETHODS; m++)
        for (int s = 0; s < seeds; s++) {
            double t0 = bench_now();
            snprintf(conf, sizeof conf, "%s/%s-%d.conf", dir, method_names[m], s + 1);
            snprintf(study, sizeof study, "%s/%s-%d", dir, method_names[m], s + 1);
            if (!(f = fopen(conf, "w")))
                return err_set(ERR_IO, "%s: cannot write", conf);
            method_search(m, p->epochs, search, sizeof search);
            fprintf(f, "%sseed = %d\n%s%s", p->study, s + 1, rest, search);
            fclose(f);
            snprintf(cmd, sizeof cmd, "'%s/autopeft' run '%s' --study '%s' --workers 2 --quiet "
                     "> '%s.log' 2>&1", bindir, conf, study, study);
            if (system(cmd) != 0)
                return err_set(ERR_IO, "%s failed: see %s.log", method_names[m], study);
            if (read_run(study, &res->runs[m][s]) != 0)
                return ERR_IO;
            fprintf(stderr, "%s %s seed %d: %d trials, %.0f epochs, %.1f s\n", p->name,
                    method_names[m], s + 1, res->runs[m][s].n,
                    res->runs[m][s].n ? res->runs[m][s].epochs[res->runs[m][s].n - 1] : 0,
                    bench_now() - t0);
        }
    if (!keep) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return 0;
}

/* The medians and quartiles of every method's hypervolume against compute (epochs or worker
 * seconds: `seconds`) on the grid up to `budget`. */
static void hv_curve(result_t *res, int seeds, bool seconds, double budget, curve_t *c)
{
    double x[MAX_SEEDS];

    for (int g = 0; g < NGRID; g++)
        c->upto[g] = budget * (double)g / (NGRID - 1);
    for (int m = 0; m < NMETHODS; m++)
        for (int g = 0; g < NGRID; g++) {
            for (int s = 0; s < seeds; s++) {
                const run_t *r = &res->runs[m][s];
                x[s] = hv_upto(r, seconds ? r->seconds : r->epochs, c->upto[g], res->ref);
            }
            c->med[m][g] = stat_quantile(x, seeds, 0.5);
            c->q1[m][g] = stat_quantile(x, seeds, 0.25);
            c->q3[m][g] = stat_quantile(x, seeds, 0.75);
        }
}

/* The common reference, the medians of worker seconds and trials, and the two curves. */
static void summarise(const problem_t *p, int seeds, result_t *res)
{
    double lo = INFINITY, hi = -INFINITY, x[MAX_SEEDS];

    for (int m = 0; m < NMETHODS; m++)
        for (int s = 0; s < seeds; s++)
            for (int i = 0; i < res->runs[m][s].n; i++) {
                lo = fmin(lo, res->runs[m][s].metric[i]);
                hi = fmax(hi, res->runs[m][s].cost[i]);
            }
    res->ref[0] = lo - 1e-6;
    res->ref[1] = -(hi + 1e-6);
    for (int m = 0; m < NMETHODS; m++) {
        for (int s = 0; s < seeds; s++) {
            const run_t *r = &res->runs[m][s];
            x[s] = r->n ? r->seconds[r->n - 1] : 0;
        }
        res->seconds[m] = stat_quantile(x, seeds, 0.5);
        for (int s = 0; s < seeds; s++)
            x[s] = res->runs[m][s].n;
        res->trials[m] = stat_quantile(x, seeds, 0.5);
    }
    hv_curve(res, seeds, false, p->budget, &res->by_epochs);
    hv_curve(res, seeds, true, res->seconds[0], &res->by_seconds);
}

static void print_curve(const char *unit, const curve_t *c)
{
    const int rows[] = {NGRID / 4, NGRID / 2, 3 * NGRID / 4, NGRID - 1};

    printf("%8s", unit);
    for (int m = 0; m < NMETHODS; m++)
        printf("  %-26s", method_names[m]);
    printf("\n");
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
        int g = rows[k];
        printf("%8.1f", c->upto[g]);
        for (int m = 0; m < NMETHODS; m++)
            printf("  %8.4f [%7.4f-%7.4f]", c->med[m][g], c->q1[m][g], c->q3[m][g]);
        printf("\n");
    }
}

/* X: the fraction of the grid at which asha's median first reaches full fidelity's final one
 * (inf: never); Y: the lowest ratio of asha's median to full's from a quarter of the grid on. */
static void print_ratios(const char *prefix, const char *name, const curve_t *c)
{
    double target = c->med[0][NGRID - 1], worst = INFINITY, reach = INFINITY;

    for (int g = 1; g < NGRID; g++) {
        if (g >= NGRID / 4 && c->med[0][g] > 0)
            worst = fmin(worst, c->med[1][g] / c->med[0][g]);
        if (!isfinite(reach) && c->med[1][g] >= target)
            reach = (double)g / (NGRID - 1);
    }
    if (isfinite(reach))
        printf("%s problem=%s compute_ratio=%.3f hv_ratio=%.3f\n", prefix, name, reach, worst);
    else
        printf("%s problem=%s compute_ratio=inf hv_ratio=%.3f\n", prefix, name, worst);
}

static void report(const problem_t *p, int seeds, const result_t *res)
{
    printf("\n%s: %d seeds, budget %d epochs (E = %d), hypervolume medians [quartiles] "
           "against the common reference (%.4g, %.4g %%)\n", p->name, seeds, p->budget,
           p->epochs, res->ref[0], -res->ref[1]);
    print_curve("epochs", &res->by_epochs);
    printf("%8s", "trials");
    for (int m = 0; m < NMETHODS; m++)
        printf("  %-26.0f", res->trials[m]);
    printf("\n%8s", "worker-s");
    for (int m = 0; m < NMETHODS; m++)
        printf("  %-26.1f", res->seconds[m]);
    printf("\nthe same against worker seconds, up to full fidelity's median:\n");
    print_curve("worker-s", &res->by_seconds);
    print_ratios("mf worker-seconds", p->name, &res->by_seconds);
    print_ratios("BENCH mf", p->name, &res->by_epochs);
}

BENCH(mf, "multi-fidelity search against full fidelity at equal compute (issue 14)")
{
    char self[PATH_MAX], bindir[PATH_MAX + 16], shared[PATH_MAX] = "";
    const char *list = "synthetic,embedded,sst2", *shared_dir = getenv("AUTOPEFT_SHARED");
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    int seeds = 10;
    bool keep = false;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--problems") && i + 1 < argc)
            list = argv[++i];
        else if (!strcmp(argv[i], "--seeds") && i + 1 < argc) {
            if (parse_int(argv[++i], 1, MAX_SEEDS, "--seeds", &seeds) != 0)
                goto usage;
        } else if (!strcmp(argv[i], "--keep"))
            keep = true;
        else if (!strcmp(argv[i], "--asha") && i + 1 < argc)
            asha_extra = argv[++i];
        else if (!strcmp(argv[i], "--shared") && i + 1 < argc)
            shared_dir = argv[++i];
        else
            goto usage;
    }
    if (len <= 0)
        return fprintf(stderr, "mf: cannot find this program\n"), 1;
    self[len] = '\0';
    *strrchr(self, '/') = '\0';
    snprintf(bindir, sizeof bindir, "%s/../bin", self);
    for (size_t k = 0; k < sizeof problems / sizeof problems[0]; k++) {
        const problem_t *p = &problems[k];
        result_t *res;

        if (!strstr(list, p->name))
            continue;
        if (p->shared && !realpath(shared_dir && *shared_dir ? shared_dir : "../shared", shared)) {
            fprintf(stderr, "mf: %s needs the shared data (../shared, $AUTOPEFT_SHARED or "
                    "--shared DIR)\n", p->name);
            return 1;
        }
        if (!(res = mem_alloc(1, sizeof *res, "bench results")))
            return 1;
        if (run_all(p, seeds, bindir, shared, keep, res) != 0) {
            fprintf(stderr, "mf: %s\n", err_msg());
            return 1;
        }
        summarise(p, seeds, res);
        report(p, seeds, res);
        for (int m = 0; m < NMETHODS; m++)
            for (int s = 0; s < seeds; s++)
                free_run(&res->runs[m][s]);
        free(res);
    }
    return 0;
usage:
    fprintf(stderr, "usage: autopeft-bench mf [--problems synthetic,embedded,sst2] [--seeds N] "
            "[--keep] [--asha 'KEY = VALUE'] [--shared DIR]\n");
    return 2;
}
