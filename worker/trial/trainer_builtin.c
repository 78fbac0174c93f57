/* The built-in trainer (trainer.h): TRAIN trials run by the C engine through the trial runner
 * (trial.h), with a cache of checkpoints and tokenised data that lives as long as the worker,
 * so that its second trial starts at once. */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "worker/trial/trainer.h"
#include "worker/trial/trial.h"

typedef struct {
    trainer_t base;
    trialcache_t *cache;
} builtin_t;

/* The TRIAL's PEFT configuration; its depth is the masks' (the runner checks it against the
 * model's). No active module: layers 0, which the runner reads as "the head alone". */
static int config_of(const Autopeft__PeftConfig *p, space_config_t *c)
{
    const uint32_t sizes[SPACE_NMODULES] = {p->serial_adapter, p->parallel_adapter,
                                            p->prefix_length, p->lora_rank};
    const char *masks[SPACE_NMODULES] = {p->serial_layers, p->parallel_layers, p->prefix_layers,
                                         p->lora_layers};
    int layers = 0;

    for (int m = 0; m < SPACE_NMODULES && !layers; m++)
        if (sizes[m] && masks[m])
            layers = (int)strlen(masks[m]);
    if (!layers) {
        memset(c, 0, sizeof *c);
        return 0;
    }
    return trainer_peft_config(p, layers, c);
}

static void spec_of(const Autopeft__TrialSpec *w, trial_spec_t *s)
{
    const Autopeft__ModelSpec *m = w->model;
    const Autopeft__TaskSpec *t = w->task;
    const Autopeft__Recipe *r = w->recipe;

    trial_spec_default(s);
    s->model_dir = m->path;
    s->model_embedded = m->has_embedded_default && m->embedded_default;
    s->model_seed = m->has_embedded_seed ? m->embedded_seed : 1;
    s->task = t->name;
    s->task_embedded = t->has_embedded_default && t->embedded_default;
    s->data_dir = t->data_dir;
    s->train_file = t->train_file;
    s->dev_file = t->dev_file;
    /* "glue" names the GLUE layout, which the task's name already selects. */
    s->format = t->format && strcmp(t->format, "glue") != 0 ? t->format : NULL;
    s->text_column = t->text_column;
    s->pair_column = t->pair_column;
    s->label_column = t->label_column;
    s->num_labels = t->has_num_labels ? (int)t->num_labels : 0;
    s->metric = t->metric;
    if (r->has_epochs)
        s->epochs = (int)r->epochs;
    if (r->has_learning_rate)
        s->learning_rate = r->learning_rate;
    if (r->has_batch_size)
        s->batch_size = (int)r->batch_size;
    if (r->has_max_length)
        s->max_length = (int)r->max_length;
    if (r->has_warmup_ratio)
        s->warmup_ratio = r->warmup_ratio;
    if (r->has_weight_decay)
        s->weight_decay = r->weight_decay;
    if (r->has_max_grad_norm)
        s->max_grad_norm = r->max_grad_norm;
    if (r->has_max_train_examples)
        s->max_train_examples = (int)(r->max_train_examples > INT32_MAX ? INT32_MAX
                                                                         : r->max_train_examples);
    if (r->has_max_eval_examples)
        s->max_eval_examples = (int)(r->max_eval_examples > INT32_MAX ? INT32_MAX
                                                                       : r->max_eval_examples);
    if (r->has_patience)
        s->patience = (int)r->patience;
    if (r->has_dropout)
        s->dropout = r->dropout;
    if (r->has_threads)
        s->threads = (int)r->threads;
    s->full_finetune = r->has_full_finetune && r->full_finetune;
    if (r->has_lora_alpha)
        s->lora_alpha = r->lora_alpha;
    if (r->has_prefix_bottleneck)
        s->prefix_bottleneck = (int)r->prefix_bottleneck;
    if (r->has_eval_batch_size && r->eval_batch_size > 0)
        s->eval_batch_size = (int)r->eval_batch_size;
    s->seed = w->has_seed ? w->seed : 1;
    s->save_dir = w->save_dir;
}

static int builtin_run(trainer_t *t, const Autopeft__Trial *trial, const trainer_env_t *env,
                       trainer_result_t *out)
{
    builtin_t *b = (builtin_t *)t;
    const Autopeft__TrialSpec *w = trial->spec;
    trial_spec_t s;
    trial_info_t info;
    int rc;

    spec_of(w, &s);
    if (config_of(w->peft, &s.config) != 0) {
        trainer_fail(out, false, "%s", err_msg());
        return 0;
    }
    rc = trial_run(b->cache, &s, env, out, &info);
    if (rc == 0 && out->status == AUTOPEFT__RESULT_STATUS__RESULT_STATUS_OK)
        log_info("trial %llu/%u: %s %s = %.4f (epoch %u of %u), %.3f%% parameters; load %.2f s%s, "
                 "data %.2f s%s, train %.1f s (%.0f examples/s), eval %.1f s",
                 (unsigned long long)trial->ref->trial_id, trial->ref->attempt, info.config_text,
                 out->objective_name, out->objective, out->best_epoch, out->epochs_run,
                 out->percent, out->load_s, info.model_cached ? " (cached)" : "",
                 out->tokenize_s, info.data_cached ? " (cached)" : "", out->train_s,
                 out->examples_per_s, out->eval_s);
    return rc;
}

static void builtin_free(trainer_t *t)
{
    builtin_t *b = (builtin_t *)t;

    trialcache_free(&b->cache);
    free(b);
}

static const trainer_ops_t builtin_ops = {
    .name = "builtin",
    .capability = AUTOPEFT__CAPABILITY__CAPABILITY_BUILTIN_TRAINER,
    .mode = AUTOPEFT__TRIAL_MODE__TRIAL_MODE_TRAIN,
    .run = builtin_run,
    .free = builtin_free,
};

trainer_t *trainer_builtin_new(void)
{
    builtin_t *b = mem_alloc(1, sizeof *b, "built-in trainer");

    if (!b)
        return NULL;
    b->base.ops = &builtin_ops;
    b->cache = trialcache_new(NULL);
    if (!b->cache) {
        free(b);
        return NULL;
    }
    return &b->base;
}
