/* Tests of worker/inputs/vocab.c: line endings as Python reads them, ids, and each refusal. */
#include "tests/harness.h"
#include "worker/inputs/vocab.h"

#define SPECIALS "[PAD]\n[UNK]\n[CLS]\n[SEP]\n"

static int parse(const char *text, vocab_t **v)
{
    return vocab_parse(text, strlen(text), "vocab.txt", v);
}

TEST(line_endings_and_ids)
{
    /* LF, CRLF and lone CR all end a line; the last line needs no end; an empty line keeps its
     * id (as transformers' load_vocab numbers lines). */
    const char *text = SPECIALS "the\r\nof\rand\n\n##s\n[MASK]";
    vocab_t *v;

    ASSERT_OK(parse(text, &v));
    ASSERT_EQ(vocab_size(v), 10);
    ASSERT_EQ(vocab_find(v, "the", 3), 4);
    ASSERT_EQ(vocab_find(v, "of", 2), 5);
    ASSERT_EQ(vocab_find(v, "and", 3), 6);
    ASSERT_STR_EQ(vocab_token(v, 7), "");
    ASSERT_EQ(vocab_find(v, "", 0), -1);
    ASSERT_EQ(vocab_find(v, "##s", 3), 8);
    ASSERT_EQ(vocab_find(v, "##", 2), -1);
    ASSERT_EQ(vocab_find(v, "the\r", 4), -1);
    ASSERT_EQ(vocab_special(v, VOCAB_PAD), 0);
    ASSERT_EQ(vocab_special(v, VOCAB_UNK), 1);
    ASSERT_EQ(vocab_special(v, VOCAB_CLS), 2);
    ASSERT_EQ(vocab_special(v, VOCAB_SEP), 3);
    ASSERT_EQ(vocab_special(v, VOCAB_MASK), 9);
    ASSERT_EQ_U(vocab_max_token_bytes(v), 6);
    ASSERT_TRUE(vocab_token(v, 10) == NULL && vocab_token(v, -1) == NULL);
    vocab_free(&v);
    ASSERT_TRUE(v == NULL);
    /* [MASK] is optional. */
    ASSERT_OK(parse(SPECIALS "x\n", &v));
    ASSERT_EQ(vocab_special(v, VOCAB_MASK), -1);
    vocab_free(&v);
}

static void expect(const char *text, size_t len, int code, const char *words)
{
    vocab_t *v = (vocab_t *)1;
    int rc = vocab_parse(text, len, "vocab.txt", &v);

    if (rc != code)
        FAIL("expected %s, got %s (%s)", err_name(code), err_name(rc),
             rc ? err_msg() : "accepted");
    ASSERT_TRUE(v == NULL);
    ASSERT_CONTAINS(err_msg(), "vocab.txt");
    ASSERT_CONTAINS(err_msg(), words);
}

TEST(refusals_name_file_and_line)
{
    char big[2000];

    expect(SPECIALS "the\nof\nthe\n", strlen(SPECIALS "the\nof\nthe\n"), ERR_PARSE,
           "vocab.txt:7: token 'the' already appears on line 5");
    expect("[PAD]\n[UNK]\n[SEP]\n", 18, ERR_INVAL, "[CLS]");
    expect(SPECIALS "ab\xff\n", strlen(SPECIALS) + 4, ERR_PARSE, "vocab.txt:5: invalid UTF-8");
    expect(SPECIALS "\xed\xa0\x80\n", strlen(SPECIALS) + 4, ERR_PARSE, "invalid UTF-8");
    expect("\xef\xbb\xbf" SPECIALS, strlen(SPECIALS) + 3, ERR_PARSE, "byte-order mark");
    expect("", 0, ERR_PARSE, "empty");
    expect(SPECIALS "th.\0x\n", strlen(SPECIALS) + 6, ERR_PARSE, "vocab.txt:5: NUL byte");
    memcpy(big, SPECIALS, strlen(SPECIALS));
    memset(big + strlen(SPECIALS), 'x', sizeof big - strlen(SPECIALS));
    expect(big, sizeof big, ERR_RANGE, "longer than the limit");
    {
        vocab_t *v;
        ASSERT_ERR(vocab_load("/nonexistent/vocab.txt", &v), ERR_IO);
        ASSERT_CONTAINS(err_msg(), "/nonexistent/vocab.txt");
    }
}

TEST(bert_base_uncased_vocab)
{
    char path[1024];
    vocab_t *v;

    harness_shared_path("data/vocab/bert-base-uncased-vocab.txt", path, sizeof path);
    ASSERT_OK(vocab_load(path, &v));
    ASSERT_EQ(vocab_size(v), 30522);
    ASSERT_EQ(vocab_special(v, VOCAB_PAD), 0);
    ASSERT_EQ(vocab_special(v, VOCAB_UNK), 100);
    ASSERT_EQ(vocab_special(v, VOCAB_CLS), 101);
    ASSERT_EQ(vocab_special(v, VOCAB_SEP), 102);
    ASSERT_EQ(vocab_special(v, VOCAB_MASK), 103);
    ASSERT_STR_EQ(vocab_token(v, 1996), "the");
    ASSERT_EQ(vocab_find(v, "##ing", 5), 2075);
    for (int i = 0; i < vocab_size(v); i++)
        ASSERT_EQ(vocab_find(v, vocab_token(v, i), strlen(vocab_token(v, i))), i);
    vocab_free(&v);
}
