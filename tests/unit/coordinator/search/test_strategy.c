/* Tests of coordinator/search/strategy.c: the initial design, reproducibility from history and seed
 * (including a rebuilt strategy and a shuffled pending set), exclusion of observed, running and
 * failed configurations, bad input, and observations at lower fidelities with the model copy
 * that stops trials. */
#include "coordinator/search/strategy.h"
#include "tests/harness.h"

/* A cheap synthetic metric: diminishing returns in sizes, more value in upper layers. */
static double metric_of(const strategy_t *s, const space_config_t *c)
{
    double v = 0.5, layers = 0.0;

    for (int l = 0; l < c->layers; l++)
        for (int m = 0; m < 3; m++)
            if (space_config_active(c, m) && space_config_layer(c, m, l)) {
                layers += 1.0 + (double)l / c->layers;
                break;
            }
    for (int m = 0; m < 3; m++)
        v += 0.05 * log2(1.0 + c->size[m]) / 10.0;
    (void)s;
    return v + 0.01 * layers;
}

static void small_opts(strategy_opts_t *o, strategy_model_t model, uint64_t seed)
{
    strategy_opts_default(o, 768, 12);
    o->seed = seed;
    o->model = model;
    o->n_init = 6;
    o->mc_samples = 32;
    o->acq.random = 200;
    o->acq.starts = 4;
    o->acq.max_evals = 1500;
    o->map_restarts = 2;
    /* A short chain keeps the test fast; the defaults are AutoPEFT's. */
    o->nuts.warmup = 24;
    o->nuts.samples = 8;
    o->nuts.thin = 4;
}

TEST(initial_design_is_seeded_valid_and_new)
{
    strategy_opts_t o;
    strategy_t *a, *b, *c;
    space_config_t x, y, z, seen[6];
    strategy_info_t info;

    small_opts(&o, STRATEGY_MODEL_MAP, 1);
    a = strategy_new(&o);
    b = strategy_new(&o);
    o.seed = 2;
    c = strategy_new(&o);
    ASSERT_NOT_NULL(a);
    for (int i = 0; i < 6; i++) {
        /* Everything suggested so far is running: each suggestion must be new. */
        ASSERT_OK(strategy_suggest(a, seen, i, &x, &info));
        ASSERT_TRUE(info.random);
        ASSERT_OK(strategy_suggest(b, seen, i, &y, NULL));
        ASSERT_OK(strategy_suggest(c, seen, i, &z, NULL));
        ASSERT_OK(space_check(strategy_space(a), &x));
        ASSERT_TRUE(space_config_equal(&x, &y));
        ASSERT_FALSE(space_config_equal(&x, &z));
        for (int j = 0; j < i; j++)
            ASSERT_FALSE(space_config_equal(&x, &seen[j]));
        seen[i] = x;
    }
    strategy_free(&a);
    strategy_free(&b);
    strategy_free(&c);
    ASSERT_TRUE(a == NULL);
}

/* Runs a study of n trials with `workers` running at once (completion in order of start), and
 * checks every suggestion on the way against the exclusion rules. Returns the strategy. */
static strategy_t *run_study(const strategy_opts_t *o, int n, int workers, space_config_t *hist)
{
    strategy_t *s = strategy_new(o);
    space_config_t run[8];
    int nrun = 0, done = 0, started = 0;

    ASSERT_NOT_NULL(s);
    while (done < n) {
        while (nrun < workers && started < n) {
            space_config_t c;
            strategy_info_t info;
            ASSERT_OK(strategy_suggest(s, run, nrun, &c, &info));
            ASSERT_OK(space_check(strategy_space(s), &c));
            for (int i = 0; i < nrun; i++)
                ASSERT_FALSE(space_config_equal(&c, &run[i]));
            for (int i = 0; i < done; i++)
                ASSERT_FALSE(space_config_equal(&c, &hist[i]));
            if (started >= o->n_init + workers)
                ASSERT_FALSE(info.random);
            run[nrun++] = c;
            started++;
        }
        /* The oldest running trial completes; every fifth one fails. */
        hist[done] = run[0];
        if (done % 5 == 4)
            ASSERT_OK(strategy_observe_failure(s, &run[0]));
        else
            ASSERT_OK(strategy_observe(s, &run[0], metric_of(s, &run[0])));
        done++;
        memmove(run, run + 1, sizeof(space_config_t) * (size_t)--nrun);
    }
    return s;
}

static strategy_t *rebuild(const strategy_opts_t *o, const space_config_t *hist, int n)
{
    strategy_t *s = strategy_new(o);

    for (int i = 0; i < n; i++) {
        if (i % 5 == 4)
            ASSERT_OK(strategy_observe_failure(s, &hist[i]));
        else
            ASSERT_OK(strategy_observe(s, &hist[i], metric_of(s, &hist[i])));
    }
    return s;
}

TEST_TIMEOUT(same_history_and_seed_same_suggestion, 120)
{
    enum { N = 14 };
    strategy_opts_t o;
    space_config_t hist[N], pend[3], pend_rev[3], a, b, c;
    strategy_t *s, *t;

    small_opts(&o, STRATEGY_MODEL_MAP, 7);
    /* refit_every 3: the running study reuses cached hyperparameters that the rebuilt one
     * must recompute, and both must agree. */
    o.refit_every = 3;
    s = run_study(&o, N, 2, hist);
    t = rebuild(&o, hist, N);
    ASSERT_EQ(strategy_observed(t), strategy_observed(s));
    ASSERT_EQ(strategy_failed(t), 2);
    ASSERT_OK(strategy_suggest(s, NULL, 0, &a, NULL));
    ASSERT_OK(strategy_suggest(t, NULL, 0, &b, NULL));
    ASSERT_TRUE(space_config_equal(&a, &b));
    /* With pending trials, in either order. */
    pend[0] = a;
    ASSERT_OK(strategy_suggest(s, pend, 1, &pend[1], NULL));
    /* A third running trial: a fresh random configuration. */
    {
        rng_t r;
        rng_seed(&r, 99);
        space_sample(strategy_space(s), &r, &pend[2]);
    }
    ASSERT_OK(strategy_suggest(s, pend, 3, &c, NULL));
    pend_rev[0] = pend[2], pend_rev[1] = pend[1], pend_rev[2] = pend[0];
    ASSERT_OK(strategy_suggest(t, pend_rev, 3, &b, NULL));
    ASSERT_TRUE(space_config_equal(&c, &b));
    for (int i = 0; i < 3; i++)
        ASSERT_FALSE(space_config_equal(&c, &pend[i]));
    strategy_free(&s);
    strategy_free(&t);
}

TEST_TIMEOUT(failures_are_never_suggested_again, 120)
{
    enum { N = 20 };
    strategy_opts_t o;
    space_config_t hist[N], next;
    strategy_t *s;

    /* run_study fails every fifth trial and checks that no suggestion repeats anything
     * observed, failed or running. */
    small_opts(&o, STRATEGY_MODEL_MAP, 11);
    s = run_study(&o, N, 3, hist);
    ASSERT_EQ(strategy_failed(s), 4);
    ASSERT_OK(strategy_suggest(s, NULL, 0, &next, NULL));
    for (int i = 0; i < N; i++)
        ASSERT_FALSE(space_config_equal(&next, &hist[i]));
    strategy_free(&s);
}

TEST_TIMEOUT(saas_and_single_objective_modes, 120)
{
    enum { N = 10 };
    strategy_opts_t o;
    space_config_t hist[N], a, b;
    strategy_info_t info;
    strategy_t *s;

    small_opts(&o, STRATEGY_MODEL_SAAS, 3);
    s = run_study(&o, N, 1, hist);
    ASSERT_OK(strategy_suggest(s, NULL, 0, &a, &info));
    ASSERT_FALSE(info.random);
    ASSERT_EQ(info.components, 2);  /* 8 samples thinned by 4 */
    ASSERT_TRUE(info.value > 0.0);
    ASSERT_OK(strategy_suggest(s, &a, 1, &b, &info));
    ASSERT_FALSE(info.refit);  /* same observations: cached */
    ASSERT_FALSE(space_config_equal(&a, &b));
    strategy_free(&s);
    small_opts(&o, STRATEGY_MODEL_MAP, 3);
    o.objective = NEHVI_EI;
    s = run_study(&o, N, 1, hist);
    ASSERT_OK(strategy_suggest(s, NULL, 0, &a, &info));
    ASSERT_FALSE(info.random);
    ASSERT_OK(space_check(strategy_space(s), &a));
    strategy_free(&s);
}

TEST(bad_input_is_rejected)
{
    strategy_opts_t o;
    strategy_t *s;
    space_config_t c;

    small_opts(&o, STRATEGY_MODEL_MAP, 1);
    o.mc_samples = -1;
    ASSERT_TRUE(strategy_new(&o) == NULL);
    ASSERT_CONTAINS(err_msg(), "mc_samples");
    small_opts(&o, STRATEGY_MODEL_MAP, 1);
    o.has_ref = true;
    o.ref_cost_percent = -1;
    ASSERT_TRUE(strategy_new(&o) == NULL);
    small_opts(&o, STRATEGY_MODEL_MAP, 1);
    o.shape.layers = 24;  /* does not match the space's 12 layers */
    ASSERT_TRUE(strategy_new(&o) == NULL);
    small_opts(&o, STRATEGY_MODEL_MAP, 1);
    s = strategy_new(&o);
    ASSERT_OK(space_config_parse("sa=48 pa=0 pt=0 layers=111111111111", 12, &c));
    ASSERT_ERR(strategy_observe(s, &c, NAN), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "metric");
    ASSERT_OK(space_config_parse("sa=50 layers=111111111111", 12, &c));
    ASSERT_ERR(strategy_observe(s, &c, 0.5), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "observation");
    ASSERT_ERR(strategy_observe_failure(s, &c), ERR_INVAL);
    ASSERT_ERR(strategy_suggest(s, &c, 1, &c, NULL), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "pending");
    ASSERT_EQ(strategy_observed(s), 0);
    strategy_free(&s);
}

TEST(used_up_space_is_reported)
{
    strategy_opts_t o;
    strategy_t *s;
    space_config_t c;
    int n = 0, rc;

    /* 21 configurations (see test_acqopt): suggest and observe until none is left. */
    small_opts(&o, STRATEGY_MODEL_MAP, 5);
    space_opts_default(&o.space, 8, 2);
    shape_default(&o.shape, 8, 2);
    for (int m = 0; m < 3; m++)
        ASSERT_OK(space_opts_parse_sizes(&o.space, m, "8,0"));
    s = strategy_new(&o);
    ASSERT_NOT_NULL(s);
    while ((rc = strategy_suggest(s, NULL, 0, &c, NULL)) == 0) {
        ASSERT_OK(strategy_observe(s, &c, metric_of(s, &c)));
        ASSERT_TRUE(++n <= 21);
    }
    ASSERT_EQ(rc, ERR_NOTFOUND);
    ASSERT_EQ(n, 21);
    strategy_free(&s);
}

/* The metric after the fraction f of training: a saturating curve towards metric_of. */
static double partial_of(const strategy_t *s, const space_config_t *c, double f)
{
    return metric_of(s, c) - 0.1 * (1 - f);
}

TEST(fidelity_rows_inform_the_model_and_its_snapshot_ranks_by_the_rung_value)
{
    strategy_opts_t o;
    strategy_t *s;
    strategy_snap_t *m;
    space_config_t c[14], x, bad;
    strategy_info_t info;
    double lo, hi, never, sure;
    rng_t r;

    small_opts(&o, STRATEGY_MODEL_MAP, 3);
    s = strategy_new(&o);
    ASSERT_OK(space_config_parse("sa=48 pa=0 pt=0 layers=111111111111", 12, &x));
    ASSERT_ERR(strategy_observe_at(s, &x, 0.6, 1.0 / 3), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "fidelity_input is off");
    strategy_free(&s);

    o.fidelity_input = true;
    s = strategy_new(&o);
    ASSERT_ERR(strategy_observe_at(s, &x, 0.6, 0), ERR_INVAL);
    ASSERT_ERR(strategy_observe_at(s, &x, 0.6, 1.5), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "fidelity 1.5");
    ASSERT_EQ(strategy_observed(s), 0);
    /* 14 configurations at a third of the recipe; the first 9 go on to the end. */
    rng_seed(&r, 5);
    for (int i = 0; i < 14; i++) {
        space_sample(strategy_space(s), &r, &c[i]);
        ASSERT_OK(strategy_observe_at(s, &c[i], partial_of(s, &c[i], 1.0 / 3), 1.0 / 3));
    }
    for (int i = 0; i < 9; i++)
        ASSERT_OK(strategy_observe(s, &c[i], metric_of(s, &c[i])));
    ASSERT_EQ(strategy_observed(s), 23);
    ASSERT_TRUE(strategy_snap(s) == NULL);   /* nothing fitted yet */
    ASSERT_OK(strategy_suggest(s, NULL, 0, &x, &info));
    ASSERT_FALSE(info.random);
    ASSERT_EQ(info.fit_n, 23);
    for (int i = 0; i < 14; i++)   /* a configuration seen at any fidelity is never suggested */
        ASSERT_FALSE(space_config_equal(&x, &c[i]));

    m = strategy_snap(s);
    ASSERT_NOT_NULL(m);
    ASSERT_EQ(strategy_snap_rows(m), 23);
    /* A new configuration at its rung: a better rung value, a better chance of passing the
     * metric its curve would end at; a bar far above or below everything: about 0 or 1. */
    ASSERT_OK(strategy_snap_chance(m, &x, partial_of(s, &x, 1.0 / 3) + 0.03, 1.0 / 3,
                                   metric_of(s, &x), &hi));
    ASSERT_OK(strategy_snap_chance(m, &x, partial_of(s, &x, 1.0 / 3) - 0.03, 1.0 / 3,
                                   metric_of(s, &x), &lo));
    ASSERT_OK(strategy_snap_chance(m, &x, partial_of(s, &x, 1.0 / 3), 1.0 / 3, 5.0, &never));
    ASSERT_OK(strategy_snap_chance(m, &x, partial_of(s, &x, 1.0 / 3), 1.0 / 3, -5.0, &sure));
    ASSERT_TRUE(hi > lo);
    ASSERT_TRUE(lo >= 0 && hi <= 1);
    ASSERT_TRUE(never < 1e-6 && sure > 1 - 1e-6);
    ASSERT_OK(space_config_parse("sa=50 layers=111111111111", 12, &bad));
    ASSERT_ERR(strategy_snap_chance(m, &bad, 0.5, 0.5, 0.6, &hi), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "trial to stop");
    ASSERT_ERR(strategy_snap_chance(m, &x, 0.5, 0, 0.6, &hi), ERR_INVAL);
    strategy_snap_free(&m);
    ASSERT_TRUE(m == NULL);
    strategy_free(&s);
}
