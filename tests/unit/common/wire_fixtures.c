/* Fixtures of the wire tests: see wire_fixtures.h. */
#include "tests/unit/common/wire_fixtures.h"

#include <stdlib.h>
#include <string.h>

#include "tests/harness.h"

static Autopeft__TrialRef ref(uint64_t id, uint32_t attempt)
{
    Autopeft__TrialRef r = AUTOPEFT__TRIAL_REF__INIT;

    r.trial_id = id, r.has_trial_id = 1;
    r.attempt = attempt, r.has_attempt = 1;
    return r;
}

static void init_hello(wire_fixture_t *f)
{
    Autopeft__Hello *h = &f->hello;

    *h = (Autopeft__Hello)AUTOPEFT__HELLO__INIT;
    f->running = ref(41, 2);
    f->caps[0] = AUTOPEFT__CAPABILITY__CAPABILITY_BUILTIN_TRAINER;
    f->caps[1] = AUTOPEFT__CAPABILITY__CAPABILITY_EXEC_TRAINER;
    f->caps[2] = AUTOPEFT__CAPABILITY__CAPABILITY_SYNTHETIC;
    h->worker_id = "node017.cluster.example.org/31337/9f2c4e1ab07d5c33";
    h->host = "node017.cluster.example.org";
    h->pid = 31337, h->has_pid = 1;
    h->cores = 16, h->has_cores = 1;
    h->memory_bytes = 64ull << 30, h->has_memory_bytes = 1;
    h->software_version = "0.1.0 (commit 1a2b3c4, protocol 1)";
    h->n_capabilities = 3;
    h->capabilities = f->caps;
    h->gpus = 2, h->has_gpus = 1;
    h->slurm_job_id = "4815162_7";
    h->running = &f->running;
}

static void init_welcome(wire_fixture_t *f)
{
    Autopeft__Welcome *w = &f->welcome;

    *w = (Autopeft__Welcome)AUTOPEFT__WELCOME__INIT;
    w->coordinator_id = "head01/2024/77aa01";
    w->study_name = "sst2-bert-base";
    w->heartbeat_interval_ms = 1000, w->has_heartbeat_interval_ms = 1;
    w->heartbeat_liveness = 5, w->has_heartbeat_liveness = 1;
    w->max_frame_bytes = 1 << 20, w->has_max_frame_bytes = 1;
    w->software_version = "0.1.0 (commit 1a2b3c4, protocol 1)";
    w->keep_running = 1, w->has_keep_running = 1;
}

static void init_trial(wire_fixture_t *f)
{
    Autopeft__ModelSpec *m = &f->model;
    Autopeft__TaskSpec *t = &f->task;
    Autopeft__Recipe *r = &f->recipe;
    Autopeft__PeftConfig *p = &f->peft;
    Autopeft__TrialSpec *s = &f->spec;

    *m = (Autopeft__ModelSpec)AUTOPEFT__MODEL_SPEC__INIT;
    m->path = "/scratch/models/bert-base-uncased";
    m->embedded_default = 0, m->has_embedded_default = 1;

    *t = (Autopeft__TaskSpec)AUTOPEFT__TASK_SPEC__INIT;
    t->name = "sst2";
    t->data_dir = "/scratch/glue/SST-2";
    t->train_file = "/scratch/glue/SST-2/train.tsv";
    t->dev_file = "/scratch/glue/SST-2/dev.tsv";
    t->format = "glue";
    t->text_column = "sentence";
    t->pair_column = "sentence2";
    t->label_column = "label";
    t->num_labels = 2, t->has_num_labels = 1;
    t->metric = "accuracy";
    t->embedded_default = 0, t->has_embedded_default = 1;

    *r = (Autopeft__Recipe)AUTOPEFT__RECIPE__INIT;
    r->epochs = 3, r->has_epochs = 1;
    r->learning_rate = 1e-4f, r->has_learning_rate = 1;
    r->batch_size = 32, r->has_batch_size = 1;
    r->max_length = 128, r->has_max_length = 1;
    r->warmup_ratio = 0.06f, r->has_warmup_ratio = 1;
    r->weight_decay = 0.01f, r->has_weight_decay = 1;
    r->max_grad_norm = 1.0f, r->has_max_grad_norm = 1;
    r->max_train_examples = 10000, r->has_max_train_examples = 1;
    r->max_eval_examples = 872, r->has_max_eval_examples = 1;
    r->patience = 2, r->has_patience = 1;
    r->dropout = 0.1f, r->has_dropout = 1;
    r->threads = 8, r->has_threads = 1;
    r->full_finetune = 0, r->has_full_finetune = 1;
    r->lora_alpha = 16.0f, r->has_lora_alpha = 1;
    r->prefix_bottleneck = 800, r->has_prefix_bottleneck = 1;
    r->eval_batch_size = 128, r->has_eval_batch_size = 1;
    r->precision = AUTOPEFT__PRECISION__PRECISION_FP32, r->has_precision = 1;

    *p = (Autopeft__PeftConfig)AUTOPEFT__PEFT_CONFIG__INIT;
    p->serial_adapter = 48, p->has_serial_adapter = 1;
    p->parallel_adapter = 96, p->has_parallel_adapter = 1;
    p->prefix_length = 12, p->has_prefix_length = 1;
    p->lora_rank = 8, p->has_lora_rank = 1;
    p->serial_layers = "111011110111";
    p->parallel_layers = "111011110111";
    p->prefix_layers = "111011110111";
    p->lora_layers = "000011111111";
    p->houlsby_adapter = 24, p->has_houlsby_adapter = 1;
    p->houlsby_layers = "000000000011";
    p->text = "sa=48 pa=96 pt=12 lora=8 layers=111011110111 lora_layers=000011111111";

    *s = (Autopeft__TrialSpec)AUTOPEFT__TRIAL_SPEC__INIT;
    s->model = m;
    s->task = t;
    s->recipe = r;
    s->peft = p;
    s->seed = 0x5eed0000deadbeefull, s->has_seed = 1;
    s->data_seed = 0x5eed, s->has_data_seed = 1;
    s->report_curve = 1, s->has_report_curve = 1;
    s->mode = AUTOPEFT__TRIAL_MODE__TRIAL_MODE_TRAIN, s->has_mode = 1;
    s->save_dir = "/scratch/runs/sst2/trials/41";

    f->trial_ref = ref(41, 3);
    f->trial = (Autopeft__Trial)AUTOPEFT__TRIAL__INIT;
    f->trial.ref = &f->trial_ref;
    f->trial.study_name = "sst2-bert-base";
    f->trial.spec = s;
}

/* The synthetic trial sets the fields the real one cannot: embedded model and task, synthetic. */
static void init_trial_synthetic(wire_fixture_t *f)
{
    Autopeft__ModelSpec *m = &f->syn_model;
    Autopeft__TaskSpec *t = &f->syn_task;
    Autopeft__Recipe *r = &f->syn_recipe;
    Autopeft__PeftConfig *p = &f->syn_peft;
    Autopeft__SyntheticSpec *y = &f->synthetic;
    Autopeft__TrialSpec *s = &f->syn_spec;

    *m = (Autopeft__ModelSpec)AUTOPEFT__MODEL_SPEC__INIT;
    m->embedded_default = 1, m->has_embedded_default = 1;
    m->embedded_seed = 7, m->has_embedded_seed = 1;

    *t = (Autopeft__TaskSpec)AUTOPEFT__TASK_SPEC__INIT;
    t->name = "embedded";
    t->embedded_default = 1, t->has_embedded_default = 1;

    *r = (Autopeft__Recipe)AUTOPEFT__RECIPE__INIT;
    r->epochs = 1, r->has_epochs = 1;
    r->learning_rate = 3e-4f, r->has_learning_rate = 1;
    r->batch_size = 8, r->has_batch_size = 1;
    r->max_length = 64, r->has_max_length = 1;

    *p = (Autopeft__PeftConfig)AUTOPEFT__PEFT_CONFIG__INIT;
    p->serial_adapter = 0, p->has_serial_adapter = 1;
    p->serial_layers = "";
    p->prefix_length = 3, p->has_prefix_length = 1;
    p->prefix_layers = "0110";
    p->text = "sa=0 pa=0 pt=3 layers=0110";

    *y = (Autopeft__SyntheticSpec)AUTOPEFT__SYNTHETIC_SPEC__INIT;
    y->duration_ms = 250, y->has_duration_ms = 1;
    y->noise = 0.01f, y->has_noise = 1;
    y->fail = 0, y->has_fail = 1;
    y->hidden = 64, y->has_hidden = 1;
    y->layers = 4, y->has_layers = 1;

    *s = (Autopeft__TrialSpec)AUTOPEFT__TRIAL_SPEC__INIT;
    s->model = m;
    s->task = t;
    s->recipe = r;
    s->peft = p;
    s->seed = 1, s->has_seed = 1;
    s->report_curve = 1, s->has_report_curve = 1;   /* runtime_stop follows the points */
    s->mode = AUTOPEFT__TRIAL_MODE__TRIAL_MODE_SYNTHETIC, s->has_mode = 1;
    s->synthetic = y;

    f->syn_ref = ref(7, 1);
    f->syn_trial = (Autopeft__Trial)AUTOPEFT__TRIAL__INIT;
    f->syn_trial.ref = &f->syn_ref;
    f->syn_trial.study_name = "synthetic-smoke";
    f->syn_trial.spec = s;
}

static void init_reports(wire_fixture_t *f)
{
    Autopeft__Heartbeat *h = &f->heartbeat;
    Autopeft__Progress *p = &f->progress;

    f->hb_ref = ref(41, 3);
    *h = (Autopeft__Heartbeat)AUTOPEFT__HEARTBEAT__INIT;
    h->state = AUTOPEFT__WORKER_STATE__WORKER_STATE_TRAINING, h->has_state = 1;
    h->trial = &f->hb_ref;
    h->progress = 0.375f, h->has_progress = 1;
    h->rss_bytes = 1536ull << 20, h->has_rss_bytes = 1;

    f->prog_ref = ref(41, 3);
    *p = (Autopeft__Progress)AUTOPEFT__PROGRESS__INIT;
    p->trial = &f->prog_ref;
    p->epoch = 2, p->has_epoch = 1;
    p->epochs = 3, p->has_epochs = 1;
    p->step = 3157, p->has_step = 1;
    p->steps_total = 6315, p->has_steps_total = 1;
    p->loss = 0.2841f, p->has_loss = 1;
    p->metric = 0.9128440366972477, p->has_metric = 1;
    p->examples_per_s = 412.5, p->has_examples_per_s = 1;
    p->eta_s = 163.0, p->has_eta_s = 1;
    p->message = "epoch 2/3: loss 0.2841\tdev accuracy 0.9128";
    for (int i = 0; i < 2; i++) {
        Autopeft__EpochRecord *e = &f->curve[i];

        *e = (Autopeft__EpochRecord)AUTOPEFT__EPOCH_RECORD__INIT;
        e->epoch = (uint32_t)i + 1, e->has_epoch = 1;
        e->objective = 0.8967889908256881 + 0.016055045871559634 * i, e->has_objective = 1;
        e->train_loss = 0.3512f - 0.0671f * (float)i, e->has_train_loss = 1;
        e->seconds = 243.5 * (i + 1), e->has_seconds = 1;
        f->curve_ptrs[i] = e;
    }
    p->n_curve = 2;
    p->curve = f->curve_ptrs;
}

static void init_result(wire_fixture_t *f)
{
    static char *const names[3] = {"accuracy", "f1", "loss"};
    static const double values[3] = {0.9243119266055045, 0.9251396648044693, 0.2210};
    Autopeft__Result *r = &f->result;

    for (int i = 0; i < 3; i++) {
        f->metrics[i] = (Autopeft__Metric)AUTOPEFT__METRIC__INIT;
        f->metrics[i].name = names[i];
        f->metrics[i].value = values[i], f->metrics[i].has_value = 1;
        f->metric_ptrs[i] = &f->metrics[i];
    }
    for (int i = 0; i < 4; i++) {
        Autopeft__EpochRecord *e = &f->history[i];

        *e = (Autopeft__EpochRecord)AUTOPEFT__EPOCH_RECORD__INIT;
        e->epoch = (uint32_t)i + 1, e->has_epoch = 1;
        e->objective = 0.89 + 0.01 * i, e->has_objective = 1;
        e->train_loss = 0.4f - 0.05f * (float)i, e->has_train_loss = 1;
        e->seconds = 181.25 + i, e->has_seconds = 1;
        f->history_ptrs[i] = e;
    }
    f->params = (Autopeft__ParamCounts)AUTOPEFT__PARAM_COUNTS__INIT;
    f->params.trainable = 3502338, f->params.has_trainable = 1;
    f->params.deployed = 1295106, f->params.has_deployed = 1;
    f->params.modules_trainable = 3500800, f->params.has_modules_trainable = 1;
    f->params.modules_deployed = 1293568, f->params.has_modules_deployed = 1;
    f->params.head = 1538, f->params.has_head = 1;
    f->params.backbone = 109482240, f->params.has_backbone = 1;
    f->params.percent = 100.0 * 1293568 / 109482240, f->params.has_percent = 1;
    f->timings = (Autopeft__Timings)AUTOPEFT__TIMINGS__INIT;
    f->timings.load_s = 0.42, f->timings.has_load_s = 1;
    f->timings.tokenize_s = 3.5, f->timings.has_tokenize_s = 1;
    f->timings.train_s = 690.0, f->timings.has_train_s = 1;
    f->timings.eval_s = 36.0, f->timings.has_eval_s = 1;
    f->timings.total_s = 731.0, f->timings.has_total_s = 1;
    f->timings.examples_per_s = 405.9, f->timings.has_examples_per_s = 1;

    f->res_ref = ref(41, 3);
    *r = (Autopeft__Result)AUTOPEFT__RESULT__INIT;
    r->trial = &f->res_ref;
    r->status = AUTOPEFT__RESULT_STATUS__RESULT_STATUS_OK, r->has_status = 1;
    r->error = "";
    r->retryable = 0, r->has_retryable = 1;
    r->objective = 0.9243119266055045, r->has_objective = 1;
    r->objective_name = "accuracy";
    r->n_metrics = 3;
    r->metrics = f->metric_ptrs;
    r->best_epoch = 3, r->has_best_epoch = 1;
    r->epochs_run = 4, r->has_epochs_run = 1;
    r->params = &f->params;
    r->timings = &f->timings;
    r->n_history = 4;
    r->history = f->history_ptrs;
    r->worker_id = "node017.cluster.example.org/31337/9f2c4e1ab07d5c33";
}

static void init_control(wire_fixture_t *f)
{
    f->ack_ref = ref(41, 3);
    f->ack = (Autopeft__Ack)AUTOPEFT__ACK__INIT;
    f->ack.trial = &f->ack_ref;
    f->ack.status = AUTOPEFT__ACK_STATUS__ACK_STATUS_DUPLICATE, f->ack.has_status = 1;
    f->ack.reason = "attempt 3 of trial 41 was already recorded";

    f->cancel_ref = ref(42, 1);
    f->cancel = (Autopeft__Cancel)AUTOPEFT__CANCEL__INIT;
    f->cancel.trial = &f->cancel_ref;
    f->cancel.reason = "trial exceeded its time limit of 3600 s";
    f->cancel.stop = 0, f->cancel.has_stop = 1;

    f->shutdown = (Autopeft__Shutdown)AUTOPEFT__SHUTDOWN__INIT;
    f->shutdown.reason = "study finished: budget of 200 trials spent";

    f->goodbye = (Autopeft__Goodbye)AUTOPEFT__GOODBYE__INIT;
    f->goodbye.reason = "idle for 600 s";

    f->error = (Autopeft__Error)AUTOPEFT__ERROR__INIT;
    f->error.code = AUTOPEFT__ERROR_CODE__ERROR_CODE_INVALID, f->error.has_code = 1;
    f->error.message = "TRIAL: spec.recipe.batch_size missing";
    f->error.refused_kind = AUTOPEFT__KIND__KIND_TRIAL, f->error.has_refused_kind = 1;
    f->error.expected_version = 1, f->error.has_expected_version = 1;
}

void wire_fixture_init(wire_fixture_t *f)
{
    memset(f, 0, sizeof *f);
    init_hello(f);
    init_welcome(f);
    init_trial(f);
    init_trial_synthetic(f);
    init_reports(f);
    init_result(f);
    init_control(f);
}

void wire_fixture_cases(wire_fixture_t *f, wire_case_t out[WIRE_FIXTURE_CASES])
{
    const wire_case_t cases[WIRE_FIXTURE_CASES] = {
        {"hello", AUTOPEFT__KIND__KIND_HELLO, &f->hello.base},
        {"welcome", AUTOPEFT__KIND__KIND_WELCOME, &f->welcome.base},
        {"trial", AUTOPEFT__KIND__KIND_TRIAL, &f->trial.base},
        {"trial_synthetic", AUTOPEFT__KIND__KIND_TRIAL, &f->syn_trial.base},
        {"heartbeat", AUTOPEFT__KIND__KIND_HEARTBEAT, &f->heartbeat.base},
        {"progress", AUTOPEFT__KIND__KIND_PROGRESS, &f->progress.base},
        {"result", AUTOPEFT__KIND__KIND_RESULT, &f->result.base},
        {"ack", AUTOPEFT__KIND__KIND_ACK, &f->ack.base},
        {"cancel", AUTOPEFT__KIND__KIND_CANCEL, &f->cancel.base},
        {"shutdown", AUTOPEFT__KIND__KIND_SHUTDOWN, &f->shutdown.base},
        {"error", AUTOPEFT__KIND__KIND_ERROR, &f->error.base},
        {"goodbye", AUTOPEFT__KIND__KIND_GOODBYE, &f->goodbye.base},
    };

    memcpy(out, cases, sizeof cases);
}

uint8_t *wire_fixture_raw_frame(Autopeft__Kind kind, uint32_t version,
                                const ProtobufCMessage *msg, size_t *len)
{
    size_t body = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(12 + body);
    uint32_t magic = (uint32_t)AUTOPEFT__CONSTANTS__MAGIC;

    ASSERT_NOT_NULL(buf);
    for (int i = 0; i < 4; i++) {
        buf[i] = (uint8_t)(magic >> (8 * i));
        buf[8 + i] = (uint8_t)(body >> (8 * i));
    }
    buf[4] = (uint8_t)version, buf[5] = (uint8_t)(version >> 8);
    buf[6] = (uint8_t)kind, buf[7] = (uint8_t)((unsigned)kind >> 8);
    ASSERT_EQ_U(protobuf_c_message_pack(msg, buf + 12), body);
    *len = 12 + body;
    return buf;
}
