/* A study read back from its store for outputs (the HTML report, text summaries): every trial,
 * the points, the Pareto front of the search, the confirmed statistics of each point, how the
 * front dominates each baseline, and the hypervolume's history. Plain structs, read once with a
 * read-only connection to <study>/study.db (store.h has the schema; a version 1 store, which
 * has no kind, label, seed, origin or full_finetune columns, is read with every trial a search
 * trial).
 *
 *   point        a done search or baseline trial: (metric = its objective, cost = its deployed
 *                parameter %)
 *   confirmed    a point's statistics over its own metric and those of its done confirm trials
 *                (kind confirm, origin = the point): n, mean, sample standard deviation (n - 1
 *                in the denominator; 0 when n = 1) and the seeds
 *   front        the search points no other search point dominates (metric up, cost down; one
 *                of equal points), by cost; baselines are not part of it
 *   dominance    for each baseline point, the front point that dominates it (metric >=, cost
 *                <=, one strictly) with the largest metric margin; compared on confirmed means
 *                when both have confirmations, on the single metrics otherwise
 *   reference    the study's reference point when it has one, else the lowest metric and the
 *                highest cost of the points (as report_summary does)
 *
 * Depends only on SQLite, common/, coordinator/search/, the study configuration (config.h) and
 * the store's read-only opener (store.h), so that any output can use it. */
#ifndef AUTOPEFT_STUDY_VIEW_H
#define AUTOPEFT_STUDY_VIEW_H

#include <stdbool.h>
#include <stdint.h>

#include "coordinator/runtime/config.h"

/* Hard caps on what is read from a store: trials (a budget's trials plus baselines and
 * confirmations), and the text of one configuration or error. */
#define STUDY_VIEW_MAX_TRIALS (2 * CONFIG_MAX_BUDGET)
#define STUDY_VIEW_MAX_TEXT 4096

typedef enum { VIEW_SEARCH = 0, VIEW_BASELINE, VIEW_CONFIRM, VIEW_NKINDS } study_view_kind_t;
typedef enum {
    VIEW_QUEUED = 0, VIEW_DISPATCHED, VIEW_DONE, VIEW_FAILED, VIEW_NSTATES
} study_view_state_t;

typedef struct {
    int64_t id;
    char *config;                 /* canonical text */
    study_view_kind_t kind;
    study_view_state_t state;
    char *label;                  /* a baseline's name; NULL otherwise */
    char *worker, *error;         /* NULL when none */
    int attempt;
    bool has_metric;              /* done with an objective */
    double metric, cost;          /* the dev metric; deployed parameter % */
    bool has_seed;                /* false: the study seed (version 1 stores) */
    uint64_t seed;
    int64_t origin;               /* confirm: the trial re-trained; 0 otherwise */
    bool full_finetune;
    int64_t seq;                  /* order counted; 0: not counted */
    double created_at, dispatched_at, finished_at;   /* epoch seconds; 0: not yet */
    double worker_s;              /* the counted result's total_s, else finished - dispatched */
} study_view_trial_t;

typedef struct {
    int trial;                    /* index into trials */
    bool on_front;
    int n;                        /* 1 + done confirmations */
    double mean, std;             /* of the n metrics; std 0 when n == 1 */
    uint64_t *seeds;              /* n seeds: the point's own, then its confirmations' */
    bool seeds_known;             /* every one of the n trials has its seed recorded */
} study_view_point_t;

typedef struct {
    int baseline;                 /* index into points */
    int by;                       /* index into points of the dominating front point; -1: none */
    bool on_means;                /* both confirmed: the margins are between means */
    double d_metric;              /* front metric - baseline metric (>= 0) */
    double d_cost;                /* baseline cost - front cost (>= 0, parameter %) */
    double pooled_std;            /* pooled seed std of the two (on_means), else 0 */
    double d_metric_sd;           /* d_metric / pooled_std; NAN when not on means or std 0 */
} study_view_dominance_t;

/* The hypervolume after each counted search trial (done or failed), in seq order. */
typedef struct {
    int64_t id;
    double worker_s;              /* cumulative worker seconds of search trials up to it */
    double hv;                    /* of the search front so far */
} study_view_hv_t;

typedef struct {
    char name[CONFIG_ID_MAX];
    char created_at[64];          /* meta created_at (the version that created it) */
    int schema_version;           /* 1 or 2 (from the columns) */
    int budget, starts;
    config_t *config;             /* NULL when the stored configuration cannot be read */
    char config_error[512];       /* why, when config is NULL */
    int layers;                   /* from the configuration, else the configurations' masks */

    study_view_trial_t *trials;   /* by id */
    int ntrials;
    int count[VIEW_NKINDS][VIEW_NSTATES];
    double first_dispatch, last_finish, worker_s;    /* worker_s: all trials */

    study_view_point_t *points;   /* done search and baseline trials, by id */
    int npoints;
    int *front;                   /* indices into points, by cost then metric */
    int nfront;
    study_view_dominance_t *dominance;   /* one per baseline point, in points order */
    int ndominance;

    bool ref_from_study;
    double ref_metric, ref_cost;
    double hv_search, hv_baselines;      /* of the front, of the set of baseline points */
    study_view_hv_t *hv;
    int nhv;
} study_view_t;

/* Reads the study in dir. On error err_msg() says why and the view is empty (free it anyway,
 * or not: both are fine). */
int study_view_load(const char *dir, study_view_t *v);
void study_view_free(study_view_t *v);

/* "search", "baseline", "confirm"; "queued", "dispatched", "done", "failed". */
const char *study_view_kind_name(study_view_kind_t k);
const char *study_view_state_name(study_view_state_t s);

/* The trial of a point. */
const study_view_trial_t *study_view_point_trial(const study_view_t *v, int point);

/* Relevance of each dimension of the search space's encoding (space_encode): a GP with the
 * search's MAP fit (gp_map.h, copula output transform) on the done search trials (the latest
 * STUDY_VIEW_MAX_RELEVANCE_FIT of them), and 1 / lengthscale per dimension, scaled so that
 * the largest is 1. rel and ls (may be NULL) get space_dims values; *dims how many; names (may
 * be NULL) gets dims names of name_len bytes each. ERR_STATE (err_msg says why) with fewer than STUDY_VIEW_MIN_RELEVANCE done search
 * trials or without the configuration; ERR_RANGE when the space has more than cap dimensions. */
#define STUDY_VIEW_MIN_RELEVANCE 5
/* At most this many done search trials go into the fit, the latest by id (a fit costs n^3;
 * a 20000-trial study's report took minutes before this cap). */
#define STUDY_VIEW_MAX_RELEVANCE_FIT 512
int study_view_relevance(const study_view_t *v, double *rel, double *ls, char *names,
                         size_t name_len, int cap, int *dims);

#endif
