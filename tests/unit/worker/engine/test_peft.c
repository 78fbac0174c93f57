/* Tests of worker/engine/model.c and worker/engine/peft.c: Hugging Face names and layouts, initialisation
 * rules, the trainable size table, configuration checks. */
#include <math.h>

#include "tests/harness.h"
#include "worker/engine/model.h"
#include "worker/engine/peft.h"

static shape_t tiny(void)
{
    return (shape_t){.hidden = 32, .layers = 3, .heads = 4, .intermediate = 64, .vocab = 100,
                     .positions = 40, .type_vocab = 2, .labels = 3};
}

static model_t *new_model(void)
{
    shape_t s = tiny();
    model_opts_t o;
    model_t *m;

    model_opts_default(&o, &s);
    m = model_new(&o);
    ASSERT_NOT_NULL(m);
    model_init_random(m, 1);
    return m;
}

static void config(space_config_t *c, int sa, int pa, int pt, int lora, uint64_t mask)
{
    memset(c, 0, sizeof *c);
    c->layers = 3;
    c->size[SPACE_SA] = (uint32_t)sa;
    c->size[SPACE_PA] = (uint32_t)pa;
    c->size[SPACE_PT] = (uint32_t)pt;
    c->size[SPACE_LORA] = (uint32_t)lora;
    for (int m = 0; m < SPACE_NMODULES; m++)
        c->mask[m][0] = mask;
}

TEST(model_names_layouts_and_init)
{
    model_t *m = new_model();
    const model_view_t *v = model_weights(m);
    model_tensor_t *t;
    double sum = 0, sq = 0;
    size_t total = 0;

    ASSERT_EQ(model_tensor_count(m), 5 + 3 * 16 + 4);
    for (int i = 0; i < model_tensor_count(m); i++)
        total += model_tensor(m, i)->count;
    ASSERT_EQ_U(total, model_param_count(&model_opts(m)->shape, true));
    t = model_find(m, "bert.encoder.layer.1.attention.self.key.weight");
    ASSERT_NOT_NULL(t);
    ASSERT_TRUE(t->data == v->layer[1].qkv_w + 32 * 32);   /* query, key, value stacked */
    ASSERT_EQ(t->dims[0], 32);
    t = model_find(m, "encoder.layer.2.attention.self.value.bias");
    ASSERT_TRUE(t && t->data == v->layer[2].qkv_b + 64);
    t = model_find(m, "encoder.layer.0.intermediate.dense.weight");
    ASSERT_TRUE(t && t->dims[0] == 64 && t->dims[1] == 32);   /* [out, in] */
    ASSERT_TRUE(model_find(m, "classifier.weight")->dims[0] == 3);
    ASSERT_TRUE(model_find(m, "cls.predictions.bias") == NULL);
    ASSERT_EQ(err_code(), ERR_NOTFOUND);
    /* Hugging Face's initialisation */
    t = model_find(m, "encoder.layer.1.output.LayerNorm.weight");
    for (size_t i = 0; i < t->count; i++)
        ASSERT_NEAR(t->data[i], 1.0, 0);
    t = model_find(m, "pooler.dense.bias");
    for (size_t i = 0; i < t->count; i++)
        ASSERT_NEAR(t->data[i], 0.0, 0);
    t = model_find(m, "embeddings.word_embeddings.weight");
    for (int j = 0; j < 32; j++)
        ASSERT_NEAR(t->data[j], 0.0, 0);   /* padding token 0 */
    for (size_t i = 32; i < t->count; i++) {
        sum += t->data[i];
        sq += (double)t->data[i] * t->data[i];
    }
    ASSERT_NEAR(sum / (t->count - 32), 0.0, 0.002);
    ASSERT_NEAR(sqrt(sq / (t->count - 32)), 0.02, 0.001);
    model_free(&m);
    ASSERT_TRUE(m == NULL);
}

TEST(model_init_missing_only_touches_missing_tensors)
{
    model_t *m = new_model(), *m2 = new_model();
    model_tensor_t *pool;

    for (int i = 0; i < model_tensor_count(m); i++)
        model_tensor(m, i)->loaded = true;
    pool = model_find(m, "pooler.dense.weight");
    pool->loaded = false;
    pool->data[0] = 42.0f;
    model_find(m, "embeddings.LayerNorm.weight")->data[0] = 7.0f;
    ASSERT_EQ(model_init_missing(m, 1), 1);
    ASSERT_NEAR(model_find(m, "embeddings.LayerNorm.weight")->data[0], 7.0, 0);
    /* the same values as a full initialisation with that seed */
    ASSERT_EQ(memcmp(pool->data, model_find(m2, "pooler.dense.weight")->data, pool->count * 4), 0);
    model_free(&m);
    model_free(&m2);
}

TEST(model_options_are_checked)
{
    shape_t s = tiny();
    model_opts_t o;

    model_opts_default(&o, &s);
    o.hidden_dropout = 1.0f;
    ASSERT_TRUE(model_new(&o) == NULL);
    ASSERT_CONTAINS(err_msg(), "hidden_dropout_prob");
    model_opts_default(&o, &s);
    o.shape.heads = 5;
    ASSERT_TRUE(model_new(&o) == NULL);
    ASSERT_CONTAINS(err_msg(), "heads");
    model_opts_default(&o, &s);
    o.layer_norm_eps = 0.0f;
    ASSERT_TRUE(model_new(&o) == NULL);
    model_opts_default(&o, &s);
    o.shape.vocab = SHAPE_MAX_VOCAB + 1;
    ASSERT_TRUE(model_new(&o) == NULL);
    ASSERT_CONTAINS(err_msg(), "vocab");
}

TEST(size_table_is_contiguous_and_named)
{
    model_t *m = new_model();
    space_config_t c;
    peft_opts_t o;
    peft_t *p;
    size_t off = 0;
    float *x;

    config(&c, 8, 4, 2, 2, 0x6);
    peft_opts_default(&o);
    p = peft_new(m, &c, &o);
    ASSERT_NOT_NULL(p);
    for (int i = 0; i < peft_tensor_count(p); i++) {
        const peft_tensor_t *t = peft_tensor(p, i);

        ASSERT_EQ_U(t->offset, off);
        off += t->count;
        for (int j = 0; j < i; j++)
            ASSERT_TRUE(strcmp(peft_tensor(p, j)->name, t->name) != 0);
        ASSERT_EQ(t->decay, !strstr(t->name, ".bias"));
    }
    ASSERT_EQ_U(off, peft_size(p));
    ASSERT_EQ(peft_lowest_layer(p), 1);
    ASSERT_TRUE(peft_prefix_mlp(p));
    ASSERT_EQ(peft_prefix_bottleneck(p), SPACE_PREFIX_BOTTLENECK);
    ASSERT_TRUE(peft_find(p, "peft.layer.0.sa.down.weight", NULL) == NULL);
    ASSERT_TRUE(peft_find(p, "peft.layer.2.lora.v.b", &x) != NULL);
    ASSERT_TRUE(x == peft_params(p)->layer[2].lora_vb);
    ASSERT_TRUE(peft_find(p, "peft.layer.1.prefix.out.weight", NULL)->dims[0] == 64);
    ASSERT_TRUE(peft_grads(p)->layer[1].sa_up.w - peft_grad_buffer(p) ==
                peft_params(p)->layer[1].sa_up.w - peft_param_buffer(p));
    /* exact size: head + prefix MLP + per layer sa, pa, lora, prefix out */
    ASSERT_EQ_U(peft_size(p),
                (32 * 32 + 32 + 3 * 32 + 3) + (2 * 32 + 800 * 32 + 800) +
                    2 * ((8 * 32 + 8 + 32 * 8 + 32) + (4 * 32 + 4 + 32 * 4 + 32) + 4 * 2 * 32 +
                         (64 * 800 + 64)));
    ASSERT_NEAR(peft_lora_scale(p), 1.0, 0);
    peft_free(&p);
    model_free(&m);
}

TEST(module_initialisation_rules)
{
    model_t *m = new_model();
    space_config_t c, c2;
    peft_opts_t o;
    peft_t *p, *q;
    const peft_layer_t *L;
    double sq = 0;
    float *a, *b;

    config(&c, 16, 8, 2, 4, 0x7);
    peft_opts_default(&o);
    o.seed = 5;
    o.lora_alpha = 8.0f;
    p = peft_new(m, &c, &o);
    ASSERT_NOT_NULL(p);
    L = &peft_params(p)->layer[1];
    for (int i = 0; i < 16 * 32; i++)
        sq += (double)L->sa_down.w[i] * L->sa_down.w[i] + (double)L->sa_up.w[i] * L->sa_up.w[i];
    ASSERT_NEAR(sqrt(sq / (2 * 16 * 32)), 0.02, 0.003);
    for (int i = 0; i < 8 * 32; i++) {
        ASSERT_NEAR(L->pa_up.w[i], 0.0, 0);
        ASSERT_TRUE(fabs(L->pa_down.w[i]) <= 1.0 / sqrt(32.0));
    }
    for (int i = 0; i < 4 * 32; i++) {
        ASSERT_NEAR(L->lora_qb[i], 0.0, 0);
        ASSERT_NEAR(L->lora_vb[i], 0.0, 0);
        ASSERT_TRUE(fabs(L->lora_qa[i]) <= 1.0 / sqrt(32.0));
    }
    for (int i = 0; i < 32; i++)
        ASSERT_NEAR(L->sa_up.b[i] + L->pa_up.b[i], 0.0, 0);
    for (int i = 0; i < 64; i++)
        ASSERT_TRUE(fabs(L->prefix_out.b[i]) <= 1.0 / sqrt(800.0));
    ASSERT_NEAR(peft_lora_scale(p), 2.0, 0);
    /* the head is the model's */
    ASSERT_EQ(memcmp(peft_params(p)->head.cls_w, model_weights(m)->head.cls_w, 3 * 32 * 4), 0);
    /* a module's values do not depend on the other modules */
    config(&c2, 16, 0, 0, 0, 0x2);
    q = peft_new(m, &c2, &o);
    ASSERT_NOT_NULL(q);
    ASSERT_TRUE(peft_find(p, "peft.layer.1.sa.down.weight", &a) && peft_find(q, "peft.layer.1.sa.down.weight", &b));
    ASSERT_EQ(memcmp(a, b, 16 * 32 * 4), 0);
    peft_free(&q);
    peft_free(&p);
    model_free(&m);
}

TEST(full_finetuning_copies_the_backbone)
{
    model_t *m = new_model();
    space_config_t c;
    peft_opts_t o;
    peft_t *p;
    float *x;

    config(&c, 0, 0, 0, 0, 0);
    peft_opts_default(&o);
    o.full_finetune = true;
    p = peft_new(m, &c, &o);
    ASSERT_NOT_NULL(p);
    ASSERT_EQ(peft_lowest_layer(p), -1);
    ASSERT_EQ(peft_tensor_count(p), model_tensor_count(m));
    ASSERT_EQ_U(peft_size(p), model_param_count(&model_opts(m)->shape, true));
    ASSERT_NOT_NULL(peft_find(p, "encoder.layer.2.output.dense.weight", &x));
    ASSERT_EQ(memcmp(x, model_find(m, "encoder.layer.2.output.dense.weight")->data, 32 * 64 * 4), 0);
    ASSERT_FALSE(peft_find(p, "encoder.layer.0.output.LayerNorm.weight", NULL)->decay);
    ASSERT_TRUE(peft_find(p, "embeddings.word_embeddings.weight", NULL)->decay);
    peft_free(&p);
    model_free(&m);
}

TEST(bad_configurations_are_rejected)
{
    model_t *m = new_model();
    space_config_t c;
    peft_opts_t o;

    peft_opts_default(&o);
    config(&c, 8, 0, 0, 0, 0x7);
    c.layers = 4;
    ASSERT_TRUE(peft_new(m, &c, &o) == NULL);
    ASSERT_EQ(err_code(), ERR_INVAL);
    config(&c, 0, 0, 0, 33, 0x7);   /* LoRA rank above hidden */
    ASSERT_TRUE(peft_new(m, &c, &o) == NULL);
    ASSERT_EQ(err_code(), ERR_RANGE);
    config(&c, 0, 0, PEFT_MAX_PREFIX + 1, 0, 0x7);
    ASSERT_TRUE(peft_new(m, &c, &o) == NULL);
    config(&c, 8, 0, 0, 0, 0x7);
    o.prefix_bottleneck = -1;
    ASSERT_TRUE(peft_new(m, &c, &o) == NULL);
    /* no module at all: the head trains alone */
    peft_opts_default(&o);
    config(&c, 8, 0, 0, 0, 0);
    {
        peft_t *p = peft_new(m, &c, &o);

        ASSERT_NOT_NULL(p);
        ASSERT_EQ(peft_tensor_count(p), 4);
        ASSERT_EQ(peft_lowest_layer(p), 3);
        peft_free(&p);
    }
    model_free(&m);
}
