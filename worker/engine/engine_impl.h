/* Private to worker/engine/engine.c and worker/engine/engine_layer.c: the engine's state.
 *
 * Buffers are row-major with a row per token (N rows: every token of the packed batch) or per
 * query row (M rows: N, or the batch's n [CLS] rows in the top layer). The projections of a
 * layer share one [N, 3d] buffer: queries in columns 0..d (all-rows layers), keys and values in
 * d..3d; the top layer keeps its [CLS] queries apart in [n, d]. Every float buffer is sized in
 * one table, engine.c's buffer plan, and carved from one block. */
#ifndef AUTOPEFT_ENGINE_IMPL_H
#define AUTOPEFT_ENGINE_IMPL_H

#include <stdatomic.h>

#include "common/rng.h"
#include "worker/engine/engine.h"
#include "worker/engine/pool.h"

/* Hard cap on tokens per batch (buffers are sized from it). */
#define ENGINE_MAX_TOKENS (1 << 20)

/* Activations of one layer. In a stored layer, the fields it needs for its backward pass
 * point to its own memory; everything else points to shared scratch (or is NULL for optional
 * outputs such as xhat1). */
typedef struct {
    float *xq;        /* [n, d] gathered [CLS] inputs (top layer) */
    float *qkv;       /* [N, 3d] */
    float *qcls;      /* [n, d] top-layer queries */
    float *xa_q, *xa_v;   /* LoRA x A^T: [M, r], [N, r] */
    float *probs;     /* attention probabilities, sequence by sequence, head by head */
    float *ctx;       /* [M, d] attention output before its dense layer */
    float *a, *xhat1, *rstd1;        /* attention block output = FFN input, its LayerNorm */
    float *g, *uderiv;               /* [M, ff] GELU output and derivative */
    float *y;                        /* [M, d] x + h before the output LayerNorm (scratch) */
    float *zin, *sa_xhat, *sa_rstd, *sa_h;   /* serial adapter: LN2(x + h), its stats, hidden */
    float *pa_h;                     /* parallel adapter hidden [M, r] */
    float *ha_ao, *ha_ah;            /* Houlsby, attention site: its input [M, d], hidden [M, r] */
    float *ha_fo, *ha_fh;            /* Houlsby, FFN site: the same */
    float *xhat2, *rstd2;            /* output LayerNorm */
    float *out;                      /* [M, d] layer output */
} acts_t;

/* What a layer does in training. */
typedef struct {
    bool stored;      /* keeps activations: the backward pass enters this layer */
    bool need_dx;     /* the backward pass continues below the layer */
    bool need_ffn;    /* ... crosses the FFN to the attention output (ha, or need_attn) */
    bool need_attn;   /* ... reaches the attention block (prefixes, LoRA, or below) */
    bool want_qkv;    /* ... needs d(query, key, value) */
    bool cls;         /* computes the [CLS] rows only after the key/value projections */
    bool sa, pa, lora, prefix, ha;
} plan_t;

struct engine {
    const model_t *model;
    peft_t *peft;
    engine_opts_t o;
    shape_t s;
    int d, H, dh, ff, L, P, bn, r_sa, r_pa, r_lora, r_ha;
    float eps, lora_s;
    bool ft;
    pool_t *pool;
    int nthreads;
    rng_t rng;
    uint64_t step_key;

    const model_view_t *bw;   /* backbone weights (the model's, or the trial's copy) */
    const model_view_t *bg;   /* backbone gradients (full fine-tuning), else NULL */
    const peft_view_t *pw, *pg;
    int lowest;               /* lowest layer the backward pass enters (L: none) */
    plan_t *plan;             /* [L] */
    acts_t *stored;           /* [L] memory of stored layers */
    acts_t scratch;

    int cap_tokens, cap_batch, cap_len;

    /* the current batch */
    int n, N;
    bool train;
    float p_hidden, p_attn, p_cls;   /* dropout in effect */
    int32_t *start, *len;            /* [cap_batch] */
    size_t *poff_full, *poff_cls;    /* [cap_batch + 1] probs offsets */
    int32_t *ids, *types, *pos;      /* [cap_tokens] packed */
    float *labels_f;
    int32_t *labels_i;

    float *emb_out, *emb_xhat, *emb_rstd;   /* [N, d]: input of layer 0 */
    float *ping[2];                  /* outputs of layers below the lowest stored one */
    float *in_low;                   /* input of the lowest stored layer */
    float *hcls, *pooled, *pdrop, *logits, *dlogits;   /* head */
    float *pt_t, *pt_kv, *pt_dkv, *pt_dt;              /* prefix MLP */

    /* backward scratch */
    float *dout[2], *dqkv, *dqcls, *dctx, *dz, *dy, *da, *dpre, *dO, *dffn, *dI, *dzin, *dsh,
        *dph, *dtq, *dtv, *dxq, *dhaa, *dhaf;
    float *attn_scratch;             /* per thread */
    size_t attn_scratch_per;
    float *prefix_acc;               /* per thread [2, P, d] prefix gradient partial sums */

    float *block;                    /* every float buffer above, carved (engine.c's plan) */

    engine_part_stats_t *stats;      /* [L + 2]: embeddings, layers, head */
    _Atomic uint64_t (*flops)[2];    /* [L + 2][forward, backward], counted by every thread */
    size_t stored_floats;
};

/* ---- shared helpers (engine.c) ---- */

/* Which pass a product's FLOPs count to, or'd with kernels_gemm's GEMM_TA and GEMM_TB in the
 * engine's products ("ENGINE_BWD | GEMM_TA": a weight gradient). */
#define ENGINE_FWD 0u
#define ENGINE_BWD 4u

/* C = alpha op(A) op(B) + beta C split over the pool by C's larger dimension; op is the pass
 * and the transposes (above); FLOPs are counted to stats part (-1 embeddings, 0..L-1 layers,
 * L head). */
void engine__gemm(engine_t *e, int part, unsigned op, int m, int n, int k, float alpha,
                  const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
/* The same on the calling thread only, for products inside a pool task. */
void engine__gemm1(engine_t *e, int part, unsigned op, int m, int n, int k, float alpha,
                   const float *a, int lda, const float *b, int ldb, float beta, float *c,
                   int ldc);
/* Adds FLOPs done outside engine__gemm (attention) to a part's count in pass ENGINE_FWD or
 * ENGINE_BWD. */
void engine__count(engine_t *e, int part, unsigned pass, double flops);
typedef void (*engine_rows_fn)(engine_t *e, void *ctx, int part, int nparts, int tid);
/* Runs fn for parts 0..nparts-1 of a row range on the pool (nparts = threads). */
void engine__parts(engine_t *e, engine_rows_fn fn, void *ctx);
uint64_t engine__site_key(const engine_t *e, int part, int site);
/* Token row of query row r of layer l (identity, or the sequence's [CLS] in the top layer). */
int engine__token(const engine_t *e, bool cls, int r);

/* ---- layers (engine_layer.c) ---- */

/* Forward of layer l from its input x; A says where its activations go (composed by the caller:
 * a stored layer's own memory, scratch otherwise, NULL for statistics nobody will read). */
void engine__layer_forward(engine_t *e, int l, const float *x, const acts_t *A);
/* Backward of layer l from dout ([M, d], overwritten) to dx ([N, d], NULL when the pass stops
 * here). x is the layer's input. */
void engine__layer_backward(engine_t *e, int l, const float *x, const acts_t *A, float *dout,
                            float *dx);

#endif
