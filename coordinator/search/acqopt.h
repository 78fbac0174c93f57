/* Maximises an acquisition function over a search space's configurations (mixed binary and
 * ordinal: layer bits and size levels), where gradients do not exist.
 *
 * 1. A pool of candidates: every one-exchange neighbour of the seeds (the current Pareto set,
 *    or the best observed configurations), then `random` uniformly random valid
 *    configurations; all scored in one batch.
 * 2. Local search from the best `starts` of the pool (half of them from the seeds'
 *    neighbourhoods, half from the random candidates, so that both exploitation near the front
 *    and exploration elsewhere get restarts): move to the best one-exchange neighbour while it
 *    improves, up to `max_steps` moves.
 * 3. The best configuration scored anywhere is returned.
 *
 * Never returns a configuration in `exclude` (observed, running or failed trials) or one outside
 * the space; candidates are scored once (a cache). The budget is `max_evals` acquisition values
 * and, optionally, a wall-clock deadline (which makes the result depend on the machine's speed:
 * off by default so that suggestions are reproducible). Ties keep the first found in the order
 * above. */
#ifndef AUTOPEFT_ACQOPT_H
#define AUTOPEFT_ACQOPT_H

#include <stdbool.h>

#include "common/rng.h"
#include "common/space.h"
#include "coordinator/search/cfgset.h"

#define ACQOPT_MAX_EVALS 10000000

/* Scores n configurations into vals. 0 or an ERR_* code (which aborts the search). */
typedef int (*acqopt_fn)(void *ctx, const space_config_t *cfgs, int n, double *vals);

typedef struct {
    int random;        /* random pool candidates; default 500 */
    int starts;        /* local searches; default 10 */
    int max_steps;     /* moves per local search; default 50 */
    int max_evals;     /* acquisition values in all; default 4000 */
    double deadline_s; /* wall-clock seconds for the whole search; 0 = none (default) */
} acqopt_opts_t;

typedef struct {
    double value;      /* acquisition value of the result */
    int evals;         /* acquisition values computed */
    int pool;          /* pool size */
    int starts;        /* local searches run */
    int moves;         /* improving moves taken */
    bool budget_hit;   /* stopped by max_evals or the deadline */
} acqopt_result_t;

void acqopt_opts_default(acqopt_opts_t *o);

/* ERR_NOTFOUND when no configuration outside `exclude` could be found (a small space used up);
 * ERR_INVAL for bad options; the scorer's error otherwise. */
int acqopt_run(const space_t *s, const acqopt_opts_t *o, acqopt_fn fn, void *ctx,
               const space_config_t *seeds, int nseeds, const cfgset_t *exclude, rng_t *rng,
               space_config_t *out, acqopt_result_t *res);

#endif
