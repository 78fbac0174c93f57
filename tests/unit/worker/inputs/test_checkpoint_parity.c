/* Loading is exact: the last-layer hidden states the C engine computes for SST-2 dev sentences
 * from the shared bert-mini-mlm checkpoint (read by worker/inputs/checkpoint.c, tokenised by
 * worker/inputs/tokenizer.c) equal PyTorch's on the same file (tests/reference/hidden_reference.py,
 * float64) within 1e-4. Skipped with a message where ../shared is absent. */
#include <math.h>

#include "tests/fixture.h"
#include "tests/harness.h"
#include "worker/engine/engine.h"
#include "worker/engine/peft.h"
#include "worker/inputs/checkpoint.h"
#include "worker/inputs/data.h"

#define FIXTURE "tests/reference/fixtures/hidden_bert_mini.json"
#define TOL 1e-4

static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
    const uint8_t *p = data;

    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* tokenizer_reference.example_hash: u32 length, then per token u32 id and u8 type. */
static uint64_t example_hash(const int32_t *ids, const int32_t *types, int len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    uint32_t n = (uint32_t)len;

    h = fnv(h, &n, 4);
    for (int i = 0; i < len; i++) {
        uint32_t id = (uint32_t)ids[i];
        uint8_t ty = (uint8_t)types[i];
        h = fnv(h, &id, 4);
        h = fnv(h, &ty, 1);
    }
    return h;
}

TEST_TIMEOUT(last_hidden_states_match_pytorch, 120)
{
    char dir[1024], dev[1024], want_hash[32];
    const data_task_t *task;
    fixture_t *fx = NULL;
    json_t *root, *lengths, *hashes, *tensors;
    model_t *m = NULL;
    vocab_t *vocab = NULL;
    tokenizer_options_t to;
    tokenizer_t *tok = NULL;
    data_t *data = NULL;
    peft_t *p = NULL;
    engine_t *e = NULL;
    space_config_t cfg;
    peft_opts_t po;
    engine_opts_t eo;
    int B, max_len, stride, full, d, total = 0, off = 0;
    int32_t *ids, *types, *len;
    float *hidden;
    const float *cls, *strided, *whole;
    size_t n;
    double worst = 0;

    harness_shared_path("models/bert-mini-mlm", dir, sizeof dir);
    harness_shared_path("data/glue/SST-2/dev.tsv", dev, sizeof dev);
    fx = fixture_load(FIXTURE);
    ASSERT_NOT_NULL(fx);
    root = fixture_root(fx);
    lengths = json_object_get(root, "lengths");
    hashes = json_object_get(root, "id_hashes");
    tensors = json_object_get(root, "tensors");
    B = (int)json_array_size(lengths);
    max_len = (int)json_integer_value(json_object_get(root, "max_length"));
    stride = (int)json_integer_value(json_object_get(root, "stride"));
    full = (int)json_integer_value(json_object_get(root, "full"));
    ASSERT_TRUE(B > 0 && max_len > 2 && stride > 0 && full > 0 && full <= B);

    ASSERT_OK(checkpoint_load(dir, 2, 1, 0, &m, NULL));
    d = model_opts(m)->shape.hidden;
    ASSERT_OK(checkpoint_load_vocab(dir, model_opts(m)->shape.vocab, &vocab, &to));
    ASSERT_OK(tokenizer_new(vocab, &to, &tok));
    ASSERT_OK(data_task_find("sst2", &task));
    ASSERT_OK(data_load_task(task, dev, &data));
    ASSERT_TRUE(data_count(data) >= (size_t)B);

    /* The same input ids as the Python tokenizer. */
    ids = calloc((size_t)B * max_len, sizeof *ids);
    types = calloc((size_t)B * max_len, sizeof *types);
    len = calloc((size_t)B, sizeof *len);
    for (int b = 0; b < B; b++) {
        tokenizer_encoding_t enc;
        const char *s = data_text(data, (size_t)b);
        ASSERT_OK(tokenizer_encode(tok, s, strlen(s), NULL, 0, max_len, &enc));
        ASSERT_EQ(enc.len, json_integer_value(json_array_get(lengths, (size_t)b)));
        snprintf(want_hash, sizeof want_hash, "%016llx",
                 (unsigned long long)example_hash(enc.ids, enc.types, enc.len));
        ASSERT_STR_EQ(want_hash, json_string_value(json_array_get(hashes, (size_t)b)));
        memcpy(ids + total, enc.ids, (size_t)enc.len * sizeof *ids);
        memcpy(types + total, enc.types, (size_t)enc.len * sizeof *types);
        len[b] = enc.len;
        total += enc.len;
    }

    /* The frozen encoder alone, every row of the top layer computed. */
    memset(&cfg, 0, sizeof cfg);
    cfg.layers = model_opts(m)->shape.layers;
    peft_opts_default(&po);
    p = peft_new(m, &cfg, &po);
    ASSERT_NOT_NULL(p);
    engine_opts_default(&eo);
    eo.threads = 2;
    eo.max_batch = B;
    eo.max_len = max_len;
    eo.all_work = true;
    e = engine_new(m, p, &eo);
    ASSERT_NOT_NULL(e);
    hidden = calloc((size_t)total * d, sizeof *hidden);
    {
        engine_batch_t batch = {B, len, ids, types, 0, NULL, NULL};
        ASSERT_OK(engine_hidden(e, &batch, hidden));
    }
    cls = fixture_get(fx, tensors, "cls", &n);
    ASSERT_NOT_NULL(cls);
    ASSERT_EQ(n, (size_t)B * d);
    strided = fixture_get(fx, tensors, "strided", &n);
    ASSERT_NOT_NULL(strided);
    ASSERT_EQ(n, (size_t)total * ((d + stride - 1) / stride));
    whole = fixture_get(fx, tensors, "full", &n);
    ASSERT_NOT_NULL(whole);
    for (int b = 0, row = 0; b < B; row += len[b], b++) {
        for (int j = 0; j < d; j++) {
            double diff = fabs((double)hidden[(size_t)row * d + j] - cls[(size_t)b * d + j]);
            if (diff > worst)
                worst = diff;
            if (!(diff <= TOL))
                FAIL("sentence %d [CLS] dim %d: %g vs PyTorch %g", b, j,
                     (double)hidden[(size_t)row * d + j], (double)cls[(size_t)b * d + j]);
        }
        for (int t = 0; t < len[b]; t++)
            for (int j = 0, k = 0; j < d; j += stride, k++) {
                double want = strided[(size_t)(row + t) * ((d + stride - 1) / stride) + k];
                double got = hidden[(size_t)(row + t) * d + j];
                if (fabs(got - want) > worst)
                    worst = fabs(got - want);
                if (!(fabs(got - want) <= TOL))
                    FAIL("sentence %d token %d dim %d: %g vs PyTorch %g", b, t, j, got, want);
            }
        if (b < full) {
            for (size_t k = 0; k < (size_t)len[b] * d; k++) {
                double got = hidden[(size_t)row * d + k], want = whole[(size_t)off * d + k];
                if (fabs(got - want) > worst)
                    worst = fabs(got - want);
                if (!(fabs(got - want) <= TOL))
                    FAIL("sentence %d element %zu: %g vs PyTorch %g", b, k, got, want);
            }
            off += len[b];
        }
    }
    printf("%d sentences, %d tokens: largest difference %.3g (tolerance %g)\n", B, total, worst,
           TOL);
    free(hidden);
    free(ids);
    free(types);
    free(len);
    engine_free(&e);
    peft_free(&p);
    data_free(&data);
    tokenizer_free(&tok);
    vocab_free(&vocab);
    model_free(&m);
    fixture_free(&fx);
}

TEST(engine_hidden_needs_all_work)
{
    model_opts_t mo;
    shape_t s;
    model_t *m;
    peft_t *p;
    engine_t *e;
    engine_opts_t eo;
    peft_opts_t po;
    space_config_t cfg;
    int32_t ids[3] = {2, 5, 3}, len[1] = {3};
    float out[3 * 8];
    engine_batch_t b = {1, len, ids, NULL, 0, NULL, NULL};

    shape_default(&s, 8, 2);
    s.heads = 2;
    s.vocab = 10;
    s.positions = 8;
    model_opts_default(&mo, &s);
    m = model_new(&mo);
    ASSERT_NOT_NULL(m);
    model_init_random(m, 1);
    memset(&cfg, 0, sizeof cfg);
    cfg.layers = 2;
    peft_opts_default(&po);
    p = peft_new(m, &cfg, &po);
    engine_opts_default(&eo);
    eo.max_len = 8;
    e = engine_new(m, p, &eo);
    ASSERT_ERR(engine_hidden(e, &b, out), ERR_STATE);
    engine_free(&e);
    peft_free(&p);
    model_free(&m);
}
