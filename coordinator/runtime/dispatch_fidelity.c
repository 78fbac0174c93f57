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
    fidelity_point_t *peers;
    fidelity_done_t *done;
    int npeers, ndone;
} gather_t;

/* Search trials only: the peers at rung k, and those that trained to the end. */
static void gather_one(void *ctx, study_trial_t *t)
{
    gather_t *g = ctx;

    if (t == g->me || t->kind != STORE_SEARCH || !(t->rung_known & (1u << g->k)))
        return;
    g->peers[g->npeers++] = (fidelity_point_t){t->rung_metric[g->k], t->cost};
    if (t->state == STORE_DONE && !t->stopped && t->has_objective)
        g->done[g->ndone++] = (fidelity_done_t){t->rung_metric[g->k], t->objective, t->cost};
}

static int decide(disp_t *d, const fidelity_opts_t *o, study_trial_t *t, int k,
                  fidelity_verdict_t *v)
{
    study_counts_t n;
    gather_t g = {.me = t, .k = k};
    int rungs[FIDELITY_MAX_RUNGS], rc;

    study_counts(d->study, &n);
    g.peers = mem_alloc((size_t)n.created + 1, sizeof *g.peers, "fidelity peers");
    g.done = mem_alloc((size_t)n.created + 1, sizeof *g.done, "fidelity history");
    if (!g.peers || !g.done) {
        free(g.peers);
        free(g.done);
        return ERR_NOMEM;
    }
    study_each(d->study, gather_one, &g);
    fidelity_rungs(o, rungs, FIDELITY_MAX_RUNGS);
    rc = fidelity_decide(o, rungs[k], (fidelity_point_t){t->rung_metric[k], t->cost}, g.peers,
                         g.npeers, g.done, g.ndone, v);
    free(g.peers);
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

void disp__fidelity_result(disp_t *d, study_trial_t *t, const Autopeft__Result *r)
{
    fidelity_opts_t o;

    if (d->cfg->fidelity != CONFIG_FIDELITY_ASHA || !t || t->kind != STORE_SEARCH)
        return;
    fidelity_opts(d, &o);
    note_curve(&o, t, r->history, r->n_history);
}
