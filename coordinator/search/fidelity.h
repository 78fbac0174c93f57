/* Multi-fidelity search: which trials stop early (docs/search.md, "Multi-fidelity").
 *
 * A trial trains to the recipe's E epochs unless it is stopped at a rung. Rungs are the epochs
 * r_k = min_epochs * eta^k below E (E = 9, eta 3, min 1: rungs 1 and 3; E = 3: rung 1). When a
 * trial's dev objective at a rung is known, fidelity_decide says whether it goes on, by one of
 * two rules:
 *
 *   rank        while fewer than min_history trials have trained to the end: MO-ASHA's
 *               promotion (Schmucker et al. 2021). Among the trials that reached this rung,
 *               itself included, non-dominated sorting on (objective at the rung, -cost), ties
 *               inside a front broken by the point's own hypervolume contribution; the trial
 *               goes on when it is among the first ceil(n / eta) (with fewer than eta at the
 *               rung, every trial goes on).
 *   projection  afterwards: its objective at the rung plus an optimistic gain (the
 *               gain_quantile-th quantile of the gains from this rung to the final objective
 *               over the trials that finished) at its exact cost, which is known before training
 *               and never needs predicting. It goes on unless a finished trial's final point
 *               dominates that projection: stopping means that even with a gain better than most
 *               seen, it would not reach the front of what is known.
 *
 * The cost is the search's cost objective (parameter %); smaller is better. Pure: no I/O. */
#ifndef AUTOPEFT_FIDELITY_H
#define AUTOPEFT_FIDELITY_H

#include <stdbool.h>

#define FIDELITY_MAX_RUNGS 32

typedef struct {
    int epochs;              /* the recipe's: full fidelity, 1..1000 */
    int eta;                 /* reduction factor, 2..100 (3) */
    int min_epochs;          /* the first rung, >= 1 (1) */
    double gain_quantile;    /* of the gains, in [0.5, 1] (0.9) */
    int min_history;         /* finished trials before the projection rule applies, >= 1 (3) */
} fidelity_opts_t;

/* A trial at a rung: its objective there, and its exact cost. */
typedef struct {
    double metric;
    double cost;
} fidelity_point_t;

/* A trial that trained to the end: its objective at the rung in question, its final objective
 * (the best over its epochs, as its result reports), its cost. */
typedef struct {
    double at_rung;
    double final;
    double cost;
} fidelity_done_t;

typedef enum {
    FIDELITY_RULE_RANK = 1,
    FIDELITY_RULE_PROJECTION = 2,
    FIDELITY_RULE_MODEL = 3
} fidelity_rule_t;

typedef struct {
    bool go_on;
    fidelity_rule_t rule;
    double projected;        /* projection rule: the optimistic final objective */
    double chance, beat;     /* model rule: the chance of ending above beat */
    int position, kept;      /* rank rule: 0-based place among the rung's, how many go on */
    char why[200];           /* one line for the log and the store */
} fidelity_verdict_t;

/* eta 3, min_epochs 1, gain quantile 0.9, min_history 3, for `epochs`. */
void fidelity_opts_default(fidelity_opts_t *o, int epochs);
/* ERR_INVAL naming the field out of range. */
int fidelity_check(const fidelity_opts_t *o);
/* The rungs in increasing order into rungs (at most cap); returns how many (0 when E is at or
 * below the first rung: nothing can stop). */
int fidelity_rungs(const fidelity_opts_t *o, int *rungs, int cap);
/* The index of rung `epoch` in fidelity_rungs' order, or -1 when it is none. */
int fidelity_rung_index(const fidelity_opts_t *o, int epoch);
bool fidelity_is_rung(const fidelity_opts_t *o, int epoch);

/* The decision for `me` at rung `epoch`: peers are the other trials that reached the rung
 * (their objective there), done the trials that finished. ERR_INVAL when epoch is not a rung or
 * a value is not finite; ERR_NOMEM. */
int fidelity_decide(const fidelity_opts_t *o, int epoch, fidelity_point_t me,
                    const fidelity_point_t *peers, int npeers, const fidelity_done_t *done,
                    int ndone, fidelity_verdict_t *v);

/* The model rule's bar for a trial of cost `cost`: the best objective of the finished trials
 * (front) that cost no more, which its final objective must pass to add hypervolume; false when
 * none does (anything it ends with is on the front). */
bool fidelity_front_bar(const fidelity_point_t *front, int n, double cost, double *bar);
/* The model rule's verdict (docs/search.md): go on when the model's chance that the trial ends
 * above bar is at least min_chance. */
void fidelity_model_verdict(double chance, double bar, double min_chance, fidelity_verdict_t *v);

#endif
