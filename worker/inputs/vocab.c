#include "worker/inputs/vocab.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/file.h"
#include "common/mem.h"
#include "common/utf8.h"

struct vocab {
    char *arena;          /* every token, NUL-terminated, in id order */
    uint32_t *offset;     /* [n] start of token i in arena */
    uint16_t *length;     /* [n] bytes of token i */
    int n;
    uint32_t *slots;      /* open-addressing hash table: id + 1, 0 = empty */
    uint32_t mask;        /* table size - 1 (a power of two, at least 2n) */
    size_t max_bytes;
    int special[VOCAB__NSPECIAL];
};

static const char *const special_names[VOCAB__NSPECIAL] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]",
                                                           "[MASK]"};

const char *vocab_special_name(vocab_special_t which)
{
    return (int)which >= 0 && which < VOCAB__NSPECIAL ? special_names[which] : NULL;
}

/* FNV-1a: short keys, few collisions for word pieces, and no seed to manage. */
static uint32_t hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)s[i];
        h *= 16777619u;
    }
    return h;
}

int vocab_find(const vocab_t *v, const char *s, size_t len)
{
    uint32_t i;

    if (len > v->max_bytes)
        return -1;
    for (i = hash(s, len) & v->mask;; i = (i + 1) & v->mask) {
        uint32_t slot = v->slots[i];
        int id;

        if (slot == 0)
            return -1;
        id = (int)slot - 1;
        if (v->length[id] == len && memcmp(v->arena + v->offset[id], s, len) == 0)
            return id;
    }
}

/* Inserts id; returns the id already holding the same text, or -1. */
static int insert(vocab_t *v, int id)
{
    const char *s = v->arena + v->offset[id];
    size_t len = v->length[id];
    uint32_t i = hash(s, len) & v->mask;

    for (;; i = (i + 1) & v->mask) {
        uint32_t slot = v->slots[i];

        if (slot == 0) {
            v->slots[i] = (uint32_t)id + 1;
            return -1;
        }
        if (v->length[slot - 1] == len && memcmp(v->arena + v->offset[slot - 1], s, len) == 0)
            return (int)slot - 1;
    }
}

/* Counts lines (universal newlines) to size the arrays before filling them. */
static size_t count_lines(const char *d, size_t size)
{
    size_t n = 0, i = 0;

    while (i < size) {
        const char *nl = memchr(d + i, '\n', size - i);
        const char *cr = memchr(d + i, '\r', (nl ? (size_t)(nl - d) : size) - i);
        size_t end = cr ? (size_t)(cr - d) : nl ? (size_t)(nl - d) : size;

        n++;
        i = end + 1;
        if (cr && i < size && d[i] == '\n')
            i++;
    }
    return n;
}

static int build(vocab_t *v, const char *d, size_t size, const char *label)
{
    size_t lines = count_lines(d, size), i = 0, at = 0, table = 2;
    int line = 0;

    if (lines > VOCAB_MAX_TOKENS)
        return err_set(ERR_RANGE, "%s: %zu lines, more than the limit of %d tokens", label, lines,
                       VOCAB_MAX_TOKENS);
    if (lines == 0)
        return err_set(ERR_PARSE, "%s: empty vocabulary", label);
    while (table < 2 * lines)
        table *= 2;
    v->arena = mem_alloc(size + lines + 1, 1, "vocabulary");
    v->offset = mem_alloc(lines, sizeof *v->offset, "vocabulary");
    v->length = mem_alloc(lines, sizeof *v->length, "vocabulary");
    v->slots = mem_alloc(table, sizeof *v->slots, "vocabulary");
    if (!v->arena || !v->offset || !v->length || !v->slots)
        return ERR_NOMEM;
    v->mask = (uint32_t)(table - 1);
    while (i < size) {
        size_t end = i, bad;
        int dup;

        while (end < size && d[end] != '\n' && d[end] != '\r')
            end++;
        if (end - i > VOCAB_MAX_TOKEN_BYTES)
            return err_set(ERR_RANGE, "%s:%d: token of %zu bytes, longer than the limit of %d",
                           label, line + 1, end - i, VOCAB_MAX_TOKEN_BYTES);
        /* Tokens are handed out as C strings: a NUL inside one would cut it short. */
        if (memchr(d + i, '\0', end - i))
            return err_set(ERR_PARSE, "%s:%d: NUL byte in the token", label, line + 1);
        if (!utf8_valid(d + i, end - i, &bad))
            return err_set(ERR_PARSE, "%s:%d: invalid UTF-8 at byte %zu of the token", label,
                           line + 1, bad + 1);
        if (end - i >= 3 && memcmp(d + i, "\xef\xbb\xbf", 3) == 0)
            return err_set(ERR_PARSE, "%s:%d: token begins with a byte-order mark (U+FEFF); "
                           "save the file as UTF-8 without BOM", label, line + 1);
        memcpy(v->arena + at, d + i, end - i);
        v->offset[line] = (uint32_t)at;
        v->length[line] = (uint16_t)(end - i);
        at += end - i + 1; /* the arena was zeroed: the NUL is already there */
        if (end - i > v->max_bytes)
            v->max_bytes = end - i;
        /* Empty lines keep their id but are never looked up: nothing matches "". */
        if (end > i && (dup = insert(v, line)) >= 0)
            return err_set(ERR_PARSE, "%s:%d: token '%.*s' already appears on line %d (ids "
                           "would be ambiguous)", label, line + 1, (int)(end - i), d + i,
                           dup + 1);
        line++;
        i = end + 1;
        if (end < size && d[end] == '\r' && i < size && d[i] == '\n')
            i++;
    }
    v->n = line;
    for (int k = 0; k < VOCAB__NSPECIAL; k++) {
        v->special[k] = vocab_find(v, special_names[k], strlen(special_names[k]));
        if (v->special[k] < 0 && k != VOCAB_MASK)
            return err_set(ERR_INVAL, "%s: the vocabulary lacks the special token %s (a BERT "
                           "vocab.txt has [PAD], [UNK], [CLS] and [SEP])", label,
                           special_names[k]);
    }
    return 0;
}

int vocab_parse(const char *data, size_t size, const char *label, vocab_t **out)
{
    vocab_t *v;
    int rc;

    *out = NULL;
    if (size > VOCAB_MAX_FILE_BYTES)
        return err_set(ERR_RANGE, "%s: %zu bytes, over the limit of %u for a vocabulary", label,
                       size, VOCAB_MAX_FILE_BYTES);
    v = mem_alloc(1, sizeof *v, "vocabulary");
    if (!v)
        return ERR_NOMEM;
    if ((rc = build(v, data, size, label)) != 0) {
        vocab_free(&v);
        return rc;
    }
    *out = v;
    return 0;
}

int vocab_load(const char *path, vocab_t **out)
{
    const void *map;
    size_t size;
    int rc;

    *out = NULL;
    if ((rc = file_map(path, VOCAB_MAX_FILE_BYTES, "vocabulary", &map, &size)) != 0)
        return rc;
    rc = vocab_parse(map ? map : "", size, path, out);
    file_unmap(map, size);
    return rc;
}

void vocab_free(vocab_t **vp)
{
    vocab_t *v;

    if (!vp || !*vp)
        return;
    v = *vp;
    free(v->arena);
    free(v->offset);
    free(v->length);
    free(v->slots);
    free(v);
    *vp = NULL;
}

int vocab_size(const vocab_t *v)
{
    return v->n;
}

const char *vocab_token(const vocab_t *v, int id)
{
    return id >= 0 && id < v->n ? v->arena + v->offset[id] : NULL;
}

size_t vocab_max_token_bytes(const vocab_t *v)
{
    return v->max_bytes;
}

int vocab_special(const vocab_t *v, vocab_special_t which)
{
    return (int)which >= 0 && which < VOCAB__NSPECIAL ? v->special[which] : -1;
}
