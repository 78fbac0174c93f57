/* Tests of worker/inputs/tokenizer.c: hand-written expectations of BERT's tokenization (what
 * transformers' BertTokenizer gives; tests/reference/tokenizer_reference.py checks the same
 * ones), on a small vocabulary written here and on bert-base-uncased; plus tokenizer_config.json.
 * The agreement with the Python reference on the GLUE files is in test_tokenizer_glue.c. */
#include "tests/harness.h"
#include "worker/inputs/tokenizer.h"

static const char *small_vocab =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n"
    "hello\nworld\n,\n!\n$\n^\n¿\n?\nun\n##aff\n##able\na\n##a\n##b\nc\n中\n文\ni\n"
    "οδοσ\nοδος\né\nÅ\ncafe\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n[\n]\ncl\n"
    "##s\nhel\n##lo\nx\n";

static vocab_t *vocab;
static tokenizer_t *tok;
static char out[4096];

static void setup(bool lower)
{
    tokenizer_options_t o;

    vocab_free(&vocab);
    tokenizer_free(&tok);
    ASSERT_OK(vocab_parse(small_vocab, strlen(small_vocab), "small", &vocab));
    tokenizer_options_default(&o);
    o.do_lower_case = lower;
    ASSERT_OK(tokenizer_new(vocab, &o, &tok));
}

/* The word pieces of text, space-separated. */
static const char *pieces_n(const char *text, size_t len)
{
    const int32_t *ids;
    size_t n, at = 0;

    ASSERT_OK(tokenizer_pieces(tok, text, len, &ids, &n));
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        at += (size_t)snprintf(out + at, sizeof out - at, "%s%s", i ? " " : "",
                               vocab_token(vocab, ids[i]));
    return out;
}

static const char *pieces(const char *text)
{
    return pieces_n(text, strlen(text));
}

TEST(lower_case_accents_and_punctuation)
{
    setup(true);
    ASSERT_STR_EQ(pieces("Héllo, Wörld!"), "hello , world !");
    ASSERT_STR_EQ(pieces("HELLO!!"), "hello ! !");
    ASSERT_STR_EQ(pieces("$^¿?"), "$ ^ ¿ ?");            /* ASCII symbols count as punctuation */
    ASSERT_STR_EQ(pieces("Cafe\xcc\x81"), "cafe");        /* combining acute dropped */
    ASSERT_STR_EQ(pieces("\xc4\xb0"), "i");               /* U+0130 -> i + U+0307 -> i */
    ASSERT_STR_EQ(pieces("ΟΔΟΣ"), "οδοσ");                /* per-character lower: no final ς */
    ASSERT_STR_EQ(pieces("unaffable"), "un ##aff ##able");
}

TEST(cased_keeps_case_and_composes)
{
    setup(false);
    ASSERT_STR_EQ(pieces("Hello hello"), "[UNK] hello");
    ASSERT_STR_EQ(pieces("e\xcc\x81"), "é");              /* NFC composes e + U+0301 */
    ASSERT_STR_EQ(pieces("\xe2\x84\xab"), "Å");           /* U+212B ANGSTROM SIGN -> U+00C5 */
    ASSERT_STR_EQ(pieces("ΟΔΟΣ"), "[UNK]");
}

TEST(cleaning_whitespace_and_cjk)
{
    setup(true);
    ASSERT_STR_EQ(pieces_n("hel\0lo", 6), "hello");                 /* NUL dropped */
    ASSERT_STR_EQ(pieces("hel\xe2\x80\x8blo"), "hello");            /* U+200B (Cf) dropped */
    ASSERT_STR_EQ(pieces("hel\xef\xbf\xbdlo"), "hello");            /* U+FFFD dropped */
    ASSERT_STR_EQ(pieces("hel\xfflo"), "hello");                    /* invalid UTF-8 dropped */
    ASSERT_STR_EQ(pieces("hel\x01lo\x7f"), "hello");                /* C0 control, DEL */
    ASSERT_STR_EQ(pieces("hello\tworld\r\nhello"), "hello world hello");
    ASSERT_STR_EQ(pieces("hello\xc2\xa0world"), "hello world");     /* NBSP (Zs) */
    ASSERT_STR_EQ(pieces("hello\xe2\x80\xa8world"), "hello world"); /* U+2028 splits */
    ASSERT_STR_EQ(pieces("a中文c"), "a 中 文 c");                     /* CJK spaced */
    ASSERT_STR_EQ(pieces(""), "");
    ASSERT_STR_EQ(pieces(" \t\n "), "");
}

TEST(wordpiece_unknown_and_long_words)
{
    char word[102];

    setup(true);
    ASSERT_STR_EQ(pieces("aab"), "a ##a ##b");
    ASSERT_STR_EQ(pieces("abz hello"), "[UNK] hello"); /* one unknown piece: whole word [UNK] */
    memset(word, 'a', 100);
    word[100] = '\0';
    pieces(word);
    ASSERT_EQ(strlen(out), strlen("a") + 99 * strlen(" ##a"));
    word[100] = 'a';
    word[101] = '\0';
    ASSERT_STR_EQ(pieces(word), "[UNK]"); /* over 100 characters */
}

TEST(special_tokens_written_in_text)
{
    setup(true);
    ASSERT_STR_EQ(pieces("[CLS] hello[MASK]x"), "[CLS] hello [MASK] x");
    ASSERT_STR_EQ(pieces("[cls]"), "[ cl ##s ]"); /* case-sensitive: lowered text is not one */
    ASSERT_STR_EQ(pieces("[SEP"), "[ [UNK]");
}

TEST(pairs_types_and_truncation)
{
    tokenizer_encoding_t e;
    const char *a = "one two three four five", *b = "six seven eight nine";

    setup(true);
    ASSERT_OK(tokenizer_encode(tok, "hello", 5, NULL, 0, 0, &e));
    ASSERT_EQ(e.len, 3);
    ASSERT_EQ(e.ids[0], 2);
    ASSERT_EQ(e.ids[2], 3);
    /* 5 + 4 pieces into 8 - 3 = 5: one from the longer a, then b, a, b (b loses ties). */
    ASSERT_OK(tokenizer_encode(tok, a, strlen(a), b, strlen(b), 8, &e));
    ASSERT_EQ(e.len, 8);
    ASSERT_EQ(e.len_a, 3);
    ASSERT_EQ(e.len_b, 2);
    ASSERT_EQ(e.removed, 4);
    {
        const char *want[] = {"[CLS]", "one", "two", "three", "[SEP]", "six", "seven", "[SEP]"};
        int types[] = {0, 0, 0, 0, 0, 1, 1, 1};
        for (int i = 0; i < 8; i++) {
            ASSERT_STR_EQ(vocab_token(vocab, e.ids[i]), want[i]);
            ASSERT_EQ(e.types[i], types[i]);
        }
    }
    /* Equal lengths: the second loses first. */
    ASSERT_OK(tokenizer_encode(tok, "one two", 7, "six seven", 9, 6, &e));
    ASSERT_EQ(e.len_a, 2);
    ASSERT_EQ(e.len_b, 1);
    /* Everything truncated away but the special tokens. */
    ASSERT_OK(tokenizer_encode(tok, a, strlen(a), b, strlen(b), 3, &e));
    ASSERT_EQ(e.len, 3);
    ASSERT_OK(tokenizer_encode(tok, a, strlen(a), NULL, 0, 4, &e));
    ASSERT_EQ(e.len, 4);
    ASSERT_STR_EQ(vocab_token(vocab, e.ids[2]), "two");
    /* An empty second text still gets its [SEP]. */
    ASSERT_OK(tokenizer_encode(tok, "hello", 5, "", 0, 0, &e));
    ASSERT_EQ(e.len, 4);
    ASSERT_EQ(e.types[3], 1);
    ASSERT_ERR(tokenizer_encode(tok, a, strlen(a), b, strlen(b), 2, &e), ERR_INVAL);
    ASSERT_ERR(tokenizer_encode(tok, a, strlen(a), NULL, 0, 1, &e), ERR_INVAL);
}

TEST(text_length_is_capped)
{
    size_t n = TOKENIZER_MAX_TEXT_BYTES + 1;
    char *big = malloc(n);
    const int32_t *ids;
    size_t count;

    setup(true);
    memset(big, 'a', n);
    ASSERT_ERR(tokenizer_pieces(tok, big, n, &ids, &count), ERR_RANGE);
    free(big);
}

TEST(bert_base_uncased_examples)
{
    char path[1024];
    tokenizer_options_t o;

    harness_shared_path("data/vocab/bert-base-uncased-vocab.txt", path, sizeof path);
    vocab_free(&vocab);
    ASSERT_OK(vocab_load(path, &vocab));
    tokenizer_options_default(&o);
    ASSERT_OK(tokenizer_new(vocab, &o, &tok));
    ASSERT_STR_EQ(pieces("Héllo, Wörld!"), "hello , world !");
    ASSERT_STR_EQ(pieces("unaffable"), "una ##ffa ##ble"); /* transformers' documented output */
    ASSERT_STR_EQ(pieces("中文"), "中 文");
    ASSERT_STR_EQ(pieces("[CLS] hi [MASK]"), "[CLS] hi [MASK]");
    ASSERT_STR_EQ(pieces("[cls]"), "[ cl ##s ]");
    ASSERT_STR_EQ(pieces("don't"), "don ' t");
}

static int cfg(const char *json, tokenizer_options_t *o)
{
    tokenizer_options_default(o);
    return tokenizer_config_parse(json, strlen(json), "tokenizer_config.json", vocab, o);
}

TEST(tokenizer_config)
{
    char path[1024];
    tokenizer_options_t o;

    setup(true);
    ASSERT_OK(cfg("{\"do_lower_case\":false,\"strip_accents\":true,\"model_max_length\":"
                  "1000000000000000019884624838656,\"tokenizer_class\":\"BertTokenizer\","
                  "\"unk_token\":\"[UNK]\",\"mask_token\":{\"content\":\"[MASK]\"},"
                  "\"added_tokens_decoder\":{\"0\":{\"content\":\"[PAD]\"}}}", &o));
    ASSERT_FALSE(o.do_lower_case);
    ASSERT_EQ(o.strip_accents, 1);
    ASSERT_EQ(o.model_max_length, 0);
    ASSERT_OK(cfg("{\"model_max_length\":128}", &o));
    ASSERT_EQ(o.model_max_length, 128);
    ASSERT_ERR(cfg("{\"tokenizer_class\":\"RobertaTokenizer\"}", &o), ERR_UNSUPPORTED);
    ASSERT_CONTAINS(err_msg(), "tokenizer_class");
    ASSERT_ERR(cfg("{\"unk_token\":\"<unk>\"}", &o), ERR_UNSUPPORTED);
    ASSERT_CONTAINS(err_msg(), "unk_token");
    ASSERT_ERR(cfg("{\"never_split\":[\"foo\"]}", &o), ERR_UNSUPPORTED);
    ASSERT_ERR(cfg("{\"do_basic_tokenize\":false}", &o), ERR_UNSUPPORTED);
    ASSERT_ERR(cfg("{\"added_tokens_decoder\":{\"5\":{\"content\":\"[PAD]\"}}}", &o),
               ERR_UNSUPPORTED);
    ASSERT_CONTAINS(err_msg(), "added_tokens_decoder");
    ASSERT_ERR(cfg("{\"do_lower_case\":1}", &o), ERR_PARSE);
    ASSERT_CONTAINS(err_msg(), "tokenizer_config.json");
    ASSERT_ERR(cfg("{\"do_lower_case\":", &o), ERR_PARSE);
    harness_shared_path("models/bert-mini-mlm/tokenizer_config.json", path, sizeof path);
    tokenizer_options_default(&o);
    ASSERT_OK(tokenizer_config_load(path, NULL, &o));
    ASSERT_TRUE(o.do_lower_case);
    ASSERT_EQ(o.model_max_length, 512);
}
