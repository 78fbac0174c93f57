/* Suggestions on the libuv thread pool (suggest.h). */
#include "coordinator/runtime/suggest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/rng.h"
#include "coordinator/search/cfgset.h"
#include "coordinator/search/strategy.h"

#define RANDOM_TRIES 10000

typedef struct {
    space_config_t config;
    bool ok;
    double metric, fidelity;
} obs_t;

struct suggest {
    const config_t *cfg;
    uv_loop_t *loop;
    uv_work_t work;
    bool busy, bo;
    space_t *space;
    rng_t rng;
    strategy_t *strategy;
    /* Every configuration observed or suggested (random mode never repeats one). */
    cfgset_t *seen;
    /* Outcomes reported on the loop thread since the last request started. */
    obs_t *obs;
    size_t nobs, obs_cap;
    /* The running request's inputs and outputs (owned by the work while busy). */
    obs_t *wobs;
    size_t nwobs, wobs_cap;
    space_config_t *pending;
    int npending, pending_cap;
    suggest_item_t items[SUGGEST_MAX_BATCH];
    int nask, nitems, rc;
    char error[512];
    double seconds;
    /* The model of the last Bayesian step, for stopping trials: made by the work (wsnap),
     * the loop thread's once the work is done (snap). */
    strategy_snap_t *wsnap, *snap;
    suggest_done_fn done;
    void *ctx;
};

/* ---- the set of configurations seen ------------------------------------------------------- */

/* Adds c to the configurations seen (nothing when it is there already). */
static int seen_add(suggest_t *s, const space_config_t *c)
{
    int rc = cfgset_add(s->seen, c);

    return rc < 0 ? rc : 0;
}

/* ---- life cycle --------------------------------------------------------------------------- */

int suggest_new(const config_t *cfg, uv_loop_t *loop, suggest_t **out)
{
    suggest_t *s = mem_alloc(1, sizeof *s, "suggester");
    int rc = 0;

    *out = NULL;
    if (!s)
        return ERR_NOMEM;
    s->cfg = cfg;
    s->loop = loop;
    s->work.data = s;
    rng_seed_stream(&s->rng, cfg->seed, 0x5c66e57u);
    s->seen = cfgset_new();
    if (!s->seen) {
        rc = ERR_NOMEM;
        goto out;
    }
    s->space = space_new(&cfg->space);
    if (!s->space) {
        rc = err_code() ? err_code() : ERR_INVAL;
        goto out;
    }
    if (cfg->surrogate != CONFIG_SUR_RANDOM) {
        strategy_opts_t o;
        strategy_opts_default(&o, cfg->shape.hidden, cfg->shape.layers);
        o.space = cfg->space;
        o.shape = cfg->shape;
        o.prefix_bottleneck = cfg->prefix_bottleneck;
        o.seed = cfg->seed;
        o.n_init = cfg->n_init;
        o.model = cfg->surrogate == CONFIG_SUR_MAP ? STRATEGY_MODEL_MAP : STRATEGY_MODEL_SAAS;
        o.objective = cfg->objective == CONFIG_OBJ_HV ? NEHVI_HV : NEHVI_EI;
        o.cost = cfg->cost_log ? STRATEGY_COST_LOG : STRATEGY_COST_LINEAR;
        o.has_ref = cfg->has_ref;
        o.ref_metric = cfg->ref_metric;
        o.ref_cost_percent = cfg->ref_cost;
        o.mc_samples = cfg->mc_samples;
        o.refit_every = cfg->refit_every;
        o.map_restarts = cfg->map_restarts;
        o.fidelity_input = cfg->fidelity == CONFIG_FIDELITY_ASHA && cfg->fidelity_gp;
        s->strategy = strategy_new(&o);
        if (!s->strategy) {
            rc = err_prefix(err_code() ? err_code() : ERR_INVAL, "search strategy: ");
            goto out;
        }
        s->bo = true;
    }
out:
    if (rc != 0)
        suggest_free(&s);
    *out = s;
    return rc;
}

void suggest_free(suggest_t **sp)
{
    suggest_t *s = *sp;

    if (!s)
        return;
    strategy_free(&s->strategy);
    strategy_snap_free(&s->snap);
    strategy_snap_free(&s->wsnap);
    space_free(&s->space);
    cfgset_free(&s->seen);
    free(s->obs);
    free(s->wobs);
    free(s->pending);
    free(s);
    *sp = NULL;
}

bool suggest_is_bo(const suggest_t *s)
{
    return s->bo;
}

bool suggest_busy(const suggest_t *s)
{
    return s->busy;
}

strategy_snap_t *suggest_snap(suggest_t *s)
{
    return s->snap;
}

int suggest_observe(suggest_t *s, const space_config_t *c, bool ok, double metric,
                    double fidelity)
{
    if (s->nobs == s->obs_cap) {
        size_t ncap = s->obs_cap ? 2 * s->obs_cap : 64;
        obs_t *n = mem_realloc(s->obs, ncap, sizeof *n, "outcomes");
        if (!n)
            return ERR_NOMEM;
        s->obs = n;
        s->obs_cap = ncap;
    }
    s->obs[s->nobs++] = (obs_t){*c, ok, metric, fidelity};
    return 0;
}

/* ---- the work ----------------------------------------------------------------------------- */

static int random_one(suggest_t *s, space_config_t *out)
{
    for (int i = 0; i < RANDOM_TRIES; i++) {
        space_sample(s->space, &s->rng, out);
        if (!cfgset_has(s->seen, out))
            return 0;
    }
    return err_set(ERR_NOTFOUND, "no configuration left to try after %d random draws (the "
                   "space is nearly used up)", RANDOM_TRIES);
}

/* On a thread-pool thread: nothing here touches loop state. */
static void work_cb(uv_work_t *w)
{
    suggest_t *s = w->data;
    double t0 = clock_s();
    int rc = 0;

    err_clear();
    for (size_t i = 0; i < s->nwobs && rc == 0; i++) {
        rc = seen_add(s, &s->wobs[i].config);
        if (rc == 0 && s->strategy)
            rc = s->wobs[i].ok ? strategy_observe_at(s->strategy, &s->wobs[i].config,
                                                     s->wobs[i].metric, s->wobs[i].fidelity)
                               : strategy_observe_failure(s->strategy, &s->wobs[i].config);
    }
    for (int i = 0; i < s->npending && rc == 0; i++)
        rc = seen_add(s, &s->pending[i]);
    s->nitems = 0;
    while (rc == 0 && s->nitems < s->nask) {
        suggest_item_t *it = &s->items[s->nitems];
        memset(it, 0, sizeof *it);
        if (s->strategy) {
            strategy_info_t info;
            rc = strategy_suggest(s->strategy, s->pending, s->npending, &it->config, &info);
            it->random = info.random;
            it->acq_value = info.value;
        } else {
            rc = random_one(s, &it->config);
            it->random = true;
        }
        if (rc != 0)
            break;
        if ((rc = seen_add(s, &it->config)) != 0)
            break;
        s->nitems++;
        /* The next one of the batch sees this one as pending. */
        if (s->npending == s->pending_cap) {
            int ncap = s->pending_cap ? 2 * s->pending_cap : 64;
            space_config_t *n = mem_realloc(s->pending, (size_t)ncap, sizeof *n, "pending");
            if (!n) {
                rc = ERR_NOMEM;
                break;
            }
            s->pending = n;
            s->pending_cap = ncap;
        }
        s->pending[s->npending++] = it->config;
    }
    if (s->strategy && s->nitems > 0)
        s->wsnap = strategy_snap(s->strategy);   /* none before the first fit; OOM: none */
    s->rc = rc;
    snprintf(s->error, sizeof s->error, "%s", rc ? err_msg() : "");
    s->seconds = clock_s() - t0;
}

static void after_cb(uv_work_t *w, int status)
{
    suggest_t *s = w->data;

    s->busy = false;
    if (s->wsnap) {
        strategy_snap_free(&s->snap);
        s->snap = s->wsnap;
        s->wsnap = NULL;
    }
    if (status != 0 && s->rc == 0) {
        s->rc = ERR_CANCELLED;
        snprintf(s->error, sizeof s->error, "suggestion cancelled");
    }
    s->done(s->ctx, s->items, s->nitems, s->rc, s->error, s->seconds);
}

int suggest_note(suggest_t *s, const space_config_t *c)
{
    if (s->busy)
        return err_set(ERR_STATE, "suggest_note while a suggestion is computed");
    return seen_add(s, c);
}

int suggest_random_now(suggest_t *s, int n, suggest_item_t *out)
{
    int k = 0, rc = 0;

    if (s->bo || s->busy)
        return err_set(ERR_STATE, "random suggestions now: not in random mode, or busy");
    /* Outcomes only matter for the set of configurations seen. */
    for (size_t i = 0; i < s->nobs && rc == 0; i++)
        rc = seen_add(s, &s->obs[i].config);
    s->nobs = 0;
    while (rc == 0 && k < n) {
        memset(&out[k], 0, sizeof out[k]);
        out[k].random = true;
        if ((rc = random_one(s, &out[k].config)) != 0 || (rc = seen_add(s, &out[k].config)) != 0)
            break;
        k++;
    }
    return k > 0 ? k : rc;
}

int suggest_request(suggest_t *s, int n, const space_config_t *pending, int npending,
                    suggest_done_fn done, void *ctx)
{
    obs_t *tmp;
    size_t tcap;
    int rc;

    if (s->busy)
        return err_set(ERR_STATE, "a suggestion is already being computed");
    if (n < 1 || n > SUGGEST_MAX_BATCH)
        return err_set(ERR_RANGE, "suggestion batch of %d (1..%d)", n, SUGGEST_MAX_BATCH);
    if (npending > s->pending_cap) {
        space_config_t *p = mem_realloc(s->pending, (size_t)npending + 64, sizeof *p, "pending");
        if (!p)
            return ERR_NOMEM;
        s->pending = p;
        s->pending_cap = npending + 64;
    }
    if (npending > 0)
        memcpy(s->pending, pending, (size_t)npending * sizeof *pending);
    s->npending = npending;
    /* Hand the buffered outcomes to the work: swap buffers. */
    tmp = s->wobs;
    tcap = s->wobs_cap;
    s->wobs = s->obs;
    s->wobs_cap = s->obs_cap;
    s->nwobs = s->nobs;
    s->obs = tmp;
    s->obs_cap = tcap;
    s->nobs = 0;
    s->nask = n;
    s->done = done;
    s->ctx = ctx;
    s->busy = true;
    rc = uv_queue_work(s->loop, &s->work, work_cb, after_cb);
    if (rc != 0) {
        s->busy = false;
        return err_set(ERR_INTERNAL, "uv_queue_work: %s", uv_strerror(rc));
    }
    return 0;
}
