/* Tests of worker/inputs/checkpoint.c: Hugging Face folders written by the tests in every naming
 * variant a loader meets (with and without "bert.", legacy gamma/beta, MLM heads, F16), every
 * kind of bad file (missing, misshapen, unknown and duplicated tensors, wrong dtypes, NaN,
 * truncated files, a vocabulary past the embeddings), the missing pooler's warning, and the
 * real bert-mini-mlm checkpoint. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"
#include "tests/harness.h"
#include "worker/inputs/checkpoint.h"

/* A small model: every tensor has a distinct size, so a wrong match cannot hide. */
static void tiny_shape(shape_t *s)
{
    memset(s, 0, sizeof *s);
    s->hidden = 8;
    s->layers = 2;
    s->heads = 2;
    s->intermediate = 12;
    s->vocab = 20;
    s->positions = 16;
    s->type_vocab = 2;
    s->labels = 2;
}

static model_t *tiny_model(uint64_t seed)
{
    model_opts_t o;
    shape_t s;
    model_t *m;

    tiny_shape(&s);
    model_opts_default(&o, &s);
    m = model_new(&o);
    ASSERT_NOT_NULL(m);
    model_init_random(m, seed);
    /* Random biases and LayerNorm parameters too, so that every tensor is checked. */
    for (int i = 0; i < model_tensor_count(m); i++) {
        model_tensor_t *t = model_tensor(m, i);
        for (size_t k = 0; k < t->count; k++)
            t->data[k] += 0.001f * (float)(i + 1) + 0.0001f * (float)k;
    }
    return m;
}

enum {
    V_PREFIX = 1,       /* "bert." names (classifier without) */
    V_LEGACY = 2,       /* LayerNorm gamma/beta */
    V_NO_POOLER = 4,
    V_NO_CLASSIFIER = 8,
    V_MLM = 16,         /* cls.predictions.* and the position_ids buffer */
    V_F16 = 32,
};

typedef struct {
    const char *name;
    safetensors_dtype_t dtype;
    int ndim;
    uint64_t dims[2];
    const void *data;
} extra_t;

/* Writes m's tensors to path under the variant's names, without `omit` (a name prefix), then
 * the extra tensors. */
static void write_variant(const char *path, model_t *m, unsigned v, const char *omit,
                          const extra_t *extra, int nextra)
{
    int n = model_tensor_count(m), k = 0;
    safetensors_entry_t e[128];
    char names[128][128];
    uint64_t dims[128][2];
    uint16_t *half[128] = {0};
    static const float mlm[4] = {1, 2, 3, 4};
    static const int64_t pos[4] = {0, 1, 2, 3};
    static const uint64_t four[1] = {4}, pos_dims[2] = {1, 4};

    ASSERT_LT(n + nextra + 2, 128);
    for (int i = 0; i < n; i++) {
        const model_tensor_t *t = model_tensor(m, i);
        bool cls = strncmp(t->name, "classifier.", 11) == 0;
        char *p;

        if ((omit && strncmp(t->name, omit, strlen(omit)) == 0) ||
            ((v & V_NO_POOLER) && strncmp(t->name, "pooler.", 7) == 0) ||
            ((v & V_NO_CLASSIFIER) && cls))
            continue;
        snprintf(names[k], sizeof names[k], "%s%s", (v & V_PREFIX) && !cls ? "bert." : "",
                 t->name);
        if ((v & V_LEGACY) && strstr(names[k], "LayerNorm.") &&
            (p = strrchr(names[k], '.')) != NULL)
            strcpy(p + 1, strcmp(p + 1, "weight") == 0 ? "gamma" : "beta");
        dims[k][0] = (uint64_t)t->dims[0];
        dims[k][1] = (uint64_t)t->dims[1];
        e[k] = (safetensors_entry_t){names[k], SAFETENSORS_F32, t->ndim, dims[k], t->data};
        if (v & V_F16) {
            half[k] = calloc(t->count, sizeof **half);
            for (size_t j = 0; j < t->count; j++)
                half[k][j] = safetensors_f32_to_f16(t->data[j]);
            e[k].dtype = SAFETENSORS_F16;
            e[k].data = half[k];
        }
        k++;
    }
    if (v & V_MLM) {
        e[k++] = (safetensors_entry_t){"cls.predictions.bias", SAFETENSORS_F32, 1, four, mlm};
        e[k++] = (safetensors_entry_t){"bert.embeddings.position_ids", SAFETENSORS_I64, 2,
                                       pos_dims, pos};
    }
    for (int i = 0; i < nextra; i++)
        e[k++] = (safetensors_entry_t){extra[i].name, extra[i].dtype, extra[i].ndim,
                                       extra[i].dims, extra[i].data};
    ASSERT_OK(safetensors_write(path, e, (size_t)k, NULL));
    for (int i = 0; i < k; i++)
        free(half[i]);
}

/* Loads path into a fresh tiny model; the error code, the model in *out on success. */
static int load(const char *path, model_t **out, checkpoint_info_t *info)
{
    model_opts_t o;
    shape_t s;
    safetensors_t *st = NULL;
    model_t *m;
    int rc;

    tiny_shape(&s);
    model_opts_default(&o, &s);
    m = model_new(&o);
    ASSERT_NOT_NULL(m);
    rc = safetensors_open(path, &st);
    if (rc == 0)
        rc = checkpoint_fill(m, st, info);
    safetensors_free(&st);
    if (rc == 0 && out)
        *out = m;
    else
        model_free(&m);
    return rc;
}

static void assert_same(model_t *a, model_t *b, float tol)
{
    ASSERT_EQ(model_tensor_count(a), model_tensor_count(b));
    for (int i = 0; i < model_tensor_count(a); i++) {
        const model_tensor_t *x = model_tensor(a, i), *y = model_tensor(b, i);
        ASSERT_STR_EQ(x->name, y->name);
        for (size_t k = 0; k < x->count; k++)
            if (!(fabsf(x->data[k] - y->data[k]) <= tol * fmaxf(1, fabsf(x->data[k]))))
                FAIL("%s[%zu]: %g vs %g", x->name, k, (double)x->data[k], (double)y->data[k]);
    }
}

static const char *tmp(const char *name)
{
    static char buf[4][1024];
    static int i;

    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", harness_tmpdir(), name);
    return buf[i];
}

TEST(every_naming_variant_loads_the_same_weights)
{
    model_t *ref = tiny_model(5), *m = NULL;
    checkpoint_info_t info;
    static const unsigned variants[] = {0, V_PREFIX, V_LEGACY, V_PREFIX | V_LEGACY,
                                        V_PREFIX | V_MLM, V_MLM};

    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        unsigned v = variants[i];
        write_variant(tmp("m.safetensors"), ref, v, NULL, NULL, 0);
        ASSERT_OK(load(tmp("m.safetensors"), &m, &info));
        assert_same(ref, m, 0);
        ASSERT_EQ(info.loaded, model_tensor_count(ref));
        /* The classifier never carries the prefix. */
        ASSERT_EQ(info.prefixed, v & V_PREFIX ? model_tensor_count(ref) - 2 : 0);
        /* Embeddings' LayerNorm and two per layer: 3 LayerNorms of 2 tensors. */
        ASSERT_EQ(info.legacy, v & V_LEGACY ? 2 * (1 + 2 * 2) : 0);
        ASSERT_EQ(info.ignored, v & V_MLM ? 2 : 0);
        model_free(&m);
    }
    /* F16 files convert exactly to the float16 values. */
    write_variant(tmp("h.safetensors"), ref, V_PREFIX | V_F16, NULL, NULL, 0);
    ASSERT_OK(load(tmp("h.safetensors"), &m, &info));
    assert_same(ref, m, 1e-3f);
    model_free(&m);
    model_free(&ref);
}

TEST(missing_head_is_initialised_with_a_warning)
{
    char dir[1024], path[1100];
    const char *text;
    model_t *ref = tiny_model(7), *m = NULL, *again = NULL;
    checkpoint_info_t info;
    hfconfig_t *cfg;
    shape_t s;

    /* A pretraining checkpoint: no pooler, no classifier, an MLM head. */
    snprintf(dir, sizeof dir, "%s", tmp("mlm"));
    tiny_shape(&s);
    ASSERT_OK(hfconfig_new(&s, &cfg));
    ASSERT_OK(checkpoint_write(dir, ref, cfg, CHECKPOINT_WRITE_NO_POOLER));
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    write_variant(path, ref, V_PREFIX | V_NO_POOLER | V_NO_CLASSIFIER | V_MLM, NULL, NULL, 0);
    harness_log_begin();
    log_set_level(LOG_LEVEL_INFO);
    ASSERT_OK(checkpoint_load(dir, 2, 99, 0, &m, &info));
    text = harness_log_end();
    ASSERT_EQ(info.initialised, 4);
    ASSERT_EQ(info.ignored, 2);
    ASSERT_CONTAINS(info.initialised_names, "pooler.dense.weight");
    ASSERT_CONTAINS(info.initialised_names, "classifier.bias");
    ASSERT_CONTAINS(text, "WARN");
    ASSERT_CONTAINS(text, "no pooler.dense.weight, pooler.dense.bias, classifier.weight, "
                          "classifier.bias in the checkpoint");
    /* Quiet when the caller replaces the head (evaluating saved weights). */
    harness_log_begin();
    ASSERT_OK(checkpoint_load(dir, 2, 99, CHECKPOINT_QUIET_HEAD, &again, NULL));
    text = harness_log_end();
    model_free(&again);
    ASSERT_TRUE(strstr(text, "WARN") == NULL);
    /* As Hugging Face: weights N(0, initializer_range), biases zero; the same for a seed. */
    {
        const model_tensor_t *w = model_find(m, "pooler.dense.weight");
        const model_tensor_t *b = model_find(m, "classifier.bias");
        double ss = 0;
        for (size_t k = 0; k < w->count; k++)
            ss += (double)w->data[k] * w->data[k];
        ASSERT_NEAR(sqrt(ss / (double)w->count), 0.02, 0.006);
        ASSERT_NEAR(b->data[0], 0, 0);
        ASSERT_OK(checkpoint_load(dir, 2, 99, 0, &again, NULL));
        assert_same(m, again, 0);
    }
    /* The backbone is the file's. */
    ASSERT_NEAR(model_find(m, "encoder.layer.1.output.dense.weight")->data[3],
              model_find(ref, "encoder.layer.1.output.dense.weight")->data[3], 0);
    /* Only the classifier missing (a BertModel saved with its pooler). */
    write_variant(tmp("p.safetensors"), ref, V_PREFIX | V_NO_CLASSIFIER, NULL, NULL, 0);
    model_free(&again);
    ASSERT_OK(load(tmp("p.safetensors"), &again, &info));
    ASSERT_EQ(info.loaded, model_tensor_count(ref) - 2);
    ASSERT_FALSE(model_find(again, "classifier.weight")->loaded);
    ASSERT_TRUE(model_find(again, "pooler.dense.weight")->loaded);
    model_free(&again);
    model_free(&m);
    model_free(&ref);
    hfconfig_free(&cfg);
}

TEST(initialising_missing_tensors_names_each_at_debug_level)
{
    model_t *m = tiny_model(3);
    const char *text;

    for (int i = 0; i < model_tensor_count(m); i++)
        model_tensor(m, i)->loaded = true;
    model_find(m, "classifier.weight")->loaded = false;
    model_find(m, "classifier.bias")->loaded = false;
    harness_log_begin();
    log_set_level(LOG_LEVEL_DEBUG);
    ASSERT_EQ(checkpoint_init_missing(m, 5), 2);
    text = harness_log_end();
    ASSERT_CONTAINS(text, "DEBUG model: classifier.weight not in the checkpoint, initialised");
    ASSERT_CONTAINS(text, "DEBUG model: classifier.bias not in the checkpoint, initialised");
    ASSERT_TRUE(strstr(text, "pooler") == NULL);
    /* above debug level, nothing */
    harness_log_begin();
    log_set_level(LOG_LEVEL_INFO);
    ASSERT_EQ(checkpoint_init_missing(m, 5), 2);
    text = harness_log_end();
    ASSERT_TRUE(strstr(text, "not in the checkpoint") == NULL);
    model_free(&m);
}

TEST(bad_tensors_are_refused_naming_file_tensor_and_reason)
{
    model_t *ref = tiny_model(3);
    static float big[64 * 8], nan_v[8];
    static const int32_t ints[8];
    extra_t x;
    const char *p = tmp("bad.safetensors");

    /* A missing backbone tensor. */
    write_variant(p, ref, V_PREFIX, "encoder.layer.1.intermediate.dense.weight", NULL, 0);
    ASSERT_ERR(load(p, NULL, NULL), ERR_NOTFOUND);
    ASSERT_CONTAINS(err_msg(), "bad.safetensors");
    ASSERT_CONTAINS(err_msg(), "'encoder.layer.1.intermediate.dense.weight' (or "
                               "'bert.encoder.layer.1.intermediate.dense.weight') is missing");
    write_variant(p, ref, V_PREFIX, "encoder.layer.0.", NULL, 0);
    ASSERT_ERR(load(p, NULL, NULL), ERR_NOTFOUND);
    ASSERT_CONTAINS(err_msg(), "(and 15 more)");

    /* A tensor of the wrong shape. */
    x = (extra_t){"bert.encoder.layer.0.attention.self.key.weight", SAFETENSORS_F32, 2,
                  {8, 4}, big};
    write_variant(p, ref, V_PREFIX, "encoder.layer.0.attention.self.key.weight", &x, 1);
    ASSERT_ERR(load(p, NULL, NULL), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "tensor 'bert.encoder.layer.0.attention.self.key.weight': shape "
                               "[8, 4], expected [8, 8]");
    /* A classifier for another number of labels. */
    x = (extra_t){"classifier.weight", SAFETENSORS_F32, 2, {3, 8}, big};
    write_variant(p, ref, V_PREFIX, "classifier.weight", &x, 1);
    ASSERT_ERR(load(p, NULL, NULL), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "another number of labels than the task's 2");

    /* Encoder tensors the model does not have: a third layer, an unknown sub-module. */
    x = (extra_t){"bert.encoder.layer.2.output.dense.bias", SAFETENSORS_F32, 1, {8, 0}, big};
    write_variant(p, ref, V_PREFIX, NULL, &x, 1);
    ASSERT_ERR(load(p, NULL, NULL), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "layer 2, but config.json has num_hidden_layers 2");
    x = (extra_t){"bert.encoder.layer.0.attention.self.rel_pos.weight", SAFETENSORS_F32, 1,
                  {8, 0}, big};
    write_variant(p, ref, V_PREFIX, NULL, &x, 1);
    ASSERT_ERR(load(p, NULL, NULL), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "'bert.encoder.layer.0.attention.self.rel_pos.weight': not a "
                               "tensor of a BERT encoder");
    /* The same tensor under two spellings. */
    x = (extra_t){"embeddings.LayerNorm.bias", SAFETENSORS_F32, 1, {8, 0}, big};
    write_variant(p, ref, V_PREFIX, NULL, &x, 1);
    ASSERT_ERR(load(p, NULL, NULL), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "already read under another name");

    /* Integers where floats belong; a NaN weight. */
    x = (extra_t){"bert.embeddings.LayerNorm.weight", SAFETENSORS_I32, 1, {8, 0}, ints};
    write_variant(p, ref, V_PREFIX, "embeddings.LayerNorm.weight", &x, 1);
    ASSERT_ERR(load(p, NULL, NULL), ERR_UNSUPPORTED);
    ASSERT_CONTAINS(err_msg(), "'bert.embeddings.LayerNorm.weight': dtype I32");
    nan_v[5] = NAN;
    x = (extra_t){"bert.embeddings.LayerNorm.weight", SAFETENSORS_F32, 1, {8, 0}, nan_v};
    write_variant(p, ref, V_PREFIX, "embeddings.LayerNorm.weight", &x, 1);
    ASSERT_ERR(load(p, NULL, NULL), ERR_NUMERIC);
    ASSERT_CONTAINS(err_msg(), "element 5 is nan");

    /* Other heads outside the encoder are ignored (with a warning). */
    x = (extra_t){"qa_outputs.weight", SAFETENSORS_F32, 2, {2, 8}, big};
    write_variant(p, ref, V_PREFIX, NULL, &x, 1);
    ASSERT_OK(load(p, NULL, NULL));
    model_free(&ref);
}

TEST(bad_folders_are_refused)
{
    model_t *ref = tiny_model(3), *m = NULL;
    hfconfig_t *cfg;
    vocab_t *v = NULL;
    tokenizer_options_t to;
    char dir[1024], path[1100];
    shape_t s;
    struct stat st;
    FILE *f;

    snprintf(dir, sizeof dir, "%s", tmp("ck"));
    tiny_shape(&s);
    ASSERT_OK(hfconfig_new(&s, &cfg));
    ASSERT_OK(checkpoint_write(dir, ref, cfg, 0));
    ASSERT_OK(checkpoint_load(dir, 2, 1, 0, &m, NULL));
    model_free(&m);
    /* A truncated file: the reader names the file. */
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    ASSERT_EQ(stat(path, &st), 0);
    ASSERT_EQ(truncate(path, st.st_size - 10), 0);
    ASSERT_ERR(checkpoint_load(dir, 2, 1, 0, &m, NULL), ERR_PARSE);
    ASSERT_CONTAINS(err_msg(), "model.safetensors");
    /* Only pytorch_model.bin: the message says what to do. */
    ASSERT_EQ(unlink(path), 0);
    snprintf(path, sizeof path, "%s/pytorch_model.bin", dir);
    f = fopen(path, "w");
    fclose(f);
    ASSERT_ERR(checkpoint_load(dir, 2, 1, 0, &m, NULL), ERR_IO);
    ASSERT_CONTAINS(err_msg(), "only safetensors is read");
    /* config.json of another model type. */
    snprintf(path, sizeof path, "%s/config.json", dir);
    f = fopen(path, "w");
    fputs("{\"model_type\": \"distilbert\"}", f);
    fclose(f);
    ASSERT_ERR(checkpoint_load(dir, 2, 1, 0, &m, NULL), ERR_UNSUPPORTED);
    ASSERT_CONTAINS(err_msg(), "config.json: \"model_type\"");
    /* A vocabulary larger than the embeddings. */
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    f = fopen(path, "w");
    fputs("[PAD]\n[UNK]\n[CLS]\n[SEP]\n", f);
    for (int i = 0; i < 30; i++)
        fprintf(f, "w%d\n", i);
    fclose(f);
    ASSERT_ERR(checkpoint_load_vocab(dir, 20, &v, &to), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "34 tokens, but the model's word embeddings have 20 rows");
    ASSERT_OK(checkpoint_load_vocab(dir, 40, &v, &to));
    ASSERT_TRUE(to.do_lower_case);
    vocab_free(&v);
    hfconfig_free(&cfg);
    model_free(&ref);
}

TEST(written_checkpoints_read_back)
{
    model_t *ref = tiny_model(11), *m = NULL;
    hfconfig_t *cfg;
    checkpoint_info_t info;
    shape_t s;
    char dir[1024];

    snprintf(dir, sizeof dir, "%s", tmp("w"));
    tiny_shape(&s);
    ASSERT_OK(hfconfig_new(&s, &cfg));
    ASSERT_OK(checkpoint_write(dir, ref, cfg, CHECKPOINT_WRITE_CLASSIFIER));
    ASSERT_OK(checkpoint_load(dir, 2, 1, 0, &m, &info));
    ASSERT_EQ(info.initialised, 0);
    ASSERT_EQ(info.prefixed, model_tensor_count(ref) - 2);
    assert_same(ref, m, 0);
    model_free(&m);
    /* Loading for another number of labels refuses the written classifier. */
    ASSERT_ERR(checkpoint_load(dir, 3, 1, 0, &m, NULL), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "tensor 'classifier.weight': shape [2, 8], expected [3, 8]");
    /* A shape that is not the configuration's is refused before anything is written. */
    cfg->shape.layers = 3;
    ASSERT_ERR(checkpoint_write(tmp("w2"), ref, cfg, 0), ERR_INVAL);
    hfconfig_free(&cfg);
    model_free(&ref);
}

TEST(bert_mini_mlm_loads)
{
    char dir[1024];
    checkpoint_info_t info;
    model_t *m = NULL;
    vocab_t *v = NULL;
    tokenizer_options_t to;

    harness_shared_path("models/bert-mini-mlm", dir, sizeof dir);
    ASSERT_OK(checkpoint_load(dir, 2, 1, 0, &m, &info));
    /* 106 tensors: 101 of the encoder (5 embedding tensors, 16 per layer), 5 of the MLM head. */
    ASSERT_EQ(info.loaded, 5 + 16 * 6);
    ASSERT_EQ(info.prefixed, 5 + 16 * 6);
    ASSERT_EQ(info.ignored, 5);
    ASSERT_EQ(info.initialised, 4);
    ASSERT_EQ(model_opts(m)->shape.hidden, 256);
    ASSERT_EQ(model_opts(m)->shape.layers, 6);
    ASSERT_OK(checkpoint_load_vocab(dir, model_opts(m)->shape.vocab, &v, &to));
    ASSERT_EQ(vocab_size(v), 30522);
    vocab_free(&v);
    model_free(&m);
}
