/* Acquisition optimiser: see acqopt.h. */
#include "coordinator/search/acqopt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/mem.h"

void acqopt_opts_default(acqopt_opts_t *o)
{
    o->random = 500;
    o->starts = 10;
    o->max_steps = 50;
    o->max_evals = 4000;
    o->deadline_s = 0.0;
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
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
} search_t;

static bool out_of_budget(search_t *q, int more)
{
    if (q->evals + more > q->o->max_evals || now() > q->t_end) {
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
static int pool_add(search_t *q, cfgset_t *seen, space_config_t *pool, int *n, int cap,
                    const space_config_t *c)
{
    int rc;

    if (*n >= cap || cfgset_has(q->exclude, c))
        return 0;
    rc = cfgset_add(seen, c);
    if (rc <= 0)
        return rc;
    pool[(*n)++] = *c;
    return 0;
}

typedef struct {
    double v;
    int i;
} ranked_t;

static int cmp_ranked(const void *pa, const void *pb)
{
    const ranked_t *a = pa, *b = pb;

    if (a->v != b->v)
        return a->v > b->v ? -1 : 1;
    return a->i - b->i;
}

/* Hill climbing from c: the best non-excluded neighbour while it improves. */
static int climb(search_t *q, space_config_t c, double v, space_config_t *nb, double *vals,
                 int cap, int *moves)
{
    for (int step = 0; step < q->o->max_steps; step++) {
        int n = space_neighbours(q->s, &c, nb, cap), k = 0, arg = -1, rc;

        if (n < 0)
            return n;
        for (int i = 0; i < n; i++)
            if (!cfgset_has(q->exclude, &nb[i]))
                nb[k++] = nb[i];
        if (k == 0 || out_of_budget(q, 0))
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
        (*moves)++;
    }
    return 0;
}

int acqopt_run(const space_t *s, const acqopt_opts_t *o, acqopt_fn fn, void *ctx,
               const space_config_t *seeds, int nseeds, const cfgset_t *exclude, rng_t *rng,
               space_config_t *out, acqopt_result_t *res)
{
    search_t q = {0};
    cfgset_t *seen = NULL;
    space_config_t *pool = NULL, *nb = NULL;
    double *vals = NULL;
    ranked_t *rank = NULL;
    int maxnb = space_max_neighbours(s), cap, n = 0, nnear, rc = 0, moves = 0, started = 0;

    if (o->random < 0 || o->starts < 0 || o->max_steps < 0 || o->max_evals < 1 ||
        o->max_evals > ACQOPT_MAX_EVALS || o->random > ACQOPT_MAX_EVALS || nseeds < 0 ||
        !(o->deadline_s >= 0.0))
        return err_set(ERR_INVAL, "acquisition optimiser: bad options (random %d, starts %d, "
                                  "max_evals %d)", o->random, o->starts, o->max_evals);
    if (nseeds > ACQOPT_MAX_EVALS / (maxnb ? maxnb : 1))
        nseeds = ACQOPT_MAX_EVALS / (maxnb ? maxnb : 1);
    /* Room for the seeds' neighbourhoods, the random part, and one neighbourhood more for the
     * fallback below. */
    cap = nseeds * maxnb + o->random + maxnb;
    q = (search_t){.s = s, .o = o, .fn = fn, .ctx = ctx, .exclude = exclude,
                   .t_end = o->deadline_s > 0.0 ? now() + o->deadline_s : INFINITY};
    q.scored = cfgset_new();
    seen = cfgset_new();
    pool = mem_alloc((size_t)(cap ? cap : 1), sizeof *pool, "acquisition pool");
    nb = mem_alloc((size_t)(maxnb ? maxnb : 1), sizeof *nb, "neighbours");
    /* The pool's values, then the current neighbourhood's. */
    vals = mem_alloc((size_t)cap + (size_t)maxnb, sizeof *vals, "acquisition values");
    rank = mem_alloc((size_t)(cap ? cap : 1), sizeof *rank, "acquisition ranks");
    if (!q.scored || !seen || !pool || !nb || !vals || !rank) {
        rc = ERR_NOMEM;
        goto out;
    }
    /* 1. The pool: the seeds' neighbourhoods, then random configurations (drawn up to four
     * times as often as asked when many are excluded or repeated). */
    for (int i = 0; i < nseeds; i++) {
        int k = space_neighbours(s, &seeds[i], nb, maxnb);
        for (int j = 0; j < k && rc == 0; j++)
            rc = pool_add(&q, seen, pool, &n, cap, &nb[j]);
        if (rc)
            goto out;
    }
    nnear = n;
    for (int tries = 0; n - nnear < o->random && tries < 4 * o->random; tries++) {
        space_config_t c;
        space_sample(s, rng, &c);
        rc = pool_add(&q, seen, pool, &n, cap, &c);
        if (rc)
            goto out;
    }
    if (n == 0) {
        /* Nothing new at random: a small space nearly used up. Look at every neighbour of
         * everything excluded before giving up. */
        for (int i = 0; i < cfgset_count(exclude) && n < cap; i++) {
            int k = space_neighbours(s, cfgset_at(exclude, i, NULL), nb, maxnb);
            for (int j = 0; j < k && rc == 0; j++)
                rc = pool_add(&q, seen, pool, &n, cap, &nb[j]);
            if (rc)
                goto out;
        }
        if (n == 0) {
            rc = err_set(ERR_NOTFOUND, "acquisition optimiser: every configuration found is "
                                       "already observed, running or failed (%d of them)",
                         cfgset_count(exclude));
            goto out;
        }
    }
    rc = score(&q, pool, n, vals);
    if (rc)
        goto out;
    /* 2. Local searches from the best of each part of the pool. */
    for (int part = 0; part < 2; part++) {
        int lo = part ? nnear : 0, hi = part ? n : nnear, m = 0;
        int want = part ? o->starts / 2 : o->starts - o->starts / 2;

        /* Unused starts of an empty part go to the other. */
        if (part == 0 && nnear == 0)
            want = 0;
        if (part == 1)
            want = o->starts - started;
        for (int i = lo; i < hi; i++)
            if (!isnan(vals[i]))
                rank[m++] = (ranked_t){vals[i], i};
        qsort(rank, (size_t)m, sizeof *rank, cmp_ranked);
        for (int k = 0; k < m && k < want && !out_of_budget(&q, 0); k++, started++) {
            rc = climb(&q, pool[rank[k].i], rank[k].v, nb, vals + cap, maxnb, &moves);
            if (rc)
                goto out;
        }
    }
    /* 3. The best scored. */
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
        *res = (acqopt_result_t){.value = q.best_v, .evals = q.evals, .pool = n,
                                 .starts = started, .moves = moves, .budget_hit = q.budget_hit};
out:
    cfgset_free(&q.scored);
    cfgset_free(&seen);
    free(pool);
    free(nb);
    free(vals);
    free(rank);
    return rc;
}
