/* Tests of common/space.c and common/space_config.c.
 *
 * Parameter counts are checked against arithmetic done by hand and written out beside each
 * check (never through the implementation's formulas), with AutoPEFT's approximation
 * L*2*H*D printed next to ours. Sampling is checked for validity and, by chi-square, for the
 * frequencies a uniform draw over the valid set implies; the cardinality against brute-force
 * enumeration. */
#include "harness.h"
#include "rng.h"
#include "shape.h"
#include "space.h"

/* chi-square quantiles at 1 - 1e-4 (scipy.stats.chi2.ppf(0.9999, df)): the tests use fixed
 * seeds, so this only has to be loose enough for a correct sampler and tight enough that a
 * biased one fails by orders of magnitude. */
#define CHI2_9999_DF7 29.88
#define CHI2_9999_DF10 35.56
#define CHI2_9999_DF188 268.80

static space_t *new_space(int hidden, int layers, bool lora, bool separate)
{
    space_opts_t o;
    space_t *s;

    space_opts_default(&o, hidden, layers);
    if (lora)
        space_opts_enable_lora(&o);
    o.separate_masks = separate;
    s = space_new(&o);
    ASSERT_NOT_NULL(s);
    return s;
}

static space_config_t parse_ok(const char *text, int layers)
{
    space_config_t c;

    if (space_config_parse(text, layers, &c) != 0)
        FAIL("parse '%s': %s", text, err_msg());
    return c;
}

static space_counts_t count_ok(const char *text, const shape_t *shape, int bottleneck)
{
    space_config_t c = parse_ok(text, shape->layers);
    space_counts_t k;

    ASSERT_OK(space_config_count(&c, shape, bottleneck, &k));
    /* modules only (the head is left out on both sides, as AutoPEFT's formula leaves it out) */
    printf("%-56s trainable %9" PRIu64 "  deployed %9" PRIu64 " (%.4f%%)  AutoPEFT %9" PRIu64
           " (%.4f%%)\n",
           text, k.modules_trainable, k.modules_deployed, k.percent, k.approx_autopeft,
           100.0 * (double)k.approx_autopeft / (double)k.backbone);
    return k;
}

/* ---- counts by hand ------------------------------------------------------------------------ */

/* BERT-base, H = 768, backbone 108,891,648, head 592,130 (test_shape.c). */
TEST(counts_bert_base_each_module_alone)
{
    shape_t b;
    space_counts_t k;

    ASSERT_OK(shape_preset("bert-base", &b));

    /* SA D=48 in all 12 layers: down 768*48 = 36,864 + 48 bias; up 48*768 = 36,864 + 768 bias;
     * 74,544 per layer; x12 = 894,528. AutoPEFT: 12*2*768*48 = 884,736. */
    k = count_ok("sa=48 pa=0 pt=0 layers=111111111111", &b, 800);
    ASSERT_EQ_U(k.module_trainable[SPACE_SA], 894528);
    ASSERT_EQ_U(k.module_deployed[SPACE_SA], 894528);
    ASSERT_EQ_U(k.modules_trainable, 894528);
    ASSERT_EQ_U(k.trainable, 894528 + 592130);
    ASSERT_EQ_U(k.deployed, 1486658);
    ASSERT_EQ_U(k.backbone, 108891648);
    ASSERT_EQ_U(k.head, 592130);
    ASSERT_EQ_U(k.approx_autopeft, 884736);
    ASSERT_NEAR(k.percent, 100.0 * 894528 / 108891648, 1e-12); /* 0.82148...% */

    /* PA D=96 in layers 0..5: down 73,728 + 96; up 73,728 + 768; 148,320 per layer; x6 =
     * 889,920. AutoPEFT: 6*2*768*96 = 884,736. */
    k = count_ok("pa=96 layers=111111000000", &b, 800);
    ASSERT_EQ_U(k.module_trainable[SPACE_PA], 889920);
    ASSERT_EQ_U(k.module_deployed[SPACE_PA], 889920);
    ASSERT_EQ_U(k.module_trainable[SPACE_SA], 0);
    ASSERT_EQ_U(k.approx_autopeft, 884736);

    /* PT l=12 in all 12 layers, training: embedding 12*768 = 9,216; shared Linear(768, 800)
     * 614,400 + 800 = 615,200; per layer Linear(800, 1536) 1,228,800 + 1,536 = 1,230,336, x12 =
     * 14,764,032; total 15,388,448. Deployed: 12 layers * 2 (K, V) * 12 * 768 = 221,184.
     * AutoPEFT: 12*2*768*12 = 221,184. */
    k = count_ok("sa=0 pa=0 pt=12 layers=111111111111", &b, 800);
    ASSERT_EQ_U(k.module_trainable[SPACE_PT], 15388448);
    ASSERT_EQ_U(k.module_deployed[SPACE_PT], 221184);
    ASSERT_EQ_U(k.trainable, 15388448 + 592130);
    ASSERT_EQ_U(k.deployed, 221184 + 592130);
    ASSERT_EQ_U(k.approx_autopeft, 221184);

    /* The same prefix with a reparameterisation width of 512: 9,216 + (393,216 + 512) +
     * 12 * (786,432 + 1,536) = 9,216 + 393,728 + 9,455,616 = 9,858,560; deployed unchanged. */
    k = count_ok("pt=12 layers=111111111111", &b, 512);
    ASSERT_EQ_U(k.module_trainable[SPACE_PT], 9858560);
    ASSERT_EQ_U(k.module_deployed[SPACE_PT], 221184);

    /* LoRA r=8 on Wq and Wv of all 12 layers: per matrix A 8*768 + B 768*8 = 12,288, no bias;
     * two matrices: 24,576 per layer; x12 = 294,912. AutoPEFT's formula: 12*2*768*8 = 147,456. */
    k = count_ok("lora=8 layers=111111111111", &b, 800);
    ASSERT_EQ_U(k.module_trainable[SPACE_LORA], 294912);
    ASSERT_EQ_U(k.module_deployed[SPACE_LORA], 294912);
    ASSERT_EQ_U(k.approx_autopeft, 147456);
}

TEST(counts_bert_base_combined_and_partial)
{
    shape_t b;
    space_counts_t k;

    ASSERT_OK(shape_preset("bert-base", &b));

    /* The header's example: sa=48, pt=12 in the 10 layers of 111011110111.
     * SA: 74,544 per layer, x10 = 745,440.
     * PT training: 9,216 + 615,200 + 10 * 1,230,336 = 12,927,776; deployed 10*2*12*768 = 184,320.
     * modules: trainable 13,673,216, deployed 929,760; with the head 14,265,346 and 1,521,890.
     * percent 929,760 / 108,891,648 = 0.853840%. AutoPEFT: 10*2*768*(48 + 12) = 921,600. */
    k = count_ok("sa=48 pa=0 pt=12 layers=111011110111", &b, 800);
    ASSERT_EQ_U(k.module_trainable[SPACE_SA], 745440);
    ASSERT_EQ_U(k.module_trainable[SPACE_PT], 12927776);
    ASSERT_EQ_U(k.module_deployed[SPACE_PT], 184320);
    ASSERT_EQ_U(k.modules_trainable, 13673216);
    ASSERT_EQ_U(k.modules_deployed, 929760);
    ASSERT_EQ_U(k.trainable, 14265346);
    ASSERT_EQ_U(k.deployed, 1521890);
    ASSERT_NEAR(k.percent, 0.8538395892401225, 1e-12);
    ASSERT_EQ_U(k.approx_autopeft, 921600);

    /* Two layers (the bottom and the top) with sa=3 and pa=1:
     * SA 3: 2,304 + 3 + 2,304 + 768 = 5,379; PA 1: 768 + 1 + 768 + 768 = 2,305; per layer 7,684;
     * x2 = 15,368. AutoPEFT: 2*2*768*(3 + 1) = 12,288. */
    k = count_ok("sa=3 pa=1 pt=0 layers=100000000001", &b, 800);
    ASSERT_EQ_U(k.module_trainable[SPACE_SA], 10758);
    ASSERT_EQ_U(k.module_trainable[SPACE_PA], 4610);
    ASSERT_EQ_U(k.modules_deployed, 15368);
    ASSERT_EQ_U(k.approx_autopeft, 12288);

    /* The largest configuration of the default space: sa = pa = pt = 768 everywhere.
     * SA: 589,824 + 768 + 589,824 + 768 = 1,181,184 per layer, PA the same; PT deployed
     * 2*768*768 = 1,179,648 per layer; 3,542,016 per layer, x12 = 42,504,192 deployed.
     * PT training: 589,824 + 615,200 + 12 * 1,230,336 = 15,969,056; trainable modules
     * 2 * 14,174,208 + 15,969,056 = 44,317,472. AutoPEFT: 12*2*768*2304 = 42,467,328. */
    k = count_ok("sa=768 pa=768 pt=768 layers=111111111111", &b, 800);
    ASSERT_EQ_U(k.modules_deployed, 42504192);
    ASSERT_EQ_U(k.module_trainable[SPACE_PT], 15969056);
    ASSERT_EQ_U(k.modules_trainable, 44317472);
    ASSERT_EQ_U(k.approx_autopeft, 42467328);

    /* Separate masks: sa=48 in layers 0-1, pt=12 in layers 8-11.
     * SA 2 * 74,544 = 149,088; PT training 9,216 + 615,200 + 4 * 1,230,336 = 5,545,760,
     * deployed 4*2*12*768 = 73,728. AutoPEFT: 2*2*768*48 + 4*2*768*12 = 147,456 + 73,728. */
    k = count_ok("sa=48@110000000000 pt=12@000000001111", &b, 800);
    ASSERT_EQ_U(k.module_trainable[SPACE_SA], 149088);
    ASSERT_EQ_U(k.module_trainable[SPACE_PT], 5545760);
    ASSERT_EQ_U(k.module_deployed[SPACE_PT], 73728);
    ASSERT_EQ_U(k.modules_deployed, 149088 + 73728);
    ASSERT_EQ_U(k.approx_autopeft, 221184);

    /* Nothing on: only the head trains. */
    k = count_ok("sa=0 pa=0 pt=0 layers=000000000000", &b, 800);
    ASSERT_EQ_U(k.modules_trainable, 0);
    ASSERT_EQ_U(k.trainable, 592130);
    ASSERT_EQ_U(k.deployed, 592130);
    ASSERT_TRUE(k.percent == 0.0);
}

/* BERT-large, H = 1024, 24 layers, backbone 334,092,288, head 1,051,650. */
TEST(counts_bert_large)
{
    shape_t b;
    space_counts_t k;

    ASSERT_OK(shape_preset("bert-large", &b));

    /* SA D=64 in all 24 layers: 65,536 + 64 + 65,536 + 1,024 = 132,160 per layer; x24 =
     * 3,171,840. AutoPEFT: 24*2*1024*64 = 3,145,728. */
    k = count_ok("sa=64 layers=111111111111111111111111", &b, 800);
    ASSERT_EQ_U(k.modules_trainable, 3171840);
    ASSERT_EQ_U(k.modules_deployed, 3171840);
    ASSERT_EQ_U(k.trainable, 3171840 + 1051650);
    ASSERT_EQ_U(k.backbone, 334092288);
    ASSERT_EQ_U(k.approx_autopeft, 3145728);

    /* PT l=16 in the bottom 12 layers: embedding 16*1024 = 16,384; Linear(1024, 800) 819,200 +
     * 800 = 820,000; per layer Linear(800, 2048) 1,638,400 + 2,048 = 1,640,448, x12 =
     * 19,685,376; total 20,521,760. Deployed 12*2*16*1024 = 393,216. */
    k = count_ok("pt=16 layers=111111111111000000000000", &b, 800);
    ASSERT_EQ_U(k.module_trainable[SPACE_PT], 20521760);
    ASSERT_EQ_U(k.module_deployed[SPACE_PT], 393216);
    ASSERT_EQ_U(k.approx_autopeft, 393216);

    /* PA D=1024 in the top layer only: 1,048,576 + 1,024 + 1,048,576 + 1,024 = 2,099,200.
     * AutoPEFT: 1*2*1024*1024 = 2,097,152. */
    k = count_ok("pa=1024 layers=000000000000000000000001", &b, 800);
    ASSERT_EQ_U(k.modules_deployed, 2099200);
    ASSERT_EQ_U(k.approx_autopeft, 2097152);

    /* sa=8, pa=8, pt=8 and LoRA r=4 in every other layer (12 layers):
     * SA 8,192 + 8 + 8,192 + 1,024 = 17,416; PA 17,416; LoRA 2*(4,096 + 4,096) = 16,384;
     * 51,216 per layer, x12 = 614,592. PT training 8,192 + 820,000 + 19,685,376 = 20,513,568,
     * deployed 12*2*8*1024 = 196,608. Deployed modules 811,200 = 0.242807% of the backbone.
     * AutoPEFT: 12*2*1024*(8 + 8 + 8 + 4) = 688,128. */
    k = count_ok("sa=8 pa=8 pt=8 lora=4 layers=101010101010101010101010", &b, 800);
    ASSERT_EQ_U(k.module_trainable[SPACE_SA], 12 * 17416);
    ASSERT_EQ_U(k.module_trainable[SPACE_PA], 12 * 17416);
    ASSERT_EQ_U(k.module_trainable[SPACE_LORA], 12 * 16384);
    ASSERT_EQ_U(k.module_trainable[SPACE_PT], 20513568);
    ASSERT_EQ_U(k.modules_trainable, 614592 + 20513568);
    ASSERT_EQ_U(k.modules_deployed, 811200);
    ASSERT_EQ_U(k.deployed, 811200 + 1051650);
    ASSERT_NEAR(k.percent, 0.24280716111591297, 1e-12);
    ASSERT_EQ_U(k.approx_autopeft, 688128);
}

TEST(count_rejects_what_does_not_fit)
{
    shape_t b;
    space_config_t c = parse_ok("sa=48 layers=111111", 6);
    space_counts_t k;

    ASSERT_OK(shape_preset("bert-base", &b));
    ASSERT_ERR(space_config_count(&c, &b, 800, &k), ERR_INVAL); /* 6 layers vs 12 */
    ASSERT_CONTAINS(err_msg(), "6 layers");
    c = parse_ok("sa=48 layers=111111111111", 12);
    ASSERT_ERR(space_config_count(&c, &b, 0, &k), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "bottleneck");
    ASSERT_ERR(space_config_count(&c, &b, SPACE_MAX_PREFIX_BOTTLENECK + 1, &k), ERR_INVAL);
    b.heads = 7;
    ASSERT_ERR(space_config_count(&c, &b, 800, &k), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "heads");
}

/* Every module at the size cap in all layers of the largest shape: no product may wrap. */
TEST(counts_at_the_caps_do_not_overflow)
{
    shape_t s;
    space_config_t c;
    space_counts_t k;
    long double h = SHAPE_MAX_HIDDEN, d = SPACE_MAX_SIZE, n = SHAPE_MAX_LAYERS,
                b = SPACE_MAX_PREFIX_BOTTLENECK;

    shape_default(&s, SHAPE_MAX_HIDDEN, SHAPE_MAX_LAYERS);
    memset(&c, 0, sizeof c);
    c.layers = SHAPE_MAX_LAYERS;
    for (int m = 0; m < SPACE_NMODULES; m++) {
        c.size[m] = SPACE_MAX_SIZE;
        for (int l = 0; l < SHAPE_MAX_LAYERS; l++)
            space_config_set_layer(&c, m, l, true);
    }
    ASSERT_OK(space_config_count(&c, &s, SPACE_MAX_PREFIX_BOTTLENECK, &k));
    ASSERT_TRUE((long double)k.module_trainable[SPACE_SA] == n * (2 * h * d + d + h));
    ASSERT_TRUE((long double)k.module_trainable[SPACE_PT] ==
                d * h + h * b + b + n * (b * 2 * h + 2 * h));
    ASSERT_TRUE((long double)k.module_deployed[SPACE_PT] == n * 2 * d * h);
    ASSERT_TRUE((long double)k.module_trainable[SPACE_LORA] == n * 4 * h * d);
    ASSERT_TRUE((long double)k.modules_trainable ==
                (long double)k.module_trainable[0] + k.module_trainable[1] +
                    k.module_trainable[2] + k.module_trainable[3]);
}

/* ---- ladders and spaces -------------------------------------------------------------------- */

static void assert_ladder(const space_t *s, space_module_t m, const uint32_t *want, int n)
{
    ASSERT_EQ(space_nlevels(s, m), n);
    for (int k = 0; k < n; k++) {
        ASSERT_EQ_U(space_level_size(s, m, k), want[k]);
        ASSERT_EQ(space_level_of(s, m, want[k]), k);
    }
}

TEST(default_ladders)
{
    static const uint32_t l768[] = {768, 384, 192, 96, 48, 24, 12, 6, 3, 1, 0};
    static const uint32_t l1024[] = {1024, 512, 256, 128, 64, 32, 16, 8, 4, 1, 0};
    static const uint32_t l256[] = {256, 128, 64, 32, 16, 8, 4, 2, 1, 0}; /* repeated 1 dropped */
    static const uint32_t l100[] = {100, 50, 25, 12, 6, 3, 1, 0};
    static const uint32_t l16[] = {16, 8, 4, 2, 1, 0};
    static const uint32_t l1[] = {1, 0};
    static const uint32_t off[] = {0};
    space_t *s;

    s = new_space(768, 12, false, false);
    for (int m = SPACE_SA; m <= SPACE_PT; m++)
        assert_ladder(s, m, l768, 11);
    assert_ladder(s, SPACE_LORA, off, 1);
    ASSERT_EQ(space_level_of(s, SPACE_SA, 50), -1);
    ASSERT_EQ_U(space_level_size(s, SPACE_SA, 11), 0); /* outside: 0, never garbage */
    ASSERT_EQ_U(space_level_size(s, SPACE_SA, -1), 0);
    space_free(&s);
    ASSERT_TRUE(s == NULL);
    space_free(&s); /* harmless twice */

    s = new_space(1024, 24, false, false);
    assert_ladder(s, SPACE_PT, l1024, 11);
    space_free(&s);
    s = new_space(256, 4, false, false);
    assert_ladder(s, SPACE_SA, l256, 10);
    space_free(&s);
    s = new_space(100, 2, false, false);
    assert_ladder(s, SPACE_PA, l100, 8);
    space_free(&s);
    s = new_space(16, 3, false, false);
    assert_ladder(s, SPACE_SA, l16, 6);
    space_free(&s);
    s = new_space(1, 1, false, false);
    assert_ladder(s, SPACE_SA, l1, 2);
    space_free(&s);
}

TEST(lora_ladder_is_capped_at_the_width)
{
    static const uint32_t full[] = {64, 32, 16, 8, 4, 2, 1, 0};
    static const uint32_t narrow[] = {16, 8, 4, 2, 1, 0};
    space_t *s = new_space(768, 12, true, false);

    assert_ladder(s, SPACE_LORA, full, 8);
    ASSERT_EQ(space_dims(s), 4 + 12);
    space_free(&s);
    s = new_space(16, 2, true, false);
    assert_ladder(s, SPACE_LORA, narrow, 6);
    space_free(&s);
}

TEST(given_ladders_are_sorted_and_checked)
{
    static const uint32_t want[] = {96, 48, 0};
    space_opts_t o;
    space_t *s;

    space_opts_default(&o, 768, 12);
    ASSERT_OK(space_opts_parse_sizes(&o, SPACE_SA, "48,0,96"));
    ASSERT_OK(space_opts_parse_sizes(&o, SPACE_PA, "0"));
    ASSERT_OK(space_opts_parse_sizes(&o, SPACE_PT, "12"));
    s = space_new(&o);
    ASSERT_NOT_NULL(s);
    assert_ladder(s, SPACE_SA, want, 3);
    ASSERT_EQ(space_nlevels(s, SPACE_PA), 1);
    ASSERT_EQ(space_nlevels(s, SPACE_PT), 1);
    /* pt is always on (12), pa never: 3 sa levels x 4095 masks */
    ASSERT_NEAR(space_cardinality(s), 3.0 * 4095, 0);
    ASSERT_EQ(space_dims(s), 1 + 12);
    space_free(&s);

    static const struct {
        const char *list;
        int code;
        const char *says;
    } bad[] = {
        {"", ERR_PARSE, "empty"},
        {"768,,0", ERR_PARSE, "separated by commas"},
        {"768,0,", ERR_PARSE, "separated by commas"},
        {"a", ERR_PARSE, "non-negative integers"},
        {"-1", ERR_PARSE, "non-negative integers"},
        {"768, 0", ERR_PARSE, "'768, 0'"},
        {"48,48", ERR_PARSE, "twice"},
        {"1048577", ERR_RANGE, "cap"},
        {"99999999999999999999999999", ERR_RANGE, "cap"},
        {"1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", ERR_RANGE, "more than 16"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        space_opts_default(&o, 768, 12);
        ASSERT_ERR(space_opts_parse_sizes(&o, SPACE_SA, bad[i].list), bad[i].code);
        ASSERT_CONTAINS(err_msg(), bad[i].says);
        ASSERT_CONTAINS(err_msg(), "sa sizes");
        ASSERT_EQ(o.nsizes[SPACE_SA], 0); /* untouched */
    }
    ASSERT_OK(space_opts_parse_sizes(&o, SPACE_SA, "1048576"));
}

TEST(bad_spaces_are_refused)
{
    space_opts_t o;

    space_opts_default(&o, 0, 12);
    ASSERT_TRUE(space_new(&o) == NULL);
    ASSERT_CONTAINS(err_msg(), "hidden");
    space_opts_default(&o, 768, 0);
    ASSERT_TRUE(space_new(&o) == NULL);
    ASSERT_CONTAINS(err_msg(), "layers");
    space_opts_default(&o, 768, SPACE_MAX_LAYERS + 1);
    ASSERT_TRUE(space_new(&o) == NULL);
    space_opts_default(&o, 768, 12);
    o.nsizes[SPACE_SA] = SPACE_MAX_LEVELS + 1;
    ASSERT_TRUE(space_new(&o) == NULL);
    space_opts_default(&o, 768, 12);
    o.nsizes[SPACE_PA] = 2;
    o.sizes[SPACE_PA][0] = o.sizes[SPACE_PA][1] = 8;
    ASSERT_TRUE(space_new(&o) == NULL);
    ASSERT_CONTAINS(err_msg(), "twice");
    space_opts_default(&o, 768, 12);
    o.nsizes[SPACE_PT] = 1;
    o.sizes[SPACE_PT][0] = SPACE_MAX_SIZE + 1;
    ASSERT_TRUE(space_new(&o) == NULL);
    ASSERT_CONTAINS(err_msg(), "cap");
    space_opts_default(&o, 768, 12);
    for (int m = 0; m < 3; m++)
        ASSERT_OK(space_opts_parse_sizes(&o, m, "0"));
    ASSERT_TRUE(space_new(&o) == NULL);
    ASSERT_CONTAINS(err_msg(), "no configuration is valid");
    ASSERT_TRUE(space_new(NULL) == NULL);
}

TEST(cardinality_of_autopeft_spaces)
{
    space_t *s = new_space(768, 12, false, false);

    /* (11^3 - 1) non-all-off level triples x (2^12 - 1) non-empty masks */
    ASSERT_NEAR(space_cardinality(s), 1330.0 * 4095.0, 0);
    ASSERT_EQ(space_dims(s), 15);
    ASSERT_EQ(space_max_neighbours(s), 12 + 6);
    space_free(&s);
    s = new_space(1024, 24, false, false);
    ASSERT_NEAR(space_cardinality(s), 1330.0 * 16777215.0, 0); /* 22,313,695,950 */
    space_free(&s);
    s = new_space(768, 12, true, true);
    /* each module: off, or one of its non-zero sizes with one of 4095 masks */
    ASSERT_REL(space_cardinality(s),
               (1 + 10 * 4095.0) * (1 + 10 * 4095.0) * (1 + 10 * 4095.0) * (1 + 7 * 4095.0) - 1,
               1e-12, 1);
    ASSERT_EQ(space_dims(s), 4 + 4 * 12);
    ASSERT_EQ(space_max_neighbours(s), 4 * 12 + 8);
    space_free(&s);
}

/* Collects the canonical texts of every valid configuration reachable by brute force: all sizes
 * of every module's ladder crossed with every mask of every module (independent masks, so that
 * the shared-mask rule is exercised by space_check), canonicalised, deduplicated by text. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static long brute_force_valid(const space_t *s, int nmodules)
{
    int layers = space_layers(s), nmask = 1 << layers;
    long combos = 1, nvalid = 0, distinct = 0;
    int radix[SPACE_NMODULES];
    char **texts;

    for (int m = 0; m < nmodules; m++) {
        radix[m] = space_nlevels(s, m) * nmask;
        combos *= radix[m];
    }
    texts = calloc((size_t)combos, sizeof *texts);
    ASSERT_NOT_NULL(texts);
    for (long i = 0; i < combos; i++) {
        space_config_t c;
        long r = i;
        char buf[SPACE_TEXT_MAX];

        memset(&c, 0, sizeof c);
        c.layers = layers;
        for (int m = 0; m < nmodules; m++) {
            int digit = (int)(r % radix[m]);
            r /= radix[m];
            c.size[m] = space_level_size(s, m, digit / nmask);
            c.mask[m][0] = (uint64_t)(digit % nmask);
        }
        space_config_canonicalise(&c);
        if (space_check(s, &c) != 0)
            continue;
        /* every valid one also round-trips through the encoding and the text form */
        double x[64];
        space_config_t back;
        ASSERT_TRUE(space_dims(s) <= 64);
        space_encode(s, &c, x);
        ASSERT_OK(space_decode(s, x, &back));
        ASSERT_TRUE(space_config_equal(&back, &c));
        ASSERT_OK(space_config_format(&c, buf, sizeof buf));
        back = parse_ok(buf, layers);
        ASSERT_TRUE(space_config_equal(&back, &c));
        texts[nvalid] = strdup(buf);
        ASSERT_NOT_NULL(texts[nvalid]);
        nvalid++;
    }
    qsort(texts, (size_t)nvalid, sizeof *texts, cmp_str);
    for (long i = 0; i < nvalid; i++)
        distinct += i == 0 || strcmp(texts[i], texts[i - 1]) != 0;
    for (long i = 0; i < nvalid; i++)
        free(texts[i]);
    free(texts);
    return distinct;
}

TEST(cardinality_matches_brute_force)
{
    space_t *s;

    /* hidden 16: ladder 16, 8, 4, 2, 1, 0 (6 levels); 3 layers */
    s = new_space(16, 3, false, false);
    ASSERT_NEAR(space_cardinality(s), (216 - 1) * 7, 0);
    ASSERT_EQ(brute_force_valid(s, 3), 1505);
    space_free(&s);

    s = new_space(16, 3, false, true);
    ASSERT_NEAR(space_cardinality(s), 36.0 * 36 * 36 - 1, 0); /* (1 + 5*7)^3 - 1 */
    ASSERT_EQ(brute_force_valid(s, 3), 46655);
    space_free(&s);

    /* with LoRA (ranks capped at 16: 6 levels), 2 layers */
    s = new_space(16, 2, true, false);
    ASSERT_NEAR(space_cardinality(s), (1296 - 1) * 3, 0);
    ASSERT_EQ(brute_force_valid(s, 4), 3885);
    space_free(&s);
    s = new_space(16, 2, true, true);
    ASSERT_NEAR(space_cardinality(s), 16.0 * 16 * 16 * 16 - 1, 0);
    ASSERT_EQ(brute_force_valid(s, 4), 65535);
    space_free(&s);

    /* a module that cannot be off: sa in {8, 4}, pa and pt off, 2 layers: 2 x 3 */
    space_opts_t o;
    space_opts_default(&o, 16, 2);
    ASSERT_OK(space_opts_parse_sizes(&o, SPACE_SA, "8,4"));
    ASSERT_OK(space_opts_parse_sizes(&o, SPACE_PA, "0"));
    ASSERT_OK(space_opts_parse_sizes(&o, SPACE_PT, "0"));
    s = space_new(&o);
    ASSERT_NOT_NULL(s);
    ASSERT_NEAR(space_cardinality(s), 6, 0);
    ASSERT_EQ(brute_force_valid(s, 3), 6);
    space_free(&s);
}

/* ---- validity -------------------------------------------------------------------------------- */

TEST(check_explains_what_does_not_fit)
{
    space_t *s = new_space(768, 12, false, false);
    space_config_t c;

    c = parse_ok("sa=48 pa=0 pt=12 layers=111011110111", 12);
    ASSERT_OK(space_check(s, &c));
    c = parse_ok("sa=50 layers=111011110111", 12);
    ASSERT_ERR(space_check(s, &c), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "sa=50 is not one of");
    ASSERT_CONTAINS(err_msg(), "768, 384");
    c = parse_ok("sa=0 pa=0 pt=0 layers=111111111111", 12);
    ASSERT_ERR(space_check(s, &c), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "no module is on");
    c = parse_ok("sa=48 layers=000000000000", 12); /* parsed canonical: all off */
    ASSERT_ERR(space_check(s, &c), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "no module is on");
    space_config_set_layer(&c, SPACE_SA, 0, false);
    c.size[SPACE_SA] = 48; /* a size but no layer, as built by hand */
    ASSERT_ERR(space_check(s, &c), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "no layer is on");
    c = parse_ok("sa=48@110000000000 pt=12@000000001111", 12);
    ASSERT_ERR(space_check(s, &c), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "sa and pt are in different layers");
    c = parse_ok("lora=8 layers=111111111111", 12);
    ASSERT_ERR(space_check(s, &c), ERR_INVAL); /* no LoRA in the default space */
    ASSERT_CONTAINS(err_msg(), "lora=8");
    c = parse_ok("sa=48 layers=111111", 6);
    ASSERT_ERR(space_check(s, &c), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "6 layers");
    space_free(&s);

    s = new_space(768, 12, true, true);
    c = parse_ok("sa=48@110000000000 pt=12@000000001111 lora=8@111111111111", 12);
    ASSERT_OK(space_check(s, &c));
    c = parse_ok("lora=5 layers=111111111111", 12);
    ASSERT_ERR(space_check(s, &c), ERR_INVAL);
    space_free(&s);

    /* a module that must stay on */
    space_opts_t o;
    space_opts_default(&o, 768, 12);
    ASSERT_OK(space_opts_parse_sizes(&o, SPACE_SA, "48,96"));
    s = space_new(&o);
    ASSERT_NOT_NULL(s);
    c = parse_ok("pt=12 layers=111111111111", 12);
    ASSERT_ERR(space_check(s, &c), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "sa is off");
    space_free(&s);
}

/* ---- sampling -------------------------------------------------------------------------------- */

/* Level frequencies of 100k samples of BERT-base's space, against the law of a uniform draw over
 * the valid set: levels are independent of the mask, so conditioning on validity only removes
 * the all-off triple. P(level k) = (1/11) / (1 - 1/1331) for k < 10 and
 * (1/11)(1 - 1/121) / (1 - 1/1331) for off. A layer bit is on with probability
 * 2^11 / (2^12 - 1) = 2048/4095, a hair above 1/2, since the empty mask is rejected. Every sample
 * must also be valid, encode->decode to itself and survive format->parse. */
TEST_TIMEOUT(sampling_is_uniform_over_the_valid_set, 120)
{
    enum { N = 100000, L = 12, LEVELS = 11 };
    space_t *s = new_space(768, L, false, false);
    long level_count[3][LEVELS] = {{0}}, bit_count[L] = {0};
    space_config_t c, back;
    char text[SPACE_TEXT_MAX];
    double x[32];
    rng_t r;

    ASSERT_EQ(space_dims(s), 15);
    rng_seed(&r, 20230124);
    for (int i = 0; i < N; i++) {
        space_sample(s, &r, &c);
        ASSERT_OK(space_check(s, &c));
        for (int m = 0; m < 3; m++) {
            int k = space_level_of(s, m, c.size[m]);
            ASSERT_TRUE(k >= 0);
            level_count[m][k]++;
        }
        ASSERT_EQ_U(c.size[SPACE_LORA], 0);
        /* the shared mask: that of any active module */
        for (int m = 0; m < 3; m++) {
            if (!space_config_active(&c, m))
                continue;
            for (int l = 0; l < L; l++)
                bit_count[l] += space_config_layer(&c, m, l);
            break;
        }
        space_encode(s, &c, x);
        for (int d = 0; d < 15; d++)
            ASSERT_TRUE(x[d] >= 0.0 && x[d] <= 1.0);
        ASSERT_OK(space_decode(s, x, &back));
        ASSERT_TRUE(space_config_equal(&back, &c));
        ASSERT_EQ_U(space_config_hash(&back), space_config_hash(&c));
        ASSERT_OK(space_config_format(&c, text, sizeof text));
        ASSERT_OK(space_config_parse(text, L, &back));
        ASSERT_TRUE(space_config_equal(&back, &c));
    }
    double p_on = (1.0 / 11) / (1 - 1.0 / 1331), p_off = (1.0 / 11) * (1 - 1.0 / 121) / (1 - 1.0 / 1331);
    for (int m = 0; m < 3; m++) {
        double chi2 = 0;
        for (int k = 0; k < LEVELS; k++) {
            double e = N * (k == LEVELS - 1 ? p_off : p_on);
            chi2 += (level_count[m][k] - e) * (level_count[m][k] - e) / e;
        }
        printf("%s level chi2 %.2f (df 10, bound %.2f)\n", space_module_name(m), chi2,
               CHI2_9999_DF10);
        ASSERT_TRUE(chi2 < CHI2_9999_DF10);
    }
    double p_bit = 2048.0 / 4095.0, sd = sqrt(N * p_bit * (1 - p_bit));
    for (int l = 0; l < L; l++) {
        double z = (bit_count[l] - N * p_bit) / sd;
        printf("layer %d on in %ld samples (z %.2f)\n", l, bit_count[l], z);
        ASSERT_TRUE(fabs(z) < 4.5);
    }
    space_free(&s);
}

/* On a space small enough to list (hidden 4: sizes 4, 2, 1, 0; 2 layers; 63 x 3 = 189 valid
 * configurations) each configuration itself must come up equally often. */
TEST(sampling_hits_every_configuration_equally)
{
    enum { PER = 500 };
    space_t *s = new_space(4, 2, false, false);
    static space_config_t seen[189];
    long hits[189] = {0};
    int nseen = 0;
    double chi2 = 0;
    rng_t r;

    ASSERT_NEAR(space_cardinality(s), 189, 0);
    rng_seed(&r, 5);
    for (int i = 0; i < 189 * PER; i++) {
        space_config_t c;
        int j;
        space_sample(s, &r, &c);
        for (j = 0; j < nseen; j++)
            if (space_config_equal(&seen[j], &c))
                break;
        if (j == nseen) {
            ASSERT_LT(nseen, 189);
            seen[nseen++] = c;
        }
        hits[j]++;
    }
    ASSERT_EQ(nseen, 189);
    for (int j = 0; j < 189; j++)
        chi2 += (hits[j] - PER) * (double)(hits[j] - PER) / PER;
    printf("chi2 over 189 configurations: %.2f (df 188, bound %.2f)\n", chi2, CHI2_9999_DF188);
    ASSERT_TRUE(chi2 < CHI2_9999_DF188);
    space_free(&s);
}

/* Separate masks: every sample is valid, each active module has a non-empty mask of its own,
 * and each module's level is uniform given that not all are off. LoRA has 8 levels. */
TEST(sampling_with_separate_masks_and_lora)
{
    enum { N = 50000, L = 12 };
    space_t *s = new_space(768, L, true, true);
    long level_count[SPACE_NMODULES][11] = {{0}};
    long differ = 0;
    space_config_t c, back;
    char text[SPACE_TEXT_MAX];
    double x[64];
    rng_t r;

    ASSERT_EQ(space_dims(s), 52);
    rng_seed(&r, 11);
    for (int i = 0; i < N; i++) {
        space_sample(s, &r, &c);
        ASSERT_OK(space_check(s, &c));
        for (int m = 0; m < SPACE_NMODULES; m++) {
            level_count[m][space_level_of(s, m, c.size[m])]++;
            ASSERT_EQ(c.size[m] != 0, space_config_layer_count(&c, m) > 0);
        }
        if (space_config_active(&c, SPACE_SA) && space_config_active(&c, SPACE_PT))
            differ += memcmp(c.mask[SPACE_SA], c.mask[SPACE_PT], sizeof c.mask[0]) != 0;
        space_encode(s, &c, x);
        ASSERT_OK(space_decode(s, x, &back));
        ASSERT_TRUE(space_config_equal(&back, &c));
        ASSERT_OK(space_config_format(&c, text, sizeof text));
        ASSERT_OK(space_config_parse(text, L, &back));
        ASSERT_TRUE(space_config_equal(&back, &c));
    }
    ASSERT_GT(differ, N / 4); /* the masks are drawn independently */
    /* P(all off) = 1/(11^3 * 8); P(level) = (1/n) / (1 - P(all off)) for an on level, and
     * (1/n)(1 - P(others all off)) / (1 - P(all off)) for off. */
    double all_off = 1.0 / (11.0 * 11 * 11 * 8);
    for (int m = 0; m < SPACE_NMODULES; m++) {
        int n = space_nlevels(s, m);
        double chi2 = 0, others_off = all_off * n;
        for (int k = 0; k < n; k++) {
            double p = (1.0 / n) * (k == n - 1 ? 1 - others_off : 1) / (1 - all_off);
            chi2 += (level_count[m][k] - N * p) * (level_count[m][k] - N * p) / (N * p);
        }
        printf("%s level chi2 %.2f (df %d)\n", space_module_name(m), chi2, n - 1);
        ASSERT_TRUE(chi2 < (n == 11 ? CHI2_9999_DF10 : CHI2_9999_DF7));
    }
    space_free(&s);
}

TEST(sampling_is_reproducible_from_the_seed)
{
    space_t *s = new_space(1024, 24, false, false);
    rng_t a, b;

    rng_seed(&a, 99);
    rng_seed(&b, 99);
    for (int i = 0; i < 1000; i++) {
        space_config_t x, y;
        space_sample(s, &a, &x);
        space_sample(s, &b, &y);
        ASSERT_TRUE(space_config_equal(&x, &y));
        ASSERT_OK(space_check(s, &x));
    }
    space_free(&s);
}

/* ---- encoding -------------------------------------------------------------------------------- */

TEST(encoding_layout_and_names)
{
    space_t *s = new_space(768, 12, false, false);
    space_config_t c = parse_ok("sa=48 pa=0 pt=768 layers=100000000001", 12);
    double x[15];
    char name[32];

    space_encode(s, &c, x);
    ASSERT_NEAR(x[0], 6.0 / 10, 1e-15); /* sa 48 is level 4: (10 - 4) / 10 */
    ASSERT_NEAR(x[1], 0.0, 0);          /* off */
    ASSERT_NEAR(x[2], 1.0, 0);          /* largest */
    ASSERT_NEAR(x[3], 1.0, 0);
    for (int l = 1; l < 11; l++)
        ASSERT_NEAR(x[3 + l], 0.0, 0);
    ASSERT_NEAR(x[14], 1.0, 0);
    ASSERT_OK(space_dim_name(s, 0, name, sizeof name));
    ASSERT_STR_EQ(name, "sa");
    ASSERT_OK(space_dim_name(s, 2, name, sizeof name));
    ASSERT_STR_EQ(name, "pt");
    ASSERT_OK(space_dim_name(s, 14, name, sizeof name));
    ASSERT_STR_EQ(name, "layer11");
    ASSERT_ERR(space_dim_name(s, 15, name, sizeof name), ERR_RANGE);
    ASSERT_ERR(space_dim_name(s, -1, name, sizeof name), ERR_RANGE);
    ASSERT_ERR(space_dim_name(s, 14, name, 4), ERR_RANGE);
    space_free(&s);

    s = new_space(768, 12, true, true);
    ASSERT_OK(space_dim_name(s, 3, name, sizeof name));
    ASSERT_STR_EQ(name, "lora");
    ASSERT_OK(space_dim_name(s, 4, name, sizeof name));
    ASSERT_STR_EQ(name, "sa.layer0");
    ASSERT_OK(space_dim_name(s, 4 + 12 * 3 + 11, name, sizeof name));
    ASSERT_STR_EQ(name, "lora.layer11");
    space_free(&s);
}

TEST(decode_clamps_and_rounds)
{
    space_t *s = new_space(768, 12, false, false);
    space_config_t c;
    char text[SPACE_TEXT_MAX];
    /* sa: 0.96*10 = 9.6 -> 10 -> level 0 (768); pa: 0.55*10 = 5.5 -> 6 -> level 4 (48);
     * pt: 0.04*10 = 0.4 -> 0 -> off. bits: 0.49 off, 0.5 on, -3 off, 7 on, NaN off, 1 on ... */
    double x[15] = {0.96, 0.55, 0.04, 0.49, 0.5, -3, 7, NAN, 1, 0, 0, 0, 0.51, 0, 0.2};

    ASSERT_OK(space_decode(s, x, &c));
    ASSERT_OK(space_config_format(&c, text, sizeof text));
    ASSERT_STR_EQ(text, "sa=768 pa=48 pt=0 layers=010101000100");
    /* beyond the cube and NaN sizes */
    double y[15] = {5, -5, NAN, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    ASSERT_OK(space_decode(s, y, &c));
    ASSERT_OK(space_config_format(&c, text, sizeof text));
    ASSERT_STR_EQ(text, "sa=768 pa=0 pt=0 layers=111111111111");
    /* every size rounded to off: invalid, but out is filled and canonical */
    double z[15] = {0.01, 0.02, 0.03, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    ASSERT_ERR(space_decode(s, z, &c), ERR_INVAL);
    ASSERT_OK(space_config_format(&c, text, sizeof text));
    ASSERT_STR_EQ(text, "sa=0 pa=0 pt=0 layers=000000000000");
    /* no layer on */
    double w[15] = {1, 1, 1};
    ASSERT_ERR(space_decode(s, w, &c), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "no layer");
    /* each level's own value decodes to it, and so does anything within half a step */
    for (int k = 0; k < 11; k++) {
        double v = (10.0 - k) / 10.0;
        for (double e = -0.049; e <= 0.049; e += 0.007) {
            double u[15] = {v + e, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}; /* pa on */
            ASSERT_OK(space_decode(s, u, &c));
            ASSERT_EQ_U(c.size[SPACE_SA], space_level_size(s, SPACE_SA, k));
        }
    }
    space_free(&s);
}

/* ---- neighbours ------------------------------------------------------------------------------ */

/* The neighbour count worked out independently: each layer flip except one that would empty the
 * mask; each size step up or down inside the ladder, except the step that would turn off the
 * only module that is on. */
static int expected_neighbours(const space_t *s, const space_config_t *c)
{
    int n = 0, on = 0, bits = 0;

    for (int m = 0; m < SPACE_NMODULES; m++)
        on += c->size[m] != 0;
    for (int l = 0; l < space_layers(s); l++)
        for (int m = 0; m < SPACE_NMODULES; m++)
            if (c->size[m] != 0) {
                bits += space_config_layer(c, m, l);
                break;
            }
    n += bits == 1 ? space_layers(s) - 1 : space_layers(s);
    for (int m = 0; m < SPACE_NMODULES; m++) {
        int k = space_level_of(s, m, c->size[m]), nl = space_nlevels(s, m);
        if (k > 0)
            n++;
        if (k < nl - 1 && !(on == 1 && c->size[m] != 0 && space_level_size(s, m, k + 1) == 0))
            n++;
    }
    return n;
}

TEST(neighbours_are_valid_distinct_and_one_exchange_away)
{
    space_t *s = new_space(768, 12, false, false);
    int cap = space_max_neighbours(s), dims = space_dims(s);
    space_config_t c, out[64];
    double x[15], y[15];
    rng_t r;

    ASSERT_TRUE(cap <= 64);
    rng_seed(&r, 3);
    for (int i = 0; i < 5000; i++) {
        int n;
        space_sample(s, &r, &c);
        n = space_neighbours(s, &c, out, cap);
        ASSERT_EQ(n, expected_neighbours(s, &c));
        space_encode(s, &c, x);
        for (int j = 0; j < n; j++) {
            int changed = 0;
            ASSERT_OK(space_check(s, &out[j]));
            ASSERT_FALSE(space_config_equal(&out[j], &c));
            for (int i2 = 0; i2 < j; i2++)
                ASSERT_FALSE(space_config_equal(&out[j], &out[i2]));
            space_encode(s, &out[j], y);
            for (int d = 0; d < dims; d++) {
                if (x[d] == y[d])
                    continue;
                changed++;
                /* a size moves one level (a tenth), a bit flips */
                ASSERT_NEAR(fabs(x[d] - y[d]), d < 3 ? 0.1 : 1.0, 1e-12);
            }
            ASSERT_EQ(changed, 1);
        }
        /* cap limits what is written */
        ASSERT_EQ(space_neighbours(s, &c, out, 2), n < 2 ? n : 2);
    }
    /* a configuration outside the space has none */
    c = parse_ok("sa=50 layers=111111111111", 12);
    ASSERT_ERR(space_neighbours(s, &c, out, cap), ERR_INVAL);
    space_free(&s);
}

TEST(neighbours_of_a_corner)
{
    space_t *s = new_space(768, 12, false, false);
    space_config_t c = parse_ok("sa=1 layers=000001000000", 12), out[32];
    char text[SPACE_TEXT_MAX];
    int n = space_neighbours(s, &c, out, 32);

    /* 11 flips (not the only bit), sa up to 3 (not down to off: nothing would be on), pa and
     * pt up from off to their smallest size 1 */
    ASSERT_EQ(n, 11 + 1 + 2);
    ASSERT_OK(space_config_format(&out[11], text, sizeof text));
    ASSERT_STR_EQ(text, "sa=3 pa=0 pt=0 layers=000001000000");
    ASSERT_OK(space_config_format(&out[12], text, sizeof text));
    ASSERT_STR_EQ(text, "sa=1 pa=1 pt=0 layers=000001000000");
    ASSERT_OK(space_config_format(&out[0], text, sizeof text));
    ASSERT_STR_EQ(text, "sa=1 pa=0 pt=0 layers=100001000000");
    space_free(&s);
}

TEST(neighbours_with_separate_masks)
{
    space_t *s = new_space(768, 12, true, true);
    int cap = space_max_neighbours(s);
    space_config_t c, *out = calloc((size_t)cap, sizeof *out);
    rng_t r;

    ASSERT_NOT_NULL(out);
    rng_seed(&r, 4);
    for (int i = 0; i < 2000; i++) {
        int n, flips = 0, steps = 0;
        uint64_t all[SPACE_MASK_WORDS] = {0};

        space_sample(s, &r, &c);
        for (int m = 0; m < SPACE_NMODULES; m++)
            for (int w = 0; w < SPACE_MASK_WORDS; w++)
                all[w] |= c.mask[m][w];
        n = space_neighbours(s, &c, out, cap);
        ASSERT_TRUE(n > 0 && n <= cap);
        for (int j = 0; j < n; j++) {
            int module = -1, nmod = 0;
            ASSERT_OK(space_check(s, &out[j]));
            for (int i2 = 0; i2 < j; i2++)
                ASSERT_FALSE(space_config_equal(&out[j], &out[i2]));
            /* exactly one module differs */
            for (int m = 0; m < SPACE_NMODULES; m++)
                if (out[j].size[m] != c.size[m] ||
                    memcmp(out[j].mask[m], c.mask[m], sizeof c.mask[m]) != 0) {
                    module = m;
                    nmod++;
                }
            ASSERT_EQ(nmod, 1);
            int m = module;
            int k0 = space_level_of(s, m, c.size[m]), k1 = space_level_of(s, m, out[j].size[m]);
            if (k0 == k1) {
                /* one bit of its own mask */
                int bits = 0;
                for (int w = 0; w < SPACE_MASK_WORDS; w++)
                    bits += __builtin_popcountll(out[j].mask[m][w] ^ c.mask[m][w]);
                ASSERT_EQ(bits, 1);
                flips++;
            } else {
                ASSERT_EQ(abs(k0 - k1), 1);
                if (c.size[m] != 0 && out[j].size[m] != 0)
                    ASSERT_TRUE(memcmp(out[j].mask[m], c.mask[m], sizeof c.mask[m]) == 0);
                else if (c.size[m] == 0) /* switched on: the layers in use */
                    ASSERT_TRUE(memcmp(out[j].mask[m], all, sizeof all) == 0);
                steps++;
            }
        }
        /* flips: 12 per active module, less the ones that would empty a one-layer mask */
        int want_flips = 0;
        for (int m = 0; m < SPACE_NMODULES; m++)
            if (space_config_active(&c, m))
                want_flips += space_config_layer_count(&c, m) == 1 ? 11 : 12;
        ASSERT_EQ(flips, want_flips);
        ASSERT_EQ(flips + steps, n);
    }
    free(out);
    space_free(&s);
}

/* ---- text form ------------------------------------------------------------------------------- */

TEST(format_is_canonical)
{
    space_config_t c;
    char text[SPACE_TEXT_MAX];

    memset(&c, 0, sizeof c);
    c.layers = 12;
    c.size[SPACE_SA] = 48;
    c.size[SPACE_PT] = 12;
    c.size[SPACE_PA] = 7; /* no layers: inactive, printed as 0 */
    for (int l = 0; l < 12; l++) {
        bool on = l != 3 && l != 8;
        space_config_set_layer(&c, SPACE_SA, l, on);
        space_config_set_layer(&c, SPACE_PT, l, on);
    }
    space_config_set_layer(&c, SPACE_SA, 40, true); /* above the model: ignored */
    space_config_set_layer(&c, SPACE_PT, 40, true);
    ASSERT_OK(space_config_format(&c, text, sizeof text));
    ASSERT_STR_EQ(text, "sa=48 pa=0 pt=12 layers=111011110111");
    ASSERT_EQ(space_config_layer_count(&c, SPACE_SA), 11);
    space_config_canonicalise(&c);
    ASSERT_EQ(space_config_layer_count(&c, SPACE_SA), 10);
    ASSERT_EQ_U(c.size[SPACE_PA], 0);
    ASSERT_FALSE(space_config_layer(&c, SPACE_SA, 40));

    /* different masks: each active module carries its own */
    space_config_set_layer(&c, SPACE_PT, 0, false);
    ASSERT_OK(space_config_format(&c, text, sizeof text));
    ASSERT_STR_EQ(text, "sa=48@111011110111 pa=0 pt=12@011011110111");
    c = parse_ok(text, 12);
    ASSERT_OK(space_config_format(&c, text, sizeof text));
    ASSERT_STR_EQ(text, "sa=48@111011110111 pa=0 pt=12@011011110111");

    /* lora only when active */
    c = parse_ok("layers=000000000011 lora=8", 12);
    ASSERT_OK(space_config_format(&c, text, sizeof text));
    ASSERT_STR_EQ(text, "sa=0 pa=0 pt=0 lora=8 layers=000000000011");
    c = parse_ok("lora=0 sa=1 layers=000000000011", 12);
    ASSERT_OK(space_config_format(&c, text, sizeof text));
    ASSERT_STR_EQ(text, "sa=1 pa=0 pt=0 layers=000000000011");

    /* nothing on still prints, and parses back */
    c = parse_ok("sa=0@111111111111 pa=0", 12);
    ASSERT_OK(space_config_format(&c, text, sizeof text));
    ASSERT_STR_EQ(text, "sa=0 pa=0 pt=0 layers=000000000000");
    c = parse_ok(text, 12);
    ASSERT_FALSE(space_config_active(&c, SPACE_SA));

    /* room: exactly enough, one byte short */
    c = parse_ok("sa=48 layers=111111111111", 12);
    size_t need = strlen("sa=48 pa=0 pt=0 layers=111111111111") + 1;
    ASSERT_OK(space_config_format(&c, text, need));
    ASSERT_ERR(space_config_format(&c, text, need - 1), ERR_RANGE);
    ASSERT_STR_EQ(text, "");
}

/* The longest text the header allows for: four modules at the size cap, each with its own mask
 * of 256 layers. */
TEST(longest_text_fits)
{
    space_config_t c, back;
    char text[SPACE_TEXT_MAX];

    memset(&c, 0, sizeof c);
    c.layers = SPACE_MAX_LAYERS;
    for (int m = 0; m < SPACE_NMODULES; m++) {
        c.size[m] = SPACE_MAX_SIZE;
        for (int l = 0; l < SPACE_MAX_LAYERS; l++)
            space_config_set_layer(&c, m, l, (l + m) % 3 != 0);
    }
    ASSERT_OK(space_config_format(&c, text, sizeof text));
    ASSERT_OK(space_config_parse(text, SPACE_MAX_LAYERS, &back));
    ASSERT_TRUE(space_config_equal(&back, &c));
    ASSERT_TRUE(space_config_layer(&back, SPACE_LORA, 254)); /* (254 + 3) % 3 != 0 */
    ASSERT_FALSE(space_config_layer(&back, SPACE_LORA, 255));
    ASSERT_FALSE(space_config_layer(&back, SPACE_SA, 255)); /* 255 % 3 == 0 */
    ASSERT_TRUE(space_config_layer(&back, SPACE_PA, 255));
}

TEST(parse_accepts_any_order_and_white_space)
{
    space_config_t a = parse_ok("sa=48 pa=0 pt=12 layers=111011110111", 12);
    space_config_t b = parse_ok("\t layers=111011110111\npt=12   sa=48 \r\n", 12);
    space_config_t d = parse_ok("pt=12@111011110111 sa=48@111011110111", 12);
    space_config_t e = parse_ok("sa=048 pt=0012 layers=111011110111", 12);

    ASSERT_TRUE(space_config_equal(&a, &b));
    ASSERT_TRUE(space_config_equal(&a, &d));
    ASSERT_TRUE(space_config_equal(&a, &e));
    ASSERT_EQ_U(space_config_hash(&a), space_config_hash(&b));
    ASSERT_EQ(a.layers, 12);
    ASSERT_EQ_U(a.size[SPACE_SA], 48);
    ASSERT_TRUE(space_config_layer(&a, SPACE_PT, 0));
    ASSERT_FALSE(space_config_layer(&a, SPACE_PT, 3));
    /* an own mask beats layers= */
    a = parse_ok("sa=48@100000000000 pt=12 layers=000000000001", 12);
    ASSERT_TRUE(space_config_layer(&a, SPACE_SA, 0));
    ASSERT_FALSE(space_config_layer(&a, SPACE_SA, 11));
    ASSERT_TRUE(space_config_layer(&a, SPACE_PT, 11));
    /* the largest size */
    a = parse_ok("pt=1048576 layers=1", 1);
    ASSERT_EQ_U(a.size[SPACE_PT], SPACE_MAX_SIZE);
    /* different configurations hash differently (here) and compare unequal */
    b = parse_ok("pt=1048575 layers=1", 1);
    ASSERT_FALSE(space_config_equal(&a, &b));
    ASSERT_NE(space_config_hash(&a), space_config_hash(&b));
}

TEST(parse_errors_name_the_token)
{
    static const struct {
        const char *text;
        int code;
        const char *says;
    } bad[] = {
        {"", ERR_PARSE, "empty"},
        {" \t\n", ERR_PARSE, "empty"},
        {"sa=48 pa=0 pt=0", ERR_PARSE, "sa=48 has no layers"},
        {"sa=48 layers=11111111111", ERR_PARSE, "'layers=11111111111': the layer mask has 11 bits"},
        {"sa=48 layers=1111111111111", ERR_PARSE, "has 13 bits"},
        {"sa=48 layers=11111x111111", ERR_PARSE, "found 'x' at position 6"},
        {"sa=48 layers=", ERR_PARSE, "has 0 bits"},
        {"xx=1 layers=111111111111", ERR_PARSE, "'xx=1': unknown key"},
        {"SA=1 layers=111111111111", ERR_PARSE, "unknown key"},
        {"=1 layers=111111111111", ERR_PARSE, "unknown key"},
        {"sa=1 sa=2 layers=111111111111", ERR_PARSE, "'sa=2': 'sa' is given twice"},
        {"layers=111111111111 sa=1 layers=111111111111", ERR_PARSE, "'layers' is given twice"},
        {"sa=4x8 layers=111111111111", ERR_PARSE, "'sa=4x8': expected a size"},
        {"sa= layers=111111111111", ERR_PARSE, "'sa=': expected a size"},
        {"sa=-1 layers=111111111111", ERR_PARSE, "expected a size"},
        {"sa=+1 layers=111111111111", ERR_PARSE, "expected a size"},
        {"sa=1.5 layers=111111111111", ERR_PARSE, "expected a size"},
        {"sa=@111111111111", ERR_PARSE, "expected a size"},
        {"sa layers=111111111111", ERR_PARSE, "'sa': expected KEY=VALUE"},
        {"sa=1048577 layers=111111111111", ERR_RANGE, "over the cap"},
        {"sa=99999999999999999999999999999 layers=111111111111", ERR_RANGE, "over the cap"},
        {"sa=48@1111", ERR_PARSE, "'sa=48@1111': the layer mask has 4 bits"},
        {"sa=48@11111111111a", ERR_PARSE, "found 'a'"},
        {"sa=48@111111111111@1", ERR_PARSE, "found '@'"},
        {"sa=48 layers=111111111111 pt=12 \x01\x02", ERR_PARSE, "'?" "?': expected KEY=VALUE"},
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        space_config_t c;
        int rc = space_config_parse(bad[i].text, 12, &c);
        if (rc != bad[i].code)
            FAIL("parse '%s': got %s (%s), expected %s", bad[i].text, err_name(rc),
                 rc ? err_msg() : "no error", err_name(bad[i].code));
        ASSERT_CONTAINS(err_msg(), bad[i].says);
        ASSERT_CONTAINS(err_msg(), "configuration text");
    }
    /* a long garbage token is quoted, not copied whole */
    char big[2000];
    space_config_t c;
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ASSERT_ERR(space_config_parse(big, 12, &c), ERR_PARSE);
    ASSERT_CONTAINS(err_msg(), "zzz...");
    ASSERT_TRUE(strlen(err_msg()) < 300);
    ASSERT_ERR(space_config_parse("sa=1 layers=1", 0, &c), ERR_INVAL);
    ASSERT_ERR(space_config_parse("sa=1 layers=1", SPACE_MAX_LAYERS + 1, &c), ERR_INVAL);
    ASSERT_ERR(space_config_parse(NULL, 12, &c), ERR_INVAL);
}

TEST(layer_helpers)
{
    space_config_t c;

    memset(&c, 0, sizeof c);
    c.layers = SPACE_MAX_LAYERS;
    space_config_set_layer(&c, SPACE_PA, 0, true);
    space_config_set_layer(&c, SPACE_PA, 63, true);
    space_config_set_layer(&c, SPACE_PA, 64, true);
    space_config_set_layer(&c, SPACE_PA, 255, true);
    space_config_set_layer(&c, SPACE_PA, 256, true); /* outside: ignored */
    space_config_set_layer(&c, SPACE_PA, -1, true);
    ASSERT_EQ(space_config_layer_count(&c, SPACE_PA), 4);
    ASSERT_TRUE(space_config_layer(&c, SPACE_PA, 255));
    ASSERT_FALSE(space_config_layer(&c, SPACE_PA, 256));
    ASSERT_FALSE(space_config_layer(&c, SPACE_SA, 0));
    ASSERT_FALSE(space_config_active(&c, SPACE_PA)); /* size 0 */
    c.size[SPACE_PA] = 3;
    ASSERT_TRUE(space_config_active(&c, SPACE_PA));
    space_config_set_layer(&c, SPACE_PA, 63, false);
    ASSERT_EQ(space_config_layer_count(&c, SPACE_PA), 3);
    c.layers = 64; /* canonicalising clears layers 64 and up */
    space_config_canonicalise(&c);
    ASSERT_EQ(space_config_layer_count(&c, SPACE_PA), 1);
    ASSERT_STR_EQ(space_module_name(SPACE_SA), "sa");
    ASSERT_STR_EQ(space_module_name(SPACE_PA), "pa");
    ASSERT_STR_EQ(space_module_name(SPACE_PT), "pt");
    ASSERT_STR_EQ(space_module_name(SPACE_LORA), "lora");
}
