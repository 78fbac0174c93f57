/* Tests of coordinator/search/fidelity.c: the rungs, MO-ASHA's rank rule (non-dominated sorting
 * with exact costs, the hypervolume tie-break, the grace below eta), the projection rule
 * (optimistic gains from finished trials, domination at the exact cost), the model rule's bar
 * and verdict, and bad inputs. */
#include <math.h>

#include "coordinator/search/fidelity.h"
#include "coordinator/search/stat.h"
#include "tests/harness.h"

static fidelity_opts_t opts(int epochs)
{
    fidelity_opts_t o;

    fidelity_opts_default(&o, epochs);
    return o;
}

static fidelity_verdict_t decide(const fidelity_opts_t *o, int epoch, fidelity_point_t me,
                                 const fidelity_point_t *peers, int npeers,
                                 const fidelity_done_t *done, int ndone)
{
    fidelity_verdict_t v;

    if (fidelity_decide(o, epoch, me, peers, npeers, done, ndone, &v) != 0)
        FAIL("fidelity_decide: %s", err_msg());
    printf("%s -> %s\n", v.why, v.go_on ? "go on" : "stop");
    return v;
}

TEST(rungs_are_geometric_below_the_full_fidelity)
{
    fidelity_opts_t o = opts(9);
    int r[FIDELITY_MAX_RUNGS];

    ASSERT_EQ(fidelity_rungs(&o, r, FIDELITY_MAX_RUNGS), 2);
    ASSERT_EQ(r[0], 1);
    ASSERT_EQ(r[1], 3);
    o = opts(3);
    ASSERT_EQ(fidelity_rungs(&o, r, FIDELITY_MAX_RUNGS), 1);
    ASSERT_TRUE(fidelity_is_rung(&o, 1));
    ASSERT_FALSE(fidelity_is_rung(&o, 2));
    ASSERT_FALSE(fidelity_is_rung(&o, 3));   /* the end is no rung */
    o = opts(1);
    ASSERT_EQ(fidelity_rungs(&o, r, FIDELITY_MAX_RUNGS), 0);
    o = opts(100);
    o.eta = 2;
    o.min_epochs = 3;
    ASSERT_EQ(fidelity_rungs(&o, r, FIDELITY_MAX_RUNGS), 6);   /* 3 6 12 24 48 96 */
    ASSERT_EQ(r[5], 96);
    ASSERT_EQ(fidelity_rungs(&o, r, 2), 2);
}

/* Six trials at rung 1 of 3 epochs: the first ceil(6/3) = 2 by (front, contribution) go on. */
TEST(rank_rule_keeps_the_first_fronts)
{
    fidelity_opts_t o = opts(3);
    /* front 0: (0.80, 2.0) and (0.70, 0.1); front 1: (0.75, 2.5), (0.60, 0.2); then the rest */
    const fidelity_point_t all[6] = {{0.80, 2.0}, {0.70, 0.1}, {0.75, 2.5},
                                     {0.60, 0.2}, {0.50, 3.0}, {0.55, 2.9}};
    fidelity_point_t peers[5];
    bool expect[6] = {true, true, false, false, false, false};

    for (int me = 0; me < 6; me++) {
        int k = 0;
        for (int i = 0; i < 6; i++)
            if (i != me)
                peers[k++] = all[i];
        fidelity_verdict_t v = decide(&o, 1, all[me], peers, 5, NULL, 0);
        ASSERT_EQ(v.rule, FIDELITY_RULE_RANK);
        ASSERT_EQ(v.kept, 2);
        ASSERT_EQ(v.go_on, expect[me]);
    }
}

/* A cheap trial with a low objective is on the front when nothing cheaper beats it: the exact
 * cost keeps it where a single-objective ASHA would stop it. */
TEST(rank_rule_keeps_a_cheap_trial_that_nothing_cheaper_beats)
{
    fidelity_opts_t o = opts(9);
    const fidelity_point_t peers[5] = {{0.90, 5.0}, {0.89, 4.0}, {0.88, 4.5}, {0.87, 6.0},
                                       {0.86, 3.0}};
    fidelity_verdict_t v = decide(&o, 3, (fidelity_point_t){0.60, 0.01}, peers, 5, NULL, 0);

    ASSERT_TRUE(v.go_on);
    /* the same objective at a cost that others beat is stopped */
    v = decide(&o, 3, (fidelity_point_t){0.60, 7.0}, peers, 5, NULL, 0);
    ASSERT_FALSE(v.go_on);
    ASSERT_CONTAINS(v.why, "place 6 of 6");
}

/* Inside one front, the boundary points own the largest boxes; an interior point squeezed
 * between close neighbours goes last. */
TEST(rank_rule_breaks_ties_by_hypervolume_contribution)
{
    fidelity_opts_t o = opts(3);
    /* all non-dominated: objective and cost both increase */
    const fidelity_point_t peers[5] = {{0.50, 0.1}, {0.60, 1.0}, {0.61, 1.05}, {0.70, 2.0},
                                       {0.80, 3.0}};
    fidelity_verdict_t v = decide(&o, 1, (fidelity_point_t){0.605, 1.02}, peers, 5, NULL, 0);

    ASSERT_EQ(v.position, 5);
    ASSERT_FALSE(v.go_on);
}

TEST(fewer_than_eta_at_the_rung_all_go_on)
{
    fidelity_opts_t o = opts(3);
    const fidelity_point_t peers[1] = {{0.9, 0.1}};
    fidelity_verdict_t v = decide(&o, 1, (fidelity_point_t){0.1, 9.0}, peers, 1, NULL, 0);

    ASSERT_TRUE(v.go_on);
    ASSERT_CONTAINS(v.why, "all go on");
}

/* Three finished trials gained 0.05, 0.10 and 0.20 from epoch 1 to the end: the 0.9 quantile is
 * 0.18. A trial at 0.60 projects to 0.78: a finished 0.80 at a lower cost dominates it, a
 * finished 0.80 at a higher cost does not. */
TEST(projection_rule_stops_what_even_a_large_gain_cannot_bring_to_the_front)
{
    fidelity_opts_t o = opts(3);
    fidelity_done_t done[3] = {{0.70, 0.75, 1.0}, {0.60, 0.70, 2.0}, {0.60, 0.80, 0.5}};
    fidelity_verdict_t v = decide(&o, 1, (fidelity_point_t){0.60, 1.0}, NULL, 0, done, 3);

    ASSERT_EQ(v.rule, FIDELITY_RULE_PROJECTION);
    ASSERT_NEAR(v.projected, 0.78, 1e-12);
    ASSERT_FALSE(v.go_on);
    ASSERT_CONTAINS(v.why, "dominated by a finished trial's 0.8 at cost 0.5");
    /* cheaper than every finished trial: nothing dominates it */
    v = decide(&o, 1, (fidelity_point_t){0.60, 0.4}, NULL, 0, done, 3);
    ASSERT_TRUE(v.go_on);
    /* a higher start projects past the best */
    v = decide(&o, 1, (fidelity_point_t){0.65, 1.0}, NULL, 0, done, 3);
    ASSERT_NEAR(v.projected, 0.83, 1e-12);
    ASSERT_TRUE(v.go_on);
    /* below min_history the rank rule decides */
    o.min_history = 4;
    v = decide(&o, 1, (fidelity_point_t){0.60, 1.0}, NULL, 0, done, 3);
    ASSERT_EQ(v.rule, FIDELITY_RULE_RANK);
}

/* Finished trials that lost objective after the rung give no negative gain. */
TEST(projection_gain_is_never_negative)
{
    fidelity_opts_t o = opts(3);
    fidelity_done_t done[3] = {{0.80, 0.70, 1.0}, {0.90, 0.85, 2.0}, {0.75, 0.70, 3.0}};
    fidelity_verdict_t v = decide(&o, 1, (fidelity_point_t){0.72, 0.9}, NULL, 0, done, 3);

    ASSERT_NEAR(v.projected, 0.72, 1e-12);
    ASSERT_TRUE(v.go_on);   /* cheaper than all, nothing dominates */
}

TEST(bad_inputs_are_refused_naming_what)
{
    fidelity_opts_t o = opts(3);
    fidelity_verdict_t v;
    fidelity_point_t nan_peer = {NAN, 1.0};

    ASSERT_ERR(fidelity_decide(&o, 2, (fidelity_point_t){0.5, 1}, NULL, 0, NULL, 0, &v), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "epoch 2 is not a rung");
    ASSERT_ERR(fidelity_decide(&o, 1, (fidelity_point_t){INFINITY, 1}, NULL, 0, NULL, 0, &v),
               ERR_INVAL);
    ASSERT_ERR(fidelity_decide(&o, 1, (fidelity_point_t){0.5, 1}, &nan_peer, 1, NULL, 0, &v),
               ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "peer 0");
    o.eta = 1;
    ASSERT_ERR(fidelity_check(&o), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "eta 1");
    o = opts(3);
    o.gain_quantile = 0.2;
    ASSERT_ERR(fidelity_check(&o), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "gain quantile");
}

/* stat_quantile as numpy's default (linear) quantile: np.quantile([3, 1, 2, 4], q). */
TEST(stat_quantile_is_numpys_linear_quantile)
{
    double x[4] = {3, 1, 2, 4}, one[1] = {7};

    ASSERT_NEAR(stat_quantile(x, 4, 0.5), 2.5, 1e-15);
    ASSERT_NEAR(stat_quantile(x, 4, 0.9), 3.7, 1e-15);
    ASSERT_NEAR(stat_quantile(x, 4, 0.0), 1.0, 0);
    ASSERT_NEAR(stat_quantile(x, 4, 1.0), 4.0, 0);
    ASSERT_NEAR(stat_quantile(one, 1, 0.25), 7.0, 0);
}

TEST(model_rule_bar_is_the_best_finished_at_no_more_cost)
{
    const fidelity_point_t front[] = {{0.70, 0.5}, {0.80, 1.0}, {0.75, 0.9}, {0.90, 3.0}};
    fidelity_verdict_t v;
    double bar = -1;

    ASSERT_FALSE(fidelity_front_bar(front, 4, 0.4, &bar));   /* cheaper than all: on the front */
    ASSERT_FALSE(fidelity_front_bar(front, 0, 9.0, &bar));
    ASSERT_TRUE(fidelity_front_bar(front, 4, 0.95, &bar));
    ASSERT_NEAR(bar, 0.75, 0);
    ASSERT_TRUE(fidelity_front_bar(front, 4, 1.0, &bar));    /* the same cost counts */
    ASSERT_NEAR(bar, 0.80, 0);
    ASSERT_TRUE(fidelity_front_bar(front, 4, 2.0, &bar));
    ASSERT_NEAR(bar, 0.80, 0);
    fidelity_model_verdict(0.1, 0.8, 0.1, &v);
    ASSERT_TRUE(v.go_on && v.rule == FIDELITY_RULE_MODEL);
    ASSERT_CONTAINS(v.why, "chance 0.1 of ending above 0.8");
    fidelity_model_verdict(0.099, 0.8, 0.1, &v);
    ASSERT_FALSE(v.go_on);
    ASSERT_CONTAINS(v.why, "below 0.1");
}
