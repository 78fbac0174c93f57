/* The search strategy of a study: takes trial results, returns the next configuration to try.
 *
 * Configurations from a seeded random sequence (uniform over the valid space) until `n_init`
 * trials have finished, then Bayesian optimisation: a GP on the task metric (MAP or SAAS hyperparameters, gp_map.h /
 * saas.h), noisy expected hypervolume improvement over (metric, -cost) with the running trials
 * as pending points (nehvi.h), maximised over the space by local search (acqopt.h). The cost is
 * the configuration's exact deployed parameter percentage (space_config_count), not modelled.
 * Single-objective studies use noisy expected improvement of the metric instead.
 *
 * Pure and reproducible: a suggestion is a function of the history (the observations and
 * failures in the order they were reported), the set of pending configurations and the seed.
 * Rebuilding a study after a restart is creating the strategy with the same options and
 * reporting the stored history in its order; the next suggestion is then the one the original
 * process would have made. Hyperparameters are refitted every `refit_every` observations on
 * exactly the first multiple-of-refit_every observations (all of them below refit_every), so the
 * cache of fitted hyperparameters never changes a result, only saves time.
 *
 * Failed trials are remembered: neither they nor observed or pending configurations are ever
 * suggested again; they carry no metric and do not enter the GP.
 *
 * Multi-fidelity (fidelity_input): the GP's inputs are the configuration's encoding and the
 * fraction of the recipe's epochs its metric is of, so that trials stopped early and the rung
 * values of those that went on inform the model of the final metric; suggestions, the baseline
 * and the pending points are all at fidelity 1.
 *
 * Not thread-safe: use one strategy from one thread at a time (the coordinator runs its BO step
 * on a worker thread); strategies share nothing, so several may run in parallel. */
#ifndef AUTOPEFT_STRATEGY_H
#define AUTOPEFT_STRATEGY_H

#include <stdbool.h>
#include <stdint.h>

#include "common/shape.h"
#include "common/space.h"
#include "coordinator/search/acqopt.h"
#include "coordinator/search/gp.h"
#include "coordinator/search/nehvi.h"
#include "coordinator/search/nuts.h"

typedef enum { STRATEGY_MODEL_MAP = 0, STRATEGY_MODEL_SAAS } strategy_model_t;
/* The second objective: -parameter % (AutoPEFT's) or -log10(parameter %), which weighs the
 * small-model end of the front more in the hypervolume. */
typedef enum { STRATEGY_COST_LINEAR = 0, STRATEGY_COST_LOG } strategy_cost_t;

typedef struct {
    space_opts_t space;
    shape_t shape;              /* the model whose parameters the cost counts */
    int prefix_bottleneck;      /* SPACE_PREFIX_BOTTLENECK */
    uint64_t seed;
    int n_init;                 /* finished trials before BO starts; default 10 */
    strategy_model_t model;     /* default MAP (docs/search.md: better and faster in the
                                 * benchmark); SAAS is AutoPEFT's */
    gp_transform_t transform;   /* default copula */
    nehvi_mode_t objective;     /* NEHVI_HV: (metric, cost); NEHVI_EI: metric only */
    strategy_cost_t cost;       /* default linear */
    bool has_ref;               /* user reference point; else the rule in docs/search.md */
    double ref_metric, ref_cost_percent;
    int mc_samples;             /* QMC draws per GP component; 0 (default): 128 for MAP, 32 for
                                 * SAAS (times its 16 kept draws: 512) */
    int refit_every;            /* observations between hyperparameter fits; default 1 */
    int map_restarts;           /* MAP L-BFGS starts; default 3 */
    nuts_opts_t nuts;           /* SAAS sampler; AutoPEFT's settings by default */
    acqopt_opts_t acq;          /* acquisition optimiser budget */
    bool fidelity_input;        /* the GP takes the fraction of the recipe's epochs trained as
                                 * one more input (multi-fidelity, docs/search.md); off: every
                                 * observation is of full fidelity */
} strategy_opts_t;

typedef struct {
    bool random;          /* from the initial design (or too few results for a GP) */
    double value;         /* acquisition value of the suggestion */
    double fit_s, acq_s;  /* seconds fitting hyperparameters (0 when cached) and optimising */
    bool refit;           /* this call fitted hyperparameters */
    int fit_n;            /* observations the hyperparameters were fitted on */
    int components;       /* GP components (1 for MAP, the kept draws for SAAS) */
    int baseline;         /* baseline points the acquisition kept (first component) */
    int evals;            /* acquisition values computed */
    double ref[2];        /* reference point used: metric, second objective */
    nuts_stats_t nuts;    /* the SAAS sampler's statistics when refit */
} strategy_info_t;

typedef struct strategy strategy_t;

void strategy_opts_default(strategy_opts_t *o, int hidden, int layers);
const char *strategy_model_name(strategy_model_t m);
/* The QMC draws per GP component that the options give (resolving 0). */
int strategy_mc_samples(const strategy_opts_t *o);

/* NULL with err_set naming the bad option. */
strategy_t *strategy_new(const strategy_opts_t *o);
void strategy_free(strategy_t **sp);

const space_t *strategy_space(const strategy_t *s);
int strategy_observed(const strategy_t *s);   /* observations: the GP's rows */
int strategy_failed(const strategy_t *s);

/* Exact parameter % of a configuration on the strategy's model shape. */
int strategy_cost_percent(const strategy_t *s, const space_config_t *c, double *percent);

/* A trial's result: its configuration (must belong to the space) and finite metric (higher is
 * better). ERR_INVAL naming what is wrong; ERR_RANGE past GP_MAX_POINTS observations. */
int strategy_observe(strategy_t *s, const space_config_t *c, double metric);
/* A point of a trial's learning curve: its metric after the fraction `fidelity` in (0, 1] of
 * the recipe's epochs (fidelity < 1 needs fidelity_input). Every observation is a row of the
 * GP; a configuration may have several (its rungs, then its last epoch). The configuration
 * counts as observed from its first: it is never suggested again, and it is a point of the
 * acquisition's baseline at full fidelity, where the GP predicts it. Its metric at its highest
 * fidelity is what the reference point and the optimiser's seeds see, and only configurations
 * observed at full fidelity are looked at there while any is. */
int strategy_observe_at(strategy_t *s, const space_config_t *c, double metric, double fidelity);
/* A trial that failed: remembered, never suggested again. */
int strategy_observe_failure(strategy_t *s, const space_config_t *c);

/* The next configuration, given the configurations still running (any order; they are pending
 * points). ERR_INVAL when a pending configuration is not in the space, ERR_NOTFOUND when the
 * space is used up. info may be NULL. */
int strategy_suggest(strategy_t *s, const space_config_t *pending, int npending,
                     space_config_t *out, strategy_info_t *info);

/* ---- the model, for stopping trials (multi-fidelity) -------------------------------------------
 * A copy of the GP that the last Bayesian step used (its rows, targets and hyperparameters), to
 * be used on another thread than the strategy's. */
typedef struct strategy_snap strategy_snap_t;

/* NULL when no model has been fitted yet (before the first Bayesian step) or without
 * fidelity_input; ERR_NOMEM (NULL, error set) when out of memory. */
strategy_snap_t *strategy_snap(const strategy_t *s);
void strategy_snap_free(strategy_snap_t **mp);
int strategy_snap_rows(const strategy_snap_t *m);

/* The probability that configuration c, whose metric after the fraction `fidelity` of the
 * recipe is `metric`, ends the recipe with a metric above `beat`: the GP conditioned on that
 * point as one more row, at c and fidelity 1, the final observation's noise included. */
int strategy_snap_chance(strategy_snap_t *m, const space_config_t *c, double metric,
                         double fidelity, double beat, double *p);

#endif
