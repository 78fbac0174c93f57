/* The built-in trainer (trainer.h): TRAIN trials run by the C engine through the trial runner
 * (trial.h), with a cache of checkpoints and tokenised data that lives as long as the worker,
 * so that its second trial starts at once. */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "worker/trial/trainer.h"
#include "worker/trial/trial.h"

typedef struct {
    trainer_t base;
    trialcache_t *cache;
} builtin_t;

static int builtin_run(trainer_t *t, const trainer_trial_t *trial, const trainer_env_t *env,
                       trainer_result_t *out)
{
    builtin_t *b = (builtin_t *)t;
    trial_spec_t s = trial->spec;
    trial_info_t info;
    int rc;

    /* "glue" names the GLUE layout, which the task's name already selects. */
    if (s.format && strcmp(s.format, "glue") == 0)
        s.format = NULL;
    rc = trial_run(b->cache, &s, env, out, &info);
    if (rc == 0 && out->status == TRAINER_STATUS_OK)
        log_info("trial %llu/%u: %s %s = %.4f (epoch %u of %u), %.3f%% parameters; load %.2f s%s, "
                 "data %.2f s%s, train %.1f s (%.0f examples/s), eval %.1f s",
                 (unsigned long long)trial->trial_id, trial->attempt, info.config_text,
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
    .kind = TRAINER_KIND_BUILTIN,
    .mode = TRAINER_MODE_TRAIN,
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
