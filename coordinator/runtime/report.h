/* Study outputs, read from the study store (store.h) with a read-only connection, so that the
 * coordinator, `autopeft status`, `autopeft report` and `autopeft run` share one code path:
 *
 *   trials.csv     one row per trial: id, state, attempts, configuration, metric, parameter %,
 *                  random, worker, seconds, error, kind (search, baseline, confirm), label,
 *                  seed, origin
 *   trials.jsonl   one JSON object per trial, with the accepted RESULT message in full
 *   pareto.csv     the non-dominated search trials (metric up, parameter % down), by parameter %
 *   best.json      the best metric's search trial, the Pareto set and the hypervolume; the
 *                  baselines against the front and the confirmed statistics
 *                  (report_compare.h)
 * Baselines and confirmations are not on the front: they are compared with it. Each file is
 * written to a temporary name and renamed, so readers never see half a file. */
#ifndef AUTOPEFT_REPORT_H
#define AUTOPEFT_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#define REPORT_MAX_PARETO 4096

typedef struct {
    char name[256];
    int budget;
    int queued, running, done, failed, created;
    int baselines, confirms;          /* trials of those kinds (counted in created too) */
    int attempts, lost;               /* dispatches; ended by a lost lease */
    int budget_epochs, epochs;        /* the epoch budget (0: none) and the recipe's epochs */
    long long epochs_spent;           /* trained by the finished search trials */
    int stopped;                      /* search trials stopped early (multi-fidelity) */
    bool has_best;
    long long best_id;
    double best_metric, best_cost;
    char best_config[1200];
    double hypervolume;               /* of (metric, -parameter %) over the reference below */
    double ref_metric, ref_cost;
    double first_dispatch, last_finish;  /* epoch seconds; 0 when none */
    double mean_trial_s;              /* mean seconds of done trials (dispatch to result) */
    bool finished;
    bool has_report;                  /* report.html exists (the coordinator or report wrote it) */
    char report_path[4200];
} report_summary_t;

/* One Pareto point. */
typedef struct {
    long long id;
    double metric, cost;
    char config[1200];
} report_point_t;

/* Counts, best trial, Pareto set (sorted by parameter %, up to cap points into pts; *npts) and
 * hypervolume of the study in dir. ref: the study's reference point when has_ref, else the
 * lowest metric seen and the highest parameter %. */
int report_summary(const char *dir, report_summary_t *out, report_point_t *pts, int cap,
                   int *npts);

/* Writes the four files into dir. */
int report_write(const char *dir);

/* Prints the Pareto front as a table. */
void report_print_pareto(FILE *f, const report_point_t *pts, int n);

/* Exact 2-D hypervolume of maximising metric and minimising cost over (ref_metric, ref_cost):
 * points beyond the reference add nothing. */
double report_hypervolume(const report_point_t *pts, int n, double ref_metric, double ref_cost);

#endif
