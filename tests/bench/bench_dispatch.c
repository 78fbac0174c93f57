/* bench-dispatch: the runtime's throughput and the workers' utilisation.
 *
 * The coordinator is the real program (build/bin/autopeft-coordinator, a child process) with its
 * real store (WAL, synchronous=FULL, group commit) in a temporary folder. The workers are real
 * worker daemons (worker/daemon/daemon.c with the synthetic trainer) talking TCP to it, run as threads
 * of this process sharing one ZeroMQ context: 256 worker processes on a 2-core machine would
 * measure the kernel's scheduler and 256 ZeroMQ I/O threads, not the coordinator; as threads
 * the protocol path is the same (one DEALER each, real frames over loopback TCP) and the
 * coordinator is the only thing measured.
 *
 *   1. 64 and then 256 workers, zero-length trials, random suggestions: trials dispatched and
 *      committed per second = trials / (last result committed - first dispatch committed),
 *      both read back from the store.
 *   2. 8 workers (by default), 1-second trials, Bayesian-optimisation suggestions (the study's
 *      MAP GP when this build has the search module; random otherwise, and said so):
 *      utilisation = each worker's busy time over its span from its first trial's start to its
 *      last trial's end, averaged (dispatch gaps; start-up and the end of the budget excluded),
 *      and the plain total busy / (workers x wall) beside it.
 * AUTOPEFT_BENCH_LOG=info keeps the coordinator's log (its last line counts turns and commits),
 * AUTOPEFT_BENCH_KEEP=1 keeps each phase's folder under /tmp.
 * Last line: BENCH dispatch trials_per_s_256=<x> utilisation_1s=<fraction>. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "common/err.h"
#include "common/log.h"
#include "common/parse.h"
#include "tests/bench/bench.h"
#include "worker/daemon/daemon.h"
#include "worker/trial/trainer.h"

typedef struct {
    int workers, budget, duration_ms, lookahead;
    const char *surrogate;
    /* results */
    double rate, wall, util_span, util_total, busy, coord_cpu, self_cpu;
    long long done;
    bool random_fallback;  /* the build has no BO: the coordinator suggested at random */
} phase_t;

typedef struct {
    daemon_t *d;
    int rc;
} wthread_t;

static void *worker_main_thread(void *arg)
{
    wthread_t *w = arg;

    w->rc = daemon_run(w->d);
    return NULL;
}

static double sql_double(sqlite3 *db, const char *q)
{
    sqlite3_stmt *st;
    double v = -1;

    if (sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int run_phase(const char *bindir, phase_t *p)
{
    char dir[] = "/tmp/autopeft-bench-dispatch-XXXXXX", conf[PATH_MAX], ep[PATH_MAX + 16];
    char coord[PATH_MAX], study[PATH_MAX], log[PATH_MAX], db_path[PATH_MAX + 16];
    wthread_t *ws = calloc((size_t)p->workers, sizeof *ws);
    pthread_t *th = calloc((size_t)p->workers, sizeof *th);
    trainer_t *synth = trainer_synthetic_new();
    void *ctx = zmq_ctx_new();
    daemon_opts_t o;
    sqlite3 *db = NULL;
    double first_start = 1e300, last_end = 0;
    int status = 0, rc = 0;
    pid_t pid;
    FILE *f;

    struct rusage ru0, ru1;

    getrusage(RUSAGE_SELF, &ru0);
    if (!ws || !th || !synth || !ctx || !mkdtemp(dir))
        return err_set(ERR_NOMEM, "setting up the phase");
    zmq_ctx_set(ctx, ZMQ_IO_THREADS, 2);
    zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, p->workers + 64);
    snprintf(conf, sizeof conf, "%s/study.conf", dir);
    snprintf(study, sizeof study, "%s/study", dir);
    snprintf(ep, sizeof ep, "%s/endpoint", study);
    snprintf(log, sizeof log, "%s/coordinator.log", dir);
    snprintf(coord, sizeof coord, "%s/autopeft-coordinator", bindir);
    f = fopen(conf, "w");
    if (!f)
        return err_set(ERR_IO, "%s: %s", conf, strerror(errno));
    fprintf(f, "[study]\nname = bench\nmode = synthetic\nbudget = %d\nn_init = %d\n"
               "[synthetic]\nduration_ms = %d\nnoise = 0.005\n"
               "[search]\nsurrogate = %s\nlookahead = %d\n"
               "[network]\nbind = tcp://127.0.0.1:0\n",
            p->budget, p->budget < 10 ? p->budget : 10, p->duration_ms, p->surrogate,
            p->lookahead);
    fclose(f);
    pid = fork();
    if (pid == 0) {
        if (!freopen(log, "w", stderr))
            _exit(126);
        execl(coord, coord, "--study", study, "--config", conf, "--log-level", getenv("AUTOPEFT_BENCH_LOG") ? getenv("AUTOPEFT_BENCH_LOG") : "warn",
              (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 400 && access(ep, R_OK) != 0; i++)
        usleep(25000);
    if (access(ep, R_OK) != 0) {
        rc = err_set(ERR_TIMEOUT, "the coordinator did not start (see %s)", log);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        goto out;
    }
    memset(&o, 0, sizeof o);
    o.endpoint_file = ep;
    o.trainers[0] = synth;
    o.ntrainers = 1;
    o.cores = 1;
    o.zmq_ctx = ctx;
    o.backoff_max_ms = 1000;
    for (int i = 0; i < p->workers; i++) {
        ws[i].d = daemon_new(&o);
        if (!ws[i].d || pthread_create(&th[i], NULL, worker_main_thread, &ws[i]) != 0) {
            rc = err_set(ERR_INTERNAL, "starting worker %d", i);
            p->workers = i;
            kill(pid, SIGTERM);
            break;
        }
    }
    {
        struct rusage ru;
        wait4(pid, &status, 0, &ru);
        p->coord_cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
                       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
    }
    for (int i = 0; i < p->workers; i++) {
        daemon_stats_t s;
        daemon_stop(ws[i].d); /* those that missed the SHUTDOWN */
        pthread_join(th[i], NULL);
        daemon_stats(ws[i].d, &s);
        p->busy += s.busy_s;
        if (s.trials > 0) {
            double span = s.last_end - s.first_start;
            p->util_span += span > 0 ? s.busy_s / span : 1;
            if (s.first_start < first_start)
                first_start = s.first_start;
            if (s.last_end > last_end)
                last_end = s.last_end;
        }
        daemon_free(&ws[i].d);
    }
    p->util_span /= p->workers;
    getrusage(RUSAGE_SELF, &ru1);
    p->self_cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
                  (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) * 1e-6 +
                  (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                  (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) * 1e-6;
    p->wall = last_end - first_start;
    p->util_total = p->wall > 0 ? p->busy / (p->workers * p->wall) : 0;
    if (rc == 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
        rc = err_set(ERR_INTERNAL, "the coordinator failed (see %s)", log);
    {
        /* The coordinator says at start when this build cannot do what was asked. */
        char line[1024];
        FILE *lf = fopen(log, "r");
        while (lf && fgets(line, sizeof line, lf))
            if (strstr(line, "falls back to random suggestions"))
                p->random_fallback = true;
        if (lf)
            fclose(lf);
    }
    snprintf(db_path, sizeof db_path, "%s/study.db", study);
    if (rc == 0 && sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        double t0 = sql_double(db, "SELECT min(dispatched_at) FROM attempts");
        double t1 = sql_double(db, "SELECT max(received_at) FROM results");
        p->done = (long long)sql_double(db, "SELECT count(*) FROM trials WHERE state = 'done'");
        p->rate = t1 > t0 ? (double)p->done / (t1 - t0) : 0;
        if (p->done != p->budget)
            rc = err_set(ERR_INTERNAL, "%lld of %d trials done", p->done, p->budget);
    }
    sqlite3_close(db);
out:
    if (rc == 0 && !getenv("AUTOPEFT_BENCH_KEEP")) {
        /* Keep the folder of a failed phase for its log (and any with AUTOPEFT_BENCH_KEEP). */
        char cmd[PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    trainer_free(&synth);
    zmq_ctx_term(ctx);
    free(ws);
    free(th);
    return rc;
}

BENCH(dispatch, "coordinator throughput (64/256 fast workers) and utilisation with 1 s trials")
{
    char self[PATH_MAX], bindir[PATH_MAX];
    int trials = 20000, util_workers = 8, util_trials = 48;
    phase_t ph[3];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    const char *surrogate = "map";

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--trials") && i + 1 < argc) {
            if (parse_int(argv[++i], 100, 10000000, "--trials", &trials) != 0)
                goto usage;
        } else if (!strcmp(argv[i], "--util-workers") && i + 1 < argc) {
            if (parse_int(argv[++i], 1, 1024, "--util-workers", &util_workers) != 0)
                goto usage;
        } else if (!strcmp(argv[i], "--util-trials") && i + 1 < argc) {
            if (parse_int(argv[++i], 1, 100000, "--util-trials", &util_trials) != 0)
                goto usage;
        } else if (!strcmp(argv[i], "--surrogate") && i + 1 < argc) {
            surrogate = argv[++i];
        } else {
            goto usage;
        }
    }
    if (n <= 0)
        return 1;
    self[n] = '\0';
    snprintf(bindir, sizeof bindir, "%s", self);
    *strrchr(bindir, '/') = '\0';
    strncat(bindir, "/../bin", sizeof bindir - strlen(bindir) - 1);
    log_set_level(LOG_LEVEL_WARN);
    signal(SIGPIPE, SIG_IGN);

    ph[0] = (phase_t){.workers = 64, .budget = trials, .surrogate = "random", .lookahead = 1};
    ph[1] = (phase_t){.workers = 256, .budget = trials, .surrogate = "random", .lookahead = 1};
    ph[2] = (phase_t){.workers = util_workers, .budget = util_trials, .duration_ms = 1000,
                      .surrogate = surrogate, .lookahead = util_workers};
    printf("%-30s %7s %7s %8s %12s %8s %8s %8s\n", "phase", "workers", "trials", "wall s",
           "committed/s", "util", "coord s", "work s");
    for (int i = 0; i < 3; i++) {
        if (run_phase(bindir, &ph[i]) != 0) {
            fprintf(stderr, "bench dispatch: phase %d: %s\n", i + 1, err_msg());
            return 1;
        }
        printf("%-30s %7d %7lld %8.2f %12.0f %8.4f %8.2f %8.2f\n",
               i < 2 ? "zero-length trials, random" : "1 s trials, BO suggestions",
               ph[i].workers, ph[i].done, ph[i].wall, ph[i].rate, ph[i].util_span,
               ph[i].coord_cpu, ph[i].self_cpu);
        fflush(stdout);
    }
    printf("coord s: CPU seconds of the coordinator process; work s: of the worker threads "
           "(this process); %.0f us of coordinator CPU per trial at 256 workers\n",
           ph[1].done ? ph[1].coord_cpu / (double)ph[1].done * 1e6 : 0);
    printf("utilisation with 1 s trials: %.4f per worker over its span, %.4f of workers x wall "
           "(start-up and the budget's end included); suggestions: surrogate = %s%s\n",
           ph[2].util_span, ph[2].util_total, surrogate,
           ph[2].random_fallback ? " (NOT measured with BO: this build has no search module, "
                                   "the coordinator suggested at random)" : "");
    printf("BENCH dispatch trials_per_s_256=%.0f utilisation_1s=%.4f\n", ph[1].rate,
           ph[2].util_span);
    return 0;
usage:
    fprintf(stderr, "usage: autopeft-bench dispatch [--trials N] [--util-workers N] "
                    "[--util-trials N] [--surrogate map|saas|random]\n");
    return 2;
}
