/* The trial runner: everything one trial needs, from a model folder, a task and a PEFT
 * configuration to the dev metric and the exact parameter counts. The worker's built-in trainer
 * (trainer_builtin.c) runs the trial_spec_t that the daemon's edge made of the wire's TrialSpec;
 * `autopeft train` fills one from flags; both call trial_run.
 *
 * A trial:
 *  1. loads (or finds in the cache) the task data, the vocabulary and tokenizer, the tokenised
 *     train and dev sets, and the checkpoint (worker/inputs/checkpoint.h) with a head for the task's
 *     labels; the head tensors the checkpoint lacks are initialised from the trial's seed;
 *  2. takes the fidelity subsets: max_train_examples / max_eval_examples examples chosen by a
 *     seeded shuffle (the same for every trial of a seed, so trials are compared on the same
 *     examples);
 *  3. trains the PEFT modules and the head (everything with full_finetune) with AdamW and
 *     Hugging Face's linear warmup/decay schedule, in batches drawn from a seeded shuffle of the
 *     train set every epoch. Batches need no padding: the engine packs sequences end to end and
 *     attends within each, so neither padding nor length bucketing would save work;
 *  4. evaluates on the dev set after every epoch (the task's metrics, worker/inputs/metrics.h) and
 *     stops early after `patience` epochs without a better objective;
 *  5. reports the best epoch's objective and metrics, the exact parameter counts
 *     (space_config_count: what the engine allocates, as trained and as deployed), the
 *     timings and the per-epoch history; with save_dir, writes the best epoch's weights.
 * Progress (epoch, step, loss, examples/s, ETA) goes to env->progress; env->cancel is checked
 * between optimiser steps and evaluation batches.
 *
 * Same spec, same result: every random choice comes from the seed, and the cache only saves
 * time (it keys every object by what determines it). */
#ifndef AUTOPEFT_TRIAL_H
#define AUTOPEFT_TRIAL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/space.h"
#include "worker/trial/trainer.h"
#include "worker/trial/trial_spec.h"
#include "worker/trial/trialcache.h"

/* What the trial saw, beyond the trainer's result (for `autopeft train`'s JSON). */
typedef struct {
    char task[64];                /* "sst2", "custom", "embedded" */
    int labels;
    bool regression;
    shape_t shape;                /* the model's, labels included */
    size_t train_total, eval_total;  /* examples in the files */
    size_t train_used, eval_used;    /* after the fidelity limits */
    size_t train_truncated, eval_truncated;  /* examples cut to max_length */
    uint64_t steps;               /* optimiser steps done */
    int threads;
    bool model_cached, data_cached;  /* found in the cache */
    bool full_finetune;
    char config_text[SPACE_TEXT_MAX];
} trial_info_t;

/* Runs the trial. Returns 0 with out->status OK, FAILED (out->error says why; retryable for
 * out of memory), CANCELLED, or STOPPED when env->stop was set with the cancel (the epochs
 * evaluated so far, trainer_stop; a stopped trial is not saved); a negative code only when the
 * runner itself breaks. Each evaluated epoch is reported at once as a curve point. info may be
 * NULL. The cache must outlive nothing: its entries are unpinned on return. */
int trial_run(trialcache_t *cache, const trial_spec_t *spec, const trainer_env_t *env,
              trainer_result_t *out, trial_info_t *info);

#endif
