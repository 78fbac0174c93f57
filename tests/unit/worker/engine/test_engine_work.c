/* Tests of worker/engine/engine.c beyond parity: finite-difference checks of every module's backward
 * (dropout on), skipped work really skipped (FLOPs and storage per layer), the same gradients
 * with the skipping turned off, prefix ejection, reproducible dropout, bad batches. */
#include <math.h>

#include "common/rng.h"
#include "tests/harness.h"
#include "worker/engine/engine.h"
#include "worker/engine/model.h"
#include "worker/engine/optim.h"
#include "worker/engine/peft.h"

typedef struct {
    model_t *m;
    peft_t *p;
    engine_t *e;
    engine_batch_t b;
    int32_t ids[256], types[256], len[8], classes[8];
    float targets[8];
} rig_t;

static void config(space_config_t *c, int layers, int sa, int pa, int pt, int lora,
                   const char *mask)
{
    memset(c, 0, sizeof *c);
    c->layers = layers;
    c->size[SPACE_SA] = (uint32_t)sa;
    c->size[SPACE_PA] = (uint32_t)pa;
    c->size[SPACE_PT] = (uint32_t)pt;
    c->size[SPACE_LORA] = (uint32_t)lora;
    for (int m = 0; m < SPACE_NMODULES; m++)
        for (int l = 0; l < layers; l++)
            if (mask[l] == '1')
                c->mask[m][0] |= 1ull << l;
}

/* A random model (hidden 16, 2 heads, intermediate 32), modules initialised randomly (not
 * zero), and a batch of sequences of lengths 7, 3, 5. */
static void rig(rig_t *r, int layers, int labels, const space_config_t *c, bool ft, bool flat,
                bool all_work, float dropout)
{
    shape_t s = {.hidden = 16, .layers = layers, .heads = 2, .intermediate = 32, .vocab = 50,
                 .positions = 16, .type_vocab = 2, .labels = labels};
    model_opts_t mo;
    peft_opts_t po;
    engine_opts_t eo;
    rng_t g;
    int lens[3] = {7, 3, 5}, tok = 0;

    memset(r, 0, sizeof *r);
    model_opts_default(&mo, &s);
    mo.hidden_dropout = mo.attention_dropout = dropout;
    mo.initializer_range = 0.3f;
    r->m = model_new(&mo);
    ASSERT_NOT_NULL(r->m);
    model_init_random(r->m, 11);
    /* LayerNorms and biases away from 1 and 0 so that their gradients are exercised */
    rng_seed(&g, 5);
    for (int i = 0; i < model_tensor_count(r->m); i++) {
        model_tensor_t *t = model_tensor(r->m, i);

        if (t->ndim == 1)
            for (size_t j = 0; j < t->count; j++)
                t->data[j] += (float)(0.1 * rng_normal(&g));
    }
    peft_opts_default(&po);
    po.full_finetune = ft;
    po.prefix_flat = flat;
    po.prefix_bottleneck = 12;
    po.lora_alpha = 2.0f;
    po.seed = 3;
    r->p = peft_new(r->m, c, &po);
    ASSERT_NOT_NULL(r->p);
    for (int i = 0; i < peft_tensor_count(r->p); i++) {
        const peft_tensor_t *t = peft_tensor(r->p, i);
        float *x = peft_param_buffer(r->p) + t->offset;

        if (strncmp(t->name, "peft.", 5) == 0 && !strstr(t->name, "prefix"))
            for (size_t j = 0; j < t->count; j++)
                x[j] = (float)(0.3 * rng_normal(&g));
    }
    for (int b = 0; b < 3; b++) {
        r->len[b] = lens[b];
        for (int t = 0; t < lens[b]; t++, tok++) {
            r->ids[tok] = (int32_t)rng_below(&g, 50);
            r->types[tok] = t >= lens[b] / 2;
        }
        r->classes[b] = b % labels;
        r->targets[b] = (float)rng_normal(&g);
    }
    r->b = (engine_batch_t){.n = 3, .len = r->len, .ids = r->ids, .types = r->types,
                            .classes = r->classes, .targets = r->targets};
    engine_opts_default(&eo);
    eo.threads = 2;
    eo.max_batch = 4;
    eo.max_len = 8;
    eo.all_work = all_work;
    eo.seed = 42;
    r->e = engine_new(r->m, r->p, &eo);
    ASSERT_NOT_NULL(r->e);
}

static void unrig(rig_t *r)
{
    engine_free(&r->e);
    peft_free(&r->p);
    model_free(&r->m);
}

/* The training loss with the dropout masks of seed 1 (the same for every call). */
static double train_loss(rig_t *r)
{
    double loss;

    engine_reseed(r->e, 1);
    ASSERT_OK(engine_train(r->e, &r->b, &loss, NULL));
    return loss;
}

/* Central differences in double of the float32 loss, on a few elements of every trainable
 * tensor: |fd - g| <= 1e-3 + 3e-2 |g| for one of the steps 3e-3, 1e-3, 3e-4 (the adapters'
 * ReLUs put kinks in the loss; a kink within a step spoils that step's difference). */
static void fd_check(rig_t *r)
{
    static const double steps[3] = {3e-3, 1e-3, 3e-4};
    size_t n = peft_size(r->p);
    float *grad = malloc(n * sizeof *grad), *x = peft_param_buffer(r->p);
    rng_t g;
    int checked = 0;

    ASSERT_NOT_NULL(grad);
    train_loss(r);
    memcpy(grad, peft_grad_buffer(r->p), n * sizeof *grad);
    rng_seed(&g, 9);
    for (int i = 0; i < peft_tensor_count(r->p); i++) {
        const peft_tensor_t *t = peft_tensor(r->p, i);
        int picks = t->count < 4 ? (int)t->count : 4;

        for (int k = 0; k < picks; k++) {
            size_t j = t->offset + (size_t)rng_below(&g, t->count);
            float save = x[j];
            double fd[3];
            bool ok = false;

            for (int s = 0; s < 3 && !ok; s++) {
                double lp, lm;

                x[j] = (float)(save + steps[s]);
                lp = train_loss(r);
                x[j] = (float)(save - steps[s]);
                lm = train_loss(r);
                x[j] = save;
                fd[s] = (lp - lm) / (2 * steps[s]);
                ok = fabs(fd[s] - grad[j]) <= 1e-3 + 3e-2 * fabs(grad[j]);
            }
            if (!ok)
                FAIL("%s[%zu]: backward %.6g, finite differences %.6g, %.6g, %.6g", t->name,
                     j - t->offset, grad[j], fd[0], fd[1], fd[2]);
            checked++;
        }
    }
    printf("%d elements of %d tensors checked\n", checked, peft_tensor_count(r->p));
    free(grad);
}

TEST_TIMEOUT(fd_all_modules_with_dropout, 120)
{
    rig_t r;
    space_config_t c;

    config(&c, 3, 4, 5, 3, 2, "111");
    c.mask[SPACE_SA][0] = 0x5;   /* separate masks: sa 101, lora 110 */
    c.mask[SPACE_LORA][0] = 0x3;
    rig(&r, 3, 3, &c, false, false, false, 0.2f);
    fd_check(&r);
    unrig(&r);
}

/* Houlsby's adapters in layers 0 and 2 (layer 0's backward stops at its attention output),
 * beside sa and pa, with dropout; then under full fine-tuning. */
TEST_TIMEOUT(fd_houlsby_adapters_with_dropout, 120)
{
    rig_t r;
    space_config_t c;

    config(&c, 3, 3, 4, 0, 0, "011");
    c.mask[SPACE_PA][0] = 0x2;
    c.size[SPACE_HA] = 3;
    c.mask[SPACE_HA][0] = 0x5;
    rig(&r, 3, 3, &c, false, false, false, 0.2f);
    fd_check(&r);
    unrig(&r);
    config(&c, 2, 0, 0, 0, 0, "00");
    c.size[SPACE_HA] = 2;
    c.mask[SPACE_HA][0] = 0x3;
    rig(&r, 2, 2, &c, true, false, false, 0.1f);
    fd_check(&r);
    unrig(&r);
}

TEST_TIMEOUT(fd_flat_prefix_regression, 120)
{
    rig_t r;
    space_config_t c;

    config(&c, 2, 0, 0, 4, 0, "11");
    rig(&r, 2, 1, &c, false, true, false, 0.1f);
    fd_check(&r);
    unrig(&r);
}

TEST_TIMEOUT(fd_full_finetuning_with_dropout, 120)
{
    rig_t r;
    space_config_t c;

    config(&c, 2, 0, 0, 0, 0, "00");
    rig(&r, 2, 2, &c, true, false, false, 0.1f);
    fd_check(&r);
    unrig(&r);
}

TEST(dropout_is_reproducible_and_changes_the_loss)
{
    rig_t r, q;
    space_config_t c;
    double a, b, clean;

    config(&c, 2, 4, 0, 0, 0, "11");
    rig(&r, 2, 2, &c, false, false, false, 0.3f);
    a = train_loss(&r);
    b = train_loss(&r);
    ASSERT_NEAR(a, b, 0);
    ASSERT_OK(engine_train(r.e, &r.b, &b, NULL));   /* next step: other masks */
    ASSERT_TRUE(a != b);
    ASSERT_OK(engine_eval(r.e, &r.b, NULL, &clean));
    ASSERT_TRUE(clean != a);
    /* eval equals training without dropout */
    rig(&q, 2, 2, &c, false, false, false, 0.0f);
    ASSERT_NEAR(train_loss(&q), clean, 1e-6 * fabs(clean));
    unrig(&q);
    unrig(&r);
}

/* Exact FLOPs of a layer without modules whose backward pass only carries the gradient down:
 * the projections' data products and attention, nothing for the frozen weights. */
static void frozen_layer_flops(const rig_t *r, double *fwd, double *bwd)
{
    double N = 0, att = 0, d = 16, ff = 32;

    for (int b = 0; b < r->b.n; b++) {
        N += r->len[b];
        att += 2.0 * r->len[b] * r->len[b] * d;   /* one product, all heads */
    }
    *fwd = 2 * N * (3 * d * d + d * d + 2 * d * ff) + 2 * att;
    *bwd = 2 * N * (3 * d * d + d * d + 2 * d * ff) + 4 * att;
}

TEST(skipped_work_is_skipped)
{
    rig_t top, all, mid;
    space_config_t c;
    engine_part_stats_t s, sa;
    double fwd, bwd;
    int L = 4, r = 4;

    /* serial adapter in the top layer only */
    config(&c, L, r, 0, 0, 0, "0001");
    rig(&top, L, 2, &c, false, false, false, 0.0f);
    rig(&all, L, 2, &c, false, false, true, 0.0f);
    train_loss(&top);
    train_loss(&all);
    for (int l = 0; l < L - 1; l++) {
        ASSERT_OK(engine_part_stats(top.e, l, &s));
        ASSERT_FALSE(s.backward);
        ASSERT_NEAR(s.bwd_flops, 0, 0);
        ASSERT_EQ_U(s.stored_floats, 0);
        ASSERT_OK(engine_part_stats(all.e, l, &sa));
        ASSERT_TRUE(sa.backward && sa.bwd_flops > 0 && sa.stored_floats > 0);
    }
    ASSERT_OK(engine_part_stats(top.e, -1, &s));
    ASSERT_FALSE(s.backward);
    /* the top layer: its backward is the adapter's alone, on the [CLS] rows: dz Wu, dWu, dWd */
    ASSERT_OK(engine_part_stats(top.e, L - 1, &s));
    ASSERT_TRUE(s.backward);
    ASSERT_NEAR(s.bwd_flops, 6.0 * top.b.n * 16 * r, 0);
    ASSERT_OK(engine_part_stats(all.e, L - 1, &sa));
    ASSERT_TRUE(sa.fwd_flops > 2 * s.fwd_flops);
    printf("top-layer adapter: backward FLOPs %.0f (all work: %.0f), step %.0f (all work: %.0f)\n",
           s.bwd_flops, sa.bwd_flops, engine_step_flops(top.e), engine_step_flops(all.e));
    ASSERT_TRUE(engine_step_flops(top.e) < 0.5 * engine_step_flops(all.e));
    ASSERT_TRUE(engine_stored_floats(top.e) < engine_stored_floats(all.e));
    /* the same gradients either way */
    for (size_t i = 0; i < peft_size(top.p); i++)
        ASSERT_NEAR(peft_grad_buffer(top.p)[i], peft_grad_buffer(all.p)[i],
                    1e-5 * (1 + fabs(peft_grad_buffer(all.p)[i])));
    unrig(&all);
    unrig(&top);

    /* adapter in layer 1 of 4: layer 2 only carries the gradient (no weight gradients) */
    config(&c, L, r, 0, 0, 0, "0100");
    rig(&mid, L, 2, &c, false, false, false, 0.0f);
    train_loss(&mid);
    frozen_layer_flops(&mid, &fwd, &bwd);
    ASSERT_OK(engine_part_stats(mid.e, 2, &s));
    ASSERT_NEAR(s.fwd_flops, fwd, 0);
    ASSERT_NEAR(s.bwd_flops, bwd, 0);
    ASSERT_OK(engine_part_stats(mid.e, 0, &s));
    ASSERT_TRUE(!s.backward && s.stored_floats == 0);
    ASSERT_OK(engine_part_stats(mid.e, 1, &s));
    ASSERT_TRUE(s.backward);
    ASSERT_NEAR(s.bwd_flops, 6.0 * 15 * 16 * r, 0);   /* 15 tokens, adapter only */
    unrig(&mid);
}

TEST(all_work_gives_the_same_gradients_for_every_module)
{
    rig_t a, b;
    space_config_t c;

    config(&c, 3, 4, 4, 2, 2, "011");
    c.size[SPACE_HA] = 3;
    c.mask[SPACE_HA][0] = 0x3;
    rig(&a, 3, 3, &c, false, false, false, 0.25f);
    rig(&b, 3, 3, &c, false, false, true, 0.25f);
    ASSERT_NEAR(train_loss(&a), train_loss(&b), 1e-6);
    for (size_t i = 0; i < peft_size(a.p); i++)
        ASSERT_NEAR(peft_grad_buffer(a.p)[i], peft_grad_buffer(b.p)[i],
                    1e-5 * (1 + fabs(peft_grad_buffer(b.p)[i])));
    unrig(&b);
    unrig(&a);
}

TEST(engine_info_describes_the_plan)
{
    rig_t r;
    space_config_t c;
    engine_info_t info;
    engine_part_stats_t s;
    size_t parts = 0;

    /* a parallel adapter in layer 1 of 3: the backward pass enters layers 1 and 2 */
    config(&c, 3, 0, 4, 0, 0, "010");
    rig(&r, 3, 2, &c, false, false, false, 0.0f);
    engine_info(r.e, &info);
    ASSERT_EQ(info.threads, 2);
    ASSERT_EQ(info.lowest_trained, 1);
    ASSERT_EQ(info.layers, 3);
    ASSERT_EQ_U(info.stored_floats, engine_stored_floats(r.e));
    /* the parts' stored floats are the engine's, and the frozen layer below keeps none */
    for (int part = -1; part <= 3; part++) {
        ASSERT_OK(engine_part_stats(r.e, part, &s));
        parts += s.stored_floats;
    }
    ASSERT_EQ_U(parts, engine_stored_floats(r.e));
    ASSERT_OK(engine_part_stats(r.e, 0, &s));
    ASSERT_EQ_U(s.stored_floats, 0);
    unrig(&r);
}

TEST(ejected_prefixes_give_identical_outputs)
{
    rig_t r;
    space_config_t c;
    peft_t *flat;
    engine_t *e2;
    engine_opts_t eo;
    float l1[6], l2[6];
    float *x;

    config(&c, 3, 0, 4, 3, 0, "101");
    rig(&r, 3, 2, &c, false, false, false, 0.0f);
    ASSERT_TRUE(peft_prefix_mlp(r.p));
    ASSERT_OK(engine_eval(r.e, &r.b, l1, NULL));
    flat = peft_eject(r.p);
    ASSERT_NOT_NULL(flat);
    ASSERT_FALSE(peft_prefix_mlp(flat));
    ASSERT_TRUE(peft_find(flat, "peft.layer.0.prefix.key", &x) != NULL);
    ASSERT_TRUE(peft_find(flat, "peft.layer.1.prefix.key", NULL) == NULL);
    ASSERT_TRUE(peft_find(flat, "peft.prefix.embedding", NULL) == NULL);
    ASSERT_TRUE(peft_size(flat) < peft_size(r.p));
    engine_opts_default(&eo);
    eo.threads = 2;   /* as the rig's: the same splits of every product */
    eo.max_batch = 4;
    eo.max_len = 8;
    e2 = engine_new(r.m, flat, &eo);
    ASSERT_NOT_NULL(e2);
    ASSERT_OK(engine_eval(e2, &r.b, l2, NULL));
    for (int i = 0; i < 6; i++)
        ASSERT_NEAR(l1[i], l2[i], 0);
    engine_free(&e2);
    peft_free(&flat);
    unrig(&r);
}

TEST(bad_batches_are_rejected)
{
    rig_t r;
    space_config_t c;
    engine_batch_t b;
    int32_t bad;
    double loss;

    config(&c, 2, 4, 0, 0, 0, "11");
    rig(&r, 2, 2, &c, false, false, false, 0.0f);
    b = r.b;
    b.n = 0;
    ASSERT_ERR(engine_train(r.e, &b, &loss, NULL), ERR_INVAL);
    b.n = 5;
    ASSERT_ERR(engine_train(r.e, &b, &loss, NULL), ERR_INVAL);
    b = r.b;
    r.len[1] = 9;   /* over max_len 8 */
    ASSERT_ERR(engine_train(r.e, &b, &loss, NULL), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "sequence 1");
    r.len[1] = 0;
    ASSERT_ERR(engine_train(r.e, &b, &loss, NULL), ERR_INVAL);
    r.len[1] = 3;
    bad = r.ids[4];
    r.ids[4] = 50;
    ASSERT_ERR(engine_train(r.e, &b, &loss, NULL), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "vocabulary");
    r.ids[4] = -1;
    ASSERT_ERR(engine_train(r.e, &b, &loss, NULL), ERR_INVAL);
    r.ids[4] = bad;
    r.types[2] = 2;
    ASSERT_ERR(engine_train(r.e, &b, &loss, NULL), ERR_INVAL);
    r.types[2] = 0;
    r.classes[2] = 2;
    ASSERT_ERR(engine_train(r.e, &b, &loss, NULL), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "label");
    /* eval does not need labels */
    ASSERT_OK(engine_eval(r.e, &b, NULL, NULL));
    r.classes[2] = 0;
    b.classes = NULL;
    ASSERT_ERR(engine_train(r.e, &b, &loss, NULL), ERR_INVAL);
    ASSERT_OK(engine_train(r.e, &r.b, &loss, NULL));
    unrig(&r);
}

TEST(training_reduces_the_loss)
{
    rig_t r;
    space_config_t c;
    optim_opts_t oo;
    optim_t *o;
    double first = 0, last = 0;

    config(&c, 2, 8, 8, 2, 2, "11");
    rig(&r, 2, 3, &c, false, false, false, 0.0f);
    optim_opts_default(&oo);
    oo.lr = 3e-3;
    o = optim_new(r.p, &oo);
    ASSERT_NOT_NULL(o);
    for (int k = 0; k < 60; k++) {
        ASSERT_OK(engine_train(r.e, &r.b, &last, NULL));
        if (k == 0)
            first = last;
        ASSERT_OK(optim_step(o, NULL, NULL));
    }
    printf("loss %.4f -> %.4f\n", first, last);
    ASSERT_TRUE(last < 0.1 * first);
    optim_free(&o);
    unrig(&r);
}

/* The optimiser's update split over a pool equals the one on the calling thread, bit for bit,
 * tensor boundaries falling inside parts included (full fine-tuning of a model large enough for
 * the split: 83,987 parameters in 49 tensors). */
TEST(pooled_update_equals_the_serial_one)
{
    shape_t s = {.hidden = 32, .layers = 2, .heads = 2, .intermediate = 64, .vocab = 2000,
                 .positions = 16, .type_vocab = 2, .labels = 3};
    model_opts_t mo;
    peft_opts_t po;
    optim_opts_t oo;
    space_config_t c;
    model_t *m;
    peft_t *p[2];
    optim_t *o[2];
    pool_t *pool = pool_new(3);
    rng_t g;
    size_t n;
    float *start;

    ASSERT_NOT_NULL(pool);
    model_opts_default(&mo, &s);
    m = model_new(&mo);
    ASSERT_NOT_NULL(m);
    model_init_random(m, 1);
    config(&c, 2, 8, 0, 0, 0, "11");
    peft_opts_default(&po);
    po.full_finetune = true;
    for (int k = 0; k < 2; k++) {
        p[k] = peft_new(m, &c, &po);
        ASSERT_NOT_NULL(p[k]);
        optim_opts_default(&oo);
        oo.lr = 1e-2;
        oo.warmup_steps = 2;
        oo.total_steps = 6;
        oo.pool = k ? pool : NULL;
        o[k] = optim_new(p[k], &oo);
        ASSERT_NOT_NULL(o[k]);
    }
    n = peft_size(p[0]);
    ASSERT_TRUE(n >= (1u << 16));
    ASSERT_TRUE(memcmp(peft_param_buffer(p[0]), peft_param_buffer(p[1]), n * sizeof(float)) == 0);
    printf("%zu parameters in %d tensors\n", n, peft_tensor_count(p[0]));
    start = malloc(n * sizeof(float));
    ASSERT_NOT_NULL(start);
    memcpy(start, peft_param_buffer(p[0]), n * sizeof(float));
    rng_seed(&g, 9);
    for (int step = 0; step < 5; step++) {
        for (size_t i = 0; i < n; i++)
            peft_grad_buffer(p[0])[i] = (float)(0.01 * rng_normal(&g));
        memcpy(peft_grad_buffer(p[1]), peft_grad_buffer(p[0]), n * sizeof(float));
        ASSERT_OK(optim_step(o[0], NULL, NULL));
        ASSERT_OK(optim_step(o[1], NULL, NULL));
    }
    ASSERT_TRUE(memcmp(peft_param_buffer(p[0]), peft_param_buffer(p[1]), n * sizeof(float)) == 0);
    /* and the update did move every tensor */
    for (int t = 0; t < peft_tensor_count(p[0]); t++) {
        const peft_tensor_t *pt = peft_tensor(p[0], t);

        ASSERT_TRUE(memcmp(peft_param_buffer(p[0]) + pt->offset, start + pt->offset,
                           pt->count * sizeof(float)) != 0);
    }
    free(start);
    for (int k = 0; k < 2; k++) {
        optim_free(&o[k]);
        peft_free(&p[k]);
    }
    pool_free(&pool);
    model_free(&m);
}
