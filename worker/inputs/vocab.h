/* A WordPiece vocabulary (vocab.txt): one token a line, the line number (from 0) is its id.
 *
 * Read as transformers' load_vocab does: UTF-8, lines ended by "\n", "\r\n" or "\r" (Python's
 * universal newlines), the last line's end optional, an empty line an (unreachable) token of its
 * own so that the ids after it stay where transformers puts them. Stricter where transformers
 * is silently wrong: a token that appears twice (transformers keeps the last id, so the first
 * can never be produced), invalid UTF-8, a NUL byte, a line longer than VOCAB_MAX_TOKEN_BYTES
 * and a vocab lacking [PAD], [UNK], [CLS] or [SEP] are errors naming the file and line. */
#ifndef AUTOPEFT_VOCAB_H
#define AUTOPEFT_VOCAB_H

#include <stddef.h>

#include "common/shape.h"

#define VOCAB_MAX_TOKENS SHAPE_MAX_VOCAB
#define VOCAB_MAX_TOKEN_BYTES 1024
#define VOCAB_MAX_FILE_BYTES (256u << 20)

typedef enum {
    VOCAB_PAD = 0,
    VOCAB_UNK,
    VOCAB_CLS,
    VOCAB_SEP,
    VOCAB_MASK,
    VOCAB__NSPECIAL
} vocab_special_t;

typedef struct vocab vocab_t;

int vocab_load(const char *path, vocab_t **out);
/* The same over bytes in memory; label names them in messages. */
int vocab_parse(const char *data, size_t size, const char *label, vocab_t **out);
void vocab_free(vocab_t **vp);

int vocab_size(const vocab_t *v);
/* The id of the token s[0..len), or -1. */
int vocab_find(const vocab_t *v, const char *s, size_t len);
/* The token of an id (NUL-terminated), or NULL out of range. */
const char *vocab_token(const vocab_t *v, int id);
/* Bytes of the longest token: no longer substring can match. */
size_t vocab_max_token_bytes(const vocab_t *v);
/* The id of a special token; [MASK] is optional (-1 when absent), the others always exist. */
int vocab_special(const vocab_t *v, vocab_special_t which);
/* "[PAD]", "[UNK]", ... */
const char *vocab_special_name(vocab_special_t which);

#endif
