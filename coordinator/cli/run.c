/* `autopeft run`: a study on one machine. It starts a coordinator and N workers as child
 * processes of this same program (`autopeft coordinator`, `autopeft worker`, through
 * /proc/self/exe, so nothing depends on PATH), shows the study's progress from its store, and
 * prints the Pareto front at the end. Ctrl-C stops everything cleanly; running it again with
 * the same --study folder resumes. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/embedded_spec.h"
#include "common/err.h"
#include "common/file.h"
#include "common/parse.h"
#include "coordinator/cli/commands.h"
#include "coordinator/runtime/config.h"
#include "coordinator/runtime/dispatch.h"
#include "coordinator/runtime/report.h"
#include "coordinator/runtime/report_compare.h"

#define PROG "autopeft run"
#define MAX_WORKERS 1024
#define EMBEDDED_BASELINES "pfeiffer,lora,head-only"

static const char usage_text[] =
    "Usage: autopeft run [CONFIG] [OPTIONS]\n"
    "       autopeft run --resume DIR [OPTIONS]\n"
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
    "  --resume DIR       carry on the study in DIR with the configuration it was started with\n"
    "                     (its queued trials too, such as those `autopeft confirm` adds)\n"
    "  --workers N        local workers (default: one per core)\n"
    "  --exec CMD         the workers run CMD for each trial (autopeft-worker --exec)\n"
    "  --quiet            no progress display, only the final table\n"
    "  --budget N         the embedded default's trials (default 30)\n"
    "  --seed S           the embedded default's seed: task, model and search (default 1)\n"
    "  --max-train-examples N  the embedded default trains on N of its 8000 sentences\n"
    "  --baselines LIST   the embedded default's baselines, trained alongside the search\n"
    "                     (default " EMBEDDED_BASELINES "; none: no baselines;\n"
    "                     `autopeft baselines` lists them)\n"
    "  -h, --help         show this help\n"
    "\n"
    "Logs go to DIR/coordinator.log and DIR/worker-N.log. Outputs: DIR/trials.csv,\n"
    "trials.jsonl, pareto.csv, best.json; `autopeft status DIR` works from another terminal.\n";

/* The embedded default's settings (--budget, --seed, --max-train-examples). */
typedef struct {
    int budget;                  /* trials */
    uint64_t seed;               /* of the task, the model and the search */
    int max_train;               /* sentences to train on; 0: all */
    const char *baselines;       /* [baselines] names; "" for none */
} embedded_opts_t;

/* The command line. */
typedef struct {
    const char *file;            /* the study's configuration; NULL: the embedded default */
    const char *study;           /* NULL: from the configuration */
    const char *resume;          /* --resume: the study folder; its stored configuration */
    const char *exec_cmd;        /* the workers' --exec */
    int nworkers;                /* 0: one per core */
    bool quiet;
    embedded_opts_t emb;
    bool emb_given;              /* one of the embedded default's flags was given */
} run_opts_t;

/* A run: its command line, its study, this program and the processes it started. */
typedef struct {
    run_opts_t o;
    bool tty;                    /* stdout is a terminal: the progress line is redrawn */
    double started;              /* monotonic seconds when the workers started */
    const char *study, *file;
    bool embedded;               /* file is the embedded default's, written into the study */
    char self[PATH_MAX];
    char study_buf[PATH_MAX], embconf[PATH_MAX + 32], ep[PATH_MAX + 16];
    char coord_log[PATH_MAX + 64];
    int cores, nworkers;
    pid_t coord, workers[MAX_WORKERS];
    int coord_status;            /* the coordinator's wait status once it exited */
} run_t;

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted++;
}

static pid_t spawn(const char *self, const char *log, char *const argv[])
{
    pid_t parent = getpid(), pid = fork();

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
        /* `run` killed (SIGKILL, a lost session): the children stop too, the coordinator
         * saving the study, rather than run on unseen and hold it. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1);
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
static int write_embedded_config(const char *dir, const embedded_opts_t *e, char *path,
                                 size_t len)
{
    embedded_model_t m;
    embedded_recipe_t r;
    FILE *f;

    embedded_spec_model(e->seed, &m);
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
            "[search]\nsurrogate = map\n"
            "%s%s%s",
            e->budget, e->budget < 10 ? e->budget : 10, (unsigned long long)e->seed,
            (unsigned long long)m.seed, m.shape.hidden, m.shape.layers, m.shape.heads,
            m.shape.intermediate, m.shape.vocab, m.shape.positions, m.shape.type_vocab,
            r.prefix_bottleneck, r.epochs, r.learning_rate, r.batch_size, r.eval_batch_size,
            r.max_length, r.warmup_ratio, r.weight_decay, r.max_grad_norm, r.dropout, r.patience,
            e->max_train, e->baselines[0] ? "[baselines]\nnames = " : "", e->baselines,
            e->baselines[0] ? "\n" : "");
    if (fclose(f) != 0)
        return err_set(ERR_IO, "%s: %s", path, strerror(errno));
    return 0;
}

/* One progress line; a TTY gets it rewritten in place. With an epoch budget the epochs too,
 * and the ETA is whichever budget runs out first at the pace so far. */
static void show(const report_summary_t *s, double started, bool tty, int last_done)
{
    char eta[32] = "?", best[64] = "-", epochs[64] = "", stopped[32] = "";
    double el = clock_s() - started, spent = (double)s->epochs_spent, left_s = INFINITY;
    int finished = s->done + s->failed, left = s->budget - finished;

    if (finished > 0 && left > 0)
        left_s = el / finished * left;
    if (s->budget_epochs > 0) {
        snprintf(epochs, sizeof epochs, " epochs %lld/%d", s->epochs_spent, s->budget_epochs);
        if (spent > 0 && spent < s->budget_epochs)
            left_s = fmin(left_s, el / spent * (s->budget_epochs - spent));
        else if (spent >= s->budget_epochs)
            left = 0;
    }
    if (left <= 0)
        snprintf(eta, sizeof eta, "0s");
    else if (isfinite(left_s))
        fmt_time(left_s, eta, sizeof eta);
    if (s->stopped > 0)
        snprintf(stopped, sizeof stopped, " (%d stopped)", s->stopped);
    if (s->has_best)
        snprintf(best, sizeof best, "%.4f", s->best_metric);
    if (!tty && finished == last_done)
        return;
    printf("%s[%d/%d%s] done %d%s  running %d  queued %d  failed %d | best %s | HV %.4g | ETA "
           "%s%s", tty ? "\r\033[K" : "", finished, s->budget, epochs, s->done, stopped,
           s->running, s->queued, s->failed, best, s->hypervolume, eta, tty ? "" : "\n");
    fflush(stdout);
}

/* Reads the command line into o: -1 to go on, or the exit status (help, bad usage). */
static int parse_args(int argc, char **argv, run_opts_t *o)
{
    o->emb.budget = 30;
    o->emb.seed = 1;
    o->emb.baselines = EMBEDDED_BASELINES;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(a, "--quiet")) {
            o->quiet = true;
        } else if ((!strcmp(a, "--study") || !strcmp(a, "--workers") || !strcmp(a, "--exec") ||
                    !strcmp(a, "--resume") || !strcmp(a, "--budget") || !strcmp(a, "--seed") ||
                    !strcmp(a, "--max-train-examples") || !strcmp(a, "--baselines")) &&
                   i + 1 < argc) {
            const char *v = argv[++i];
            int prc = 0;
            if (!strcmp(a, "--study"))
                o->study = v;
            else if (!strcmp(a, "--resume"))
                o->resume = v;
            else if (!strcmp(a, "--exec"))
                o->exec_cmd = v;
            else if (!strcmp(a, "--budget"))
                prc = parse_int(v, 1, CONFIG_MAX_BUDGET, a, &o->emb.budget), o->emb_given = true;
            else if (!strcmp(a, "--seed"))
                prc = parse_u64(v, UINT64_MAX, a, &o->emb.seed), o->emb_given = true;
            else if (!strcmp(a, "--baselines"))
                o->emb.baselines = strcmp(v, "none") ? v : "", o->emb_given = true;
            else if (!strcmp(a, "--max-train-examples"))
                prc = parse_int(v, 0, INT32_MAX, a, &o->emb.max_train), o->emb_given = true;
            else
                prc = parse_int(v, 1, MAX_WORKERS, "--workers", &o->nworkers);
            if (prc != 0) {
                fprintf(stderr, PROG ": %s\n", err_msg());
                return 2;
            }
        } else if (a[0] == '-' || o->file) {
            fprintf(stderr, PROG ": unexpected argument '%s'\nTry 'autopeft run --help'.\n", a);
            return 2;
        } else {
            o->file = a;
        }
    }
    if (o->resume && (o->file || o->study || o->emb_given)) {
        fprintf(stderr, PROG ": --resume DIR takes the study's own configuration and folder; "
                "CONFIG, --study and the embedded default's flags do not go with it\n");
        return 2;
    }
    if (o->file && o->emb_given) {
        fprintf(stderr, PROG ": --budget, --seed, --max-train-examples and --baselines set up "
                "the embedded default; with a configuration file, set them there\n");
        return 2;
    }
    if (!o->file && !o->resume && o->exec_cmd) {
        fprintf(stderr, PROG ": the embedded default trains with the built-in trainer; "
                "--exec needs a configuration file\n");
        return 2;
    }
    return -1;
}

/* Whether the local workers can train the study's trials: the built-in trainer (no --exec)
 * fails every trial of a precision other than fp32, so that is said before the study starts.
 * 0, or the exit status. */
static int trainable(const run_t *r, const config_t *cfg)
{
    if (cfg->mode != CONFIG_MODE_TRAIN || cfg->precision == PRECISION_FP32 || r->o.exec_cmd)
        return 0;
    fprintf(stderr, PROG ": %s: the built-in trainer trains in float32 only; [recipe] precision "
            "= %s needs --exec with a trainer that has it, such as autopeft-torch-train\n",
            r->o.resume ? r->o.resume : r->file, precision_name(cfg->precision));
    return 2;
}

/* The study's configuration: the file given, or the embedded default's, written into its study
 * folder (runs/embedded unless --study says otherwise). 0, or the exit status. */
static int configure(run_t *r, config_t *cfg)
{
    const run_opts_t *o = &r->o;

    r->study = o->study;
    r->file = o->file;
    if (o->resume) {
        r->study = o->resume;
        if (coordinator_stored_config(r->study, cfg) != 0) {
            fprintf(stderr, PROG ": %s\n", err_msg());
            return 2;
        }
        return trainable(r, cfg);
    }
    if (!r->file) {
        if (!r->study)
            r->study = "runs/embedded";
        if (file_mkdirs(r->study) != 0 ||
            write_embedded_config(r->study, &o->emb, r->embconf, sizeof r->embconf) != 0) {
            fprintf(stderr, PROG ": %s\n", err_msg());
            return 1;
        }
        r->file = r->embconf;
        r->embedded = true;
    }
    if (config_load(r->file, cfg) != 0) {
        fprintf(stderr, PROG ": %s\n", err_msg());
        return 2;
    }
    if (!r->study) {
        snprintf(r->study_buf, sizeof r->study_buf, "runs/%s", cfg->name);
        r->study = r->study_buf;
    }
    return trainable(r, cfg);
}

/* This program's path, the study folder, the workers and their cores, and no stale endpoint
 * file. 0, or the exit status. */
static int prepare(run_t *r)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    ssize_t len = readlink("/proc/self/exe", r->self, sizeof r->self - 1);
    int lock;

    if (len <= 0 || file_mkdirs(r->study) != 0) {
        fprintf(stderr, PROG ": %s\n", len <= 0 ? "cannot find this program (/proc/self/exe)"
                                                : err_msg());
        return 1;
    }
    r->self[len] = '\0';
    /* A coordinator still on the study (an earlier run killed, another terminal): say so before
     * anything of its is touched. */
    if (dispatch_lock(r->study, &lock) != 0) {
        fprintf(stderr, PROG ": %s\n", err_msg());
        return 1;
    }
    close(lock);
    r->nworkers = r->o.nworkers ? r->o.nworkers : ncpu > 0 ? (int)ncpu : 1;
    r->cores = ncpu > r->nworkers ? (int)(ncpu / r->nworkers) : 1;
    snprintf(r->ep, sizeof r->ep, "%s/endpoint", r->study);
    unlink(r->ep); /* a stale one from an earlier run must not be dialled */
    snprintf(r->coord_log, sizeof r->coord_log, "%s/coordinator.log", r->study);
    return 0;
}

/* `autopeft coordinator` on a free loopback port, waited for until it publishes its endpoint.
 * 0, or the exit status. */
static int start_coordinator(run_t *r)
{
    char *argv[] = {r->self, "coordinator", "--study", (char *)r->study, "--bind",
                    "tcp://127.0.0.1:0", "--shutdown-workers", "--config", (char *)r->file, NULL};

    if (!r->file)
        argv[7] = NULL; /* --resume: the stored configuration */

    r->coord = spawn(r->self, r->coord_log, argv);
    if (r->coord < 0) {
        fprintf(stderr, PROG ": fork: %s\n", strerror(errno));
        return 1;
    }
    for (int i = 0; i < 200 && access(r->ep, R_OK) != 0; i++) {
        if (waitpid(r->coord, &r->coord_status, WNOHANG) == r->coord) {
            fprintf(stderr, PROG ": the coordinator exited at once; see %s\n", r->coord_log);
            return 1;
        }
        usleep(50000);
    }
    return 0;
}

/* The workers, dialling the endpoint file; returns how many started. */
static int start_workers(run_t *r)
{
    char cores_s[16], log[PATH_MAX + 64], *argv[16];
    int n = 0;

    snprintf(cores_s, sizeof cores_s, "%d", r->cores);
    for (int i = 0; i < r->nworkers; i++) {
        int k = 0;
        snprintf(log, sizeof log, "%s/worker-%d.log", r->study, i);
        argv[k++] = r->self, argv[k++] = "worker", argv[k++] = "--endpoint-file";
        argv[k++] = r->ep, argv[k++] = "--cores", argv[k++] = cores_s;
        argv[k++] = "--backoff-max", argv[k++] = "2000";
        if (r->o.exec_cmd)
            argv[k++] = "--exec", argv[k++] = (char *)r->o.exec_cmd;
        argv[k] = NULL;
        r->workers[n] = spawn(r->self, log, argv);
        if (r->workers[n] > 0)
            n++;
    }
    return n;
}

/* Until the coordinator exits: the progress line, and on the first Ctrl-C or SIGTERM, the
 * coordinator told to stop (it saves the study and stops the workers). */
static void watch(run_t *r)
{
    bool quiet = r->o.quiet, tty = r->tty;
    report_summary_t s;
    double last_print = 0;
    int last_done = -1;

    for (;;) {
        if (interrupted == 1) {
            interrupted++;
            if (!quiet && tty)
                printf("\n");
            if (r->o.resume)
                printf("stopping: the study is saved in %s; `autopeft run --resume %s` resumes "
                       "it\n", r->study, r->study);
            else if (r->embedded)
                printf("stopping: the study is saved in %s; `autopeft run --study %s` resumes "
                       "it\n", r->study, r->study);
            else
                printf("stopping: the study is saved in %s; `autopeft run %s --study %s` "
                       "resumes it\n", r->study, r->file, r->study);
            kill(r->coord, SIGTERM);
        }
        if (waitpid(r->coord, &r->coord_status, WNOHANG) == r->coord)
            break;
        if (!quiet && clock_s() - last_print >= (tty ? 0.5 : 5.0) &&
            report_summary(r->study, &s, NULL, 0, NULL) == 0) {
            show(&s, r->started, tty, tty ? -2 : last_done);
            last_done = s.done + s.failed;
            last_print = clock_s();
        }
        usleep(100000);
    }
}

/* The coordinator sent SHUTDOWN (or is gone): the workers get a moment, then are insisted on. */
static void stop_workers(run_t *r, int n)
{
    for (int i = 0; i < n; i++) {
        int st;
        for (int k = 0; k < 50 && waitpid(r->workers[i], &st, WNOHANG) == 0; k++)
            usleep(100000);
        if (waitpid(r->workers[i], &st, WNOHANG) == 0) {
            kill(r->workers[i], SIGTERM);
            waitpid(r->workers[i], &st, 0);
        }
    }
}

/* The last progress line and, for a finished study, its Pareto front. */
static void print_outcome(const run_t *r, const config_t *cfg)
{
    report_point_t *pts = calloc(REPORT_MAX_PARETO, sizeof *pts);
    report_summary_t s;
    int n = 0;

    if (pts && report_summary(r->study, &s, pts, REPORT_MAX_PARETO, &n) == 0) {
        if (!r->o.quiet)
            show(&s, r->started, false, -2);
        if (s.finished) {
            printf("\nPareto front of %s (metric up, trainable parameters down):\n", cfg->name);
            report_print_pareto(stdout, pts, n);
            report_compare_print_dir(stdout, r->study);
            printf("\noutputs: %s/trials.csv, trials.jsonl, pareto.csv, best.json\n", r->study);
            printf("report:  %s/report.html\n", r->study);
        }
    }
    free(pts);
}

int cli_run(int argc, char **argv)
{
    struct sigaction sa;
    config_t *cfg = NULL;
    run_t *r = calloc(1, sizeof *r);
    int status, n;

    if (!r) {
        fprintf(stderr, PROG ": out of memory\n");
        return 2;
    }
    if ((status = parse_args(argc, argv, &r->o)) >= 0)
        goto out;
    r->tty = isatty(1);
    cfg = malloc(sizeof *cfg);
    if (!cfg) {
        fprintf(stderr, PROG ": out of memory\n");
        status = 2;
        goto out;
    }
    if ((status = configure(r, cfg)) != 0 || (status = prepare(r)) != 0)
        goto out;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if ((status = start_coordinator(r)) != 0)
        goto out;
    n = start_workers(r);
    if (!r->o.quiet)
        printf("study '%s' in %s: %d workers x %d core%s; logs in %s/*.log\n", cfg->name,
               r->study, n, r->cores, r->cores == 1 ? "" : "s", r->study);
    r->started = clock_s();
    watch(r);
    stop_workers(r, n);
    if (!r->o.quiet && r->tty)
        printf("\n");
    print_outcome(r, cfg);
    if (interrupted) {
        status = 130;
    } else if (!WIFEXITED(r->coord_status) || WEXITSTATUS(r->coord_status) != 0) {
        fprintf(stderr, PROG ": the coordinator failed; see %s\n", r->coord_log);
        status = 1;
    }
out:
    free(cfg);
    free(r);
    return status;
}
