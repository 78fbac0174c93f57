/* `autopeft-bench suggest`: time to produce one suggestion (hyperparameter fit + acquisition +
 * its optimisation) with n observations and 4 pending trials, for MAP and SAAS, on the
 * synthetic problem's 15- and 27-input spaces; and scikit-learn's GP fit at the same n on the
 * same data, against our MAP fit with the same number of optimiser starts.
 *
 *   autopeft-bench suggest [--quick]
 *
 * One core: OpenBLAS is limited to one thread here and for scikit-learn. Repetitions give the
 * spread (min-max) next to the median, since the machine may be shared. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "coordinator/search/gp_map.h"
#include "coordinator/search/strategy.h"
#include "tests/bench/bench.h"
#include "tests/bench/synth.h"

#define NPEND 4

typedef struct {
    double med, lo, hi;
} spread_t;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static spread_t spread(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return (spread_t){n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]), v[0], v[n - 1]};
}

/* n random observed configurations with noisy synthetic metrics, then NPEND pending ones. */
static void make_data(const synth_t *p, int n, uint64_t seed, space_config_t *cfg, double *y)
{
    rng_t r;

    rng_seed(&r, seed);
    for (int i = 0; i < n + NPEND; i++) {
        space_sample(p->space, &r, &cfg[i]);
        if (i < n)
            y[i] = synth_metric(p, &cfg[i]) + SYNTH_NOISE_SD * rng_normal(&r);
    }
}

/* A synthetic history: n observed configurations and their metrics, then NPEND pending. */
typedef struct {
    const space_config_t *cfg;
    const double *y;
    int n;
} history_t;

/* One suggestion's seconds: in all, fitting the hyperparameters, optimising the acquisition. */
typedef struct {
    double total, fit, acq;
} timing_t;

static int time_suggest(const synth_t *p, const history_t *h, strategy_model_t model, int rep,
                        timing_t *t, strategy_info_t *info)
{
    const space_config_t *cfg = h->cfg;
    int n = h->n;
    strategy_opts_t o;
    strategy_t *s;
    space_config_t out;
    double t0;
    int rc;

    strategy_opts_default(&o, p->hidden, p->layers);
    o.shape = p->shape;
    o.model = model;
    o.seed = (uint64_t)rep + 1;
    s = strategy_new(&o);
    if (!s)
        return err_code();
    for (int i = 0; i < n; i++)
        if ((rc = strategy_observe(s, &cfg[i], h->y[i])) != 0)
            goto out;
    t0 = bench_now();
    rc = strategy_suggest(s, cfg + n, NPEND, &out, info);
    *t = (timing_t){.total = bench_now() - t0, .fit = info->fit_s, .acq = info->acq_s};
out:
    strategy_free(&s);
    return rc;
}

/* Our MAP fit with scikit-learn's number of L-BFGS runs (1 + 5 restarts), standardised
 * targets as its normalize_y. */
static double time_map_fit(const synth_t *p, int n, const space_config_t *cfg, const double *y)
{
    int d = space_dims(p->space);
    double *x = malloc(sizeof(double) * (size_t)n * d), theta[GP_MAX_DIMS + 3], t0, t;
    gp_t *gp = gp_new(d, GP_TRANSFORM_STANDARDISE);
    gp_map_opts_t mo;
    rng_t r;

    for (int i = 0; i < n; i++)
        space_encode(p->space, &cfg[i], x + (size_t)i * d);
    gp_set_data(gp, x, y, n);
    gp_map_opts_default(&mo, d);
    mo.restarts = 6;
    rng_seed(&r, 1);
    t0 = bench_now();
    gp_map_fit(gp, &mo, NULL, &r, theta, NULL);
    t = bench_now() - t0;
    gp_free(&gp);
    free(x);
    return t;
}

/* scikit-learn's fit times (reps values) on the same data, through tests/bench/gp_sklearn_fit.py. */
static int sklearn_fit(const synth_t *p, int n, const space_config_t *cfg, const double *y,
                       int reps, double *times)
{
    char path[] = "/tmp/autopeft-bench-gp-XXXXXX", cmd[512], line[256];
    int d = space_dims(p->space), fd = mkstemp(path), got = 0;
    FILE *f;
    double x[64];

    if (fd < 0)
        return err_set(ERR_IO, "mkstemp failed");
    f = fdopen(fd, "w");
    fprintf(f, "%d %d\n", n, d);
    for (int i = 0; i < n; i++) {
        space_encode(p->space, &cfg[i], x);
        for (int k = 0; k < d; k++)
            fprintf(f, "%g ", x[k]);
        fprintf(f, "%.17g\n", y[i]);
    }
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 %s "
             "tests/bench/gp_sklearn_fit.py %s %d",
             getenv("PYTHON") ? getenv("PYTHON") : "/usr/bin/python3", path, reps);
    f = popen(cmd, "r");
    while (f && fgets(line, sizeof line, f))
        if (got < reps && sscanf(line, "fit_s %lf", &times[got]) == 1)
            got++;
    if (f)
        pclose(f);
    unlink(path);
    return got == reps ? 0 : err_set(ERR_IO, "scikit-learn driver gave %d of %d times", got, reps);
}

BENCH(suggest, "suggestion latency (MAP, SAAS) vs n and dims; scikit-learn GP fit times")
{
    static const int ns[] = {50, 100, 200, 500};
    bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    int nn = quick ? 3 : 4;
    double map200 = 0, saas200 = 0, speedup200 = 0;

    openblas_set_num_threads(1);
    printf("\nSuggestion latency: one strategy_suggest (fit + acquisition + optimisation) with n\n"
           "observations and %d pending, default options (QMC draws: 128 for MAP, 32 per\n"
           "kept draw for SAAS; 500 random + Pareto-neighbour candidates, 10 local searches;\n"
           "AutoPEFT's NUTS "
           "settings for SAAS: 128 warmup, 64 samples, thinning 4), one core, fresh strategy\n"
           "each time (no cached fit). Seconds: median [min-max] over repetitions.\n\n",
           NPEND);
    printf("%-5s %-5s %-5s %4s %24s %9s %9s %6s\n", "dims", "n", "model", "reps", "total s",
           "fit s", "acq s", "evals");
    for (int li = 0; li < 2; li++) {
        synth_t p;
        if (synth_init(&p, li ? 24 : 12) != 0) {
            fprintf(stderr, "suggest: %s\n", err_msg());
            return 1;
        }
        for (int ni = 0; ni < nn; ni++) {
            int n = ns[ni];
            space_config_t *cfg = malloc(sizeof *cfg * (n + NPEND));
            double *y = malloc(sizeof *y * n);
            make_data(&p, n, 1000 + n, cfg, y);
            for (int model = 0; model < 2; model++) {
                int reps = model == 0 ? 3 : (n <= 100 ? 2 : 1);
                double tot[3], fit[3], acq[3];
                history_t h = {cfg, y, n};
                strategy_info_t info;
                spread_t st;
                if (quick)
                    reps = 1;
                for (int r = 0; r < reps; r++) {
                    timing_t t = {0};
                    if (time_suggest(&p, &h, model, r, &t, &info)) {
                        fprintf(stderr, "suggest: %s\n", err_msg());
                        return 1;
                    }
                    tot[r] = t.total;
                    fit[r] = t.fit;
                    acq[r] = t.acq;
                }
                st = spread(tot, reps);
                printf("%-5d %-5d %-5s %4d %8.3f [%6.3f-%6.3f] %9.3f %9.3f %6d\n",
                       space_dims(p.space), n, strategy_model_name(model), reps, st.med, st.lo,
                       st.hi, spread(fit, reps).med, spread(acq, reps).med, info.evals);
                fflush(stdout);
                if (li == 1 && n == 200)
                    *(model == 0 ? &map200 : &saas200) = st.med;
            }
            free(cfg);
            free(y);
        }
        synth_free(&p);
    }

    printf("\nGP hyperparameter fit: scikit-learn GaussianProcessRegressor (ConstantKernel *\n"
           "Matern(nu=2.5, ARD) + WhiteKernel, normalize_y, n_restarts_optimizer=5: six L-BFGS-B\n"
           "runs) against our MAP fit with six L-BFGS runs (standardised targets), same data,\n"
           "one core each. Seconds: median [min-max].\n\n");
    printf("%-5s %-5s %24s %24s %9s\n", "dims", "n", "scikit-learn s", "ours (MAP, 6 runs) s",
           "speedup");
    for (int li = 0; li < 2; li++) {
        synth_t p;
        synth_init(&p, li ? 24 : 12);
        for (int ni = 0; ni < nn; ni++) {
            int n = ns[ni], reps = quick ? 1 : (n >= 500 ? 1 : 3);
            space_config_t *cfg = malloc(sizeof *cfg * (n + NPEND));
            double *y = malloc(sizeof *y * n), sk[3], ours[3];
            spread_t a, b;
            make_data(&p, n, 1000 + n, cfg, y);
            if (sklearn_fit(&p, n, cfg, y, reps, sk) != 0) {
                fprintf(stderr, "suggest: %s\n", err_msg());
                return 1;
            }
            for (int r = 0; r < reps; r++)
                ours[r] = time_map_fit(&p, n, cfg, y);
            a = spread(sk, reps);
            b = spread(ours, reps);
            printf("%-5d %-5d %8.3f [%6.3f-%6.3f] %8.3f [%6.3f-%6.3f] %8.1fx\n",
                   space_dims(p.space), n, a.med, a.lo, a.hi, b.med, b.lo, b.hi, a.med / b.med);
            fflush(stdout);
            if (li == 1 && n == 200)
                speedup200 = a.med / b.med;
            free(cfg);
            free(y);
        }
        synth_free(&p);
    }
    printf("\ntargets: map_s_200 <= 1, saas_s_200 <= 20, fit_speedup_vs_sklearn_200 >= 10 "
           "(n = 200, 27 dims)\n");
    printf("BENCH suggest map_s_200=%.3f saas_s_200=%.3f fit_speedup_vs_sklearn_200=%.1f\n",
           map200, saas200, speedup200);
    return 0;
}
