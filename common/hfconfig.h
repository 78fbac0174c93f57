/* A Hugging Face model's config.json, read into what the engine needs.
 *
 * Only BERT (model_type "bert", post-LayerNorm, absolute positions, exact-erf GELU) is accepted.
 * Every key the engine depends on is checked for type and range; values it cannot honour are
 * refused with a message naming the key and the file rather than silently changed, because a
 * model run with the wrong activation or position scheme still produces numbers, just wrong ones.
 * Keys that do not affect the computation (architectures, transformers_version, torch_dtype,
 * ...) are ignored, as transformers does. */
#ifndef AUTOPEFT_HFCONFIG_H
#define AUTOPEFT_HFCONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/shape.h"

/* config.json files are a few kilobytes; a larger one is not a config. */
#define HFCONFIG_MAX_BYTES (4 << 20)
/* Longest label name kept from id2label. */
#define HFCONFIG_MAX_LABEL_NAME 256

typedef struct {
    shape_t shape;               /* labels: from num_labels / id2label (default 2) */
    double layer_norm_eps;       /* 1e-12 for BERT */
    double hidden_dropout;       /* hidden_dropout_prob */
    double attention_dropout;    /* attention_probs_dropout_prob */
    double classifier_dropout;   /* classifier_dropout, or hidden_dropout when null/absent */
    double initializer_range;    /* std of the N(0, r) init of missing head weights */
    int pad_token_id;
    bool regression;             /* problem_type "regression", or num_labels 1 */
    char **label_names;          /* shape.labels names from id2label ("LABEL_0", ... if absent) */
} hfconfig_t;

/* Reads and validates path. ERR_IO, ERR_PARSE (not JSON / wrong type), ERR_RANGE (a size past
 * its cap in shape.h), ERR_INVAL (an inconsistent value), ERR_UNSUPPORTED (a model or option the
 * engine does not implement); each message names the file and the key. */
int hfconfig_load(const char *path, hfconfig_t **out);
/* The shape of the model in folder dir (dir/config.json, validated as hfconfig_load does), with
 * labels outputs (the task's, which may differ from the checkpoint's num_labels). The
 * coordinator counts parameters with it; the worker loads the same file. */
int hfconfig_shape(const char *dir, int labels, shape_t *out);
/* The same over text in memory; label names it in messages. */
int hfconfig_parse(const char *text, size_t len, const char *label, hfconfig_t **out);
void hfconfig_free(hfconfig_t **cp);

/* A BERT config with HF's defaults for the given shape (eps 1e-12, dropouts 0.1, init 0.02,
 * pad 0, labels LABEL_i); for `autopeft init-model` and tests. */
int hfconfig_new(const shape_t *shape, hfconfig_t **out);
/* Writes c as a config.json that transformers (BertConfig) and hfconfig_load both read back to
 * the same values. */
int hfconfig_write(const hfconfig_t *c, const char *path);

#endif
