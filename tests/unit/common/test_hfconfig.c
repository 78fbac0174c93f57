/* Tests of common/hfconfig.c: the shared bert-mini-mlm config, transformers' defaults for absent
 * keys, every refusal naming file and key, and a write/read round trip. */
#include "common/hfconfig.h"
#include "tests/harness.h"

static int parse(const char *json, hfconfig_t **c)
{
    return hfconfig_parse(json, strlen(json), "cfg.json", c);
}

TEST(reads_bert_mini_mlm_config)
{
    char path[1024];
    hfconfig_t *c;

    harness_shared_path("models/bert-mini-mlm/config.json", path, sizeof path);
    ASSERT_OK(hfconfig_load(path, &c));
    ASSERT_EQ(c->shape.hidden, 256);
    ASSERT_EQ(c->shape.layers, 6);
    ASSERT_EQ(c->shape.heads, 4);
    ASSERT_EQ(c->shape.intermediate, 1024);
    ASSERT_EQ(c->shape.vocab, 30522);
    ASSERT_EQ(c->shape.positions, 512);
    ASSERT_EQ(c->shape.type_vocab, 2);
    ASSERT_EQ(c->shape.labels, 2);
    ASSERT_FALSE(c->regression);
    ASSERT_TRUE(c->layer_norm_eps == 1e-12);
    ASSERT_TRUE(c->hidden_dropout == 0.1 && c->attention_dropout == 0.1);
    ASSERT_TRUE(c->classifier_dropout == 0.1); /* absent: falls back to hidden_dropout_prob */
    ASSERT_TRUE(c->initializer_range == 0.02);
    ASSERT_EQ(c->pad_token_id, 0);
    ASSERT_STR_EQ(c->label_names[1], "LABEL_1");
    hfconfig_free(&c);
    ASSERT_TRUE(c == NULL);
}

TEST(absent_keys_take_bertconfig_defaults)
{
    hfconfig_t *c;

    ASSERT_OK(parse("{\"model_type\":\"bert\"}", &c));
    ASSERT_EQ(c->shape.hidden, 768);
    ASSERT_EQ(c->shape.layers, 12);
    ASSERT_EQ(c->shape.heads, 12);
    ASSERT_EQ(c->shape.intermediate, 3072);
    ASSERT_EQ(c->shape.vocab, 30522);
    hfconfig_free(&c);
    /* Google's old bert_config.json: no model_type, but a BERT architecture. */
    ASSERT_OK(parse("{\"architectures\":[\"BertForMaskedLM\"],\"hidden_size\":128,"
                    "\"num_attention_heads\":2}", &c));
    ASSERT_EQ(c->shape.hidden, 128);
    hfconfig_free(&c);
}

TEST(labels_and_problem_type)
{
    hfconfig_t *c;

    ASSERT_OK(parse("{\"model_type\":\"bert\",\"id2label\":{\"0\":\"neg\",\"1\":\"pos\","
                    "\"2\":\"mixed\"},\"classifier_dropout\":null}", &c));
    ASSERT_EQ(c->shape.labels, 3);
    ASSERT_STR_EQ(c->label_names[2], "mixed");
    hfconfig_free(&c);
    ASSERT_OK(parse("{\"model_type\":\"bert\",\"num_labels\":1}", &c));
    ASSERT_TRUE(c->regression);
    hfconfig_free(&c);
    ASSERT_OK(parse("{\"model_type\":\"bert\",\"num_labels\":1,\"problem_type\":\"regression\","
                    "\"classifier_dropout\":0.25}", &c));
    ASSERT_TRUE(c->regression && c->classifier_dropout == 0.25);
    hfconfig_free(&c);
}

static void expect(const char *json, int code, const char *key, const char *words)
{
    hfconfig_t *c = (hfconfig_t *)1;
    int rc = parse(json, &c);

    if (rc != code)
        FAIL("%s: expected %s, got %s (%s)", json, err_name(code), err_name(rc),
             rc ? err_msg() : "accepted");
    ASSERT_TRUE(c == NULL);
    ASSERT_CONTAINS(err_msg(), "cfg.json");
    ASSERT_CONTAINS(err_msg(), key);
    ASSERT_CONTAINS(err_msg(), words);
}

TEST(refusals_name_file_and_key)
{
    expect("{\"model_type\":\"roberta\"}", ERR_UNSUPPORTED, "model_type", "padding_idx + 1");
    expect("{\"model_type\":\"gpt2\"}", ERR_UNSUPPORTED, "model_type", "only 'bert'");
    expect("{\"model_type\":7}", ERR_PARSE, "model_type", "string");
    expect("{\"hidden_size\":64}", ERR_INVAL, "model_type", "missing");
    expect("{\"architectures\":[\"RobertaModel\"]}", ERR_UNSUPPORTED, "model_type", "Roberta");
    expect("{\"model_type\":\"bert\",\"hidden_act\":\"gelu_new\"}", ERR_UNSUPPORTED, "hidden_act",
           "approximation");
    expect("{\"model_type\":\"bert\",\"hidden_act\":\"relu\"}", ERR_UNSUPPORTED, "hidden_act",
           "exact erf");
    expect("{\"model_type\":\"bert\",\"hidden_size\":100,\"num_attention_heads\":12}", ERR_INVAL,
           "num_attention_heads", "divide");
    expect("{\"model_type\":\"bert\",\"hidden_size\":1000000}", ERR_RANGE, "hidden_size",
           "outside");
    expect("{\"model_type\":\"bert\",\"hidden_size\":0}", ERR_INVAL, "hidden_size", "outside");
    expect("{\"model_type\":\"bert\",\"hidden_size\":\"768\"}", ERR_PARSE, "hidden_size",
           "integer");
    expect("{\"model_type\":\"bert\",\"vocab_size\":99999999999}", ERR_RANGE, "vocab_size", "");
    expect("{\"model_type\":\"bert\",\"layer_norm_eps\":0}", ERR_INVAL, "layer_norm_eps", "");
    expect("{\"model_type\":\"bert\",\"hidden_dropout_prob\":1.5}", ERR_INVAL,
           "hidden_dropout_prob", "");
    expect("{\"model_type\":\"bert\",\"classifier_dropout\":\"x\"}", ERR_PARSE,
           "classifier_dropout", "null");
    expect("{\"model_type\":\"bert\",\"position_embedding_type\":\"relative_key\"}",
           ERR_UNSUPPORTED, "position_embedding_type", "absolute");
    expect("{\"model_type\":\"bert\",\"is_decoder\":true}", ERR_UNSUPPORTED, "is_decoder", "");
    expect("{\"model_type\":\"bert\",\"embedding_size\":128}", ERR_UNSUPPORTED, "embedding_size",
           "");
    expect("{\"model_type\":\"bert\",\"num_labels\":3,\"id2label\":{\"0\":\"a\",\"1\":\"b\"}}",
           ERR_INVAL, "id2label", "num_labels");
    expect("{\"model_type\":\"bert\",\"id2label\":{\"0\":\"a\",\"2\":\"b\"}}", ERR_INVAL,
           "id2label", "'2'");
    expect("{\"model_type\":\"bert\",\"id2label\":{\"0\":\"a\",\"00\":\"b\"}}", ERR_INVAL,
           "id2label", "missing");
    expect("{\"model_type\":\"bert\",\"id2label\":{\"0\":1,\"1\":\"b\"}}", ERR_PARSE, "id2label",
           "string");
    expect("{\"model_type\":\"bert\",\"problem_type\":\"multi_label_classification\"}",
           ERR_UNSUPPORTED, "problem_type", "multi-label");
    expect("{\"model_type\":\"bert\",\"problem_type\":\"regression\"}", ERR_UNSUPPORTED,
           "problem_type", "num_labels 1");
    expect("{\"model_type\":\"bert\",\"pad_token_id\":40000}", ERR_RANGE, "pad_token_id", "");
    expect("{\"model_type\":\"bert\",\"model_type\":\"bert\"}", ERR_PARSE, "", "duplicate");
    expect("[1]", ERR_PARSE, "", "object");
    expect("{\"model_type\":", ERR_PARSE, "", "line 1");
}

TEST(write_and_read_back)
{
    char path[1024];
    shape_t s = {.hidden = 64, .layers = 3, .heads = 4, .intermediate = 128, .vocab = 1000,
                 .positions = 128, .type_vocab = 2, .labels = 1};
    hfconfig_t *a, *b;

    ASSERT_OK(hfconfig_new(&s, &a));
    a->layer_norm_eps = 1e-5;
    a->classifier_dropout = 0.3;
    snprintf(path, sizeof path, "%s/config.json", harness_tmpdir());
    ASSERT_OK(hfconfig_write(a, path));
    ASSERT_OK(hfconfig_load(path, &b));
    ASSERT_TRUE(memcmp(&a->shape, &b->shape, sizeof a->shape) == 0);
    ASSERT_TRUE(b->regression);
    ASSERT_TRUE(b->layer_norm_eps == 1e-5 && b->classifier_dropout == 0.3);
    ASSERT_TRUE(b->hidden_dropout == 0.1 && b->initializer_range == 0.02);
    ASSERT_STR_EQ(b->label_names[0], "LABEL_0");
    hfconfig_free(&a);
    hfconfig_free(&b);
    s.heads = 5;
    ASSERT_ERR(hfconfig_new(&s, &a), ERR_INVAL);
    ASSERT_ERR(hfconfig_load("/nonexistent/config.json", &a), ERR_IO);
}
