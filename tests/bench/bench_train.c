/* `autopeft-bench train`: one training step of the engine (forward, backward, clipping, AdamW,
 * dropout on) against PyTorch 1.13 doing the same step (tests/bench/bench_train.py), in the
 * same run, alternating the two, on BERT-mini and BERT-base shapes with AutoPEFT-like
 * configurations; and the machine's sgemm rate, measured in the C process right before each
 * step (the machine is often shared, so a rate measured apart would not match the step's
 * conditions), against which the step's achieved GFLOP/s are put.
 *
 *   autopeft-bench train [--rounds R] [--steps S] [--threads T] [--case NAME] [--no-torch]
 *
 * Each side runs in its own process (fork; python3 for PyTorch), so peak RSS is per case. Both
 * use the same OpenBLAS core: PyTorch inherits this process's environment after the core fix
 * of common/blas.c. Both get WARMUP untimed steps first. PyTorch has two thread pools, its own
 * (OpenMP, oneDNN) and OpenBLAS's, which fight over the cores when both are T wide: it runs
 * with T x 1, 1 x T and T x T threads in every round, and the setting with the lowest median
 * is its figure (all three are printed). The last line is
 *   BENCH train c_over_torch=<min over cases of median torch ms / median C ms>
 *   gemm_efficiency=<median over steps of C GFLOP/s over sgemm GFLOP/s, lowest of the base cases>
 * then c_rss_le_torch (1 when every case's C peak RSS is at most PyTorch's), the sgemm rate,
 * ratio_ceiling (min over cases of median torch ms over the C step's products alone at the
 * sgemm rate: what no engine doing those products through OpenBLAS can beat) and
 * c_over_torch_default (the ratio against PyTorch's default T x T threads).
 */
#include <cblas.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/blas.h"
#include "common/rng.h"
#include "tests/bench/bench.h"
#include "worker/engine/engine.h"
#include "worker/engine/model.h"
#include "worker/engine/optim.h"
#include "worker/engine/peft.h"

#define MAX_STEPS 64
#define LENGTH 128
#define WARMUP 2         /* untimed steps before the timed ones, both sides */
#define NSETTINGS 3      /* PyTorch thread settings tried */

typedef struct {
    const char *name, *shape, *conf;
    int hidden, layers, heads, ff, batch;
} bcase_t;

static const bcase_t cases[] = {
    {"mini/sa48", "mini", "sa", 256, 6, 4, 1024, 32},
    {"mini/sa+pa+pt-top", "mini", "mix", 256, 6, 4, 1024, 32},
    {"base/sa48", "base", "sa", 768, 12, 12, 3072, 8},
    {"base/sa+pa+pt-top", "base", "mix", 768, 12, 12, 3072, 8},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

typedef struct {
    int n;
    double ms[MAX_STEPS];
    double flops;      /* per step */
    double sgemm[MAX_STEPS];   /* GFLOP/s measured in the same process just before each step */
    long rss_kb;
    char core[64];
    int ok;
} result_t;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
    double s[4 * MAX_STEPS];

    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

static double sgemm_rate(int threads, double secs, int reps);

/* ---- the C side (in a child process) ---------------------------------------------------------- */

static void config_of(const bcase_t *c, space_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->layers = c->layers;
    cfg->size[SPACE_SA] = 48;
    if (strcmp(c->conf, "mix") == 0) {
        cfg->size[SPACE_PA] = 96;
        cfg->size[SPACE_PT] = 12;
    }
    for (int m = 0; m < SPACE_NMODULES; m++)
        for (int l = strcmp(c->conf, "mix") == 0 ? c->layers / 2 : 0; l < c->layers; l++)
            cfg->mask[m][0] |= 1ull << l;
}

static int c_child(const bcase_t *c, int threads, int steps, int fd)
{
    shape_t s = {.hidden = c->hidden, .layers = c->layers, .heads = c->heads,
                 .intermediate = c->ff, .vocab = 30522, .positions = 512, .type_vocab = 2,
                 .labels = 2};
    model_opts_t mo;
    peft_opts_t po;
    engine_opts_t eo;
    optim_opts_t oo;
    space_config_t cfg;
    model_t *m;
    peft_t *p;
    engine_t *e;
    optim_t *o;
    rng_t r;
    result_t res = {0};
    int32_t *ids = malloc((size_t)c->batch * LENGTH * sizeof *ids), len[64], labels[64];
    engine_batch_t b;

    model_opts_default(&mo, &s);
    m = model_new(&mo);
    if (!m || !ids)
        return 1;
    model_init_random(m, 1);
    config_of(c, &cfg);
    peft_opts_default(&po);
    po.seed = 2;
    p = peft_new(m, &cfg, &po);
    engine_opts_default(&eo);
    eo.threads = threads;
    eo.max_batch = c->batch;
    eo.max_len = LENGTH;
    eo.seed = 3;
    e = p ? engine_new(m, p, &eo) : NULL;
    optim_opts_default(&oo);
    oo.pool = e ? engine_pool(e) : NULL;
    o = p ? optim_new(p, &oo) : NULL;
    if (!e || !o)
        return 1;
    rng_seed(&r, 4);
    for (int i = 0; i < c->batch * LENGTH; i++)
        ids[i] = 1 + (int32_t)rng_below(&r, 30521);
    for (int i = 0; i < c->batch; i++) {
        len[i] = LENGTH;
        labels[i] = (int32_t)rng_below(&r, 2);
    }
    b = (engine_batch_t){.n = c->batch, .len = len, .ids = ids, .classes = labels};
    for (int k = 0; k < WARMUP + steps; k++) {
        double t, loss;

        /* the machine's sgemm rate right before each step, for the step's efficiency */
        if (k >= WARMUP)
            res.sgemm[res.n] = sgemm_rate(threads, 0.3, 3);
        t = bench_now();

        if (engine_train(e, &b, &loss, NULL) != 0 || optim_step(o, NULL, NULL) != 0)
            return 1;
        if (k >= WARMUP)
            res.ms[res.n++] = (bench_now() - t) * 1e3;
    }
    res.flops = engine_step_flops(e);
    snprintf(res.core, sizeof res.core, "%s", blas_core());
    res.ok = 1;
    if (write(fd, &res, sizeof res) != (ssize_t)sizeof res)
        return 1;
    optim_free(&o);
    engine_free(&e);
    peft_free(&p);
    model_free(&m);
    free(ids);
    return 0;
}

static int run_c(const bcase_t *c, int threads, int steps, result_t *out)
{
    int fds[2], status;
    struct rusage ru;
    pid_t pid;

    if (pipe(fds) != 0)
        return -1;
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        close(fds[0]);
        _exit(c_child(c, threads, steps, fds[1]));
    }
    close(fds[1]);
    memset(out, 0, sizeof *out);
    if (pid < 0 || read(fds[0], out, sizeof *out) != (ssize_t)sizeof *out)
        out->ok = 0;
    close(fds[0]);
    if (pid > 0 && wait4(pid, &status, 0, &ru) == pid)
        out->rss_kb = ru.ru_maxrss;
    return out->ok ? 0 : -1;
}

/* ---- the PyTorch side --------------------------------------------------------------------------- */

/* PyTorch's step with `threads` threads of its own and `blas_threads` OpenBLAS threads. */
static int run_torch(const bcase_t *c, int threads, int blas_threads, int steps, result_t *out)
{
    const char *py = getenv("PYTHON") ? getenv("PYTHON") : "/usr/bin/python3";
    const char *src = getenv("AUTOPEFT_SRC_DIR") ? getenv("AUTOPEFT_SRC_DIR") : ".";
    char script[1024], th[16], st[16], wu[16], bt[16], buf[65536];
    int fds[2], status;
    size_t got = 0;
    ssize_t k;
    struct rusage ru;
    json_t *j, *ms, *v;
    json_error_t jerr;
    pid_t pid;
    size_t i;

    memset(out, 0, sizeof *out);
    snprintf(script, sizeof script, "%s/tests/bench/bench_train.py", src);
    snprintf(th, sizeof th, "%d", threads);
    snprintf(st, sizeof st, "%d", steps);
    snprintf(wu, sizeof wu, "%d", WARMUP);
    snprintf(bt, sizeof bt, "%d", blas_threads);
    if (pipe(fds) != 0)
        return -1;
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        setenv("OPENBLAS_NUM_THREADS", bt, 1);
        execl(py, py, script, c->shape, c->conf, th, st, wu, (char *)NULL);
        fprintf(stderr, "bench train: cannot run %s: %s\n", py, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    while (pid > 0 && got < sizeof buf - 1 && (k = read(fds[0], buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)k;
    buf[got] = '\0';
    close(fds[0]);
    if (pid < 0 || wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
        return -1;
    out->rss_kb = ru.ru_maxrss;
    j = json_loads(buf, JSON_DISABLE_EOF_CHECK, &jerr);
    ms = json_object_get(j, "ms");
    json_array_foreach(ms, i, v)
    {
        if (out->n < MAX_STEPS)
            out->ms[out->n++] = json_number_value(v);
    }
    if (out->n != steps) {
        fprintf(stderr, "bench train: PyTorch reported %d steps, not %d\n", out->n, steps);
        out->n = 0;
    }
    snprintf(out->core, sizeof out->core, "%s", json_string_value(json_object_get(j, "core")));
    json_decref(j);
    out->ok = out->n > 0;
    return out->ok ? 0 : -1;
}

/* ---- sgemm reference -------------------------------------------------------------------------- */

/* GFLOP/s of C[m,n] = A[m,k] B[n,k]^T on `threads` OpenBLAS threads over about `secs` seconds
 * (best of `reps` slices); the matrices are allocated once per process. */
static double sgemm_rate(int threads, double secs, int reps)
{
    enum { M = 1024, N = 3072, K = 768 };
    static float *a, *b, *c;
    double best = 0.0;

    if (!a) {
        a = malloc((size_t)M * K * 4);
        b = malloc((size_t)N * K * 4);
        c = malloc((size_t)M * N * 4);
        if (!a || !b || !c)
            return 0.0;
        for (size_t i = 0; i < (size_t)M * K; i++)
            a[i] = (float)(i % 7) * 0.1f;
        for (size_t i = 0; i < (size_t)N * K; i++)
            b[i] = (float)(i % 5) * 0.1f;
    }
    blas_set_threads(threads);
    for (int rep = 0; rep < reps; rep++) {
        double t = bench_now();
        int it = 0;

        do {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a, K, b, K, 0.0f, c, N);
            it++;
        } while (bench_now() - t < secs / reps);
        best = fmax(best, 2.0 * M * N * K * it / (bench_now() - t) / 1e9);
    }
    blas_set_threads(1);
    return best;
}

/* ---- the benchmark ---------------------------------------------------------------------------- */

static void spread(const double *v, int n, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = 0;
    for (int i = 0; i < n; i++) {
        *lo = fmin(*lo, v[i]);
        *hi = fmax(*hi, v[i]);
    }
}

BENCH(train, "engine training step vs PyTorch 1.13 (BERT mini/base with PEFT modules)")
{
    int rounds = 2, steps = 3, threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    bool torch = true;
    const char *only = NULL;
    double sgemm, min_ratio = INFINITY, min_eff = INFINITY, sgemm_all[NCASES + 1];
    double min_ceiling = INFINITY, min_default = INFINITY;
    int nsg = 0;
    double load[3] = {0};
    bool rss_ok = true;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc)
            steps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--case") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (strcmp(argv[i], "--no-torch") == 0)
            torch = false;
        else {
            fprintf(stderr, "usage: autopeft-bench train [--rounds R] [--steps S] [--threads T] "
                            "[--case NAME] [--no-torch]\n");
            return 2;
        }
    }
    if (rounds < 1 || rounds > 8 || steps < 1 || steps > MAX_STEPS / 4 || threads < 1 || threads > 256) {
        fprintf(stderr, "bench train: rounds 1..8, steps 1..%d, threads 1..256\n", MAX_STEPS / 4);
        return 2;
    }
    getloadavg(load, 3);
    printf("threads %d; load average at start %.2f; %d rounds x %d timed steps per side after %d "
           "untimed, C and PyTorch alternating\n", threads, load[0], rounds, steps, WARMUP);
    printf("ms/step: median [min-max] over all steps; eff: C GFLOP/s of a step over the sgemm "
           "GFLOP/s (1024x3072x768, OpenBLAS, %d threads) measured in the C process right before "
           "that step, median over steps\n\n", threads);
    printf("%-19s %21s %21s %9s %9s %6s %8s %5s %8s %8s\n", "case", "C ms/step", "torch ms/step",
           "C tok/s", "torch t/s", "ratio", "C GF/s", "eff", "C RSS", "torchRSS");
    for (int ci = 0; ci < NCASES; ci++) {
        const bcase_t *c = &cases[ci];
        /* PyTorch's thread settings: its own threads x OpenBLAS threads */
        const int tset[NSETTINGS][2] = {{threads, 1}, {1, threads}, {threads, threads}};
        int nset = threads > 1 ? NSETTINGS : 1, best = 0;
        double cms[8 * MAX_STEPS], tms[NSETTINGS][8 * MAX_STEPS], effs[8 * MAX_STEPS];
        double sgs[8 * MAX_STEPS], tmeds[NSETTINGS];
        int nc = 0, nt[NSETTINGS] = {0};
        long crss = 0, trss[NSETTINGS] = {0};
        double flops = 0, cmed, tmed = NAN, clo, chi, tlo = NAN, thi = NAN, ratio = NAN, gf, eff;
        double bound;
        char core_c[64] = "", core_t[64] = "";

        if (only && strcmp(only, c->name) != 0)
            continue;
        for (int r = 0; r < rounds; r++) {
            result_t res;

            if (run_c(c, threads, steps, &res) != 0) {
                fprintf(stderr, "bench train: %s: the C run failed\n", c->name);
                return 1;
            }
            for (int k = 0; k < res.n; k++) {
                sgs[nc + k] = res.sgemm[k];
                effs[nc + k] = res.flops / (res.ms[k] * 1e-3) / 1e9 / res.sgemm[k];
            }
            memcpy(cms + nc, res.ms, (size_t)res.n * sizeof(double));
            nc += res.n;
            crss = res.rss_kb > crss ? res.rss_kb : crss;
            flops = res.flops;
            snprintf(core_c, sizeof core_c, "%s", res.core);
            for (int k = 0; torch && k < nset; k++) {
                if (run_torch(c, tset[k][0], tset[k][1], steps, &res) != 0) {
                    fprintf(stderr, "bench train: %s: the PyTorch run failed\n", c->name);
                    return 1;
                }
                memcpy(tms[k] + nt[k], res.ms, (size_t)res.n * sizeof(double));
                nt[k] += res.n;
                trss[k] = res.rss_kb > trss[k] ? res.rss_kb : trss[k];
                snprintf(core_t, sizeof core_t, "%s", res.core);
            }
        }
        cmed = median(cms, nc);
        spread(cms, nc, &clo, &chi);
        if (torch) {
            for (int k = 0; k < nset; k++) {
                tmeds[k] = median(tms[k], nt[k]);
                if (tmeds[k] < tmeds[best])
                    best = k;
            }
            tmed = tmeds[best];
            spread(tms[best], nt[best], &tlo, &thi);
            ratio = tmed / cmed;
            min_ratio = fmin(min_ratio, ratio);
            /* PyTorch out of the box: both pools as wide as the cores (the last setting) */
            min_default = fmin(min_default, tmeds[nset - 1] / cmed);
            rss_ok = rss_ok && crss <= trss[best];
        }
        gf = flops / (cmed * 1e-3) / 1e9;
        eff = median(effs, nc);
        sgemm_all[nsg++] = median(sgs, nc);
        /* The C step's products alone at the measured sgemm rate: no step of these products
         * can be faster, so PyTorch's time over it bounds the ratio any engine could reach. */
        bound = flops / (sgemm_all[nsg - 1] * 1e9) * 1e3;
        if (torch)
            min_ceiling = fmin(min_ceiling, tmed / bound);
        if (strcmp(c->shape, "base") == 0)
            min_eff = fmin(min_eff, eff);
        printf("%-19s %7.0f [%5.0f-%5.0f] %7.0f [%5.0f-%5.0f] %9.0f %9.0f %6.2f %8.1f %5.2f %7.0fM %7.0fM\n",
               c->name, cmed, clo, chi, tmed, tlo, thi, c->batch * LENGTH / (cmed * 1e-3),
               c->batch * LENGTH / (tmed * 1e-3), ratio, gf, eff, crss / 1024.0,
               torch ? trss[best] / 1024.0 : NAN);
        if (torch && nset > 1)
            printf("  PyTorch threads (own x OpenBLAS): %dx%d %.0f ms, %dx%d %.0f ms, %dx%d %.0f ms; "
                   "the fastest, %dx%d, is the figure above\n", tset[0][0], tset[0][1], tmeds[0],
                   tset[1][0], tset[1][1], tmeds[1], tset[2][0], tset[2][1], tmeds[2],
                   tset[best][0], tset[best][1]);
        if (torch)
            printf("  the C step's products alone at the sgemm rate: %.0f ms, so its ratio cannot "
                   "exceed %.2f (%.2f against PyTorch's %dx%d default)\n", bound, tmed / bound,
                   tmeds[nset - 1] / bound, tset[nset - 1][0], tset[nset - 1][1]);
        if (torch && strcmp(core_c, core_t) != 0)
            printf("  warning: OpenBLAS cores differ: C %s, PyTorch %s\n", core_c, core_t);
        fflush(stdout);
    }
    sgemm = nsg ? median(sgemm_all, nsg) : NAN;
    getloadavg(load, 3);
    printf("\nOpenBLAS core: %s; sgemm %.1f GFLOP/s (median of the cases' medians); load average at end %.2f.\n"
           "C GFLOP/s counts the matrix products the engine performs (it skips work PyTorch does, "
           "e.g. the top layer's non-[CLS] rows).\n", blas_core(), sgemm, load[0]);
    printf("ratio_ceiling: the smallest over the cases of PyTorch's ms over the C step's products "
           "alone at the sgemm rate; c_over_torch_default: the ratio against PyTorch with its "
           "default threads (%dx%d).\n", threads, threads);
    printf("BENCH train c_over_torch=%.2f gemm_efficiency=%.2f c_rss_le_torch=%d sgemm_gflops=%.1f "
           "ratio_ceiling=%.2f c_over_torch_default=%.2f\n",
           torch ? min_ratio : NAN, isfinite(min_eff) ? min_eff : NAN, torch ? (int)rss_ok : -1,
           sgemm, torch ? min_ceiling : NAN, torch ? min_default : NAN);
    return 0;
}
