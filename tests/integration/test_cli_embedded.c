/* `autopeft embedded` as a user runs it: the built program, its files and exit statuses. */

#include "tests/harness.h"
#include "tests/integration/cli_util.h"
#include "worker/inputs/embedded.h"

typedef cli_result_t run_t;

/* Runs `autopeft embedded ARGS...`. */
#define RUN(r, ...) CLI_RUN(r, NULL, "embedded", __VA_ARGS__)

TEST(help_and_usage_errors)
{
    static run_t r;

    RUN(&r, "--help");
    ASSERT_EQ(r.status, 0);
    ASSERT_CONTAINS(r.out, "Usage: autopeft embedded");
    ASSERT_CONTAINS(r.out, "--max-words N");
    RUN(&r, "--train", "1");
    ASSERT_EQ(r.status, 2);
    ASSERT_CONTAINS(r.err, "--train");
    RUN(&r, "--depth", "x");
    ASSERT_EQ(r.status, 2);
    ASSERT_CONTAINS(r.err, "--depth");
    RUN(&r, "--mix", "10,50");
    ASSERT_EQ(r.status, 2);
    ASSERT_CONTAINS(r.err, "SINGLE,CONTRAST,CONCESSIVE");
    RUN(&r, "--mix", "10,50,50");
    ASSERT_EQ(r.status, 2);
    ASSERT_CONTAINS(r.err, "expected 100");
    RUN(&r, "--mix", "0,60,40", "--max-words", "10", "--depth", "4", "--frames", "100");
    ASSERT_EQ(r.status, 2);
    ASSERT_CONTAINS(r.err, "raise max_words");
    RUN(&r, "extra");
    ASSERT_EQ(r.status, 2);
    ASSERT_CONTAINS(r.err, "unexpected argument 'extra'");
    RUN(&r, "--out", "");
    ASSERT_EQ(r.status, 2);
}

/* The files are the library's bytes; the summary line is embedded_describe's. */
TEST(writes_the_task)
{
    static run_t r;
    static char text[1 << 20];
    embedded_opts_t o;
    embedded_task_t *t = NULL;
    char dir[1024], path[1200], line[1024];
    size_t len, want;
    const char *p;

    snprintf(dir, sizeof dir, "%s/task", harness_tmpdir());
    RUN(&r, "--out", dir, "--seed", "9", "--train", "500", "--dev", "200", "--negation", "30",
        "--mix", "10,50,40");
    ASSERT_EQ(r.status, 0);
    embedded_opts_default(&o);
    o.seed = 9;
    o.train_rows = 500;
    o.dev_rows = 200;
    o.negation_pct = 30;
    o.single_pct = 10;
    o.contrast_pct = 50;
    o.concessive_pct = 40;
    ASSERT_EQ(embedded_generate(&o, &t), 0);
    embedded_describe(t, line, sizeof line);
    ASSERT_CONTAINS(r.out, line);
    ASSERT_CONTAINS(r.out, "train.tsv");
    snprintf(path, sizeof path, "%s/train.tsv", dir);
    cli_slurp(path, text, sizeof text, &len);
    p = embedded_tsv(t, DATA_TRAIN, &want);
    ASSERT_EQ_U(len, want);
    ASSERT_EQ(memcmp(text, p, len), 0);
    snprintf(path, sizeof path, "%s/dev.tsv", dir);
    cli_slurp(path, text, sizeof text, &len);
    p = embedded_tsv(t, DATA_DEV, &want);
    ASSERT_EQ_U(len, want);
    ASSERT_EQ(memcmp(text, p, len), 0);
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    cli_slurp(path, text, sizeof text, &len);
    p = embedded_vocab(t, &want);
    ASSERT_EQ_U(len, want);
    ASSERT_EQ(memcmp(text, p, len), 0);
    snprintf(path, sizeof path, "%s/README.txt", dir);
    cli_slurp(path, text, sizeof text, &len);
    ASSERT_CONTAINS(text, "--seed 9 --train 500 --dev 200");
    ASSERT_CONTAINS(text, "--negation 30");
    ASSERT_CONTAINS(text, "--mix 10,50,40");
    embedded_free(&t);

    /* Without --out: the summary only. An unwritable folder: status 1, named. */
    RUN(&r, "--train", "100", "--dev", "50");
    ASSERT_EQ(r.status, 0);
    ASSERT_CONTAINS(r.out, "100 train / 50 dev sentences");
    RUN(&r, "--out", "/proc/autopeft-no-such-dir/x");
    ASSERT_EQ(r.status, 1);
    ASSERT_CONTAINS(r.err, "/proc/autopeft-no-such-dir/x");
}
