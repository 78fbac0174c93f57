/* Fuzz target: the tokenizer on arbitrary bytes. The first byte picks the options (lower case,
 * accent stripping, CJK spacing, punctuation split, pair, max length); the rest is the text,
 * split at its first tab into a pair. The vocabulary is fixed and covers ASCII, accents, CJK
 * and continuation pieces, so that every path of WordPiece runs. */
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "worker/inputs/tokenizer.h"

static const char vocab_text[] =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\nc\nab\nabc\n##a\n##b\n##c\n##bc\n.\n,\n!\n'\n"
    "the\n##s\n##ing\né\ne\n##é\n中\n文\nσ\nς\nı\ni\n##̇\n##x\nx\n[\n]\n##\n#\n";

FUZZ_TARGET(tokenizer)
{
    static vocab_t *vocab;
    tokenizer_options_t o;
    tokenizer_t *t;
    tokenizer_encoding_t e;
    const char *text, *tab, *b = NULL;
    size_t len, blen = 0;
    uint8_t mode;
    int max_length;

    if (!vocab && vocab_parse(vocab_text, sizeof vocab_text - 1, "fuzz", &vocab) != 0)
        abort();
    if (size == 0)
        return 0;
    mode = data[0];
    text = (const char *)data + 1;
    len = size - 1;
    tokenizer_options_default(&o);
    o.do_lower_case = mode & 1;
    o.strip_accents = (mode >> 1) % 3 - 1;
    o.tokenize_chinese_chars = !(mode & 8);
    o.split_on_punc = !(mode & 16);
    if ((mode & 32) && (tab = memchr(text, '\t', len)) != NULL) {
        b = tab + 1;
        blen = len - (size_t)(b - text);
        len = (size_t)(tab - text);
    }
    max_length = (mode & 64) ? 3 + (mode >> 7) * 5 : 0;
    if (tokenizer_new(vocab, &o, &t) != 0)
        abort();
    if (tokenizer_encode(t, text, len, b, blen, max_length, &e) == 0) {
        if (max_length && e.len > max_length)
            abort();
        for (int i = 0; i < e.len; i++)
            if (e.ids[i] < 0 || e.ids[i] >= vocab_size(vocab) || e.types[i] < 0 || e.types[i] > 1)
                abort();
    }
    tokenizer_free(&t);
    return 0;
}
