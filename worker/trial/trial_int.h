/* Internals shared by the trial runner's files: trial.c (training and evaluation),
 * trial_load.c (inputs through the cache), trial_save.c (saved weights) and trial_inputs.c
 * (what other trainers need to train and compare as this one). Not for other modules. */
#ifndef AUTOPEFT_TRIAL_INT_H
#define AUTOPEFT_TRIAL_INT_H

#include <jansson.h>
#include <stdio.h>

#include "worker/engine/model.h"
#include "worker/engine/peft.h"
#include "worker/inputs/data.h"
#include "worker/inputs/metrics.h"
#include "worker/inputs/safetensors.h"
#include "worker/inputs/tokset.h"
#include "worker/trial/trial.h"

/* Streams of the trial's seed (rng_seed_stream), one per use, so that no choice shifts
 * another's draws. */
#define STREAM_TRAIN_SUBSET 0x7375627472ull   /* fidelity subset of the train set */
#define STREAM_EVAL_SUBSET 0x7375626576ull
#define STREAM_EPOCH 0x65706f6368ull          /* + epoch: the batch order */
#define STREAM_DROPOUT 0x64726f70ull

/* A cached model and the dropout its config.json gave (a trial's recipe may override it, so
 * every trial sets it again). */
typedef struct {
    model_t *model;
    float hidden_dropout, attention_dropout, classifier_dropout;
} trial__model_t;

/* A cached tokenised split, with the class label values it was read with (custom data infers
 * them from the train file, and the dev file must use the same). */
typedef struct {
    tokset_t *set;
    int nvalues;
    char **values;
} trial__data_t;

/* What trial__load gives a trial (cache entries: pinned until the trial ends). */
typedef struct {
    trial__model_t *model;
    trial__data_t *train, *dev;
    char task[64];
    int labels;                   /* 1: regression */
    unsigned metrics;             /* METRIC_BIT()s to report */
    metric_t objective;
    double load_s, tokenize_s;
    bool model_cached, data_cached;
} trial__inputs_t;

/* A saved trial (trial_save.c): what trial.json says. */
typedef struct {
    space_config_t config;
    bool full_finetune;
    double lora_alpha;
    int prefix_bottleneck;
    int labels;
    int max_eval_examples;
    uint64_t seed;
    uint64_t data_seed;      /* of the subsets (the seed in trial.json files without one) */
    int max_length;
    int eval_batch_size, eval_max_tokens;   /* how the dev set was batched */
    char task[64];
    char metric[32];
    char model_path[4096];
    bool model_embedded, task_embedded;
    uint64_t model_seed;
    int hidden;              /* model.hidden: the width the weights were trained at (0: absent) */
    int nvalues;             /* class label values of custom data, as trained */
    char **values;
} trial__saved_t;

/* Loads the inputs of s through the cache. With saved (evaluating a saved trial), the train
 * split is not read: the dev file's class values come from trial.json. 0, or an error code
 * with err_msg() saying what. */
int trial__load(trialcache_t *c, const trial_spec_t *s, int threads, const trial__saved_t *saved,
                trial__inputs_t *in);

/* Writes dir/peft.safetensors (p ejected: flat prefixes; Hugging Face names for the backbone
 * and head) and dir/trial.json (configuration, recipe, result, and how the dev set was batched:
 * evaluating again in the same batches gives the same numbers to the last bit). */
int trial__save(const char *dir, const trial_spec_t *s, const trial__inputs_t *in, const peft_t *p,
                const trainer_result_t *res, int eval_max_tokens);
/* Writes dir/trial.json alone (trial__save's), with "result": null when res is NULL. */
int trial__write_json(const char *dir, const trial_spec_t *s, const trial__inputs_t *in,
                      const peft_t *p, const trainer_result_t *res, int eval_max_tokens);
/* Writes root (taken: released here; NULL reports that it could not be built) as dir/name. */
int trial__dump_json(json_t *root, const char *dir, const char *name);
/* Reads dir/trial.json; trial__saved_free releases it. */
int trial__saved_read(const char *dir, trial__saved_t *out);
/* The same over text in memory (path names it in messages); for tests and fuzzing. */
int trial__saved_parse(const char *text, size_t len, const char *path, trial__saved_t *out);
void trial__saved_free(trial__saved_t *s);
/* Copies dir/peft.safetensors into p, whose tensors must match the file's one for one. */
int trial__saved_apply(const char *dir, peft_t *p);

/* ---- for other trainers (trial_inputs.c) --------------------------------------------------- */

/* What a trial trains on, as the runner has set it up. */
typedef struct {
    const trial_spec_t *spec;
    const trial__inputs_t *in;
    peft_t *peft;                      /* the initial weights, training form */
    const uint32_t *train_idx, *eval_idx;   /* the subsets, before any epoch's shuffle */
    size_t ntrain, neval;
    int warmup_steps, total_steps;
    int eval_max_tokens;
    const trainer_result_t *counts;    /* the exact counts (fill_counts) */
    const trial_info_t *info;
} trial__plan_t;

/* Writes dir/inputs.json, dir/data.safetensors, dir/init.safetensors and dir/trial.json
 * (docs/training.md, "autopeft inputs"); for the embedded model also dir/config.json and
 * dir/model.safetensors. */
int trial__write_inputs(const char *dir, const trial__plan_t *p);

/* Trace lines (docs/training.md): a training step (the batch's rows as positions in the train
 * subset, its n x labels logits) and an evaluation (every dev logit). Write errors are
 * reported once, by trial__trace_close. */
void trial__trace_step(FILE *f, uint64_t step, int epoch, double loss, double lr,
                       const uint32_t *rows, int n, const float *logits, int labels);
void trial__trace_eval(FILE *f, int epoch, double objective, const float *logits, size_t n,
                       int labels);
/* {"objective", "logits", "gold"} of an evaluation into path. */
int trial__write_logits(const char *path, double objective, const float *logits, size_t n,
                        int labels, const int32_t *gold_i, const float *gold_f);

/* ---- export (trial_export.c: the saved trial and autopeft's own layout; trial_export_hf.c:
 * the adapters and peft libraries' layouts) ------------------------------------------------- */

/* A saved trial opened for export: trial.json read, peft.safetensors mapped and checked
 * against the configuration (every tensor of it there with its shape; nothing else unless the
 * trial fine-tuned every weight). */
typedef struct {
    const char *dir;
    trial__saved_t saved;
    int hidden;
    safetensors_t *st;                 /* dir/peft.safetensors */
    char st_path[4200];
} trial__export_t;

/* The F32 tensor name of the saved weights, [rows, cols] (cols 0: a vector of rows); NULL
 * with err_set naming the file, the tensor and the expected shape. */
const float *trial__export_tensor(const trial__export_t *x, const char *name, int rows, int cols);

/* A bottleneck's weights in the saved file: peft.layer.L.WHAT.down/up (WHAT: "sa", "pa",
 * "ha.attn", "ha.ffn"). */
typedef struct {
    const float *down_w, *down_b, *up_w, *up_b;   /* [r, d], [r], [d, r], [d] */
} trial__bottleneck_t;
int trial__export_bottleneck(const trial__export_t *x, int layer, const char *what, int r,
                             trial__bottleneck_t *out);

/* The tensors a writer puts in one safetensors file; names and shapes are copied, the data is
 * borrowed and must live until trial__tensors_write. */
#define TRIAL__TENSOR_NAME 192
typedef struct {
    char (*name)[TRIAL__TENSOR_NAME];
    uint64_t (*shape)[2];
    int *ndim;
    const void **data;
    size_t n, cap;
} trial__tensors_t;
int trial__tensors_add(trial__tensors_t *t, const char *name, int ndim, uint64_t rows,
                       uint64_t cols, const float *data);
/* Writes them (F32) to path with the metadata (as safetensors_write's, NULL for none). */
int trial__tensors_write(const trial__tensors_t *t, const char *path, const char *const *meta);
void trial__tensors_free(trial__tensors_t *t);

/* The layers where module m is on (on) or off (!on), increasing: a JSON array of integers. */
json_t *trial__export_layers(const space_config_t *c, space_module_t m, bool on);
/* LoRA's alpha as trained: the saved one, or the rank when it was 0 (scaling 1). */
double trial__export_lora_alpha(const trial__export_t *x);

/* The two libraries' layouts in folder out (docs/export.md); ERR_UNSUPPORTED naming the
 * module, the layer and what the library lacks when it cannot compute the same function. */
int trial__export_adapters(const trial__export_t *x, const char *out);
int trial__export_peft(const trial__export_t *x, const char *out);

#endif
