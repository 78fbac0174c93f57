/* The embedded default through the trial runner and the built-in trainer: the generated task
 * and seeded model train for real, the coordinator's idea of the model's shape is the worker's,
 * a wire TRIAL (through the daemon's edge) maps onto the runner's spec, and saved embedded
 * trials evaluate again. */
#include "coordinator/runtime/config.h"
#include "tests/harness.h"
#include "worker/daemon/edge.h"
#include "worker/inputs/embedded.h"
#include "worker/trial/trainer.h"
#include "worker/trial/trial.h"

static void no_progress(void *ctx, const trainer_progress_t *p)
{
    (void)ctx;
    (void)p;
}

TEST(coordinator_counts_on_the_embedded_models_shape)
{
    embedded_opts_t o;
    embedded_task_t *t = NULL;
    embedded_model_t m;
    config_t *c = calloc(1, sizeof *c);

    embedded_opts_default(&o);
    for (uint64_t seed = 1; seed <= 3; seed++) {
        o.seed = seed;
        ASSERT_OK(embedded_generate(&o, &t));
        embedded_model(t, &m);
        embedded_free(&t);
        ASSERT_OK(config_parse("[model]\nembedded = true\n[task]\nembedded = true\n", "e.conf",
                               NULL, c));
        ASSERT_EQ(c->shape.hidden, m.shape.hidden);
        ASSERT_EQ(c->shape.layers, m.shape.layers);
        ASSERT_EQ(c->shape.heads, m.shape.heads);
        ASSERT_EQ(c->shape.intermediate, m.shape.intermediate);
        ASSERT_EQ(c->shape.vocab, m.shape.vocab);
        ASSERT_EQ(c->shape.positions, m.shape.positions);
        ASSERT_EQ(c->shape.type_vocab, m.shape.type_vocab);
        ASSERT_EQ(c->space.layers, m.shape.layers);
    }
    free(c);
}

TEST(embedded_trial_trains_saves_and_evaluates)
{
    trial_spec_t s, e;
    trial_info_t info;
    trainer_env_t env = {no_progress, NULL, NULL, 1, "test", NULL};
    trialcache_t *cache = trialcache_new(NULL);
    trainer_result_t *r = calloc(1, sizeof *r), *ev = calloc(1, sizeof *ev);
    char save[1024];

    snprintf(save, sizeof save, "%s/saved", harness_tmpdir());
    trial_spec_default(&s);
    s.model_embedded = s.task_embedded = true;
    s.model_seed = 1;
    s.epochs = 2;
    s.learning_rate = 8e-3;
    s.max_length = 24;
    s.dropout = 0;
    s.max_train_examples = 400;
    s.max_eval_examples = 200;
    s.prefix_bottleneck = 16;
    s.threads = 1;
    s.save_dir = save;
    ASSERT_OK(space_config_parse("sa=16 pa=0 pt=2 layers=1100", 4, &s.config));
    ASSERT_OK(trial_run(cache, &s, &env, r, &info));
    if (r->status != TRAINER_STATUS_OK)
        FAIL("%s", r->error);
    ASSERT_STR_EQ(info.task, "embedded");
    ASSERT_EQ(info.train_total, 8000);
    ASSERT_EQ(info.eval_total, 1000);
    ASSERT_EQ(info.shape.vocab, EMBEDDED_SPEC_VOCAB);
    ASSERT_STR_EQ(r->objective_name, "accuracy");
    printf("embedded sa=16 pt=2 (bottom half), 400 examples x 2 epochs: accuracy %.3f\n",
           r->objective);
    /* The saved trial knows it was the embedded model and task. */
    trial_spec_default(&e);
    e.eval_dir = save;
    e.max_length = 0;
    e.max_eval_examples = -1;
    e.threads = 1;
    ASSERT_OK(trial_run(cache, &e, &env, ev, NULL));
    if (ev->status != TRAINER_STATUS_OK)
        FAIL("%s", ev->error);
    ASSERT_NEAR(ev->objective, r->objective, 1e-12);
    free(r);
    free(ev);
    trialcache_free(&cache);
}

/* A TRIAL as the coordinator sends it for the embedded default, through the built-in trainer. */
TEST(builtin_trainer_runs_a_wire_trial)
{
    trainer_t *t = trainer_builtin_new();
    Autopeft__Trial tr = AUTOPEFT__TRIAL__INIT;
    Autopeft__TrialRef ref = AUTOPEFT__TRIAL_REF__INIT;
    Autopeft__TrialSpec spec = AUTOPEFT__TRIAL_SPEC__INIT;
    Autopeft__ModelSpec model = AUTOPEFT__MODEL_SPEC__INIT;
    Autopeft__TaskSpec task = AUTOPEFT__TASK_SPEC__INIT;
    Autopeft__Recipe rec = AUTOPEFT__RECIPE__INIT;
    Autopeft__PeftConfig peft = AUTOPEFT__PEFT_CONFIG__INIT;
    trainer_trial_t own;
    atomic_bool cancel = false;
    trainer_env_t env = {no_progress, NULL, &cancel, 1, "test", NULL};
    trainer_result_t *r = calloc(1, sizeof *r);

    ASSERT_NOT_NULL(t);
    tr.ref = &ref;
    tr.study_name = "s";
    tr.spec = &spec;
    spec.model = &model;
    spec.task = &task;
    spec.recipe = &rec;
    spec.peft = &peft;
    spec.has_seed = true;
    spec.seed = 3;
    spec.has_mode = true;
    spec.mode = AUTOPEFT__TRIAL_MODE__TRIAL_MODE_TRAIN;
    model.has_embedded_default = model.has_embedded_seed = true;
    model.embedded_default = true;
    model.embedded_seed = 1;
    task.name = "embedded";
    task.has_embedded_default = task.embedded_default = true;
    rec.has_epochs = rec.has_learning_rate = rec.has_batch_size = rec.has_max_length = true;
    rec.epochs = 1;
    rec.learning_rate = 8e-3f;
    rec.batch_size = 32;
    rec.max_length = 24;
    rec.has_max_train_examples = rec.has_max_eval_examples = rec.has_dropout = true;
    rec.max_train_examples = 200;
    rec.max_eval_examples = 100;
    rec.dropout = 0;
    rec.has_prefix_bottleneck = true;
    rec.prefix_bottleneck = 16;
    peft.serial_adapter = 8;
    peft.serial_layers = "1010";
    peft.parallel_adapter = 4;
    peft.parallel_layers = "1010";
    ASSERT_OK(edge_trial(&tr, &own));
    ASSERT_OK(t->ops->run(t, &own, &env, r));
    if (r->status != TRAINER_STATUS_OK)
        FAIL("%s", r->error);
    ASSERT_TRUE(r->has_params);
    ASSERT_EQ(r->epochs_run, 1);
    ASSERT_EQ(r->best_epoch, 1);
    /* The module and head counts of trainer_counts (whose shape has BERT's vocabulary and 512
     * positions, so only the backbone's embeddings differ). */
    {
        trainer_result_t *want = calloc(1, sizeof *want);
        ASSERT_OK(trainer_counts(&own, 64, 4, want));
        ASSERT_EQ_U(want->trainable, r->trainable);
        ASSERT_EQ_U(want->modules_deployed, r->modules_deployed);
        ASSERT_EQ_U(r->backbone, want->backbone - (uint64_t)(30522 - EMBEDDED_SPEC_VOCAB) * 64 -
                                     (uint64_t)(512 - 64) * 64);
        free(want);
    }
    /* Masks of another depth than the model's: refused, not retried. */
    peft.serial_layers = peft.parallel_layers = "111111";
    memset(r, 0, sizeof *r);
    ASSERT_OK(edge_trial(&tr, &own));
    ASSERT_OK(t->ops->run(t, &own, &env, r));
    ASSERT_EQ(r->status, TRAINER_STATUS_FAILED);
    ASSERT_FALSE(r->retryable);
    ASSERT_CONTAINS(r->error, "the configuration has 6 layers, the model 4");
    /* [recipe] precision other than fp32: refused before anything loads, not retried (another
     * worker's built-in trainer would refuse it too). */
    peft.serial_layers = peft.parallel_layers = "1010";
    rec.has_precision = true;
    rec.precision = AUTOPEFT__PRECISION__PRECISION_BF16;
    memset(r, 0, sizeof *r);
    ASSERT_OK(edge_trial(&tr, &own));
    ASSERT_EQ(own.spec.precision, PRECISION_BF16);
    ASSERT_OK(t->ops->run(t, &own, &env, r));
    ASSERT_EQ(r->status, TRAINER_STATUS_FAILED);
    ASSERT_FALSE(r->retryable);
    ASSERT_CONTAINS(r->error, "the built-in trainer trains in float32 only; [recipe] precision "
                              "= bf16");
    ASSERT_CONTAINS(r->error, "needs an --exec trainer such as autopeft-torch-train");
    ASSERT_EQ(r->load_s, 0);
    rec.precision = AUTOPEFT__PRECISION__PRECISION_FP16;
    memset(r, 0, sizeof *r);
    ASSERT_OK(edge_trial(&tr, &own));
    ASSERT_OK(t->ops->run(t, &own, &env, r));
    ASSERT_EQ(r->status, TRAINER_STATUS_FAILED);
    ASSERT_CONTAINS(r->error, "precision = fp16");
    /* fp32 said explicitly trains. */
    rec.precision = AUTOPEFT__PRECISION__PRECISION_FP32;
    memset(r, 0, sizeof *r);
    ASSERT_OK(edge_trial(&tr, &own));
    ASSERT_OK(t->ops->run(t, &own, &env, r));
    if (r->status != TRAINER_STATUS_OK)
        FAIL("%s", r->error);
    free(r);
    trainer_free(&t);
}

/* Stops the run once its curve has stop_at points (or at step stop_step), as the daemon does
 * on Cancel.stop: stop before cancel. */
typedef struct {
    atomic_bool cancel, stop;
    int stop_at, ncurve, curve_reports;
    uint64_t stop_step, step_at_stop, last_step;
} stopper_t;

static void stop_progress(void *ctx, const trainer_progress_t *p)
{
    stopper_t *s = ctx;

    s->last_step = p->step > s->last_step ? p->step : s->last_step;
    if (p->curve) {
        ASSERT_EQ_U(p->curve[p->ncurve - 1].epoch, (unsigned)p->ncurve);
        s->curve_reports += p->ncurve > s->ncurve;
        s->ncurve = p->ncurve;
    }
    if (!atomic_load(&s->cancel) && ((s->stop_at && s->ncurve >= s->stop_at) ||
                                      (s->stop_step && p->step >= s->stop_step))) {
        s->step_at_stop = s->last_step;
        atomic_store(&s->stop, true);
        atomic_store(&s->cancel, true);
    }
}

static trainer_result_t *run_stopped(stopper_t *st)
{
    trial_spec_t s;
    trainer_env_t env = {stop_progress, st, &st->cancel, 1, "test", &st->stop};
    trainer_result_t *r = calloc(1, sizeof *r);
    trialcache_t *cache = trialcache_new(NULL);

    trial_spec_default(&s);
    s.model_embedded = s.task_embedded = true;
    s.model_seed = 1;
    s.epochs = 3;
    s.learning_rate = 8e-3;
    s.max_length = 24;
    s.batch_size = 8;
    s.max_train_examples = 64; /* 8 steps an epoch */
    s.max_eval_examples = 32;
    s.threads = 1;
    ASSERT_OK(space_config_parse("sa=8 layers=1111", 4, &s.config));
    ASSERT_OK(trial_run(cache, &s, &env, r, NULL));
    trialcache_free(&cache);
    return r;
}

TEST(builtin_trial_stops_between_steps_with_its_evaluated_epochs)
{
    stopper_t after_one = {.stop_at = 1}, early = {.stop_step = 3};
    trainer_result_t *r = run_stopped(&after_one);

    if (r->status != TRAINER_STATUS_STOPPED)
        FAIL("status %d: %s", r->status, r->error);
    ASSERT_EQ(after_one.curve_reports, 1);
    /* Epoch 1's 8 steps, and not one more: the stop is seen before epoch 2's first step. */
    ASSERT_EQ_U(after_one.step_at_stop, 8);
    ASSERT_EQ_U(after_one.last_step, 8);
    ASSERT_EQ(r->nhistory, 1);
    ASSERT_EQ_U(r->epochs_run, 1);
    ASSERT_EQ_U(r->best_epoch, 1);
    ASSERT_NEAR(r->objective, r->history[0].objective, 0);
    ASSERT_TRUE(r->objective_name[0] != '\0');
    ASSERT_GT(r->nmetrics, 0);
    ASSERT_TRUE(r->has_params);
    ASSERT_STR_EQ(r->error, "stopped after epoch 1 of 3");
    free(r);

    /* Stopped within epoch 1: that partial epoch is dropped, no objective, still STOPPED. */
    r = run_stopped(&early);
    ASSERT_EQ(r->status, TRAINER_STATUS_STOPPED);
    ASSERT_EQ_U(early.last_step, early.step_at_stop);
    ASSERT_EQ(r->nhistory, 0);
    ASSERT_EQ_U(r->best_epoch, 0);
    ASSERT_EQ_U(r->epochs_run, 0);
    ASSERT_TRUE(r->has_params);
    ASSERT_STR_EQ(r->error, "stopped before its first evaluation");
    free(r);
}
