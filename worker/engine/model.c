/* The frozen encoder's weights: see model.h. */
#include "worker/engine/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mem.h"
#include "common/rng.h"

struct model {
    model_opts_t o;
    float *buf;
    size_t nfloats;
    model_tensor_t *tensors;
    int ntensors;
    model_view_t view;
};

void model_opts_default(model_opts_t *o, const shape_t *s)
{
    memset(o, 0, sizeof *o);
    o->shape = *s;
    o->layer_norm_eps = 1e-12f;
    o->hidden_dropout = 0.1f;
    o->attention_dropout = 0.1f;
    o->classifier_dropout = -1.0f;
    o->initializer_range = 0.02f;
    o->pad_token_id = 0;
}

static bool is_prob(float p)
{
    return p >= 0.0f && p < 1.0f;
}

int model_opts_check(const model_opts_t *o)
{
    int rc = shape_check(&o->shape);

    if (rc != 0)
        return rc;
    if (!(o->layer_norm_eps > 0.0f && o->layer_norm_eps < 1.0f))
        return err_set(ERR_INVAL, "layer_norm_eps %g: expected a value in (0, 1)",
                       (double)o->layer_norm_eps);
    if (!is_prob(o->hidden_dropout))
        return err_set(ERR_INVAL, "hidden_dropout_prob %g: expected [0, 1)", (double)o->hidden_dropout);
    if (!is_prob(o->attention_dropout))
        return err_set(ERR_INVAL, "attention_probs_dropout_prob %g: expected [0, 1)",
                       (double)o->attention_dropout);
    if (o->classifier_dropout >= 1.0f)
        return err_set(ERR_INVAL, "classifier_dropout %g: expected [0, 1) or null",
                       (double)o->classifier_dropout);
    if (!(o->initializer_range >= 0.0f && o->initializer_range < 10.0f))
        return err_set(ERR_INVAL, "initializer_range %g: expected [0, 10)", (double)o->initializer_range);
    if (o->pad_token_id < -1 || o->pad_token_id >= o->shape.vocab)
        return err_set(ERR_INVAL, "pad_token_id %d: expected -1 (none) or a token below %d",
                       o->pad_token_id, o->shape.vocab);
    return 0;
}

/* The carving walk, shared by counting (buf NULL) and carving. Shapes are below shape.h's caps,
 * so every product here fits in size_t. */
typedef struct {
    float *buf;
    size_t off;
    model_tensor_t *table;
    int n;
} walk_t;

static float *take(walk_t *w, const char *name, int d0, int d1)
{
    float *p = w->buf ? w->buf + w->off : NULL;
    size_t count = (size_t)d0 * (size_t)(d1 > 0 ? d1 : 1);

    if (w->table) {
        model_tensor_t *t = &w->table[w->n];

        snprintf(t->name, sizeof t->name, "%s", name);
        t->ndim = d1 > 0 ? 2 : 1;
        t->dims[0] = d0;
        t->dims[1] = d1 > 0 ? d1 : 1;
        t->count = count;
        t->data = p;
        t->loaded = false;
    }
    w->n++;
    w->off += count;
    return p;
}

static size_t walk(const shape_t *s, walk_t *w, model_view_t *v, bool head)
{
    int d = s->hidden, ff = s->intermediate;
    char name[MODEL_NAME_MAX];
    model_view_t dummy;

    if (!v)
        v = &dummy;
    v->emb.word = take(w, "embeddings.word_embeddings.weight", s->vocab, d);
    v->emb.pos = take(w, "embeddings.position_embeddings.weight", s->positions, d);
    v->emb.type = take(w, "embeddings.token_type_embeddings.weight", s->type_vocab, d);
    v->emb.ln_g = take(w, "embeddings.LayerNorm.weight", d, 0);
    v->emb.ln_b = take(w, "embeddings.LayerNorm.bias", d, 0);
    for (int l = 0; l < s->layers; l++) {
        model_layer_t tmp, *L = v == &dummy ? &tmp : &v->layer[l];
        static const char *const qkv[3] = {"query", "key", "value"};
        float *p;

#define NAME(fmt) (snprintf(name, sizeof name, "encoder.layer.%d." fmt, l), name)
        for (int k = 0; k < 3; k++) {
            snprintf(name, sizeof name, "encoder.layer.%d.attention.self.%s.weight", l, qkv[k]);
            p = take(w, name, d, d);
            if (k == 0)
                L->qkv_w = p;
        }
        for (int k = 0; k < 3; k++) {
            snprintf(name, sizeof name, "encoder.layer.%d.attention.self.%s.bias", l, qkv[k]);
            p = take(w, name, d, 0);
            if (k == 0)
                L->qkv_b = p;
        }
        L->ao_w = take(w, NAME("attention.output.dense.weight"), d, d);
        L->ao_b = take(w, NAME("attention.output.dense.bias"), d, 0);
        L->ln1_g = take(w, NAME("attention.output.LayerNorm.weight"), d, 0);
        L->ln1_b = take(w, NAME("attention.output.LayerNorm.bias"), d, 0);
        L->in_w = take(w, NAME("intermediate.dense.weight"), ff, d);
        L->in_b = take(w, NAME("intermediate.dense.bias"), ff, 0);
        L->out_w = take(w, NAME("output.dense.weight"), d, ff);
        L->out_b = take(w, NAME("output.dense.bias"), d, 0);
        L->ln2_g = take(w, NAME("output.LayerNorm.weight"), d, 0);
        L->ln2_b = take(w, NAME("output.LayerNorm.bias"), d, 0);
#undef NAME
    }
    if (!head) {
        memset(&v->head, 0, sizeof v->head);
        return w->off;
    }
    v->head.pool_w = take(w, "pooler.dense.weight", d, d);
    v->head.pool_b = take(w, "pooler.dense.bias", d, 0);
    v->head.cls_w = take(w, "classifier.weight", s->labels, d);
    v->head.cls_b = take(w, "classifier.bias", s->labels, 0);
    return w->off;
}

size_t model_param_count(const shape_t *s, bool head)
{
    walk_t w = {0};

    return walk(s, &w, NULL, head);
}

int model_tensor_total(const shape_t *s, bool head)
{
    walk_t w = {0};

    walk(s, &w, NULL, head);
    return w.n;
}

void model_carve(const shape_t *s, bool head, float *buf, model_view_t *v, model_tensor_t *table)
{
    walk_t w = {.buf = buf, .table = table};

    walk(s, &w, v, head);
}

model_t *model_new(const model_opts_t *o)
{
    model_t *m = NULL;

    if (model_opts_check(o) != 0)
        return NULL;
    m = mem_alloc(1, sizeof *m, "model");
    if (!m)
        return NULL;
    m->o = *o;
    m->nfloats = model_param_count(&o->shape, true);
    m->ntensors = model_tensor_total(&o->shape, true);
    m->buf = mem_alloc_aligned(m->nfloats, sizeof(float), "model weights");
    m->tensors = mem_alloc((size_t)m->ntensors, sizeof *m->tensors, "model tensor table");
    m->view.layer = mem_alloc((size_t)o->shape.layers, sizeof *m->view.layer, "model layers");
    if (!m->buf || !m->tensors || !m->view.layer) {
        model_free(&m);
        return NULL;
    }
    model_carve(&o->shape, true, m->buf, &m->view, m->tensors);
    return m;
}

void model_free(model_t **mp)
{
    model_t *m = mp ? *mp : NULL;

    if (!m)
        return;
    free(m->buf);
    free(m->tensors);
    free(m->view.layer);
    free(m);
    *mp = NULL;
}

const model_opts_t *model_opts(const model_t *m)
{
    return &m->o;
}

int model_set_dropout(model_t *m, float hidden, float attention, float classifier)
{
    model_opts_t o = m->o;
    int rc;

    o.hidden_dropout = hidden;
    o.attention_dropout = attention;
    o.classifier_dropout = classifier;
    if ((rc = model_opts_check(&o)) != 0)
        return rc;
    m->o = o;
    return 0;
}

const model_view_t *model_weights(const model_t *m)
{
    return &m->view;
}

int model_tensor_count(const model_t *m)
{
    return m->ntensors;
}

model_tensor_t *model_tensor(model_t *m, int i)
{
    return i >= 0 && i < m->ntensors ? &m->tensors[i] : NULL;
}

model_tensor_t *model_find(model_t *m, const char *name)
{
    if (strncmp(name, "bert.", 5) == 0)
        name += 5;
    for (int i = 0; i < m->ntensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0)
            return &m->tensors[i];
    err_set(ERR_NOTFOUND, "model has no tensor '%s'", name);
    return NULL;
}

bool model_name_ends_with(const char *name, const char *suffix)
{
    size_t ls = strlen(name), lx = strlen(suffix);

    return ls >= lx && strcmp(name + ls - lx, suffix) == 0;
}

static void init_tensor(model_t *m, int i, uint64_t seed)
{
    model_tensor_t *t = &m->tensors[i];
    rng_t r;

    if (model_name_ends_with(t->name, "LayerNorm.weight")) {
        for (size_t k = 0; k < t->count; k++)
            t->data[k] = 1.0f;
    } else if (model_name_ends_with(t->name, ".bias")) {
        memset(t->data, 0, t->count * sizeof(float));
    } else {
        rng_seed_stream(&r, seed, (uint64_t)i);
        for (size_t k = 0; k < t->count; k++)
            t->data[k] = (float)(m->o.initializer_range * rng_normal(&r));
        if (strcmp(t->name, "embeddings.word_embeddings.weight") == 0 && m->o.pad_token_id >= 0)
            memset(t->data + (size_t)m->o.pad_token_id * t->dims[1], 0, t->dims[1] * sizeof(float));
    }
}

void model_init_random(model_t *m, uint64_t seed)
{
    for (int i = 0; i < m->ntensors; i++)
        init_tensor(m, i, seed);
}

int model_init_missing(model_t *m, uint64_t seed)
{
    int n = 0;

    for (int i = 0; i < m->ntensors; i++) {
        if (m->tensors[i].loaded)
            continue;
        init_tensor(m, i, seed);
        n++;
    }
    return n;
}
