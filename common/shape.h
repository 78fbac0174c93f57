/* The shape of a BERT-family encoder with a sequence-classification head: what parameter counts
 * and the engine need to know about a model without loading its weights. */
#ifndef AUTOPEFT_SHAPE_H
#define AUTOPEFT_SHAPE_H

#include <stdint.h>

/* Hard caps on shapes read from config files or flags (overflow-safe products below them). */
#define SHAPE_MAX_HIDDEN 65536
#define SHAPE_MAX_LAYERS 256
#define SHAPE_MAX_INTERMEDIATE 262144
#define SHAPE_MAX_VOCAB 4194304
#define SHAPE_MAX_POSITIONS 65536
#define SHAPE_MAX_TYPE_VOCAB 1024
#define SHAPE_MAX_LABELS 65536

typedef struct {
    int hidden;        /* model width d */
    int layers;        /* encoder layers L */
    int heads;         /* attention heads; divides hidden */
    int intermediate;  /* FFN width */
    int vocab;         /* word-piece vocabulary */
    int positions;     /* absolute position embeddings */
    int type_vocab;    /* token-type (segment) embeddings */
    int labels;        /* classifier outputs; 1 = regression */
} shape_t;

/* BERT conventions for a width and depth: heads = hidden/64 (at least 1; lowered to the nearest
 * divisor of hidden when 64 does not divide it), intermediate = 4*hidden, the bert-base-uncased
 * vocabulary (30522), 512 positions, 2 token types, 2 labels. */
void shape_default(shape_t *s, int hidden, int layers);
/* Named shapes: bert-tiny, bert-mini, bert-small, bert-medium, bert-base, bert-large,
 * roberta-base, roberta-large. ERR_NOTFOUND (listing the names) for others. */
int shape_preset(const char *name, shape_t *s);
/* The i-th preset's name (i from 0), NULL past the last: for help texts and tests. */
const char *shape_preset_name(int i);
/* Every field in range and heads dividing hidden; ERR_INVAL naming the field otherwise. */
int shape_check(const shape_t *s);

/* Frozen pretrained parameters: embeddings (word, position, token type, LayerNorm) and the
 * encoder layers (attention Q/K/V/O, two LayerNorms, FFN), every weight and bias. */
uint64_t shape_backbone_params(const shape_t *s);
/* Task head: pooler dense (hidden x hidden + bias) and classifier (hidden x labels + bias). */
uint64_t shape_head_params(const shape_t *s);

#endif
