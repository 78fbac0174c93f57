/* The worker's command line (worker.h). */
#include "worker/cli/worker.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/blas_startup.h"
#include "common/daemon_opts.h"
#include "common/err.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/parse.h"
#include "worker/daemon/daemon.h"
#include "worker/trial/trainer.h"

#define PROG "autopeft-worker"

static const char usage_text[] =
    "Usage: autopeft-worker (--connect tcp://HOST:PORT | --endpoint-file FILE) [OPTIONS]\n"
    "\n"
    "A worker of an autopeft study: it connects to an autopeft-coordinator, runs the trials\n"
    "(PEFT configurations) it is sent, and reports each one's task metric and exact parameter\n"
    "counts. Workers keep no state of their own, so any number can join or leave a study at any\n"
    "time; a worker started before its coordinator waits for it, and one whose coordinator\n"
    "restarts reconnects and carries on with its trial.\n"
    "\n"
    "Options:\n"
    "  --connect ENDPOINT     the coordinator, e.g. tcp://head-node:5555\n"
    "  --endpoint-file FILE   read the endpoint from FILE (the coordinator writes\n"
    "                         STUDY/endpoint; on a shared filesystem), again at every\n"
    "                         reconnection; exit when it says the study is finished\n"
    "  --exec CMD             run CMD (with /bin/sh) for each trial instead of the built-in\n"
    "                         trainer: the trial as JSON on stdin and in AUTOPEFT_* variables,\n"
    "                         the result as a JSON line on stdout, progress on stderr\n"
    "                         (docs/guide.md, \"Bring your own trainer\")\n"
    "  --exec-grace MS        after a CANCEL, SIGTERM then SIGKILL this much later (default 5000)\n"
    "  --cores N              cores a trial may use (default: all online CPUs)\n"
    "  --idle-timeout SECONDS exit after this long without a trial (default: never)\n"
    "  --curve-key FILE       this worker's key pair (autopeft keygen); turns CURVE on\n"
    "  --server-key FILE      the coordinator's public key (.pub file); default: the\n"
    "                         curve-server-key line of the endpoint file\n"
    "  --backoff-max MS       cap of the reconnect backoff (default 32000)\n"
    "  --log-level LEVEL      trace, debug, info (default), warn, error or off\n"
    "  --log-format FORMAT    text (default) or json\n"
    "  -h, --help             show this help and exit\n"
    "  -V, --version          show the version, protocol and library versions and exit\n"
    "\n"
    "Every worker runs synthetic (fast-mode) trials; TRAIN trials run on the built-in trainer\n"
    "(the C engine; checkpoints and tokenised data are cached across trials), or on --exec's\n"
    "command when it is given.\n"
    "\n"
    "Exit status: 0 shut down by the coordinator, idle timeout, signal, or the study finished;\n"
    "1 refused by the coordinator (protocol version, authentication) or a fatal error; 2 bad\n"
    "usage.\n";

static daemon_t *the_daemon;

static void on_signal(int sig)
{
    (void)sig;
    if (the_daemon)
        daemon_stop(the_daemon);
}

static int usage_error(const char *msg)
{
    return daemon_opts_usage_error(PROG, msg);
}

/* The command line: the daemon's options and what makes its trainers and keys. */
typedef struct {
    daemon_opts_t o;
    const char *exec_cmd, *curve_key, *server_key;
    int grace;
} worker_args_t;

/* Parses argv into a: -1 to go on, else the exit status (help, version, a usage error). */
static int parse_args(int argc, char **argv, worker_args_t *a)
{
    static const struct option longopts[] = {
        {"connect", required_argument, NULL, 'c'},
        {"endpoint-file", required_argument, NULL, 'e'},
        {"exec", required_argument, NULL, 'x'},
        {"exec-grace", required_argument, NULL, 'g'},
        {"cores", required_argument, NULL, 'n'},
        {"idle-timeout", required_argument, NULL, 'i'},
        {"curve-key", required_argument, NULL, 'k'},
        {"server-key", required_argument, NULL, 's'},
        {"backoff-max", required_argument, NULL, 'b'},
        {"log-level", required_argument, NULL, 'L'},
        {"log-format", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    daemon_opts_t *o = &a->o;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int opt, rc, backoff = 0;

    memset(a, 0, sizeof *a);
    a->grace = 5000;
    o->cores = ncpu > 0 ? (int)ncpu : 1;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': o->connect = optarg; break;
        case 'e': o->endpoint_file = optarg; break;
        case 'x': a->exec_cmd = optarg; break;
        case 'g':
            if (parse_int(optarg, 1, 3600000, "--exec-grace", &a->grace) != 0)
                return usage_error(err_msg());
            break;
        case 'n':
            if (parse_int(optarg, 1, 4096, "--cores", &o->cores) != 0)
                return usage_error(err_msg());
            break;
        case 'i':
            if (parse_double(optarg, 0, 1e9, "--idle-timeout", &o->idle_timeout_s) != 0)
                return usage_error(err_msg());
            break;
        case 'k': a->curve_key = optarg; break;
        case 's': a->server_key = optarg; break;
        case 'b':
            if (parse_int(optarg, 10, 3600000, "--backoff-max", &backoff) != 0)
                return usage_error(err_msg());
            o->backoff_max_ms = (uint32_t)backoff;
            break;
        default:
            if ((rc = daemon_opts_shared(opt, optarg, PROG, usage_text)) != DAEMON_OPTS_GO_ON)
                return rc;
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument (options only)");
    if (!o->connect == !o->endpoint_file)
        return usage_error("give exactly one of --connect ENDPOINT and --endpoint-file FILE");
    if (a->server_key && !a->curve_key)
        return usage_error("--server-key needs --curve-key (this worker's key pair)");
    return -1;
}

/* CURVE: this worker's key pair and the coordinator's public key (given, or from the endpoint
 * file). -1 to go on, else the exit status (reported). */
static int load_keys(worker_args_t *a, keys_t *mine, keys_t *server)
{
    if (!a->curve_key)
        return -1;
    if (keys_load(a->curve_key, true, mine) != 0) {
        fprintf(stderr, PROG ": %s\n", err_msg());
        return 2;
    }
    a->o.curve = mine;
    if (a->server_key) {
        if (keys_load(a->server_key, false, server) != 0) {
            fprintf(stderr, PROG ": %s\n", err_msg());
            return 2;
        }
        a->o.server_key = server->public_z85;
    } else if (!a->o.endpoint_file) {
        return usage_error("--curve-key with --connect needs --server-key FILE");
    }
    return -1;
}

typedef struct {
    trainer_t *synth, *exec, *builtin;
} trainers_t;

/* The synthetic trainer, and for TRAIN trials the user's command or the built-in trainer, into
 * the daemon's options. 0, or the exit status (reported). */
static int make_trainers(worker_args_t *a, trainers_t *t)
{
    daemon_opts_t *o = &a->o;

    t->synth = trainer_synthetic_new();
    if (!t->synth)
        return 1;
    o->trainers[o->ntrainers++] = t->synth;
    if (a->exec_cmd) {
        t->exec = trainer_exec_new(a->exec_cmd, a->grace);
        if (!t->exec) {
            fprintf(stderr, PROG ": %s\n", err_msg());
            return 2;
        }
        o->trainers[o->ntrainers++] = t->exec;
        return 0;
    }
    t->builtin = trainer_builtin_new();
    if (!t->builtin) {
        fprintf(stderr, PROG ": %s\n", err_msg());
        return 1;
    }
    o->trainers[o->ntrainers++] = t->builtin;
    return 0;
}

/* The daemon, until it ends; SIGINT and SIGTERM ask it to leave. The exit status. */
static int serve(const daemon_opts_t *o, bool exec)
{
    struct sigaction sa;
    daemon_t *d = daemon_new(o);
    int rc;

    if (!d) {
        fprintf(stderr, PROG ": %s\n", err_msg());
        return 1;
    }
    the_daemon = d;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    log_info("worker %s: %d cores, trainers: synthetic, %s", daemon_worker_id(d), o->cores,
             exec ? "exec" : "builtin");
    rc = daemon_run(d);
    the_daemon = NULL;
    daemon_free(&d);
    return rc == 0 ? 0 : 1;
}

int worker_main(int argc, char **argv)
{
    worker_args_t a;
    keys_t mine, server;
    trainers_t t = {NULL, NULL, NULL};
    int status;

    log_init(PROG, LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
    if ((status = parse_args(argc, argv, &a)) >= 0)
        return status;
    blas_startup_log();
    if ((status = load_keys(&a, &mine, &server)) >= 0)
        return status;
    status = make_trainers(&a, &t);
    if (status == 0)
        status = serve(&a.o, t.exec != NULL);
    trainer_free(&t.builtin);
    trainer_free(&t.exec);
    trainer_free(&t.synth);
    return status;
}
