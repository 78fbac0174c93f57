/* Search strategy: see strategy.h. */
#include "coordinator/search/strategy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/mem.h"
#include "coordinator/search/gp_map.h"
#include "coordinator/search/pareto.h"
#include "coordinator/search/saas.h"
#include "coordinator/search/stat.h"

/* Streams of the study seed: one per kind of random choice, so that they never interact. */
enum { STREAM_INIT = 1, STREAM_MAP = 2, STREAM_SAAS = 3, STREAM_ACQ = 4 };

struct strategy {
    strategy_opts_t o;
    space_t *space;
    int d;                  /* the space's encoding */
    int D;                  /* the GP's inputs: d, and the fidelity when it is one */
    /* History: the GP's rows (a configuration at a fidelity, its metric) in the order they
     * were reported, and the configurations observed, each with the row of its highest
     * fidelity (cfgset value). */
    space_config_t *obs;
    double *metric, *fid;
    int nobs, cap;
    int nfailed;
    cfgset_t *done, *failed;
    /* Bounds of the second objective over the space (cost scale), for the reference point. */
    double cost_lo, cost_hi;
    /* The seeded initial design, extended on demand. */
    space_config_t *init;
    int ninit, init_cap;
    rng_t init_rng;
    /* Cached hyperparameters: fitted on the first fit_n observations. */
    gp_t *gp;
    int fit_n, fit_ncomp;
    double *fit_theta;
};

void strategy_opts_default(strategy_opts_t *o, int hidden, int layers)
{
    memset(o, 0, sizeof *o);
    space_opts_default(&o->space, hidden, layers);
    shape_default(&o->shape, hidden, layers);
    o->prefix_bottleneck = SPACE_PREFIX_BOTTLENECK;
    o->seed = 0;
    o->n_init = 10;
    o->model = STRATEGY_MODEL_MAP;
    o->transform = GP_TRANSFORM_COPULA;
    o->objective = NEHVI_HV;
    o->cost = STRATEGY_COST_LINEAR;
    o->mc_samples = 0;
    o->refit_every = 1;
    o->map_restarts = 3;
    nuts_opts_default(&o->nuts);
    acqopt_opts_default(&o->acq);
}

int strategy_mc_samples(const strategy_opts_t *o)
{
    if (o->mc_samples > 0)
        return o->mc_samples;
    /* SAAS averages over its kept draws, each with its own QMC draws: 32 each (512 in all for
     * AutoPEFT's 16) cost less than 128 each and estimate the mixture as well as MAP's 128. */
    return o->model == STRATEGY_MODEL_SAAS ? 32 : 128;
}

const char *strategy_model_name(strategy_model_t m)
{
    return m == STRATEGY_MODEL_SAAS ? "saas" : "map";
}

void strategy_free(strategy_t **sp)
{
    strategy_t *s = sp ? *sp : NULL;

    if (!s)
        return;
    space_free(&s->space);
    free(s->obs);
    free(s->metric);
    free(s->fid);
    cfgset_free(&s->done);
    cfgset_free(&s->failed);
    free(s->init);
    gp_free(&s->gp);
    free(s->fit_theta);
    free(s);
    *sp = NULL;
}

const space_t *strategy_space(const strategy_t *s) { return s->space; }
int strategy_observed(const strategy_t *s) { return s->nobs; }
int strategy_failed(const strategy_t *s) { return s->nfailed; }

int strategy_cost_percent(const strategy_t *s, const space_config_t *c, double *percent)
{
    space_counts_t counts;
    int rc = space_config_count(c, &s->o.shape, s->o.prefix_bottleneck, &counts);

    if (rc)
        return rc;
    *percent = counts.percent;
    return 0;
}

/* The second objective (maximised) of a parameter percentage: -cost on the chosen scale. */
static double cost_objective(const strategy_t *s, double pct)
{
    return s->o.cost == STRATEGY_COST_LOG ? -log10(pct) : -pct;
}

/* The second objective of a configuration. */
static int objective2(const strategy_t *s, const space_config_t *c, double *v)
{
    double pct;
    int rc = strategy_cost_percent(s, c, &pct);

    if (rc)
        return rc;
    if (!(pct > 0.0))
        return err_set(ERR_INTERNAL, "configuration with %g%% parameters", pct);
    *v = cost_objective(s, pct);
    return 0;
}

static int check_opts(const strategy_opts_t *o)
{
    if (o->n_init < 0 || o->n_init > GP_MAX_POINTS)
        return err_set(ERR_INVAL, "strategy: n_init %d (expected 0..%d)", o->n_init,
                       GP_MAX_POINTS);
    if (o->model != STRATEGY_MODEL_MAP && o->model != STRATEGY_MODEL_SAAS)
        return err_set(ERR_INVAL, "strategy: unknown model %d", (int)o->model);
    if (o->objective != NEHVI_HV && o->objective != NEHVI_EI)
        return err_set(ERR_INVAL, "strategy: unknown objective %d", (int)o->objective);
    if (o->cost != STRATEGY_COST_LINEAR && o->cost != STRATEGY_COST_LOG)
        return err_set(ERR_INVAL, "strategy: unknown cost scale %d", (int)o->cost);
    if (o->mc_samples < 0 || o->mc_samples > NEHVI_MAX_SAMPLES)
        return err_set(ERR_INVAL, "strategy: mc_samples %d (expected 0 for automatic, or 1..%d)",
                       o->mc_samples, NEHVI_MAX_SAMPLES);
    if (o->refit_every < 1 || o->refit_every > GP_MAX_POINTS)
        return err_set(ERR_INVAL, "strategy: refit_every %d (expected 1..%d)", o->refit_every,
                       GP_MAX_POINTS);
    if (o->map_restarts < 1 || o->map_restarts > 1000)
        return err_set(ERR_INVAL, "strategy: map_restarts %d (expected 1..1000)",
                       o->map_restarts);
    if (o->has_ref && (!isfinite(o->ref_metric) || !(o->ref_cost_percent > 0.0) ||
                       !isfinite(o->ref_cost_percent)))
        return err_set(ERR_INVAL, "strategy: reference point (%g, %g%%) must be finite with a "
                                  "positive cost", o->ref_metric, o->ref_cost_percent);
    if (o->model == STRATEGY_MODEL_SAAS && nuts_kept(&o->nuts) < 1)
        return err_set(ERR_INVAL, "strategy: the SAAS sampler keeps no draws (samples %d, thin %d)",
                       o->nuts.samples, o->nuts.thin);
    return 0;
}

strategy_t *strategy_new(const strategy_opts_t *o)
{
    strategy_t *s;
    space_config_t lo, hi;
    int rc;

    if (check_opts(o) != 0)
        return NULL;
    s = mem_alloc(1, sizeof *s, "strategy");
    if (!s)
        return NULL;
    s->o = *o;
    s->space = space_new(&o->space);
    if (!s->space) {
        err_prefix(err_code(), "strategy: ");
        goto fail;
    }
    s->d = space_dims(s->space);
    s->D = s->d + (o->fidelity_input ? 1 : 0);
    rc = space_extremes(s->space, &o->shape, o->prefix_bottleneck, &lo, &hi);
    if (rc) {
        err_prefix(rc, "strategy: ");
        goto fail;
    }
    if (objective2(s, &hi, &s->cost_lo) != 0 || objective2(s, &lo, &s->cost_hi) != 0)
        goto fail;
    s->done = cfgset_new();
    s->failed = cfgset_new();
    s->gp = gp_new(s->D, o->transform);
    if (!s->done || !s->failed || !s->gp)
        goto fail;
    rng_seed_stream(&s->init_rng, o->seed, STREAM_INIT);
    return s;
fail:
    strategy_free(&s);
    return NULL;
}

static int check_config(const strategy_t *s, const space_config_t *c, const char *what)
{
    int rc = space_check(s->space, c);

    return rc ? err_prefix(rc, "%s: ", what) : 0;
}

static int grow_history(strategy_t *s)
{
    int cap = s->cap ? 2 * s->cap : 64;
    space_config_t *obs = mem_realloc(s->obs, (size_t)cap, sizeof *obs, "history");
    double *m;

    if (!obs)
        return ERR_NOMEM;
    s->obs = obs;
    if (!(m = mem_realloc(s->metric, (size_t)cap, sizeof *m, "history")))
        return ERR_NOMEM;
    s->metric = m;
    if (!(m = mem_realloc(s->fid, (size_t)cap, sizeof *m, "history")))
        return ERR_NOMEM;
    s->fid = m;
    s->cap = cap;
    return 0;
}

int strategy_observe_at(strategy_t *s, const space_config_t *c, double metric, double fidelity)
{
    int rc = check_config(s, c, "observation");
    double row;

    if (rc)
        return rc;
    if (!isfinite(metric))
        return err_set(ERR_INVAL, "observation: metric %g is not finite", metric);
    if (!(fidelity > 0.0 && fidelity <= 1.0))
        return err_set(ERR_INVAL, "observation: fidelity %g (expected (0, 1])", fidelity);
    if (fidelity < 1.0 && !s->o.fidelity_input)
        return err_set(ERR_INVAL, "observation at fidelity %g: the strategy models full "
                       "fidelity only (fidelity_input is off)", fidelity);
    if (s->nobs >= GP_MAX_POINTS)
        return err_set(ERR_RANGE, "strategy: more than %d observations", GP_MAX_POINTS);
    if (s->nobs == s->cap && (rc = grow_history(s)) != 0)
        return rc;
    /* A configuration's representative is its row of the highest fidelity, the latest of
     * equals. */
    if (!cfgset_get(s->done, c, &row) || s->fid[(int)row] <= fidelity)
        if ((rc = cfgset_put(s->done, c, s->nobs)) < 0)
            return rc;
    s->obs[s->nobs] = *c;
    space_config_canonicalise(&s->obs[s->nobs]);
    s->fid[s->nobs] = fidelity;
    s->metric[s->nobs++] = metric;
    return 0;
}

int strategy_observe(strategy_t *s, const space_config_t *c, double metric)
{
    return strategy_observe_at(s, c, metric, 1.0);
}

int strategy_observe_failure(strategy_t *s, const space_config_t *c)
{
    int rc = check_config(s, c, "failed trial");

    if (rc)
        return rc;
    rc = cfgset_add(s->failed, c);
    if (rc < 0)
        return rc;
    s->nfailed++;
    return 0;
}

/* ---- initial design ---------------------------------------------------------------------------- */

/* The first configuration of the seeded sequence that is not excluded. */
static int next_initial(strategy_t *s, const cfgset_t *exclude, space_config_t *out)
{
    /* Everything excluded is at most nobs + nfailed + npending configurations: scanning that
     * many plus a margin of fresh draws finds a new one unless the space is nearly used up. */
    int limit = cfgset_count(exclude) + 1000;

    for (int i = 0; i < limit; i++) {
        if (i == s->ninit) {
            if (mem_grow(&s->init, &s->init_cap, s->ninit, sizeof *s->init, 64,
                         "initial design") != 0)
                return ERR_NOMEM;
            space_sample(s->space, &s->init_rng, &s->init[s->ninit++]);
        }
        if (!cfgset_has(exclude, &s->init[i])) {
            *out = s->init[i];
            return 0;
        }
    }
    return err_set(ERR_NOTFOUND, "strategy: no untried configuration among %d random draws",
                   limit);
}

/* ---- model ------------------------------------------------------------------------------------- */

/* The GP's input of c at fidelity f (the last input when fidelity is one). */
static void encode_at(const strategy_t *s, const space_config_t *c, double f, double *x)
{
    space_encode(s->space, c, x);
    if (s->D > s->d)
        x[s->d] = f;
}

static void encode_history(const strategy_t *s, double *x)
{
    for (int i = 0; i < s->nobs; i++)
        encode_at(s, &s->obs[i], s->fid[i], x + (size_t)i * s->D);
}

/* The number of configurations observed, and the i-th with its representative row. */
static int nconfigs(const strategy_t *s) { return cfgset_count(s->done); }

static const space_config_t *config_at(const strategy_t *s, int i, int *row)
{
    double v;
    const space_config_t *c = cfgset_at(s->done, i, &v);

    *row = (int)v;
    return c;
}

/* Fits the hyperparameters on the GP's data, the first f observations: MAP (into theta), then
 * for SAAS the posterior draws of a chain started at the MAP point. Each fit has its own random
 * stream, a function of the seed, the model and f. */
static int fit_model(strategy_t *s, int f, double *theta, strategy_info_t *info)
{
    gp_map_opts_t mo;
    saas_opts_t so;
    rng_t r;
    int rc;

    gp_map_opts_default(&mo, s->D);
    mo.restarts = s->o.map_restarts;
    rng_seed_stream(&r, s->o.seed, (uint64_t)STREAM_MAP << 32 | (uint64_t)f);
    rc = gp_map_fit(s->gp, &mo, NULL, &r, theta, NULL);
    if (rc || s->o.model != STRATEGY_MODEL_SAAS)
        return rc;
    saas_opts_default(&so);
    so.nuts = s->o.nuts;
    rng_seed_stream(&r, s->o.seed, (uint64_t)STREAM_SAAS << 32 | (uint64_t)f);
    return saas_fit(s->gp, &so, theta, &r, &info->nuts);
}

/* Keeps the GP's fitted components as the cache for the first f observations. */
static int cache_fit(strategy_t *s, int f)
{
    int p = gp_nparams(s->D);

    s->fit_ncomp = gp_ncomponents(s->gp);
    s->fit_theta = mem_alloc((size_t)s->fit_ncomp * p, sizeof(double), "hyperparameters");
    if (!s->fit_theta)
        return ERR_NOMEM;
    for (int c = 0; c < s->fit_ncomp; c++)
        memcpy(s->fit_theta + (size_t)c * p, gp_theta(s->gp, c), (size_t)p * sizeof(double));
    s->fit_n = f;
    return 0;
}

/* Hyperparameters for the current history: fitted on the first fit_n observations, cached. */
static int fit(strategy_t *s, const double *x, strategy_info_t *info)
{
    int k = s->o.refit_every, n = s->nobs, rc;
    int f = n < k ? n : (n / k) * k;
    double t0 = clock_s(), *theta = NULL;

    info->fit_n = f;
    if (s->fit_theta && s->fit_n == f)
        return 0;
    free(s->fit_theta);
    s->fit_theta = NULL;
    s->fit_n = 0;
    theta = mem_alloc((size_t)gp_nparams(s->D), sizeof(double), "hyperparameters");
    if (!theta)
        return ERR_NOMEM;
    rc = gp_set_data(s->gp, x, s->metric, f);
    if (rc)
        goto out;
    rc = fit_model(s, f, theta, info);
    if (rc)
        goto out;
    rc = cache_fit(s, f);
    if (rc)
        goto out;
    info->refit = true;
    info->fit_s = clock_s() - t0;
out:
    free(theta);
    return rc;
}

/* ---- acquisition ------------------------------------------------------------------------------- */

typedef struct {
    strategy_t *s;
    nehvi_t *acq;
    double *x, *o2;
    int cap;
} scorer_t;

static int score(void *ctx, const space_config_t *cfgs, int n, double *vals)
{
    scorer_t *sc = ctx;
    strategy_t *s = sc->s;
    int rc;

    if (n > sc->cap) {
        double *x = mem_realloc(sc->x, (size_t)n * s->D, sizeof(double), "candidates");
        double *o2;
        if (!x)
            return ERR_NOMEM;
        sc->x = x;
        o2 = mem_realloc(sc->o2, (size_t)n, sizeof(double), "candidates");
        if (!o2)
            return ERR_NOMEM;
        sc->o2 = o2;
        sc->cap = n;
    }
    for (int i = 0; i < n; i++) {
        encode_at(s, &cfgs[i], 1.0, sc->x + (size_t)i * s->D);
        rc = objective2(s, &cfgs[i], &sc->o2[i]);
        if (rc)
            return rc;
    }
    return nehvi_eval(sc->acq, sc->x, sc->o2, n, vals);
}

typedef struct {
    uint64_t h;
    const space_config_t *c;
} keyed_t;

static int cmp_keyed(const void *pa, const void *pb)
{
    const keyed_t *a = pa, *b = pb;
    char ta[SPACE_TEXT_MAX], tb[SPACE_TEXT_MAX];

    if (a->h != b->h)
        return a->h < b->h ? -1 : 1;
    space_config_format(a->c, ta, sizeof ta);
    space_config_format(b->c, tb, sizeof tb);
    return strcmp(ta, tb);
}

/* The observed configurations whose metric is of full fidelity (all of them while none is):
 * their (metric, second objective) pairs into pts (2 per configuration), given the second
 * objectives o2 in the order of the observed set, and their indices in that order into idx.
 * Returns how many. */
static int observed_points(const strategy_t *s, const double *o2, double *pts, int *idx)
{
    int n = nconfigs(s), k = 0, row;
    bool full = false;

    for (int i = 0; i < n && !full; i++) {
        config_at(s, i, &row);
        full = s->fid[row] >= 1.0;
    }
    for (int i = 0; i < n; i++) {
        config_at(s, i, &row);
        if (full && s->fid[row] < 1.0)
            continue;
        pts[2 * k] = s->metric[row];
        pts[2 * k + 1] = o2[i];
        idx[k++] = i;
    }
    return k;
}

/* observed_points into fresh arrays: NULL with ERR_NOMEM naming what. */
static double *observed_alloc(const strategy_t *s, const double *o2, const char *what, int **idx,
                              int *n)
{
    int m = nconfigs(s) > 0 ? nconfigs(s) : 1;
    double *pts = mem_alloc((size_t)m, 2 * sizeof(double), what);

    *idx = mem_alloc((size_t)m, sizeof **idx, what);
    if (!pts || !*idx) {
        free(pts);
        free(*idx);
        *idx = NULL;
        return NULL;
    }
    *n = observed_points(s, o2, pts, *idx);
    return pts;
}

/* The reference point in (metric, second objective) units. */
static int reference(const strategy_t *s, const double *o2, double ref[2])
{
    double *pts;
    int *idx, n;

    if (s->o.has_ref) {
        ref[0] = s->o.ref_metric;
        ref[1] = cost_objective(s, s->o.ref_cost_percent);
        return 0;
    }
    /* Metric: the rule of pareto.h over the observed front. Cost: beyond the most expensive
     * configuration of the space by a tenth of the space's cost range, so that every
     * configuration can add volume. */
    pts = observed_alloc(s, o2, "reference point", &idx, &n);
    if (!pts)
        return ERR_NOMEM;
    pareto_ref_point(pts, n, PARETO_REF_FRAC, ref);
    free(pts);
    free(idx);
    ref[1] = s->cost_lo - PARETO_REF_FRAC * (s->cost_hi - s->cost_lo);
    return 0;
}

/* ---- one suggestion ---------------------------------------------------------------------------- */

/* The working state of one strategy_suggest. */
typedef struct {
    cfgset_t *exclude;      /* observed, failed and pending configurations */
    keyed_t *order;         /* the pending ones in canonical order */
    int npending;
    double *xr;             /* nobs x D: the GP's rows encoded */
    /* The acquisition's baseline: observed (in the observed set's order), then pending (in
     * canonical order), at full fidelity. */
    double *xb;             /* nb x D: encoded */
    double *o2;             /* nb: second objectives */
    int nb;
    nehvi_t *acq;
    scorer_t sc;
    space_config_t *seeds;  /* starts of the local search */
    int nseeds;
} round_t;

static void round_free(round_t *r)
{
    nehvi_free(&r->acq);
    cfgset_free(&r->exclude);
    free(r->order);
    free(r->xr);
    free(r->xb);
    free(r->o2);
    free(r->seeds);
    free(r->sc.x);
    free(r->sc.o2);
}

static int check_pending(const strategy_t *s, const space_config_t *pending, int npending)
{
    if (npending < 0 || npending > GP_MAX_POINTS)
        return err_set(ERR_RANGE, "strategy: %d pending trials (at most %d)", npending,
                       GP_MAX_POINTS);
    for (int i = 0; i < npending; i++) {
        int rc = check_config(s, &pending[i], "pending trial");
        if (rc)
            return rc;
    }
    return 0;
}

/* The configurations not to suggest, and the pending ones in a canonical order, so that their
 * order does not matter. */
static int exclusions(const strategy_t *s, const space_config_t *pending, round_t *r)
{
    int rc;

    r->exclude = cfgset_new();
    r->order = mem_alloc((size_t)(r->npending ? r->npending : 1), sizeof *r->order, "pending");
    if (!r->exclude || !r->order)
        return ERR_NOMEM;
    for (int i = 0; i < nconfigs(s); i++)
        if ((rc = cfgset_add(r->exclude, cfgset_at(s->done, i, NULL))) < 0)
            return rc;
    for (int i = 0; i < cfgset_count(s->failed); i++)
        if ((rc = cfgset_add(r->exclude, cfgset_at(s->failed, i, NULL))) < 0)
            return rc;
    for (int i = 0; i < r->npending; i++) {
        r->order[i] = (keyed_t){space_config_hash(&pending[i]), &pending[i]};
        if ((rc = cfgset_add(r->exclude, &pending[i])) < 0)
            return rc;
    }
    qsort(r->order, (size_t)r->npending, sizeof *r->order, cmp_keyed);
    return 0;
}

/* The GP's rows, and the baseline's inputs and second objectives. */
static int baseline(const strategy_t *s, round_t *r)
{
    int n = nconfigs(s), row, rc;

    r->nb = n + r->npending;
    r->xr = mem_alloc((size_t)s->nobs, (size_t)s->D * sizeof(double), "history");
    r->xb = mem_alloc((size_t)r->nb, (size_t)s->D * sizeof(double), "baseline");
    r->o2 = mem_alloc((size_t)r->nb, sizeof(double), "baseline");
    if (!r->xr || !r->xb || !r->o2)
        return ERR_NOMEM;
    encode_history(s, r->xr);
    for (int i = 0; i < r->nb; i++) {
        const space_config_t *c = i < n ? config_at(s, i, &row) : r->order[i - n].c;
        encode_at(s, c, 1.0, r->xb + (size_t)i * s->D);
        if ((rc = objective2(s, c, &r->o2[i])) != 0)
            return rc;
    }
    return 0;
}

/* The GP on every observation with the (possibly cached) hyperparameters. */
static int surrogate(strategy_t *s, const round_t *r, strategy_info_t *info)
{
    int rc = fit(s, r->xr, info);

    if (rc)
        return rc;
    rc = gp_set_data(s->gp, r->xr, s->metric, s->nobs);
    if (!rc)
        rc = gp_set_theta(s->gp, s->fit_theta, s->fit_ncomp);
    if (rc)
        return rc;
    info->components = s->fit_ncomp;
    return 0;
}

/* The acquisition function over the baseline. */
static int acquisition(strategy_t *s, round_t *r, strategy_info_t *info)
{
    nehvi_opts_t no;
    int rc;

    nehvi_opts_default(&no);
    no.mode = s->o.objective;
    no.samples = strategy_mc_samples(&s->o);
    rc = reference(s, r->o2, no.ref);
    if (rc)
        return rc;
    info->ref[0] = no.ref[0];
    info->ref[1] = no.ref[1];
    r->acq = nehvi_new(s->gp, r->xb, r->o2, r->nb, &no);
    if (!r->acq)
        return err_code() ? err_code() : ERR_INTERNAL;
    info->baseline = nehvi_baseline_size(r->acq, 0);
    r->sc = (scorer_t){.s = s, .acq = r->acq};
    return 0;
}

/* Seeds of the local search, among the observed configurations of full fidelity (all while
 * none is): their Pareto set, or the five best by metric (metric only). */
static int choose_seeds(const strategy_t *s, round_t *r)
{
    int *idx = NULL, n = 0, row, rc = 0;
    double *pts = observed_alloc(s, r->o2, "seeds", &idx, &n);
    bool *keep = mem_alloc((size_t)(n > 0 ? n : 1), sizeof(bool), "seeds");

    r->seeds = mem_alloc((size_t)(n > 0 ? n : 1), sizeof *r->seeds, "seeds");
    if (!pts || !keep || !r->seeds) {
        rc = ERR_NOMEM;
        goto out;
    }
    if (s->o.objective == NEHVI_HV) {
        pareto_front(pts, n, keep);
        for (int k = 0; k < n; k++)
            if (keep[k])
                r->seeds[r->nseeds++] = *config_at(s, idx[k], &row);
    } else {
        for (int k = 0; k < n; k++)
            keep[k] = false;
        for (int t = 0; t < 5 && t < n; t++) {   /* best first; the first of equals */
            int arg = -1;
            for (int k = 0; k < n; k++)
                if (!keep[k] && (arg < 0 || pts[2 * k] > pts[2 * arg]))
                    arg = k;
            keep[arg] = true;
            r->seeds[r->nseeds++] = *config_at(s, idx[arg], &row);
        }
    }
out:
    free(pts);
    free(idx);
    free(keep);
    return rc;
}

/* The optimiser's random stream: it depends on the history's size and the pending set. */
static void acq_stream(const strategy_t *s, const round_t *r, rng_t *rng)
{
    uint64_t key = (uint64_t)s->nobs << 40 ^ (uint64_t)s->nfailed << 20 ^ (uint64_t)r->npending;

    for (int i = 0; i < r->npending; i++)
        key = rng_mix64(key ^ r->order[i].h);
    rng_seed_stream(rng, s->o.seed, rng_mix64((uint64_t)STREAM_ACQ << 56 ^ key));
}

/* The acquisition's maximiser over the space, from the seeds. */
static int maximise(strategy_t *s, round_t *r, space_config_t *out, strategy_info_t *info)
{
    acqopt_result_t res;
    rng_t rng;
    int rc;

    acq_stream(s, r, &rng);
    rc = acqopt_run(s->space, &s->o.acq, score, &r->sc, r->seeds, r->nseeds, r->exclude, &rng,
                    out, &res);
    if (rc)
        return rc;
    info->value = res.value;
    info->evals = res.evals;
    return 0;
}

/* Bayesian optimisation: the baseline, the surrogate, the acquisition function, the seeds of
 * its local search and its maximiser. */
static int bayes_step(strategy_t *s, round_t *r, space_config_t *out, strategy_info_t *info)
{
    double t0;
    int rc = baseline(s, r);

    if (rc)
        return rc;
    rc = surrogate(s, r, info);
    if (rc)
        return rc;
    t0 = clock_s();
    rc = acquisition(s, r, info);
    if (rc)
        return rc;
    rc = choose_seeds(s, r);
    if (rc)
        return rc;
    rc = maximise(s, r, out, info);
    if (rc)
        return rc;
    info->acq_s = clock_s() - t0;
    return 0;
}

int strategy_suggest(strategy_t *s, const space_config_t *pending, int npending,
                     space_config_t *out, strategy_info_t *info)
{
    strategy_info_t local;
    round_t r = {.npending = npending};
    int rc;

    if (!info)
        info = &local;
    memset(info, 0, sizeof *info);
    rc = check_pending(s, pending, npending);
    if (rc)
        return rc;
    rc = exclusions(s, pending, &r);
    if (rc)
        goto out;
    /* The initial design until n_init trials have finished (with a result or a failure) and
     * two have results: with several workers, idle ones get further random configurations
     * meanwhile rather than suggestions from a GP of a handful of points (which the benchmark
     * shows to cost more than the random trials do). */
    if (nconfigs(s) + s->nfailed < s->o.n_init || nconfigs(s) < 2) {
        info->random = true;
        rc = next_initial(s, r.exclude, out);
        goto out;
    }
    rc = bayes_step(s, &r, out, info);
out:
    round_free(&r);
    return rc;
}

/* ---- the model, for stopping trials ------------------------------------------------------------ */

struct strategy_snap {
    space_t *space;
    int d, D, n, ncomp;
    gp_transform_t transform;
    double *x, *y, *theta;   /* (n + 1) rows, the last one for the trial asked about */
    gp_t *gp;
};

void strategy_snap_free(strategy_snap_t **mp)
{
    strategy_snap_t *m = mp ? *mp : NULL;

    if (!m)
        return;
    space_free(&m->space);
    gp_free(&m->gp);
    free(m->x);
    free(m->y);
    free(m->theta);
    free(m);
    *mp = NULL;
}

strategy_snap_t *strategy_snap(const strategy_t *s)
{
    strategy_snap_t *m;
    int p = gp_nparams(s->D);

    if (!s->o.fidelity_input || !s->fit_theta || gp_n(s->gp) < 1)
        return NULL;
    if (!(m = mem_alloc(1, sizeof *m, "model copy")))
        return NULL;
    m->d = s->d;
    m->D = s->D;
    m->n = gp_n(s->gp);
    m->ncomp = s->fit_ncomp;
    m->transform = s->o.transform;
    m->space = space_new(&s->o.space);
    m->x = mem_alloc((size_t)m->n + 1, (size_t)m->D * sizeof(double), "model copy");
    m->y = mem_alloc((size_t)m->n + 1, sizeof(double), "model copy");
    m->theta = mem_alloc((size_t)m->ncomp, (size_t)p * sizeof(double), "model copy");
    m->gp = gp_new(m->D, m->transform);
    if (!m->space || !m->x || !m->y || !m->theta || !m->gp) {
        strategy_snap_free(&m);
        return NULL;
    }
    memcpy(m->x, gp_inputs(s->gp), (size_t)m->n * m->D * sizeof(double));
    memcpy(m->y, s->metric, (size_t)m->n * sizeof(double));
    memcpy(m->theta, s->fit_theta, (size_t)m->ncomp * p * sizeof(double));
    return m;
}

int strategy_snap_rows(const strategy_snap_t *m) { return m->n; }

int strategy_snap_chance(strategy_snap_t *m, const space_config_t *c, double metric,
                         double fidelity, double beat, double *p)
{
    double *row = m->x + (size_t)m->n * m->D, at[GP_MAX_DIMS], mean, var, noise = 0;
    int rc = space_check(m->space, c);

    if (rc)
        return err_prefix(rc, "trial to stop: ");
    if (!isfinite(metric) || !isfinite(beat) || !(fidelity > 0.0 && fidelity <= 1.0))
        return err_set(ERR_INVAL, "trial to stop: metric %g at fidelity %g against %g", metric,
                       fidelity, beat);
    space_encode(m->space, c, row);
    row[m->d] = fidelity;
    m->y[m->n] = metric;
    memcpy(at, row, (size_t)m->D * sizeof(double));
    at[m->d] = 1.0;
    if ((rc = gp_set_data(m->gp, m->x, m->y, m->n + 1)) != 0 ||
        (rc = gp_set_theta(m->gp, m->theta, m->ncomp)) != 0 ||
        (rc = gp_predict(m->gp, at, 1, &mean, &var)) != 0)
        return rc;
    for (int k = 0; k < m->ncomp; k++)
        noise += exp(m->theta[(size_t)k * gp_nparams(m->D) + GP_TH_NOISE(m->D)]) / m->ncomp;
    *p = 1.0 - stat_norm_cdf((gp_transform_y(m->gp, beat) - mean) / sqrt(var + noise));
    return 0;
}
