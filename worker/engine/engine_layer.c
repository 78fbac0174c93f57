/* One encoder layer with its PEFT modules: forward and backward passes (see engine.h and
 * engine_impl.h for the buffers).
 *
 * Forward, in three parallel stages: (1) projections, rows split over threads; (2) attention,
 * one task per (sequence, head); (3) everything after attention, rows split over threads, each
 * thread taking its rows through the attention output, both LayerNorms, the FFN and the
 * adapters while they are in its cache.
 *
 *   o1 = dropout(ctx Wo^T + bo);  pre1 = x + o1 + HA_attn(o1);  a = LN1(pre1)
 *   o2 = dropout(GELU(a Wi^T + bi) Wo2^T + bo2);  y = a + o2 + HA_ffn(o2)
 *   out = LN2(y + SA(LN2(y)) + 4 PA(a))
 * (the HA terms only where Houlsby's adapters are on; bias, dropout and residual are then one
 * fused step otherwise).
 *
 * Backward mirrors it: row-local gradients in parallel by rows, then the weight gradients
 * (products over all rows, split by the weight's rows or columns), attention by (sequence,
 * head), and the input gradient by rows. Each part runs only where a trainable parameter lies
 * below it (plan_t). */
#include <math.h>
#include <string.h>

#include "worker/engine/attn.h"
#include "worker/engine/engine_impl.h"
#include "worker/engine/kernels.h"

enum { SITE_PROBS = 0, SITE_ATTN_OUT = 1, SITE_FFN_OUT = 2 };

typedef struct {
    engine_t *e;
    int l;
    const float *x;
    const acts_t *A;
    const plan_t *pl;
    const model_layer_t *W, *GW;     /* weights; gradients (full fine-tuning) or NULL */
    const peft_layer_t *PW, *PG;
    const float *pk, *pv;            /* prefix keys and values, head 0 */
    int ldp;
    uint64_t key_probs, key_attn, key_ffn;
    float *dout, *dx;
} layer_ctx_t;

static void add_bias_ld(float *x, int ld, const float *b, long rows, int width)
{
    for (long i = 0; i < rows; i++)
        kernels_add_bias(x + (size_t)i * ld, b, 1, width);
}

/* Bias, hidden dropout (site key) and residual for the layer's query rows [r0, r0 + rows) of a
 * stage, whose tokens are consecutive except in the [CLS] layer. */
static void drop_add(const layer_ctx_t *c, float *y, const float *bias, const float *res, int r0,
                     int rows, uint64_t key)
{
    engine_t *e = c->e;

    if (!c->pl->cls) {
        kernels_bias_dropout_add(y, bias, res, rows, e->d, key, (uint64_t)r0, e->p_hidden);
        return;
    }
    for (int i = 0; i < rows; i++)
        kernels_bias_dropout_add(y + (size_t)i * e->d, bias, res + (size_t)i * e->d, 1, e->d, key,
                                 (uint64_t)engine__token(e, true, r0 + i), e->p_hidden);
}

/* The same mask on a gradient (its backward). */
static void drop_rows(const layer_ctx_t *c, float *x, int r0, int rows, uint64_t key)
{
    engine_t *e = c->e;

    if (!c->pl->cls) {
        kernels_dropout(x, rows, e->d, e->d, key, (uint64_t)r0, e->p_hidden);
        return;
    }
    for (int i = 0; i < rows; i++)
        kernels_dropout(x + (size_t)i * e->d, 1, e->d, e->d, key,
                        (uint64_t)engine__token(e, true, r0 + i), e->p_hidden);
}

/* Houlsby's adapter on a sublayer's output: o = dropout(o + bias) in place (kept for the
 * backward pass), h = relu(o Wd^T + bd), y = o + h Wu^T + bu + res, for rows [r0, r0 + rows). */
static void houlsby_fwd(const layer_ctx_t *c, float *o, const float *bias, uint64_t key,
                        const peft_linear_t *down, const peft_linear_t *up, float *h,
                        const float *res, float *y, int r0, int rows)
{
    engine_t *e = c->e;
    int d = e->d, r = e->r_ha;

    kernels_add_bias(o, bias, rows, d);
    drop_rows(c, o, r0, rows, key);
    engine__gemm1(e, c->l, ENGINE_FWD | GEMM_TB, rows, r, d, 1.0f, o, d, down->w, d, 0.0f, h, r);
    kernels_bias_relu(h, down->b, rows, r);
    memcpy(y, o, (size_t)rows * d * sizeof(float));
    engine__gemm1(e, c->l, ENGINE_FWD | GEMM_TB, rows, d, r, 1.0f, h, r, up->w, r, 1.0f, y, d);
    kernels_add_bias(y, up->b, rows, d);
    kernels_axpy(y, 1.0f, res, (long)rows * d);
}

/* Its backward: from dy (the gradient of y) the hidden's gradient dh and, when dout is not NULL,
 * dout = the gradient of the dropout's input (dy + dh Wd, through the dropout's mask). */
static void houlsby_bwd(const layer_ctx_t *c, const float *dy, const peft_linear_t *down,
                        const peft_linear_t *up, const float *h, float *dh, float *dout, int r0,
                        int rows, uint64_t key)
{
    engine_t *e = c->e;
    int d = e->d, r = e->r_ha;

    engine__gemm1(e, c->l, ENGINE_BWD, rows, r, d, 1.0f, dy, d, up->w, r, 0.0f, dh, r);
    kernels_relu_bwd(dh, dh, h, (long)rows * r);
    if (!dout)
        return;
    memcpy(dout, dy, (size_t)rows * d * sizeof(float));
    engine__gemm1(e, c->l, ENGINE_BWD, rows, d, r, 1.0f, dh, r, down->w, d, 1.0f, dout, d);
    drop_rows(c, dout, r0, rows, key);
}

static int query_rows(const engine_t *e, const plan_t *pl)
{
    return pl->cls ? e->n : e->N;
}

/* ---- forward ------------------------------------------------------------------------------- */

static void fwd_proj(engine_t *e, void *arg, int part, int nparts, int tid)
{
    layer_ctx_t *c = arg;
    const acts_t *A = c->A;
    const model_layer_t *W = c->W;
    int d = e->d, r = e->r_lora, l = c->l;
    long r0, r1, rows;

    (void)tid;
    pool_split(e->N, nparts, part, 4, &r0, &r1);
    rows = r1 - r0;
    if (rows > 0) {
        const float *x = c->x + (size_t)r0 * d;
        float *qkv = A->qkv + (size_t)r0 * 3 * d;

        if (!c->pl->cls) {
            engine__gemm1(e, l, ENGINE_FWD | GEMM_TB, (int)rows, 3 * d, d, 1.0f, x, d, W->qkv_w, d,
                          0.0f, qkv, 3 * d);
            kernels_add_bias(qkv, W->qkv_b, (int)rows, 3 * d);
        } else {
            engine__gemm1(e, l, ENGINE_FWD | GEMM_TB, (int)rows, 2 * d, d, 1.0f, x, d,
                          W->qkv_w + (size_t)d * d, d, 0.0f, qkv + d, 3 * d);
            add_bias_ld(qkv + d, 3 * d, W->qkv_b + d, rows, 2 * d);
        }
        if (c->pl->lora) {
            float *xa_v = A->xa_v + (size_t)r0 * r;

            engine__gemm1(e, l, ENGINE_FWD | GEMM_TB, (int)rows, r, d, 1.0f, x, d, c->PW->lora_va,
                          d, 0.0f, xa_v, r);
            engine__gemm1(e, l, ENGINE_FWD | GEMM_TB, (int)rows, d, r, e->lora_s, xa_v, r,
                          c->PW->lora_vb, r, 1.0f, qkv + 2 * d, 3 * d);
            if (!c->pl->cls) {
                float *xa_q = A->xa_q + (size_t)r0 * r;

                engine__gemm1(e, l, ENGINE_FWD | GEMM_TB, (int)rows, r, d, 1.0f, x, d,
                              c->PW->lora_qa, d, 0.0f, xa_q, r);
                engine__gemm1(e, l, ENGINE_FWD | GEMM_TB, (int)rows, d, r, e->lora_s, xa_q, r,
                              c->PW->lora_qb, r, 1.0f, qkv, 3 * d);
            }
        }
    }
    if (!c->pl->cls)
        return;
    /* the top layer's queries: [CLS] rows only */
    pool_split(e->n, nparts, part, 1, &r0, &r1);
    rows = r1 - r0;
    if (rows <= 0)
        return;
    for (long b = r0; b < r1; b++)
        memcpy(A->xq + (size_t)b * d, c->x + (size_t)e->start[b] * d, (size_t)d * sizeof(float));
    engine__gemm1(e, l, ENGINE_FWD | GEMM_TB, (int)rows, d, d, 1.0f, A->xq + (size_t)r0 * d, d,
                  W->qkv_w, d, 0.0f, A->qcls + (size_t)r0 * d, d);
    kernels_add_bias(A->qcls + (size_t)r0 * d, W->qkv_b, (int)rows, d);
    if (c->pl->lora) {
        float *xa_q = A->xa_q + (size_t)r0 * r;

        engine__gemm1(e, l, ENGINE_FWD | GEMM_TB, (int)rows, r, d, 1.0f, A->xq + (size_t)r0 * d, d,
                      c->PW->lora_qa, d, 0.0f, xa_q, r);
        engine__gemm1(e, l, ENGINE_FWD | GEMM_TB, (int)rows, d, r, e->lora_s, xa_q, r,
                      c->PW->lora_qb, r, 1.0f, A->qcls + (size_t)r0 * d, d);
    }
}

/* The attention arguments of sequence b, head h. */
static void attn_args(engine_t *e, const layer_ctx_t *c, int b, int h, attn_t *a, size_t *poff)
{
    const acts_t *A = c->A;
    int d = e->d, dh = e->dh, s0 = e->start[b];
    bool cls = c->pl->cls;

    a->nq = cls ? 1 : e->len[b];
    a->nk = e->len[b];
    a->np = c->pl->prefix ? e->P : 0;
    a->dh = dh;
    a->q = cls ? A->qcls + (size_t)b * d + h * dh : A->qkv + (size_t)s0 * 3 * d + h * dh;
    a->ldq = cls ? d : 3 * d;
    a->k = A->qkv + (size_t)s0 * 3 * d + d + h * dh;
    a->v = a->k + d;
    a->ldkv = 3 * d;
    a->pk = a->np ? c->pk + h * dh : NULL;
    a->pv = a->np ? c->pv + h * dh : NULL;
    a->ldp = c->ldp;
    a->scale = 1.0f / sqrtf((float)dh);
    a->drop_p = e->p_attn;
    a->drop_key = c->key_probs;
    a->drop_row0 = (uint64_t)s0 * e->H + h;
    a->drop_row_step = e->H;
    *poff = (cls ? e->poff_cls[b] : e->poff_full[b]) + (size_t)h * a->nq * (a->np + a->nk);
}

static void fwd_attn_task(void *arg, int task, int tid)
{
    layer_ctx_t *c = arg;
    engine_t *e = c->e;
    int b = task / e->H, h = task % e->H;
    size_t poff;
    attn_t a;
    float *ctx;

    attn_args(e, c, b, h, &a, &poff);
    ctx = c->A->ctx + (size_t)(c->pl->cls ? b : e->start[b]) * e->d + h * e->dh;
    engine__count(e, c->l, ENGINE_FWD,
                  attn_forward(&a, c->A->probs + poff,
                               e->attn_scratch + (size_t)tid * e->attn_scratch_per, ctx, e->d));
}

static void fwd_post(engine_t *e, void *arg, int part, int nparts, int tid)
{
    layer_ctx_t *c = arg;
    const acts_t *A = c->A;
    const model_layer_t *W = c->W;
    const peft_layer_t *PW = c->PW;
    const plan_t *pl = c->pl;
    int d = e->d, ff = e->ff, l = c->l;
    long r0, r1;
    int rows;
    float *y, *a, *g, *o;
    const float *xq;

    (void)tid;
    pool_split(query_rows(e, pl), nparts, part, 4, &r0, &r1);
    rows = (int)(r1 - r0);
    if (rows <= 0)
        return;
    y = A->y + (size_t)r0 * d;
    a = A->a + (size_t)r0 * d;
    g = A->g + (size_t)r0 * ff;
    xq = (pl->cls ? A->xq : c->x) + (size_t)r0 * d;
#define OPT(p, w) ((p) ? (p) + (size_t)r0 * (w) : NULL)
    o = pl->ha ? A->ha_ao + (size_t)r0 * d : y;
    engine__gemm1(e, l, ENGINE_FWD | GEMM_TB, rows, d, d, 1.0f, A->ctx + (size_t)r0 * d, d, W->ao_w,
                  d, 0.0f, o, d);
    if (pl->ha)
        houlsby_fwd(c, o, W->ao_b, c->key_attn, &PW->ha_attn_down, &PW->ha_attn_up,
                    A->ha_ah + (size_t)r0 * e->r_ha, xq, y, (int)r0, rows);
    else
        drop_add(c, y, W->ao_b, xq, (int)r0, rows, c->key_attn);
    kernels_layernorm_fwd(a, OPT(A->xhat1, d), OPT(A->rstd1, 1), y, W->ln1_g, W->ln1_b, rows, d,
                          e->eps);
    engine__gemm1(e, l, ENGINE_FWD | GEMM_TB, rows, ff, d, 1.0f, a, d, W->in_w, d, 0.0f, g, ff);
    kernels_bias_gelu(g, OPT(A->uderiv, ff), W->in_b, rows, ff);
    o = pl->ha ? A->ha_fo + (size_t)r0 * d : y;
    engine__gemm1(e, l, ENGINE_FWD | GEMM_TB, rows, d, ff, 1.0f, g, ff, W->out_w, ff, 0.0f, o, d);
    if (pl->ha)
        houlsby_fwd(c, o, W->out_b, c->key_ffn, &PW->ha_ffn_down, &PW->ha_ffn_up,
                    A->ha_fh + (size_t)r0 * e->r_ha, a, y, (int)r0, rows);
    else
        drop_add(c, y, W->out_b, a, (int)r0, rows, c->key_ffn);
    if (pl->sa) {
        float *zin = A->zin + (size_t)r0 * d, *h = A->sa_h + (size_t)r0 * e->r_sa;

        kernels_layernorm_fwd(zin, OPT(A->sa_xhat, d), OPT(A->sa_rstd, 1), y, W->ln2_g, W->ln2_b,
                              rows, d, e->eps);
        engine__gemm1(e, l, ENGINE_FWD | GEMM_TB, rows, e->r_sa, d, 1.0f, zin, d, PW->sa_down.w, d,
                      0.0f, h, e->r_sa);
        kernels_bias_relu(h, PW->sa_down.b, rows, e->r_sa);
        engine__gemm1(e, l, ENGINE_FWD | GEMM_TB, rows, d, e->r_sa, 1.0f, h, e->r_sa, PW->sa_up.w,
                      e->r_sa, 1.0f, y, d);
        kernels_add_bias(y, PW->sa_up.b, rows, d);
    }
    if (pl->pa) {
        float *h = A->pa_h + (size_t)r0 * e->r_pa;

        engine__gemm1(e, l, ENGINE_FWD | GEMM_TB, rows, e->r_pa, d, 1.0f, a, d, PW->pa_down.w, d,
                      0.0f, h, e->r_pa);
        kernels_bias_relu(h, PW->pa_down.b, rows, e->r_pa);
        engine__gemm1(e, l, ENGINE_FWD | GEMM_TB, rows, d, e->r_pa, 4.0f, h, e->r_pa, PW->pa_up.w,
                      e->r_pa, 1.0f, y, d);
        for (int i = 0; i < rows; i++)
            kernels_axpy(y + (size_t)i * d, 4.0f, PW->pa_up.b, d);
    }
    kernels_layernorm_fwd(A->out + (size_t)r0 * d, OPT(A->xhat2, d), OPT(A->rstd2, 1), y,
                          W->ln2_g, W->ln2_b, rows, d, e->eps);
#undef OPT
}

static void setup(engine_t *e, layer_ctx_t *c, int l, const float *x, const acts_t *A)
{
    const plan_t *pl = &e->plan[l];

    memset(c, 0, sizeof *c);
    c->e = e;
    c->l = l;
    c->x = x;
    c->A = A;
    c->pl = pl;
    c->W = &e->bw->layer[l];
    c->GW = e->bg ? &e->bg->layer[l] : NULL;
    c->PW = &e->pw->layer[l];
    c->PG = &e->pg->layer[l];
    if (pl->prefix) {
        if (peft_prefix_mlp(e->peft)) {
            c->pk = e->pt_kv + (size_t)l * e->P * 2 * e->d;
            c->pv = c->pk + e->d;
            c->ldp = 2 * e->d;
        } else {
            c->pk = c->PW->prefix_k;
            c->pv = c->PW->prefix_v;
            c->ldp = e->d;
        }
    }
    c->key_probs = engine__site_key(e, l, SITE_PROBS);
    c->key_attn = engine__site_key(e, l, SITE_ATTN_OUT);
    c->key_ffn = engine__site_key(e, l, SITE_FFN_OUT);
}

void engine__layer_forward(engine_t *e, int l, const float *x, const acts_t *A)
{
    layer_ctx_t c;

    setup(e, &c, l, x, A);
    engine__parts(e, fwd_proj, &c);
    pool_run(e->pool, e->n * e->H, fwd_attn_task, &c);
    engine__parts(e, fwd_post, &c);
}

/* ---- backward ------------------------------------------------------------------------------ */

/* From dy (complete) down through the FFN, LN1 and (where they are on) Houlsby's adapters to the
 * attention output: dffn, dI, da, dpre, the Houlsby hiddens' gradients, and dctx where the
 * attention block trains, for rows [r0, r0 + rows). */
static void bwd_ffn(const layer_ctx_t *c, int r0, int rows)
{
    engine_t *e = c->e;
    const acts_t *A = c->A;
    const model_layer_t *W = c->W;
    const peft_layer_t *PW = c->PW;
    const plan_t *pl = c->pl;
    int d = e->d, ff = e->ff, l = c->l, rh = e->r_ha;
#define ROW(p, w) ((p) + (size_t)r0 * (w))
    float *dy = ROW(e->dy, d), *dh = ROW(e->dffn, d), *dI = ROW(e->dI, ff), *da = ROW(e->da, d);
    float *dpre = ROW(e->dpre, d), *dO = ROW(e->dO, d);

    if (pl->ha) {
        houlsby_bwd(c, dy, &PW->ha_ffn_down, &PW->ha_ffn_up, ROW(A->ha_fh, rh), ROW(e->dhaf, rh),
                    dh, r0, rows, c->key_ffn);
    } else {
        memcpy(dh, dy, (size_t)rows * d * sizeof(float));
        drop_rows(c, dh, r0, rows, c->key_ffn);
    }
    engine__gemm1(e, l, ENGINE_BWD, rows, ff, d, 1.0f, dh, d, W->out_w, ff, 0.0f, dI, ff);
    kernels_mul(dI, dI, ROW(A->uderiv, ff), (long)rows * ff);
    memcpy(da, dy, (size_t)rows * d * sizeof(float));
    engine__gemm1(e, l, ENGINE_BWD, rows, d, ff, 1.0f, dI, ff, W->in_w, d, 1.0f, da, d);
    if (pl->pa)
        engine__gemm1(e, l, ENGINE_BWD, rows, d, e->r_pa, 1.0f, ROW(e->dph, e->r_pa),
                      e->r_pa, PW->pa_down.w, d, 1.0f, da, d);
    kernels_layernorm_bwd(dpre, NULL, NULL, da, ROW(A->xhat1, d), ROW(A->rstd1, 1), W->ln1_g,
                          rows, d, false);
    if (pl->ha) {
        houlsby_bwd(c, dpre, &PW->ha_attn_down, &PW->ha_attn_up, ROW(A->ha_ah, rh),
                    ROW(e->dhaa, rh), pl->need_attn ? dO : NULL, r0, rows, c->key_attn);
    } else if (pl->need_attn) {
        memcpy(dO, dpre, (size_t)rows * d * sizeof(float));
        drop_rows(c, dO, r0, rows, c->key_attn);
    }
    if (pl->need_attn)
        engine__gemm1(e, l, ENGINE_BWD, rows, d, d, 1.0f, dO, d, W->ao_w, d, 0.0f,
                      ROW(e->dctx, d), d);
#undef ROW
}

static void bwd_post(engine_t *e, void *arg, int part, int nparts, int tid)
{
    layer_ctx_t *c = arg;
    const acts_t *A = c->A;
    const model_layer_t *W = c->W;
    const peft_layer_t *PW = c->PW;
    const plan_t *pl = c->pl;
    int d = e->d, l = c->l;
    long r0, r1;
    int rows;
    float *dz, *dy;

    (void)tid;
    pool_split(query_rows(e, pl), nparts, part, 4, &r0, &r1);
    rows = (int)(r1 - r0);
    if (rows <= 0)
        return;
#define ROW(p, w) ((p) + (size_t)r0 * (w))
    dz = ROW(e->dz, d);
    dy = ROW(e->dy, d);
    kernels_layernorm_bwd(dz, NULL, NULL, ROW(c->dout, d), ROW(A->xhat2, d), ROW(A->rstd2, 1),
                          W->ln2_g, rows, d, false);
    memcpy(dy, dz, (size_t)rows * d * sizeof(float));
    if (pl->sa) {
        float *dsh = ROW(e->dsh, e->r_sa);

        engine__gemm1(e, l, ENGINE_BWD, rows, e->r_sa, d, 1.0f, dz, d, PW->sa_up.w,
                      e->r_sa, 0.0f, dsh, e->r_sa);
        kernels_relu_bwd(dsh, dsh, ROW(A->sa_h, e->r_sa), (long)rows * e->r_sa);
        if (pl->need_ffn) {
            float *dzin = ROW(e->dzin, d);

            engine__gemm1(e, l, ENGINE_BWD, rows, d, e->r_sa, 1.0f, dsh, e->r_sa,
                          PW->sa_down.w, d, 0.0f, dzin, d);
            kernels_layernorm_bwd(dy, NULL, NULL, dzin, ROW(A->sa_xhat, d), ROW(A->sa_rstd, 1),
                                  W->ln2_g, rows, d, true);
        }
    }
    if (pl->pa) {
        float *dph = ROW(e->dph, e->r_pa);

        engine__gemm1(e, l, ENGINE_BWD, rows, e->r_pa, d, 4.0f, dz, d, PW->pa_up.w,
                      e->r_pa, 0.0f, dph, e->r_pa);
        kernels_relu_bwd(dph, dph, ROW(A->pa_h, e->r_pa), (long)rows * e->r_pa);
    }
    if (pl->need_ffn)
        bwd_ffn(c, (int)r0, rows);
#undef ROW
}

/* db[j] += scale * sum over rows of x[i][j], x with leading dimension ld. */
static void colsum_ld(float *db, const float *x, int rows, int width, int ld, float scale)
{
    for (int i = 0; i < rows; i++)
        kernels_axpy(db, scale, x + (size_t)i * ld, width);
}

/* One Houlsby adapter's weight gradients over all query rows: dy the gradient of its output
 * sum, h its hidden, dh the hidden's gradient, o its input. */
static void houlsby_weights(engine_t *e, const layer_ctx_t *c, peft_linear_t gdown,
                            peft_linear_t gup, const float *dy, const float *h, const float *dh,
                            const float *o)
{
    int d = e->d, r = e->r_ha, l = c->l, M = query_rows(e, c->pl);

    engine__gemm(e, l, ENGINE_BWD | GEMM_TA, d, r, M, 1.0f, dy, d, h, r, 1.0f, gup.w, r);
    colsum_ld(gup.b, dy, M, d, d, 1.0f);
    engine__gemm(e, l, ENGINE_BWD | GEMM_TA, r, d, M, 1.0f, dh, r, o, d, 1.0f, gdown.w, d);
    colsum_ld(gdown.b, dh, M, r, r, 1.0f);
}

/* Weight gradients of the adapters (and, in full fine-tuning, of the dense layers after
 * attention and the LayerNorms): products over all rows. */
static void bwd_weights_post(engine_t *e, layer_ctx_t *c)
{
    const acts_t *A = c->A;
    const plan_t *pl = c->pl;
    const peft_layer_t *PG = c->PG;
    int d = e->d, ff = e->ff, l = c->l, M = query_rows(e, pl);

    if (pl->sa) {
        int r = e->r_sa;

        engine__gemm(e, l, ENGINE_BWD | GEMM_TA, d, r, M, 1.0f, e->dz, d, A->sa_h, r, 1.0f,
                     PG->sa_up.w, r);
        colsum_ld(PG->sa_up.b, e->dz, M, d, d, 1.0f);
        engine__gemm(e, l, ENGINE_BWD | GEMM_TA, r, d, M, 1.0f, e->dsh, r, A->zin, d, 1.0f,
                     PG->sa_down.w, d);
        colsum_ld(PG->sa_down.b, e->dsh, M, r, r, 1.0f);
    }
    if (pl->ha) {
        houlsby_weights(e, c, PG->ha_ffn_down, PG->ha_ffn_up, e->dy, A->ha_fh, e->dhaf, A->ha_fo);
        houlsby_weights(e, c, PG->ha_attn_down, PG->ha_attn_up, e->dpre, A->ha_ah, e->dhaa,
                        A->ha_ao);
    }
    if (pl->pa) {
        int r = e->r_pa;

        engine__gemm(e, l, ENGINE_BWD | GEMM_TA, d, r, M, 4.0f, e->dz, d, A->pa_h, r, 1.0f,
                     PG->pa_up.w, r);
        colsum_ld(PG->pa_up.b, e->dz, M, d, d, 4.0f);
        engine__gemm(e, l, ENGINE_BWD | GEMM_TA, r, d, M, 1.0f, e->dph, r, A->a, d, 1.0f,
                     PG->pa_down.w, d);
        colsum_ld(PG->pa_down.b, e->dph, M, r, r, 1.0f);
    }
    if (c->GW) {
        const model_layer_t *G = c->GW;

        kernels_layernorm_params(G->ln2_g, G->ln2_b, c->dout, A->xhat2, M, d);
        if (pl->sa)
            kernels_layernorm_params(G->ln2_g, G->ln2_b, e->dzin, A->sa_xhat, M, d);
        engine__gemm(e, l, ENGINE_BWD | GEMM_TA, d, ff, M, 1.0f, e->dffn, d, A->g, ff, 1.0f,
                     G->out_w, ff);
        colsum_ld(G->out_b, e->dffn, M, d, d, 1.0f);
        engine__gemm(e, l, ENGINE_BWD | GEMM_TA, ff, d, M, 1.0f, e->dI, ff, A->a, d, 1.0f, G->in_w,
                     d);
        colsum_ld(G->in_b, e->dI, M, ff, ff, 1.0f);
        kernels_layernorm_params(G->ln1_g, G->ln1_b, e->da, A->xhat1, M, d);
        engine__gemm(e, l, ENGINE_BWD | GEMM_TA, d, d, M, 1.0f, e->dO, d, A->ctx, d, 1.0f, G->ao_w,
                     d);
        colsum_ld(G->ao_b, e->dO, M, d, d, 1.0f);
    }
}

static void bwd_attn_task(void *arg, int task, int tid)
{
    layer_ctx_t *c = arg;
    engine_t *e = c->e;
    int b = task / e->H, h = task % e->H, d = e->d, dh = e->dh, s0 = e->start[b];
    bool cls = c->pl->cls;
    attn_grads_t g = {.ldq = cls ? d : 3 * d, .ldkv = 3 * d, .ldp = d};
    size_t poff;
    attn_t a;

    attn_args(e, c, b, h, &a, &poff);
    if (c->pl->want_qkv) {
        g.dq = cls ? e->dqcls + (size_t)b * d + h * dh : e->dqkv + (size_t)s0 * 3 * d + h * dh;
        g.dk = e->dqkv + (size_t)s0 * 3 * d + d + h * dh;
        g.dv = g.dk + d;
    }
    if (a.np) {
        g.dpk = e->prefix_acc + (size_t)tid * 2 * e->P * d + h * dh;
        g.dpv = g.dpk + (size_t)e->P * d;
    }
    engine__count(e, c->l, ENGINE_BWD,
                  attn_backward(&a, c->A->probs + poff,
                                e->dctx + (size_t)(cls ? b : s0) * d + h * dh, d, &g,
                                e->attn_scratch + (size_t)tid * e->attn_scratch_per));
}

/* Sums the threads' prefix gradients into the layer's (MLP outputs or flat tensors). */
static void reduce_prefix(engine_t *e, layer_ctx_t *c)
{
    int d = e->d, P = e->P;
    float *gk, *gv;
    int ld;

    if (peft_prefix_mlp(e->peft)) {
        gk = e->pt_dkv + (size_t)c->l * P * 2 * d;
        gv = gk + d;
        ld = 2 * d;
    } else {
        gk = c->PG->prefix_k;
        gv = c->PG->prefix_v;
        ld = d;
    }
    for (int t = 0; t < e->nthreads; t++) {
        const float *ak = e->prefix_acc + (size_t)t * 2 * P * d, *av = ak + (size_t)P * d;

        for (int i = 0; i < P; i++) {
            kernels_axpy(gk + (size_t)i * ld, 1.0f, ak + (size_t)i * d, d);
            kernels_axpy(gv + (size_t)i * ld, 1.0f, av + (size_t)i * d, d);
        }
    }
}

/* LoRA and (full fine-tuning) query/key/value weight gradients. */
static void bwd_weights_qkv(engine_t *e, layer_ctx_t *c)
{
    const acts_t *A = c->A;
    const plan_t *pl = c->pl;
    int d = e->d, r = e->r_lora, l = c->l, M = query_rows(e, pl), N = e->N;
    const float *dq = pl->cls ? e->dqcls : e->dqkv;
    int ldq = pl->cls ? d : 3 * d;
    const float *xq = pl->cls ? A->xq : c->x;
    float s = e->lora_s;

    if (pl->lora) {
        const peft_layer_t *PW = c->PW, *PG = c->PG;

        engine__gemm(e, l, ENGINE_BWD | GEMM_TA, d, r, M, s, dq, ldq, A->xa_q, r, 1.0f, PG->lora_qb,
                     r);
        engine__gemm(e, l, ENGINE_BWD, M, r, d, s, dq, ldq, PW->lora_qb, r, 0.0f, e->dtq, r);
        engine__gemm(e, l, ENGINE_BWD | GEMM_TA, r, d, M, 1.0f, e->dtq, r, xq, d, 1.0f, PG->lora_qa,
                     d);
        engine__gemm(e, l, ENGINE_BWD | GEMM_TA, d, r, N, s, e->dqkv + 2 * d, 3 * d, A->xa_v, r,
                     1.0f, PG->lora_vb, r);
        engine__gemm(e, l, ENGINE_BWD, N, r, d, s, e->dqkv + 2 * d, 3 * d, PW->lora_vb, r,
                     0.0f, e->dtv, r);
        engine__gemm(e, l, ENGINE_BWD | GEMM_TA, r, d, N, 1.0f, e->dtv, r, c->x, d, 1.0f,
                     PG->lora_va, d);
    }
    if (c->GW) {
        const model_layer_t *G = c->GW;

        engine__gemm(e, l, ENGINE_BWD | GEMM_TA, d, d, M, 1.0f, dq, ldq, xq, d, 1.0f, G->qkv_w, d);
        colsum_ld(G->qkv_b, dq, M, d, ldq, 1.0f);
        engine__gemm(e, l, ENGINE_BWD | GEMM_TA, 2 * d, d, N, 1.0f, e->dqkv + d, 3 * d, c->x, d,
                     1.0f, G->qkv_w + (size_t)d * d, d);
        colsum_ld(G->qkv_b + d, e->dqkv + d, N, 2 * d, 3 * d, 1.0f);
    }
}

/* dx by rows: the residual, the projections' input gradients, LoRA's. */
static void bwd_dx(engine_t *e, void *arg, int part, int nparts, int tid)
{
    layer_ctx_t *c = arg;
    const model_layer_t *W = c->W;
    const plan_t *pl = c->pl;
    int d = e->d, r = e->r_lora, l = c->l;
    long r0, r1;
    int rows;
    float *dx;

    (void)tid;
    pool_split(e->N, nparts, part, 4, &r0, &r1);
    rows = (int)(r1 - r0);
    if (rows <= 0)
        return;
    dx = c->dx + (size_t)r0 * d;
    if (!pl->cls) {
        memcpy(dx, e->dpre + (size_t)r0 * d, (size_t)rows * d * sizeof(float));
        engine__gemm1(e, l, ENGINE_BWD, rows, d, 3 * d, 1.0f, e->dqkv + (size_t)r0 * 3 * d,
                      3 * d, W->qkv_w, d, 1.0f, dx, d);
        if (pl->lora)
            engine__gemm1(e, l, ENGINE_BWD, rows, d, r, 1.0f, e->dtq + (size_t)r0 * r, r,
                          c->PW->lora_qa, d, 1.0f, dx, d);
    } else {
        engine__gemm1(e, l, ENGINE_BWD, rows, d, 2 * d, 1.0f,
                      e->dqkv + (size_t)r0 * 3 * d + d, 3 * d, W->qkv_w + (size_t)d * d, d, 0.0f,
                      dx, d);
    }
    if (pl->lora)
        engine__gemm1(e, l, ENGINE_BWD, rows, d, r, 1.0f, e->dtv + (size_t)r0 * r, r,
                      c->PW->lora_va, d, 1.0f, dx, d);
}

/* The [CLS] layer's query-side input gradient, added at each sequence's first token. */
static void bwd_dx_cls(engine_t *e, layer_ctx_t *c)
{
    int d = e->d, n = e->n;

    memcpy(e->dxq, e->dpre, (size_t)n * d * sizeof(float));
    engine__gemm(e, c->l, ENGINE_BWD, n, d, d, 1.0f, e->dqcls, d, c->W->qkv_w, d, 1.0f,
                 e->dxq, d);
    if (c->pl->lora)
        engine__gemm(e, c->l, ENGINE_BWD, n, d, e->r_lora, 1.0f, e->dtq, e->r_lora,
                     c->PW->lora_qa, d, 1.0f, e->dxq, d);
    for (int b = 0; b < n; b++)
        kernels_axpy(c->dx + (size_t)e->start[b] * d, 1.0f, e->dxq + (size_t)b * d, d);
}

void engine__layer_backward(engine_t *e, int l, const float *x, const acts_t *A, float *dout,
                            float *dx)
{
    const plan_t *pl = &e->plan[l];
    layer_ctx_t c;

    setup(e, &c, l, x, A);
    c.dout = dout;
    engine__parts(e, bwd_post, &c);
    bwd_weights_post(e, &c);
    if (!pl->need_attn)
        return;
    if (pl->prefix)
        memset(e->prefix_acc, 0, (size_t)e->nthreads * 2 * e->P * e->d * sizeof(float));
    c.dx = dx;
    pool_run(e->pool, e->n * e->H, bwd_attn_task, &c);
    if (pl->prefix)
        reduce_prefix(e, &c);
    if (pl->want_qkv)
        bwd_weights_qkv(e, &c);
    if (!dx)
        return;
    engine__parts(e, bwd_dx, &c);
    if (pl->cls)
        bwd_dx_cls(e, &c);
}
