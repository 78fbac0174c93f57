/* The training engine: the shared helpers of its passes (matrix products over the pool, FLOP
 * counts), and its construction: what each layer does (the layer plan) and every buffer that
 * needs (the buffer plan). The passes are in worker/engine/engine_pass.c and
 * worker/engine/engine_layer.c. See engine.h. */
#include "worker/engine/engine.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/blas.h"
#include "common/err.h"
#include "common/mem.h"
#include "worker/engine/engine_impl.h"
#include "worker/engine/kernels.h"

void engine_opts_default(engine_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->threads = 1;
    o->max_batch = 32;
    o->max_len = 128;
}

/* ---- shared helpers -------------------------------------------------------------------------- */

static engine_part_stats_t *part_stats(engine_t *e, int part)
{
    return &e->stats[part + 1];
}

/* The pass shares a word with kernels_gemm's transposes. */
_Static_assert((ENGINE_BWD & (GEMM_TA | GEMM_TB)) == 0, "ENGINE_BWD collides with GEMM_TA/TB");

/* The [forward, backward] column of a part's FLOP counts that op's pass counts to. */
static _Atomic uint64_t *flops_of(engine_t *e, int part, unsigned op)
{
    return &e->flops[part + 1][(op & ENGINE_BWD) != 0];
}

static void count(engine_t *e, int part, unsigned op, int m, int n, int k)
{
    if (m > 0 && n > 0 && k > 0)
        atomic_fetch_add_explicit(flops_of(e, part, op), 2ull * (uint64_t)m * n * k,
                                  memory_order_relaxed);
}

void engine__count(engine_t *e, int part, unsigned pass, double flops)
{
    atomic_fetch_add_explicit(flops_of(e, part, pass), (uint64_t)flops, memory_order_relaxed);
}

void engine__gemm1(engine_t *e, int part, unsigned op, int m, int n, int k, float alpha,
                   const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    count(e, part, op, m, n, k);
    kernels_gemm(op, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

typedef struct {
    unsigned op;
    bool split_rows;
    int m, n, k, lda, ldb, ldc, parts;
    float alpha, beta;
    const float *a, *b;
    float *c;
} gemm_job_t;

static void gemm_task(void *arg, int part, int tid)
{
    const gemm_job_t *g = arg;
    bool ta = g->op & GEMM_TA, tb = g->op & GEMM_TB;
    long i0, i1;

    (void)tid;
    if (g->split_rows) {
        pool_split(g->m, g->parts, part, 8, &i0, &i1);
        if (i1 > i0)
            kernels_gemm(g->op, (int)(i1 - i0), g->n, g->k, g->alpha,
                         ta ? g->a + i0 : g->a + (size_t)i0 * g->lda, g->lda, g->b, g->ldb,
                         g->beta, g->c + (size_t)i0 * g->ldc, g->ldc);
    } else {
        pool_split(g->n, g->parts, part, 16, &i0, &i1);
        if (i1 > i0)
            kernels_gemm(g->op, g->m, (int)(i1 - i0), g->k, g->alpha, g->a, g->lda,
                         tb ? g->b + (size_t)i0 * g->ldb : g->b + i0, g->ldb, g->beta,
                         g->c + i0, g->ldc);
    }
}

void engine__gemm(engine_t *e, int part, unsigned op, int m, int n, int k, float alpha,
                  const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    double flops = 2.0 * m * n * k;
    gemm_job_t g = {.op = op, .split_rows = m >= n, .m = m, .n = n, .k = k, .lda = lda,
                    .ldb = ldb, .ldc = ldc, .parts = e->nthreads, .alpha = alpha, .beta = beta,
                    .a = a, .b = b, .c = c};

    count(e, part, op, m, n, k);
    if (m <= 0 || n <= 0)
        return;
    /* small products are not worth waking the pool */
    if (e->nthreads == 1 || flops < 2e5) {
        kernels_gemm(op, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    pool_run(e->pool, e->nthreads, gemm_task, &g);
}

typedef struct {
    engine_t *e;
    engine_rows_fn fn;
    void *ctx;
} parts_job_t;

static void parts_task(void *arg, int part, int tid)
{
    parts_job_t *j = arg;

    j->fn(j->e, j->ctx, part, j->e->nthreads, tid);
}

void engine__parts(engine_t *e, engine_rows_fn fn, void *ctx)
{
    parts_job_t j = {e, fn, ctx};

    pool_run(e->pool, e->nthreads, parts_task, &j);
}

uint64_t engine__site_key(const engine_t *e, int part, int site)
{
    return rng_mix64(e->step_key ^ ((uint64_t)(part + 2) << 8 | (uint64_t)site));
}

int engine__token(const engine_t *e, bool cls, int r)
{
    return cls ? e->start[r] : r;
}

/* ---- construction ----------------------------------------------------------------------------- */

static int check_opts(const engine_opts_t *o, const shape_t *s)
{
    if (o->threads < 1 || o->threads > POOL_MAX_THREADS)
        return err_set(ERR_RANGE, "engine: %d threads; expected 1..%d", o->threads, POOL_MAX_THREADS);
    if (o->max_batch < 1 || o->max_batch > ENGINE_MAX_TOKENS)
        return err_set(ERR_RANGE, "engine: batch of %d; expected 1..%d", o->max_batch, ENGINE_MAX_TOKENS);
    if (o->max_len < 1 || o->max_len > s->positions)
        return err_set(ERR_RANGE, "engine: maximum length %d; the model has %d positions",
                       o->max_len, s->positions);
    if (o->max_tokens < 0 || o->max_tokens > ENGINE_MAX_TOKENS ||
        (o->max_tokens == 0 && (long)o->max_batch * o->max_len > ENGINE_MAX_TOKENS))
        return err_set(ERR_RANGE, "engine: more than %d tokens per batch", ENGINE_MAX_TOKENS);
    return 0;
}

/* What each layer does in training (plan_t), from the modules and options. */
static void plan_layers(engine_t *e)
{
    int L = e->L;

    e->lowest = e->ft || e->o.all_work ? 0 : peft_lowest_layer(e->peft);
    if (e->lowest < 0)
        e->lowest = 0;
    for (int l = 0; l < L; l++) {
        plan_t *p = &e->plan[l];

        p->sa = peft_on(e->peft, SPACE_SA, l);
        p->pa = peft_on(e->peft, SPACE_PA, l);
        p->lora = peft_on(e->peft, SPACE_LORA, l);
        p->prefix = peft_on(e->peft, SPACE_PT, l);
        p->ha = peft_on(e->peft, SPACE_HA, l);
        p->stored = l >= e->lowest;
        p->need_dx = p->stored && (l > e->lowest || e->ft || e->o.all_work);
        p->need_attn = p->stored && (p->need_dx || p->lora || p->prefix || e->ft);
        p->need_ffn = p->need_attn || (p->stored && p->ha);
        p->want_qkv = p->need_attn && (p->need_dx || p->lora || e->ft);
        p->cls = l == L - 1 && !e->o.all_work;
    }
}

/* ---- the buffer plan ------------------------------------------------------------------------ */

/* Every float buffer of the engine is listed once below (plan_shared, plan_layer), with its
 * size and its owner, and carved from one block. The plan is walked twice: first to size the
 * block, then to carve it. A buffer of size 0 (a module or pass this configuration does not
 * have) stays NULL, which the passes read as "not there" (compose() lets a stored layer's NULL
 * fields fall back to scratch).
 *
 * Sizes are in floats: T tokens and B sequences per batch (the capacities), L layers, d hidden,
 * ff intermediate, H heads, P prefix length, bn the prefix MLP's width, r_* module sizes,
 * W = P + the longest sequence (a row of attention probabilities), M a layer's query rows (T,
 * or B in the top layer, which computes its [CLS] rows only). A prefixed name (g_T, att_M)
 * is that count where the buffer is needed and 0 where it is not. */

/* The owner of a buffer that is shared scratch: its floats count as no part's activations. */
#define SCRATCH (-2)

typedef struct {
    engine_t *e;
    float *base;              /* NULL in the sizing walk */
    size_t off;               /* floats so far, each buffer rounded up to whole cache lines
                               * (as mem_alloc_aligned rounds); SIZE_MAX once that overflows */
    const char *largest;      /* the largest buffer, named when the block cannot be had */
    size_t largest_floats;
} carve_t;

/* One buffer: *at receives floats floats of the block (NULL when floats is 0), counted as
 * activation storage of part owner (-1 embeddings, 0..L-1 a layer, L the head) unless the owner
 * is SCRATCH. */
static void buf(carve_t *c, float **at, int owner, size_t floats, const char *what)
{
    const size_t line = MEM_ALIGN / sizeof(float);
    size_t start = c->off;

    if (floats == 0)
        return;
    if (floats > c->largest_floats) {
        c->largest = what;
        c->largest_floats = floats;
    }
    if (!mem_add(c->off, (floats + line - 1) / line * line, &c->off))
        c->off = SIZE_MAX;
    if (!c->base)
        return;
    *at = c->base + start;
    if (owner != SCRATCH) {
        part_stats(c->e, owner)->stored_floats += floats;
        c->e->stored_floats += floats;
    }
}

/* Buffers every engine has: the largest layer's forward temporaries, the outputs of layers that
 * keep nothing, the embeddings, the head, the prefix MLP, per-thread attention scratch, and the
 * backward pass's temporaries (when it enters a layer). */
static void plan_shared(carve_t *c)
{
    engine_t *e = c->e;
    acts_t *S = &e->scratch;
    size_t T = (size_t)e->cap_tokens, B = (size_t)e->cap_batch, L = (size_t)e->L;
    size_t d = (size_t)e->d, ff = (size_t)e->ff, H = (size_t)e->H, P = (size_t)e->P;
    size_t W = (size_t)(e->P + e->cap_len), lab = (size_t)e->s.labels, th = (size_t)e->nthreads;
    size_t r_sa = (size_t)e->r_sa, r_pa = (size_t)e->r_pa, r_lo = (size_t)e->r_lora;
    size_t r_ha = (size_t)e->r_ha, ha_T = e->r_ha ? T : 0;
    size_t mlp_P = peft_prefix_mlp(e->peft) ? P : 0, bn = (size_t)e->bn;
    size_t emb_T = e->ft ? T : 0;                     /* the embeddings train */
    size_t g_T = e->lowest < e->L ? T : 0;            /* the backward pass enters a layer */
    size_t g_B = e->lowest < e->L ? B : 0;
    const int emb = -1, head = e->L;

    e->attn_scratch_per = 2 * (size_t)e->cap_len * W;
    /*     buffer               owner    floats                  what */
    buf(c, &S->qkv,             SCRATCH, T * 3 * d,              "projections");
    buf(c, &S->qcls,            SCRATCH, B * d,                  "queries");
    buf(c, &S->xq,              SCRATCH, B * d,                  "layer input rows");
    buf(c, &S->probs,           SCRATCH, H * T * W,              "attention probabilities");
    buf(c, &S->ctx,             SCRATCH, T * d,                  "attention output");
    buf(c, &S->a,               SCRATCH, T * d,                  "FFN input");
    buf(c, &S->g,               SCRATCH, T * ff,                 "FFN hidden");
    buf(c, &S->y,               SCRATCH, T * d,                  "layer sum");
    buf(c, &S->zin,             SCRATCH, T * d,                  "adapter input");
    buf(c, &S->sa_h,            SCRATCH, T * r_sa,               "serial adapter hidden");
    buf(c, &S->pa_h,            SCRATCH, T * r_pa,               "parallel adapter hidden");
    buf(c, &S->ha_ao,           SCRATCH, ha_T * d,               "attention output (Houlsby)");
    buf(c, &S->ha_ah,           SCRATCH, T * r_ha,               "Houlsby attention hidden");
    buf(c, &S->ha_fo,           SCRATCH, ha_T * d,               "FFN output (Houlsby)");
    buf(c, &S->ha_fh,           SCRATCH, T * r_ha,               "Houlsby FFN hidden");
    buf(c, &S->xa_q,            SCRATCH, T * r_lo,               "LoRA query hidden");
    buf(c, &S->xa_v,            SCRATCH, T * r_lo,               "LoRA value hidden");
    buf(c, &e->ping[0],         SCRATCH, T * d,                  "frozen layer output");
    buf(c, &e->ping[1],         SCRATCH, T * d,                  "frozen layer output");
    buf(c, &e->emb_out,         SCRATCH, T * d,                  "embeddings");
    buf(c, &e->in_low,          SCRATCH, T * d,                  "lowest stored layer input");
    buf(c, &e->emb_xhat,        emb,     emb_T * d,              "embedding LayerNorm statistics");
    buf(c, &e->emb_rstd,        emb,     emb_T,                  "embedding LayerNorm statistics");
    buf(c, &e->hcls,            head,    B * d,                  "head input");
    buf(c, &e->pooled,          head,    B * d,                  "pooler output");
    buf(c, &e->pdrop,           head,    B * d,                  "pooler output after dropout");
    buf(c, &e->logits,          SCRATCH, B * lab,                "logits");
    buf(c, &e->dlogits,         SCRATCH, B * lab,                "d(logits)");
    buf(c, &e->pt_t,            head,    mlp_P * bn,             "prefix MLP hidden");
    buf(c, &e->pt_kv,           head,    L * mlp_P * 2 * d,      "prefix keys and values");
    buf(c, &e->pt_dkv,          SCRATCH, L * mlp_P * 2 * d,      "d(prefix keys and values)");
    buf(c, &e->pt_dt,           SCRATCH, mlp_P * bn,             "d(prefix MLP hidden)");
    buf(c, &e->attn_scratch,    SCRATCH, e->attn_scratch_per * th, "per-thread attention scratch");
    buf(c, &e->prefix_acc,      SCRATCH, th * 2 * P * d,         "per-thread prefix gradients");
    buf(c, &e->dout[0],         SCRATCH, g_T * d,                "d(layer output)");
    buf(c, &e->dout[1],         SCRATCH, g_T * d,                "d(layer output)");
    buf(c, &e->dqkv,            SCRATCH, g_T * 3 * d,            "d(projections)");
    buf(c, &e->dqcls,           SCRATCH, g_B * d,                "d(queries)");
    buf(c, &e->dxq,             SCRATCH, g_B * d,                "d(layer input rows)");
    buf(c, &e->dctx,            SCRATCH, g_T * d,                "d(attention context)");
    buf(c, &e->dz,              SCRATCH, g_T * d,                "d(output LayerNorm input)");
    buf(c, &e->dy,              SCRATCH, g_T * d,                "d(FFN block sum)");
    buf(c, &e->da,              SCRATCH, g_T * d,                "d(FFN input)");
    buf(c, &e->dpre,            SCRATCH, g_T * d,                "d(attention LayerNorm input)");
    buf(c, &e->dO,              SCRATCH, g_T * d,                "d(attention output)");
    buf(c, &e->dffn,            SCRATCH, g_T * d,                "d(FFN output)");
    buf(c, &e->dI,              SCRATCH, g_T * ff,               "d(FFN hidden)");
    buf(c, &e->dzin,            SCRATCH, g_T * d,                "d(adapter input)");
    buf(c, &e->dsh,             SCRATCH, g_T * r_sa,             "d(serial adapter hidden)");
    buf(c, &e->dph,             SCRATCH, g_T * r_pa,             "d(parallel adapter hidden)");
    buf(c, &e->dhaa,            SCRATCH, g_T * r_ha,             "d(Houlsby attention hidden)");
    buf(c, &e->dhaf,            SCRATCH, g_T * r_ha,             "d(Houlsby FFN hidden)");
    buf(c, &e->dtq,             SCRATCH, g_T * r_lo,             "d(LoRA query hidden)");
    buf(c, &e->dtv,             SCRATCH, g_T * r_lo,             "d(LoRA value hidden)");
}

/* What a stored layer keeps for its backward pass (plan_t says what it needs); a layer that is
 * not stored keeps nothing and runs in the scratch above. */
static void plan_layer(carve_t *c, int l)
{
    engine_t *e = c->e;
    const plan_t *p = &e->plan[l];
    acts_t *A = &e->stored[l];
    size_t T = (size_t)e->cap_tokens, B = (size_t)e->cap_batch, M = p->cls ? B : T;
    size_t d = (size_t)e->d, ff = (size_t)e->ff, H = (size_t)e->H;
    size_t W = (size_t)(e->P + e->cap_len);
    size_t cls_B = p->cls ? B : 0;                      /* the top layer's [CLS] rows */
    size_t att_T = p->need_attn ? T : 0;                /* the attention block trains */
    size_t att_M = p->need_attn ? M : 0, att_B = p->need_attn ? cls_B : 0;
    size_t ffn_bwd_M = p->need_ffn ? M : 0;             /* the FFN is crossed backwards */
    size_t ffn_M = p->pa || e->ft ? M : 0;              /* the FFN input is read again */
    size_t ft_M = e->ft ? M : 0;                        /* the dense weights train */
    size_t sa_M = p->sa ? M : 0, pa_M = p->pa ? M : 0, ha_M = p->ha ? M : 0;
    size_t lo_M = p->lora ? M : 0, lo_T = p->lora ? T : 0;

    if (!p->stored)
        return;
    /* Every row is layer l's activation storage. */
#define KEEP(field, floats, what) buf(c, &A->field, l, floats, what)
    /*   field       floats                          what */
    KEEP(xhat2,      M * d,                          "output LayerNorm statistics");
    KEEP(rstd2,      M,                              "output LayerNorm statistics");
    KEEP(out,        M * d,                          "layer output");
    KEEP(xq,         cls_B * d,                      "layer input rows");
    KEEP(qkv,        att_T * 3 * d,                  "projections");
    KEEP(qcls,       att_B * d,                      "queries");
    KEEP(probs,      H * att_M * W,                  "attention probabilities");
    KEEP(xhat1,      ffn_bwd_M * d,                  "attention LayerNorm statistics");
    KEEP(rstd1,      ffn_bwd_M,                      "attention LayerNorm statistics");
    KEEP(uderiv,     ffn_bwd_M * ff,                 "GELU derivative");
    KEEP(a,          ffn_M * d,                      "FFN input");
    KEEP(ctx,        ft_M * d,                       "attention output");
    KEEP(g,          ft_M * ff,                      "GELU output");
    KEEP(zin,        sa_M * d,                       "adapter input");
    KEEP(sa_xhat,    sa_M * d,                       "adapter LayerNorm statistics");
    KEEP(sa_rstd,    sa_M,                           "adapter LayerNorm statistics");
    KEEP(sa_h,       sa_M * (size_t)e->r_sa,         "serial adapter hidden");
    KEEP(pa_h,       pa_M * (size_t)e->r_pa,         "parallel adapter hidden");
    KEEP(ha_ao,      ha_M * d,                       "attention output (Houlsby)");
    KEEP(ha_ah,      ha_M * (size_t)e->r_ha,         "Houlsby attention hidden");
    KEEP(ha_fo,      ha_M * d,                       "FFN output (Houlsby)");
    KEEP(ha_fh,      ha_M * (size_t)e->r_ha,         "Houlsby FFN hidden");
    KEEP(xa_q,       lo_M * (size_t)e->r_lora,       "LoRA query hidden");
    KEEP(xa_v,       lo_T * (size_t)e->r_lora,       "LoRA value hidden");
#undef KEEP
}

static void plan_buffers(carve_t *c)
{
    plan_shared(c);
    for (int l = 0; l < c->e->L; l++)
        plan_layer(c, l);
}

/* Sizes the plan, takes one block for it and carves every buffer from it. */
static int carve_buffers(engine_t *e)
{
    carve_t c = {.e = e};
    char what[96];

    plan_buffers(&c);
    snprintf(what, sizeof what, "the engine's buffers (the largest: %s)",
             c.largest ? c.largest : "none");
    e->block = mem_alloc_aligned(c.off, sizeof(float), what);   /* err_set says why not */
    if (!e->block)
        return ERR_NOMEM;
    c = (carve_t){.e = e, .base = e->block};
    plan_buffers(&c);
    return 0;
}

/* The current batch's tokens, offsets and labels. */
static int alloc_batch(engine_t *e)
{
    size_t T = (size_t)e->cap_tokens, B = (size_t)e->cap_batch;

    e->start = mem_alloc(B, sizeof *e->start, "batch offsets");
    e->len = mem_alloc(B, sizeof *e->len, "batch lengths");
    e->poff_full = mem_alloc(B + 1, sizeof *e->poff_full, "batch offsets");
    e->poff_cls = mem_alloc(B + 1, sizeof *e->poff_cls, "batch offsets");
    e->ids = mem_alloc(T, sizeof *e->ids, "batch tokens");
    e->types = mem_alloc(T, sizeof *e->types, "batch tokens");
    e->pos = mem_alloc(T, sizeof *e->pos, "batch tokens");
    e->labels_i = mem_alloc(B, sizeof *e->labels_i, "batch labels");
    e->labels_f = mem_alloc(B, sizeof *e->labels_f, "batch labels");
    if (!e->start || !e->len || !e->poff_full || !e->poff_cls || !e->ids || !e->types || !e->pos ||
        !e->labels_i || !e->labels_f)
        return ERR_NOMEM;
    return 0;
}

engine_t *engine_new(const model_t *m, peft_t *p, const engine_opts_t *o)
{
    const model_opts_t *mo = model_opts(m);
    const shape_t *s = &mo->shape;
    const shape_t *ps = peft_shape(p);
    engine_t *e;

    if (memcmp(s, ps, sizeof *s) != 0) {
        err_set(ERR_INVAL, "engine: the PEFT parameters were made for another model shape");
        return NULL;
    }
    if (check_opts(o, s) != 0)
        return NULL;
    e = mem_alloc(1, sizeof *e, "engine");
    if (!e)
        return NULL;
    e->model = m;
    e->peft = p;
    e->o = *o;
    e->s = *s;
    e->d = s->hidden;
    e->H = s->heads;
    e->dh = s->hidden / s->heads;
    e->ff = s->intermediate;
    e->L = s->layers;
    e->P = peft_prefix_len(p);
    e->bn = peft_prefix_bottleneck(p);
    e->r_sa = (int)peft_config(p)->size[SPACE_SA];
    e->r_pa = (int)peft_config(p)->size[SPACE_PA];
    e->r_ha = (int)peft_config(p)->size[SPACE_HA];
    e->r_lora = (int)peft_config(p)->size[SPACE_LORA];
    e->eps = mo->layer_norm_eps;
    e->lora_s = peft_lora_scale(p);
    e->ft = peft_opts(p)->full_finetune;
    e->nthreads = o->threads;
    e->cap_batch = o->max_batch;
    e->cap_len = o->max_len;
    e->cap_tokens = o->max_tokens ? o->max_tokens : o->max_batch * o->max_len;
    engine_reseed(e, o->seed);
    e->pw = peft_params(p);
    e->pg = peft_grads(p);
    e->bw = e->ft ? &e->pw->backbone : model_weights(m);
    e->bg = e->ft ? &e->pg->backbone : NULL;
    e->plan = mem_alloc((size_t)e->L, sizeof *e->plan, "engine plan");
    e->stored = mem_alloc((size_t)e->L, sizeof *e->stored, "engine activations");
    e->stats = mem_alloc((size_t)e->L + 2, sizeof *e->stats, "engine statistics");
    e->flops = mem_alloc((size_t)e->L + 2, sizeof *e->flops, "engine statistics");
    if (!e->plan || !e->stored || !e->stats || !e->flops)
        goto fail;
    plan_layers(e);
    if (alloc_batch(e) != 0 || carve_buffers(e) != 0)
        goto fail;
    e->pool = pool_new(o->threads);
    if (!e->pool)
        goto fail;
    blas_set_threads(1);
    return e;
fail:
    engine_free(&e);
    return NULL;
}

pool_t *engine_pool(const engine_t *e)
{
    return e->pool;
}

void engine_info(const engine_t *e, engine_info_t *out)
{
    *out = (engine_info_t){.threads = e->nthreads, .lowest_trained = e->lowest, .layers = e->L,
                           .stored_floats = e->stored_floats};
}

void engine_reseed(engine_t *e, uint64_t seed)
{
    rng_seed_stream(&e->rng, seed, 0x64726f70ull);   /* "drop" */
}

void engine_free(engine_t **ep)
{
    engine_t *e = ep ? *ep : NULL;

    if (!e)
        return;
    pool_free(&e->pool);
    free(e->block);
    free(e->stored);
    free(e->plan);
    free(e->stats);
    free((void *)e->flops);
    free(e->start);
    free(e->len);
    free(e->poff_full);
    free(e->poff_cls);
    free(e->ids);
    free(e->types);
    free(e->pos);
    free(e->labels_i);
    free(e->labels_f);
    free(e);
    *ep = NULL;
}
