/* Tests of coordinator/cli/flags.c: the table parser's value forms and refusals, integer flags,
 * and the model from the model flags. The messages themselves are checked where users see them,
 * in tests/integration/test_cli_space.c and test_cli_baselines.c. */
#include <stdbool.h>

#include "common/shape.h"
#include "coordinator/cli/flags.h"
#include "tests/harness.h"

enum { F_NAME = FLAGS_NMODEL, F_JSON, NFLAGS };

static const flags_spec_t spec[NFLAGS] = {
    FLAGS_MODEL_ROWS,
    [F_NAME] = {"--name", "a name"},
    [F_JSON] = {"--json", NULL},
};

static const flags_cmd_t cmd = {
    .prog = "autopeft test", .usage = "Usage: autopeft test\n", .spec = spec, .nflags = NFLAGS,
    .stray = "flags only"};

/* Parses `test ARGS...` into val (cleared first); the parser's return value. */
static int parse(const char **val, bool *help, char *const *args)
{
    int argc = 0;

    while (args[argc])
        argc++;
    for (int f = 0; f < NFLAGS; f++)
        val[f] = NULL;
    *help = false;
    return flags_parse(&cmd, argc, (char **)args, val, help);
}

#define PARSE(val, help, ...) parse((val), (help), (char *const[]){"test", __VA_ARGS__, NULL})

TEST(parse_reads_both_value_forms_and_switches)
{
    const char *val[NFLAGS];
    bool help;

    ASSERT_EQ(PARSE(val, &help, "--shape=bert-tiny", "--name", "a=b", "--json"), 0);
    ASSERT_FALSE(help);
    ASSERT_STR_EQ(val[FLAGS_SHAPE], "bert-tiny");
    ASSERT_STR_EQ(val[F_NAME], "a=b");
    ASSERT_STR_EQ(val[F_JSON], "");
    ASSERT_TRUE(val[FLAGS_HIDDEN] == NULL);
    ASSERT_EQ(PARSE(val, &help, "--name=x=y", "--labels="), 0);
    ASSERT_STR_EQ(val[F_NAME], "x=y");
    ASSERT_STR_EQ(val[FLAGS_LABELS], "");
    ASSERT_EQ(PARSE(val, &help, "--name", "--json"), 0); /* a value may look like a flag */
    ASSERT_STR_EQ(val[F_NAME], "--json");
    ASSERT_TRUE(val[F_JSON] == NULL);
}

TEST(parse_stops_at_help)
{
    const char *val[NFLAGS];
    bool help;

    ASSERT_EQ(PARSE(val, &help, "--json", "-h", "--bogus"), 0);
    ASSERT_TRUE(help);
    ASSERT_EQ(PARSE(val, &help, "--help"), 0);
    ASSERT_TRUE(help);
}

TEST(parse_refuses_bad_command_lines)
{
    const char *val[NFLAGS];
    bool help;

    ASSERT_EQ(PARSE(val, &help, "stray"), 2);
    ASSERT_EQ(PARSE(val, &help, "-x"), 2);
    ASSERT_EQ(PARSE(val, &help, "--"), 2);
    ASSERT_EQ(PARSE(val, &help, "--bogus"), 2);
    ASSERT_EQ(PARSE(val, &help, "--nam", "x"), 2);    /* no prefixes */
    ASSERT_EQ(PARSE(val, &help, "--names", "x"), 2);
    ASSERT_EQ(PARSE(val, &help, "--json", "--json"), 2);
    ASSERT_EQ(PARSE(val, &help, "--name", "a", "--name=b"), 2);
    ASSERT_EQ(PARSE(val, &help, "--json=1"), 2);
    ASSERT_EQ(PARSE(val, &help, "--name"), 2);
    ASSERT_FALSE(help);
}

TEST(int_flags)
{
    const char *val[NFLAGS];
    bool help;
    int v = 7;

    ASSERT_EQ(PARSE(val, &help, "--heads", "12", "--layers", "0"), 0);
    ASSERT_EQ(flags_int(&cmd, val, FLAGS_VOCAB, 1, 10, &v), 0);
    ASSERT_EQ(v, 7); /* not given: left as it was */
    ASSERT_EQ(flags_int(&cmd, val, FLAGS_HEADS, 1, 12, &v), 0);
    ASSERT_EQ(v, 12);
    ASSERT_EQ(flags_int(&cmd, val, FLAGS_HEADS, 1, 11, &v), 2);
    ASSERT_EQ(flags_int(&cmd, val, FLAGS_LAYERS, 1, 10, &v), 2);
}

TEST(model_from_the_flags)
{
    const char *val[NFLAGS], *name;
    bool help;
    shape_t s, want;

    ASSERT_EQ(PARSE(val, &help, "--json"), 0);
    ASSERT_EQ(flags_model(&cmd, val, &s, &name), 0);
    ASSERT_STR_EQ(name, "bert-base");
    ASSERT_OK(shape_preset("bert-base", &want));
    ASSERT_EQ(s.hidden, want.hidden);
    ASSERT_EQ(s.intermediate, want.intermediate);

    ASSERT_EQ(PARSE(val, &help, "--shape", "bert-tiny"), 0);
    ASSERT_EQ(flags_model(&cmd, val, &s, &name), 0);
    ASSERT_STR_EQ(name, "bert-tiny");
    ASSERT_EQ(s.hidden, 128);

    ASSERT_EQ(PARSE(val, &help, "--hidden", "256"), 0);
    ASSERT_EQ(flags_model(&cmd, val, &s, &name), 0);
    ASSERT_TRUE(name == NULL);
    shape_default(&want, 256, 12);
    ASSERT_EQ(s.layers, 12);
    ASSERT_EQ(s.heads, want.heads);
    ASSERT_EQ(s.intermediate, want.intermediate);

    /* an override keeps the preset's other dimensions but not its name */
    ASSERT_EQ(PARSE(val, &help, "--shape", "bert-tiny", "--labels", "3", "--heads", "4"), 0);
    ASSERT_EQ(flags_model(&cmd, val, &s, &name), 0);
    ASSERT_TRUE(name == NULL);
    ASSERT_EQ(s.labels, 3);
    ASSERT_EQ(s.heads, 4);
    ASSERT_EQ(s.hidden, 128);
}

TEST(model_refuses_bad_flags)
{
    const char *val[NFLAGS], *name;
    bool help;
    shape_t s;

    ASSERT_EQ(PARSE(val, &help, "--shape", "bert-tiny", "--layers", "2"), 0);
    ASSERT_EQ(flags_model(&cmd, val, &s, &name), 2);
    ASSERT_EQ(PARSE(val, &help, "--shape", "bert-huge"), 0);
    ASSERT_EQ(flags_model(&cmd, val, &s, &name), 2);
    ASSERT_EQ(PARSE(val, &help, "--layers", "257"), 0);
    ASSERT_EQ(flags_model(&cmd, val, &s, &name), 2);
    ASSERT_EQ(PARSE(val, &help, "--vocab", "0"), 0);
    ASSERT_EQ(flags_model(&cmd, val, &s, &name), 2);
    ASSERT_EQ(PARSE(val, &help, "--heads", "5"), 0); /* 5 does not divide 768 */
    ASSERT_EQ(flags_model(&cmd, val, &s, &name), 2);
}
