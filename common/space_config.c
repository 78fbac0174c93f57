/* Concrete PEFT configurations: their layer masks, canonical form, text form and exact
 * parameter counts (space.h). The space itself (ladders, sampling, encoding) is in space.c. */
#include "common/space.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/parse.h"

static const char *const module_names[SPACE_NMODULES] = {"sa", "pa", "pt", "lora", "ha"};

/* Keys of the text form: the modules, then the shared mask. */
#define KEY_LAYERS SPACE_NMODULES
#define NKEYS (SPACE_NMODULES + 1)
/* How much of an offending token an error message quotes. */
#define QUOTE_MAX 64

const char *space_module_name(space_module_t m)
{
    return (unsigned)m < SPACE_NMODULES ? module_names[m] : "?";
}

bool space_config_layer(const space_config_t *c, space_module_t m, int layer)
{
    if ((unsigned)m >= SPACE_NMODULES || layer < 0 || layer >= SPACE_MAX_LAYERS)
        return false;
    return (c->mask[m][layer / 64] >> (layer % 64)) & 1;
}

void space_config_set_layer(space_config_t *c, space_module_t m, int layer, bool on)
{
    uint64_t bit;

    if ((unsigned)m >= SPACE_NMODULES || layer < 0 || layer >= SPACE_MAX_LAYERS)
        return;
    bit = (uint64_t)1 << (layer % 64);
    if (on)
        c->mask[m][layer / 64] |= bit;
    else
        c->mask[m][layer / 64] &= ~bit;
}

int space_config_layer_count(const space_config_t *c, space_module_t m)
{
    int n = 0;

    if ((unsigned)m >= SPACE_NMODULES)
        return 0;
    for (int w = 0; w < SPACE_MASK_WORDS; w++)
        n += __builtin_popcountll(c->mask[m][w]);
    return n;
}

bool space_config_active(const space_config_t *c, space_module_t m)
{
    return (unsigned)m < SPACE_NMODULES && c->size[m] != 0 && space_config_layer_count(c, m) > 0;
}

/* Clears the bits at or above `layers`, which no layer stands behind. */
static void clear_high_bits(uint64_t *mask, int layers)
{
    for (int w = 0; w < SPACE_MASK_WORDS; w++) {
        int lo = w * 64;
        if (layers <= lo)
            mask[w] = 0;
        else if (layers < lo + 64)
            mask[w] &= ((uint64_t)1 << (layers - lo)) - 1;
    }
}

void space_config_canonicalise(space_config_t *c)
{
    int layers = c->layers;

    if (layers < 0)
        layers = 0;
    for (int m = 0; m < SPACE_NMODULES; m++) {
        clear_high_bits(c->mask[m], layers);
        if (!space_config_active(c, (space_module_t)m)) {
            c->size[m] = 0;
            memset(c->mask[m], 0, sizeof c->mask[m]);
        }
    }
}

bool space_config_equal(const space_config_t *a, const space_config_t *b)
{
    space_config_t x = *a, y = *b;

    space_config_canonicalise(&x);
    space_config_canonicalise(&y);
    if (x.layers != y.layers)
        return false;
    for (int m = 0; m < SPACE_NMODULES; m++) {
        if (x.size[m] != y.size[m])
            return false;
        for (int w = 0; w < SPACE_MASK_WORDS; w++)
            if (x.mask[m][w] != y.mask[m][w])
                return false;
    }
    return true;
}

uint64_t space_config_hash(const space_config_t *c)
{
    space_config_t k = *c;
    uint64_t h;

    /* Field by field (never the raw bytes, which include padding), each step through the
     * splitmix64 finaliser so that nearby configurations spread over the whole range. */
    space_config_canonicalise(&k);
    h = rng_mix64(0x5350414345ULL ^ (uint64_t)(uint32_t)k.layers);
    for (int m = 0; m < SPACE_NMODULES; m++) {
        h = rng_mix64(h ^ k.size[m]);
        for (int w = 0; w < SPACE_MASK_WORDS; w++)
            h = rng_mix64(h ^ k.mask[m][w]);
    }
    return h;
}

/* ---- text form --------------------------------------------------------------------------- */

static bool masks_equal(const uint64_t *a, const uint64_t *b)
{
    return memcmp(a, b, SPACE_MASK_WORDS * sizeof a[0]) == 0;
}

/* Appends to buf[*used..len); false once the text does not fit. */
static bool put(char *buf, size_t len, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool put(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*used >= len)
        return false;
    va_start(ap, fmt);
    n = vsnprintf(buf + *used, len - *used, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len - *used)
        return false;
    *used += (size_t)n;
    return true;
}

static bool put_bits(char *buf, size_t len, size_t *used, const uint64_t *mask, int layers)
{
    if (layers < 0 || *used + (size_t)layers >= len)
        return false;
    for (int l = 0; l < layers; l++)
        buf[(*used)++] = (mask[l / 64] >> (l % 64)) & 1 ? '1' : '0';
    buf[*used] = '\0';
    return true;
}

int space_config_format(const space_config_t *c, char *buf, size_t len)
{
    space_config_t k = *c;
    const uint64_t *shared = NULL;
    bool one_mask = true, ok = true;
    size_t used = 0;

    if (!buf || len == 0)
        return err_set(ERR_RANGE, "configuration text: no room for the text");
    if (k.layers < 1 || k.layers > SPACE_MAX_LAYERS)
        return err_set(ERR_INVAL, "configuration text: %d layers, expected 1..%d", k.layers,
                       SPACE_MAX_LAYERS);
    buf[0] = '\0';
    space_config_canonicalise(&k);
    for (int m = 0; m < SPACE_NMODULES; m++) {
        if (!space_config_active(&k, (space_module_t)m))
            continue;
        if (!shared)
            shared = k.mask[m];
        else if (!masks_equal(shared, k.mask[m]))
            one_mask = false;
    }
    for (int m = 0; m < SPACE_NMODULES && ok; m++) {
        bool active = space_config_active(&k, (space_module_t)m);
        if (m >= SPACE_FIRST_EXTENSION && !active)
            continue;
        ok = put(buf, len, &used, "%s%s=%" PRIu32, used ? " " : "", module_names[m], k.size[m]);
        if (ok && active && !one_mask)
            ok = put(buf, len, &used, "@") && put_bits(buf, len, &used, k.mask[m], k.layers);
    }
    if (ok && one_mask) {
        static const uint64_t none[SPACE_MASK_WORDS];
        ok = put(buf, len, &used, " layers=") &&
             put_bits(buf, len, &used, shared ? shared : none, k.layers);
    }
    if (!ok) {
        buf[0] = '\0';
        return err_set(ERR_RANGE, "configuration text: a buffer of %zu bytes is too small (%d "
                       "needed at most)", len, SPACE_TEXT_MAX);
    }
    return 0;
}

/* Quotes a token for an error message: at most QUOTE_MAX bytes, anything unprintable as '?',
 * so that garbage input cannot garble the terminal it is reported to. */
static const char *quote(const char *tok, size_t n, char out[QUOTE_MAX + 4])
{
    size_t i;

    for (i = 0; i < n && i < QUOTE_MAX; i++)
        out[i] = isprint((unsigned char)tok[i]) ? tok[i] : '?';
    if (n > QUOTE_MAX) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
    return out;
}

/* Reads a layer mask of exactly `layers` characters '0'/'1' from bits[0..n). */
static int parse_bits(const char *tok, size_t toklen, const char *bits, size_t n, int layers,
                      uint64_t *mask)
{
    char q[QUOTE_MAX + 4];

    for (size_t i = 0; i < n; i++) {
        if (bits[i] != '0' && bits[i] != '1')
            return err_set(ERR_PARSE, "configuration text: '%s': a layer mask is a string of 0s "
                           "and 1s (bottom layer first), found '%c' at position %zu",
                           quote(tok, toklen, q), isprint((unsigned char)bits[i]) ? bits[i] : '?',
                           i + 1);
    }
    if (n != (size_t)layers)
        return err_set(ERR_PARSE, "configuration text: '%s': the layer mask has %zu bits, "
                       "expected one per layer (%d)", quote(tok, toklen, q), n, layers);
    memset(mask, 0, SPACE_MASK_WORDS * sizeof mask[0]);
    for (int l = 0; l < layers; l++)
        if (bits[l] == '1')
            mask[l / 64] |= (uint64_t)1 << (l % 64);
    return 0;
}

static int parse_size(const char *tok, size_t toklen, const char *digits, size_t n, uint32_t *out)
{
    char q[QUOTE_MAX + 4], num[24];
    uint64_t v;

    bool number = n > 0;

    for (size_t i = 0; i < n && number; i++)
        number = isdigit((unsigned char)digits[i]);
    if (!number)
        return err_set(ERR_PARSE, "configuration text: '%s': expected a size (a non-negative "
                       "integer) after '='", quote(tok, toklen, q));
    if (n >= sizeof num)
        return err_set(ERR_RANGE, "configuration text: '%s': size is over the cap %u",
                       quote(tok, toklen, q), SPACE_MAX_SIZE);
    memcpy(num, digits, n);
    num[n] = '\0';
    if (parse_u64(num, SPACE_MAX_SIZE, "size", &v) != 0)
        return err_set(ERR_RANGE, "configuration text: '%s': size is over the cap %u",
                       quote(tok, toklen, q), SPACE_MAX_SIZE);
    *out = (uint32_t)v;
    return 0;
}

int space_config_parse(const char *text, int layers, space_config_t *out)
{
    space_config_t c;
    uint64_t layer_mask[SPACE_MASK_WORDS] = {0};
    bool seen[NKEYS] = {false}, own_mask[SPACE_NMODULES] = {false};
    char q[QUOTE_MAX + 4];
    const char *p = text;
    int ntokens = 0, rc;

    if (!text || !out)
        return err_set(ERR_INVAL, "configuration text: no text given");
    if (layers < 1 || layers > SPACE_MAX_LAYERS)
        return err_set(ERR_INVAL, "configuration text: a model of %d layers, expected 1..%d",
                       layers, SPACE_MAX_LAYERS);
    memset(&c, 0, sizeof c);
    c.layers = layers;
    for (;;) {
        const char *tok, *eq, *val, *at;
        size_t toklen, keylen, vallen;
        int key;

        while (*p && isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        tok = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        toklen = (size_t)(p - tok);
        ntokens++;
        eq = memchr(tok, '=', toklen);
        if (!eq)
            return err_set(ERR_PARSE, "configuration text: '%s': expected KEY=VALUE with KEY one "
                           "of sa, pa, pt, lora, ha, layers", quote(tok, toklen, q));
        keylen = (size_t)(eq - tok);
        for (key = 0; key < NKEYS; key++) {
            const char *name = key == KEY_LAYERS ? "layers" : module_names[key];
            if (strlen(name) == keylen && memcmp(name, tok, keylen) == 0)
                break;
        }
        if (key == NKEYS)
            return err_set(ERR_PARSE, "configuration text: '%s': unknown key; expected one of "
                           "sa, pa, pt, lora, ha, layers", quote(tok, toklen, q));
        if (seen[key])
            return err_set(ERR_PARSE, "configuration text: '%s': '%s' is given twice",
                           quote(tok, toklen, q), key == KEY_LAYERS ? "layers" : module_names[key]);
        seen[key] = true;
        val = eq + 1;
        vallen = toklen - keylen - 1;
        if (key == KEY_LAYERS) {
            if ((rc = parse_bits(tok, toklen, val, vallen, layers, layer_mask)) != 0)
                return rc;
            continue;
        }
        at = memchr(val, '@', vallen);
        if ((rc = parse_size(tok, toklen, val, at ? (size_t)(at - val) : vallen, &c.size[key])) != 0)
            return rc;
        if (at) {
            own_mask[key] = true;
            rc = parse_bits(tok, toklen, at + 1, vallen - (size_t)(at - val) - 1, layers,
                            c.mask[key]);
            if (rc != 0)
                return rc;
        }
    }
    if (ntokens == 0)
        return err_set(ERR_PARSE, "configuration text: empty; expected e.g. 'sa=48 pa=0 pt=0 "
                       "layers=%.*s'", layers < 12 ? layers : 12, "111111111111");
    for (int m = 0; m < SPACE_NMODULES; m++) {
        if (own_mask[m] || c.size[m] == 0)
            continue;
        if (!seen[KEY_LAYERS])
            return err_set(ERR_PARSE, "configuration text: %s=%" PRIu32 " has no layers: add "
                           "layers=<%d bits> or write %s=%" PRIu32 "@<%d bits>", module_names[m],
                           c.size[m], layers, module_names[m], c.size[m], layers);
        memcpy(c.mask[m], layer_mask, sizeof layer_mask);
    }
    space_config_canonicalise(&c);
    *out = c;
    return 0;
}

/* ---- parameter counts ---------------------------------------------------------------------- */

int space_config_count(const space_config_t *c, const shape_t *shape, int prefix_bottleneck,
                       space_counts_t *out)
{
    uint64_t h, b;
    int rc;

    if ((rc = shape_check(shape)) != 0)
        return rc;
    if (c->layers != shape->layers)
        return err_set(ERR_INVAL, "configuration has %d layers but the model has %d", c->layers,
                       shape->layers);
    if (prefix_bottleneck < 1 || prefix_bottleneck > SPACE_MAX_PREFIX_BOTTLENECK)
        return err_set(ERR_INVAL, "prefix bottleneck %d, expected 1..%d", prefix_bottleneck,
                       SPACE_MAX_PREFIX_BOTTLENECK);
    memset(out, 0, sizeof *out);
    out->backbone = shape_backbone_params(shape);
    out->head = shape_head_params(shape);
    h = (uint64_t)shape->hidden;
    b = (uint64_t)prefix_bottleneck;
    /* Bounds: sizes are below 2^32, hidden and the bottleneck at most 2^16, layers at most 2^8,
     * so every term below stays under 2^58 and their sum under 2^61. */
    for (int m = 0; m < SPACE_NMODULES; m++) {
        uint64_t n, d, train = 0, deploy = 0;

        if (!space_config_active(c, (space_module_t)m))
            continue;
        n = (uint64_t)space_config_layer_count(c, (space_module_t)m);
        d = c->size[m];
        switch ((space_module_t)m) {
        case SPACE_SA:
        case SPACE_PA:
            /* down-projection h -> d and up-projection d -> h, each with its bias */
            train = deploy = n * ((h * d + d) + (d * h + h));
            break;
        case SPACE_PT:
            /* training: the prefix embedding (d x h), the shared Linear(h, b), and one
             * Linear(b, 2h) per inserted layer producing its keys and values; deployed: the
             * ejected keys and values, d vectors of width h each, per inserted layer */
            train = d * h + (h * b + b) + n * (b * 2 * h + 2 * h);
            deploy = n * 2 * d * h;
            break;
        case SPACE_LORA:
            /* A (d x h) and B (h x d) on each of Wq and Wv, without biases */
            train = deploy = n * 2 * (h * d + d * h);
            break;
        case SPACE_HA:
            /* two adapters per inserted layer, each as sa's */
            train = deploy = n * 2 * ((h * d + d) + (d * h + h));
            break;
        default:
            break;
        }
        out->module_trainable[m] = train;
        out->module_deployed[m] = deploy;
        out->modules_trainable += train;
        out->modules_deployed += deploy;
        out->module_approx[m] = (m == SPACE_HA ? 2 : 1) * n * 2 * h * d;
        out->approx_autopeft += out->module_approx[m];
    }
    out->trainable = out->modules_trainable + out->head;
    out->deployed = out->modules_deployed + out->head;
    out->percent = 100.0 * (double)out->modules_deployed / (double)out->backbone;
    return 0;
}
