/* `autopeft baselines` as a user runs it: the built program, its table, its JSON and its exit
 * statuses. Every printed number is checked against the library (baselines.h), and the bert-base
 * rows the documentation quotes against their values. */
#include <jansson.h>

#include "common/shape.h"
#include "common/space.h"
#include "coordinator/search/baselines.h"
#include "tests/harness.h"
#include "tests/integration/cli_util.h"

typedef cli_result_t run_t;

/* Runs `autopeft ARGS...`, stdin from /dev/null. */
#define RUN(...) CLI_RESULT(__VA_ARGS__)

/* The table's row of NAME: the line that starts with it followed by a space, or NULL. */
static const char *row_of(const char *out, const char *name, char *buf, size_t len)
{
    size_t n = strlen(name);

    for (const char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        const char *end = strchr(p, '\n');
        size_t linelen = end ? (size_t)(end - p) : strlen(p);
        unsigned long long t, d;
        double pc;

        if (linelen < len && strncmp(p, name, n) == 0 && p[n] == ' ' &&
            sscanf(p + n, " %llu %llu %lf", &t, &d, &pc) == 3) {
            memcpy(buf, p, linelen);
            buf[linelen] = '\0';
            return buf;
        }
    }
    return NULL;
}

TEST(help_texts)
{
    cli_check_help("baselines", (const char *const[]){"--prefix-bottleneck N", "--name NAME",
                                                       "houlsby (serial", NULL});
}

/* Every built-in has a row whose numbers are the library's and whose configuration is its
 * canonical text; the bert-base figures of docs/baselines.md are what it prints. */
TEST(table_names_every_builtin)
{
    run_t r = RUN("baselines");
    shape_t s;
    char line[2048];

    printf("%s", r.out);
    ASSERT_EQ(r.status, 0);
    ASSERT_STR_EQ(r.err, "");
    ASSERT_CONTAINS(r.out, "model          bert-base: hidden 768, layers 12");
    ASSERT_CONTAINS(r.out, "backbone       108891648 parameters");
    ASSERT_OK(shape_preset("bert-base", &s));
    for (int i = 0; i < baseline_builtin_count(); i++) {
        const char *name = baseline_builtin_name(i), *row = row_of(r.out, name, line, sizeof line);
        unsigned long long t, d;
        double pc;
        int used = 0;
        baseline_t b;
        space_counts_t k;
        char text[SPACE_TEXT_MAX];

        if (!row)
            FAIL("no row for %s in:\n%s", name, r.out);
        ASSERT_EQ(sscanf(row + strlen(name), " %llu %llu %lf %n", &t, &d, &pc, &used), 3);
        ASSERT_OK(baseline_builtin(name, 768, 12, &b));
        ASSERT_OK(baseline_counts(&b, &s, 800, &k));
        ASSERT_OK(space_config_format(&b.config, text, sizeof text));
        ASSERT_EQ_U(t, k.trainable);
        ASSERT_EQ_U(d, k.deployed);
        ASSERT_NEAR(pc, k.percent, 5e-5);
        if (strcmp(name, "full-finetune") == 0)
            ASSERT_STR_EQ(row + strlen(name) + used, "full fine-tuning");
        else if (strcmp(name, "head-only") == 0)
            ASSERT_STR_EQ(row + strlen(name) + used, "head only");
        else
            ASSERT_STR_EQ(row + strlen(name) + used, text);
        /* and its about line */
        ASSERT_CONTAINS(r.out, baseline_builtin_about(i));
    }
    ASSERT_NOT_NULL(row_of(r.out, "pfeiffer", line, sizeof line));
    ASSERT_CONTAINS(line, " 1486658    1486658     0.8215  sa=48 pa=0 pt=0 layers=111111111111");
    ASSERT_NOT_NULL(row_of(r.out, "mam", line, sizeof line));
    ASSERT_CONTAINS(line, " 23086114    8236802     7.0204  sa=0 pa=384 pt=30 layers=111111111111");
    ASSERT_NOT_NULL(row_of(r.out, "full-finetune", line, sizeof line));
    ASSERT_CONTAINS(line, " 109483778  109483778   100.0000");
    /* prefix 10, mam's prefix 30 and LoRA are off AutoPEFT's bert-base ladders */
    ASSERT_CONTAINS(r.out, "in the space   pfeiffer, parallel, parallel-small (");
    cli_result_free(&r);
}

/* --json: one document; each entry's configuration parses back to the library's, its counts are
 * the library's, and so is its membership of AutoPEFT's space; a small model scales the sizes. */
TEST(json_parses_and_matches_the_library)
{
    run_t r = RUN("baselines", "--hidden", "8", "--layers", "2", "--json");
    json_t *j = cli_json(r.out), *list = json_object_get(j, "baselines"), *v;
    space_opts_t o;
    space_t *sp;
    shape_t s;
    size_t i;

    ASSERT_EQ(r.status, 0);
    ASSERT_EQ(json_array_size(list), (size_t)baseline_builtin_count());
    ASSERT_EQ_U(cli_json_u64(json_object_get(j, "model"), "backbone"), 250048);
    ASSERT_EQ_U(cli_json_u64(json_object_get(j, "model"), "prefix_bottleneck"), 800);
    ASSERT_TRUE(json_is_null(json_object_get(json_object_get(j, "model"), "shape")));
    shape_default(&s, 8, 2);
    space_opts_default(&o, 8, 2);
    sp = space_new(&o);
    ASSERT_NOT_NULL(sp);
    json_array_foreach(list, i, v)
    {
        const char *name = json_string_value(json_object_get(v, "name"));
        space_config_t c;
        space_counts_t k;
        baseline_t b;

        ASSERT_STR_EQ(name, baseline_builtin_name((int)i));
        ASSERT_STR_EQ(json_string_value(json_object_get(v, "about")),
                      baseline_builtin_about((int)i));
        ASSERT_OK(baseline_builtin(name, 8, 2, &b));
        ASSERT_OK(baseline_counts(&b, &s, 800, &k));
        ASSERT_OK(space_config_parse(json_string_value(json_object_get(v, "config")), 2, &c));
        ASSERT_TRUE(space_config_equal(&c, &b.config));
        ASSERT_EQ(json_is_true(json_object_get(v, "full_finetune")), b.full_finetune);
        ASSERT_EQ_U(cli_json_u64(v, "trainable"), k.trainable);
        ASSERT_EQ_U(cli_json_u64(v, "deployed"), k.deployed);
        ASSERT_EQ_U(cli_json_u64(v, "modules_trainable"), k.modules_trainable);
        ASSERT_EQ_U(cli_json_u64(v, "modules_deployed"), k.modules_deployed);
        ASSERT_NEAR(json_real_value(json_object_get(v, "percent")), k.percent, 1e-12);
        ASSERT_EQ(json_is_true(json_object_get(v, "in_autopeft_space")),
                  !b.full_finetune && space_check(sp, &b.config) == 0);
        ASSERT_EQ(json_is_true(json_object_get(v, "in_autopeft_space")),
                  strcmp(name, "pfeiffer") == 0 || strcmp(name, "parallel") == 0 ||
                      strcmp(name, "parallel-small") == 0);
    }
    space_free(&sp);
    ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(list, 0), "config")),
                  "sa=1 pa=0 pt=0 layers=11");
    json_decref(j);
    cli_result_free(&r);
}

/* --name keeps one; the prefix bottleneck counts in the trained parameters. */
TEST(json_of_one_baseline)
{
    run_t r = RUN("baselines", "--shape", "bert-large", "--name", "mam", "--json",
                  "--prefix-bottleneck", "512");
    json_t *j = cli_json(r.out), *list = json_object_get(j, "baselines"), *v;

    ASSERT_EQ(r.status, 0);
    ASSERT_EQ(json_array_size(list), 1);
    v = json_array_get(list, 0);
    ASSERT_STR_EQ(json_string_value(json_object_get(v, "name")), "mam");
    ASSERT_STR_EQ(json_string_value(json_object_get(v, "config")),
                  "sa=0 pa=512 pt=30 layers=111111111111111111111111");
    /* 24 x (2*1024*512 + 512 + 1024) + 30*1024 + (1024*512 + 512) + 24 x (512*2048 + 2048) */
    ASSERT_EQ_U(cli_json_u64(v, "modules_trainable"),
                24ull * (2 * 1024 * 512 + 512 + 1024) + 30 * 1024 + (1024 * 512 + 512) +
                    24ull * (512 * 2048 + 2048));
    json_decref(j);
    cli_result_free(&r);
}

TEST(name_shows_one)
{
    run_t r = RUN("baselines", "--name", "lora");
    char line[2048];

    ASSERT_EQ(r.status, 0);
    ASSERT_NOT_NULL(row_of(r.out, "lora", line, sizeof line));
    ASSERT_CONTAINS(line, "sa=0 pa=0 pt=0 lora=8 layers=111111111111");
    ASSERT_TRUE(row_of(r.out, "pfeiffer", line, sizeof line) == NULL);
    ASSERT_TRUE(strstr(r.out, "mam") == NULL);
    cli_result_free(&r);
}

/* Bad usage: exit status 2, a message naming the flag and what it expected, nothing on stdout. */
TEST(bad_usage_exits_2_naming_the_flag)
{
    static const cli_bad_t bad[] = {
        {{"--name"}, {"--name needs a value", "baseline name"}},
        {{"--name", "bitfit"}, {"--name: no baseline named 'bitfit'", "pfeiffer, houlsby, parallel"}},
        {{"pfeiffer"}, {"unexpected argument 'pfeiffer'", "--name"}},
    };

    cli_check_model_bad_usage("baselines");
    cli_check_bad_usage("baselines", bad, sizeof bad / sizeof bad[0]);
}
