/* Hugging Face model folders: loading one into the engine's model (worker/engine/model.h) and writing
 * one (`autopeft init-model`, saved full fine-tuning runs).
 *
 * A folder holds config.json (common/hfconfig.h), model.safetensors (worker/inputs/safetensors.h),
 * vocab.txt and optionally tokenizer_config.json. Tensors are matched to the model's table by
 * name, as transformers' from_pretrained does for BertForSequenceClassification:
 *   - with or without the "bert." prefix of pretraining and task checkpoints (the classifier
 *     has none in either); a tensor present under both spellings is refused;
 *   - the legacy LayerNorm names of TensorFlow-era checkpoints, "gamma" and "beta", are read
 *     as "weight" and "bias";
 *   - tensors a sequence classifier does not use are ignored: the MLM and NSP heads ("cls.*"),
 *     the "embeddings.position_ids" buffer, and (with a warning) heads of other tasks outside
 *     the encoder ("qa_outputs.*", ...);
 *   - a missing pooler or classifier is initialised as Hugging Face does
 *     (model_init_missing: N(0, initializer_range), zero biases) with a warning, since the
 *     model then starts from random head weights; a missing backbone tensor is an error;
 *   - a tensor under the encoder's names that the model does not have (a layer past
 *     num_hidden_layers, an unknown sub-module), a shape that differs from config.json's, a
 *     non-float dtype or a non-finite value is an error.
 * Every error names the file, the tensor and the reason. F32, F16, BF16 and F64 are read
 * (converted to float32). The file is memory-mapped while it is read; the model keeps its own
 * float32 copy in the engine's layout (query, key and value weights adjacent), so the mapping
 * is released when loading ends. */
#ifndef AUTOPEFT_CHECKPOINT_H
#define AUTOPEFT_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/hfconfig.h"
#include "worker/engine/model.h"
#include "worker/inputs/safetensors.h"
#include "worker/inputs/tokenizer.h"
#include "worker/inputs/vocab.h"

#define CHECKPOINT_PATH_MAX 4096

typedef struct {
    int loaded;             /* model tensors filled from the file */
    int initialised;        /* head tensors the file lacked, initialised */
    int ignored;            /* tensors not used (MLM/NSP heads, buffers, other heads) */
    int legacy;             /* tensors found under gamma/beta names */
    int prefixed;           /* tensors found under "bert." names */
    char initialised_names[256];   /* "pooler.dense.weight, ..." (cut to fit) */
} checkpoint_info_t;

/* Flags of checkpoint_load. */
#define CHECKPOINT_QUIET_HEAD 1u   /* a missing head is logged at debug level only (the caller
                                      replaces it: evaluating saved weights) */

/* Model options from a parsed config.json, for `labels` outputs (the task's: a checkpoint's
 * own num_labels is replaced, as from_pretrained(num_labels=...) does). */
void checkpoint_opts_from_config(const hfconfig_t *c, int labels, model_opts_t *out);

/* Fills m's tensors from st by name (rules above) and marks them loaded; tensors it lacks stay
 * unmarked. ERR_INVAL / ERR_UNSUPPORTED / ERR_NUMERIC naming the file and tensor on a bad
 * tensor; ERR_NOTFOUND naming the first missing backbone tensor (and how many are missing).
 * Head tensors may be missing: the caller initialises them (checkpoint_init_missing). */
int checkpoint_fill(model_t *m, const safetensors_t *st, checkpoint_info_t *info);

/* model_init_missing, with a debug line naming each tensor it initialised (the engine, which
 * initialises them, does not log). Returns how many. */
int checkpoint_init_missing(model_t *m, uint64_t seed);

/* Loads dir (config.json and model.safetensors) as a model with `labels` outputs; the head
 * tensors the file lacks are initialised from seed (and a warning says which). info may be
 * NULL. */
int checkpoint_load(const char *dir, int labels, uint64_t seed, unsigned flags, model_t **out,
                    checkpoint_info_t *info);

/* dir/vocab.txt and dir/tokenizer_config.json (optional: BERT's uncased defaults when absent).
 * ERR_INVAL when the vocabulary has more tokens than the model's word embeddings
 * (model_vocab; 0: not checked), since its last ids would index past the table. */
int checkpoint_load_vocab(const char *dir, int model_vocab, vocab_t **vocab,
                          tokenizer_options_t *opts);

/* Flags of checkpoint_write. */
#define CHECKPOINT_WRITE_CLASSIFIER 1u   /* also the classifier (a task model) */
#define CHECKPOINT_WRITE_NO_POOLER 2u    /* no pooler (as MLM checkpoints) */

/* Writes m as dir/config.json (from cfg; its shape must be m's) and dir/model.safetensors with
 * transformers' names: the backbone and pooler under "bert.", the classifier without prefix
 * (see the flags). dir is created when missing. */
int checkpoint_write(const char *dir, model_t *m, const hfconfig_t *cfg, unsigned flags);

/* Writes tokenizer_config.json for a BERT WordPiece tokenizer (lower-casing or not,
 * model_max_length = positions). */
int checkpoint_write_tokenizer_config(const char *dir, bool lower_case, int positions);

#endif
