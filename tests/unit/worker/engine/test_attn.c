/* Tests of worker/engine/attn.c: the forward pass against the naive oracle (prefixes, dropout, fewer
 * queries than keys), and every gradient of the backward pass against central differences of
 * the oracle. */
#include <math.h>

#include "common/rng.h"
#include "tests/harness.h"
#include "worker/engine/attn.h"

enum { NQ = 5, NK = 7, NP = 3, DH = 4, LD = 9 };

typedef struct {
    float q[NQ * LD], k[NK * LD], v[NK * LD], pk[NP * LD], pv[NP * LD];
    float w[NQ * DH];   /* weights of the scalar L = sum(w * ctx) */
} data_t;

static void fill(rng_t *r, float *x, int n)
{
    for (int i = 0; i < n; i++)
        x[i] = (float)rng_normal(r);
}

static void args(data_t *D, attn_t *a, int nq, int np, float p)
{
    *a = (attn_t){.nq = nq, .nk = NK, .np = np, .dh = DH, .q = D->q, .k = D->k, .v = D->v,
                  .pk = D->pk, .pv = D->pv, .ldq = LD, .ldkv = LD, .ldp = LD, .scale = 0.5f,
                  .drop_p = p, .drop_key = 99, .drop_row0 = 5, .drop_row_step = 3};
}

static double loss_ref(data_t *D, const attn_t *a)
{
    float ctx[NQ * DH];
    double l = 0;

    attn_forward_ref(a, ctx, DH);
    for (int i = 0; i < a->nq * DH; i++)
        l += (double)D->w[i] * ctx[i];
    return l;
}

static void check(int nq, int np, float p)
{
    static data_t D;
    attn_t a;
    rng_t r;
    float probs[NQ * (NP + NK)], scratch[2 * NQ * (NP + NK)], ctx[NQ * DH], ctx2[NQ * DH];
    float dq[NQ * DH], dk[NK * DH], dv[NK * DH], dpk[NP * DH] = {0}, dpv[NP * DH] = {0};
    struct {
        float *x, *g;
        int rows;
    } tgt[5] = {{D.q, dq, nq}, {D.k, dk, NK}, {D.v, dv, NK}, {D.pk, dpk, np}, {D.pv, dpv, np}};
    const double h = 1e-2;

    rng_seed(&r, (uint64_t)(nq * 100 + np * 10) + (p > 0));
    fill(&r, D.q, NQ * LD);
    fill(&r, D.k, NK * LD);
    fill(&r, D.v, NK * LD);
    fill(&r, D.pk, NP * LD);
    fill(&r, D.pv, NP * LD);
    fill(&r, D.w, NQ * DH);
    args(&D, &a, nq, np, p);
    attn_forward(&a, probs, scratch, ctx, DH);
    attn_forward_ref(&a, ctx2, DH);
    for (int i = 0; i < nq * DH; i++)
        ASSERT_NEAR(ctx[i], ctx2[i], 1e-5);
    for (int i = 0; i < nq; i++) {
        double s = 0;

        for (int j = 0; j < np + NK; j++)
            s += probs[i * (np + NK) + j];
        ASSERT_NEAR(s, 1.0, 1e-5);
    }
    attn_backward(&a, probs, D.w, DH,
                  &(attn_grads_t){.dq = dq, .dk = dk, .dv = dv, .dpk = np ? dpk : NULL,
                                  .dpv = np ? dpv : NULL, .ldq = DH, .ldkv = DH, .ldp = DH},
                  scratch);
    for (int t = 0; t < 5; t++)
        for (int i = 0; i < tgt[t].rows; i++)
            for (int c = 0; c < DH; c++) {
                float *x = &tgt[t].x[i * LD + c], save = *x;
                double lp, lm;

                *x = (float)(save + h);
                lp = loss_ref(&D, &a);
                *x = (float)(save - h);
                lm = loss_ref(&D, &a);
                *x = save;
                if (!(fabs(tgt[t].g[i * DH + c] - (lp - lm) / (2 * h)) <= 2e-3))
                    FAIL("input %d [%d][%d]: backward %.6g, finite differences %.6g", t, i, c,
                         tgt[t].g[i * DH + c], (lp - lm) / (2 * h));
            }
    /* the prefix gradients accumulate */
    if (np) {
        float again[NP * DH];

        memcpy(again, dpk, sizeof again);
        attn_backward(&a, probs, D.w, DH, &(attn_grads_t){.dpk = dpk, .ldp = DH}, scratch);
        for (int i = 0; i < np * DH; i++)
            ASSERT_NEAR(dpk[i], 2 * again[i], 1e-5);
    }
}

TEST(no_prefix_no_dropout) { check(NQ, 0, 0.0f); }
TEST(prefix) { check(NQ, NP, 0.0f); }
TEST(prefix_and_dropout) { check(NQ, NP, 0.3f); }
TEST(one_query_row) { check(1, NP, 0.2f); }
