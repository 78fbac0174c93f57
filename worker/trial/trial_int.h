/* Internals shared by the trial runner's files: trial.c (training and evaluation),
 * trial_load.c (inputs through the cache) and trial_save.c (saved weights). Not for other
 * modules. */
#ifndef AUTOPEFT_TRIAL_INT_H
#define AUTOPEFT_TRIAL_INT_H

#include "worker/engine/model.h"
#include "worker/engine/peft.h"
#include "worker/inputs/data.h"
#include "worker/inputs/metrics.h"
#include "worker/inputs/tokset.h"
#include "worker/trial/trial.h"

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
/* Reads dir/trial.json; trial__saved_free releases it. */
int trial__saved_read(const char *dir, trial__saved_t *out);
/* The same over text in memory (path names it in messages); for tests and fuzzing. */
int trial__saved_parse(const char *text, size_t len, const char *path, trial__saved_t *out);
void trial__saved_free(trial__saved_t *s);
/* Copies dir/peft.safetensors into p, whose tensors must match the file's one for one. */
int trial__saved_apply(const char *dir, peft_t *p);

#endif
