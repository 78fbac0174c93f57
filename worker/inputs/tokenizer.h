/* BERT WordPiece tokenization, exactly as Hugging Face transformers' BertTokenizer (the Python,
 * "slow" tokenizer) produces ids, with utf8proc for the Unicode tables.
 *
 * For one text (checked against transformers' tokenization_utils.py and
 * models/bert/tokenization_bert.py; docs/inputs.md lists what was checked and where):
 *  1. The special tokens [UNK] [SEP] [PAD] [CLS] [MASK] written literally in the text are kept
 *     whole (case-sensitive) and map to their ids; the text between them goes on alone.
 *  2. With do_lower_case, each character is lower-cased on its own (Python's str.lower on one
 *     character: the simple lower-case mapping, except U+0130 -> "i" + U+0307; so a final
 *     capital sigma becomes σ, never ς).
 *  3. Cleaning: U+0000, U+FFFD and every character of category C* except \t \n \r are dropped;
 *     \t \n \r, space and category Zs become a space.
 *  4. Every CJK ideograph (the blocks transformers lists) gets a space on each side.
 *  5. NFC normalisation, then a split on whitespace (space, U+2028, U+2029: what Python's
 *     str.split() still sees after cleaning).
 *  6. Each word: lower-cased again with do_lower_case; accents stripped (NFD, then every Mn
 *     character dropped) when do_lower_case and strip_accents is not false, or strip_accents is
 *     true; then split around punctuation (ASCII 33-47, 58-64, 91-96, 123-126 and category P*),
 *     each punctuation character a word of its own.
 *  7. WordPiece: a word of more than 100 characters is [UNK]; otherwise the longest prefix in
 *     the vocabulary, then the longest "##"-prefixed continuation, and so on; a word with any
 *     part not in the vocabulary is a single [UNK].
 * Invalid UTF-8 is read as U+FFFD (Python's errors="replace"), which step 3 drops.
 *
 * Inputs for the model: [CLS] a [SEP] or [CLS] a [SEP] b [SEP], token types 0 up to and
 * including the first [SEP], 1 after; over max_length, truncated "longest first" from the end as
 * transformers does (tokenization_utils_base.truncate_sequences). */
#ifndef AUTOPEFT_TOKENIZER_H
#define AUTOPEFT_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "worker/inputs/vocab.h"

/* Longest text tokenised at once (bytes): far beyond any sentence; a cap against runaway input. */
#define TOKENIZER_MAX_TEXT_BYTES (1u << 20)
/* transformers' WordpieceTokenizer.max_input_chars_per_word. */
#define TOKENIZER_MAX_WORD_CHARS 100

typedef struct {
    bool do_lower_case;            /* default true */
    int strip_accents;             /* -1 follow do_lower_case (transformers' None), 0 no, 1 yes */
    bool tokenize_chinese_chars;   /* default true */
    bool split_on_punc;            /* transformers' do_split_on_punc, default true */
    long model_max_length;         /* from tokenizer_config.json, 0 when not given */
} tokenizer_options_t;

void tokenizer_options_default(tokenizer_options_t *o);
/* Reads a tokenizer_config.json over *o (keys absent keep their value). Refused with the key
 * named: a tokenizer_class that is not BERT's, do_basic_tokenize false, never_split entries,
 * special tokens other than [UNK] [SEP] [PAD] [CLS] [MASK], added tokens that are not the
 * vocabulary's own (checked when vocab is not NULL). */
int tokenizer_config_parse(const char *text, size_t len, const char *label, const vocab_t *vocab,
                           tokenizer_options_t *o);
int tokenizer_config_load(const char *path, const vocab_t *vocab, tokenizer_options_t *o);

typedef struct tokenizer tokenizer_t;

/* The vocabulary is borrowed and must outlive the tokenizer. A tokenizer holds scratch buffers:
 * use one per thread. */
int tokenizer_new(const vocab_t *vocab, const tokenizer_options_t *opt, tokenizer_t **out);
void tokenizer_free(tokenizer_t **tp);

/* The word-piece ids of text[0..len) without [CLS]/[SEP]; *ids stays valid until the next call
 * on t. ERR_RANGE when len exceeds TOKENIZER_MAX_TEXT_BYTES. */
int tokenizer_pieces(tokenizer_t *t, const char *text, size_t len, const int32_t **ids,
                     size_t *n);

typedef struct {
    const int32_t *ids;      /* [len] */
    const int32_t *types;    /* [len] token type: 0 for [CLS] a [SEP], 1 for b [SEP] */
    int len;
    int len_a, len_b;        /* word pieces kept from a and b */
    int removed;             /* word pieces truncated away */
} tokenizer_encoding_t;

/* Model input for a (and b when not NULL). max_length 0: no truncation; otherwise at least 2
 * (single) or 3 (pair), else ERR_INVAL. The arrays stay valid until the next call on t. */
int tokenizer_encode(tokenizer_t *t, const char *a, size_t alen, const char *b, size_t blen,
                     int max_length, tokenizer_encoding_t *out);

#endif
