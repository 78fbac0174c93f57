/* `autopeft confirm`: re-trains chosen points of a study with new training seeds, as trials of
 * the same study (kind confirm, origin the point's trial), then runs the study on to finish
 * them (`autopeft run --resume`). Adding is idempotent: a point that already has its seeds
 * gets no more, so an interrupted confirm resumes by running the same command again. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/mem.h"
#include "common/parse.h"
#include "coordinator/cli/commands.h"
#include "coordinator/runtime/config.h"
#include "coordinator/runtime/dispatch.h"
#include "coordinator/runtime/store.h"
#include "coordinator/runtime/study.h"
#include "coordinator/search/pareto.h"

#define PROG "autopeft confirm"
#define MAX_SEEDS 100

static const char usage_text[] =
    "Usage: autopeft confirm STUDY [--seeds N] [--points WHICH] [--no-run] [RUN OPTIONS]\n"
    "\n"
    "Re-trains points of a study with new training seeds, so that what the report says of them\n"
    "is not one seed's luck: each chosen point ends up with N runs (its own and N-1 new ones),\n"
    "queued as trials of the same study (same recipe, workers, leases and resume), then the\n"
    "study is run on until they are done. The outputs give each point's mean, standard\n"
    "deviation and seeds. Running the same command again adds nothing that is already there,\n"
    "so an interrupted confirm resumes.\n"
    "\n"
    "  --seeds N          runs per point, its own included (default 5; 2..100)\n"
    "  --points WHICH     front (the search's Pareto front, default), baselines, all (both),\n"
    "                     or trial ids: 12,40,41\n"
    "  --no-run           only queue the trials (run them later with `autopeft run --resume`)\n"
    "Run options, as `autopeft run`: --workers N, --exec CMD, --quiet.\n";

typedef struct {
    const char *study, *points;
    int seeds;
    bool no_run, quiet;
    const char *workers, *exec_cmd;
} confirm_args_t;

/* 0 parsed, 1 help shown, 2 bad usage (said). */
static int parse_args(int argc, char **argv, confirm_args_t *a)
{
    a->seeds = 5;
    a->points = "front";
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        bool has_value = i + 1 < argc;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            fputs(usage_text, stdout);
            return 1;
        } else if (!strcmp(o, "--no-run")) {
            a->no_run = true;
        } else if (!strcmp(o, "--quiet")) {
            a->quiet = true;
        } else if (!strcmp(o, "--seeds") && has_value) {
            if (parse_int(argv[++i], 2, MAX_SEEDS, "--seeds", &a->seeds) != 0) {
                fprintf(stderr, PROG ": %s\n", err_msg());
                return 2;
            }
        } else if (!strcmp(o, "--points") && has_value) {
            a->points = argv[++i];
        } else if (!strcmp(o, "--workers") && has_value) {
            a->workers = argv[++i];
        } else if (!strcmp(o, "--exec") && has_value) {
            a->exec_cmd = argv[++i];
        } else if (o[0] == '-' || a->study) {
            fprintf(stderr, PROG ": unexpected argument '%s'%s\nTry 'autopeft confirm --help'.\n",
                    o, o[0] == '-' && !has_value ? " (or its value is missing)" : "");
            return 2;
        } else {
            a->study = o;
        }
    }
    if (!a->study) {
        fprintf(stderr, PROG ": STUDY (the study folder) is required\n");
        return 2;
    }
    return 0;
}

/* A point that can be confirmed: done, with a metric, and not itself a confirmation. */
static bool confirmable(const study_trial_t *t)
{
    return t && t->state == STORE_DONE && t->has_objective && t->kind != STORE_CONFIRM;
}

/* pick[id - 1] for the done search trials on the Pareto front (metric up, cost down). */
static int pick_front(study_t *s, int n, bool *pick)
{
    double *pts = mem_alloc((size_t)n * 2 + 2, sizeof *pts, "front points");
    bool *keep = mem_alloc((size_t)n + 1, sizeof *keep, "front flags");
    int *ids = mem_alloc((size_t)n + 1, sizeof *ids, "front ids"), m = 0, rc = 0;

    if (!pts || !keep || !ids) {
        rc = ERR_NOMEM;
        goto out;
    }
    for (int id = 1; id <= n; id++) {
        const study_trial_t *t = study_trial(s, (uint64_t)id);
        if (!confirmable(t) || t->kind != STORE_SEARCH)
            continue;
        pts[2 * m] = t->objective;
        pts[2 * m + 1] = -t->cost;
        ids[m++] = id;
    }
    if (m > 0 && pareto_front(pts, m, keep) < 0)
        rc = ERR_NOMEM;
    for (int i = 0; i < m && rc == 0; i++)
        pick[ids[i] - 1] |= keep[i];
out:
    free(pts);
    free(keep);
    free(ids);
    return rc;
}

/* pick[id - 1] for the trials named by --points; ERR_INVAL naming a bad one. */
static int pick_points(study_t *s, const char *which, int n, bool *pick)
{
    char list[4096], *save = NULL;
    bool all = !strcmp(which, "all");

    if (all || !strcmp(which, "baselines"))
        for (int id = 1; id <= n; id++) {
            const study_trial_t *t = study_trial(s, (uint64_t)id);
            pick[id - 1] = confirmable(t) && t->kind == STORE_BASELINE;
        }
    if (all || !strcmp(which, "front"))
        return pick_front(s, n, pick);
    if (!strcmp(which, "baselines"))
        return 0;
    snprintf(list, sizeof list, "%s", which);
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int id;
        if (parse_int(tok, 1, n > 0 ? n : 1, "--points", &id) != 0)
            return err_set(ERR_INVAL, "--points: '%s' is not front, baselines, all or a trial "
                           "id of this study (1..%d)", tok, n);
        if (!confirmable(study_trial(s, (uint64_t)id)))
            return err_set(ERR_INVAL, "--points: trial %d is not a done trial with a metric "
                           "(or is itself a confirmation)", id);
        pick[id - 1] = true;
    }
    return 0;
}

/* Queues what each picked point lacks of its seeds; *points and *added say how much. */
static int queue_confirms(study_t *s, store_t *st, const bool *pick, int n, int seeds,
                          int *points, int *added)
{
    int *runs = mem_alloc((size_t)n + 1, sizeof *runs, "runs per point");
    int rc = runs ? store_begin(st) : ERR_NOMEM;

    *points = *added = 0;
    for (int j = 1; j <= n && rc == 0; j++) {
        uint64_t origin = study_trial(s, (uint64_t)j)->origin;
        if (origin)
            runs[origin - 1]++;
    }
    for (int id = 1; id <= n && rc == 0; id++) {
        if (!pick[id - 1])
            continue;
        (*points)++;
        for (int k = 1 + runs[id - 1]; k < seeds && rc == 0; k++, (*added)++) {
            study_extra_t e = {.kind = STORE_CONFIRM, .origin = (uint64_t)id};
            rc = study_add_extra(s, &e, NULL);
        }
    }
    free(runs);
    return rc == 0 ? store_commit(st) : rc;
}

/* Adds the confirmations to the store; 0, or the exit status. */
static int add_confirms(const confirm_args_t *a)
{
    config_t *cfg = mem_alloc(1, sizeof *cfg, "configuration");
    store_t *st = NULL;
    study_t *s = NULL;
    bool *pick = NULL;
    study_counts_t c;
    int rc, n, points = 0, added = 0, lock = -1;

    if (!cfg)
        return 1;
    /* Trials added beside a running coordinator would collide with its own. */
    if ((rc = coordinator_stored_config(a->study, cfg)) != 0 ||
        (rc = dispatch_lock(a->study, &lock)) != 0 ||
        (rc = store_open(a->study, 0, &st)) != 0 ||
        (rc = study_new(cfg, st, NULL, NULL, &s)) != 0)
        goto out;
    study_counts(s, &c);
    n = c.created;
    if (!(pick = mem_alloc((size_t)n + 1, sizeof *pick, "points")) ||
        (rc = pick_points(s, a->points, n, pick)) != 0 ||
        (rc = queue_confirms(s, st, pick, n, a->seeds, &points, &added)) != 0)
        goto out;
    if (points == 0)
        rc = err_set(ERR_NOTFOUND, "%s: no done trial among --points %s", a->study, a->points);
    else
        printf("%d point%s to %d seeds each: %d new trial%s queued\n", points,
               points == 1 ? "" : "s", a->seeds, added, added == 1 ? "" : "s"), fflush(stdout);
out:
    if (rc != 0)
        fprintf(stderr, PROG ": %s\n", err_msg()[0] ? err_msg() : "out of memory");
    study_free(&s);
    store_close(&st);
    if (lock >= 0)
        close(lock);
    free(pick);
    free(cfg);
    return rc == 0 ? 0 : rc == ERR_INVAL || rc == ERR_NOTFOUND ? 2 : 1;
}

int cli_confirm(int argc, char **argv)
{
    confirm_args_t a = {0};
    char *run_argv[12];
    int k = 0, rc = parse_args(argc, argv, &a);

    if (rc != 0)
        return rc == 1 ? 0 : rc;
    if ((rc = add_confirms(&a)) != 0 || a.no_run)
        return rc;
    run_argv[k++] = "run", run_argv[k++] = "--resume", run_argv[k++] = (char *)a.study;
    if (a.workers)
        run_argv[k++] = "--workers", run_argv[k++] = (char *)a.workers;
    if (a.exec_cmd)
        run_argv[k++] = "--exec", run_argv[k++] = (char *)a.exec_cmd;
    if (a.quiet)
        run_argv[k++] = "--quiet";
    run_argv[k] = NULL;
    return cli_run(k, run_argv);
}
