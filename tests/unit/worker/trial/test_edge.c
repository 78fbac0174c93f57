/* The worker daemon's edge (worker/daemon/edge.c), where the wire meets the trainers' types: a
 * TRIAL with every field set becomes the expected trainer_trial_t, masks that disagree are
 * refused, and a trainer's result, progress and state become the expected RESULT, PROGRESS and
 * heartbeat state. The trainers' tests run their wire TRIALs through the same translation. */
#include "tests/harness.h"
#include "tests/unit/common/wire_fixtures.h"
#include "worker/daemon/edge.h"

TEST(a_trial_with_every_field_maps_to_the_trainer_trial)
{
    static wire_fixture_t f;
    trainer_trial_t t;
    space_config_t want;
    char text[SPACE_TEXT_MAX];
    const trial_spec_t *s = &t.spec;

    wire_fixture_init(&f);
    ASSERT_OK(edge_trial(&f.trial, &t));
    ASSERT_EQ_U(t.trial_id, 41);
    ASSERT_EQ_U(t.attempt, 3);
    ASSERT_STR_EQ(t.study, "sst2-bert-base");
    ASSERT_EQ(t.mode, TRAINER_MODE_TRAIN);
    ASSERT_STR_EQ(t.config_text,
                  "sa=48 pa=96 pt=12 lora=8 layers=111011110111 lora_layers=000011111111");
    ASSERT_FALSE(t.has_synthetic);
    /* The model and the task, strings borrowed from the message. */
    ASSERT_TRUE(s->model_dir == f.model.path);
    ASSERT_FALSE(s->model_embedded);
    ASSERT_STR_EQ(s->task, "sst2");
    ASSERT_FALSE(s->task_embedded);
    ASSERT_STR_EQ(s->data_dir, "/scratch/glue/SST-2");
    ASSERT_STR_EQ(s->train_file, "/scratch/glue/SST-2/train.tsv");
    ASSERT_STR_EQ(s->dev_file, "/scratch/glue/SST-2/dev.tsv");
    ASSERT_STR_EQ(s->format, "glue");   /* as sent: the built-in trainer drops it */
    ASSERT_STR_EQ(s->text_column, "sentence");
    ASSERT_STR_EQ(s->pair_column, "sentence2");
    ASSERT_STR_EQ(s->label_column, "label");
    ASSERT_EQ(s->num_labels, 2);
    ASSERT_STR_EQ(s->metric, "accuracy");
    /* The recipe: the wire's floats widened, exactly. */
    ASSERT_EQ(s->epochs, 3);
    ASSERT_NEAR(s->learning_rate, (double)1e-4f, 0);
    ASSERT_EQ(s->batch_size, 32);
    ASSERT_EQ(s->max_length, 128);
    ASSERT_NEAR(s->warmup_ratio, (double)0.06f, 0);
    ASSERT_NEAR(s->weight_decay, (double)0.01f, 0);
    ASSERT_NEAR(s->max_grad_norm, 1.0, 0);
    ASSERT_EQ(s->max_train_examples, 10000);
    ASSERT_EQ(s->max_eval_examples, 872);
    ASSERT_EQ(s->patience, 2);
    ASSERT_NEAR(s->dropout, (double)0.1f, 0);
    ASSERT_EQ(s->threads, 8);
    ASSERT_FALSE(s->full_finetune);
    ASSERT_NEAR(s->lora_alpha, 16.0, 0);
    ASSERT_EQ(s->prefix_bottleneck, 800);
    ASSERT_EQ(s->eval_batch_size, 128);
    ASSERT_EQ(s->precision, PRECISION_FP32);
    ASSERT_EQ_U(s->seed, 0x5eed0000deadbeefull);
    ASSERT_STR_EQ(s->save_dir, "/scratch/runs/sst2/trials/41");
    ASSERT_TRUE(s->eval_dir == NULL);
    /* The configuration, as deep as its masks. */
    memset(&want, 0, sizeof want);
    want.layers = 12;
    want.size[SPACE_SA] = 48;
    want.size[SPACE_PA] = 96;
    want.size[SPACE_PT] = 12;
    want.size[SPACE_LORA] = 8;
    want.size[SPACE_HA] = 24;
    for (int l = 0; l < 12; l++) {
        for (int m = SPACE_SA; m <= SPACE_PT; m++)
            space_config_set_layer(&want, (space_module_t)m, l, "111011110111"[l] == '1');
        space_config_set_layer(&want, SPACE_LORA, l, "000011111111"[l] == '1');
        space_config_set_layer(&want, SPACE_HA, l, l >= 10);
    }
    ASSERT_TRUE(space_config_equal(&s->config, &want));
    ASSERT_OK(space_config_format(&s->config, text, sizeof text));
    ASSERT_STR_EQ(text, "sa=48@111011110111 pa=96@111011110111 pt=12@111011110111 "
                        "lora=8@000011111111 ha=24@000000000011");

    /* The synthetic TRIAL sets what the real one cannot: the embedded model and task, and the
     * synthetic parameters; the recipe fields it leaves out keep the runner's defaults. */
    ASSERT_OK(edge_trial(&f.syn_trial, &t));
    ASSERT_EQ_U(t.trial_id, 7);
    ASSERT_EQ_U(t.attempt, 1);
    ASSERT_STR_EQ(t.study, "synthetic-smoke");
    ASSERT_EQ(t.mode, TRAINER_MODE_SYNTHETIC);
    ASSERT_TRUE(s->model_dir == NULL);
    ASSERT_TRUE(s->model_embedded);
    ASSERT_EQ_U(s->model_seed, 7);
    ASSERT_STR_EQ(s->task, "embedded");
    ASSERT_TRUE(s->task_embedded);
    ASSERT_EQ(s->num_labels, 0);
    ASSERT_EQ(s->epochs, 1);
    ASSERT_NEAR(s->learning_rate, (double)3e-4f, 0);
    ASSERT_EQ(s->batch_size, 8);
    ASSERT_EQ(s->max_length, 64);
    ASSERT_NEAR(s->warmup_ratio, 0.06, 0);
    ASSERT_NEAR(s->dropout, -1, 0);
    ASSERT_EQ(s->eval_batch_size, 64);
    ASSERT_EQ(s->threads, 0);
    ASSERT_EQ(s->prefix_bottleneck, 0);
    ASSERT_EQ(s->precision, PRECISION_FP32);   /* absent: fp32 */
    ASSERT_EQ_U(s->seed, 1);
    ASSERT_TRUE(t.has_synthetic);
    ASSERT_EQ_U(t.synthetic.duration_ms, 250);
    ASSERT_NEAR(t.synthetic.noise, (double)0.01f, 0);
    ASSERT_FALSE(t.synthetic.fail);
    ASSERT_EQ(t.synthetic.hidden, 64);
    ASSERT_EQ(t.synthetic.layers, 4);
    ASSERT_OK(space_config_format(&s->config, text, sizeof text));
    ASSERT_STR_EQ(text, "sa=0 pa=0 pt=3 layers=0110");
    ASSERT_STR_EQ(t.config_text, "sa=0 pa=0 pt=3 layers=0110");
    /* Each precision the wire names. */
    f.recipe.precision = AUTOPEFT__PRECISION__PRECISION_BF16;
    ASSERT_OK(edge_trial(&f.trial, &t));
    ASSERT_EQ(s->precision, PRECISION_BF16);
    f.recipe.precision = AUTOPEFT__PRECISION__PRECISION_FP16;
    ASSERT_OK(edge_trial(&f.trial, &t));
    ASSERT_EQ(s->precision, PRECISION_FP16);
}

TEST(masks_that_disagree_are_refused_and_no_module_is_depth_zero)
{
    static wire_fixture_t f;
    trainer_trial_t t;
    space_config_t c;

    wire_fixture_init(&f);
    f.peft.lora_layers = "0011";
    ASSERT_EQ(edge_trial(&f.trial, &t), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "the lora mask has 4 layers, the model 12");
    ASSERT_EQ(t.spec.config.layers, 0);
    /* Every module off: "no module", whatever the model's depth. */
    wire_fixture_init(&f);
    f.peft.serial_adapter = f.peft.parallel_adapter = f.peft.prefix_length = 0;
    f.peft.lora_rank = f.peft.houlsby_adapter = 0;
    f.peft.serial_layers = f.peft.parallel_layers = f.peft.prefix_layers = NULL;
    f.peft.lora_layers = f.peft.houlsby_layers = NULL;
    ASSERT_OK(edge_trial(&f.trial, &t));
    ASSERT_EQ(t.spec.config.layers, 0);
    ASSERT_OK(trainer_config_at(&t.spec.config, 6, &c));
    ASSERT_EQ(c.layers, 6);
    ASSERT_FALSE(space_config_active(&c, SPACE_SA));
    /* A configuration of another depth than the model's, said as the wire's masks would be. */
    wire_fixture_init(&f);
    ASSERT_OK(edge_trial(&f.trial, &t));
    ASSERT_EQ(trainer_config_at(&t.spec.config, 24, &c), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "the sa mask has 12 layers, the model 24");
}

static trainer_result_t *full_result(void)
{
    trainer_result_t *r = calloc(1, sizeof *r);

    ASSERT_NOT_NULL(r);
    r->status = TRAINER_STATUS_OK;
    r->objective = 0.9125;
    snprintf(r->objective_name, sizeof r->objective_name, "accuracy");
    r->nmetrics = 2;
    snprintf(r->metrics[0].name, TRAINER_NAME_MAX, "accuracy");
    r->metrics[0].value = 0.9125;
    snprintf(r->metrics[1].name, TRAINER_NAME_MAX, "f1");
    r->metrics[1].value = 0.9;
    r->best_epoch = 2;
    r->epochs_run = 3;
    r->has_params = true;
    r->trainable = 1000;
    r->deployed = 900;
    r->modules_trainable = 800;
    r->modules_deployed = 700;
    r->head = 200;
    r->backbone = 100000;
    r->percent = 0.7;
    r->load_s = 1.5;
    r->tokenize_s = 0.25;
    r->train_s = 30;
    r->eval_s = 2;
    r->total_s = 34;
    r->examples_per_s = 512;
    r->nhistory = 3;
    for (int i = 0; i < 3; i++) {
        r->history[i].epoch = (uint32_t)i + 1;
        r->history[i].objective = 0.8 + 0.05 * i;
        r->history[i].train_loss = i == 2 ? 0.0f : 0.5f - 0.1f * (float)i;
        r->history[i].seconds = 10.0 * (i + 1);
    }
    return r;
}

TEST(a_trainer_result_maps_back_to_the_result_fields)
{
    Autopeft__TrialRef ref = AUTOPEFT__TRIAL_REF__INIT;
    trainer_result_t *r = full_result();
    const Autopeft__Result *m;
    edge_result_t e;
    uint8_t *frame;
    size_t len;

    ref.has_trial_id = ref.has_attempt = true;
    ref.trial_id = 41;
    ref.attempt = 3;
    edge_result(&e, &ref, "node1/7/abc", r);
    m = &e.msg;
    ASSERT_OK(wire_validate(AUTOPEFT__KIND__KIND_RESULT, &m->base));
    ASSERT_EQ_U(m->trial->trial_id, 41);
    ASSERT_EQ_U(m->trial->attempt, 3);
    ASSERT_TRUE(m->has_status);
    ASSERT_EQ(m->status, AUTOPEFT__RESULT_STATUS__RESULT_STATUS_OK);
    ASSERT_STR_EQ(m->worker_id, "node1/7/abc");
    ASSERT_TRUE(m->error == NULL && !m->has_retryable);
    ASSERT_TRUE(m->has_objective);
    ASSERT_NEAR(m->objective, 0.9125, 0);
    ASSERT_STR_EQ(m->objective_name, "accuracy");
    ASSERT_EQ_U(m->n_metrics, 2);
    ASSERT_STR_EQ(m->metrics[1]->name, "f1");
    ASSERT_TRUE(m->metrics[1]->has_value);
    ASSERT_NEAR(m->metrics[1]->value, 0.9, 0);
    ASSERT_TRUE(m->has_best_epoch && m->has_epochs_run);
    ASSERT_EQ_U(m->best_epoch, 2);
    ASSERT_EQ_U(m->epochs_run, 3);
    ASSERT_NOT_NULL(m->params);
    ASSERT_EQ_U(m->params->trainable, 1000);
    ASSERT_EQ_U(m->params->deployed, 900);
    ASSERT_EQ_U(m->params->modules_trainable, 800);
    ASSERT_EQ_U(m->params->modules_deployed, 700);
    ASSERT_EQ_U(m->params->head, 200);
    ASSERT_EQ_U(m->params->backbone, 100000);
    ASSERT_NEAR(m->params->percent, 0.7, 0);
    ASSERT_NOT_NULL(m->timings);
    ASSERT_NEAR(m->timings->load_s, 1.5, 0);
    ASSERT_NEAR(m->timings->tokenize_s, 0.25, 0);
    ASSERT_NEAR(m->timings->train_s, 30, 0);
    ASSERT_NEAR(m->timings->eval_s, 2, 0);
    ASSERT_NEAR(m->timings->total_s, 34, 0);
    ASSERT_TRUE(m->timings->has_examples_per_s);
    ASSERT_NEAR(m->timings->examples_per_s, 512, 0);
    ASSERT_EQ_U(m->n_history, 3);
    ASSERT_EQ_U(m->history[1]->epoch, 2);
    ASSERT_NEAR(m->history[1]->objective, 0.85, 1e-15);
    ASSERT_TRUE(m->history[1]->has_train_loss);
    ASSERT_NEAR(m->history[1]->train_loss, 0.4f, 0);
    ASSERT_FALSE(m->history[2]->has_train_loss);   /* a loss of 0 is "not known" */
    ASSERT_NEAR(m->history[2]->seconds, 30, 0);
    ASSERT_OK(wire_encode(AUTOPEFT__KIND__KIND_RESULT, &m->base, &frame, &len));
    free(frame);
    edge_result_free(&e);

    /* No rate, no best epoch: left out rather than sent as 0. */
    r->examples_per_s = 0;
    r->best_epoch = 0;
    edge_result(&e, &ref, "node1/7/abc", r);
    ASSERT_FALSE(e.msg.timings->has_examples_per_s);
    ASSERT_FALSE(e.msg.has_best_epoch || e.msg.has_epochs_run);
    edge_result_free(&e);

    /* A failure carries its error and retryable only; an empty error gets a stock text. */
    r->status = TRAINER_STATUS_FAILED;
    r->retryable = true;
    snprintf(r->error, sizeof r->error, "out of memory");
    edge_result(&e, &ref, "node1/7/abc", r);
    ASSERT_EQ(e.msg.status, AUTOPEFT__RESULT_STATUS__RESULT_STATUS_FAILED);
    ASSERT_STR_EQ(e.msg.error, "out of memory");
    ASSERT_TRUE(e.msg.has_retryable && e.msg.retryable);
    ASSERT_FALSE(e.msg.has_objective);
    ASSERT_TRUE(e.msg.params == NULL && e.msg.timings == NULL && e.msg.n_metrics == 0);
    edge_result_free(&e);
    r->status = TRAINER_STATUS_CANCELLED;
    r->error[0] = '\0';
    edge_result(&e, &ref, "node1/7/abc", r);
    ASSERT_EQ(e.msg.status, AUTOPEFT__RESULT_STATUS__RESULT_STATUS_CANCELLED);
    ASSERT_STR_EQ(e.msg.error, "failed without a message");
    edge_result_free(&e);
    free(r);
}

TEST(progress_state_and_capabilities_map_to_the_wire)
{
    Autopeft__TrialRef ref = AUTOPEFT__TRIAL_REF__INIT;
    trainer_progress_t q = {.state = TRAINER_STATE_TRAINING, .epoch = 2, .epochs = 3,
                            .step = 40, .steps_total = 120, .has_loss = true, .loss = 0.25f,
                            .has_metric = true, .metric = 0.875, .examples_per_s = 300,
                            .eta_s = 90, .message = "a line"};
    edge_progress_t e;
    Autopeft__Progress p;

    edge_progress(&e, &q, &ref);
    p = e.msg;
    ASSERT_TRUE(p.trial == &ref);
    ASSERT_EQ_U(p.n_curve, 0);
    ASSERT_TRUE(p.has_epoch && p.has_epochs && p.has_step && p.has_steps_total);
    ASSERT_EQ_U(p.epoch, 2);
    ASSERT_EQ_U(p.epochs, 3);
    ASSERT_EQ_U(p.step, 40);
    ASSERT_EQ_U(p.steps_total, 120);
    ASSERT_TRUE(p.has_loss && p.has_metric && p.has_examples_per_s && p.has_eta_s);
    ASSERT_NEAR(p.loss, 0.25f, 0);
    ASSERT_NEAR(p.metric, 0.875, 0);
    ASSERT_NEAR(p.examples_per_s, 300, 0);
    ASSERT_NEAR(p.eta_s, 90, 0);
    ASSERT_STR_EQ(p.message, "a line");
    /* What is out of range or unknown is left out. */
    q.epoch = 4;
    q.step = 121;
    q.has_loss = false;
    q.metric = NAN;
    q.examples_per_s = 0;
    q.eta_s = INFINITY;
    q.message = NULL;
    edge_progress(&e, &q, &ref);
    p = e.msg;
    ASSERT_FALSE(p.has_epoch || p.has_epochs || p.has_step || p.has_steps_total);
    ASSERT_FALSE(p.has_loss || p.has_metric || p.has_examples_per_s || p.has_eta_s);
    ASSERT_TRUE(p.message == NULL);

    ASSERT_EQ(edge_state(TRAINER_STATE_LOADING), AUTOPEFT__WORKER_STATE__WORKER_STATE_LOADING);
    ASSERT_EQ(edge_state(TRAINER_STATE_TRAINING), AUTOPEFT__WORKER_STATE__WORKER_STATE_TRAINING);
    ASSERT_EQ(edge_state(TRAINER_STATE_EVALUATING),
              AUTOPEFT__WORKER_STATE__WORKER_STATE_EVALUATING);
    ASSERT_EQ(edge_state(TRAINER_STATE_NONE), AUTOPEFT__WORKER_STATE__WORKER_STATE_TRAINING);
    ASSERT_EQ(edge_capability(TRAINER_KIND_BUILTIN),
              AUTOPEFT__CAPABILITY__CAPABILITY_BUILTIN_TRAINER);
    ASSERT_EQ(edge_capability(TRAINER_KIND_EXEC), AUTOPEFT__CAPABILITY__CAPABILITY_EXEC_TRAINER);
    ASSERT_EQ(edge_capability(TRAINER_KIND_SYNTHETIC),
              AUTOPEFT__CAPABILITY__CAPABILITY_SYNTHETIC);
}
