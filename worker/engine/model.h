/* The frozen pretrained encoder: a BERT-family model's weights, addressable by their Hugging Face
 * names, and its options from config.json.
 *
 * Weights live in one buffer, carved in the order of the table below, with Hugging Face's layouts
 * (Linear weights are [out, in], as in model.safetensors, so a checkpoint is copied, never
 * transposed). One deliberate grouping: a layer's query, key and value weights are adjacent
 * ([3d, d] in all), and so are their biases, so the engine can run the key and value projections
 * as one product. The table names each tensor without the "bert." prefix of pretraining
 * checkpoints; model_find accepts both.
 *
 *   embeddings.word_embeddings.weight            [vocab, d]
 *   embeddings.position_embeddings.weight        [positions, d]
 *   embeddings.token_type_embeddings.weight      [type_vocab, d]
 *   embeddings.LayerNorm.weight / .bias          [d]
 *   encoder.layer.N.attention.self.query.weight  [d, d]   (then key, value)
 *   encoder.layer.N.attention.self.query.bias    [d]      (then key, value)
 *   encoder.layer.N.attention.output.dense.weight / .bias            [d, d] / [d]
 *   encoder.layer.N.attention.output.LayerNorm.weight / .bias        [d]
 *   encoder.layer.N.intermediate.dense.weight / .bias                [ff, d] / [ff]
 *   encoder.layer.N.output.dense.weight / .bias                      [d, ff] / [d]
 *   encoder.layer.N.output.LayerNorm.weight / .bias                  [d]
 *   pooler.dense.weight / .bias                  [d, d] / [d]
 *   classifier.weight / .bias                    [labels, d] / [labels]
 *
 * The pooler and classifier are the task head: a trial copies them into its trainable buffer
 * (worker/engine/peft.h), so the model itself stays read-only and can be shared by trials. A loader
 * (issue 4: safetensors) fills tensors by name and marks them loaded; model_init_missing then
 * initialises the rest as Hugging Face does for a missing pooler or classifier. */
#ifndef AUTOPEFT_MODEL_H
#define AUTOPEFT_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/shape.h"

#define MODEL_NAME_MAX 96

/* Options from config.json (Hugging Face names in comments). */
typedef struct {
    shape_t shape;
    float layer_norm_eps;      /* layer_norm_eps, 1e-12 */
    float hidden_dropout;      /* hidden_dropout_prob, 0.1 */
    float attention_dropout;   /* attention_probs_dropout_prob, 0.1 */
    float classifier_dropout;  /* classifier_dropout; negative (null) = hidden_dropout */
    float initializer_range;   /* initializer_range, 0.02 */
    int pad_token_id;          /* pad_token_id, 0: its word embedding starts at zero */
} model_opts_t;

typedef struct {
    char name[MODEL_NAME_MAX];
    int ndim;          /* 1 or 2 */
    int dims[2];       /* [out, in] for Linear weights */
    size_t count;      /* dims[0] * dims[1] */
    float *data;
    bool loaded;       /* set by a loader; model_init_missing initialises the others */
} model_tensor_t;

/* Views of one set of backbone (and head) weights, carved from a buffer by model_carve. */
typedef struct {
    float *word, *pos, *type, *ln_g, *ln_b;
} model_embed_t;

typedef struct {
    float *qkv_w, *qkv_b;    /* [3d, d], [3d]: query, key, value stacked */
    float *ao_w, *ao_b;      /* attention.output.dense [d, d], [d] */
    float *ln1_g, *ln1_b;    /* attention.output.LayerNorm */
    float *in_w, *in_b;      /* intermediate.dense [ff, d], [ff] */
    float *out_w, *out_b;    /* output.dense [d, ff], [d] */
    float *ln2_g, *ln2_b;    /* output.LayerNorm */
} model_layer_t;

typedef struct {
    float *pool_w, *pool_b;  /* pooler.dense [d, d], [d] */
    float *cls_w, *cls_b;    /* classifier [labels, d], [labels] */
} model_head_t;

typedef struct {
    model_embed_t emb;
    model_layer_t *layer;    /* [layers], owned by whoever carved the view */
    model_head_t head;
} model_view_t;

typedef struct model model_t;

/* BERT's defaults for a shape. */
void model_opts_default(model_opts_t *o, const shape_t *s);
/* 0 or ERR_INVAL naming the bad option (shape_check, probabilities in [0, 1), eps > 0). */
int model_opts_check(const model_opts_t *o);

/* Floats in a backbone of this shape (with the head or not), and the number of tensors. */
size_t model_param_count(const shape_t *s, bool head);
int model_tensor_total(const shape_t *s, bool head);
/* Carves buf (model_param_count floats) into views in the table's order; v->layer must hold
 * s->layers entries. table (model_tensor_total entries) receives names, shapes and pointers
 * when not NULL. Without the head, v->head is all NULL. */
void model_carve(const shape_t *s, bool head, float *buf, model_view_t *v, model_tensor_t *table);

/* A zeroed model; NULL (err_set says why) on bad options or no memory. */
model_t *model_new(const model_opts_t *o);
void model_free(model_t **mp);

const model_opts_t *model_opts(const model_t *m);
/* Replaces the dropout probabilities (a trial's recipe may override config.json's); each in
 * [0, 1), classifier negative = hidden's. ERR_INVAL otherwise, m unchanged. */
int model_set_dropout(model_t *m, float hidden, float attention, float classifier);
const model_view_t *model_weights(const model_t *m);
int model_tensor_count(const model_t *m);
model_tensor_t *model_tensor(model_t *m, int i);
/* The tensor of a Hugging Face name ("bert." prefix allowed); NULL and ERR_NOTFOUND if none. */
model_tensor_t *model_find(model_t *m, const char *name);
/* Whether a tensor name ends with suffix (".bias", "LayerNorm.weight"): how the model, the PEFT
 * tensors and the checkpoint loader tell a tensor's kind from its name. */
bool model_name_ends_with(const char *name, const char *suffix);

/* Hugging Face's initialisation (BertPreTrainedModel._init_weights): Linear and embedding
 * weights N(0, initializer_range), biases 0, LayerNorm 1 and 0, the padding token's word
 * embedding 0. Each tensor draws from its own stream of the seed, so a tensor gets the same
 * values whether everything or only the missing ones are initialised. */
void model_init_random(model_t *m, uint64_t seed);
/* The same for tensors not marked loaded; returns how many were initialised. They stay
 * unmarked, so that the caller can name them in its log. */
int model_init_missing(model_t *m, uint64_t seed);

#endif
