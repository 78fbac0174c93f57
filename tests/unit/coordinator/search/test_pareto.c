/* Tests of coordinator/search/pareto.c against brute force. */
#include "common/rng.h"
#include "coordinator/search/pareto.h"
#include "tests/harness.h"

/* Area of the union of the boxes [ref, p_i] by coordinate compression: every cell of the grid
 * spanned by the distinct coordinates is covered or not. O(n^3), exact. */
static double brute_hv(const double *pts, int n, const double ref[2])
{
    double xs[256], ys[256], hv = 0.0;
    int nx = 0, ny = 0;

    xs[nx++] = ref[0];
    ys[ny++] = ref[1];
    for (int i = 0; i < n; i++) {
        if (pts[2 * i] > ref[0])
            xs[nx++] = pts[2 * i];
        if (pts[2 * i + 1] > ref[1])
            ys[ny++] = pts[2 * i + 1];
    }
    for (int a = 0; a < nx; a++)
        for (int b = a + 1; b < nx; b++)
            if (xs[b] < xs[a]) {
                double t = xs[a]; xs[a] = xs[b]; xs[b] = t;
            }
    for (int a = 0; a < ny; a++)
        for (int b = a + 1; b < ny; b++)
            if (ys[b] < ys[a]) {
                double t = ys[a]; ys[a] = ys[b]; ys[b] = t;
            }
    for (int a = 0; a + 1 < nx; a++)
        for (int b = 0; b + 1 < ny; b++) {
            double cx = 0.5 * (xs[a] + xs[a + 1]), cy = 0.5 * (ys[b] + ys[b + 1]);
            for (int i = 0; i < n; i++)
                if (pts[2 * i] >= cx && pts[2 * i + 1] >= cy) {
                    hv += (xs[a + 1] - xs[a]) * (ys[b + 1] - ys[b]);
                    break;
                }
        }
    return hv;
}

static void random_points(rng_t *r, double *pts, int n, bool grid)
{
    for (int i = 0; i < 2 * n; i++)
        /* On a grid, ties and duplicates are frequent: the cases sorting gets wrong. */
        pts[i] = grid ? (double)rng_below(r, 6) : rng_normal(r);
}

TEST(hypervolume_matches_brute_force)
{
    rng_t r;

    rng_seed(&r, 1);
    for (int trial = 0; trial < 400; trial++) {
        int n = 1 + (int)rng_below(&r, 40);
        double pts[80], ref[2];
        bool grid = trial % 2;

        random_points(&r, pts, n, grid);
        ref[0] = grid ? 0.5 * (double)rng_below(&r, 3) : -1.0 + rng_normal(&r);
        ref[1] = grid ? 0.5 * (double)rng_below(&r, 3) : -1.0 + rng_normal(&r);
        ASSERT_NEAR(pareto_hv(pts, n, ref), brute_hv(pts, n, ref), 1e-9);
    }
}

TEST(front_is_exactly_the_non_dominated_set)
{
    rng_t r;

    rng_seed(&r, 2);
    for (int trial = 0; trial < 300; trial++) {
        int n = 1 + (int)rng_below(&r, 30), k = 0;
        double pts[60];
        bool keep[30];

        random_points(&r, pts, n, trial % 2);
        int m = pareto_front(pts, n, keep);
        for (int i = 0; i < n; i++) {
            bool dominated = false, dup_before = false;
            for (int j = 0; j < n; j++) {
                if (j == i)
                    continue;
                if (pts[2 * j] >= pts[2 * i] && pts[2 * j + 1] >= pts[2 * i + 1] &&
                    (pts[2 * j] > pts[2 * i] || pts[2 * j + 1] > pts[2 * i + 1]))
                    dominated = true;
                if (j < i && pts[2 * j] == pts[2 * i] && pts[2 * j + 1] == pts[2 * i + 1])
                    dup_before = true;
            }
            ASSERT_EQ(keep[i], !dominated && !dup_before);
            k += keep[i];
        }
        ASSERT_EQ(m, k);
    }
}

TEST(improvement_matches_difference_of_volumes)
{
    rng_t r;

    rng_seed(&r, 3);
    for (int trial = 0; trial < 500; trial++) {
        int n = (int)rng_below(&r, 20);
        double pts[42], front[40], ref[2] = {-1.5, -1.5}, p[2];
        bool grid = trial % 2;
        int m;

        random_points(&r, pts, n + 1, grid);
        if (grid)
            ref[0] = ref[1] = 0.5;
        p[0] = pts[2 * n];
        p[1] = pts[2 * n + 1];
        m = pareto_staircase(pts, n, ref, front);
        ASSERT_TRUE(m >= 0 && m <= n);
        for (int j = 1; j < m; j++) {
            ASSERT_TRUE(front[2 * j] > front[2 * j - 2]);
            ASSERT_TRUE(front[2 * j + 1] < front[2 * j - 1]);
        }
        ASSERT_NEAR(pareto_hv_staircase(front, m, ref), brute_hv(pts, n, ref), 1e-9);
        ASSERT_NEAR(pareto_hvi(front, m, ref, p),
                    brute_hv(pts, n + 1, ref) - brute_hv(pts, n, ref), 1e-9);
    }
}

TEST(reference_point_rule)
{
    /* Front: (1, 5), (2, 3), (4, 1); (1.5, 2) is dominated and ignored. */
    double pts[8] = {1, 5, 2, 3, 4, 1, 1.5, 2}, ref[2];
    double one[2] = {-3, 0}, ref1[2];

    pareto_ref_point(pts, 4, PARETO_REF_FRAC, ref);
    ASSERT_NEAR(ref[0], 1 - 0.1 * 3, 1e-15);
    ASSERT_NEAR(ref[1], 1 - 0.1 * 4, 1e-15);
    /* A single point: the margin scales with its magnitude (at least 1). */
    pareto_ref_point(one, 1, PARETO_REF_FRAC, ref1);
    ASSERT_NEAR(ref1[0], -3.3, 1e-15);
    ASSERT_NEAR(ref1[1], -0.1, 1e-15);
}
