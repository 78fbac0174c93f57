/* `autopeft status` and `autopeft report`: a study folder read back through report.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "coordinator/cli/commands.h"
#include "coordinator/runtime/report.h"
#include "coordinator/runtime/report_compare.h"
#include "coordinator/runtime/weights.h"

/* Kept trials listed by id on the weights line, at most. */
#define WEIGHTS_LISTED 24

static int one_dir(int argc, char **argv, const char *usage, const char **dir)
{
    *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return 0;
        }
        if (argv[i][0] == '-' || *dir) {
            fprintf(stderr, "autopeft %s: unexpected argument '%s'\n", argv[0], argv[i]);
            return 2;
        }
        *dir = argv[i];
    }
    if (!*dir) {
        fprintf(stderr, "autopeft %s: STUDY_DIR is required\n", argv[0]);
        return 2;
    }
    return -1;
}

static void print_summary(const report_summary_t *s)
{
    double now = (double)time(NULL);
    double span = (s->last_finish > 0 ? (s->finished ? s->last_finish : now) : now) -
                  s->first_dispatch;

    printf("study       %s\n", s->name[0] ? s->name : "(unnamed)");
    printf("trials      %d of %d searched", s->created - s->baselines - s->confirms, s->budget);
    if (s->baselines || s->confirms)
        printf(", %d baseline%s, %d confirmation%s", s->baselines, s->baselines == 1 ? "" : "s",
               s->confirms, s->confirms == 1 ? "" : "s");
    printf(": %d done, %d failed, %d running, %d queued%s\n", s->done, s->failed, s->running,
           s->queued, s->finished ? " (finished)" : "");
    printf("attempts    %d dispatches, %d lost with their worker\n", s->attempts, s->lost);
    printf("epochs      %lld trained by the search trials", s->epochs_spent);
    if (s->budget_epochs > 0)
        printf(", of a budget of %d", s->budget_epochs);
    if (s->stopped > 0)
        printf(" (%d stopped early)", s->stopped);
    printf("\n");
    if (s->has_best)
        printf("best        %.6g at %.4f%% parameters (trial %lld: %s)\n", s->best_metric,
               s->best_cost, s->best_id, s->best_config);
    printf("hypervolume %.6g over reference (%.6g, %.4f%%)\n", s->hypervolume, s->ref_metric,
           s->ref_cost);
    if (s->first_dispatch > 0)
        printf("elapsed     %.0f s; mean trial %.2f s\n", span, s->mean_trial_s);
    if (s->has_report)
        printf("report      %s\n", s->report_path);
}

/* The trials whose trained weights the study keeps ([study] keep_weights), for autopeft export
 * and autopeft eval --peft; nothing when it keeps none. */
static void print_weights(const char *dir)
{
    uint64_t ids[WEIGHTS_LISTED];
    int n;

    if (weights_list(dir, ids, WEIGHTS_LISTED, &n) != 0) {
        printf("weights     %s\n", err_msg());
        return;
    }
    if (n == 0)
        return;
    printf("weights     %d trial%s in %s/" WEIGHTS_DIR_NAME ":", n, n == 1 ? "" : "s", dir);
    for (int i = 0; i < n && i < WEIGHTS_LISTED; i++)
        printf(" %llu", (unsigned long long)ids[i]);
    printf("%s\n", n > WEIGHTS_LISTED ? " ..." : "");
}

int cli_status(int argc, char **argv)
{
    static const char usage[] =
        "Usage: autopeft status STUDY_DIR\n\n"
        "How a study is doing: trials done, failed, running and queued, the best metric, the\n"
        "hypervolume of the front, from STUDY_DIR/study.db (safe while the coordinator runs).\n";
    report_summary_t s;
    const char *dir;
    int rc = one_dir(argc, argv, usage, &dir);

    if (rc >= 0)
        return rc;
    if (report_summary(dir, &s, NULL, 0, NULL) != 0) {
        fprintf(stderr, "autopeft status: %s\n", err_msg());
        return 1;
    }
    print_summary(&s);
    print_weights(dir);
    return 0;
}

int cli_report(int argc, char **argv)
{
    static const char usage[] =
        "Usage: autopeft report STUDY_DIR\n\n"
        "Writes STUDY_DIR/trials.csv, trials.jsonl, pareto.csv, best.json and report.html (one\n"
        "self-contained page; each figure also as an .svg: docs/report.md) from study.db (the\n"
        "coordinator writes them when the study ends; this refreshes them at any time), then\n"
        "prints the Pareto front of metric against trainable parameters and, when the study has\n"
        "baselines, which front point dominates each.\n";
    report_point_t *pts;
    report_summary_t s;
    const char *dir;
    int n = 0, rc = one_dir(argc, argv, usage, &dir);

    if (rc >= 0)
        return rc;
    pts = calloc(REPORT_MAX_PARETO, sizeof *pts);
    if (!pts)
        return 1;
    if (report_write(dir) != 0 || report_summary(dir, &s, pts, REPORT_MAX_PARETO, &n) != 0) {
        fprintf(stderr, "autopeft report: %s\n", err_msg());
        free(pts);
        return 1;
    }
    print_summary(&s);
    print_weights(dir);
    printf("\nPareto front (%d trial%s):\n", n, n == 1 ? "" : "s");
    report_print_pareto(stdout, pts, n);
    report_compare_print_dir(stdout, dir);
    printf("\nwritten: %s/trials.csv, trials.jsonl, pareto.csv, best.json, report.html (and its "
           "figures: front.svg, hypervolume.svg, layers.svg, relevance.svg)\n", dir);
    free(pts);
    return 0;
}
