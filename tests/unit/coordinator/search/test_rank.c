/* Tests of coordinator/search/rank.c: best first, ties in index order. */
#include <stdlib.h>

#include "coordinator/search/rank.h"
#include "tests/harness.h"

TEST(best_first_and_ties_by_index)
{
    rank_t r[] = {{0.5, 0}, {2.0, 1}, {0.5, 2}, {-1.0, 3}, {2.0, 4}, {0.5, 5}};
    static const int want[] = {1, 4, 0, 2, 5, 3};
    int n = (int)(sizeof r / sizeof *r);

    qsort(r, (size_t)n, sizeof *r, rank_cmp);
    for (int k = 0; k < n; k++)
        ASSERT_EQ(r[k].i, want[k]);
    ASSERT_TRUE(rank_cmp(&r[0], &r[1]) < 0);
    ASSERT_TRUE(rank_cmp(&r[1], &r[0]) > 0);
    ASSERT_EQ(rank_cmp(&r[2], &r[2]), 0);
}
