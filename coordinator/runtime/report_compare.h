/* The comparison a study exists for, in text and JSON: each baseline against the search's
 * front (which front point dominates it, by how much, against the seed spread), and the
 * confirmed statistics of the points (study_view.h computes them). */
#ifndef AUTOPEFT_REPORT_COMPARE_H
#define AUTOPEFT_REPORT_COMPARE_H

#include <jansson.h>
#include <stdio.h>

#include "coordinator/runtime/study_view.h"

/* best.json's "baselines": one object per done baseline (label, id, metric, param_percent,
 * its confirmed n / mean / std / seeds, and "dominated_by": the front point, the margins in
 * metric and parameter %, whether on confirmed means, and the metric margin in pooled seed
 * standard deviations; null when no front point dominates it). */
json_t *report_compare_baselines_json(const study_view_t *v);

/* best.json's "best_confirmed": of the points with confirmations (front and baselines), the
 * one of the highest mean, with its statistics; null when nothing was confirmed. */
json_t *report_compare_best_json(const study_view_t *v);

/* best.json's "pareto_confirmed": the front's points with their confirmed statistics. */
json_t *report_compare_front_json(const study_view_t *v);

/* A table of the baselines against the front, with a line saying how many the front
 * dominates; nothing when the study has no done baseline. */
void report_compare_print(FILE *f, const study_view_t *v);
/* The same for the study in dir, preceded by a blank line; nothing (and 0) without baselines. */
int report_compare_print_dir(FILE *f, const char *dir);

#endif
