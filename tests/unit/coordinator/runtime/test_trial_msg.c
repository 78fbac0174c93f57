/* The TRIAL message of an attempt (coordinator/runtime/trial_msg.c): built from the study's
 * configuration and the trial, it passes the wire's checks and reads back as the worker sees it. */
#include "common/rng.h"
#include "common/wire.h"
#include "coordinator/runtime/trial_msg.h"
#include "tests/harness.h"

/* t's TRIAL under c with save_dir, encoded and decoded again: what a worker receives. */
static Autopeft__Trial *round_trip_saving(const config_t *c, const study_trial_t *t,
                                          const char *save_dir, wire_msg_t *m)
{
    trial_msg_t tm;
    uint8_t *frame;
    size_t len;

    trial_msg_init(&tm, c, t, save_dir);
    ASSERT_OK(wire_encode(AUTOPEFT__KIND__KIND_TRIAL, &tm.trial.base, &frame, &len));
    ASSERT_OK(wire_decode(frame, len, m));
    free(frame);
    ASSERT_EQ(m->kind, AUTOPEFT__KIND__KIND_TRIAL);
    return (Autopeft__Trial *)m->msg;
}

static Autopeft__Trial *round_trip(const config_t *c, const study_trial_t *t, wire_msg_t *m)
{
    return round_trip_saving(c, t, NULL, m);
}

static void sample_trial(const config_t *c, uint64_t seed, study_trial_t *t)
{
    space_t *sp = space_new(&c->space);
    rng_t r;

    ASSERT_NOT_NULL(sp);
    memset(t, 0, sizeof *t);
    rng_seed(&r, seed);
    space_sample(sp, &r, &t->config);
    t->id = seed;
    t->attempt = 2;
    space_free(&sp);
}

TEST(synthetic_trial_carries_the_recipe_and_the_configuration)
{
    char text[SPACE_TEXT_MAX];
    study_trial_t t;
    Autopeft__Trial *tr;
    config_t c;
    wire_msg_t m;

    config_defaults(&c);
    c.mode = CONFIG_MODE_SYNTHETIC;
    snprintf(c.task_name, sizeof c.task_name, "synthetic");
    c.epochs = 7;
    c.syn_fail_rate = 1; /* every trial is told to fail */
    sample_trial(&c, 5, &t);
    tr = round_trip_saving(&c, &t, "/w/trial-5", &m);
    ASSERT_EQ_U(tr->ref->trial_id, 5);
    /* A synthetic trial trains nothing to keep. */
    ASSERT_TRUE(tr->spec->save_dir == NULL);
    ASSERT_EQ(tr->ref->attempt, 2);
    ASSERT_STR_EQ(tr->study_name, c.name);
    ASSERT_EQ(tr->spec->mode, AUTOPEFT__TRIAL_MODE__TRIAL_MODE_SYNTHETIC);
    ASSERT_TRUE(tr->spec->synthetic->fail);
    ASSERT_EQ(tr->spec->synthetic->layers, c.shape.layers);
    ASSERT_EQ(tr->spec->recipe->epochs, 7);
    ASSERT_TRUE(tr->spec->model->embedded_default);
    ASSERT_TRUE(tr->spec->task->embedded_default);
    ASSERT_OK(space_config_format(&t.config, text, sizeof text));
    ASSERT_STR_EQ(tr->spec->peft->text, text);
    /* One layer mask per active module, as long as the model is deep. */
    for (int k = 0; k < SPACE_NMODULES; k++) {
        const char *masks[] = {tr->spec->peft->serial_layers, tr->spec->peft->parallel_layers,
                               tr->spec->peft->prefix_layers, tr->spec->peft->lora_layers};
        if (space_config_active(&t.config, (space_module_t)k))
            ASSERT_EQ(strlen(masks[k]), (size_t)c.shape.layers);
    }
    wire_msg_free(&m);
}

TEST(train_trial_names_the_data_files)
{
    study_trial_t t;
    Autopeft__Trial *tr;
    config_t c;
    wire_msg_t m;

    config_defaults(&c);
    snprintf(c.model_path, sizeof c.model_path, "/models/bert");
    snprintf(c.task_name, sizeof c.task_name, "sst2");
    snprintf(c.train_file, sizeof c.train_file, "/data/train.tsv");
    snprintf(c.dev_file, sizeof c.dev_file, "/data/dev.tsv");
    c.num_labels = 3;
    sample_trial(&c, 9, &t);
    tr = round_trip(&c, &t, &m);
    ASSERT_EQ(tr->spec->mode, AUTOPEFT__TRIAL_MODE__TRIAL_MODE_TRAIN);
    ASSERT_TRUE(tr->spec->save_dir == NULL);
    ASSERT_TRUE(tr->spec->recipe->has_precision);
    ASSERT_EQ(tr->spec->recipe->precision, AUTOPEFT__PRECISION__PRECISION_FP32);
    wire_msg_free(&m);
    c.precision = PRECISION_BF16;
    tr = round_trip(&c, &t, &m);
    ASSERT_EQ(tr->spec->recipe->precision, AUTOPEFT__PRECISION__PRECISION_BF16);
    wire_msg_free(&m);
    c.precision = PRECISION_FP16;
    tr = round_trip(&c, &t, &m);
    ASSERT_EQ(tr->spec->recipe->precision, AUTOPEFT__PRECISION__PRECISION_FP16);
    wire_msg_free(&m);
    tr = round_trip_saving(&c, &t, "/shared/weights/trial-9", &m);
    ASSERT_STR_EQ(tr->spec->save_dir, "/shared/weights/trial-9");
    ASSERT_TRUE(tr->spec->synthetic == NULL);
    ASSERT_STR_EQ(tr->spec->model->path, "/models/bert");
    ASSERT_FALSE(tr->spec->task->embedded_default);
    ASSERT_STR_EQ(tr->spec->task->train_file, "/data/train.tsv");
    ASSERT_TRUE(tr->spec->task->data_dir == NULL);
    ASSERT_EQ(tr->spec->task->num_labels, 3);
    wire_msg_free(&m);
}
