/* The training engine: forward and backward passes of a BERT encoder with a sequence-
 * classification head and PEFT modules, on a thread pool, over batches of variable-length
 * sequences.
 *
 * Numerics follow Hugging Face's BertForSequenceClassification (post-LN layers, exact GELU,
 * pooler tanh on [CLS], dropout, cross-entropy for labels > 1, MSE for one label) with the
 * modules of worker/engine/peft.h. Parity with PyTorch is tested on committed fixtures
 * (tests/reference/).
 *
 * Only the needed work is done:
 *  - a batch is packed without padding: every token-wise product runs over the real tokens,
 *    attention over each sequence's own length;
 *  - frozen weights get no gradients; the backward pass stops at the lowest layer holding a
 *    module (and inside it, at the first point no trainable parameter lies below); layers below
 *    it keep no activations;
 *  - the top layer computes its queries and everything after attention for the [CLS] rows only,
 *    the only rows the head reads;
 *  - dropout masks are regenerated from a hash in the backward pass instead of being stored.
 * engine_opts_t.all_work turns the skipping off (tests compare both).
 *
 * An engine belongs to one thread at a time (a trial runner's); its pool threads are its own.
 * Steps are bounded, so a daemon cancels a trial between engine calls. */
#ifndef AUTOPEFT_ENGINE_H
#define AUTOPEFT_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "worker/engine/model.h"
#include "worker/engine/peft.h"
#include "worker/engine/pool.h"

typedef struct {
    int threads;       /* pool threads, the caller included (the worker's share of cores) */
    int max_batch;     /* sequences per batch */
    int max_len;       /* tokens per sequence; at most the model's positions */
    int max_tokens;    /* tokens per batch; 0 = max_batch * max_len */
    uint64_t seed;     /* dropout stream */
    bool no_dropout;   /* train without dropout (exact comparisons) */
    bool all_work;     /* no skipped work: backward through every layer, full top layer */
} engine_opts_t;

/* A batch of n sequences. Token arrays are packed (sequence b starts after the lengths of the
 * ones before it) when stride is 0, else sequence b starts at b * stride. */
typedef struct {
    int n;
    const int32_t *len;       /* [n], each 1..max_len */
    const int32_t *ids;       /* token ids, below the vocabulary size */
    const int32_t *types;     /* token types; NULL = all 0 */
    int stride;
    const int32_t *classes;   /* [n] class labels (labels > 1); needed for training */
    const float *targets;     /* [n] regression targets (labels == 1); needed for training */
} engine_batch_t;

/* Work of the last training step in one part of the model. */
typedef struct {
    double fwd_flops;          /* matrix-product FLOPs (2 m n k per product) */
    double bwd_flops;
    size_t stored_floats;      /* activations kept for the backward pass (capacity) */
    bool backward;             /* the backward pass entered this part */
} engine_part_stats_t;

typedef struct engine engine_t;

void engine_opts_default(engine_opts_t *o);

/* An engine training p (whose shape is m's). NULL (err_set says why) on bad options or no
 * memory. Calls blas_set_threads(1): the engine splits products over its own pool. */
engine_t *engine_new(const model_t *m, peft_t *p, const engine_opts_t *o);
void engine_free(engine_t **ep);

/* Training forward and backward pass: the gradients are zeroed, then hold d(loss)/d(params)
 * for the mean loss over the batch. loss and logits ([n, labels]) may be NULL. ERR_INVAL
 * (naming the sequence and field) on a bad batch; ERR_NUMERIC if the loss is not finite. */
int engine_train(engine_t *e, const engine_batch_t *b, double *loss, float *logits);
/* Evaluation: no dropout, nothing stored. logits [n, labels]; loss (NULL: not wanted) needs
 * the batch's labels. */
int engine_eval(engine_t *e, const engine_batch_t *b, float *logits, double *loss);

/* The last layer's hidden states of every token ([tokens of the batch, d], packed in the
 * batch's order: BertModel's last_hidden_state without the padding), in evaluation mode. Needs
 * an engine made with all_work (the top layer otherwise computes the [CLS] rows only):
 * ERR_STATE otherwise. For exactness checks against a reference and feature extraction. */
int engine_hidden(engine_t *e, const engine_batch_t *b, float *out);

/* The engine's thread pool, for work between its calls on the same thread (the optimiser's
 * update: optim_opts_t.pool). */
pool_t *engine_pool(const engine_t *e);
/* Restarts the dropout stream from a seed (as engine_opts_t.seed at creation). */
void engine_reseed(engine_t *e, uint64_t seed);

/* What an engine was planned to do, for its caller's log (the engine itself does no I/O). */
typedef struct {
    int threads;               /* engine_opts_t.threads */
    int lowest_trained;        /* the lowest layer the backward pass enters; layers: none */
    int layers;
    size_t stored_floats;      /* as engine_stored_floats */
} engine_info_t;

void engine_info(const engine_t *e, engine_info_t *out);

/* part: -1 embeddings, 0..layers-1 the layers, layers = the head (prefix MLP included). */
int engine_part_stats(const engine_t *e, int part, engine_part_stats_t *out);
/* Matrix-product FLOPs of the last training step, in all. */
double engine_step_flops(const engine_t *e);
/* Floats of activation storage the engine holds. */
size_t engine_stored_floats(const engine_t *e);

#endif
