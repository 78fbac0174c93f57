/* A study store written by hand for the report's tests (study view, HTML page, browser): search
 * trials (done, failed, queued, running), baselines and confirmations, through the store's own
 * functions. The raw rows are kept in a table so that tests recompute what the view derives
 * (front, confirmed statistics, dominance, hypervolume) independently. */
#ifndef AUTOPEFT_TESTS_REPORT_STUDY_H
#define AUTOPEFT_TESTS_REPORT_STUDY_H

#include <stdbool.h>
#include <stdint.h>

#include "coordinator/runtime/store.h"

typedef struct {
    uint64_t id;
    store_kind_t kind;
    store_state_t state;
    const char *config, *label, *error;
    double metric, cost;       /* metric: done trials only */
    uint64_t seed, origin;
    int64_t seq;               /* counted order (done and failed); 0: not counted */
    double total_s;            /* the result's worker seconds */
} report_row_t;

/* The rows of report_study_write, in id order; *n their number. */
const report_row_t *report_study_rows(int *n);

/* Writes the store into dir (created): the rows above, a synthetic-mode configuration on
 * bert-base with LoRA in the space, and no reference point (ref: computed from the points).
 * The test fails on any store error. */
void report_study_write(const char *dir);

/* A store with only the first n_search done search rows (no baselines, confirmations or other
 * states), for the few-trials cases. */
void report_study_write_small(const char *dir, int n_search);

#endif
