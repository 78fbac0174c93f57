/* Tests of common/shape.c: presets, defaults, validation, and the backbone and head counts,
 * checked against hand arithmetic, published model sizes and a real checkpoint's tensors. */
#include <jansson.h>

#include "common/shape.h"
#include "tests/harness.h"

TEST(presets_have_published_dimensions)
{
    static const struct {
        const char *name;
        int hidden, layers, heads, intermediate, vocab, positions, type_vocab;
    } want[] = {
        {"bert-tiny", 128, 2, 2, 512, 30522, 512, 2},
        {"bert-mini", 256, 4, 4, 1024, 30522, 512, 2},
        {"bert-small", 512, 4, 8, 2048, 30522, 512, 2},
        {"bert-medium", 512, 8, 8, 2048, 30522, 512, 2},
        {"bert-base", 768, 12, 12, 3072, 30522, 512, 2},
        {"bert-large", 1024, 24, 16, 4096, 30522, 512, 2},
        {"roberta-base", 768, 12, 12, 3072, 50265, 514, 1},
        {"roberta-large", 1024, 24, 16, 4096, 50265, 514, 1},
    };
    int n = (int)(sizeof want / sizeof want[0]);

    for (int i = 0; i < n; i++) {
        shape_t s;
        ASSERT_OK(shape_preset(want[i].name, &s));
        ASSERT_OK(shape_check(&s));
        ASSERT_EQ(s.hidden, want[i].hidden);
        ASSERT_EQ(s.layers, want[i].layers);
        ASSERT_EQ(s.heads, want[i].heads);
        ASSERT_EQ(s.intermediate, want[i].intermediate);
        ASSERT_EQ(s.vocab, want[i].vocab);
        ASSERT_EQ(s.positions, want[i].positions);
        ASSERT_EQ(s.type_vocab, want[i].type_vocab);
        ASSERT_EQ(s.labels, 2);
        ASSERT_STR_EQ(shape_preset_name(i), want[i].name);
    }
    ASSERT_TRUE(shape_preset_name(n) == NULL);
    ASSERT_TRUE(shape_preset_name(-1) == NULL);
}

TEST(unknown_preset_lists_the_names)
{
    shape_t s;

    ASSERT_ERR(shape_preset("bert-huge", &s), ERR_NOTFOUND);
    ASSERT_CONTAINS(err_msg(), "'bert-huge'");
    ASSERT_CONTAINS(err_msg(), "bert-tiny");
    ASSERT_CONTAINS(err_msg(), "roberta-large");
    ASSERT_ERR(shape_preset("", &s), ERR_NOTFOUND);
}

TEST(default_follows_bert_conventions)
{
    shape_t s;

    shape_default(&s, 768, 12);
    ASSERT_EQ(s.heads, 12);
    ASSERT_EQ(s.intermediate, 3072);
    ASSERT_EQ(s.vocab, 30522);
    ASSERT_EQ(s.positions, 512);
    ASSERT_EQ(s.type_vocab, 2);
    ASSERT_EQ(s.labels, 2);
    /* the default of a bert-base width and depth is bert-base itself */
    shape_t base;
    ASSERT_OK(shape_preset("bert-base", &base));
    ASSERT_EQ_U(shape_backbone_params(&s), shape_backbone_params(&base));

    shape_default(&s, 32, 2); /* narrower than one 64-wide head */
    ASSERT_EQ(s.heads, 1);
    shape_default(&s, 200, 2); /* 200/64 = 3 does not divide 200: 2 does */
    ASSERT_EQ(s.heads, 2);
    ASSERT_OK(shape_check(&s));
    /* every width up to 4096 gets a valid default */
    for (int h = 1; h <= 4096; h++) {
        shape_default(&s, h, 1);
        ASSERT_OK(shape_check(&s));
    }
    shape_default(&s, SHAPE_MAX_HIDDEN, SHAPE_MAX_LAYERS);
    ASSERT_OK(shape_check(&s));
}

TEST(check_names_the_bad_field)
{
    static const struct {
        size_t offset;
        int value;
        const char *field;
    } bad[] = {
        {offsetof(shape_t, hidden), 0, "hidden"},
        {offsetof(shape_t, hidden), SHAPE_MAX_HIDDEN + 1, "hidden"},
        {offsetof(shape_t, layers), 0, "layers"},
        {offsetof(shape_t, layers), SHAPE_MAX_LAYERS + 1, "layers"},
        {offsetof(shape_t, heads), 0, "heads"},
        {offsetof(shape_t, heads), 5, "heads"}, /* does not divide 768 */
        {offsetof(shape_t, heads), 1536, "heads"},
        {offsetof(shape_t, intermediate), -1, "intermediate"},
        {offsetof(shape_t, intermediate), SHAPE_MAX_INTERMEDIATE + 1, "intermediate"},
        {offsetof(shape_t, vocab), 0, "vocab"},
        {offsetof(shape_t, vocab), SHAPE_MAX_VOCAB + 1, "vocab"},
        {offsetof(shape_t, positions), 0, "positions"},
        {offsetof(shape_t, type_vocab), SHAPE_MAX_TYPE_VOCAB + 1, "type_vocab"},
        {offsetof(shape_t, labels), 0, "labels"},
        {offsetof(shape_t, labels), SHAPE_MAX_LABELS + 1, "labels"},
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        shape_t s;
        shape_default(&s, 768, 12);
        *(int *)((char *)&s + bad[i].offset) = bad[i].value;
        ASSERT_ERR(shape_check(&s), ERR_INVAL);
        ASSERT_CONTAINS(err_msg(), bad[i].field);
    }
}

/* BERT-base by hand (H 768, L 12, I 3072, V 30522, P 512, T 2):
 *   embeddings  word 30522*768 = 23,440,896; position 512*768 = 393,216; token type 2*768 = 1,536;
 *               LayerNorm 2*768 = 1,536                                           = 23,837,184
 *   per layer   Q, K, V, O 4*(768*768 + 768) = 2,362,368; LayerNorm 1,536;
 *               FFN in 768*3072 + 3072 = 2,362,368; out 3072*768 + 768 = 2,360,064;
 *               LayerNorm 1,536                                                    =  7,087,872
 *   12 layers                                                                      = 85,054,464
 *   backbone                                                                       = 108,891,648
 * With the pooler (768*768 + 768 = 590,592) that is 109,482,240, the parameter count published
 * for bert-base-uncased's BertModel. */
TEST(bert_base_backbone_and_head_by_hand)
{
    shape_t s;

    ASSERT_OK(shape_preset("bert-base", &s));
    ASSERT_EQ_U(shape_backbone_params(&s), 108891648ULL);
    ASSERT_EQ_U(23837184ULL + 12 * 7087872ULL, 108891648ULL);
    ASSERT_EQ_U(shape_backbone_params(&s) + 590592ULL, 109482240ULL);
    /* head: pooler 590,592 + classifier 768*2 + 2 = 1,538 */
    ASSERT_EQ_U(shape_head_params(&s), 592130ULL);
    s.labels = 1; /* regression (STS-B): 768 + 1 */
    ASSERT_EQ_U(shape_head_params(&s), 591361ULL);
    s.labels = 3; /* MNLI: 2,304 + 3 */
    ASSERT_EQ_U(shape_head_params(&s), 592899ULL);
}

/* BERT-large by hand (H 1024, L 24, I 4096):
 *   embeddings  31,254,528 + 524,288 + 2,048 + 2,048                               = 31,782,912
 *   per layer   4*(1,048,576 + 1,024) = 4,198,400; 2,048; 4,194,304 + 4,096 = 4,198,400;
 *               4,194,304 + 1,024 = 4,195,328; 2,048                               = 12,596,224
 *   24 layers                                                                      = 302,309,376
 *   backbone                                                                       = 334,092,288
 * With the pooler (1,049,600): 335,141,888, bert-large-uncased's published BertModel count. */
TEST(bert_large_backbone_and_head_by_hand)
{
    shape_t s;

    ASSERT_OK(shape_preset("bert-large", &s));
    ASSERT_EQ_U(shape_backbone_params(&s), 334092288ULL);
    ASSERT_EQ_U(31782912ULL + 24 * 12596224ULL, 334092288ULL);
    ASSERT_EQ_U(shape_backbone_params(&s) + 1049600ULL, 335141888ULL);
    /* head: 1,049,600 + 1024*2 + 2 */
    ASSERT_EQ_U(shape_head_params(&s), 1051650ULL);
}

/* RoBERTa-base: embeddings 50265*768 = 38,603,520 + 514*768 = 394,752 + 1*768 + 1,536 =
 * 39,000,576; layers as BERT-base 85,054,464; backbone 124,055,040; with the pooler 124,645,632,
 * roberta-base's published RobertaModel count. */
TEST(roberta_base_backbone_by_hand)
{
    shape_t s;

    ASSERT_OK(shape_preset("roberta-base", &s));
    ASSERT_EQ_U(shape_backbone_params(&s), 124055040ULL);
    ASSERT_EQ_U(shape_backbone_params(&s) + 590592ULL, 124645632ULL);
}

/* The largest shape the caps allow: the products must not wrap. */
TEST(counts_at_the_caps_do_not_overflow)
{
    shape_t s = {SHAPE_MAX_HIDDEN, SHAPE_MAX_LAYERS, 1, SHAPE_MAX_INTERMEDIATE, SHAPE_MAX_VOCAB,
                 SHAPE_MAX_POSITIONS, SHAPE_MAX_TYPE_VOCAB, SHAPE_MAX_LABELS};
    long double h = SHAPE_MAX_HIDDEN, in = SHAPE_MAX_INTERMEDIATE;
    long double want = (long double)SHAPE_MAX_VOCAB * h + SHAPE_MAX_POSITIONS * h +
                       SHAPE_MAX_TYPE_VOCAB * h + 2 * h +
                       SHAPE_MAX_LAYERS * (4 * (h * h + h) + 2 * h + h * in + in + in * h + h +
                                           2 * h);

    ASSERT_OK(shape_check(&s));
    ASSERT_TRUE((long double)shape_backbone_params(&s) == want);
    ASSERT_TRUE((long double)shape_head_params(&s) == h * h + h + h * SHAPE_MAX_LABELS +
                                                          SHAPE_MAX_LABELS);
}

/* Reads a safetensors file's JSON header and sums the element counts of the tensors whose
 * names start with one of the prefixes. */
static uint64_t checkpoint_params(const char *path, const char *const *prefixes, int nprefixes)
{
    unsigned char len_le[8];
    uint64_t len = 0, total = 0;
    json_error_t jerr;
    const char *key;
    json_t *doc, *t;
    char *buf;
    FILE *f = fopen(path, "rb");

    ASSERT_NOT_NULL(f);
    ASSERT_EQ(fread(len_le, 1, 8, f), 8);
    for (int i = 7; i >= 0; i--)
        len = len << 8 | len_le[i];
    ASSERT_TRUE(len > 0 && len < (16u << 20));
    buf = malloc(len);
    ASSERT_NOT_NULL(buf);
    ASSERT_EQ_U(fread(buf, 1, len, f), len);
    fclose(f);
    doc = json_loadb(buf, len, 0, &jerr);
    if (!doc)
        FAIL("%s: header is not JSON: %s", path, jerr.text);
    json_object_foreach(doc, key, t)
    {
        bool want = false;
        uint64_t n = 1;
        size_t i;
        json_t *d;

        for (int p = 0; p < nprefixes; p++)
            want |= strncmp(key, prefixes[p], strlen(prefixes[p])) == 0;
        if (!want)
            continue;
        json_array_foreach(json_object_get(t, "shape"), i, d) n *= (uint64_t)json_integer_value(d);
        total += n;
    }
    json_decref(doc);
    free(buf);
    return total;
}

/* The backbone formula against a real checkpoint: the shared bert-mini-mlm (hidden 256, 6 layers,
 * 4 heads, FFN 1024, BERT vocabulary) stores every backbone tensor under bert.embeddings.* and
 * bert.encoder.*; their element counts must add up to shape_backbone_params exactly. */
TEST(backbone_matches_a_real_checkpoint)
{
    static const char *const prefixes[] = {"bert.embeddings.", "bert.encoder."};
    char path[1024];
    shape_t s;

    harness_shared_path("models/bert-mini-mlm/model.safetensors", path, sizeof path);
    shape_default(&s, 256, 6);
    ASSERT_EQ(s.heads, 4);
    ASSERT_EQ(s.intermediate, 1024);
    ASSERT_EQ_U(checkpoint_params(path, prefixes, 2), shape_backbone_params(&s));
    /* by hand: embeddings 7,813,632 + 131,072 + 512 + 512 = 7,945,728; per layer
     * 4*(65,536 + 256) + 512 + (262,144 + 1,024) + (262,144 + 256) + 512 = 789,760; x6 */
    ASSERT_EQ_U(shape_backbone_params(&s), 7945728ULL + 6 * 789760ULL);
}
