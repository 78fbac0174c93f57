/* `autopeft run`: a study on one machine. It starts a coordinator and N workers as child
 * processes of this same program (`autopeft coordinator`, `autopeft worker`, through
 * /proc/self/exe, so nothing depends on PATH), shows the study's progress from its store, and
 * prints the Pareto front at the end. Ctrl-C stops everything cleanly; running it again with
 * the same --study folder resumes. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/embedded_spec.h"
#include "common/err.h"
#include "common/file.h"
#include "common/parse.h"
#include "coordinator/cli/commands.h"
#include "coordinator/runtime/config.h"
#include "coordinator/runtime/report.h"

#define PROG "autopeft run"
#define MAX_WORKERS 1024

static const char usage_text[] =
    "Usage: autopeft run [CONFIG] [OPTIONS]\n"
    "\n"
    "Runs a study on this machine: an autopeft coordinator and N local workers, with live\n"
    "progress (trials done, running and queued, the best metric, the hypervolume of the front,\n"
    "an ETA) and the Pareto front as a table at the end. CONFIG is a study file (docs/config.md;\n"
    "deploy/examples/ has some). Ctrl-C stops the study cleanly; the same command resumes it.\n"
    "\n"
    "Without CONFIG it runs the embedded default: a synthetic sentiment task generated in\n"
    "code and a small seeded random BERT (docs/embedded-task.md), trained for real by the\n"
    "built-in trainer; 30 trials, about a minute on two cores, no download. Its study is\n"
    "runs/embedded and its configuration is written there (embedded.conf).\n"
    "\n"
    "Options:\n"
    "  --study DIR        the study folder (default: runs/NAME, NAME from the configuration)\n"
    "  --workers N        local workers (default: one per core)\n"
    "  --exec CMD         the workers run CMD for each trial (autopeft-worker --exec)\n"
    "  --quiet            no progress display, only the final table\n"
    "  --budget N         the embedded default's trials (default 30)\n"
    "  --seed S           the embedded default's seed: task, model and search (default 1)\n"
    "  --max-train-examples N  the embedded default trains on N of its 8000 sentences\n"
    "  -h, --help         show this help\n"
    "\n"
    "Logs go to DIR/coordinator.log and DIR/worker-N.log. Outputs: DIR/trials.csv,\n"
    "trials.jsonl, pareto.csv, best.json; `autopeft status DIR` works from another terminal.\n";

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted++;
}

static pid_t spawn(const char *self, const char *log, char *const argv[])
{
    pid_t pid = fork();

    if (pid != 0)
        return pid;
    {
        FILE *f = freopen(log, "a", stderr);
        int null = open("/dev/null", 0);
        (void)f;
        dup2(2, 1);
        if (null >= 0)
            dup2(null, 0);
        signal(SIGINT, SIG_IGN); /* Ctrl-C goes to `run`, which stops the children in order */
        execv(self, argv);
        _exit(127);
    }
}

static void fmt_time(double s, char *buf, size_t len)
{
    if (s < 0 || s > 1e7)
        snprintf(buf, len, "?");
    else if (s < 90)
        snprintf(buf, len, "%.0fs", s);
    else if (s < 5400)
        snprintf(buf, len, "%.0fm%02.0fs", s / 60 - 0.5, s - 60 * (double)(long)(s / 60));
    else
        snprintf(buf, len, "%.1fh", s / 3600);
}

/* The embedded default's study configuration, from its model and recipe
 * (common/embedded_spec.h, which the worker's generator follows), written to
 * dir/embedded.conf; its path into path. */
static int write_embedded_config(const char *dir, int budget, uint64_t seed, int max_train,
                                 char *path, size_t len)
{
    embedded_model_t m;
    embedded_recipe_t r;
    FILE *f;

    embedded_spec_model(seed, &m);
    embedded_spec_recipe(EMBEDDED_SPEC_MAX_WORDS, &r);
    if ((size_t)snprintf(path, len, "%s/embedded.conf", dir) >= len)
        return err_set(ERR_RANGE, "%s: path too long", dir);
    f = fopen(path, "w");
    if (!f)
        return err_set(ERR_IO, "%s: %s", path, strerror(errno));
    fprintf(f,
            "# The embedded default of `autopeft run` (written by autopeft; docs/embedded-task.md).\n"
            "[study]\nname = embedded\nmode = train\nbudget = %d\nn_init = %d\nseed = %llu\n"
            "[model]\nembedded = true\nseed = %llu\n"
            "shape = hidden=%d layers=%d heads=%d intermediate=%d vocab=%d positions=%d "
            "type_vocab=%d\n"
            "[space]\nprefix_bottleneck = %d\n"
            "[task]\nname = embedded\nembedded = true\n"
            "[recipe]\nepochs = %d\nlearning_rate = %.10g\nbatch_size = %d\n"
            "eval_batch_size = %d\nmax_length = %d\nwarmup_ratio = %.10g\n"
            "weight_decay = %.10g\nmax_grad_norm = %.10g\ndropout = %.10g\npatience = %d\n"
            "max_train_examples = %d\n"
            "[search]\nsurrogate = map\n",
            budget, budget < 10 ? budget : 10, (unsigned long long)seed,
            (unsigned long long)m.seed, m.shape.hidden, m.shape.layers, m.shape.heads,
            m.shape.intermediate, m.shape.vocab, m.shape.positions, m.shape.type_vocab,
            r.prefix_bottleneck, r.epochs, r.learning_rate, r.batch_size, r.eval_batch_size,
            r.max_length, r.warmup_ratio, r.weight_decay, r.max_grad_norm, r.dropout, r.patience,
            max_train);
    if (fclose(f) != 0)
        return err_set(ERR_IO, "%s: %s", path, strerror(errno));
    return 0;
}

static double mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* One progress line; a TTY gets it rewritten in place. */
static void show(const report_summary_t *s, double started, bool tty, int last_done)
{
    char eta[32] = "?", best[64] = "-";
    double el = mono() - started;
    int finished = s->done + s->failed, left = s->budget - finished;

    if (finished > 0 && left > 0)
        fmt_time(el / finished * left, eta, sizeof eta);
    else if (left <= 0)
        snprintf(eta, sizeof eta, "0s");
    if (s->has_best)
        snprintf(best, sizeof best, "%.4f", s->best_metric);
    if (!tty && finished == last_done)
        return;
    printf("%s[%d/%d] done %d  running %d  queued %d  failed %d | best %s | HV %.4g | ETA %s%s",
           tty ? "\r\033[K" : "", finished, s->budget, s->done, s->running, s->queued,
           s->failed, best, s->hypervolume, eta, tty ? "" : "\n");
    fflush(stdout);
}

int cli_run(int argc, char **argv)
{
    const char *file = NULL, *study = NULL, *exec_cmd = NULL;
    char self[PATH_MAX], dirbuf[PATH_MAX], log[PATH_MAX + 64], ep[PATH_MAX + 16];
    char cores_s[16], *cargv[16], *wargv[16], embconf[PATH_MAX + 32];
    int emb_budget = 30, emb_train = 0;
    uint64_t emb_seed = 1;
    bool emb_opts = false;
    int nworkers = 0, cores, status = 0, last_done = -1, n = 0;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    bool quiet = false, tty = isatty(1);
    pid_t coord, workers[MAX_WORKERS];
    report_point_t *pts = NULL;
    report_summary_t s;
    struct sigaction sa;
    double started, last_print = 0;
    ssize_t len;
    config_t *cfg = NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(a, "--quiet")) {
            quiet = true;
        } else if ((!strcmp(a, "--study") || !strcmp(a, "--workers") || !strcmp(a, "--exec") ||
                    !strcmp(a, "--budget") || !strcmp(a, "--seed") ||
                    !strcmp(a, "--max-train-examples")) &&
                   i + 1 < argc) {
            const char *v = argv[++i];
            int prc = 0;
            if (!strcmp(a, "--study"))
                study = v;
            else if (!strcmp(a, "--exec"))
                exec_cmd = v;
            else if (!strcmp(a, "--budget"))
                prc = parse_int(v, 1, CONFIG_MAX_BUDGET, a, &emb_budget), emb_opts = true;
            else if (!strcmp(a, "--seed"))
                prc = parse_u64(v, UINT64_MAX, a, &emb_seed), emb_opts = true;
            else if (!strcmp(a, "--max-train-examples"))
                prc = parse_int(v, 0, INT32_MAX, a, &emb_train), emb_opts = true;
            else
                prc = parse_int(v, 1, MAX_WORKERS, "--workers", &nworkers);
            if (prc != 0) {
                fprintf(stderr, PROG ": %s\n", err_msg());
                return 2;
            }
        } else if (a[0] == '-' || file) {
            fprintf(stderr, PROG ": unexpected argument '%s'\nTry 'autopeft run --help'.\n", a);
            return 2;
        } else {
            file = a;
        }
    }
    if (file && emb_opts) {
        fprintf(stderr, PROG ": --budget, --seed and --max-train-examples set up the embedded "
                "default; with a configuration file, set them there\n");
        return 2;
    }
    if (!file) {
        /* The embedded default: its configuration is written into its study folder. */
        if (exec_cmd) {
            fprintf(stderr, PROG ": the embedded default trains with the built-in trainer; "
                    "--exec needs a configuration file\n");
            return 2;
        }
        if (!study)
            study = "runs/embedded";
        if (file_mkdirs(study) != 0 ||
            write_embedded_config(study, emb_budget, emb_seed, emb_train, embconf,
                                  sizeof embconf) != 0) {
            fprintf(stderr, PROG ": %s\n", err_msg());
            return 1;
        }
        file = embconf;
    }
    cfg = malloc(sizeof *cfg);
    if (!cfg || config_load(file, cfg) != 0) {
        fprintf(stderr, PROG ": %s\n", cfg ? err_msg() : "out of memory");
        free(cfg);
        return 2;
    }
    if (!study) {
        snprintf(dirbuf, sizeof dirbuf, "runs/%s", cfg->name);
        study = dirbuf;
    }
    len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0 || file_mkdirs(study) != 0) {
        fprintf(stderr, PROG ": %s\n", len <= 0 ? "cannot find this program (/proc/self/exe)"
                                                : err_msg());
        free(cfg);
        return 1;
    }
    self[len] = '\0';
    if (nworkers == 0)
        nworkers = ncpu > 0 ? (int)ncpu : 1;
    cores = ncpu > nworkers ? (int)(ncpu / nworkers) : 1;
    snprintf(cores_s, sizeof cores_s, "%d", cores);
    snprintf(ep, sizeof ep, "%s/endpoint", study);
    unlink(ep); /* a stale one from an earlier run must not be dialled */

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    snprintf(log, sizeof log, "%s/coordinator.log", study);
    cargv[0] = self, cargv[1] = "coordinator", cargv[2] = "--study", cargv[3] = (char *)study;
    cargv[4] = "--config", cargv[5] = (char *)file, cargv[6] = "--bind";
    cargv[7] = "tcp://127.0.0.1:0", cargv[8] = "--shutdown-workers", cargv[9] = NULL;
    coord = spawn(self, log, cargv);
    if (coord < 0) {
        fprintf(stderr, PROG ": fork: %s\n", strerror(errno));
        free(cfg);
        return 1;
    }
    for (int i = 0; i < 200 && access(ep, R_OK) != 0; i++) {
        if (waitpid(coord, &status, WNOHANG) == coord) {
            fprintf(stderr, PROG ": the coordinator exited at once; see %s\n", log);
            free(cfg);
            return 1;
        }
        usleep(50000);
    }
    for (int i = 0; i < nworkers; i++) {
        int k = 0;
        snprintf(log, sizeof log, "%s/worker-%d.log", study, i);
        wargv[k++] = self, wargv[k++] = "worker", wargv[k++] = "--endpoint-file";
        wargv[k++] = ep, wargv[k++] = "--cores", wargv[k++] = cores_s;
        wargv[k++] = "--backoff-max", wargv[k++] = "2000";
        if (exec_cmd)
            wargv[k++] = "--exec", wargv[k++] = (char *)exec_cmd;
        wargv[k] = NULL;
        workers[n] = spawn(self, log, wargv);
        if (workers[n] > 0)
            n++;
    }
    if (!quiet)
        printf("study '%s' in %s: %d workers x %d core%s; logs in %s/*.log\n", cfg->name, study,
               n, cores, cores == 1 ? "" : "s", study);
    started = mono();
    for (;;) {
        if (interrupted == 1) {
            interrupted++;
            if (!quiet && tty)
                printf("\n");
            if (file == embconf)
                printf("stopping: the study is saved in %s; `autopeft run --study %s` resumes "
                       "it\n", study, study);
            else
                printf("stopping: the study is saved in %s; `autopeft run %s --study %s` "
                       "resumes it\n", study, file, study);
            kill(coord, SIGTERM);
        }
        if (waitpid(coord, &status, WNOHANG) == coord)
            break;
        if (!quiet && mono() - last_print >= (tty ? 0.5 : 5.0) &&
            report_summary(study, &s, NULL, 0, NULL) == 0) {
            show(&s, started, tty, tty ? -2 : last_done);
            last_done = s.done + s.failed;
            last_print = mono();
        }
        usleep(100000);
    }
    /* The coordinator sent SHUTDOWN (or is gone): give the workers a moment, then insist. */
    for (int i = 0; i < n; i++) {
        int st;
        for (int k = 0; k < 50 && waitpid(workers[i], &st, WNOHANG) == 0; k++)
            usleep(100000);
        if (waitpid(workers[i], &st, WNOHANG) == 0) {
            kill(workers[i], SIGTERM);
            waitpid(workers[i], &st, 0);
        }
    }
    if (!quiet && tty)
        printf("\n");
    pts = calloc(REPORT_MAX_PARETO, sizeof *pts);
    if (pts && report_summary(study, &s, pts, REPORT_MAX_PARETO, &n) == 0) {
        if (!quiet)
            show(&s, started, false, -2);
        if (s.finished) {
            printf("\nPareto front of %s (metric up, trainable parameters down):\n", cfg->name);
            report_print_pareto(stdout, pts, n);
            printf("\noutputs: %s/trials.csv, trials.jsonl, pareto.csv, best.json\n", study);
        }
    }
    free(pts);
    free(cfg);
    if (interrupted)
        return 130;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(log, sizeof log, "%s/coordinator.log", study);
        fprintf(stderr, PROG ": the coordinator failed; see %s\n", log);
        return 1;
    }
    return 0;
}
