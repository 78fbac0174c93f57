/* The training engine: planning, memory, batches, embeddings, the head and the loss, and the
 * passes over the layers (worker/engine/engine_layer.c). See engine.h. */
#include "worker/engine/engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/blas.h"
#include "common/err.h"
#include "common/log.h"
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
    gemm_job_t g = {op, m >= n, m, n, k, lda, ldb, ldc, e->nthreads, alpha, beta, a, b, c};

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

/* Allocation of n floats counted as activation storage of a part (part < -1: scratch). */
static float *alloc_f(engine_t *e, int part, size_t n, const char *what, int *rc)
{
    float *p;

    if (*rc != 0 || n == 0)
        return NULL;
    p = mem_alloc_aligned(n, sizeof(float), what);
    if (!p) {
        *rc = ERR_NOMEM;
        return NULL;
    }
    if (part >= -1) {
        part_stats(e, part)->stored_floats += n;
        e->stored_floats += n;
    }
    return p;
}

static void make_plan(engine_t *e)
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
        p->stored = l >= e->lowest;
        p->need_dx = p->stored && (l > e->lowest || e->ft || e->o.all_work);
        p->need_attn = p->stored && (p->need_dx || p->lora || p->prefix || e->ft);
        p->want_qkv = p->need_attn && (p->need_dx || p->lora || e->ft);
        p->cls = l == L - 1 && !e->o.all_work;
    }
}

static int alloc_layer(engine_t *e, int l)
{
    const plan_t *p = &e->plan[l];
    acts_t *A = &e->stored[l];
    size_t T = (size_t)e->cap_tokens, B = (size_t)e->cap_batch, d = (size_t)e->d;
    size_t M = p->cls ? B : T, ff = (size_t)e->ff;
    size_t probs = (size_t)e->H * (p->cls ? B : T) * (size_t)(e->P + e->cap_len);
    int rc = 0;

    if (!p->stored)
        return 0;
    A->xhat2 = alloc_f(e, l, M * d, "LayerNorm statistics", &rc);
    A->rstd2 = alloc_f(e, l, M, "LayerNorm statistics", &rc);
    A->out = alloc_f(e, l, M * d, "layer output", &rc);
    if (p->cls)
        A->xq = alloc_f(e, l, B * d, "layer input rows", &rc);
    if (p->need_attn) {
        A->qkv = alloc_f(e, l, T * 3 * d, "projections", &rc);
        if (p->cls)
            A->qcls = alloc_f(e, l, B * d, "queries", &rc);
        A->probs = alloc_f(e, l, probs, "attention probabilities", &rc);
        A->xhat1 = alloc_f(e, l, M * d, "LayerNorm statistics", &rc);
        A->rstd1 = alloc_f(e, l, M, "LayerNorm statistics", &rc);
        A->uderiv = alloc_f(e, l, M * ff, "GELU derivative", &rc);
    }
    if (p->pa || e->ft)
        A->a = alloc_f(e, l, M * d, "FFN input", &rc);
    if (e->ft) {
        A->ctx = alloc_f(e, l, M * d, "attention output", &rc);
        A->g = alloc_f(e, l, M * ff, "GELU output", &rc);
    }
    if (p->sa) {
        A->zin = alloc_f(e, l, M * d, "adapter input", &rc);
        A->sa_xhat = alloc_f(e, l, M * d, "LayerNorm statistics", &rc);
        A->sa_rstd = alloc_f(e, l, M, "LayerNorm statistics", &rc);
        A->sa_h = alloc_f(e, l, M * (size_t)e->r_sa, "adapter hidden", &rc);
    }
    if (p->pa)
        A->pa_h = alloc_f(e, l, M * (size_t)e->r_pa, "adapter hidden", &rc);
    if (p->lora) {
        A->xa_q = alloc_f(e, l, M * (size_t)e->r_lora, "LoRA hidden", &rc);
        A->xa_v = alloc_f(e, l, T * (size_t)e->r_lora, "LoRA hidden", &rc);
    }
    return rc;
}

static int alloc_buffers(engine_t *e)
{
    size_t T = (size_t)e->cap_tokens, B = (size_t)e->cap_batch, d = (size_t)e->d;
    size_t ff = (size_t)e->ff, lab = (size_t)e->s.labels, P = (size_t)e->P;
    size_t W = (size_t)(e->P + e->cap_len);
    acts_t *S = &e->scratch;
    bool bwd = e->lowest < e->L;
    int rc = 0;

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

    /* forward scratch: the largest layer's temporaries */
    S->qkv = alloc_f(e, -2, T * 3 * d, "projections", &rc);
    S->qcls = alloc_f(e, -2, B * d, "queries", &rc);
    S->xq = alloc_f(e, -2, B * d, "layer input rows", &rc);
    S->probs = alloc_f(e, -2, (size_t)e->H * T * W, "attention probabilities", &rc);
    S->ctx = alloc_f(e, -2, T * d, "attention output", &rc);
    S->a = alloc_f(e, -2, T * d, "FFN input", &rc);
    S->g = alloc_f(e, -2, T * ff, "FFN hidden", &rc);
    S->y = alloc_f(e, -2, T * d, "layer sum", &rc);
    S->zin = alloc_f(e, -2, T * d, "adapter input", &rc);
    S->sa_h = alloc_f(e, -2, T * (size_t)e->r_sa, "adapter hidden", &rc);
    S->pa_h = alloc_f(e, -2, T * (size_t)e->r_pa, "adapter hidden", &rc);
    S->xa_q = alloc_f(e, -2, T * (size_t)e->r_lora, "LoRA hidden", &rc);
    S->xa_v = alloc_f(e, -2, T * (size_t)e->r_lora, "LoRA hidden", &rc);
    e->ping[0] = alloc_f(e, -2, T * d, "layer output", &rc);
    e->ping[1] = alloc_f(e, -2, T * d, "layer output", &rc);
    e->emb_out = alloc_f(e, -2, T * d, "embeddings", &rc);
    e->in_low = alloc_f(e, -2, T * d, "layer input", &rc);
    if (e->ft) {
        e->emb_xhat = alloc_f(e, -1, T * d, "LayerNorm statistics", &rc);
        e->emb_rstd = alloc_f(e, -1, T, "LayerNorm statistics", &rc);
    }
    e->hcls = alloc_f(e, e->L, B * d, "head input", &rc);
    e->pooled = alloc_f(e, e->L, B * d, "pooler output", &rc);
    e->pdrop = alloc_f(e, e->L, B * d, "pooler output", &rc);
    e->logits = alloc_f(e, -2, B * lab, "logits", &rc);
    e->dlogits = alloc_f(e, -2, B * lab, "logits", &rc);
    if (peft_prefix_mlp(e->peft)) {
        e->pt_t = alloc_f(e, e->L, P * (size_t)e->bn, "prefix MLP hidden", &rc);
        e->pt_kv = alloc_f(e, e->L, (size_t)e->L * P * 2 * d, "prefix keys and values", &rc);
        e->pt_dkv = alloc_f(e, -2, (size_t)e->L * P * 2 * d, "prefix gradients", &rc);
        e->pt_dt = alloc_f(e, -2, P * (size_t)e->bn, "prefix gradients", &rc);
    }
    e->attn_scratch_per = 2 * (size_t)e->cap_len * W;
    e->attn_scratch = alloc_f(e, -2, e->attn_scratch_per * (size_t)e->nthreads, "attention scratch", &rc);
    if (e->P)
        e->prefix_acc = alloc_f(e, -2, (size_t)e->nthreads * 2 * P * d, "prefix gradients", &rc);
    if (bwd) {
        for (int i = 0; i < 2; i++)
            e->dout[i] = alloc_f(e, -2, T * d, "gradients", &rc);
        e->dqkv = alloc_f(e, -2, T * 3 * d, "gradients", &rc);
        e->dqcls = alloc_f(e, -2, B * d, "gradients", &rc);
        e->dxq = alloc_f(e, -2, B * d, "gradients", &rc);
        e->dctx = alloc_f(e, -2, T * d, "gradients", &rc);
        e->dz = alloc_f(e, -2, T * d, "gradients", &rc);
        e->dy = alloc_f(e, -2, T * d, "gradients", &rc);
        e->da = alloc_f(e, -2, T * d, "gradients", &rc);
        e->dpre = alloc_f(e, -2, T * d, "gradients", &rc);
        e->dO = alloc_f(e, -2, T * d, "gradients", &rc);
        e->dffn = alloc_f(e, -2, T * d, "gradients", &rc);
        e->dI = alloc_f(e, -2, T * ff, "gradients", &rc);
        e->dzin = alloc_f(e, -2, T * d, "gradients", &rc);
        e->dsh = alloc_f(e, -2, T * (size_t)e->r_sa, "gradients", &rc);
        e->dph = alloc_f(e, -2, T * (size_t)e->r_pa, "gradients", &rc);
        e->dtq = alloc_f(e, -2, T * (size_t)e->r_lora, "gradients", &rc);
        e->dtv = alloc_f(e, -2, T * (size_t)e->r_lora, "gradients", &rc);
    }
    for (int l = 0; l < e->L && rc == 0; l++)
        rc = alloc_layer(e, l);
    return rc;
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
    make_plan(e);
    if (alloc_buffers(e) != 0)
        goto fail;
    e->pool = pool_new(o->threads);
    if (!e->pool)
        goto fail;
    blas_set_threads(1);
    log_debug("engine: %d threads, lowest trained layer %d of %d, %.1f MB of activations",
              o->threads, e->lowest, e->L, e->stored_floats * 4.0 / 1e6);
    return e;
fail:
    engine_free(&e);
    return NULL;
}

pool_t *engine_pool(const engine_t *e)
{
    return e->pool;
}

void engine_reseed(engine_t *e, uint64_t seed)
{
    rng_seed_stream(&e->rng, seed, 0x64726f70ull);   /* "drop" */
}

static void free_acts(acts_t *A)
{
    float **f = (float **)A;

    for (size_t i = 0; i < sizeof *A / sizeof(float *); i++)
        free(f[i]);
}

void engine_free(engine_t **ep)
{
    engine_t *e = ep ? *ep : NULL;

    if (!e)
        return;
    float **bufs[] = {&e->emb_out, &e->emb_xhat, &e->emb_rstd, &e->ping[0], &e->ping[1],
                      &e->in_low, &e->hcls, &e->pooled, &e->pdrop, &e->logits, &e->dlogits,
                      &e->pt_t, &e->pt_kv, &e->pt_dkv, &e->pt_dt, &e->dout[0], &e->dout[1],
                      &e->dqkv, &e->dqcls, &e->dctx, &e->dz, &e->dy, &e->da, &e->dpre, &e->dO,
                      &e->dffn, &e->dI, &e->dzin, &e->dsh, &e->dph, &e->dtq, &e->dtv, &e->dxq,
                      &e->attn_scratch, &e->prefix_acc};

    pool_free(&e->pool);
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(*bufs[i]);
    free_acts(&e->scratch);
    if (e->stored)
        for (int l = 0; l < e->L; l++)
            free_acts(&e->stored[l]);
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
