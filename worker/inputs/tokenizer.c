#include "worker/inputs/tokenizer.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "common/err.h"
#include "common/mem.h"
#include "common/utf8.h"

typedef struct {
    uint32_t *v;
    size_t n, cap;
} cps_t;

typedef struct {
    int32_t *v;
    size_t n, cap;
} ids_t;

struct tokenizer {
    const vocab_t *vocab;
    tokenizer_options_t opt;
    bool lower, strip;
    int unk;
    int special_id[VOCAB__NSPECIAL];  /* id of each literal special token ([UNK] when absent) */
    cps_t raw;       /* the decoded text */
    cps_t text;      /* one segment, lower-cased, cleaned, CJK spaced, NFC */
    cps_t word;      /* one word, lower-cased again and accent-stripped */
    cps_t norm;      /* normalisation output */
    uint8_t *utf8;   /* UTF-8 scratch for utf8proc and vocabulary look-ups */
    size_t utf8_cap;
    ids_t pieces, tmp, a, b, ids, types;
};

/* ---- growable arrays ------------------------------------------------------------------------- */

static int grow(void **v, size_t *cap, size_t need, size_t size)
{
    size_t c = *cap ? *cap : 64;
    void *p;

    if (need <= *cap)
        return 0;
    while (c < need)
        c *= 2;
    p = mem_realloc(*v, c, size, "tokenizer buffer");
    if (!p)
        return ERR_NOMEM;
    *v = p;
    *cap = c;
    return 0;
}

static int cps_push(cps_t *b, uint32_t c)
{
    if (b->n == b->cap && grow((void **)&b->v, &b->cap, b->n + 1, sizeof *b->v) != 0)
        return ERR_NOMEM;
    b->v[b->n++] = c;
    return 0;
}

static int ids_push(ids_t *b, int32_t id)
{
    if (b->n == b->cap && grow((void **)&b->v, &b->cap, b->n + 1, sizeof *b->v) != 0)
        return ERR_NOMEM;
    b->v[b->n++] = id;
    return 0;
}

static int ids_append(ids_t *dst, const int32_t *src, size_t n)
{
    if (grow((void **)&dst->v, &dst->cap, dst->n + n, sizeof *dst->v) != 0)
        return ERR_NOMEM;
    if (n)
        memcpy(dst->v + dst->n, src, n * sizeof *src);
    dst->n += n;
    return 0;
}

/* ---- character classes (transformers' _is_control, _is_whitespace, _is_punctuation) ---------- */

static bool is_whitespace(uint32_t c)
{
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
        return true;
    return c >= 0x80 && utf8proc_category((utf8proc_int32_t)c) == UTF8PROC_CATEGORY_ZS;
}

/* Category C* (Cc, Cf, Cs, Co, Cn), except the three that count as whitespace. */
static bool is_control(uint32_t c)
{
    utf8proc_category_t cat;

    if (c == '\t' || c == '\n' || c == '\r')
        return false;
    if (c >= 0x20 && c < 0x7f)
        return false;
    cat = utf8proc_category((utf8proc_int32_t)c);
    return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF ||
           cat == UTF8PROC_CATEGORY_CS || cat == UTF8PROC_CATEGORY_CO ||
           cat == UTF8PROC_CATEGORY_CN;
}

static bool is_punctuation(uint32_t c)
{
    utf8proc_category_t cat;

    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
        (c >= 123 && c <= 126))
        return true;
    if (c < 0x80)
        return false;
    cat = utf8proc_category((utf8proc_int32_t)c);
    return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

/* The "CJK Unified Ideographs" blocks of transformers' _is_chinese_char (not Hangul, Hiragana or
 * Katakana, which are written with spaces between words). */
static bool is_cjk(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* Python's str.lower() of one character: the simple mapping, except U+0130 whose full mapping
 * (SpecialCasing.txt) is two characters. utf8proc and Python 3.11 agree on every other code
 * point (checked over all of Unicode when this was written). */
static int lower_char(uint32_t c, uint32_t out[2])
{
    if (c < 0x80) {
        out[0] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
        return 1;
    }
    if (c == 0x130) {
        out[0] = 'i';
        out[1] = 0x307;
        return 2;
    }
    out[0] = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
    return 1;
}

/* ---- normalisation through utf8proc ---------------------------------------------------------- */

static int utf8_reserve(tokenizer_t *t, size_t bytes)
{
    return grow((void **)&t->utf8, &t->utf8_cap, bytes, 1);
}

/* buf[0..n) -> NFC or NFD (options) -> buf, through the UTF-8 scratch. */
static int normalize(tokenizer_t *t, cps_t *buf, utf8proc_option_t options)
{
    utf8proc_uint8_t *out = NULL;
    utf8proc_ssize_t len;
    size_t at = 0;

    if (utf8_reserve(t, 4 * buf->n + 1) != 0)
        return ERR_NOMEM;
    for (size_t i = 0; i < buf->n; i++)
        at += (size_t)utf8_encode(buf->v[i], t->utf8 + at);
    len = utf8proc_map(t->utf8, (utf8proc_ssize_t)at, &out, UTF8PROC_STABLE | options);
    if (len < 0)
        return err_set(ERR_INTERNAL, "unicode normalisation failed: %s", utf8proc_errmsg(len));
    t->norm.n = 0;
    for (utf8proc_ssize_t i = 0; i < len;) {
        uint32_t c;
        bool ok;
        i += utf8_decode(out + i, (size_t)(len - i), &c, &ok);
        if (cps_push(&t->norm, c) != 0) {
            free(out);
            return ERR_NOMEM;
        }
    }
    free(out);
    /* Swap, so that the result is in buf and the old storage becomes the next scratch. */
    {
        cps_t tmp = *buf;
        *buf = t->norm;
        t->norm = tmp;
    }
    return 0;
}

/* ---- WordPiece ------------------------------------------------------------------------------- */

/* Greedy longest-match-first over w[0..m); the whole word is [UNK] if any part has no match. */
static int wordpiece(tokenizer_t *t, const uint32_t *w, size_t m)
{
    size_t off[TOKENIZER_MAX_WORD_CHARS + 1];
    size_t start = 0, maxb = vocab_max_token_bytes(t->vocab);
    uint8_t *s;

    if (m == 0)
        return 0;
    if (m > TOKENIZER_MAX_WORD_CHARS)
        return ids_push(&t->pieces, t->unk);
    /* Two bytes of headroom: a "##" is written just before each continuation's first byte. */
    if (utf8_reserve(t, 2 + 4 * m) != 0)
        return ERR_NOMEM;
    s = t->utf8 + 2;
    off[0] = 0;
    for (size_t i = 0; i < m; i++)
        off[i + 1] = off[i] + (size_t)utf8_encode(w[i], s + off[i]);
    t->tmp.n = 0;
    while (start < m) {
        size_t end = m;
        int id = -1;

        /* The bytes before off[start] belong to pieces already matched: overwrite them. */
        if (start > 0)
            memcpy(s + off[start] - 2, "##", 2);
        for (; end > start; end--) {
            size_t bytes = off[end] - off[start] + (start > 0 ? 2 : 0);
            const char *p = (const char *)s + off[start] - (start > 0 ? 2 : 0);

            if (bytes > maxb)
                continue;
            if ((id = vocab_find(t->vocab, p, bytes)) >= 0)
                break;
        }
        if (id < 0)
            return ids_push(&t->pieces, t->unk);
        if (ids_push(&t->tmp, id) != 0)
            return ERR_NOMEM;
        start = end;
    }
    return ids_append(&t->pieces, t->tmp.v, t->tmp.n);
}

/* ---- basic tokenizer ------------------------------------------------------------------------- */

static int process_word(tokenizer_t *t, const uint32_t *w, size_t n)
{
    bool wide = false;
    size_t run = 0;
    int rc;

    t->word.n = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t lo[2];
        int k = t->lower ? lower_char(w[i], lo) : (lo[0] = w[i], 1);

        for (int j = 0; j < k; j++) {
            if (cps_push(&t->word, lo[j]) != 0)
                return ERR_NOMEM;
            wide |= lo[j] >= 0xC0;
        }
    }
    /* No character below U+00C0 has a canonical decomposition or is a mark. */
    if (t->strip && wide) {
        size_t k = 0;

        if ((rc = normalize(t, &t->word, UTF8PROC_DECOMPOSE)) != 0)
            return rc;
        for (size_t i = 0; i < t->word.n; i++)
            if (utf8proc_category((utf8proc_int32_t)t->word.v[i]) != UTF8PROC_CATEGORY_MN)
                t->word.v[k++] = t->word.v[i];
        t->word.n = k;
    }
    if (!t->opt.split_on_punc)
        return wordpiece(t, t->word.v, t->word.n);
    for (size_t i = 0; i < t->word.n; i++) {
        if (!is_punctuation(t->word.v[i]))
            continue;
        if ((rc = wordpiece(t, t->word.v + run, i - run)) != 0 ||
            (rc = wordpiece(t, t->word.v + i, 1)) != 0)
            return rc;
        run = i + 1;
    }
    return wordpiece(t, t->word.v + run, t->word.n - run);
}

static bool is_separator(uint32_t c)
{
    return c == ' ' || c == 0x2028 || c == 0x2029;
}

/* raw[from..to): text without special tokens. */
static int process_segment(tokenizer_t *t, size_t from, size_t to)
{
    bool wide = false;
    size_t start = 0;
    int rc;

    t->text.n = 0;
    for (size_t i = from; i < to; i++) {
        uint32_t lo[2];
        int k = t->lower ? lower_char(t->raw.v[i], lo) : (lo[0] = t->raw.v[i], 1);

        for (int j = 0; j < k; j++) {
            uint32_t c = lo[j];

            if (c == 0 || c == UTF8_REPLACEMENT || is_control(c))
                continue;
            if (is_whitespace(c))
                c = ' ';
            if (t->opt.tokenize_chinese_chars && is_cjk(c)) {
                if (cps_push(&t->text, ' ') || cps_push(&t->text, c) || cps_push(&t->text, ' '))
                    return ERR_NOMEM;
            } else if (cps_push(&t->text, c) != 0) {
                return ERR_NOMEM;
            }
            wide |= c >= 0x300;
        }
    }
    /* Text entirely below U+0300 (no combining marks, no decomposable singletons) is already
     * in NFC: skip the round trip through utf8proc. */
    if (wide && (rc = normalize(t, &t->text, UTF8PROC_COMPOSE)) != 0)
        return rc;
    for (size_t i = 0; i <= t->text.n; i++) {
        if (i < t->text.n && !is_separator(t->text.v[i]))
            continue;
        if (i > start && (rc = process_word(t, t->text.v + start, i - start)) != 0)
            return rc;
        start = i + 1;
    }
    return 0;
}

/* Index of the special token written at raw[i], or -1; its length in *len. */
static int match_special(const tokenizer_t *t, size_t i, size_t *len)
{
    if (t->raw.v[i] != '[')
        return -1;
    for (int k = 0; k < VOCAB__NSPECIAL; k++) {
        const char *name = vocab_special_name((vocab_special_t)k);
        size_t n = strlen(name), j = 0;

        if (i + n > t->raw.n)
            continue;
        while (j < n && t->raw.v[i + j] == (uint32_t)(uint8_t)name[j])
            j++;
        if (j == n) {
            *len = n;
            return k;
        }
    }
    return -1;
}

int tokenizer_pieces(tokenizer_t *t, const char *text, size_t len, const int32_t **ids,
                     size_t *n)
{
    const uint8_t *p = (const uint8_t *)text;
    size_t i = 0, seg = 0;
    int rc;

    *ids = NULL;
    *n = 0;
    if (len > TOKENIZER_MAX_TEXT_BYTES)
        return err_set(ERR_RANGE, "a text of %zu bytes is longer than the limit of %u", len,
                       TOKENIZER_MAX_TEXT_BYTES);
    t->raw.n = 0;
    t->pieces.n = 0;
    while (i < len) {
        uint32_t c;
        bool ok;
        i += (size_t)utf8_decode(p + i, len - i, &c, &ok);
        if (cps_push(&t->raw, c) != 0)
            return ERR_NOMEM;
    }
    for (i = 0; i < t->raw.n;) {
        size_t slen;
        int k = match_special(t, i, &slen);

        if (k < 0) {
            i++;
            continue;
        }
        if ((rc = process_segment(t, seg, i)) != 0 ||
            (rc = ids_push(&t->pieces, t->special_id[k])) != 0)
            return rc;
        i += slen;
        seg = i;
    }
    if ((rc = process_segment(t, seg, t->raw.n)) != 0)
        return rc;
    *ids = t->pieces.v;
    *n = t->pieces.n;
    return 0;
}

/* ---- model inputs -------------------------------------------------------------------------- */

int tokenizer_encode(tokenizer_t *t, const char *a, size_t alen, const char *b, size_t blen,
                     int max_length, tokenizer_encoding_t *out)
{
    const int32_t *p;
    size_t n, la, lb, specials = b ? 3 : 2, remove = 0;
    int rc;

    memset(out, 0, sizeof *out);
    if (max_length != 0 && (max_length < (int)specials || max_length > SHAPE_MAX_POSITIONS))
        return err_set(ERR_INVAL, "max length %d: must be in [%zu, %d] for %s", max_length,
                       specials, SHAPE_MAX_POSITIONS, b ? "a pair" : "one text");
    t->a.n = t->b.n = 0;
    if ((rc = tokenizer_pieces(t, a, alen, &p, &n)) != 0 || (rc = ids_append(&t->a, p, n)) != 0)
        return rc;
    if (b && ((rc = tokenizer_pieces(t, b, blen, &p, &n)) != 0 ||
              (rc = ids_append(&t->b, p, n)) != 0))
        return rc;
    la = t->a.n;
    lb = t->b.n;
    if (max_length && la + lb + specials > (size_t)max_length)
        remove = la + lb + specials - (size_t)max_length;
    if (remove) {
        /* transformers' LONGEST_FIRST: first even out the longer one, then take the rest
         * alternately, the second text losing the odd one (what removing one token at a time
         * from the longer, the second on ties, gives). */
        size_t diff = la > lb ? la - lb : lb - la;
        size_t first = diff < remove ? diff : remove, second = remove - first;
        size_t ra, rb;

        if (la > lb) {
            ra = first + second / 2;
            rb = second - second / 2;
        } else {
            ra = second / 2;
            rb = first + second - second / 2;
        }
        la -= ra;
        lb -= rb;
    }
    t->ids.n = t->types.n = 0;
    if (ids_push(&t->ids, t->special_id[VOCAB_CLS]) || ids_append(&t->ids, t->a.v, la) ||
        ids_push(&t->ids, t->special_id[VOCAB_SEP]) ||
        (b && (ids_append(&t->ids, t->b.v, lb) || ids_push(&t->ids, t->special_id[VOCAB_SEP]))))
        return ERR_NOMEM;
    for (size_t i = 0; i < t->ids.n; i++)
        if (ids_push(&t->types, i < la + 2 ? 0 : 1) != 0)
            return ERR_NOMEM;
    out->ids = t->ids.v;
    out->types = t->types.v;
    out->len = (int)t->ids.n;
    out->len_a = (int)la;
    out->len_b = (int)lb;
    out->removed = (int)remove;
    return 0;
}

/* ---- construction -------------------------------------------------------------------------- */

void tokenizer_options_default(tokenizer_options_t *o)
{
    o->do_lower_case = true;
    o->strip_accents = -1;
    o->tokenize_chinese_chars = true;
    o->split_on_punc = true;
    o->model_max_length = 0;
}

int tokenizer_new(const vocab_t *vocab, const tokenizer_options_t *opt, tokenizer_t **out)
{
    tokenizer_t *t;

    *out = NULL;
    t = mem_alloc(1, sizeof *t, "tokenizer");
    if (!t)
        return ERR_NOMEM;
    t->vocab = vocab;
    if (opt)
        t->opt = *opt;
    else
        tokenizer_options_default(&t->opt);
    t->lower = t->opt.do_lower_case;
    t->strip = t->opt.strip_accents > 0 || (t->lower && t->opt.strip_accents < 0);
    t->unk = vocab_special(vocab, VOCAB_UNK);
    /* A special token missing from the vocabulary converts to [UNK], as in transformers. */
    for (int k = 0; k < VOCAB__NSPECIAL; k++) {
        int id = vocab_special(vocab, (vocab_special_t)k);
        t->special_id[k] = id >= 0 ? id : t->unk;
    }
    *out = t;
    return 0;
}

void tokenizer_free(tokenizer_t **tp)
{
    tokenizer_t *t;

    if (!tp || !*tp)
        return;
    t = *tp;
    free(t->raw.v);
    free(t->text.v);
    free(t->word.v);
    free(t->norm.v);
    free(t->utf8);
    free(t->pieces.v);
    free(t->tmp.v);
    free(t->a.v);
    free(t->b.v);
    free(t->ids.v);
    free(t->types.v);
    free(t);
    *tp = NULL;
}

/* ---- tokenizer_config.json ------------------------------------------------------------------- */

static int cfg_bad(const char *label, int code, const char *key, const char *what)
{
    return err_set(code, "%s: \"%s\": %s", label, key, what);
}

static int cfg_bool(json_t *root, const char *label, const char *key, bool *out)
{
    json_t *v = json_object_get(root, key);

    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return cfg_bad(label, ERR_PARSE, key, "expected true or false");
    *out = json_is_true(v);
    return 0;
}

/* A special token given as "[X]" or {"content": "[X]", ...} must be BERT's own. */
static int cfg_special(json_t *root, const char *label, const char *key, const char *want)
{
    json_t *v = json_object_get(root, key);
    const char *s;

    if (!v || json_is_null(v))
        return 0;
    s = json_is_object(v) ? json_string_value(json_object_get(v, "content"))
                          : json_string_value(v);
    if (!s)
        return cfg_bad(label, ERR_PARSE, key, "expected a string or {\"content\": string}");
    if (strcmp(s, want) != 0) {
        char msg[200];
        snprintf(msg, sizeof msg, "'%.40s' is not supported; only BERT's %s", s, want);
        return cfg_bad(label, ERR_UNSUPPORTED, key, msg);
    }
    return 0;
}

static int cfg_added_tokens(json_t *root, const char *label, const vocab_t *vocab)
{
    json_t *added = json_object_get(root, "added_tokens_decoder"), *v;
    const char *key;

    if (!added || json_is_null(added))
        return 0;
    if (!json_is_object(added))
        return cfg_bad(label, ERR_PARSE, "added_tokens_decoder", "expected an object");
    json_object_foreach(added, key, v) {
        const char *content = json_string_value(json_object_get(v, "content"));
        char *end;
        long id;
        char msg[300];

        errno = 0;
        id = strtol(key, &end, 10);
        if (!content || !*key || *end || errno || id < 0)
            return cfg_bad(label, ERR_PARSE, "added_tokens_decoder",
                           "expected \"id\": {\"content\": token, ...} entries");
        if (vocab && (id >= vocab_size(vocab) ||
                      vocab_find(vocab, content, strlen(content)) != (int)id)) {
            snprintf(msg, sizeof msg, "token '%.40s' with id %ld is not the vocabulary's own; "
                     "tokens added beyond vocab.txt are not supported", content, id);
            return cfg_bad(label, ERR_UNSUPPORTED, "added_tokens_decoder", msg);
        }
    }
    return 0;
}

int tokenizer_config_parse(const char *text, size_t len, const char *label, const vocab_t *vocab,
                           tokenizer_options_t *o)
{
    json_error_t jerr;
    json_t *root, *v;
    int rc = 0;

    if (len > (1u << 22))
        return err_set(ERR_RANGE, "%s: %zu bytes, too large for a tokenizer_config.json", label,
                       len);
    /* transformers writes model_max_length as 1000000000000000019884624838656 for "no limit":
     * read integers as doubles so that such a value does not make the file unreadable. */
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &jerr);
    if (!root)
        return err_set(ERR_PARSE, "%s: line %d, column %d: %s", label, jerr.line, jerr.column,
                       jerr.text);
    if (!json_is_object(root)) {
        rc = err_set(ERR_PARSE, "%s: expected a JSON object", label);
        goto out;
    }
    if ((rc = cfg_bool(root, label, "do_lower_case", &o->do_lower_case)) ||
        (rc = cfg_bool(root, label, "tokenize_chinese_chars", &o->tokenize_chinese_chars)) ||
        (rc = cfg_bool(root, label, "do_split_on_punc", &o->split_on_punc)) ||
        (rc = cfg_special(root, label, "unk_token", "[UNK]")) ||
        (rc = cfg_special(root, label, "sep_token", "[SEP]")) ||
        (rc = cfg_special(root, label, "pad_token", "[PAD]")) ||
        (rc = cfg_special(root, label, "cls_token", "[CLS]")) ||
        (rc = cfg_special(root, label, "mask_token", "[MASK]")) ||
        (rc = cfg_added_tokens(root, label, vocab)))
        goto out;
    v = json_object_get(root, "strip_accents");
    if (v && !json_is_null(v)) {
        if (!json_is_boolean(v)) {
            rc = cfg_bad(label, ERR_PARSE, "strip_accents", "expected true, false or null");
            goto out;
        }
        o->strip_accents = json_is_true(v) ? 1 : 0;
    }
    v = json_object_get(root, "do_basic_tokenize");
    if (v && !json_is_true(v)) {
        rc = cfg_bad(label, ERR_UNSUPPORTED, "do_basic_tokenize",
                     "only true is supported (WordPiece straight on raw text is not)");
        goto out;
    }
    v = json_object_get(root, "never_split");
    if (v && !json_is_null(v) && !(json_is_array(v) && json_array_size(v) == 0)) {
        rc = cfg_bad(label, ERR_UNSUPPORTED, "never_split",
                     "extra never-split tokens are not supported");
        goto out;
    }
    v = json_object_get(root, "additional_special_tokens");
    if (v && !json_is_null(v) && !(json_is_array(v) && json_array_size(v) == 0)) {
        rc = cfg_bad(label, ERR_UNSUPPORTED, "additional_special_tokens",
                     "special tokens beyond [UNK] [SEP] [PAD] [CLS] [MASK] are not supported");
        goto out;
    }
    v = json_object_get(root, "tokenizer_class");
    if (v && !json_is_null(v)) {
        const char *cls = json_string_value(v);
        if (!cls || (strcmp(cls, "BertTokenizer") != 0 && strcmp(cls, "BertTokenizerFast") != 0)) {
            rc = cfg_bad(label, ERR_UNSUPPORTED, "tokenizer_class",
                         "only BertTokenizer (WordPiece) is supported");
            goto out;
        }
    }
    v = json_object_get(root, "model_max_length");
    if (v && !json_is_null(v)) {
        double m = json_number_value(v);
        if (!json_is_number(v) || !(m >= 1)) {
            rc = cfg_bad(label, ERR_PARSE, "model_max_length", "expected a positive number");
            goto out;
        }
        /* Beyond any position table: transformers' way of saying "no limit". */
        o->model_max_length = m > SHAPE_MAX_POSITIONS ? 0 : (long)m;
    }
out:
    json_decref(root);
    return rc;
}

int tokenizer_config_load(const char *path, const vocab_t *vocab, tokenizer_options_t *o)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;
    int rc;

    if (!f)
        return err_set(ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    buf = mem_alloc((1u << 22) + 1, 1, "tokenizer_config.json");
    if (!buf) {
        fclose(f);
        return ERR_NOMEM;
    }
    n = fread(buf, 1, (1u << 22) + 1, f);
    if (ferror(f))
        rc = err_set(ERR_IO, "%s: read failed: %s", path, strerror(errno));
    else
        rc = tokenizer_config_parse(buf, n, path, vocab, o);
    fclose(f);
    free(buf);
    return rc;
}
