/* Tests of coordinator/search/acqopt.c and coordinator/search/cfgset.c: the optimiser finds known optima,
 * never returns an invalid or excluded configuration, respects its budget, and reports a used-up
 * space. */
#include "coordinator/search/acqopt.h"
#include "coordinator/search/cfgset.h"
#include "tests/harness.h"

TEST(cfgset_members_values_and_growth)
{
    space_opts_t so;
    space_t *s;
    cfgset_t *set = cfgset_new();
    space_config_t c, d;
    rng_t r;
    double v;
    int added = 0;

    space_opts_default(&so, 768, 12);
    s = space_new(&so);
    rng_seed(&r, 1);
    for (int i = 0; i < 5000; i++) {
        space_sample(s, &r, &c);
        int rc = cfgset_put(set, &c, i);
        ASSERT_TRUE(rc == 0 || rc == 1);
        added += rc;
    }
    ASSERT_EQ(cfgset_count(set), added);
    rng_seed(&r, 1);
    for (int i = 0; i < 5000; i++) {
        space_sample(s, &r, &c);
        ASSERT_TRUE(cfgset_get(set, &c, &v));
    }
    /* A non-canonical copy (an inactive module's leftover mask) is the same member. */
    c = *cfgset_at(set, 0, &v);
    d = c;
    if (d.size[SPACE_PA] == 0)
        d.mask[SPACE_PA][0] = 0x5;
    ASSERT_TRUE(cfgset_has(set, &d));
    ASSERT_EQ(cfgset_put(set, &d, -1.0), 0);
    ASSERT_TRUE(cfgset_get(set, &c, &v));
    ASSERT_NEAR(v, -1.0, 0.0);
    cfgset_clear(set);
    ASSERT_EQ(cfgset_count(set), 0);
    ASSERT_FALSE(cfgset_has(set, &c));
    cfgset_free(&set);
    ASSERT_TRUE(set == NULL);
    space_free(&s);
}

/* A unimodal score over one-exchange moves: distance to a target configuration in levels and
 * layer bits. */
typedef struct {
    const space_t *s;
    space_config_t target;
    int calls, scored;
} target_ctx_t;

static int distance_score(void *ctx, const space_config_t *cfgs, int n, double *vals)
{
    target_ctx_t *t = ctx;

    t->calls++;
    t->scored += n;
    for (int i = 0; i < n; i++) {
        double dist = 0;
        for (int m = 0; m < 3; m++)
            dist += abs(space_level_of(t->s, m, cfgs[i].size[m]) -
                        space_level_of(t->s, m, t->target.size[m]));
        for (int l = 0; l < cfgs[i].layers; l++) {
            bool a = false, b = false;
            for (int m = 0; m < 3; m++) {
                a |= space_config_active(&cfgs[i], m) && space_config_layer(&cfgs[i], m, l);
                b |= space_config_active(&t->target, m) && space_config_layer(&t->target, m, l);
            }
            dist += a != b;
        }
        vals[i] = -dist;
    }
    return 0;
}

TEST(finds_the_optimum_and_then_the_best_allowed)
{
    space_opts_t so;
    space_t *s;
    target_ctx_t t;
    acqopt_opts_t o;
    acqopt_result_t res;
    cfgset_t *ex = cfgset_new();
    space_config_t out;
    rng_t r;

    space_opts_default(&so, 768, 24);
    s = space_new(&so);
    rng_seed(&r, 5);
    t.s = s;
    space_sample(s, &r, &t.target);
    acqopt_opts_default(&o);
    o.random = 200;
    o.starts = 4;
    t.calls = t.scored = 0;
    ASSERT_OK(acqopt_run(s, &o, distance_score, &t, NULL, 0, ex, &r, &out, &res));
    ASSERT_TRUE(space_config_equal(&out, &t.target));
    ASSERT_NEAR(res.value, 0.0, 0.0);
    ASSERT_EQ(res.evals, t.scored);
    ASSERT_TRUE(res.moves > 0);
    /* The optimum excluded: a neighbour at distance 1, never the optimum. */
    ASSERT_EQ(cfgset_add(ex, &t.target), 1);
    ASSERT_OK(acqopt_run(s, &o, distance_score, &t, &t.target, 1, ex, &r, &out, &res));
    ASSERT_FALSE(space_config_equal(&out, &t.target));
    ASSERT_NEAR(res.value, -1.0, 0.0);
    cfgset_free(&ex);
    space_free(&s);
}

static int random_linear(void *ctx, const space_config_t *cfgs, int n, double *vals)
{
    const double *w = ctx;
    space_opts_t so;
    space_t *s;
    double x[64];

    space_opts_default(&so, 768, 12);
    s = space_new(&so);
    for (int i = 0; i < n; i++) {
        space_encode(s, &cfgs[i], x);
        vals[i] = 0;
        for (int k = 0; k < space_dims(s); k++)
            vals[i] += w[k] * x[k];
    }
    space_free(&s);
    return 0;
}

TEST(output_is_always_valid_new_and_within_budget)
{
    space_opts_t so;
    space_t *s;
    rng_t r;

    space_opts_default(&so, 768, 12);
    s = space_new(&so);
    rng_seed(&r, 9);
    for (int trial = 0; trial < 40; trial++) {
        double w[64];
        cfgset_t *ex = cfgset_new();
        space_config_t seeds[5], out, c;
        acqopt_opts_t o;
        acqopt_result_t res;

        for (int k = 0; k < space_dims(s); k++)
            w[k] = rng_normal(&r);
        /* Exclude many configurations, the seeds and their whole neighbourhoods among them. */
        for (int i = 0; i < 5; i++) {
            space_config_t nb[64];
            space_sample(s, &r, &seeds[i]);
            cfgset_add(ex, &seeds[i]);
            int k = space_neighbours(s, &seeds[i], nb, 64);
            for (int j = 0; j < k; j++)
                if (trial % 2)
                    cfgset_add(ex, &nb[j]);
        }
        for (int i = 0; i < 300; i++) {
            space_sample(s, &r, &c);
            cfgset_add(ex, &c);
        }
        acqopt_opts_default(&o);
        o.random = 100 + (int)rng_below(&r, 200);
        o.max_evals = 150 + (int)rng_below(&r, 400);
        ASSERT_OK(acqopt_run(s, &o, random_linear, w, seeds, 5, ex, &r, &out, &res));
        ASSERT_OK(space_check(s, &out));
        ASSERT_FALSE(cfgset_has(ex, &out));
        ASSERT_TRUE(res.evals <= o.max_evals);
        cfgset_free(&ex);
    }
    space_free(&s);
}

TEST(used_up_space_is_reported)
{
    space_opts_t so;
    space_t *s;
    cfgset_t *ex = cfgset_new();
    space_config_t c, out, last;
    acqopt_opts_t o;
    target_ctx_t t;
    rng_t r;
    int total;

    /* Two layers, sizes {8, 0} for each module: (2^3 - 1) * (2^2 - 1) = 21 configurations. */
    space_opts_default(&so, 8, 2);
    for (int m = 0; m < 3; m++)
        ASSERT_OK(space_opts_parse_sizes(&so, m, "8,0"));
    s = space_new(&so);
    ASSERT_NOT_NULL(s);
    total = (int)space_cardinality(s);
    ASSERT_EQ(total, 21);
    rng_seed(&r, 2);
    while (cfgset_count(ex) < total - 1) {
        space_sample(s, &r, &c);
        cfgset_add(ex, &c);
    }
    do
        space_sample(s, &r, &last);
    while (cfgset_has(ex, &last));
    acqopt_opts_default(&o);
    o.random = 3;
    t.s = s;
    t.target = last;
    ASSERT_OK(acqopt_run(s, &o, distance_score, &t, NULL, 0, ex, &r, &out, NULL));
    ASSERT_TRUE(space_config_equal(&out, &last));
    cfgset_add(ex, &last);
    ASSERT_ERR(acqopt_run(s, &o, distance_score, &t, NULL, 0, ex, &r, &out, NULL), ERR_NOTFOUND);
    ASSERT_CONTAINS(err_msg(), "already observed");
    o.max_evals = 0;
    ASSERT_ERR(acqopt_run(s, &o, distance_score, &t, NULL, 0, ex, &r, &out, NULL), ERR_INVAL);
    cfgset_free(&ex);
    space_free(&s);
}
