/* `autopeft space` as a user runs it: the built program, its output, its JSON and its exit
 * statuses. Numbers printed by the program are checked against the library (parsing each
 * printed configuration back), and the two commands of the issue against hand-computed counts. */
#include <jansson.h>

#include "common/shape.h"
#include "common/space.h"
#include "tests/harness.h"
#include "tests/integration/cli_util.h"

typedef cli_result_t run_t;

/* Runs `autopeft ARGS...`, stdin from /dev/null. */
#define RUN(...) CLI_RESULT(__VA_ARGS__)

static void run_free(run_t *r)
{
    cli_result_free(r);
}

TEST(help_texts)
{
    cli_check_help("space", (const char *const[]){"--sample N", "--separate-masks",
                                                   "sa=48 pa=0 pt=12 layers=111011110111", NULL});
}

/* The issue's first command: five samples of BERT-base's space with seed 1. Every printed row is
 * re-derived: the configuration parses, belongs to the space, and the library's counts for it
 * are the numbers printed beside it. The same seed prints the same table; another seed does not. */
TEST(sample_command_of_the_issue)
{
    run_t r = RUN("space", "--hidden", "768", "--layers", "12", "--sample", "5", "--seed", "1");
    run_t again = RUN("space", "--hidden", "768", "--layers", "12", "--sample", "5", "--seed", "1");
    run_t other = RUN("space", "--hidden", "768", "--layers", "12", "--sample", "5", "--seed", "2");
    space_opts_t o;
    space_t *sp;
    shape_t b;
    int rows = 0;

    printf("%s", r.out);
    ASSERT_EQ(r.status, 0);
    ASSERT_STR_EQ(r.err, "");
    ASSERT_STR_EQ(r.out, again.out);
    ASSERT_TRUE(strcmp(r.out, other.out) != 0);
    ASSERT_CONTAINS(r.out, "AutoPEFT approx");
    shape_default(&b, 768, 12);
    space_opts_default(&o, 768, 12);
    sp = space_new(&o);
    ASSERT_NOT_NULL(sp);
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
        unsigned long long trainable, deployed, approx;
        double percent;
        int used = 0;
        space_config_t c;
        space_counts_t k;

        if (sscanf(line, " %llu %llu %lf %llu %n", &trainable, &deployed, &percent, &approx,
                   &used) != 4 || used == 0)
            continue;
        rows++;
        ASSERT_OK(space_config_parse(line + used, 12, &c));
        ASSERT_OK(space_check(sp, &c));
        ASSERT_OK(space_config_count(&c, &b, 800, &k));
        ASSERT_EQ_U(trainable, k.trainable);
        ASSERT_EQ_U(deployed, k.deployed);
        ASSERT_EQ_U(approx, k.approx_autopeft);
        ASSERT_NEAR(percent, k.percent, 5e-5);
    }
    ASSERT_EQ(rows, 5);
    space_free(&sp);
    run_free(&r);
    run_free(&again);
    run_free(&other);
}

/* The issue's second command. By hand (test_space.c): SA 48 in 12 layers = 12 * 74,544 =
 * 894,528; head 592,130; total 1,486,658; backbone 108,891,648; 0.8215%; AutoPEFT 884,736. */
TEST(count_command_of_the_issue)
{
    run_t r = RUN("space", "--count", "sa=48 pa=0 pt=0 layers=111111111111");

    printf("%s", r.out);
    ASSERT_EQ(r.status, 0);
    ASSERT_STR_EQ(r.err, "");
    ASSERT_CONTAINS(r.out, "configuration  sa=48 pa=0 pt=0 layers=111111111111");
    ASSERT_CONTAINS(r.out, "in the space   yes");
    ASSERT_CONTAINS(r.out, "894528");
    ASSERT_CONTAINS(r.out, "884736");
    ASSERT_CONTAINS(r.out, "592130");
    ASSERT_CONTAINS(r.out, "1486658");
    ASSERT_CONTAINS(r.out, "108891648");
    ASSERT_CONTAINS(r.out, "0.8215%");
    ASSERT_CONTAINS(r.out, "0.8125%");
    run_free(&r);

    r = RUN("space", "--count", "sa=48 pa=0 pt=0 layers=111111111111", "--json");
    json_t *j = cli_json(r.out);
    ASSERT_EQ(r.status, 0);
    ASSERT_EQ_U(cli_json_u64(j, "modules_deployed"), 894528);
    ASSERT_EQ_U(cli_json_u64(j, "deployed"), 1486658);
    ASSERT_EQ_U(cli_json_u64(j, "trainable"), 1486658);
    ASSERT_EQ_U(cli_json_u64(j, "head"), 592130);
    ASSERT_EQ_U(cli_json_u64(j, "backbone"), 108891648);
    ASSERT_EQ_U(cli_json_u64(j, "approx_autopeft"), 884736);
    ASSERT_NEAR(json_real_value(json_object_get(j, "percent")), 100.0 * 894528 / 108891648,
                1e-12);
    ASSERT_TRUE(json_is_true(json_object_get(j, "in_space")));
    ASSERT_EQ(json_array_size(json_object_get(j, "modules")), SPACE_NMODULES);
    ASSERT_EQ_U(cli_json_u64(json_array_get(json_object_get(j, "modules"), 0), "trainable"),
                894528);
    json_decref(j);
    run_free(&r);
}

/* Prefix: trained through the MLP, deployed ejected; a configuration outside the space is still
 * counted, and says so. BERT-large pt=16 in 12 layers: 20,521,760 trained, 393,216 deployed
 * (test_space.c); with the head 21,573,410 and 1,444,866. */
TEST(count_prefix_on_bert_large)
{
    run_t r = RUN("space", "--shape", "bert-large", "--count",
                  "pt=16 layers=111111111111000000000000", "--json");
    json_t *j = cli_json(r.out);

    ASSERT_EQ(r.status, 0);
    ASSERT_EQ_U(cli_json_u64(j, "modules_trainable"), 20521760);
    ASSERT_EQ_U(cli_json_u64(j, "modules_deployed"), 393216);
    ASSERT_EQ_U(cli_json_u64(j, "trainable"), 21573410);
    ASSERT_EQ_U(cli_json_u64(j, "deployed"), 1444866);
    ASSERT_TRUE(json_is_true(json_object_get(j, "in_space")));
    json_decref(j);
    run_free(&r);

    r = RUN("space", "--count", "sa=50 layers=111111111111");
    ASSERT_EQ(r.status, 0);
    ASSERT_CONTAINS(r.out, "in the space   no: sa=50 is not one of");
    ASSERT_CONTAINS(r.out, "sa=50");
    run_free(&r);
}

TEST(describe_space)
{
    run_t r = RUN("space");

    ASSERT_EQ(r.status, 0);
    ASSERT_CONTAINS(r.out, "768 384 192 96 48 24 12 6 3 1 0");
    ASSERT_CONTAINS(r.out, "5446350 valid");
    ASSERT_CONTAINS(r.out, "108891648");
    ASSERT_CONTAINS(r.out, "592130");
    ASSERT_CONTAINS(r.out, "15 dimensions");
    run_free(&r);

    r = RUN("space", "--shape", "bert-large", "--lora", "--separate-masks", "--json");
    json_t *j = cli_json(r.out), *space = json_object_get(j, "space");
    ASSERT_EQ(r.status, 0);
    ASSERT_EQ(json_integer_value(json_object_get(space, "dims")), 4 + 4 * 24);
    ASSERT_TRUE(json_is_true(json_object_get(space, "separate_masks")));
    json_t *lora = json_array_get(json_object_get(space, "modules"), SPACE_LORA);
    ASSERT_STR_EQ(json_string_value(json_object_get(lora, "name")), "lora");
    ASSERT_EQ(json_array_size(json_object_get(lora, "sizes")), 8);
    ASSERT_EQ_U(cli_json_u64(json_object_get(j, "model"), "backbone"), 334092288);
    ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(j, "model"), "shape")),
                  "bert-large");
    json_decref(j);
    run_free(&r);

    /* small widths: the ladder's repeated 1 is dropped */
    r = RUN("space", "--hidden", "256", "--layers", "4", "--sizes-pt", "0");
    ASSERT_EQ(r.status, 0);
    ASSERT_CONTAINS(r.out, "256 128 64 32 16 8 4 2 1 0");
    ASSERT_CONTAINS(r.out, "(not searched)");
    run_free(&r);
}

TEST(json_of_every_action)
{
    run_t r = RUN("space", "--sample", "2000", "--seed", "7", "--json", "--lora");
    json_t *j = cli_json(r.out), *samples = json_object_get(j, "samples"), *v;
    space_opts_t o;
    space_t *sp;
    size_t i;

    ASSERT_EQ(r.status, 0);
    ASSERT_EQ(json_array_size(samples), 2000);
    ASSERT_EQ(json_integer_value(json_object_get(j, "seed")), 7);
    space_opts_default(&o, 768, 12);
    space_opts_enable_lora(&o);
    sp = space_new(&o);
    ASSERT_NOT_NULL(sp);
    json_array_foreach(samples, i, v)
    {
        space_config_t c;
        ASSERT_OK(space_config_parse(json_string_value(json_object_get(v, "config")), 12, &c));
        ASSERT_OK(space_check(sp, &c));
        ASSERT_TRUE(cli_json_u64(v, "trainable") >= cli_json_u64(v, "deployed"));
    }
    json_decref(j);
    run_free(&r);

    r = RUN("space", "--check", "sa=48 pa=0 pt=12 layers=111011110111", "--json");
    j = cli_json(r.out);
    ASSERT_EQ(r.status, 0);
    ASSERT_TRUE(json_is_true(json_object_get(j, "valid")));
    json_decref(j);
    run_free(&r);
    r = RUN("space", "--check", "sa=0 layers=111011110111", "--json");
    j = cli_json(r.out);
    ASSERT_EQ(r.status, 1);
    ASSERT_TRUE(json_is_false(json_object_get(j, "valid")));
    ASSERT_CONTAINS(json_string_value(json_object_get(j, "reason")), "no module is on");
    json_decref(j);
    run_free(&r);

    r = RUN("space", "--encode", "sa=48 pa=0 pt=768 layers=100000000001", "--json");
    j = cli_json(r.out);
    ASSERT_EQ(r.status, 0);
    ASSERT_EQ(json_integer_value(json_object_get(j, "dims")), 15);
    ASSERT_NEAR(json_real_value(json_array_get(json_object_get(j, "x"), 0)), 0.6, 1e-15);
    ASSERT_NEAR(json_real_value(json_array_get(json_object_get(j, "x"), 2)), 1.0, 0);
    ASSERT_STR_EQ(json_string_value(json_array_get(json_object_get(j, "names"), 14)), "layer11");
    json_decref(j);
    run_free(&r);

    r = RUN("space", "--neighbours", "sa=1 layers=000001000000", "--json");
    j = cli_json(r.out);
    ASSERT_EQ(r.status, 0);
    ASSERT_EQ(json_integer_value(json_object_get(j, "count")), 14);
    ASSERT_EQ(json_array_size(json_object_get(j, "neighbours")), 14);
    ASSERT_STR_EQ(json_string_value(json_object_get(
                      json_array_get(json_object_get(j, "neighbours"), 11), "change")),
                  "sa 1 -> 3");
    json_decref(j);
    run_free(&r);

    r = RUN("space", "--json");
    j = cli_json(r.out);
    ASSERT_NEAR(json_real_value(json_object_get(json_object_get(j, "space"), "cardinality")),
                5446350, 0);
    json_decref(j);
    run_free(&r);
    space_free(&sp);
}

TEST(text_of_check_encode_neighbours)
{
    run_t r = RUN("space", "--check", "sa=48 pa=0 pt=12 layers=111011110111");

    ASSERT_EQ(r.status, 0);
    ASSERT_CONTAINS(r.out, "in the space: sa=48 pa=0 pt=12 layers=111011110111");
    run_free(&r);
    r = RUN("space", "--check", "sa=48@110000000000 pt=12@000000001111");
    ASSERT_EQ(r.status, 1);
    ASSERT_CONTAINS(r.out, "not in the space");
    ASSERT_CONTAINS(r.out, "different layers");
    run_free(&r);
    r = RUN("space", "--check", "sa=48@110000000000 pt=12@000000001111", "--separate-masks");
    ASSERT_EQ(r.status, 0);
    run_free(&r);

    r = RUN("space", "--encode", "sa=48 layers=111111111111");
    ASSERT_EQ(r.status, 0);
    ASSERT_CONTAINS(r.out, "dims           15");
    ASSERT_CONTAINS(r.out, "sa             0.6\n");
    run_free(&r);
    r = RUN("space", "--encode", "sa=50 layers=111111111111");
    ASSERT_EQ(r.status, 1);
    ASSERT_CONTAINS(r.err, "--encode: the configuration is not in the space");
    run_free(&r);

    r = RUN("space", "--neighbours", "sa=48@110000000000 pt=12@000000001111",
            "--separate-masks");
    ASSERT_EQ(r.status, 0);
    ASSERT_CONTAINS(r.out, "sa layer 2 on");
    ASSERT_CONTAINS(r.out, "pa 0 -> 1");
    run_free(&r);
}

/* Bad usage: exit status 2, a message naming the flag and what it expected, nothing on stdout. */
TEST(bad_usage_exits_2_naming_the_flag)
{
    static const cli_bad_t bad[] = {
        {{"--sample"}, {"--sample needs a value", "number of configurations"}},
        {{"--sample", "0"}, {"--sample", "1..1000000"}},
        {{"--sample", "5", "--seed", "-1"}, {"--seed", "non-negative"}},
        {{"--seed", "3"}, {"--seed", "--sample"}},
        {{"--count", "sa=4x8 layers=111111111111"}, {"--count", "'sa=4x8'"}},
        {{"--count", "sa=48 layers=1111"}, {"--count", "4 bits"}},
        {{"--check", "foo=1"}, {"--check", "unknown key"}},
        {{"--sample", "5", "--count", "sa=1 layers=111111111111"}, {"alternatives", "--count"}},
        {{"--sizes-sa", "48,48"}, {"--sizes-sa", "twice"}},
        {{"--sizes-sa", "0", "--sizes-pa", "0", "--sizes-pt", "0"}, {"no configuration", ""}},
        {{"sa=48"}, {"unexpected argument 'sa=48'", "--count"}},
    };

    cli_check_model_bad_usage("space");
    cli_check_bad_usage("space", bad, sizeof bad / sizeof bad[0]);
}

/* --flag=value works like --flag value; flags may come in any order. */
TEST(flag_forms)
{
    run_t a = RUN("space", "--count=sa=48 layers=111111111111", "--shape=bert-base");
    run_t b = RUN("space", "--shape", "bert-base", "--count", "sa=48 layers=111111111111");

    ASSERT_EQ(a.status, 0);
    ASSERT_STR_EQ(a.out, b.out);
    run_free(&a);
    run_free(&b);
}
