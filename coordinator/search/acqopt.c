/* Acquisition optimiser: see acqopt.h. */
#include "coordinator/search/acqopt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/mem.h"
#include "coordinator/search/rank.h"

void acqopt_opts_default(acqopt_opts_t *o)
{
    o->random = 500;
    o->starts = 10;
    o->max_steps = 50;
    o->max_evals = 4000;
    o->deadline_s = 0.0;
}

typedef struct {
    const space_t *s;
    const acqopt_opts_t *o;
    acqopt_fn fn;
    void *ctx;
    const cfgset_t *exclude;
    cfgset_t *scored;       /* every configuration scored, with its value */
    double t_end;           /* deadline, or +inf */
    int evals;
    bool budget_hit;
    /* The best so far. */
    space_config_t best;
    double best_v;
    bool have_best;
    /* A neighbourhood (at most maxnb configurations) and its values. */
    space_config_t *nb;
    double *nbvals;
    int maxnb;
    int starts, moves;  /* local searches run, improving moves taken */
} search_t;

/* The candidate pool: the seeds' neighbourhoods [0, nnear), then random configurations. */
typedef struct {
    space_config_t *c;
    double *vals;       /* their values (NaN where the budget left one unscored) */
    rank_t *rank;     /* work space of the local searches' starts */
    int n, nnear, cap;
    cfgset_t *seen;     /* the candidates so far, so that each is added once */
} pool_t;

static bool out_of_budget(search_t *q)
{
    if (q->evals > q->o->max_evals || clock_s() > q->t_end) {
        q->budget_hit = true;
        return true;
    }
    return false;
}

/* Scores the configurations of batch not scored yet (at most what the budget allows) and
 * records them; vals[i] gets each one's value (NaN for those left unscored). */
static int score(search_t *q, const space_config_t *batch, int n, double *vals)
{
    space_config_t *todo = NULL;
    double *tv = NULL;
    int *where = NULL, m = 0, rc = 0;

    todo = mem_alloc((size_t)(n ? n : 1), sizeof *todo, "acquisition batch");
    tv = mem_alloc((size_t)(n ? n : 1), sizeof *tv, "acquisition batch");
    where = mem_alloc((size_t)(n ? n : 1), sizeof *where, "acquisition batch");
    if (!todo || !tv || !where) {
        rc = ERR_NOMEM;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        if (cfgset_get(q->scored, &batch[i], &vals[i]))
            continue;
        vals[i] = NAN;
        if (q->evals + m >= q->o->max_evals) {
            q->budget_hit = true;
            continue;
        }
        todo[m] = batch[i];
        where[m++] = i;
    }
    if (m == 0)
        goto out;
    rc = q->fn(q->ctx, todo, m, tv);
    if (rc)
        goto out;
    q->evals += m;
    for (int k = 0; k < m; k++) {
        double v = isfinite(tv[k]) ? tv[k] : -INFINITY;
        /* A batch may hold one configuration twice: the first copy scores it. */
        rc = cfgset_put(q->scored, &todo[k], v);
        if (rc < 0)
            goto out;
        rc = 0;
        vals[where[k]] = v;
        if (!q->have_best || v > q->best_v) {
            q->best = todo[k];
            q->best_v = v;
            q->have_best = true;
        }
    }
    for (int i = 0; i < n; i++)
        if (isnan(vals[i]))
            cfgset_get(q->scored, &batch[i], &vals[i]);
out:
    free(todo);
    free(tv);
    free(where);
    return rc;
}

/* Appends c to the pool unless excluded or already there. */
static int pool_add(search_t *q, pool_t *p, const space_config_t *c)
{
    int rc;

    if (p->n >= p->cap || cfgset_has(q->exclude, c))
        return 0;
    rc = cfgset_add(p->seen, c);
    if (rc <= 0)
        return rc;
    p->c[p->n++] = *c;
    return 0;
}

/* Appends c's one-exchange neighbours to the pool. */
static int pool_add_neighbours(search_t *q, pool_t *p, const space_config_t *c)
{
    int k = space_neighbours(q->s, c, q->nb, q->maxnb), rc = 0;

    for (int j = 0; j < k && rc == 0; j++)
        rc = pool_add(q, p, &q->nb[j]);
    return rc;
}

/* Step 1, the pool: the seeds' neighbourhoods, then random configurations (drawn up to four
 * times as often as asked when many are excluded or repeated). */
static int pool_fill(search_t *q, pool_t *p, const space_config_t *seeds, int nseeds,
                     rng_t *rng)
{
    int rc;

    for (int i = 0; i < nseeds; i++) {
        rc = pool_add_neighbours(q, p, &seeds[i]);
        if (rc)
            return rc;
    }
    p->nnear = p->n;
    for (int tries = 0; p->n - p->nnear < q->o->random && tries < 4 * q->o->random; tries++) {
        space_config_t c;
        space_sample(q->s, rng, &c);
        rc = pool_add(q, p, &c);
        if (rc)
            return rc;
    }
    if (p->n > 0)
        return 0;
    /* Nothing new at random: a small space nearly used up. Look at every neighbour of
     * everything excluded before giving up. */
    for (int i = 0; i < cfgset_count(q->exclude) && p->n < p->cap; i++) {
        rc = pool_add_neighbours(q, p, cfgset_at(q->exclude, i, NULL));
        if (rc)
            return rc;
    }
    if (p->n == 0)
        return err_set(ERR_NOTFOUND, "acquisition optimiser: every configuration found is "
                                     "already observed, running or failed (%d of them)",
                       cfgset_count(q->exclude));
    return 0;
}

/* Hill climbing from c: the best non-excluded neighbour while it improves. */
static int climb(search_t *q, space_config_t c, double v)
{
    space_config_t *nb = q->nb;
    double *vals = q->nbvals;

    for (int step = 0; step < q->o->max_steps; step++) {
        int n = space_neighbours(q->s, &c, nb, q->maxnb), k = 0, arg = -1, rc;

        if (n < 0)
            return n;
        for (int i = 0; i < n; i++)
            if (!cfgset_has(q->exclude, &nb[i]))
                nb[k++] = nb[i];
        if (k == 0 || out_of_budget(q))
            return 0;
        rc = score(q, nb, k, vals);
        if (rc)
            return rc;
        for (int i = 0; i < k; i++)
            if (!isnan(vals[i]) && vals[i] > v && (arg < 0 || vals[i] > vals[arg]))
                arg = i;
        if (arg < 0)
            return 0;
        c = nb[arg];
        v = vals[arg];
        q->moves++;
    }
    return 0;
}

/* Step 2, local searches from the best of each part of the pool: half the starts (rounded
 * up) from the seeds' neighbourhoods, the rest, and any the first part could not use, from the
 * random part. */
static int local_searches(search_t *q, pool_t *p)
{
    for (int part = 0; part < 2; part++) {
        int lo = part ? p->nnear : 0, hi = part ? p->n : p->nnear, m = 0, want, rc;

        if (part == 0)
            want = p->nnear ? q->o->starts - q->o->starts / 2 : 0;
        else
            want = q->o->starts - q->starts;
        for (int i = lo; i < hi; i++)
            if (!isnan(p->vals[i]))
                p->rank[m++] = (rank_t){p->vals[i], i};
        qsort(p->rank, (size_t)m, sizeof *p->rank, rank_cmp);
        for (int k = 0; k < m && k < want && !out_of_budget(q); k++, q->starts++) {
            rc = climb(q, p->c[p->rank[k].i], p->rank[k].v);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int check_opts(const acqopt_opts_t *o, int nseeds)
{
    if (o->random < 0 || o->starts < 0 || o->max_steps < 0 || o->max_evals < 1 ||
        o->max_evals > ACQOPT_MAX_EVALS || o->random > ACQOPT_MAX_EVALS || nseeds < 0 ||
        !(o->deadline_s >= 0.0))
        return err_set(ERR_INVAL, "acquisition optimiser: bad options (random %d, starts %d, "
                                  "max_evals %d)", o->random, o->starts, o->max_evals);
    return 0;
}

int acqopt_run(const space_t *s, const acqopt_opts_t *o, acqopt_fn fn, void *ctx,
               const space_config_t *seeds, int nseeds, const cfgset_t *exclude, rng_t *rng,
               space_config_t *out, acqopt_result_t *res)
{
    int maxnb = space_max_neighbours(s), rc = check_opts(o, nseeds);
    search_t q = {0};
    pool_t p = {0};

    if (rc)
        return rc;
    if (nseeds > ACQOPT_MAX_EVALS / (maxnb ? maxnb : 1))
        nseeds = ACQOPT_MAX_EVALS / (maxnb ? maxnb : 1);
    q = (search_t){.s = s, .o = o, .fn = fn, .ctx = ctx, .exclude = exclude, .maxnb = maxnb,
                   .t_end = o->deadline_s > 0.0 ? clock_s() + o->deadline_s : INFINITY};
    /* Room for the seeds' neighbourhoods, the random part, and one neighbourhood more for the
     * fallback of pool_fill. */
    p.cap = nseeds * maxnb + o->random + maxnb;
    q.scored = cfgset_new();
    q.nb = mem_alloc((size_t)(maxnb ? maxnb : 1), sizeof *q.nb, "neighbours");
    q.nbvals = mem_alloc((size_t)(maxnb ? maxnb : 1), sizeof *q.nbvals, "acquisition values");
    p.seen = cfgset_new();
    p.c = mem_alloc((size_t)(p.cap ? p.cap : 1), sizeof *p.c, "acquisition pool");
    p.vals = mem_alloc((size_t)(p.cap ? p.cap : 1), sizeof *p.vals, "acquisition values");
    p.rank = mem_alloc((size_t)(p.cap ? p.cap : 1), sizeof *p.rank, "acquisition ranks");
    if (!q.scored || !q.nb || !q.nbvals || !p.seen || !p.c || !p.vals || !p.rank) {
        rc = ERR_NOMEM;
        goto out;
    }
    rc = pool_fill(&q, &p, seeds, nseeds, rng);
    if (rc)
        goto out;
    rc = score(&q, p.c, p.n, p.vals);
    if (rc)
        goto out;
    rc = local_searches(&q, &p);
    if (rc)
        goto out;
    /* Step 3, the best scored. */
    if (!q.have_best) {
        rc = err_set(ERR_INTERNAL, "acquisition optimiser: nothing was scored");
        goto out;
    }
    rc = space_check(s, &q.best);
    if (rc || cfgset_has(exclude, &q.best)) {
        rc = err_set(ERR_INTERNAL, "acquisition optimiser: best candidate is invalid or excluded");
        goto out;
    }
    *out = q.best;
    if (res)
        *res = (acqopt_result_t){.value = q.best_v, .evals = q.evals, .pool = p.n,
                                 .starts = q.starts, .moves = q.moves,
                                 .budget_hit = q.budget_hit};
out:
    cfgset_free(&q.scored);
    free(q.nb);
    free(q.nbvals);
    cfgset_free(&p.seen);
    free(p.c);
    free(p.vals);
    free(p.rank);
    return rc;
}
