/* The embedded default's model and recipe (embedded_spec.h). */
#include "common/embedded_spec.h"

#include <string.h>

void embedded_spec_model(uint64_t seed, embedded_model_t *out)
{
    memset(out, 0, sizeof *out);
    shape_default(&out->shape, 64, 4);
    out->shape.heads = 4;
    out->shape.intermediate = 256;
    out->shape.vocab = EMBEDDED_SPEC_VOCAB;
    out->shape.positions = EMBEDDED_SPEC_POSITIONS;
    out->shape.type_vocab = 2;
    out->shape.labels = 2;
    out->initializer_range = 0.1;
    out->hidden_dropout = 0.0;
    out->attention_dropout = 0.0;
    out->seed = seed;
}

void embedded_spec_recipe(int max_words, embedded_recipe_t *out)
{
    memset(out, 0, sizeof *out);
    out->epochs = 3;
    out->batch_size = 32;
    out->eval_batch_size = 256;
    out->max_length = max_words + 2;
    out->patience = 0;
    out->learning_rate = 8e-3;
    out->warmup_ratio = 0.1;
    out->weight_decay = 0.0;
    out->max_grad_norm = 1.0;
    out->dropout = 0.0;
    out->prefix_bottleneck = 16;
}
