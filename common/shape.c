#include "common/shape.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"

typedef struct {
    const char *name;
    shape_t shape;
} preset_t;

/* Published configurations: Google's compact BERTs (Turc et al., "Well-Read Students Learn
 * Better"), BERT base/large, and RoBERTa, whose byte-level BPE vocabulary has 50265 entries, two
 * position slots reserved for the padding offset (514) and a single token type. */
static const preset_t presets[] = {
    {"bert-tiny", {128, 2, 2, 512, 30522, 512, 2, 2}},
    {"bert-mini", {256, 4, 4, 1024, 30522, 512, 2, 2}},
    {"bert-small", {512, 4, 8, 2048, 30522, 512, 2, 2}},
    {"bert-medium", {512, 8, 8, 2048, 30522, 512, 2, 2}},
    {"bert-base", {768, 12, 12, 3072, 30522, 512, 2, 2}},
    {"bert-large", {1024, 24, 16, 4096, 30522, 512, 2, 2}},
    {"roberta-base", {768, 12, 12, 3072, 50265, 514, 1, 2}},
    {"roberta-large", {1024, 24, 16, 4096, 50265, 514, 1, 2}},
};

#define NPRESETS (sizeof presets / sizeof presets[0])

void shape_default(shape_t *s, int hidden, int layers)
{
    int heads = hidden / 64;

    /* BERT's heads are 64 wide; for a width that 64 does not divide, take the largest head
     * count below hidden/64 that does divide it, so that the default always passes
     * shape_check. */
    if (heads < 1)
        heads = 1;
    while (heads > 1 && hidden % heads != 0)
        heads--;
    s->hidden = hidden;
    s->layers = layers;
    s->heads = heads;
    s->intermediate = 4 * hidden;
    s->vocab = 30522;
    s->positions = 512;
    s->type_vocab = 2;
    s->labels = 2;
}

int shape_preset(const char *name, shape_t *s)
{
    char names[256];
    size_t used = 0;

    for (size_t i = 0; i < NPRESETS; i++) {
        if (name && strcmp(presets[i].name, name) == 0) {
            *s = presets[i].shape;
            return 0;
        }
    }
    names[0] = '\0';
    for (size_t i = 0; i < NPRESETS && used < sizeof names; i++)
        used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                                 presets[i].name);
    return err_set(ERR_NOTFOUND, "no model shape named '%s'; known shapes: %s", name ? name : "",
                   names);
}

const char *shape_preset_name(int i)
{
    return i >= 0 && (size_t)i < NPRESETS ? presets[i].name : NULL;
}

static int check_field(const char *field, int v, int max)
{
    if (v < 1 || v > max)
        return err_set(ERR_INVAL, "model shape: %s is %d, expected 1..%d", field, v, max);
    return 0;
}

int shape_check(const shape_t *s)
{
    int rc;

    if ((rc = check_field("hidden", s->hidden, SHAPE_MAX_HIDDEN)) != 0 ||
        (rc = check_field("layers", s->layers, SHAPE_MAX_LAYERS)) != 0 ||
        (rc = check_field("heads", s->heads, s->hidden > 0 ? s->hidden : 1)) != 0 ||
        (rc = check_field("intermediate", s->intermediate, SHAPE_MAX_INTERMEDIATE)) != 0 ||
        (rc = check_field("vocab", s->vocab, SHAPE_MAX_VOCAB)) != 0 ||
        (rc = check_field("positions", s->positions, SHAPE_MAX_POSITIONS)) != 0 ||
        (rc = check_field("type_vocab", s->type_vocab, SHAPE_MAX_TYPE_VOCAB)) != 0 ||
        (rc = check_field("labels", s->labels, SHAPE_MAX_LABELS)) != 0)
        return rc;
    if (s->hidden % s->heads != 0)
        return err_set(ERR_INVAL, "model shape: heads (%d) must divide hidden (%d)", s->heads,
                       s->hidden);
    return 0;
}

/* The products below stay far inside 64 bits under the caps (the largest, vocab * hidden, is at
 * most 2^22 * 2^16), so no overflow check is needed once shape_check has passed. */
uint64_t shape_backbone_params(const shape_t *s)
{
    uint64_t h = (uint64_t)s->hidden, in = (uint64_t)s->intermediate;
    uint64_t embeddings = (uint64_t)s->vocab * h + (uint64_t)s->positions * h +
                          (uint64_t)s->type_vocab * h + 2 * h;
    uint64_t attention = 4 * (h * h + h) + 2 * h;      /* Q, K, V, O and their LayerNorm */
    uint64_t ffn = (h * in + in) + (in * h + h) + 2 * h; /* up, down and their LayerNorm */

    return embeddings + (uint64_t)s->layers * (attention + ffn);
}

uint64_t shape_head_params(const shape_t *s)
{
    uint64_t h = (uint64_t)s->hidden;

    return (h * h + h) + (h * (uint64_t)s->labels + (uint64_t)s->labels);
}
