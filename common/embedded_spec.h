/* The embedded default's model and training recipe: what both sides need to know of the task
 * `autopeft run` searches when the user names none. The coordinator counts parameters on the
 * model's shape and writes the study configuration from the recipe; the worker generates the
 * task and the seeded model (worker/inputs/embedded.h) to these figures. Tests check that the
 * generator's vocabulary has EMBEDDED_SPEC_VOCAB words for every seed. */
#ifndef AUTOPEFT_EMBEDDED_SPEC_H
#define AUTOPEFT_EMBEDDED_SPEC_H

#include <stdint.h>

#include "common/shape.h"

/* [PAD] [UNK] [CLS] [SEP] [MASK] and the grammar's 84 words: the same for every seed. */
#define EMBEDDED_SPEC_VOCAB 89
/* The model positions of the default shape: every allowed sentence fits. */
#define EMBEDDED_SPEC_POSITIONS 64
/* The default options' longest sentence in words, and so the recipe's max_length (+2). */
#define EMBEDDED_SPEC_MAX_WORDS 22

/* The model the task is meant for: a small BERT whose frozen weights are random (seeded), so
 * that `autopeft run` needs no download. Its weights are drawn N(0, initializer_range) as
 * Hugging Face initialises a BERT, but wider than HF's 0.02: with 0.02 and hidden 64 the
 * attention is near uniform and the [CLS] state barely depends on the words, so no PEFT module
 * learns anything within the budget; 0.1 gives random features the modules can use
 * (docs/embedded-task.md has the figures). No dropout: on a frozen random backbone it drowns
 * the small signal the modules start from. */
typedef struct {
    shape_t shape;               /* hidden 64, 4 layers, 4 heads, intermediate 256, vocab
                                  * EMBEDDED_SPEC_VOCAB, 64 positions, 2 types, 2 labels */
    double initializer_range;    /* 0.1 */
    double hidden_dropout;       /* 0 */
    double attention_dropout;    /* 0 */
    uint64_t seed;               /* of the weights: the task's seed */
} embedded_model_t;

/* A training recipe sized for a 30-trial search in under 3 minutes on 2 cores (field names as
 * the study configuration's [recipe]); docs/embedded-task.md gives the reasons. */
typedef struct {
    int epochs;                /* 3 */
    int batch_size;            /* 32 */
    int eval_batch_size;       /* 256 */
    int max_length;            /* word pieces with [CLS] and [SEP]: max_words + 2 */
    int patience;              /* 0: off */
    double learning_rate;      /* 8e-3 */
    double warmup_ratio;       /* 0.1 */
    double weight_decay;       /* 0 */
    double max_grad_norm;      /* 1 */
    double dropout;            /* 0 */
    /* Width of the prefix reparameterisation MLP (it is trained, never deployed: the cost
     * objective does not see it). AutoPEFT's 800 makes prefix tuning diverge at this learning
     * rate on this model (constant predictions in every run measured); 64 still did in about
     * half the runs with prefixes, 16 in 2 of 12. */
    int prefix_bottleneck;     /* 16 */
} embedded_recipe_t;

/* The model of the task generated from seed. */
void embedded_spec_model(uint64_t seed, embedded_model_t *out);
/* The recipe for sentences of at most max_words words (EMBEDDED_SPEC_MAX_WORDS by default). */
void embedded_spec_recipe(int max_words, embedded_recipe_t *out);

#endif
