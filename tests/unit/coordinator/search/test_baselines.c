/* Tests of coordinator/search/baselines.c: the catalogue's names and sources, each built-in's
 * sizes on bert-base and on small widths (rounding, the floor of 1, LoRA's cap), canonical form,
 * the refusal of unknown names (with the known ones), users' baselines,
 * and exact counts against closed forms written out here, independently of space_config.c. */
#include "common/shape.h"
#include "common/space.h"
#include "coordinator/search/baselines.h"
#include "tests/harness.h"

#define NBUILTINS 9

static const char *const catalogue[NBUILTINS] = {
    "pfeiffer", "houlsby", "parallel", "parallel-small", "prefix", "lora", "mam", "head-only",
    "full-finetune"};

/* Expected module sizes {sa, pa, pt, lora, ha} of a built-in. */
typedef struct {
    const char *name;
    uint32_t size[SPACE_NMODULES];
    bool full;
} want_t;

/* ---- closed forms (docs/search-space.md) --------------------------------------------------- */

/* A bottleneck adapter, serial or parallel: down h x d + bias d, up d x h + bias h. */
static uint64_t adapter_params(uint64_t h, uint64_t d)
{
    return 2 * h * d + d + h;
}

/* Prefix tuning trained through its MLP: the embedding P x h, the shared Linear(h, b), and one
 * Linear(b, 2h) per layer. */
static uint64_t prefix_trained(uint64_t h, uint64_t p, uint64_t b, uint64_t layers)
{
    return p * h + (h * b + b) + layers * (b * 2 * h + 2 * h);
}

/* Deployed: P keys and P values of width h per layer. */
static uint64_t prefix_deployed(uint64_t h, uint64_t p, uint64_t layers)
{
    return layers * 2 * p * h;
}

/* LoRA rank r on Wq and Wv: A (r x h) and B (h x r) each, no bias. */
static uint64_t lora_params(uint64_t h, uint64_t r)
{
    return 2 * (2 * h * r);
}

/* ---- helpers ------------------------------------------------------------------------------- */

static baseline_t builtin_ok(const char *name, int hidden, int layers)
{
    baseline_t b;

    if (baseline_builtin(name, hidden, layers, &b) != 0)
        FAIL("baseline_builtin(%s, %d, %d): %s", name, hidden, layers, err_msg());
    return b;
}

/* b has exactly the sizes of w, every active module in every one of `layers` layers, and is
 * canonical: canonicalising changes nothing, and its text parses back to it. */
static void assert_shape_of(const baseline_t *b, const want_t *w, int layers)
{
    space_config_t k = b->config, back;
    char text[SPACE_TEXT_MAX];

    ASSERT_STR_EQ(b->name, w->name);
    ASSERT_EQ(b->full_finetune, w->full);
    ASSERT_EQ(b->config.layers, layers);
    for (int m = 0; m < SPACE_NMODULES; m++) {
        ASSERT_EQ_U(b->config.size[m], w->size[m]);
        ASSERT_EQ(space_config_layer_count(&b->config, m), w->size[m] ? layers : 0);
    }
    space_config_canonicalise(&k);
    ASSERT_TRUE(space_config_equal(&k, &b->config));
    for (int m = 0; m < SPACE_NMODULES; m++)
        for (int i = 0; i < SPACE_MASK_WORDS; i++)
            ASSERT_EQ_U(k.mask[m][i], b->config.mask[m][i]);
    ASSERT_OK(space_config_format(&b->config, text, sizeof text));
    ASSERT_OK(space_config_parse(text, layers, &back));
    ASSERT_TRUE(space_config_equal(&back, &b->config));
}

static void assert_catalogue(const want_t *want, int hidden, int layers)
{
    for (int i = 0; i < NBUILTINS; i++) {
        baseline_t b = builtin_ok(want[i].name, hidden, layers);
        printf("%d x %d %s\n", hidden, layers, want[i].name);
        assert_shape_of(&b, &want[i], layers);
    }
}

/* ---- the catalogue ------------------------------------------------------------------------- */

TEST(catalogue_names_and_sources)
{
    ASSERT_EQ(baseline_builtin_count(), NBUILTINS);
    for (int i = 0; i < NBUILTINS; i++) {
        const char *about = baseline_builtin_about(i);
        ASSERT_STR_EQ(baseline_builtin_name(i), catalogue[i]);
        ASSERT_NOT_NULL(about);
        ASSERT_TRUE(strlen(about) > 20);
        ASSERT_TRUE(strchr(about, '\n') == NULL); /* one line */
    }
    /* the PEFT ones name their paper and year */
    ASSERT_CONTAINS(baseline_builtin_about(0), "Pfeiffer et al. 2021");
    ASSERT_CONTAINS(baseline_builtin_about(1), "Houlsby et al. 2019");
    ASSERT_CONTAINS(baseline_builtin_about(2), "He et al. 2022");
    ASSERT_CONTAINS(baseline_builtin_about(3), "He et al. 2022");
    ASSERT_CONTAINS(baseline_builtin_about(4), "Li and Liang 2021");
    ASSERT_CONTAINS(baseline_builtin_about(5), "Hu et al.");
    ASSERT_CONTAINS(baseline_builtin_about(6), "Mix-And-Match");
    ASSERT_CONTAINS(baseline_builtin_about(6), "He et al. 2022");
    ASSERT_TRUE(baseline_builtin_name(-1) == NULL);
    ASSERT_TRUE(baseline_builtin_name(NBUILTINS) == NULL);
    ASSERT_TRUE(baseline_builtin_about(NBUILTINS) == NULL);
}

/* bert-base: reduction 16 -> 48, reduction 2 -> 384. */
TEST(builtins_on_bert_base)
{
    static const want_t want[NBUILTINS] = {
        {"pfeiffer", {48, 0, 0, 0}, false},   {"houlsby", {0, 0, 0, 0, 48}, false},
        {"parallel", {0, 384, 0, 0}, false},
        {"parallel-small", {0, 48, 0, 0}, false}, {"prefix", {0, 0, 10, 0}, false},
        {"lora", {0, 0, 0, 8}, false},        {"mam", {0, 384, 30, 0}, false},
        {"head-only", {0, 0, 0, 0}, false},   {"full-finetune", {0, 0, 0, 0}, true},
    };
    baseline_t b = builtin_ok("pfeiffer", 768, 12);
    char text[SPACE_TEXT_MAX];

    assert_catalogue(want, 768, 12);
    ASSERT_OK(space_config_format(&b.config, text, sizeof text));
    ASSERT_STR_EQ(text, "sa=48 pa=0 pt=0 layers=111111111111");
    b = builtin_ok("mam", 768, 12);
    ASSERT_OK(space_config_format(&b.config, text, sizeof text));
    ASSERT_STR_EQ(text, "sa=0 pa=384 pt=30 layers=111111111111");
    b = builtin_ok("lora", 768, 12);
    ASSERT_OK(space_config_format(&b.config, text, sizeof text));
    ASSERT_STR_EQ(text, "sa=0 pa=0 pt=0 lora=8 layers=111111111111");
    b = builtin_ok("houlsby", 768, 12);
    ASSERT_OK(space_config_format(&b.config, text, sizeof text));
    ASSERT_STR_EQ(text, "sa=0 pa=0 pt=0 ha=48 layers=111111111111");
}

/* hidden 8: 8/16 = 0.5 rounds to 1 (and the floor is 1 anyway); 8/2 = 4; LoRA's 8 is at the cap. */
TEST(builtins_on_a_small_width)
{
    static const want_t want[NBUILTINS] = {
        {"pfeiffer", {1, 0, 0, 0}, false},   {"houlsby", {0, 0, 0, 0, 1}, false},
        {"parallel", {0, 4, 0, 0}, false},
        {"parallel-small", {0, 1, 0, 0}, false}, {"prefix", {0, 0, 10, 0}, false},
        {"lora", {0, 0, 0, 8}, false},       {"mam", {0, 4, 30, 0}, false},
        {"head-only", {0, 0, 0, 0}, false},  {"full-finetune", {0, 0, 0, 0}, true},
    };

    assert_catalogue(want, 8, 2);
}

/* Nearest integer, halves up, at least 1; LoRA's rank capped at the width; deep models. */
TEST(sizes_round_to_the_nearest_integer)
{
    static const struct {
        int hidden;
        uint32_t r16, r2;
    } cases[] = {
        {1, 1, 1},    {3, 1, 2},     {7, 1, 4},       {23, 1, 12},    {24, 2, 12},
        {40, 3, 20},  {100, 6, 50},  {1024, 64, 512}, {1000, 63, 500}, {65536, 4096, 32768},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int h = cases[i].hidden;
        printf("hidden %d\n", h);
        ASSERT_EQ_U(builtin_ok("pfeiffer", h, 3).config.size[SPACE_SA], cases[i].r16);
        ASSERT_EQ_U(builtin_ok("houlsby", h, 3).config.size[SPACE_HA], cases[i].r16);
        ASSERT_EQ_U(builtin_ok("parallel-small", h, 3).config.size[SPACE_PA], cases[i].r16);
        ASSERT_EQ_U(builtin_ok("parallel", h, 3).config.size[SPACE_PA], cases[i].r2);
        ASSERT_EQ_U(builtin_ok("mam", h, 3).config.size[SPACE_PA], cases[i].r2);
        ASSERT_EQ_U(builtin_ok("lora", h, 3).config.size[SPACE_LORA], h < 8 ? (uint32_t)h : 8);
        ASSERT_EQ_U(builtin_ok("prefix", h, 3).config.size[SPACE_PT], 10);
    }
    baseline_t b = builtin_ok("pfeiffer", 1024, SPACE_MAX_LAYERS);
    ASSERT_EQ(space_config_layer_count(&b.config, SPACE_SA), SPACE_MAX_LAYERS);
}

/* ---- refusals ------------------------------------------------------------------------------ */

TEST(unknown_names_are_refused_naming_the_known_ones)
{
    static const char *const bad[] = {"bitfit", "Pfeiffer", "", "pfeiffer ", "lora8"};
    baseline_t b;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ASSERT_ERR(baseline_builtin(bad[i], 768, 12, &b), ERR_NOTFOUND);
        ASSERT_CONTAINS(err_msg(), "no baseline named '");
        ASSERT_CONTAINS(err_msg(), bad[i]);
        ASSERT_CONTAINS(err_msg(), "known baselines: pfeiffer, houlsby, parallel, "
                                   "parallel-small, prefix, lora, mam, head-only, "
                                   "full-finetune");
    }
}

TEST(bad_models_are_refused)
{
    baseline_t b;

    ASSERT_ERR(baseline_builtin("pfeiffer", 0, 12, &b), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "hidden size 0");
    ASSERT_ERR(baseline_builtin("pfeiffer", SHAPE_MAX_HIDDEN + 1, 12, &b), ERR_INVAL);
    ASSERT_ERR(baseline_builtin("pfeiffer", 768, 0, &b), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "0 layers, expected 1..256");
    ASSERT_ERR(baseline_builtin("pfeiffer", 768, SPACE_MAX_LAYERS + 1, &b), ERR_INVAL);
    ASSERT_ERR(baseline_builtin(NULL, 768, 12, &b), ERR_INVAL);
    ASSERT_ERR(baseline_builtin("pfeiffer", 768, 12, NULL), ERR_INVAL);
}

/* ---- users' baselines ---------------------------------------------------------------------- */

TEST(user_baselines)
{
    char label[BASELINE_NAME_MAX + 1];
    space_config_t c;
    baseline_t b;

    ASSERT_OK(space_config_parse("sa=24 pt=4 layers=000000111111", 12, &c));
    c.mask[SPACE_SA][1] = 1; /* a stray bit above the layers: canonicalised away */
    ASSERT_OK(baseline_make("my adapters (top half)", &c, false, &b));
    ASSERT_STR_EQ(b.name, "my adapters (top half)");
    ASSERT_EQ_U(b.config.mask[SPACE_SA][1], 0);
    ASSERT_TRUE(space_config_equal(&b.config, &c));
    ASSERT_FALSE(b.full_finetune);

    memset(label, 'x', sizeof label);
    label[BASELINE_NAME_MAX - 1] = '\0';
    ASSERT_OK(baseline_make(label, &c, false, &b)); /* 63 characters fit */
    label[BASELINE_NAME_MAX - 1] = 'x';
    label[BASELINE_NAME_MAX] = '\0';
    ASSERT_ERR(baseline_make(label, &c, false, &b), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "expected 1..63");
    ASSERT_ERR(baseline_make("", &c, false, &b), ERR_INVAL);
    ASSERT_ERR(baseline_make("tab\there", &c, false, &b), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "character 4");
    ASSERT_ERR(baseline_make("ft", &c, true, &b), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "full fine-tuning");
    ASSERT_CONTAINS(err_msg(), "sa is on");
    c.layers = 0;
    ASSERT_ERR(baseline_make("none", &c, false, &b), ERR_INVAL);
}

/* ---- counts -------------------------------------------------------------------------------- */

static space_counts_t counts_ok(const char *name, const shape_t *s, int bottleneck)
{
    baseline_t b = builtin_ok(name, s->hidden, s->layers);
    space_counts_t k;

    if (baseline_counts(&b, s, bottleneck, &k) != 0)
        FAIL("baseline_counts(%s): %s", name, err_msg());
    return k;
}

/* The counts of every built-in on a model of width h and depth n, from the closed forms above
 * with the adapters' bottlenecks r16 (reduction 16) and r2 (reduction 2) given: the modules'
 * trained and deployed parameters, then the totals with the head. */
static void assert_counts(const shape_t *s, uint64_t backbone, uint64_t head, uint64_t r16,
                          uint64_t r2)
{
    const uint64_t h = (uint64_t)s->hidden, n = (uint64_t)s->layers, b = 800;
    const uint64_t rank = h < 8 ? h : 8;
    const struct {
        const char *name;
        uint64_t trained, deployed;
    } want[] = {
        {"pfeiffer", n * adapter_params(h, r16), n * adapter_params(h, r16)},
        {"houlsby", 2 * n * adapter_params(h, r16), 2 * n * adapter_params(h, r16)},
        {"parallel", n * adapter_params(h, r2), n * adapter_params(h, r2)},
        {"parallel-small", n * adapter_params(h, r16), n * adapter_params(h, r16)},
        {"prefix", prefix_trained(h, 10, b, n), prefix_deployed(h, 10, n)},
        {"lora", n * lora_params(h, rank), n * lora_params(h, rank)},
        {"mam", n * adapter_params(h, r2) + prefix_trained(h, 30, b, n),
         n * adapter_params(h, r2) + prefix_deployed(h, 30, n)},
        {"head-only", 0, 0},
        {"full-finetune", backbone, backbone},
    };

    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        space_counts_t k = counts_ok(want[i].name, s, 800);
        printf("%s: %" PRIu64 " trained, %" PRIu64 " deployed\n", want[i].name,
               k.modules_trainable, k.modules_deployed);
        ASSERT_EQ_U(k.backbone, backbone);
        ASSERT_EQ_U(k.head, head);
        ASSERT_EQ_U(k.modules_trainable, want[i].trained);
        ASSERT_EQ_U(k.modules_deployed, want[i].deployed);
        ASSERT_EQ_U(k.trainable, want[i].trained + head);
        ASSERT_EQ_U(k.deployed, want[i].deployed + head);
        ASSERT_NEAR(k.percent, 100.0 * (double)want[i].deployed / (double)backbone, 1e-12);
    }
}

/* bert-base: the backbone and head as in test_space_config.c (108,891,648 and 592,130); pfeiffer
 * is 12 x (2*768*48 + 48 + 768) = 894,528 (the figure). */
TEST(counts_on_bert_base)
{
    shape_t s;
    space_counts_t k;

    ASSERT_OK(shape_preset("bert-base", &s));
    assert_counts(&s, 108891648, 592130, 48, 384);
    k = counts_ok("pfeiffer", &s, 800);
    ASSERT_EQ_U(k.modules_deployed, 12 * (2 * 768 * 48 + 48 + 768));
    ASSERT_EQ_U(k.modules_deployed, 894528);
    k = counts_ok("houlsby", &s, 800);
    ASSERT_EQ_U(k.modules_deployed, 2 * 12 * (2 * 768 * 48 + 48 + 768));
    ASSERT_EQ_U(k.trainable, 2381186);
    k = counts_ok("mam", &s, 800);
    ASSERT_EQ_U(k.trainable, 23086114);
    ASSERT_EQ_U(k.deployed, 8236802);
    k = counts_ok("full-finetune", &s, 800);
    ASSERT_EQ_U(k.trainable, 108891648 + 592130);
    ASSERT_EQ_U(k.deployed, 108891648 + 592130);
    ASSERT_NEAR(k.percent, 100.0, 0);
    ASSERT_EQ_U(k.module_trainable[SPACE_SA] + k.module_trainable[SPACE_PA] +
                    k.module_trainable[SPACE_PT] + k.module_trainable[SPACE_LORA] +
                    k.module_trainable[SPACE_HA],
                0);
    k = counts_ok("head-only", &s, 800);
    ASSERT_EQ_U(k.trainable, 592130);
    ASSERT_NEAR(k.percent, 0.0, 0);
}

/* hidden 8, 2 layers, BERT defaults otherwise (heads 1, FFN 32, vocab 30522): embeddings
 * (30522 + 512 + 2) * 8 + 16 = 248,304; a layer 4 * (64 + 8) + 16 + (256 + 32) + (256 + 8) + 16
 * = 872; head (64 + 8) + (16 + 2) = 90. */
TEST(counts_on_a_small_width)
{
    shape_t s;

    shape_default(&s, 8, 2);
    assert_counts(&s, 248304 + 2 * 872, 90, 1, 4);
    shape_default(&s, 100, 3);
    assert_counts(&s, shape_backbone_params(&s), shape_head_params(&s), 6, 50);
}

TEST(counts_refuse_what_does_not_fit)
{
    baseline_t b = builtin_ok("pfeiffer", 768, 12);
    space_counts_t k;
    shape_t s;

    ASSERT_OK(shape_preset("bert-large", &s));
    ASSERT_ERR(baseline_counts(&b, &s, 800, &k), ERR_INVAL); /* 12 layers on a 24-layer model */
    ASSERT_CONTAINS(err_msg(), "12 layers but the model has 24");
    ASSERT_OK(shape_preset("bert-base", &s));
    ASSERT_ERR(baseline_counts(&b, &s, 0, &k), ERR_INVAL);
    s.heads = 5;
    ASSERT_ERR(baseline_counts(&b, &s, 800, &k), ERR_INVAL);
    ASSERT_OK(shape_preset("bert-base", &s));
    b = builtin_ok("full-finetune", 768, 12);
    b.config.size[SPACE_SA] = 8;
    space_config_set_layer(&b.config, SPACE_SA, 0, true);
    ASSERT_ERR(baseline_counts(&b, &s, 800, &k), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "full fine-tuning with modules on");
}
