/* `autopeft tokenize` as a user runs it: the built program fed on stdin, its output and exit
 * statuses. */

#include "tests/harness.h"
#include "tests/integration/cli_util.h"

typedef cli_result_t run_t;

/* Runs `autopeft tokenize ARGS...` with input on stdin. */
#define RUN(r, input, ...) CLI_RUN(r, input, "tokenize", __VA_ARGS__)
#define tmp_path cli_tmp_path
#define write_text cli_write_text

static const char *small_vocab(void)
{
    static char p[1024];

    snprintf(p, sizeof p, "%s/vocab.txt", harness_tmpdir());
    /* ids: [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4, hello 5, world 6, , 7, ! 8, un 9,
     * ##aff 10, ##able 11, Hello 12 */
    write_text(p, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n,\n!\nun\n##aff\n##able\n"
                  "Hello\n");
    return p;
}

TEST(help_and_usage_errors)
{
    static run_t r;
    const char *v = small_vocab();

    RUN(&r, "", "--help");
    ASSERT_EQ(r.status, 0);
    ASSERT_CONTAINS(r.out, "Usage: autopeft tokenize");
    ASSERT_CONTAINS(r.out, "--max-length N");
    RUN(&r, "", "--pair");
    ASSERT_EQ(r.status, 2);
    ASSERT_CONTAINS(r.err, "--vocab FILE or --model DIR");
    RUN(&r, "", "--vocab", (char *)v, "--max-length", "2", "--pair");
    ASSERT_EQ(r.status, 2);
    ASSERT_CONTAINS(r.err, "no room");
    RUN(&r, "", "--vocab", (char *)v, "--max-length", "x");
    ASSERT_EQ(r.status, 2);
    ASSERT_CONTAINS(r.err, "--max-length");
    RUN(&r, "", "--vocab", "/nonexistent/vocab.txt");
    ASSERT_EQ(r.status, 1);
    ASSERT_CONTAINS(r.err, "/nonexistent/vocab.txt");
}

TEST(ids_tokens_pairs_and_truncation)
{
    static run_t r;
    char *v = (char *)small_vocab();

    RUN(&r, "Hello, WORLD!\nunaffable\r\n\n", "--vocab", v);
    ASSERT_EQ(r.status, 0);
    ASSERT_STR_EQ(r.out, "2 5 7 6 8 3\n2 9 10 11 3\n2 3\n");
    RUN(&r, "Hello world\n", "--vocab", v, "--no-lower-case", "--tokens");
    ASSERT_STR_EQ(r.out, "[CLS] Hello world [SEP]\n");
    RUN(&r, "hello world hello\tworld\n", "--vocab", v, "--pair", "--max-length", "5");
    ASSERT_EQ(r.status, 0);
    ASSERT_STR_EQ(r.out, "2 5 3 6 3\n");
    /* A line without a tab in pair mode: an empty line keeps the output aligned, status 1. */
    RUN(&r, "hello\tworld\nno tab here\nworld\thello\n", "--vocab", v, "--pair");
    ASSERT_EQ(r.status, 1);
    ASSERT_STR_EQ(r.out, "2 5 3 6 3\n\n2 6 3 5 3\n");
    ASSERT_CONTAINS(r.err, "stdin:2: no tab");
}

TEST(model_folder)
{
    static run_t r;
    char dir[1024];

    harness_shared_path("models/bert-mini-mlm", dir, sizeof dir);
    RUN(&r, "Hello, world!\n", "--model", dir);
    ASSERT_EQ(r.status, 0);
    ASSERT_STR_EQ(r.out, "101 7592 1010 2088 999 102\n");
}
