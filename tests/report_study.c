/* The report tests' study store (report_study.h). */
#include "tests/report_study.h"

#include "tests/harness.h"

#define ALL "111111111111"

/* Search 1-6 done (4 dominated by 2), 7 failed, 8 queued, 9 running; baselines 10-13 (12 beats
 * every search point, so nothing dominates it; 13's label needs escaping); confirmations of 1,
 * 10 and 11, and a failed one of 1; baseline 20 trains the head only (0 % deployed). seq is the
 * order results were counted. */
static const report_row_t rows[] = {
    {1, STORE_SEARCH, STORE_DONE, "sa=48 pa=0 pt=0 layers=" ALL, NULL, NULL, 0.80, 0.5, 1, 0, 2, 11},
    {2, STORE_SEARCH, STORE_DONE, "sa=96 pa=0 pt=0 layers=" ALL, NULL, NULL, 0.85, 1.0, 1, 0, 4, 12},
    {3, STORE_SEARCH, STORE_DONE, "sa=12 pa=0 pt=0 layers=000000111111", NULL, NULL, 0.70, 0.1, 1,
     0, 1, 9},
    {4, STORE_SEARCH, STORE_DONE, "sa=48 pa=48 pt=0 layers=" ALL, NULL, NULL, 0.84, 2.0, 1, 0, 6,
     14},
    {5, STORE_SEARCH, STORE_DONE, "sa=0 pa=0 pt=12 layers=110000000000", NULL, NULL, 0.60, 0.05, 1,
     0, 3, 8},
    {6, STORE_SEARCH, STORE_DONE, "sa=384 pa=0 pt=0 layers=" ALL, NULL, NULL, 0.90, 8.0, 1, 0, 8,
     20},
    {7, STORE_SEARCH, STORE_FAILED, "sa=768 pa=768 pt=0 layers=" ALL, NULL,
     "out of memory <allocating 3 GB> & more", 0, 12.0, 1, 0, 7, 5},
    {8, STORE_SEARCH, STORE_QUEUED, "sa=24 pa=0 pt=0 layers=" ALL, NULL, NULL, 0, 0.3, 1, 0, 0, 0},
    {9, STORE_SEARCH, STORE_DISPATCHED, "sa=6 pa=0 pt=0 layers=" ALL, NULL, NULL, 0, 0.08, 1, 0, 0,
     0},
    {10, STORE_BASELINE, STORE_DONE, "sa=48 pa=0 pt=0 layers=" ALL, "pfeiffer", NULL, 0.78, 0.5, 1,
     0, 5, 10},
    {11, STORE_BASELINE, STORE_DONE, "sa=0 pa=0 pt=0 lora=8 layers=" ALL, "lora", NULL, 0.83, 1.5, 1,
     0, 9, 13},
    {12, STORE_BASELINE, STORE_DONE, "sa=768 pa=0 pt=0 layers=" ALL, "full-finetune", NULL, 0.95,
     100.0, 1, 0, 10, 60},
    {13, STORE_BASELINE, STORE_DONE, "sa=24 pa=0 pt=0 layers=000000111111", "a<b&c \"q\"", NULL,
     0.65, 0.2, 1, 0, 11, 9},
    {14, STORE_CONFIRM, STORE_DONE, "sa=48 pa=0 pt=0 layers=" ALL, NULL, NULL, 0.82, 0.5, 2, 1, 12,
     11},
    {15, STORE_CONFIRM, STORE_DONE, "sa=48 pa=0 pt=0 layers=" ALL, NULL, NULL, 0.79, 0.5, 3, 1, 13,
     11},
    {16, STORE_CONFIRM, STORE_DONE, "sa=48 pa=0 pt=0 layers=" ALL, NULL, NULL, 0.76, 0.5, 2, 10, 14,
     10},
    {17, STORE_CONFIRM, STORE_DONE, "sa=48 pa=0 pt=0 layers=" ALL, NULL, NULL, 0.77, 0.5, 3, 10, 15,
     10},
    {18, STORE_CONFIRM, STORE_DONE, "sa=0 pa=0 pt=0 lora=8 layers=" ALL, NULL, NULL, 0.82, 1.5, 2,
     11, 16, 13},
    {19, STORE_CONFIRM, STORE_FAILED, "sa=48 pa=0 pt=0 layers=" ALL, NULL, "diverged", 0, 0.5, 4, 1,
     17, 3},
    {20, STORE_BASELINE, STORE_DONE, "sa=0 pa=0 pt=0 layers=000000000000", "head-only", NULL, 0.55,
     0, 1, 0, 18, 2},
};

static const char config_text[] =
    "[study]\nname = report-test\nmode = synthetic\nbudget = 9\nn_init = 4\nseed = 1\n"
    "[model]\nshape = bert-base\n[space]\nlora = true\n";

const report_row_t *report_study_rows(int *n)
{
    *n = (int)(sizeof rows / sizeof rows[0]);
    return rows;
}

static void add_row(store_t *st, const report_row_t *r, double t0)
{
    store_trial_t t = {.id = r->id, .config = r->config, .random = true, .cost = r->cost,
                       .created_at = t0 + r->id, .kind = r->kind, .label = r->label,
                       .has_seed = true, .seed = r->seed, .origin = r->origin,
                       .full_finetune = r->label && !strcmp(r->label, "full-finetune")};
    store_result_t res = {.trial_id = r->id, .attempt = 1, .status = "ok", .has_objective = true,
                          .objective = r->metric, .objective_name = "accuracy",
                          .percent = r->cost, .total_s = r->total_s, .worker = "w1",
                          .received_at = t0 + 100 + r->seq * 10, .json = "{}"};

    ASSERT_OK(store_trial_add(st, &t));
    if (r->state == STORE_QUEUED)
        return;
    ASSERT_OK(store_trial_dispatch(st, r->id, 1, "w1", res.received_at - r->total_s - 1));
    if (r->state == STORE_DONE)
        ASSERT_OK(store_result(st, &res, STORE_DONE, r->seq));
    else if (r->state == STORE_FAILED)
        ASSERT_OK(store_trial_fail(st, r->id, 1, "failed", r->error, r->seq, res.received_at));
}

static void write_rows(const char *dir, int n, bool search_done_only)
{
    store_t *st;
    double t0 = 1.7e9;
    int taken = 0;

    ASSERT_OK(store_open(dir, STORE_CREATE, &st));
    ASSERT_OK(store_begin(st));
    ASSERT_OK(store_meta_set(st, "study_name", "report-test"));
    ASSERT_OK(store_meta_set(st, "config", config_text));
    ASSERT_OK(store_meta_set(st, "created_at", "0.1.0"));
    ASSERT_OK(store_meta_set(st, "budget", "9"));
    ASSERT_OK(store_meta_set(st, "starts", "1"));
    for (int i = 0; i < (int)(sizeof rows / sizeof rows[0]) && taken < n; i++) {
        if (search_done_only && (rows[i].kind != STORE_SEARCH || rows[i].state != STORE_DONE))
            continue;
        add_row(st, &rows[i], t0);
        taken++;
    }
    ASSERT_OK(store_commit(st));
    store_close(&st);
}

void report_study_write(const char *dir)
{
    write_rows(dir, 1 << 20, false);
}

void report_study_write_small(const char *dir, int n_search)
{
    write_rows(dir, n_search, true);
}
