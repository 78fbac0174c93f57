/* Trainable parameters of a trial: see peft.h. */
#include "worker/engine/peft.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mem.h"
#include "common/rng.h"
#include "worker/engine/kernels.h"

struct peft {
    shape_t shape;
    space_config_t config;
    peft_opts_t o;
    bool on[SPACE_NMODULES][SHAPE_MAX_LAYERS];
    int prefix_len, bottleneck, lowest;
    bool any_prefix;
    float *params, *grads;
    size_t size;
    peft_tensor_t *tensors;
    int ntensors;
    peft_view_t pv, gv;
    model_tensor_t *backbone_table;   /* full fine-tuning: names of the backbone tensors */
    int nbackbone;
};

void peft_opts_default(peft_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->prefix_bottleneck = SPACE_PREFIX_BOTTLENECK;
}

/* ---- the size table ------------------------------------------------------------------------- */

typedef struct {
    peft_t *p;
    size_t off;
    int n;
    bool fill;   /* second pass: the buffers exist, write the table and views */
} walk_t;

static bool decays(const char *name)
{
    return !model_name_ends_with(name, ".bias") && !strstr(name, "LayerNorm");
}

/* Reserves one tensor; returns its offset. */
static size_t take(walk_t *w, const char *name, int d0, int d1)
{
    size_t off = w->off, count = (size_t)d0 * (size_t)(d1 > 0 ? d1 : 1);

    if (w->fill) {
        peft_tensor_t *t = &w->p->tensors[w->n];

        snprintf(t->name, sizeof t->name, "%s", name);
        t->ndim = d1 > 0 ? 2 : 1;
        t->dims[0] = d0;
        t->dims[1] = d1 > 0 ? d1 : 1;
        t->offset = off;
        t->count = count;
        t->decay = decays(name);
    }
    w->n++;
    w->off += count;
    return off;
}

static void take_linear(walk_t *w, const char *prefix, int out, int in, peft_linear_t *pv,
                        peft_linear_t *gv)
{
    char name[PEFT_NAME_MAX];
    size_t ow, ob;

    snprintf(name, sizeof name, "%s.weight", prefix);
    ow = take(w, name, out, in);
    snprintf(name, sizeof name, "%s.bias", prefix);
    ob = take(w, name, out, 0);
    if (w->fill) {
        pv->w = w->p->params + ow;
        pv->b = w->p->params + ob;
        gv->w = w->p->grads + ow;
        gv->b = w->p->grads + ob;
    }
}

static void take_plain(walk_t *w, const char *name, int d0, int d1, float **pv, float **gv)
{
    size_t off = take(w, name, d0, d1);

    if (w->fill) {
        *pv = w->p->params + off;
        *gv = w->p->grads + off;
    }
}

/* Full fine-tuning: the backbone first, carved as the model's (model_carve), so that it copies
 * from the model in one piece. */
static void walk_backbone(walk_t *w)
{
    peft_t *p = w->p;

    if (w->fill) {
        model_carve(&p->shape, false, p->params, &p->pv.backbone, p->backbone_table);
        model_carve(&p->shape, false, p->grads, &p->gv.backbone, NULL);
        for (int i = 0; i < p->nbackbone; i++) {
            const model_tensor_t *bt = &p->backbone_table[i];
            peft_tensor_t *t = &p->tensors[i];

            snprintf(t->name, sizeof t->name, "%s", bt->name);
            t->ndim = bt->ndim;
            t->dims[0] = bt->dims[0];
            t->dims[1] = bt->dims[1];
            t->offset = (size_t)(bt->data - p->params);
            t->count = bt->count;
            t->decay = decays(bt->name);
        }
    }
    w->n += p->nbackbone;
    w->off += model_param_count(&p->shape, false);
}

/* The task head, and the prefix MLP's shared first half (MLP mode). */
static void walk_head(walk_t *w)
{
    peft_t *p = w->p;
    int d = p->shape.hidden, labels = p->shape.labels;

    take_plain(w, "pooler.dense.weight", d, d, &p->pv.head.pool_w, &p->gv.head.pool_w);
    take_plain(w, "pooler.dense.bias", d, 0, &p->pv.head.pool_b, &p->gv.head.pool_b);
    take_plain(w, "classifier.weight", labels, d, &p->pv.head.cls_w, &p->gv.head.cls_w);
    take_plain(w, "classifier.bias", labels, 0, &p->pv.head.cls_b, &p->gv.head.cls_b);
    if (p->any_prefix && !p->o.prefix_flat) {
        take_plain(w, "peft.prefix.embedding", p->prefix_len, d, &p->pv.prefix_emb,
                   &p->gv.prefix_emb);
        take_linear(w, "peft.prefix.dense", p->bottleneck, d, &p->pv.prefix_dense,
                    &p->gv.prefix_dense);
    }
}

/* Layer l's modules, in the order sa, pa, lora, prefix, ha. */
static void walk_layer(walk_t *w, int l)
{
    peft_t *p = w->p;
    peft_layer_t *pl = &p->pv.layer[l], *gl = &p->gv.layer[l];
    int d = p->shape.hidden, P = p->prefix_len, bn = p->bottleneck;
    int r_sa = (int)p->config.size[SPACE_SA], r_pa = (int)p->config.size[SPACE_PA];
    int r_lora = (int)p->config.size[SPACE_LORA], r_ha = (int)p->config.size[SPACE_HA];
    char name[PEFT_NAME_MAX];

    if (w->fill) {
        pl->sa = gl->sa = p->on[SPACE_SA][l];
        pl->pa = gl->pa = p->on[SPACE_PA][l];
        pl->lora = gl->lora = p->on[SPACE_LORA][l];
        pl->prefix = gl->prefix = p->on[SPACE_PT][l];
        pl->ha = gl->ha = p->on[SPACE_HA][l];
    }
#define NAME(what) (snprintf(name, sizeof name, "peft.layer.%d." what, l), name)
    if (p->on[SPACE_SA][l]) {
        take_linear(w, NAME("sa.down"), r_sa, d, &pl->sa_down, &gl->sa_down);
        take_linear(w, NAME("sa.up"), d, r_sa, &pl->sa_up, &gl->sa_up);
    }
    if (p->on[SPACE_PA][l]) {
        take_linear(w, NAME("pa.down"), r_pa, d, &pl->pa_down, &gl->pa_down);
        take_linear(w, NAME("pa.up"), d, r_pa, &pl->pa_up, &gl->pa_up);
    }
    if (p->on[SPACE_LORA][l]) {
        take_plain(w, NAME("lora.q.a"), r_lora, d, &pl->lora_qa, &gl->lora_qa);
        take_plain(w, NAME("lora.q.b"), d, r_lora, &pl->lora_qb, &gl->lora_qb);
        take_plain(w, NAME("lora.v.a"), r_lora, d, &pl->lora_va, &gl->lora_va);
        take_plain(w, NAME("lora.v.b"), d, r_lora, &pl->lora_vb, &gl->lora_vb);
    }
    if (p->on[SPACE_PT][l] && p->o.prefix_flat) {
        take_plain(w, NAME("prefix.key"), P, d, &pl->prefix_k, &gl->prefix_k);
        take_plain(w, NAME("prefix.value"), P, d, &pl->prefix_v, &gl->prefix_v);
    } else if (p->on[SPACE_PT][l]) {
        take_linear(w, NAME("prefix.out"), 2 * d, bn, &pl->prefix_out, &gl->prefix_out);
    }
    if (p->on[SPACE_HA][l]) {
        take_linear(w, NAME("ha.attn.down"), r_ha, d, &pl->ha_attn_down, &gl->ha_attn_down);
        take_linear(w, NAME("ha.attn.up"), d, r_ha, &pl->ha_attn_up, &gl->ha_attn_up);
        take_linear(w, NAME("ha.ffn.down"), r_ha, d, &pl->ha_ffn_down, &gl->ha_ffn_down);
        take_linear(w, NAME("ha.ffn.up"), d, r_ha, &pl->ha_ffn_up, &gl->ha_ffn_up);
    }
#undef NAME
}

/* The size table's order: backbone (full fine-tuning), head, prefix MLP, then layer by layer. */
static void walk(walk_t *w)
{
    if (w->p->o.full_finetune)
        walk_backbone(w);
    walk_head(w);
    for (int l = 0; l < w->p->shape.layers; l++)
        walk_layer(w, l);
}

/* ---- initialisation ------------------------------------------------------------------------- */

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void init_module(peft_t *p, const peft_tensor_t *t)
{
    float *x = p->params + t->offset;
    const char *n = t->name;
    int fan_in = t->ndim == 2 ? t->dims[1] : 0;
    rng_t r;

    rng_seed_stream(&r, p->o.seed, name_hash(n));
    if (strstr(n, ".pa.up.") || model_name_ends_with(n, ".lora.q.b") ||
        model_name_ends_with(n, ".lora.v.b") ||
        (strncmp(n, "peft.layer.", 11) == 0 && model_name_ends_with(n, ".bias"))) {
        memset(x, 0, t->count * sizeof *x);
    } else if (strstr(n, ".sa.") || strstr(n, ".ha.")) {
        for (size_t i = 0; i < t->count; i++)
            x[i] = (float)(0.02 * rng_normal(&r));
    } else if (strstr(n, ".pa.down.") || model_name_ends_with(n, ".a") ||
               strstr(n, "prefix.dense.weight") || strstr(n, "prefix.out.weight")) {
        double bound = 1.0 / sqrt((double)fan_in);

        for (size_t i = 0; i < t->count; i++)
            x[i] = (float)(bound * (2.0 * rng_uniform(&r) - 1.0));
    } else if (strcmp(n, "peft.prefix.dense.bias") == 0) {
        double bound = 1.0 / sqrt((double)p->shape.hidden);

        for (size_t i = 0; i < t->count; i++)
            x[i] = (float)(bound * (2.0 * rng_uniform(&r) - 1.0));
    } else {
        /* prefix embedding, flat keys and values */
        for (size_t i = 0; i < t->count; i++)
            x[i] = (float)rng_normal(&r);
    }
}

/* prefix.out.bias is a PyTorch Linear bias: U(+-1/sqrt(bn)), unlike the modules' zero biases. */
static void init_prefix_out_bias(peft_t *p)
{
    for (int l = 0; l < p->shape.layers; l++) {
        float *b = p->pv.layer[l].prefix_out.b;
        char name[PEFT_NAME_MAX];
        double bound = 1.0 / sqrt((double)p->bottleneck);
        rng_t r;

        if (!b)
            continue;
        snprintf(name, sizeof name, "peft.layer.%d.prefix.out.bias", l);
        rng_seed_stream(&r, p->o.seed, name_hash(name));
        for (int i = 0; i < 2 * p->shape.hidden; i++)
            b[i] = (float)(bound * (2.0 * rng_uniform(&r) - 1.0));
    }
}

/* ---- construction --------------------------------------------------------------------------- */

static int check_config(const shape_t *s, const space_config_t *c, const peft_opts_t *o)
{
    static const uint32_t cap[SPACE_NMODULES] = {PEFT_MAX_BOTTLENECK, PEFT_MAX_BOTTLENECK,
                                                 PEFT_MAX_PREFIX, 0, PEFT_MAX_BOTTLENECK};

    if (c->layers != s->layers)
        return err_set(ERR_INVAL, "PEFT configuration for %d layers; the model has %d", c->layers,
                       s->layers);
    for (int m = 0; m < SPACE_NMODULES; m++) {
        uint32_t limit = m == SPACE_LORA ? (uint32_t)s->hidden : cap[m];

        if (c->size[m] > limit)
            return err_set(ERR_RANGE, "PEFT configuration: %s size %u exceeds %u",
                           space_module_name((space_module_t)m),
                           c->size[m], limit);
    }
    if (o->prefix_bottleneck < 0 || o->prefix_bottleneck > PEFT_MAX_BOTTLENECK)
        return err_set(ERR_RANGE, "prefix bottleneck %d: expected 0..%d", o->prefix_bottleneck,
                       PEFT_MAX_BOTTLENECK);
    if (!(o->lora_alpha >= 0.0f && o->lora_alpha < 1e6f))
        return err_set(ERR_INVAL, "LoRA alpha %g: expected a value in [0, 1e6)", (double)o->lora_alpha);
    return 0;
}

static peft_t *create(const shape_t *s, const space_config_t *c, const peft_opts_t *o)
{
    peft_t *p;
    walk_t w = {0};

    if (check_config(s, c, o) != 0)
        return NULL;
    p = mem_alloc(1, sizeof *p, "PEFT parameters");
    if (!p)
        return NULL;
    p->shape = *s;
    p->config = *c;
    p->o = *o;
    p->bottleneck = o->prefix_bottleneck ? o->prefix_bottleneck : SPACE_PREFIX_BOTTLENECK;
    p->lowest = o->full_finetune ? -1 : s->layers;
    for (int l = s->layers - 1; l >= 0; l--)
        for (int m = 0; m < SPACE_NMODULES; m++) {
            p->on[m][l] = c->size[m] > 0 && space_config_layer(c, (space_module_t)m, l);
            if (p->on[m][l] && !o->full_finetune)
                p->lowest = l;
            if (p->on[m][l] && m == SPACE_PT)
                p->any_prefix = true;
        }
    p->prefix_len = p->any_prefix ? (int)c->size[SPACE_PT] : 0;
    p->pv.layer = mem_alloc((size_t)s->layers, sizeof *p->pv.layer, "PEFT layer views");
    p->gv.layer = mem_alloc((size_t)s->layers, sizeof *p->gv.layer, "PEFT layer views");
    if (!p->pv.layer || !p->gv.layer)
        goto fail;
    if (o->full_finetune) {
        p->nbackbone = model_tensor_total(s, false);
        p->backbone_table = mem_alloc((size_t)p->nbackbone, sizeof *p->backbone_table, "backbone table");
        p->pv.backbone.layer = mem_alloc((size_t)s->layers, sizeof(model_layer_t), "backbone views");
        p->gv.backbone.layer = mem_alloc((size_t)s->layers, sizeof(model_layer_t), "backbone views");
        if (!p->backbone_table || !p->pv.backbone.layer || !p->gv.backbone.layer)
            goto fail;
    }
    w.p = p;
    walk(&w);   /* sizes */
    p->size = w.off;
    p->ntensors = w.n;
    p->tensors = mem_alloc((size_t)p->ntensors, sizeof *p->tensors, "PEFT tensor table");
    p->params = mem_alloc_aligned(p->size, sizeof(float), "PEFT parameters");
    p->grads = mem_alloc_aligned(p->size, sizeof(float), "PEFT gradients");
    if (!p->tensors || !p->params || !p->grads)
        goto fail;
    w = (walk_t){.p = p, .fill = true};
    walk(&w);
    return p;
fail:
    peft_free(&p);
    return NULL;
}

peft_t *peft_new(const model_t *m, const space_config_t *c, const peft_opts_t *o)
{
    const model_view_t *mw = model_weights(m);
    const shape_t *s = &model_opts(m)->shape;
    int d = s->hidden;
    peft_t *p = create(s, c, o);

    if (!p)
        return NULL;
    /* the backbone is carved in the model's order, head last, so it copies in one piece */
    if (o->full_finetune)
        memcpy(p->params, mw->emb.word, model_param_count(s, false) * sizeof(float));
    memcpy(p->pv.head.pool_w, mw->head.pool_w, (size_t)d * d * sizeof(float));
    memcpy(p->pv.head.pool_b, mw->head.pool_b, (size_t)d * sizeof(float));
    memcpy(p->pv.head.cls_w, mw->head.cls_w, (size_t)s->labels * d * sizeof(float));
    memcpy(p->pv.head.cls_b, mw->head.cls_b, (size_t)s->labels * sizeof(float));
    for (int i = 0; i < p->ntensors; i++)
        if (strncmp(p->tensors[i].name, "peft.", 5) == 0)
            init_module(p, &p->tensors[i]);
    init_prefix_out_bias(p);
    return p;
}

void peft_free(peft_t **pp)
{
    peft_t *p = pp ? *pp : NULL;

    if (!p)
        return;
    free(p->params);
    free(p->grads);
    free(p->tensors);
    free(p->pv.layer);
    free(p->gv.layer);
    free(p->pv.backbone.layer);
    free(p->gv.backbone.layer);
    free(p->backbone_table);
    free(p);
    *pp = NULL;
}

peft_t *peft_eject(const peft_t *p)
{
    peft_opts_t o = p->o;
    peft_t *q;
    float *t = NULL, *kv = NULL;
    int d = p->shape.hidden, P = p->prefix_len;

    o.prefix_flat = true;
    q = create(&p->shape, &p->config, &o);
    if (!q)
        return NULL;
    for (int i = 0; i < q->ntensors; i++) {
        const peft_tensor_t *src = NULL;

        for (int j = 0; j < p->ntensors && !src; j++)
            if (strcmp(p->tensors[j].name, q->tensors[i].name) == 0)
                src = &p->tensors[j];
        if (src)
            memcpy(q->params + q->tensors[i].offset, p->params + src->offset,
                   src->count * sizeof(float));
    }
    if (peft_prefix_mlp(p)) {
        t = mem_alloc((size_t)P * p->bottleneck, sizeof *t, "prefix MLP hidden");
        kv = mem_alloc((size_t)p->shape.layers * P * 2 * d, sizeof *kv, "prefix keys and values");
        if (!t || !kv) {
            peft_free(&q);
            goto out;
        }
        peft_prefix_forward(p, t, kv);
        for (int l = 0; l < p->shape.layers; l++) {
            const float *src = kv + (size_t)l * P * 2 * d;

            if (!p->on[SPACE_PT][l])
                continue;
            for (int i = 0; i < P; i++) {
                memcpy(q->pv.layer[l].prefix_k + (size_t)i * d, src + (size_t)i * 2 * d, d * sizeof(float));
                memcpy(q->pv.layer[l].prefix_v + (size_t)i * d, src + (size_t)i * 2 * d + d,
                       d * sizeof(float));
            }
        }
    }
out:
    free(t);
    free(kv);
    return q;
}

/* ---- accessors ------------------------------------------------------------------------------ */

const space_config_t *peft_config(const peft_t *p) { return &p->config; }
const peft_opts_t *peft_opts(const peft_t *p) { return &p->o; }
const shape_t *peft_shape(const peft_t *p) { return &p->shape; }
int peft_prefix_len(const peft_t *p) { return p->prefix_len; }
int peft_prefix_bottleneck(const peft_t *p) { return p->bottleneck; }
bool peft_prefix_mlp(const peft_t *p) { return p->any_prefix && !p->o.prefix_flat; }
int peft_lowest_layer(const peft_t *p) { return p->lowest; }
const peft_view_t *peft_params(const peft_t *p) { return &p->pv; }
const peft_view_t *peft_grads(const peft_t *p) { return &p->gv; }
float *peft_param_buffer(peft_t *p) { return p->params; }
float *peft_grad_buffer(peft_t *p) { return p->grads; }
size_t peft_size(const peft_t *p) { return p->size; }
int peft_tensor_count(const peft_t *p) { return p->ntensors; }

bool peft_on(const peft_t *p, space_module_t m, int layer)
{
    return layer >= 0 && layer < p->shape.layers && (int)m >= 0 && m < SPACE_NMODULES &&
           p->on[m][layer];
}

float peft_lora_scale(const peft_t *p)
{
    float r = (float)p->config.size[SPACE_LORA];

    if (r <= 0.0f)
        return 0.0f;
    return (p->o.lora_alpha > 0.0f ? p->o.lora_alpha : r) / r;
}

const peft_tensor_t *peft_tensor(const peft_t *p, int i)
{
    return i >= 0 && i < p->ntensors ? &p->tensors[i] : NULL;
}

const peft_tensor_t *peft_find(const peft_t *p, const char *name, float **data)
{
    for (int i = 0; i < p->ntensors; i++)
        if (strcmp(p->tensors[i].name, name) == 0) {
            if (data)
                *data = p->params + p->tensors[i].offset;
            return &p->tensors[i];
        }
    err_set(ERR_NOTFOUND, "no trainable tensor '%s' in this configuration", name);
    return NULL;
}

void peft_zero_grad(peft_t *p)
{
    memset(p->grads, 0, p->size * sizeof(float));
}

/* ---- prefix MLP ----------------------------------------------------------------------------- */

void peft_prefix_forward(const peft_t *p, float *t, float *kv)
{
    int d = p->shape.hidden, P = p->prefix_len, bn = p->bottleneck;

    kernels_gemm(GEMM_TB, P, bn, d, 1.0f, p->pv.prefix_emb, d, p->pv.prefix_dense.w, d, 0.0f,
                 t, bn);
    kernels_bias_tanh(t, p->pv.prefix_dense.b, P, bn);
    for (int l = 0; l < p->shape.layers; l++) {
        float *out = kv + (size_t)l * P * 2 * d;

        if (!p->on[SPACE_PT][l])
            continue;
        kernels_gemm(GEMM_TB, P, 2 * d, bn, 1.0f, t, bn, p->pv.layer[l].prefix_out.w, bn, 0.0f,
                     out, 2 * d);
        kernels_add_bias(out, p->pv.layer[l].prefix_out.b, P, 2 * d);
    }
}

void peft_prefix_backward(peft_t *p, const float *t, const float *dkv, float *dt)
{
    int d = p->shape.hidden, P = p->prefix_len, bn = p->bottleneck;
    bool first = true;

    for (int l = 0; l < p->shape.layers; l++) {
        const float *g = dkv + (size_t)l * P * 2 * d;
        peft_linear_t *gl = &p->gv.layer[l].prefix_out;

        if (!p->on[SPACE_PT][l])
            continue;
        /* dW2 [2d, bn] += dkv^T t; db2 += colsum(dkv); dt (+)= dkv W2 */
        kernels_gemm(GEMM_TA, 2 * d, bn, P, 1.0f, g, 2 * d, t, bn, 1.0f, gl->w, bn);
        kernels_colsum(gl->b, g, P, 2 * d);
        kernels_gemm(GEMM_NN, P, bn, 2 * d, 1.0f, g, 2 * d, p->pv.layer[l].prefix_out.w, bn,
                     first ? 0.0f : 1.0f, dt, bn);
        first = false;
    }
    if (first)
        return;
    kernels_tanh_bwd(dt, dt, t, (long)P * bn);
    kernels_gemm(GEMM_TA, bn, d, P, 1.0f, dt, bn, p->pv.prefix_emb, d, 1.0f,
                 p->gv.prefix_dense.w, d);
    kernels_colsum(p->gv.prefix_dense.b, dt, P, bn);
    kernels_gemm(GEMM_NN, P, d, bn, 1.0f, dt, bn, p->pv.prefix_dense.w, d, 1.0f,
                 p->gv.prefix_emb, d);
}
