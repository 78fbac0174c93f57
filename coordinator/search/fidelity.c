/* Which trials stop early: see fidelity.h. */
#include "coordinator/search/fidelity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mem.h"
#include "coordinator/search/stat.h"

void fidelity_opts_default(fidelity_opts_t *o, int epochs)
{
    o->epochs = epochs;
    o->eta = 3;
    o->min_epochs = 1;
    o->gain_quantile = 0.9;
    o->min_history = 3;
}

int fidelity_check(const fidelity_opts_t *o)
{
    if (o->epochs < 1 || o->epochs > 1000)
        return err_set(ERR_INVAL, "fidelity: %d epochs, expected 1..1000", o->epochs);
    if (o->eta < 2 || o->eta > 100)
        return err_set(ERR_INVAL, "fidelity: eta %d, expected 2..100", o->eta);
    if (o->min_epochs < 1 || o->min_epochs > 1000)
        return err_set(ERR_INVAL, "fidelity: min_epochs %d, expected 1..1000", o->min_epochs);
    if (!(o->gain_quantile >= 0.5 && o->gain_quantile <= 1.0))
        return err_set(ERR_INVAL, "fidelity: gain quantile %g, expected 0.5..1", o->gain_quantile);
    if (o->min_history < 1 || o->min_history > 100000)
        return err_set(ERR_INVAL, "fidelity: min_history %d, expected 1..100000", o->min_history);
    return 0;
}

int fidelity_rungs(const fidelity_opts_t *o, int *rungs, int cap)
{
    int n = 0;

    for (long r = o->min_epochs; r < o->epochs && n < cap && n < FIDELITY_MAX_RUNGS; r *= o->eta)
        rungs[n++] = (int)r;
    return n;
}

int fidelity_rung_index(const fidelity_opts_t *o, int epoch)
{
    int rungs[FIDELITY_MAX_RUNGS], n = fidelity_rungs(o, rungs, FIDELITY_MAX_RUNGS);

    for (int i = 0; i < n; i++)
        if (rungs[i] == epoch)
            return i;
    return -1;
}

bool fidelity_is_rung(const fidelity_opts_t *o, int epoch)
{
    return fidelity_rung_index(o, epoch) >= 0;
}

/* ---- the rank rule -------------------------------------------------------------------------- */

/* a dominates b: objective no lower, cost no higher, one of them strictly. */
static bool dominates(double am, double ac, double bm, double bc)
{
    return am >= bm && ac <= bc && (am > bm || ac < bc);
}

typedef struct {
    double m, c;
    int front;
    double contrib;
    int is_me;
} ranked_t;

static int by_front_then_contribution(const void *a, const void *b)
{
    const ranked_t *x = a, *y = b;

    if (x->front != y->front)
        return x->front < y->front ? -1 : 1;
    if (x->contrib != y->contrib)
        return x->contrib > y->contrib ? -1 : 1;
    return y->is_me - x->is_me;   /* on a full tie the trial in question goes first */
}

static int by_metric(const void *a, const void *b)
{
    const ranked_t *x = *(ranked_t *const *)a, *y = *(ranked_t *const *)b;

    return x->m < y->m ? -1 : x->m > y->m ? 1 : 0;
}

/* Non-dominated sorting (front 0 first), then each point's exclusive hypervolume in its own
 * front, with the reference just beyond the worst objective and cost of all. */
static int sort_fronts(ranked_t *r, int n)
{
    ranked_t **f = mem_alloc((size_t)n, sizeof *f, "fidelity fronts");
    double ref_m = INFINITY, ref_c = -INFINITY;
    int left = n;

    if (!f)
        return ERR_NOMEM;
    for (int i = 0; i < n; i++) {
        r[i].front = -1;
        ref_m = fmin(ref_m, r[i].m);
        ref_c = fmax(ref_c, r[i].c);
    }
    ref_m -= 1e-9 + 0.1 * fabs(ref_m);
    ref_c += 1e-9 + 0.1 * fabs(ref_c);
    for (int k = 0; left > 0; k++) {
        int m = 0;
        for (int i = 0; i < n; i++) {
            bool beaten = false;
            if (r[i].front >= 0)
                continue;
            for (int j = 0; j < n && !beaten; j++)   /* by a point not yet in a front */
                beaten = j != i && r[j].front < 0 && dominates(r[j].m, r[j].c, r[i].m, r[i].c);
            if (!beaten)
                f[m++] = &r[i];
        }
        for (int i = 0; i < m; i++)
            f[i]->front = k;
        /* on a front, higher objective means higher cost: each point owns the box between its
         * neighbours */
        qsort(f, (size_t)m, sizeof *f, by_metric);
        for (int i = 0; i < m; i++) {
            double lo = i > 0 ? f[i - 1]->m : ref_m, hi = i + 1 < m ? f[i + 1]->c : ref_c;
            f[i]->contrib = (f[i]->m - lo) * (hi - f[i]->c);
        }
        left -= m;
    }
    free(f);
    return 0;
}

static int rank_rule(const fidelity_opts_t *o, fidelity_point_t me, const fidelity_point_t *peers,
                     int npeers, fidelity_verdict_t *v)
{
    int n = npeers + 1, rc;
    ranked_t *r;

    v->rule = FIDELITY_RULE_RANK;
    v->kept = (n + o->eta - 1) / o->eta;
    if (n < o->eta) {
        v->go_on = true;
        v->position = 0;
        snprintf(v->why, sizeof v->why, "rank rule: %d of the %d needed at the rung, all go on",
                 n, o->eta);
        return 0;
    }
    r = mem_alloc((size_t)n, sizeof *r, "fidelity ranking");
    if (!r)
        return ERR_NOMEM;
    r[0] = (ranked_t){.m = me.metric, .c = me.cost, .is_me = 1};
    for (int i = 0; i < npeers; i++)
        r[i + 1] = (ranked_t){.m = peers[i].metric, .c = peers[i].cost};
    if ((rc = sort_fronts(r, n)) != 0) {
        free(r);
        return rc;
    }
    qsort(r, (size_t)n, sizeof *r, by_front_then_contribution);
    for (int i = 0; i < n; i++)
        if (r[i].is_me)
            v->position = i;
    free(r);
    v->go_on = v->position < v->kept;
    snprintf(v->why, sizeof v->why, "rank rule: place %d of %d at the rung, the first %d go on",
             v->position + 1, n, v->kept);
    return 0;
}

/* ---- the projection rule ------------------------------------------------------------------- */

static int projection_rule(const fidelity_opts_t *o, fidelity_point_t me,
                           const fidelity_done_t *done, int ndone, fidelity_verdict_t *v)
{
    double *gain = mem_alloc((size_t)ndone, sizeof *gain, "fidelity gains"), g;
    int by = -1;

    if (!gain)
        return ERR_NOMEM;
    for (int i = 0; i < ndone; i++)
        gain[i] = done[i].final - done[i].at_rung;
    g = fmax(0.0, stat_quantile(gain, ndone, o->gain_quantile));
    free(gain);
    v->rule = FIDELITY_RULE_PROJECTION;
    v->projected = me.metric + g;
    for (int i = 0; i < ndone && by < 0; i++)
        if (dominates(done[i].final, done[i].cost, v->projected, me.cost))
            by = i;
    v->go_on = by < 0;
    if (v->go_on)
        snprintf(v->why, sizeof v->why, "projection rule: %.4g + gain %.4g = %.4g at cost %.4g "
                 "is not dominated by the %d finished", me.metric, g, v->projected, me.cost, ndone);
    else
        snprintf(v->why, sizeof v->why, "projection rule: %.4g + gain %.4g = %.4g at cost %.4g "
                 "is dominated by a finished trial's %.4g at cost %.4g", me.metric, g,
                 v->projected, me.cost, done[by].final, done[by].cost);
    return 0;
}

int fidelity_decide(const fidelity_opts_t *o, int epoch, fidelity_point_t me,
                    const fidelity_point_t *peers, int npeers, const fidelity_done_t *done,
                    int ndone, fidelity_verdict_t *v)
{
    int rc;

    *v = (fidelity_verdict_t){.go_on = true};
    if ((rc = fidelity_check(o)) != 0)
        return rc;
    if (!fidelity_is_rung(o, epoch))
        return err_set(ERR_INVAL, "fidelity: epoch %d is not a rung", epoch);
    if (!isfinite(me.metric) || !isfinite(me.cost))
        return err_set(ERR_INVAL, "fidelity: the trial's objective or cost is not finite");
    for (int i = 0; i < npeers; i++)
        if (!isfinite(peers[i].metric) || !isfinite(peers[i].cost))
            return err_set(ERR_INVAL, "fidelity: peer %d's objective or cost is not finite", i);
    for (int i = 0; i < ndone; i++)
        if (!isfinite(done[i].at_rung) || !isfinite(done[i].final) || !isfinite(done[i].cost))
            return err_set(ERR_INVAL, "fidelity: finished trial %d has a value that is not "
                           "finite", i);
    if (ndone >= o->min_history)
        return projection_rule(o, me, done, ndone, v);
    return rank_rule(o, me, peers, npeers, v);
}

bool fidelity_front_bar(const fidelity_point_t *front, int n, double cost, double *bar)
{
    bool any = false;

    for (int i = 0; i < n; i++)
        if (front[i].cost <= cost && (!any || front[i].metric > *bar)) {
            *bar = front[i].metric;
            any = true;
        }
    return any;
}

void fidelity_model_verdict(double chance, double bar, double min_chance, fidelity_verdict_t *v)
{
    memset(v, 0, sizeof *v);
    v->rule = FIDELITY_RULE_MODEL;
    v->chance = chance;
    v->beat = bar;
    v->go_on = chance >= min_chance;
    snprintf(v->why, sizeof v->why, "model rule: chance %.3g of ending above %.4g, the front at "
             "its cost (%s %.3g)", chance, bar, v->go_on ? "at least" : "below", min_chance);
}
