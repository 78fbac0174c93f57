/* A trial's specification (trial_spec_t): the model, the task, the recipe, the seed and the PEFT
 * configuration of one trial, its defaults and its checks. `autopeft train` fills one from
 * flags; the worker daemon's edge (worker/daemon/edge.h) fills one from the wire's TrialSpec and
 * hands it to a trainer inside a trainer_trial_t (trainer.h); the trial runner (trial.h) runs
 * it. */
#ifndef AUTOPEFT_TRIAL_SPEC_H
#define AUTOPEFT_TRIAL_SPEC_H

#include <stdbool.h>
#include <stdint.h>

#include "common/precision.h"
#include "common/space.h"

#define TRIAL_MAX_EPOCHS 1000
#define TRIAL_MAX_BATCH 65536

typedef struct {
    /* Model: a Hugging Face folder, or the embedded default (seeded random model). */
    const char *model_dir;
    bool model_embedded;
    uint64_t model_seed;

    /* Task: a GLUE name ("sst2", "CoLA", ...), "custom" (or NULL) for the user's own files, or
     * the embedded default. GLUE tasks read data_dir/FOLDER/{train,dev}.tsv, or
     * data_dir/{train,dev}.tsv, unless train_file and dev_file are given. */
    const char *task;
    bool task_embedded;
    const char *data_dir, *train_file, *dev_file;
    const char *format;           /* custom: "tsv", "csv", "jsonl"; NULL: from the extension */
    const char *text_column, *pair_column, *label_column;
    int num_labels;               /* custom: 1 = regression; 0 = inferred from the train file */
    const char *metric;           /* the objective; NULL: the task's (accuracy, MCC, Spearman) */

    /* Recipe. */
    int epochs, batch_size, eval_batch_size, max_length;
    double learning_rate, warmup_ratio, weight_decay, max_grad_norm;
    double dropout;               /* < 0: config.json's dropout probabilities */
    int max_train_examples, max_eval_examples;   /* 0: all */
    int patience;                 /* 0: off */
    int threads;                  /* 0: env->threads */
    bool full_finetune;
    double lora_alpha;            /* 0: the rank (scaling 1) */
    int prefix_bottleneck;        /* 0: SPACE_PREFIX_BOTTLENECK */
    /* fp32 (the default, and the only one this trainer trains in: trial_spec_check refuses
     * another unless the trial only writes its inputs), or bf16 / fp16 for a trainer of its
     * own (an exec trainer's JSON, inputs.json). */
    precision_t precision;
    uint64_t seed;                /* training: initialisation, batch order, dropout */
    uint64_t data_seed;           /* the subsets of max_train/eval_examples; 0: seed */

    /* The PEFT configuration; layers 0 means "no module" (the head alone, or full
     * fine-tuning), whatever the model's depth. */
    space_config_t config;

    const char *save_dir;         /* NULL: nothing saved */
    /* Evaluate the weights saved in this folder (by save_dir) instead of training: the
     * configuration and head come from its trial.json, the recipe's training fields are
     * unused, and max_eval_examples < 0 takes the saved trial's dev subset (its count and
     * seed), so that the metric is the one it reported. */
    const char *eval_dir;

    /* Write what training would use (tokenised subsets, each epoch's batch order, the
     * initial weights, the counts: docs/training.md, "autopeft inputs") to this folder and stop
     * there: the result is OK without an objective. For trainers outside this one. */
    const char *inputs_dir;
    /* JSON lines of every optimiser step (loss, learning rate, the batch's rows and logits)
     * and every evaluation (objective, every dev logit), for comparing trainers. */
    const char *trace_path;
    /* Evaluating saved weights: every dev example's logits and gold label, as JSON. */
    const char *logits_path;
} trial_spec_t;

/* AutoPEFT's recipe (lr 1e-4, batch 32, max length 128, 3 epochs, warmup 6%, weight decay
 * 0.01, clipping 1.0, eval batch 64); config.json's dropout; seed 1; no module. */
void trial_spec_default(trial_spec_t *s);

/* 0 when the recipe's numbers are in range; ERR_INVAL (ERR_RANGE for a batch too large)
 * naming the field and what was expected otherwise; ERR_UNSUPPORTED for training in another
 * precision than fp32. The files, the model and the configuration are checked when the trial
 * loads them. */
int trial_spec_check(const trial_spec_t *s);

#endif
