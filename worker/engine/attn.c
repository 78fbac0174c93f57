/* Attention of one sequence and head: see attn.h. */
#include "worker/engine/attn.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "worker/engine/kernels.h"

/* Applies the attention dropout mask (forward and backward alike) to x [nq, w]. */
static void drop(const attn_t *a, float *x, int w)
{
    if (a->drop_p <= 0.0f)
        return;
    for (int i = 0; i < a->nq; i++)
        kernels_dropout(x + (size_t)i * w, 1, w, w, a->drop_key,
                        a->drop_row0 + (uint64_t)i * a->drop_row_step, a->drop_p);
}

double attn_forward(const attn_t *a, float *probs, float *scratch, float *ctx, int ldc)
{
    int w = a->np + a->nk;
    const float *pd = probs;
    double flops = 4.0 * a->nq * w * a->dh;

    if (a->np > 0)
        kernels_gemm(GEMM_TB, a->nq, a->np, a->dh, 1.0f, a->q, a->ldq, a->pk, a->ldp, 0.0f,
                     probs, w);
    kernels_gemm(GEMM_TB, a->nq, a->nk, a->dh, 1.0f, a->q, a->ldq, a->k, a->ldkv, 0.0f,
                 probs + a->np, w);
    kernels_softmax(probs, a->nq, w, w, a->scale);
    if (a->drop_p > 0.0f) {
        memcpy(scratch, probs, (size_t)a->nq * w * sizeof(float));
        drop(a, scratch, w);
        pd = scratch;
    }
    if (a->np > 0)
        kernels_gemm(GEMM_NN, a->nq, a->dh, a->np, 1.0f, pd, w, a->pv, a->ldp, 0.0f, ctx, ldc);
    kernels_gemm(GEMM_NN, a->nq, a->dh, a->nk, 1.0f, pd + a->np, w, a->v, a->ldkv,
                 a->np > 0 ? 1.0f : 0.0f, ctx, ldc);
    return flops;
}

double attn_backward(const attn_t *a, const float *probs, const float *dctx, int lddc,
                     const attn_grads_t *g, float *scratch)
{
    float *dq = g->dq, *dk = g->dk, *dv = g->dv, *dpk = g->dpk, *dpv = g->dpv;
    int ldq_out = g->ldq, ldkv_out = g->ldkv, ldp_out = g->ldp;
    int w = a->np + a->nk, nq = a->nq;
    double unit = 2.0 * nq * a->dh, flops = 0.0;   /* per key column of a product */
    float *ds = scratch;                          /* dP, then dS */
    float *pd = scratch + (size_t)nq * w;         /* dropout(P) */
    const float *pdrop = probs;

    /* gradients of the values need dropout(P) */
    if ((dv || dpv) && a->drop_p > 0.0f) {
        memcpy(pd, probs, (size_t)nq * w * sizeof(float));
        drop(a, pd, w);
        pdrop = pd;
    }
    if (dv) {
        kernels_gemm(GEMM_TA, a->nk, a->dh, nq, 1.0f, pdrop + a->np, w, dctx, lddc, 0.0f, dv,
                     ldkv_out);
        flops += unit * a->nk;
    }
    if (dpv && a->np > 0) {
        kernels_gemm(GEMM_TA, a->np, a->dh, nq, 1.0f, pdrop, w, dctx, lddc, 1.0f, dpv, ldp_out);
        flops += unit * a->np;
    }
    if (!dq && !dk && !dpk)
        return flops;
    flops += unit * w;
    /* dP = dctx [Pv; V]^T, through the dropout mask, then the softmax */
    if (a->np > 0)
        kernels_gemm(GEMM_TB, nq, a->np, a->dh, 1.0f, dctx, lddc, a->pv, a->ldp, 0.0f, ds, w);
    kernels_gemm(GEMM_TB, nq, a->nk, a->dh, 1.0f, dctx, lddc, a->v, a->ldkv, 0.0f, ds + a->np, w);
    drop(a, ds, w);
    kernels_softmax_bwd(ds, probs, nq, w, w, a->scale);
    if (dq) {
        flops += unit * w;
        if (a->np > 0)
            kernels_gemm(GEMM_NN, nq, a->dh, a->np, 1.0f, ds, w, a->pk, a->ldp, 0.0f, dq, ldq_out);
        kernels_gemm(GEMM_NN, nq, a->dh, a->nk, 1.0f, ds + a->np, w, a->k, a->ldkv,
                     a->np > 0 ? 1.0f : 0.0f, dq, ldq_out);
    }
    if (dk) {
        kernels_gemm(GEMM_TA, a->nk, a->dh, nq, 1.0f, ds + a->np, w, a->q, a->ldq, 0.0f, dk,
                     ldkv_out);
        flops += unit * a->nk;
    }
    if (dpk && a->np > 0) {
        kernels_gemm(GEMM_TA, a->np, a->dh, nq, 1.0f, ds, w, a->q, a->ldq, 1.0f, dpk, ldp_out);
        flops += unit * a->np;
    }
    return flops;
}

void attn_forward_ref(const attn_t *a, float *ctx, int ldc)
{
    int w = a->np + a->nk;
    double *s = calloc((size_t)w, sizeof *s);

    if (!s)
        abort();
    for (int i = 0; i < a->nq; i++) {
        double m = -INFINITY, sum = 0.0;

        for (int j = 0; j < w; j++) {
            const float *key = j < a->np ? a->pk + (size_t)j * a->ldp : a->k + (size_t)(j - a->np) * a->ldkv;
            double dot = 0.0;

            for (int c = 0; c < a->dh; c++)
                dot += (double)a->q[(size_t)i * a->ldq + c] * key[c];
            s[j] = dot * a->scale;
            m = s[j] > m ? s[j] : m;
        }
        for (int j = 0; j < w; j++)
            sum += exp(s[j] - m);
        for (int j = 0; j < w; j++) {
            s[j] = exp(s[j] - m) / sum;
            if (a->drop_p > 0.0f)
                s[j] = kernels_dropout_keep(a->drop_key, a->drop_row0 + (uint64_t)i * a->drop_row_step,
                                            (uint32_t)j, a->drop_p)
                           ? s[j] / (1.0 - a->drop_p)
                           : 0.0;
        }
        for (int c = 0; c < a->dh; c++) {
            double acc = 0.0;

            for (int j = 0; j < w; j++) {
                const float *val = j < a->np ? a->pv + (size_t)j * a->ldp : a->v + (size_t)(j - a->np) * a->ldkv;

                acc += s[j] * val[c];
            }
            ctx[(size_t)i * ldc + c] = (float)acc;
        }
    }
    free(s);
}
