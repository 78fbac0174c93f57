/* `autopeft-bench bo`: sample efficiency on the synthetic PEFT problem (synth.h) over AutoPEFT's
 * 12- and 24-layer spaces. Methods, each for `seeds` seeds and `budget` trials:
 *   random         uniform valid configurations
 *   optuna-nsga2   Optuna 3.1 NSGAIISampler (tests/bench/bo_optuna.py)
 *   optuna-tpe     Optuna 3.1 TPESampler(multivariate=True)
 *   map, saas      our strategy, one trial at a time
 *   map-async4, saas-async4   our strategy with 5 trials in flight: every suggestion is made
 *                  with the 4 others pending; trial durations uniform in [0.5, 1.5] (seeded),
 *                  results counted in completion order
 * The score is the hypervolume gap to the true front, (HV* - HV_t) / HV*, where HV_t is the
 * hypervolume of the true (noise-free) metrics and exact parameter % of the first t completed
 * trials, with reference point (0.55, max parameter % of the space); also on a log10 cost
 * scale. Runs are independent processes, `jobs` at a time.
 *
 *   autopeft-bench bo [--seeds N] [--budget T] [--jobs J] [--layers 12|24] [--methods a,b,..]
 *                     [--saas-refit K] [--transform none|standardise|copula] [--cost-log]
 *                     [--acq-random N] [--acq-starts N] [--acq-evals N]
 *                     [--quick]
 */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/err.h"
#include "coordinator/search/pareto.h"
#include "coordinator/search/strategy.h"
#include "tests/bench/bench.h"
#include "tests/bench/synth.h"

enum { M_RANDOM, M_NSGA2, M_TPE, M_MAP, M_MAP_ASYNC, M_SAAS, M_SAAS_ASYNC, M_COUNT };
static const char *method_names[M_COUNT] = {"random", "optuna-nsga2", "optuna-tpe", "map",
                                            "map-async4", "saas", "saas-async4"};
#define NCHECK 3
static const int checkpoints[NCHECK] = {50, 100, 200};
#define MAX_SEEDS 64
#define FRONT_CAP 100000

typedef struct {
    int seeds, budget, jobs, saas_refit;
    int acq_random, acq_starts, acq_evals;  /* 0: the strategy's defaults */
    int transform;                          /* -1: the strategy's default */
    bool cost_log;                          /* our BO on the log10 cost scale */
    bool layers[2];  /* 12, 24 */
    bool methods[M_COUNT];
} bo_opts_t;

typedef struct {
    int li, method, seed;
    pid_t pid;
    int fd;
    /* gap (linear), gap (log cost), each at the checkpoints; wall and CPU seconds. */
    double gap[NCHECK], lgap[NCHECK], wall, cpu;
    bool ok;
} job_t;

typedef struct {
    synth_t p;
    double hv, lhv;          /* true front's hypervolumes: linear and log cost */
    char problem_json[64];   /* for the Optuna driver */
} space_ctx_t;

/* ---- one run --------------------------------------------------------------------------------- */

static double log_cost_ref(const synth_t *p)
{
    return -log10(p->pct_max);
}

/* Gaps of the first t trials at each checkpoint. */
static void gaps(const space_ctx_t *sc, const space_config_t *hist, int n, double *gap,
                 double *lgap)
{
    double *pts = malloc(sizeof(double) * 2 * (size_t)n);
    double *lpts = malloc(sizeof(double) * 2 * (size_t)n);
    double lref[2] = {SYNTH_METRIC_REF, log_cost_ref(&sc->p)};

    for (int i = 0; i < n; i++) {
        double pct = synth_cost(&sc->p, &hist[i]);
        pts[2 * i] = lpts[2 * i] = synth_metric(&sc->p, &hist[i]);
        pts[2 * i + 1] = -pct;
        lpts[2 * i + 1] = -log10(pct);
    }
    for (int k = 0; k < NCHECK; k++) {
        int t = checkpoints[k] < n ? checkpoints[k] : n;
        gap[k] = (sc->hv - synth_hv(&sc->p, pts, t)) / sc->hv;
        lgap[k] = (sc->lhv - pareto_hv(lpts, t, lref)) / sc->lhv;
    }
    free(pts);
    free(lpts);
}

static int run_random(const space_ctx_t *sc, int seed, int budget, space_config_t *hist)
{
    rng_t r;

    rng_seed_stream(&r, (uint64_t)seed, 0x7a4d);
    for (int i = 0; i < budget; i++)
        space_sample(sc->p.space, &r, &hist[i]);
    return budget;
}

static int run_ours(const space_ctx_t *sc, const bo_opts_t *bo, int method, int seed,
                    space_config_t *hist)
{
    enum { W = 5 };
    bool async = method == M_MAP_ASYNC || method == M_SAAS_ASYNC;
    bool saas = method == M_SAAS || method == M_SAAS_ASYNC;
    int workers = async ? W : 1, nrun = 0, started = 0, done = 0, rc = 0, budget = bo->budget;
    space_config_t run[W];
    double finish[W], clock = 0.0;
    strategy_opts_t o;
    strategy_t *s;
    rng_t noise, dur;

    strategy_opts_default(&o, sc->p.hidden, sc->p.layers);
    o.shape = sc->p.shape;
    o.seed = (uint64_t)seed;
    o.model = saas ? STRATEGY_MODEL_SAAS : STRATEGY_MODEL_MAP;
    if (saas)
        o.refit_every = bo->saas_refit;
    if (bo->transform >= 0)
        o.transform = (gp_transform_t)bo->transform;
    if (bo->cost_log)
        o.cost = STRATEGY_COST_LOG;
    if (bo->acq_random)
        o.acq.random = bo->acq_random;
    if (bo->acq_starts)
        o.acq.starts = bo->acq_starts;
    if (bo->acq_evals)
        o.acq.max_evals = bo->acq_evals;
    s = strategy_new(&o);
    if (!s)
        return err_code();
    rng_seed_stream(&noise, (uint64_t)seed, 0x4e01);
    rng_seed_stream(&dur, (uint64_t)seed, 0xd0a7);
    while (done < budget) {
        int first = 0;
        while (nrun < workers && started < budget) {
            rc = strategy_suggest(s, run, nrun, &run[nrun], NULL);
            if (rc)
                goto out;
            finish[nrun++] = clock + (async ? 0.5 + rng_uniform(&dur) : 1.0);
            started++;
        }
        for (int i = 1; i < nrun; i++)
            if (finish[i] < finish[first])
                first = i;
        clock = finish[first];
        hist[done] = run[first];
        rc = strategy_observe(s, &run[first],
                              synth_metric(&sc->p, &run[first]) + SYNTH_NOISE_SD * rng_normal(&noise));
        if (rc)
            goto out;
        done++;
        run[first] = run[nrun - 1];
        finish[first] = finish[nrun - 1];
        nrun--;
    }
out:
    strategy_free(&s);
    return rc ? rc : done;
}

/* Runs the Optuna driver and checks each of its evaluations against the C problem. */
static int run_optuna(const space_ctx_t *sc, int method, int seed, int budget,
                      space_config_t *hist)
{
    char cmd[512], line[1024];
    int n = 0, L = sc->p.layers;
    FILE *f;

    snprintf(cmd, sizeof cmd,
             "OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 %s tests/bench/bo_optuna.py %s %s %d %d",
             getenv("PYTHON") ? getenv("PYTHON") : "/usr/bin/python3", sc->problem_json,
             method == M_NSGA2 ? "nsga2" : "tpe", seed, budget);
    f = popen(cmd, "r");
    if (!f)
        return err_set(ERR_IO, "cannot run %s", cmd);
    while (n < budget && fgets(line, sizeof line, f)) {
        int idx, lev[3];
        char bits[SPACE_MAX_LAYERS + 1];
        double ftrue, yobs, pct;
        space_config_t c = {.layers = L};

        if (sscanf(line, "trial %d %d %d %d %256s %lf %lf %lf", &idx, &lev[0], &lev[1], &lev[2],
                   bits, &ftrue, &yobs, &pct) != 8 || (int)strlen(bits) != L)
            continue;
        for (int m = 0; m < 3; m++) {
            c.size[m] = space_level_size(sc->p.space, m, lev[m]);
            for (int l = 0; l < L; l++)
                space_config_set_layer(&c, m, l, bits[l] == '1');
        }
        space_config_canonicalise(&c);
        if (space_check(sc->p.space, &c) != 0 || fabs(synth_metric(&sc->p, &c) - ftrue) > 1e-9 ||
            synth_cost(&sc->p, &c) != pct) {
            pclose(f);
            return err_set(ERR_INTERNAL, "Optuna driver disagrees with the C problem on trial %d "
                                         "(metric %.17g vs %.17g, cost %.17g vs %.17g)", idx, ftrue,
                           synth_metric(&sc->p, &c), pct, synth_cost(&sc->p, &c));
        }
        hist[n++] = c;
    }
    if (pclose(f) != 0 || n < budget)
        return err_set(ERR_IO, "Optuna driver (%s, seed %d) gave %d of %d trials",
                       method_names[method], seed, n, budget);
    return n;
}

static void run_child(const space_ctx_t *sc, const bo_opts_t *o, job_t *j, int fd)
{
    space_config_t *hist = malloc(sizeof *hist * (size_t)o->budget);
    double t0 = bench_now(), gap[NCHECK], lgap[NCHECK];
    struct rusage ru;
    int n;

    switch (j->method) {
    case M_RANDOM:
        n = run_random(sc, j->seed, o->budget, hist);
        break;
    case M_NSGA2:
    case M_TPE:
        n = run_optuna(sc, j->method, j->seed, o->budget, hist);
        break;
    default:
        n = run_ours(sc, o, j->method, j->seed, hist);
        break;
    }
    if (n < 0) {
        dprintf(fd, "error %s\n", err_msg());
        _exit(1);
    }
    gaps(sc, hist, n, gap, lgap);
    getrusage(RUSAGE_SELF, &ru);
    {
        struct rusage rc;
        getrusage(RUSAGE_CHILDREN, &rc);
        dprintf(fd, "ok %.17g %.17g %.17g %.17g %.17g %.17g %.3f %.3f\n", gap[0], gap[1], gap[2],
                lgap[0], lgap[1], lgap[2], bench_now() - t0,
                ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + rc.ru_utime.tv_sec +
                    rc.ru_utime.tv_usec * 1e-6);
    }
    _exit(0);
}

/* ---- the job pool ---------------------------------------------------------------------------- */

static int start_job(const space_ctx_t *sc, const bo_opts_t *o, job_t *j)
{
    int p[2];

    if (pipe(p) != 0)
        return err_set(ERR_IO, "pipe: %s", strerror(errno));
    fflush(stdout);
    j->pid = fork();
    if (j->pid < 0)
        return err_set(ERR_IO, "fork: %s", strerror(errno));
    if (j->pid == 0) {
        close(p[0]);
        run_child(sc, o, j, p[1]);
    }
    close(p[1]);
    j->fd = p[0];
    return 0;
}

static void finish_job(job_t *j)
{
    char buf[1024] = {0};
    size_t got = 0;
    ssize_t r;

    while (got < sizeof buf - 1 && (r = read(j->fd, buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)r;
    close(j->fd);
    j->ok = sscanf(buf, "ok %lf %lf %lf %lf %lf %lf %lf %lf", &j->gap[0], &j->gap[1], &j->gap[2],
                   &j->lgap[0], &j->lgap[1], &j->lgap[2], &j->wall, &j->cpu) == 8;
    if (!j->ok)
        fprintf(stderr, "bo: %s seed %d failed: %s", method_names[j->method], j->seed,
                buf[0] ? buf : "(no output)\n");
}

/* Heaviest first, so that the pool ends evenly. */
static int job_weight(const job_t *j)
{
    static const int w[M_COUNT] = {0, 2, 3, 4, 4, 9, 9};
    return w[j->method] * 2 + j->li;
}

static int cmp_jobs(const void *pa, const void *pb)
{
    const job_t *a = pa, *b = pb;
    if (job_weight(a) != job_weight(b))
        return job_weight(b) - job_weight(a);
    if (a->li != b->li)
        return a->li - b->li;
    if (a->method != b->method)
        return a->method - b->method;
    return a->seed - b->seed;
}

/* ---- setup and report ------------------------------------------------------------------------ */

static int write_problem(space_ctx_t *sc)
{
    const synth_t *p = &sc->p;
    int nl = p->nlev, fd;
    FILE *f;

    snprintf(sc->problem_json, sizeof sc->problem_json, "/tmp/autopeft-bench-bo-XXXXXX");
    fd = mkstemp(sc->problem_json);
    if (fd < 0 || !(f = fdopen(fd, "w")))
        return err_set(ERR_IO, "cannot create the problem file");
    fprintf(f, "{\"layers\": %d, \"hidden\": %d, \"nlev\": %d, \"noise_sd\": %.17g,\n",
            p->layers, p->hidden, nl, SYNTH_NOISE_SD);
    fprintf(f, "\"gamma\": %.17g, \"umax\": %.17g,\n\"sizes\": [", p->gamma, p->umax);
    for (int l = 0; l < nl; l++)
        fprintf(f, "%s%u", l ? ", " : "", space_level_size(p->space, SPACE_SA, l));
    fprintf(f, "],\n\"v\": [");
    for (int l = 0; l < p->layers; l++)
        fprintf(f, "%s%.17g", l ? ", " : "", p->v[l]);
    fprintf(f, "],\n\"pct\": [");
    for (int a = 0; a < nl; a++)
        for (int b = 0; b < nl; b++)
            for (int c = 0; c < nl; c++)
                for (int k = 0; k <= p->layers; k++) {
                    int lev[3] = {a, b, c};
                    space_config_t cfg = {.layers = p->layers};
                    double pct = 0.0;
                    if (k > 0 && !(a == nl - 1 && b == nl - 1 && c == nl - 1)) {
                        for (int m = 0; m < 3; m++) {
                            cfg.size[m] = space_level_size(p->space, m, lev[m]);
                            for (int l = 0; l < k; l++)
                                space_config_set_layer(&cfg, m, l, true);
                        }
                        space_config_canonicalise(&cfg);
                        pct = synth_cost(p, &cfg);
                    }
                    fprintf(f, "%s%.17g", a + b + c + k ? ", " : "", pct);
                }
    fprintf(f, "]}\n");
    fclose(f);
    return 0;
}

static int setup_space(space_ctx_t *sc, int layers)
{
    double *front = malloc(sizeof(double) * 2 * FRONT_CAP), lref[2];
    int m, rc;
    rng_t r;

    rc = synth_init(&sc->p, layers);
    if (rc)
        goto out;
    /* The cost table against the exact counter on random configurations. */
    rng_seed(&r, 77);
    for (int i = 0; i < 5000; i++) {
        space_config_t c;
        space_counts_t counts;
        space_sample(sc->p.space, &r, &c);
        space_config_count(&c, &sc->p.shape, SPACE_PREFIX_BOTTLENECK, &counts);
        if (counts.percent != synth_cost(&sc->p, &c)) {
            rc = err_set(ERR_INTERNAL, "cost table differs from space_config_count");
            goto out;
        }
    }
    m = synth_front(&sc->p, front, FRONT_CAP);
    if (m < 0) {
        rc = m;
        goto out;
    }
    sc->hv = synth_hv(&sc->p, front, m);
    lref[0] = SYNTH_METRIC_REF;
    lref[1] = log_cost_ref(&sc->p);
    for (int i = 0; i < m; i++)
        front[2 * i + 1] = -log10(-front[2 * i + 1]);
    sc->lhv = pareto_hv(front, m, lref);
    printf("%d layers (%d inputs, %.0f configurations, max %.2f%% parameters): true front of %d "
           "points by dynamic programme, HV* = %.6f (log cost: %.6f)\n",
           layers, space_dims(sc->p.space), space_cardinality(sc->p.space), sc->p.pct_max, m,
           sc->hv, sc->lhv);
    if (layers == 12) {
        double t0 = bench_now(), hv;
        int me = synth_front_enumerate(&sc->p, front, FRONT_CAP);
        if (me < 0) {
            rc = me;
            goto out;
        }
        hv = synth_hv(&sc->p, front, me);
        printf("  check: enumerating all configurations gives a front of %d points, HV = %.6f "
               "(difference %.2g, %.1f s)\n", me, hv, hv - sc->hv, bench_now() - t0);
        if (me != m || fabs(hv - sc->hv) > 1e-9 * sc->hv) {
            rc = err_set(ERR_INTERNAL, "the dynamic programme's front differs from enumeration");
            goto out;
        }
    }
    rc = write_problem(sc);
out:
    free(front);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median and quartiles (linear interpolation) of n values. */
static void quartiles(double *v, int n, double q[3])
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    for (int k = 0; k < 3; k++) {
        double pos = (k + 1) * 0.25 * (n - 1);
        int i = (int)pos;
        q[k] = i + 1 < n ? v[i] + (pos - i) * (v[i + 1] - v[i]) : v[n - 1];
    }
}

static int parse_opts(int argc, char **argv, bo_opts_t *o)
{
    *o = (bo_opts_t){.seeds = 10, .budget = 200, .jobs = 2, .saas_refit = 10,
                     .layers = {true, true}, .transform = -1};
    for (int m = 0; m < M_COUNT; m++)
        o->methods[m] = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quick") == 0) {
            o->seeds = 3;
            o->budget = 100;
        } else if (strcmp(a, "--seeds") == 0 && v) {
            o->seeds = atoi(v), i++;
        } else if (strcmp(a, "--budget") == 0 && v) {
            o->budget = atoi(v), i++;
        } else if (strcmp(a, "--jobs") == 0 && v) {
            o->jobs = atoi(v), i++;
        } else if (strcmp(a, "--saas-refit") == 0 && v) {
            o->saas_refit = atoi(v), i++;
        } else if (strcmp(a, "--cost-log") == 0) {
            o->cost_log = true;
        } else if (strcmp(a, "--transform") == 0 && v) {
            gp_transform_t t;
            if (gp_transform_parse(v, &t) != 0) {
                fprintf(stderr, "bo: %s\n", err_msg());
                return 2;
            }
            o->transform = (int)t;
            i++;
        } else if (strcmp(a, "--acq-random") == 0 && v) {
            o->acq_random = atoi(v), i++;
        } else if (strcmp(a, "--acq-starts") == 0 && v) {
            o->acq_starts = atoi(v), i++;
        } else if (strcmp(a, "--acq-evals") == 0 && v) {
            o->acq_evals = atoi(v), i++;
        } else if (strcmp(a, "--layers") == 0 && v) {
            o->layers[0] = atoi(v) == 12;
            o->layers[1] = atoi(v) == 24;
            i++;
        } else if (strcmp(a, "--methods") == 0 && v) {
            for (int m = 0; m < M_COUNT; m++) {
                const char *hit = strstr(v, method_names[m]);
                size_t len = strlen(method_names[m]);
                /* Whole names only: "map" must not match "map-async4". */
                o->methods[m] = false;
                while (hit && !o->methods[m]) {
                    if ((hit == v || hit[-1] == ',') && (hit[len] == '\0' || hit[len] == ','))
                        o->methods[m] = true;
                    hit = strstr(hit + 1, method_names[m]);
                }
            }
            i++;
        } else {
            fprintf(stderr, "bo: unknown or incomplete option '%s'\n", a);
            return 2;
        }
    }
    if (o->seeds < 1 || o->seeds > MAX_SEEDS || o->budget < 50 || o->budget > 2000 ||
        o->jobs < 1 || o->jobs > 64 || o->saas_refit < 1) {
        fprintf(stderr, "bo: --seeds 1..%d, --budget 50..2000, --jobs 1..64, --saas-refit >= 1\n",
                MAX_SEEDS);
        return 2;
    }
    return 0;
}

BENCH(bo, "sample efficiency: hypervolume gap vs random, Optuna NSGA-II and TPE (synthetic PEFT)")
{
    bo_opts_t o;
    space_ctx_t sc[2];
    job_t *jobs;
    int nj = 0, next = 0, running = 0, finished = 0, rc;
    double t_start = bench_now(), worst_ratio = 0.0, worst_async = 0.0;
    strategy_opts_t def;

    if ((rc = parse_opts(argc, argv, &o)) != 0)
        return rc;
    openblas_set_num_threads(1);
    strategy_opts_default(&def, 768, 12);
    printf("\nSample efficiency on the synthetic PEFT problem (tests/bench/synth.h): %d seeds, "
           "%d trials,\n%d runs at a time. Our strategy: default options (n_init %d, copula, "
           "NEHVI, acquisition budget\n%d random + Pareto neighbours, %d local searches); MAP "
           "refits every observation; SAAS\n(AutoPEFT's NUTS settings) refits every %d "
           "observations and reuses its draws in between\n(time budget of this benchmark; see "
           "docs/search.md).\n\n",
           o.seeds, o.budget, o.jobs, def.n_init, def.acq.random, def.acq.starts, o.saas_refit);
    for (int li = 0; li < 2; li++)
        if (o.layers[li] && setup_space(&sc[li], li ? 24 : 12) != 0) {
            fprintf(stderr, "bo: %s\n", err_msg());
            return 1;
        }
    jobs = calloc((size_t)2 * M_COUNT * o.seeds, sizeof *jobs);
    for (int li = 0; li < 2; li++)
        for (int m = 0; m < M_COUNT; m++)
            for (int s = 0; s < o.seeds && o.layers[li] && o.methods[m]; s++)
                jobs[nj++] = (job_t){.li = li, .method = m, .seed = s + 1};
    qsort(jobs, (size_t)nj, sizeof *jobs, cmp_jobs);
    while (next < nj || running > 0) {
        while (running < o.jobs && next < nj) {
            if (start_job(&sc[jobs[next].li], &o, &jobs[next]) != 0) {
                fprintf(stderr, "bo: %s\n", err_msg());
                return 1;
            }
            next++;
            running++;
        }
        {
            int status;
            pid_t pid = wait(&status);
            if (pid < 0)
                break;
            for (int i = 0; i < next; i++)
                if (jobs[i].pid == pid) {
                    finish_job(&jobs[i]);
                    running--;
                    finished++;
                    fprintf(stderr, "bo: %d/%d runs done (%s, %d layers, seed %d: %.0f s)\n",
                            finished, nj, method_names[jobs[i].method], jobs[i].li ? 24 : 12,
                            jobs[i].seed, jobs[i].wall);
                }
        }
    }
    for (int li = 0; li < 2; li++) {
        double med100[M_COUNT] = {0};
        if (!o.layers[li])
            continue;
        for (int scale = 0; scale < 2; scale++) {
            printf("\n%d layers: hypervolume gap to the true front, %s cost scale, %% of HV*: "
                   "median [quartiles] over seeds\n", li ? 24 : 12, scale ? "log10" : "linear");
            printf("%-13s", "method");
            for (int k = 0; k < NCHECK; k++)
                if (checkpoints[k] <= o.budget)
                    printf("   gap at %-3d %13s", checkpoints[k], "");
            printf(" %8s %8s\n", "wall s", "cpu s");
            for (int m = 0; m < M_COUNT; m++) {
                double v[MAX_SEEDS], q[3], wall = 0, cpu = 0;
                int n;
                if (!o.methods[m])
                    continue;
                printf("%-13s", method_names[m]);
                for (int k = 0; k < NCHECK; k++) {
                    if (checkpoints[k] > o.budget)
                        continue;
                    n = 0;
                    for (int i = 0; i < nj; i++)
                        if (jobs[i].li == li && jobs[i].method == m && jobs[i].ok)
                            v[n++] = 100.0 * (scale ? jobs[i].lgap[k] : jobs[i].gap[k]);
                    if (n == 0) {
                        printf("   %-23s", "failed");
                        continue;
                    }
                    quartiles(v, n, q);
                    printf("   %6.2f [%6.2f-%6.2f]", q[1], q[0], q[2]);
                    if (scale == 0 && checkpoints[k] == 100)
                        med100[m] = q[1];
                }
                n = 0;
                for (int i = 0; i < nj; i++)
                    if (jobs[i].li == li && jobs[i].method == m && jobs[i].ok) {
                        wall += jobs[i].wall;
                        cpu += jobs[i].cpu;
                        n++;
                    }
                printf(" %8.1f %8.1f\n", n ? wall / n : 0.0, n ? cpu / n : 0.0);
            }
        }
        if (o.budget >= 100) {
            int ours = def.model == STRATEGY_MODEL_SAAS ? M_SAAS : M_MAP;
            int ours_async = ours == M_SAAS ? M_SAAS_ASYNC : M_MAP_ASYNC;
            double best_other = INFINITY;
            for (int m = M_RANDOM; m <= M_TPE; m++)
                if (o.methods[m])
                    best_other = fmin(best_other, med100[m]);
            if (o.methods[ours] && isfinite(best_other)) {
                double ratio = med100[ours] / best_other;
                printf("%d layers: %s gap at 100 / best other's = %.3f", li ? 24 : 12,
                       method_names[ours], ratio);
                worst_ratio = fmax(worst_ratio, ratio);
                if (o.methods[ours_async]) {
                    double pen = med100[ours_async] / med100[ours];
                    printf("; async penalty (%s / %s) = %.3f", method_names[ours_async],
                           method_names[ours], pen);
                    worst_async = fmax(worst_async, pen);
                }
                printf("\n");
            }
        }
    }
    for (int li = 0; li < 2; li++)
        if (o.layers[li]) {
            unlink(sc[li].problem_json);
            synth_free(&sc[li].p);
        }
    printf("\ntotal %.1f s. The line below takes the worse of the two spaces; our method is the "
           "strategy's\ndefault model (%s). targets: gap_ratio_100 <= 0.5, async_penalty <= 1.25\n",
           bench_now() - t_start, strategy_model_name(def.model));
    printf("BENCH bo gap_ratio_100=%.3f async_penalty=%.3f\n", worst_ratio, worst_async);
    free(jobs);
    return 0;
}
