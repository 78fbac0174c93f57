/* Study outputs (coordinator/runtime/report.c): the exact 2-D hypervolume against hand-computed areas. */
#include "coordinator/runtime/report.h"
#include "tests/harness.h"

static report_point_t pt(double metric, double cost)
{
    report_point_t p;

    memset(&p, 0, sizeof p);
    p.metric = metric;
    p.cost = cost;
    return p;
}

TEST(hypervolume_by_hand)
{
    report_point_t one[] = {pt(0.8, 1)};
    report_point_t two[] = {pt(0.9, 3), pt(0.8, 1)};
    /* A dominated point, points beyond the reference and a duplicate add nothing. */
    report_point_t more[] = {pt(0.9, 3), pt(0.8, 1), pt(0.7, 2), pt(0.4, 0.5), pt(0.95, 6),
                             pt(0.8, 1)};

    ASSERT_NEAR(report_hypervolume(one, 1, 0.5, 5), (5 - 1) * (0.8 - 0.5), 1e-12);
    /* (3 - 1) * 0.3 + (5 - 3) * 0.4 */
    ASSERT_NEAR(report_hypervolume(two, 2, 0.5, 5), 1.4, 1e-12);
    ASSERT_NEAR(report_hypervolume(more, 6, 0.5, 5), 1.4, 1e-12);
    ASSERT_NEAR(report_hypervolume(NULL, 0, 0.5, 5), 0, 0);
}
