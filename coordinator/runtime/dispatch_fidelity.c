/* Multi-fidelity search in the dispatcher (`[search] fidelity = asha`, docs/search.md): each
 * search trial's objective at the rungs, from its PROGRESS curve and its RESULT history, and at
 * each rung it reaches fidelity_decide's verdict; a stop is a CANCEL with stop set, answered by a
 * STOPPED result (counted done, with the objective of the epochs it ran). Baselines and
 * confirmations always train to the end. */
#include <inttypes.h>
#include <stdlib.h>

#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "coordinator/runtime/dispatch_int.h"

static void fidelity_opts(const disp_t *d, fidelity_opts_t *o)
{
    fidelity_opts_default(o, d->cfg->epochs);
    o->eta = d->cfg->fidelity_eta;
    o->min_epochs = d->cfg->fidelity_min_epochs;
    if (o->min_epochs == 0)   /* one rung at E / eta: the first epochs rank too noisily */
        o->min_epochs = o->epochs / o->eta > 1 ? o->epochs / o->eta : 1;
    if (!d->cfg->fidelity_projection)
        o->min_history = 100000;   /* never: the rank rule decides every rung */
}

/* Records the objective of each rung epoch of a stored curve on t. */
static void note_points(const fidelity_opts_t *o, study_trial_t *t, const store_point_t *pts,
                        int n)
{
    for (int i = 0; i < n; i++) {
        int k = fidelity_rung_index(o, pts[i].epoch);
        if (k < 0)
            continue;
        t->rung_metric[k] = pts[i].objective;
        t->rung_known |= 1u << k;
    }
}

/* The counted result's curve of trial id: *pts malloc'd (E points at most), *n of them. */
static int load_curve(disp_t *d, uint64_t id, store_point_t **pts, int *n)
{
    int cap = d->cfg->epochs + 1;

    *n = 0;
    if (!(*pts = mem_alloc((size_t)cap, sizeof **pts, "learning curve")))
        return ERR_NOMEM;
    return store_curve(d->store, id, *pts, cap, n);
}

/* Records the objective of each rung epoch of a curve on t. */
static void note_curve(const fidelity_opts_t *o, study_trial_t *t,
                       Autopeft__EpochRecord *const *curve, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int k = curve[i]->has_objective ? fidelity_rung_index(o, (int)curve[i]->epoch) : -1;
        if (k < 0)
            continue;
        t->rung_metric[k] = curve[i]->objective;
        t->rung_known |= 1u << k;
    }
}

typedef struct {
    const study_trial_t *me;
    int k;
    fidelity_point_t *peers, *front;
    fidelity_done_t *done;
    int npeers, ndone, nfront;
} gather_t;

/* Search trials only: every one counted (the front they make, stopped ones included: their
 * models are real), the peers at rung k, and those that trained to the end. */
static void gather_one(void *ctx, study_trial_t *t)
{
    gather_t *g = ctx;

    if (t == g->me || t->kind != STORE_SEARCH)
        return;
    if (t->state == STORE_DONE && t->has_objective)
        g->front[g->nfront++] = (fidelity_point_t){t->objective, t->cost};
    if (!(t->rung_known & (1u << g->k)))
        return;
    g->peers[g->npeers++] = (fidelity_point_t){t->rung_metric[g->k], t->cost};
    if (t->state == STORE_DONE && !t->stopped && t->has_objective)
        g->done[g->ndone++] = (fidelity_done_t){t->rung_metric[g->k], t->objective, t->cost};
}

/* The model rule (fidelity_gp, once the GP is fitted): the chance that the trial ends above the
 * front at its cost. */
static int model_rule(disp_t *d, const fidelity_opts_t *o, const study_trial_t *t, int epoch,
                      double metric, const gather_t *g, fidelity_verdict_t *v)
{
    double bar = 0, chance = 1;
    int rc;

    if (fidelity_front_bar(g->front, g->nfront, t->cost, &bar) &&
        (rc = strategy_snap_chance(suggest_snap(d->sugg), &t->config, metric,
                                   (double)epoch / o->epochs, bar, &chance)) != 0)
        return rc;
    fidelity_model_verdict(chance, bar, d->cfg->fidelity_chance, v);
    return 0;
}

static int decide(disp_t *d, const fidelity_opts_t *o, study_trial_t *t, int k,
                  fidelity_verdict_t *v)
{
    study_counts_t n;
    gather_t g = {.me = t, .k = k};
    int rungs[FIDELITY_MAX_RUNGS], rc;

    study_counts(d->study, &n);
    g.peers = mem_alloc((size_t)n.created + 1, sizeof *g.peers, "fidelity peers");
    g.front = mem_alloc((size_t)n.created + 1, sizeof *g.front, "fidelity front");
    g.done = mem_alloc((size_t)n.created + 1, sizeof *g.done, "fidelity history");
    if (!g.peers || !g.front || !g.done) {
        rc = ERR_NOMEM;
        goto out;
    }
    study_each(d->study, gather_one, &g);
    fidelity_rungs(o, rungs, FIDELITY_MAX_RUNGS);
    if (d->cfg->fidelity_gp && suggest_snap(d->sugg))
        rc = model_rule(d, o, t, rungs[k], t->rung_metric[k], &g, v);
    else
        rc = fidelity_decide(o, rungs[k], (fidelity_point_t){t->rung_metric[k], t->cost},
                             g.peers, g.npeers, g.done, g.ndone, v);
out:
    free(g.peers);
    free(g.front);
    free(g.done);
    return rc;
}

void disp__fidelity_progress(disp_t *d, reg_worker_t *w, study_trial_t *t,
                             const Autopeft__Progress *p)
{
    fidelity_opts_t o;

    if (d->cfg->fidelity != CONFIG_FIDELITY_ASHA || t->kind != STORE_SEARCH || t->cancel_sent)
        return;
    fidelity_opts(d, &o);
    note_curve(&o, t, p->curve, p->n_curve);
    for (int k = 0; k < FIDELITY_MAX_RUNGS; k++) {
        fidelity_verdict_t v;
        int rc;

        if (!(t->rung_known & ~t->rung_decided & (1u << k)))
            continue;
        t->rung_decided |= 1u << k;
        if ((rc = decide(d, &o, t, k, &v)) != 0) {
            log_warn("trial %" PRIu64 ": no fidelity decision (%s); it goes on", t->id, err_msg());
            continue;
        }
        log_debug("trial %" PRIu64 " at its rung %d: %s", t->id, k, v.why);
        if (v.go_on)
            continue;
        log_info("trial %" PRIu64 " stopped at rung %d (%s)", t->id, k, v.why);
        t->cancel_sent = true;
        disp__send_cancel(d, w, t->id, t->attempt, v.why, true);
        return;
    }
}

bool disp__fidelity_observe(disp_t *d, const study_trial_t *t)
{
    fidelity_opts_t o;
    store_point_t *pts = NULL;
    int n, last, rc;
    bool told = false;

    if (d->cfg->fidelity != CONFIG_FIDELITY_ASHA || !d->cfg->fidelity_gp ||
        t->kind != STORE_SEARCH)
        return false;
    fidelity_opts(d, &o);
    if ((rc = load_curve(d, t->id, &pts, &n)) != 0) {
        log_warn("trial %" PRIu64 ": its learning curve is unreadable (%s); the search learns "
                 "only its final objective", t->id, err_msg());
        n = 0;
    }
    /* A stopped trial's objective is of its last epoch's fidelity; without a curve that is
     * unknown and the trial is told as a failure (never suggested again). */
    last = t->stopped ? (n > 0 ? pts[n - 1].epoch : 0) : o.epochs;
    if (last > 0 && last <= o.epochs) {
        told = true;
        for (int i = 0; i < n && rc == 0; i++)
            if (pts[i].epoch < last && fidelity_is_rung(&o, pts[i].epoch))
                rc = suggest_observe(d->sugg, &t->config, true, pts[i].objective,
                                     (double)pts[i].epoch / o.epochs);
        if (rc == 0)
            rc = suggest_observe(d->sugg, &t->config, true, t->objective,
                                 (double)last / o.epochs);
        if (rc != 0)
            log_error("suggester: %s", err_msg());
    }
    free(pts);
    return told;
}

typedef struct {
    disp_t *d;
    fidelity_opts_t o;
    int known;    /* trials with a rung value */
} load_t;

static void load_one(void *ctx, study_trial_t *t)
{
    load_t *l = ctx;
    store_point_t *pts;
    int n;

    if (t->kind != STORE_SEARCH || t->state != STORE_DONE)
        return;
    if (load_curve(l->d, t->id, &pts, &n) != 0)
        log_warn("trial %" PRIu64 ": its learning curve is unreadable (%s); its rung values are "
                 "unknown", t->id, err_msg());
    else
        note_points(&l->o, t, pts, n);
    l->known += t->rung_known != 0;
    free(pts);
}

void disp__fidelity_load(disp_t *d)
{
    load_t l = {.d = d};

    if (d->cfg->fidelity != CONFIG_FIDELITY_ASHA)
        return;
    fidelity_opts(d, &l.o);
    study_each(d->study, load_one, &l);
    if (l.known > 0)
        log_info("multi-fidelity: rung values of %d finished search trials read from their "
                 "learning curves", l.known);
}

void disp__fidelity_result(disp_t *d, study_trial_t *t, const Autopeft__Result *r)
{
    fidelity_opts_t o;

    if (d->cfg->fidelity != CONFIG_FIDELITY_ASHA || !t || t->kind != STORE_SEARCH)
        return;
    fidelity_opts(d, &o);
    note_curve(&o, t, r->history, r->n_history);
}
