/* The coordinator's command line (coordinator.h). */
#include "coordinator/cli/coordinator.h"

#include <getopt.h>
#include <limits.h>
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
#include "common/version.h"
#include "coordinator/runtime/config.h"
#include "coordinator/runtime/dispatch.h"
#include "coordinator/runtime/store.h"

#define PROG "autopeft-coordinator"
#define DEFAULT_PORT "5555"

static const char usage_text[] =
    "Usage: autopeft-coordinator --study DIR [--config FILE] [OPTIONS]\n"
    "\n"
    "The coordinator of an autopeft study: it owns the search history and the Bayesian\n"
    "optimisation, and dispatches PEFT configurations (trials) to autopeft-worker processes over\n"
    "ZeroMQ. Everything it knows is in DIR/study.db (SQLite); stopping it (SIGINT, SIGTERM) and\n"
    "starting it again on the same DIR continues the study where it was, and workers that were\n"
    "running trials re-attach. When the budget is spent it tells the workers to stop and writes\n"
    "DIR/trials.csv, trials.jsonl, pareto.csv and best.json.\n"
    "\n"
    "Options:\n"
    "  --study DIR            the study folder (created when absent)\n"
    "  --config FILE          the study's INI configuration (docs/config.md); needed the first\n"
    "                         time, optional on resume (the store keeps a copy; a different file\n"
    "                         is refused)\n"
    "  --bind ENDPOINT        ZeroMQ endpoint to listen on; default tcp://127.0.0.1:5555 without\n"
    "                         CURVE keys, tcp://*:5555 with them; port 0 or * picks a free port\n"
    "  --insecure-bind        allow a non-loopback --bind without CURVE keys (anyone who can\n"
    "                         reach the port can then take part in the study)\n"
    "  --curve-key FILE       the coordinator's key pair (autopeft keygen); turns CURVE on\n"
    "  --authorized-keys DIR  folder of the workers' .pub files allowed in (with --curve-key)\n"
    "  --publish-host HOST    host name written to DIR/endpoint for a wildcard bind\n"
    "                         (default: this machine's host name)\n"
    "  --shutdown-workers     on SIGINT/SIGTERM, tell the workers to exit too (their running\n"
    "                         trials are requeued); by default they keep running and re-attach\n"
    "  --linger SECONDS       after the study finished, answer late workers with SHUTDOWN this\n"
    "                         long before exiting (default 0)\n"
    "  --log-level LEVEL      trace, debug, info (default), warn, error or off\n"
    "  --log-format FORMAT    text (default) or json\n"
    "  -h, --help             show this help and exit\n"
    "  -V, --version          show the version, protocol and library versions and exit\n"
    "\n"
    "Flags override the [network] section of the configuration. The endpoint workers should\n"
    "dial is written to DIR/endpoint (autopeft-worker --endpoint-file DIR/endpoint).\n"
    "\n"
    "Exit status: 0 the study finished, or was stopped by a signal and can be resumed; 1 failed;\n"
    "2 bad usage or configuration.\n";

static int usage_error(const char *msg)
{
    return daemon_opts_usage_error(PROG, msg);
}

static bool loopback(const char *ep)
{
    static const char *const ok[] = {"tcp://127.", "tcp://localhost:", "tcp://[::1]:", "ipc://",
                                     "inproc://", "tcp://lo:"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strncmp(ep, ok[i], strlen(ok[i])) == 0)
            return true;
    return false;
}

int coordinator_stored_config(const char *study, config_t *cfg)
{
    store_t *st = NULL;
    char *stored = NULL, *stored_dir = NULL, name[PATH_MAX + 32];
    int rc;

    if ((rc = store_open(study, STORE_READONLY, &st)) != 0)
        return err_prefix(rc, "%s is not a study folder: ", study);
    if ((rc = store_meta_get(st, "config", &stored)) != 0)
        rc = err_set(ERR_NOTFOUND, "%s has no stored configuration (no study was started "
                     "there)", study);
    else {
        store_meta_get(st, "config_dir", &stored_dir);
        snprintf(name, sizeof name, "%s/study.db (stored configuration)", study);
        rc = config_parse(stored, name, stored_dir, cfg);
    }
    free(stored);
    free(stored_dir);
    store_close(&st);
    return rc;
}

/* The configuration: from --config (checked against the stored copy), or the stored copy. */
static int load_config(const char *study, const char *file, config_t *cfg)
{
    store_t *st = NULL;
    char *stored = NULL, *stored_dir = NULL, *text = NULL, dirbuf[PATH_MAX], abs[PATH_MAX];
    int rc;

    if ((rc = store_open(study, STORE_CREATE, &st)) != 0)
        return rc;
    store_meta_get(st, "config", &stored);
    store_meta_get(st, "config_dir", &stored_dir);
    err_clear();
    if (file) {
        const char *slash;
        if ((rc = config_read_file(file, CONFIG_MAX_TEXT, &text, NULL)) != 0)
            goto out;
        if (stored && strcmp(stored, text) != 0) {
            rc = err_set(ERR_STATE, "%s was started with another configuration (kept in "
                         "%s/study.db); resume without --config, or use a new --study folder",
                         study, study);
            goto out;
        }
        if ((rc = config_load(file, cfg)) != 0)
            goto out;
        if (!stored) {
            snprintf(dirbuf, sizeof dirbuf, "%s", file);
            slash = strrchr(dirbuf, '/');
            if (slash)
                dirbuf[slash - dirbuf] = '\0';
            else
                snprintf(dirbuf, sizeof dirbuf, ".");
            if (!realpath(dirbuf[0] ? dirbuf : "/", abs))
                snprintf(abs, sizeof abs, "%s", dirbuf);
            if ((rc = store_begin(st)) != 0 || (rc = store_meta_set(st, "config", text)) != 0 ||
                (rc = store_meta_set(st, "config_dir", abs)) != 0 ||
                (rc = store_meta_set(st, "created_at", version_string())) != 0 ||
                (rc = store_commit(st)) != 0)
                goto out;
        }
    } else if (stored) {
        char name[PATH_MAX + 32];
        snprintf(name, sizeof name, "%s/study.db (stored configuration)", study);
        rc = config_parse(stored, name, stored_dir, cfg);
    } else {
        rc = err_set(ERR_INVAL, "%s has no study yet: --config FILE is needed to start one",
                     study);
    }
out:
    free(stored);
    free(stored_dir);
    free(text);
    store_close(&st);
    return rc;
}

/* The command line's flags. */
typedef struct {
    const char *study, *file, *bind, *curve_key, *auth, *publish;
    bool insecure, shutdown_workers;
    double linger;
} flags_t;

/* Reads the flags into f: DAEMON_OPTS_GO_ON, or the exit status to return (help, version, bad
 * usage). */
static int parse_flags(int argc, char **argv, flags_t *f)
{
    static const struct option longopts[] = {
        {"study", required_argument, NULL, 's'},
        {"config", required_argument, NULL, 'c'},
        {"bind", required_argument, NULL, 'b'},
        {"insecure-bind", no_argument, NULL, 'I'},
        {"curve-key", required_argument, NULL, 'k'},
        {"authorized-keys", required_argument, NULL, 'a'},
        {"publish-host", required_argument, NULL, 'p'},
        {"shutdown-workers", no_argument, NULL, 'S'},
        {"linger", required_argument, NULL, 'l'},
        {"log-level", required_argument, NULL, 'L'},
        {"log-format", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int opt, rc;

    memset(f, 0, sizeof *f);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 's': f->study = optarg; break;
        case 'c': f->file = optarg; break;
        case 'b': f->bind = optarg; break;
        case 'I': f->insecure = true; break;
        case 'k': f->curve_key = optarg; break;
        case 'a': f->auth = optarg; break;
        case 'p': f->publish = optarg; break;
        case 'S': f->shutdown_workers = true; break;
        case 'l':
            if (parse_double(optarg, 0, 86400, "--linger", &f->linger) != 0)
                return usage_error(err_msg());
            break;
        default:
            if ((rc = daemon_opts_shared(opt, optarg, PROG, usage_text)) != DAEMON_OPTS_GO_ON)
                return rc;
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument (options only)");
    if (!f->study)
        return usage_error("--study DIR is required");
    return DAEMON_OPTS_GO_ON;
}

/* The flags override the configuration's [network] section; CURVE's key pair and the folder
 * of allowed keys go together. 0, or the exit status of a usage error. */
static int apply_flags(const flags_t *f, config_t *cfg)
{
    if (f->bind)
        snprintf(cfg->bind, sizeof cfg->bind, "%s", f->bind);
    if (f->insecure)
        cfg->insecure_bind = true;
    if (f->curve_key)
        snprintf(cfg->curve_secret_key, sizeof cfg->curve_secret_key, "%s", f->curve_key);
    if (f->auth)
        snprintf(cfg->authorized_keys, sizeof cfg->authorized_keys, "%s", f->auth);
    if (cfg->curve_secret_key[0] && !cfg->authorized_keys[0])
        return usage_error("--curve-key needs --authorized-keys DIR (the workers' public keys)");
    if (cfg->authorized_keys[0] && !cfg->curve_secret_key[0])
        return usage_error("--authorized-keys needs --curve-key FILE");
    return 0;
}

/* The endpoint to bind: CURVE's key pair loaded into keys (o->curve) when configured, the
 * default endpoint for the security setting, and the refusal of an unencrypted one beyond
 * loopback unless insecure_bind says so. 0, or the exit status. */
static int secure_bind(config_t *cfg, keys_t *keys, dispatch_opts_t *o)
{
    if (cfg->curve_secret_key[0]) {
        if (keys_load(cfg->curve_secret_key, true, keys) != 0) {
            fprintf(stderr, PROG ": %s\n", err_msg());
            return 2;
        }
        o->curve = keys;
        o->authorized_keys = cfg->authorized_keys;
    }
    if (!cfg->bind[0]) {
        snprintf(cfg->bind, sizeof cfg->bind, "%s", o->curve ? "tcp://*:" DEFAULT_PORT
                                                             : "tcp://127.0.0.1:" DEFAULT_PORT);
    } else if (!o->curve && !loopback(cfg->bind) && !cfg->insecure_bind) {
        fprintf(stderr, PROG ": refusing to listen on %s without CURVE keys: any machine that "
                "reaches it could take part in the study. Use --curve-key/--authorized-keys "
                "(autopeft keygen), a loopback address, or --insecure-bind on a trusted "
                "network.\n", cfg->bind);
        return 2;
    }
    if (!o->curve && loopback(cfg->bind))
        log_info("no CURVE keys: listening on the loopback interface only (%s); workers on "
                 "other machines need --curve-key/--authorized-keys or --insecure-bind",
                 cfg->bind);
    else if (!o->curve)
        log_warn("no CURVE keys and --insecure-bind: %s accepts any worker, unencrypted",
                 cfg->bind);
    return 0;
}

int coordinator_main(int argc, char **argv)
{
    config_t *cfg = NULL;
    dispatch_opts_t o;
    flags_t f;
    keys_t keys;
    int rc, status;

    log_init(PROG, LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
    if ((status = parse_flags(argc, argv, &f)) != DAEMON_OPTS_GO_ON)
        return status;
    blas_startup_log();
    cfg = malloc(sizeof *cfg);
    if (!cfg)
        return 1;
    if (load_config(f.study, f.file, cfg) != 0) {
        fprintf(stderr, PROG ": %s\n", err_msg());
        status = err_code() == ERR_IO || err_code() == ERR_NOMEM ? 1 : 2;
        goto out;
    }
    memset(&o, 0, sizeof o);
    if ((status = apply_flags(&f, cfg)) != 0 || (status = secure_bind(cfg, &keys, &o)) != 0)
        goto out;
    o.cfg = cfg;
    o.study_dir = f.study;
    o.bind = cfg->bind;
    o.publish_host = f.publish ? f.publish : (cfg->endpoint_host[0] ? cfg->endpoint_host : NULL);
    o.shutdown_workers = f.shutdown_workers;
    o.linger_s = f.linger;
    rc = dispatch_run(&o);
    if (rc == 0 || rc == ERR_CANCELLED) {
        status = 0;
    } else {
        fprintf(stderr, PROG ": %s\n", err_msg());
        status = 1;
    }
out:
    free(cfg);
    return status;
}
