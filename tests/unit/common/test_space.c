/* Tests of common/space.c: ladders, validity, cardinality (against brute-force enumeration),
 * sampling (validity and chi-square against the law of a uniform draw over the valid set),
 * the GP's encoding and one-exchange neighbours. Configurations on their own (counts, text form)
 * are tested in test_space_config.c. */
#include "common/rng.h"
#include "common/shape.h"
#include "common/space.h"
#include "tests/harness.h"

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

typedef struct {
    uint64_t min_deployed, max_deployed; /* modules' deployed parameters over the valid set */
} bounds_t;

static long brute_force_valid(const space_t *s, int nmodules, bounds_t *b)
{
    shape_t shape;
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
    shape_default(&shape, space_hidden(s), layers);
    b->min_deployed = UINT64_MAX;
    b->max_deployed = 0;
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
        space_counts_t k;
        ASSERT_OK(space_config_count(&c, &shape, SPACE_PREFIX_BOTTLENECK, &k));
        if (k.modules_deployed < b->min_deployed)
            b->min_deployed = k.modules_deployed;
        if (k.modules_deployed > b->max_deployed)
            b->max_deployed = k.modules_deployed;
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

/* space_extremes' configurations are valid and their deployed counts are the least and the
 * most found by enumeration. */
static void assert_extremes(const space_t *s, const bounds_t *b)
{
    space_config_t lo, hi;
    space_counts_t klo, khi;
    shape_t shape;

    shape_default(&shape, space_hidden(s), space_layers(s));
    ASSERT_OK(space_extremes(s, &shape, SPACE_PREFIX_BOTTLENECK, &lo, &hi));
    ASSERT_OK(space_check(s, &lo));
    ASSERT_OK(space_check(s, &hi));
    ASSERT_OK(space_config_count(&lo, &shape, SPACE_PREFIX_BOTTLENECK, &klo));
    ASSERT_OK(space_config_count(&hi, &shape, SPACE_PREFIX_BOTTLENECK, &khi));
    ASSERT_EQ_U(klo.modules_deployed, b->min_deployed);
    ASSERT_EQ_U(khi.modules_deployed, b->max_deployed);
}

TEST(cardinality_and_extremes_match_brute_force)
{
    space_t *s;
    bounds_t b;

    /* hidden 16: ladder 16, 8, 4, 2, 1, 0 (6 levels); 3 layers */
    s = new_space(16, 3, false, false);
    ASSERT_NEAR(space_cardinality(s), (216 - 1) * 7, 0);
    ASSERT_EQ(brute_force_valid(s, 3, &b), 1505);
    assert_extremes(s, &b);
    space_free(&s);

    s = new_space(16, 3, false, true);
    ASSERT_NEAR(space_cardinality(s), 36.0 * 36 * 36 - 1, 0); /* (1 + 5*7)^3 - 1 */
    ASSERT_EQ(brute_force_valid(s, 3, &b), 46655);
    assert_extremes(s, &b);
    space_free(&s);

    /* with LoRA (ranks capped at 16: 6 levels), 2 layers */
    s = new_space(16, 2, true, false);
    ASSERT_NEAR(space_cardinality(s), (1296 - 1) * 3, 0);
    ASSERT_EQ(brute_force_valid(s, 4, &b), 3885);
    assert_extremes(s, &b);
    space_free(&s);
    s = new_space(16, 2, true, true);
    ASSERT_NEAR(space_cardinality(s), 16.0 * 16 * 16 * 16 - 1, 0);
    ASSERT_EQ(brute_force_valid(s, 4, &b), 65535);
    assert_extremes(s, &b);
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
    ASSERT_EQ(brute_force_valid(s, 3, &b), 6);
    assert_extremes(s, &b);
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

/* Houlsby's adapters given a ladder: one more ordinal dimension, sampled, encoded and decoded
 * like the others; with its {0} default they are out of the space. */
TEST(houlsby_adapters_join_the_space_by_their_ladder)
{
    space_opts_t o;
    space_t *s, *def;
    space_config_t c, back;
    double x[64];
    long on = 0;
    rng_t r;

    space_opts_default(&o, 768, 12);
    ASSERT_OK(space_opts_parse_sizes(&o, SPACE_HA, "0,16,64"));
    s = space_new(&o);
    ASSERT_NOT_NULL(s);
    def = new_space(768, 12, false, false);
    ASSERT_EQ(space_nlevels(s, SPACE_HA), 3);
    ASSERT_EQ_U(space_level_size(s, SPACE_HA, 0), 64);
    ASSERT_EQ(space_dims(s), space_dims(def) + 1);
    ASSERT_ERR(space_check(def, &(space_config_t){0}), ERR_INVAL);
    c = parse_ok("ha=16 layers=000000000011", 12);
    ASSERT_OK(space_check(s, &c));
    ASSERT_ERR(space_check(def, &c), ERR_INVAL);
    rng_seed(&r, 3);
    for (int i = 0; i < 3000; i++) {
        space_sample(s, &r, &c);
        ASSERT_OK(space_check(s, &c));
        on += space_config_active(&c, SPACE_HA);
        space_encode(s, &c, x);
        ASSERT_OK(space_decode(s, x, &back));
        ASSERT_TRUE(space_config_equal(&back, &c));
    }
    ASSERT_TRUE(on > 1700 && on < 2300);   /* two levels of three are on */
    space_free(&def);
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

/* BERT-base: the cheapest configuration is a one-token prefix in one layer (2*1*768 = 1,536
 * deployed), the dearest every module at 768 in every layer (42,504,192; test_space_config.c). */
TEST(extremes_of_bert_base)
{
    space_t *s = new_space(768, 12, false, false);
    space_config_t lo, hi;
    char text[SPACE_TEXT_MAX];
    shape_t b;

    ASSERT_OK(shape_preset("bert-base", &b));
    ASSERT_OK(space_extremes(s, &b, 800, &lo, &hi));
    ASSERT_OK(space_config_format(&lo, text, sizeof text));
    ASSERT_STR_EQ(text, "sa=0 pa=0 pt=1 layers=100000000000");
    ASSERT_OK(space_config_format(&hi, text, sizeof text));
    ASSERT_STR_EQ(text, "sa=768 pa=768 pt=768 layers=111111111111");
    ASSERT_OK(shape_preset("bert-large", &b));
    ASSERT_ERR(space_extremes(s, &b, 800, &lo, &hi), ERR_INVAL);
    space_free(&s);
}
