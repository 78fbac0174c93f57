/* Tests of worker/engine/pool.c: every task runs exactly once per run, on a valid thread id, over many
 * back-to-back runs; split covers a range exactly. */
#include <stdatomic.h>

#include "tests/harness.h"
#include "worker/engine/pool.h"

typedef struct {
    atomic_int count[1000];
    atomic_int bad_tid;
    int nthreads;
} ctx_t;

static void task(void *arg, int t, int tid)
{
    ctx_t *c = arg;

    atomic_fetch_add(&c->count[t], 1);
    if (tid < 0 || tid >= c->nthreads)
        atomic_fetch_add(&c->bad_tid, 1);
}

TEST(every_task_runs_once)
{
    for (int nt = 1; nt <= 4; nt++) {
        pool_t *p = pool_new(nt);
        static ctx_t c;

        ASSERT_NOT_NULL(p);
        ASSERT_EQ(pool_threads(p), nt);
        memset(&c, 0, sizeof c);
        c.nthreads = nt;
        for (int run = 0; run < 500; run++)
            pool_run(p, 1 + run % 1000 % 37, task, &c);
        for (int run = 0; run < 3; run++)
            pool_run(p, 1000, task, &c);
        for (int t = 0; t < 1000; t++) {
            int expect = 3;

            for (int run = 0; run < 500; run++)
                expect += t < 1 + run % 37;
            ASSERT_EQ(atomic_load(&c.count[t]), expect);
        }
        ASSERT_EQ(atomic_load(&c.bad_tid), 0);
        pool_run(p, 0, task, &c);
        pool_free(&p);
        ASSERT_TRUE(p == NULL);
    }
    ASSERT_TRUE(pool_new(0) == NULL);
    ASSERT_TRUE(pool_new(POOL_MAX_THREADS + 1) == NULL);
}

TEST(split_covers_the_range)
{
    for (long n = 0; n < 70; n++)
        for (int parts = 1; parts < 6; parts++)
            for (long align = 1; align < 9; align += 3) {
                long next = 0;

                for (int k = 0; k < parts; k++) {
                    long b, e;

                    pool_split(n, parts, k, align, &b, &e);
                    ASSERT_EQ(b, next);
                    ASSERT_TRUE(e >= b);
                    if (e < n)
                        ASSERT_EQ(e % align, 0);
                    next = e;
                }
                ASSERT_EQ(next, n);
            }
}
