/* The engine's passes: batch checking and packing, embeddings, the layers in order, the head
 * and the loss, and the backward pass back down to the lowest trained layer (engine.h). */
#include <math.h>
#include <string.h>

#include "common/err.h"
#include "worker/engine/engine_impl.h"
#include "worker/engine/kernels.h"

enum { SITE_EMBED = 0, SITE_HEAD = 0 };

/* ---- batches ------------------------------------------------------------------------------- */

static int load_batch(engine_t *e, const engine_batch_t *b, bool labels)
{
    const shape_t *s = &e->s;
    long total = 0;

    if (!b || !b->len || !b->ids)
        return err_set(ERR_INVAL, "batch: missing lengths or token ids");
    if (b->n < 1 || b->n > e->cap_batch)
        return err_set(ERR_INVAL, "batch: %d sequences; expected 1..%d", b->n, e->cap_batch);
    if (b->stride < 0 || b->stride > e->cap_len * 64)
        return err_set(ERR_INVAL, "batch: stride %d out of range", b->stride);
    for (int i = 0; i < b->n; i++) {
        int len = b->len[i];
        long src = b->stride ? (long)i * b->stride : total;

        if (len < 1 || len > e->cap_len || (b->stride && len > b->stride))
            return err_set(ERR_INVAL, "batch: sequence %d has length %d; expected 1..%d", i, len,
                           b->stride && b->stride < e->cap_len ? b->stride : e->cap_len);
        if (total + len > e->cap_tokens)
            return err_set(ERR_INVAL, "batch: more than %d tokens", e->cap_tokens);
        e->start[i] = (int32_t)total;
        e->len[i] = len;
        for (int t = 0; t < len; t++) {
            int32_t id = b->ids[src + t], ty = b->types ? b->types[src + t] : 0;

            if (id < 0 || id >= s->vocab)
                return err_set(ERR_INVAL, "batch: sequence %d, token %d: id %d outside the vocabulary of %d",
                               i, t, (int)id, s->vocab);
            if (ty < 0 || ty >= s->type_vocab)
                return err_set(ERR_INVAL, "batch: sequence %d, token %d: token type %d; expected 0..%d",
                               i, t, (int)ty, s->type_vocab - 1);
            e->ids[total + t] = id;
            e->types[total + t] = ty;
            e->pos[total + t] = t;
        }
        total += len;
        if (!labels)
            continue;
        if (s->labels > 1) {
            if (!b->classes)
                return err_set(ERR_INVAL, "batch: class labels missing");
            if (b->classes[i] < 0 || b->classes[i] >= s->labels)
                return err_set(ERR_INVAL, "batch: sequence %d has label %d; expected 0..%d", i,
                               (int)b->classes[i], s->labels - 1);
            e->labels_i[i] = b->classes[i];
        } else {
            if (!b->targets)
                return err_set(ERR_INVAL, "batch: regression targets missing");
            if (!isfinite(b->targets[i]))
                return err_set(ERR_INVAL, "batch: sequence %d has a target that is not finite", i);
            e->labels_f[i] = b->targets[i];
        }
    }
    e->n = b->n;
    e->N = (int)total;
    e->poff_full[0] = e->poff_cls[0] = 0;
    for (int i = 0; i < e->n; i++) {
        size_t w = (size_t)(e->P + e->len[i]) * e->H;

        e->poff_full[i + 1] = e->poff_full[i] + w * e->len[i];
        e->poff_cls[i + 1] = e->poff_cls[i] + w;
    }
    return 0;
}

/* ---- activations ---------------------------------------------------------------------------- */

static float *layer_output(engine_t *e, int l, bool train)
{
    if (train && e->plan[l].stored)
        return e->stored[l].out;
    return l == e->lowest - 1 ? e->in_low : e->ping[l & 1];
}

static const float *layer_input(engine_t *e, int l, bool train)
{
    return l == 0 ? e->emb_out : layer_output(e, l - 1, train);
}

/* A layer's activations: its own memory where stored, shared scratch elsewhere. */
static acts_t compose(engine_t *e, int l, bool store)
{
    acts_t A = e->scratch;

    if (store) {
        float **dst = (float **)&A;
        float *const *src = (float *const *)&e->stored[l];

        for (size_t i = 0; i < sizeof A / sizeof(float *); i++)
            if (src[i])
                dst[i] = src[i];
    }
    A.out = layer_output(e, l, store);
    return A;
}

/* ---- embeddings and head ------------------------------------------------------------------- */

static void embed_part(engine_t *e, void *arg, int part, int nparts, int tid)
{
    const model_embed_t *W = &e->bw->emb;
    bool store = *(bool *)arg;
    long r0, r1;
    int rows, d = e->d;

    (void)tid;
    pool_split(e->N, nparts, part, 4, &r0, &r1);
    rows = (int)(r1 - r0);
    if (rows <= 0)
        return;
    kernels_embed(e->emb_out + r0 * d, e->ids + r0, e->pos + r0, e->types + r0, W->word, W->pos,
                  W->type, rows, d);
    kernels_layernorm_fwd(e->emb_out + r0 * d, store ? e->emb_xhat + r0 * d : NULL,
                          store ? e->emb_rstd + r0 : NULL, e->emb_out + r0 * d, W->ln_g, W->ln_b,
                          rows, d, e->eps);
    kernels_dropout(e->emb_out + r0 * d, rows, d, d, engine__site_key(e, -1, SITE_EMBED),
                    (uint64_t)r0, e->p_hidden);
}

static void head_forward(engine_t *e, bool train)
{
    const model_head_t *W = &e->pw->head;
    int top = e->L - 1, d = e->d, n = e->n, lab = e->s.labels;
    const float *out = layer_output(e, top, train);

    for (int b = 0; b < n; b++)
        memcpy(e->hcls + (size_t)b * d,
               out + (size_t)(e->plan[top].cls ? b : e->start[b]) * d, (size_t)d * sizeof(float));
    engine__gemm(e, e->L, ENGINE_FWD | GEMM_TB, n, d, d, 1.0f, e->hcls, d, W->pool_w, d, 0.0f,
                 e->pooled, d);
    kernels_bias_tanh(e->pooled, W->pool_b, n, d);
    memcpy(e->pdrop, e->pooled, (size_t)n * d * sizeof(float));
    kernels_dropout(e->pdrop, n, d, d, engine__site_key(e, e->L, SITE_HEAD), 0, e->p_cls);
    engine__gemm(e, e->L, ENGINE_FWD | GEMM_TB, n, lab, d, 1.0f, e->pdrop, d, W->cls_w, d, 0.0f,
                 e->logits, lab);
    kernels_add_bias(e->logits, W->cls_b, n, lab);
}

/* Head backward from dlogits; writes d(top layer output) into dout (when layers train). */
static void head_backward(engine_t *e, float *dout)
{
    const model_head_t *W = &e->pw->head;
    const model_head_t *G = &e->pg->head;
    int d = e->d, n = e->n, lab = e->s.labels, top = e->L - 1;
    float *dp = e->pdrop;   /* reused once the classifier's gradient has read it */

    engine__gemm(e, e->L, ENGINE_BWD | GEMM_TA, lab, d, n, 1.0f, e->dlogits, lab, e->pdrop, d, 1.0f,
                 G->cls_w, d);
    kernels_colsum(G->cls_b, e->dlogits, n, lab);
    engine__gemm(e, e->L, ENGINE_BWD, n, d, lab, 1.0f, e->dlogits, lab, W->cls_w, d, 0.0f,
                 dp, d);
    kernels_dropout(dp, n, d, d, engine__site_key(e, e->L, SITE_HEAD), 0, e->p_cls);
    kernels_tanh_bwd(dp, dp, e->pooled, (long)n * d);
    engine__gemm(e, e->L, ENGINE_BWD | GEMM_TA, d, d, n, 1.0f, dp, d, e->hcls, d, 1.0f, G->pool_w,
                 d);
    kernels_colsum(G->pool_b, dp, n, d);
    if (!dout)
        return;
    if (e->plan[top].cls) {
        engine__gemm(e, e->L, ENGINE_BWD, n, d, d, 1.0f, dp, d, W->pool_w, d, 0.0f, dout, d);
        return;
    }
    memset(dout, 0, (size_t)e->N * d * sizeof(float));
    for (int b = 0; b < n; b++)
        engine__gemm1(e, e->L, ENGINE_BWD, 1, d, d, 1.0f, dp + (size_t)b * d, d, W->pool_w,
                      d, 0.0f, dout + (size_t)e->start[b] * d, d);
}

static double loss_and_grad(engine_t *e, bool grad)
{
    float *dl = grad ? e->dlogits : NULL;

    if (e->s.labels > 1)
        return kernels_cross_entropy(dl, e->logits, e->labels_i, e->n, e->s.labels);
    return kernels_mse(dl, e->logits, e->labels_f, e->n);
}

/* ---- passes -------------------------------------------------------------------------------- */

static void prefix_flops(engine_t *e, bool bwd)
{
    double per = 0.0, P = e->P, d = e->d, bn = e->bn;

    for (int l = 0; l < e->L; l++)
        per += e->plan[l].prefix ? 2.0 * P * bn * 2 * d : 0.0;
    per += 2.0 * P * d * bn;
    atomic_fetch_add(&e->flops[e->L + 1][bwd], (uint64_t)(bwd ? 2.0 * per : per));
}

static void forward(engine_t *e, bool train)
{
    const model_opts_t *mo = model_opts(e->model);
    bool store_emb = train && e->ft;

    e->train = train;
    e->p_hidden = train && !e->o.no_dropout ? mo->hidden_dropout : 0.0f;
    e->p_attn = train && !e->o.no_dropout ? mo->attention_dropout : 0.0f;
    e->p_cls = train && !e->o.no_dropout
                   ? (mo->classifier_dropout >= 0.0f ? mo->classifier_dropout : mo->hidden_dropout)
                   : 0.0f;
    if (train)
        e->step_key = rng_next(&e->rng);
    if (peft_prefix_mlp(e->peft)) {
        peft_prefix_forward(e->peft, e->pt_t, e->pt_kv);
        prefix_flops(e, false);
    }
    engine__parts(e, embed_part, &store_emb);
    for (int l = 0; l < e->L; l++) {
        bool store = train && e->plan[l].stored;
        acts_t A = compose(e, l, store);

        engine__layer_forward(e, l, layer_input(e, l, train), &A);
    }
    head_forward(e, train);
}

static void embed_backward(engine_t *e, float *dx)
{
    const model_embed_t *W = &e->bw->emb;
    const model_embed_t *G = &e->bg->emb;
    int d = e->d, N = e->N;

    e->stats[0].backward = true;
    kernels_dropout(dx, N, d, d, engine__site_key(e, -1, SITE_EMBED), 0, e->p_hidden);
    kernels_layernorm_params(G->ln_g, G->ln_b, dx, e->emb_xhat, N, d);
    kernels_layernorm_bwd(dx, NULL, NULL, dx, e->emb_xhat, e->emb_rstd, W->ln_g, N, d, false);
    kernels_embed_bwd(G->word, G->pos, G->type, dx, e->ids, e->pos, e->types, N, d);
}

static void backward(engine_t *e)
{
    int cur = 0;
    bool layers = e->lowest < e->L;

    e->stats[e->L + 1].backward = true;
    head_backward(e, layers ? e->dout[0] : NULL);
    for (int l = e->L - 1; layers && l >= e->lowest; l--) {
        acts_t A = compose(e, l, true);
        float *dx = e->plan[l].need_dx ? e->dout[cur ^ 1] : NULL;

        e->stats[l + 1].backward = true;
        engine__layer_backward(e, l, layer_input(e, l, true), &A, e->dout[cur], dx);
        cur ^= 1;
    }
    if (e->ft)
        embed_backward(e, e->dout[cur]);
    if (peft_prefix_mlp(e->peft)) {
        peft_prefix_backward(e->peft, e->pt_t, e->pt_dkv, e->pt_dt);
        prefix_flops(e, true);
    }
}

/* ---- public -------------------------------------------------------------------------------- */

int engine_train(engine_t *e, const engine_batch_t *b, double *loss, float *logits)
{
    double l;
    int rc = load_batch(e, b, true);

    if (rc != 0)
        return rc;
    for (int i = 0; i < e->L + 2; i++) {
        atomic_store(&e->flops[i][0], 0);
        atomic_store(&e->flops[i][1], 0);
        e->stats[i].backward = false;
    }
    peft_zero_grad(e->peft);
    if (e->pt_dkv)
        memset(e->pt_dkv, 0, (size_t)e->L * e->P * 2 * e->d * sizeof(float));
    forward(e, true);
    l = loss_and_grad(e, true);
    if (!isfinite(l))
        return err_set(ERR_NUMERIC, "training loss is not finite (%g)", l);
    backward(e);
    if (loss)
        *loss = l;
    if (logits)
        memcpy(logits, e->logits, (size_t)e->n * e->s.labels * sizeof(float));
    return 0;
}

int engine_eval(engine_t *e, const engine_batch_t *b, float *logits, double *loss)
{
    int rc = load_batch(e, b, loss != NULL);

    if (rc != 0)
        return rc;
    forward(e, false);
    if (loss)
        *loss = loss_and_grad(e, false);
    if (logits)
        memcpy(logits, e->logits, (size_t)e->n * e->s.labels * sizeof(float));
    return 0;
}

int engine_hidden(engine_t *e, const engine_batch_t *b, float *out)
{
    int rc;

    if (!e->o.all_work)
        return err_set(ERR_STATE, "engine_hidden: the engine computes the top layer's [CLS] rows "
                       "only; make it with all_work");
    if ((rc = load_batch(e, b, false)) != 0)
        return rc;
    forward(e, false);
    memcpy(out, layer_output(e, e->L - 1, false), (size_t)e->N * e->d * sizeof(float));
    return 0;
}

int engine_part_stats(const engine_t *e, int part, engine_part_stats_t *out)
{
    if (part < -1 || part > e->L)
        return err_set(ERR_INVAL, "engine: no part %d (expected -1..%d)", part, e->L);
    *out = e->stats[part + 1];
    out->fwd_flops = (double)atomic_load(&e->flops[part + 1][0]);
    out->bwd_flops = (double)atomic_load(&e->flops[part + 1][1]);
    return 0;
}

double engine_step_flops(const engine_t *e)
{
    double t = 0.0;

    for (int i = 0; i < e->L + 2; i++)
        t += (double)atomic_load(&e->flops[i][0]) + (double)atomic_load(&e->flops[i][1]);
    return t;
}

size_t engine_stored_floats(const engine_t *e)
{
    return e->stored_floats;
}
