/* Tests of common/space_config.c: exact parameter counts and the text form.
 *
 * Parameter counts are checked against arithmetic done by hand and written out beside each
 * check (never through the implementation's formulas), with AutoPEFT's approximation
 * L*2*H*D printed next to ours (run with --no-fork -t 'space_config.counts_*' to see it). */
#include "common/shape.h"
#include "common/space.h"
#include "tests/harness.h"

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

    /* Houlsby's adapters, bottleneck 48: two per layer, each as the serial adapter above,
     * 2 * 74,544 = 149,088 per layer; x12 = 1,789,056. AutoPEFT's formula counts both:
     * 2 * 12*2*768*48 = 1,769,472. */
    k = count_ok("ha=48 layers=111111111111", &b, 800);
    ASSERT_EQ_U(k.module_trainable[SPACE_HA], 1789056);
    ASSERT_EQ_U(k.module_deployed[SPACE_HA], 1789056);
    ASSERT_EQ_U(k.module_approx[SPACE_HA], 1769472);
    ASSERT_EQ_U(k.approx_autopeft, 1769472);
    ASSERT_EQ_U(k.modules_deployed, 1789056);
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
    ASSERT_TRUE((long double)k.module_trainable[SPACE_HA] == 2 * n * (2 * h * d + d + h));
    ASSERT_TRUE((long double)k.modules_trainable ==
                (long double)k.module_trainable[0] + k.module_trainable[1] +
                    k.module_trainable[2] + k.module_trainable[3] + k.module_trainable[4]);
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
    /* ha too, after lora, with its own mask when it differs */
    c = parse_ok("ha=8 lora=4 sa=1 layers=000000000011", 12);
    ASSERT_OK(space_config_format(&c, text, sizeof text));
    ASSERT_STR_EQ(text, "sa=1 pa=0 pt=0 lora=4 ha=8 layers=000000000011");
    c = parse_ok("ha=8@100000000000 sa=1@000000000011", 12);
    ASSERT_OK(space_config_format(&c, text, sizeof text));
    ASSERT_STR_EQ(text, "sa=1@000000000011 pa=0 pt=0 ha=8@100000000000");
    c = parse_ok("ha=0 sa=1 layers=000000000011", 12);
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

/* The longest text the header allows for: every module at the size cap, each with its own mask
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
