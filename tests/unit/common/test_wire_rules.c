/* Tests of the per-message rules of common/wire_validate.c: each rule gets one test that breaks
 * exactly that rule in an otherwise valid fixture and checks the exact message, three times:
 * wire_validate refuses it, wire_encode refuses to send it, and wire_decode refuses it when a
 * peer sends it anyway (a frame packed without validation). */
#include "common/wire.h"
#include "tests/harness.h"
#include "tests/unit/common/wire_fixtures.h"

static void expect_refused(Autopeft__Kind kind, const ProtobufCMessage *msg, const char *expected)
{
    uint8_t *frame = NULL;
    size_t len;
    wire_msg_t m;

    ASSERT_ERR(wire_validate(kind, msg), ERR_INVAL);
    ASSERT_STR_EQ(err_msg(), expected);
    err_clear();
    ASSERT_ERR(wire_encode(kind, msg, &frame, &len), ERR_INVAL);
    ASSERT_STR_EQ(err_msg(), expected);
    ASSERT_TRUE(frame == NULL);
    frame = wire_fixture_raw_frame(kind, AUTOPEFT__CONSTANTS__PROTOCOL_VERSION, msg, &len);
    err_clear();
    ASSERT_ERR(wire_decode(frame, len, &m), ERR_INVAL);
    ASSERT_STR_EQ(err_msg(), expected);
    ASSERT_EQ(m.kind, kind);
    ASSERT_TRUE(m.msg == NULL);
    ASSERT_EQ(wire_error_code(ERR_INVAL), AUTOPEFT__ERROR_CODE__ERROR_CODE_INVALID);
    free(frame);
}

static void expect_valid(Autopeft__Kind kind, const ProtobufCMessage *msg)
{
    uint8_t *frame = NULL;
    size_t len;
    wire_msg_t m;

    ASSERT_OK(wire_encode(kind, msg, &frame, &len));
    ASSERT_OK(wire_decode(frame, len, &m));
    wire_msg_free(&m);
    free(frame);
}

/* RULE(test, fixture member, kind, change, message): one test per rule. */
#define RULE(tname, member, kind, change, expected)                        \
    TEST(tname)                                                            \
    {                                                                      \
        wire_fixture_t f;                                                  \
        wire_fixture_init(&f);                                             \
        expect_valid(AUTOPEFT__KIND__KIND_##kind, &f.member.base);         \
        change;                                                            \
        expect_refused(AUTOPEFT__KIND__KIND_##kind, &f.member.base, expected); \
    }

static char long_string[AUTOPEFT__CONSTANTS__MAX_TEXT_BYTES + 2];

/* n bytes of c, in a static buffer (each test runs in its own process). */
static char *repeat(char c, size_t n)
{
    memset(long_string, c, n);
    long_string[n] = '\0';
    return long_string;
}

/* ---- strings, for any message (the walk) ---------------------------------------------------- */
RULE(hello_worker_id_missing, hello, HELLO, f.hello.worker_id = NULL, "HELLO: worker_id missing")
RULE(hello_worker_id_empty, hello, HELLO, f.hello.worker_id = "", "HELLO: worker_id is empty")
RULE(hello_host_too_long, hello, HELLO, f.hello.host = repeat('h', 257),
     "HELLO: host is longer than 256 bytes")
RULE(hello_host_control_char, hello, HELLO, f.hello.host = "node1\nINFO fake log line",
     "HELLO: host has control character 0x0a at offset 5")
RULE(hello_host_not_utf8, hello, HELLO, f.hello.host = "node\xc3\x28",
     "HELLO: host is not valid UTF-8 at offset 4")
RULE(hello_host_overlong_utf8, hello, HELLO, f.hello.host = "a\xc0\xaf",
     "HELLO: host is not valid UTF-8 at offset 1")
RULE(hello_host_surrogate, hello, HELLO, f.hello.host = "\xed\xa0\x80",
     "HELLO: host is not valid UTF-8 at offset 0")
RULE(hello_host_beyond_unicode, hello, HELLO, f.hello.host = "\xf4\x90\x80\x80",
     "HELLO: host is not valid UTF-8 at offset 0")
RULE(hello_host_cut_sequence, hello, HELLO, f.hello.host = "x\xe2\x82",
     "HELLO: host is not valid UTF-8 at offset 1")
RULE(hello_slurm_job_id_too_long, hello, HELLO, f.hello.slurm_job_id = repeat('7', 257),
     "HELLO: slurm_job_id is longer than 256 bytes")

/* ---- HELLO ---------------------------------------------------------------------------------- */
RULE(hello_pid_missing, hello, HELLO, f.hello.has_pid = 0, "HELLO: pid missing")
RULE(hello_pid_zero, hello, HELLO, f.hello.pid = 0, "HELLO: pid is 0, expected 1..4294967295")
RULE(hello_cores_missing, hello, HELLO, f.hello.has_cores = 0, "HELLO: cores missing")
RULE(hello_cores_zero, hello, HELLO, f.hello.cores = 0, "HELLO: cores is 0, expected 1..4294967295")
RULE(hello_version_missing, hello, HELLO, f.hello.software_version = NULL,
     "HELLO: software_version missing")
RULE(hello_capability_unknown, hello, HELLO, f.hello.capabilities[1] = (Autopeft__Capability)99,
     "HELLO: capabilities[1] has unknown value 99, which is not a valid Capability")
RULE(hello_capability_unspecified, hello, HELLO, f.hello.capabilities[0] = 0,
     "HELLO: capabilities[0] has the unspecified value 0, which is not a valid Capability")
RULE(hello_capability_repeated, hello, HELLO, f.hello.capabilities[2] = f.hello.capabilities[0],
     "HELLO: capabilities[2] repeats capabilities[0] (1)")
TEST(hello_too_many_capabilities)
{
    wire_fixture_t f;
    Autopeft__Capability caps[17];

    wire_fixture_init(&f);
    for (int i = 0; i < 17; i++)
        caps[i] = AUTOPEFT__CAPABILITY__CAPABILITY_SYNTHETIC;
    f.hello.capabilities = caps;
    f.hello.n_capabilities = 17;
    expect_refused(AUTOPEFT__KIND__KIND_HELLO, &f.hello.base,
                   "HELLO: capabilities has 17 entries, at most 16");
}
RULE(hello_running_attempt_missing, hello, HELLO, f.running.has_attempt = 0,
     "HELLO: running.attempt missing")
RULE(hello_running_trial_zero, hello, HELLO, f.running.trial_id = 0,
     "HELLO: running.trial_id is 0, expected >= 1")

/* ---- WELCOME -------------------------------------------------------------------------------- */
RULE(welcome_coordinator_id_missing, welcome, WELCOME, f.welcome.coordinator_id = NULL,
     "WELCOME: coordinator_id missing")
RULE(welcome_study_missing, welcome, WELCOME, f.welcome.study_name = "",
     "WELCOME: study_name is empty")
RULE(welcome_interval_missing, welcome, WELCOME, f.welcome.has_heartbeat_interval_ms = 0,
     "WELCOME: heartbeat_interval_ms missing")
RULE(welcome_interval_too_short, welcome, WELCOME, f.welcome.heartbeat_interval_ms = 9,
     "WELCOME: heartbeat_interval_ms is 9, expected 10..600000")
RULE(welcome_interval_too_long, welcome, WELCOME, f.welcome.heartbeat_interval_ms = 600001,
     "WELCOME: heartbeat_interval_ms is 600001, expected 10..600000")
RULE(welcome_liveness_zero, welcome, WELCOME, f.welcome.heartbeat_liveness = 0,
     "WELCOME: heartbeat_liveness is 0, expected 1..100")
RULE(welcome_frame_limit_too_big, welcome, WELCOME, f.welcome.max_frame_bytes = (1 << 20) + 1,
     "WELCOME: max_frame_bytes is 1048577, expected 4096..1048576")
RULE(welcome_version_missing, welcome, WELCOME, f.welcome.software_version = NULL,
     "WELCOME: software_version missing")

/* ---- TRIAL ---------------------------------------------------------------------------------- */
RULE(trial_ref_missing, trial, TRIAL, f.trial.ref = NULL, "TRIAL: ref missing")
RULE(trial_ref_id_missing, trial, TRIAL, f.trial_ref.has_trial_id = 0,
     "TRIAL: ref.trial_id missing")
RULE(trial_ref_attempt_zero, trial, TRIAL, f.trial_ref.attempt = 0,
     "TRIAL: ref.attempt is 0, expected >= 1")
RULE(trial_study_name_missing, trial, TRIAL, f.trial.study_name = NULL,
     "TRIAL: study_name missing")
RULE(trial_spec_missing, trial, TRIAL, f.trial.spec = NULL, "TRIAL: spec missing")
RULE(trial_model_missing, trial, TRIAL, f.spec.model = NULL, "TRIAL: spec.model missing")
RULE(trial_task_missing, trial, TRIAL, f.spec.task = NULL, "TRIAL: spec.task missing")
RULE(trial_recipe_missing, trial, TRIAL, f.spec.recipe = NULL, "TRIAL: spec.recipe missing")
RULE(trial_peft_missing, trial, TRIAL, f.spec.peft = NULL, "TRIAL: spec.peft missing")
RULE(trial_seed_missing, trial, TRIAL, f.spec.has_seed = 0, "TRIAL: spec.seed missing")
RULE(trial_mode_missing, trial, TRIAL, f.spec.has_mode = 0, "TRIAL: spec.mode missing")
RULE(trial_mode_unknown, trial, TRIAL, f.spec.mode = (Autopeft__TrialMode)7,
     "TRIAL: spec.mode has unknown value 7, which is not a valid TrialMode")
RULE(trial_model_path_missing, trial, TRIAL, f.model.path = NULL,
     "TRIAL: spec.model.path missing")
RULE(trial_model_path_too_long, trial, TRIAL, f.model.path = repeat('p', 4097),
     "TRIAL: spec.model.path is longer than 4096 bytes")
RULE(trial_model_path_and_embedded, trial, TRIAL, f.model.embedded_default = 1,
     "TRIAL: spec.model: path and embedded_default are exclusive")
RULE(trial_model_seed_without_embedded, trial, TRIAL, f.model.has_embedded_seed = 1,
     "TRIAL: spec.model.embedded_seed is set without embedded_default")
RULE(trial_task_name_missing, trial, TRIAL, f.task.name = NULL, "TRIAL: spec.task.name missing")
RULE(trial_task_no_data, trial, TRIAL, (f.task.data_dir = NULL, f.task.dev_file = NULL),
     "TRIAL: spec.task: data_dir, or train_file and dev_file, missing")
RULE(trial_task_embedded_and_files, trial, TRIAL, f.task.embedded_default = 1,
     "TRIAL: spec.task: embedded_default excludes data_dir, train_file and dev_file")
RULE(trial_task_num_labels_zero, trial, TRIAL, f.task.num_labels = 0,
     "TRIAL: spec.task.num_labels is 0, expected 1..4294967295")
RULE(trial_batch_size_missing, trial, TRIAL, f.recipe.has_batch_size = 0,
     "TRIAL: spec.recipe.batch_size missing")
RULE(trial_epochs_zero, trial, TRIAL, f.recipe.epochs = 0,
     "TRIAL: spec.recipe.epochs is 0, expected 1..1000")
RULE(trial_epochs_beyond_history, trial, TRIAL, f.recipe.epochs = 1001,
     "TRIAL: spec.recipe.epochs is 1001, expected 1..1000")
RULE(trial_max_length_missing, trial, TRIAL, f.recipe.has_max_length = 0,
     "TRIAL: spec.recipe.max_length missing")
RULE(trial_learning_rate_missing, trial, TRIAL, f.recipe.has_learning_rate = 0,
     "TRIAL: spec.recipe.learning_rate missing")
RULE(trial_learning_rate_zero, trial, TRIAL, f.recipe.learning_rate = 0,
     "TRIAL: spec.recipe.learning_rate is 0, expected a finite number > 0")
RULE(trial_learning_rate_nan, trial, TRIAL, f.recipe.learning_rate = NAN,
     "TRIAL: spec.recipe.learning_rate is not finite (nan)")
RULE(trial_learning_rate_inf, trial, TRIAL, f.recipe.learning_rate = INFINITY,
     "TRIAL: spec.recipe.learning_rate is not finite (inf)")
RULE(trial_warmup_above_one, trial, TRIAL, f.recipe.warmup_ratio = 1.5f,
     "TRIAL: spec.recipe.warmup_ratio is 1.5, expected [0, 1]")
RULE(trial_dropout_one, trial, TRIAL, f.recipe.dropout = 1.0f,
     "TRIAL: spec.recipe.dropout is 1, expected [0, 1)")
RULE(trial_weight_decay_negative, trial, TRIAL, f.recipe.weight_decay = -0.5f,
     "TRIAL: spec.recipe.weight_decay is -0.5, expected a finite number >= 0")
RULE(trial_grad_norm_nan, trial, TRIAL, f.recipe.max_grad_norm = NAN,
     "TRIAL: spec.recipe.max_grad_norm is not finite (nan)")
RULE(trial_lora_alpha_zero, trial, TRIAL, f.recipe.lora_alpha = 0,
     "TRIAL: spec.recipe.lora_alpha is 0, expected a finite number > 0")
RULE(trial_prefix_bottleneck_zero, trial, TRIAL, f.recipe.prefix_bottleneck = 0,
     "TRIAL: spec.recipe.prefix_bottleneck is 0, expected 1..4294967295")
RULE(trial_eval_batch_zero, trial, TRIAL, f.recipe.eval_batch_size = 0,
     "TRIAL: spec.recipe.eval_batch_size is 0, expected 1..4294967295")

/* Layer masks. */
RULE(trial_mask_missing_for_module, trial, TRIAL, f.peft.serial_layers = NULL,
     "TRIAL: spec.peft.serial_layers missing: serial_adapter is 48")
RULE(trial_mask_empty_for_module, trial, TRIAL, f.peft.prefix_layers = "",
     "TRIAL: spec.peft.prefix_layers missing: prefix_length is 12")
RULE(trial_mask_for_module_off, trial, TRIAL, f.peft.parallel_adapter = 0,
     "TRIAL: spec.peft.parallel_layers must be empty: parallel_adapter is 0")
RULE(trial_mask_for_absent_size, trial, TRIAL, f.peft.has_lora_rank = 0,
     "TRIAL: spec.peft.lora_layers must be empty: lora_rank is 0")
RULE(trial_mask_bad_character, trial, TRIAL, f.peft.lora_layers = "000011121111",
     "TRIAL: spec.peft.lora_layers has byte 0x32 at offset 7; a mask holds only '0' and '1'")
RULE(trial_mask_no_layer, trial, TRIAL, f.peft.serial_layers = "000000000000",
     "TRIAL: spec.peft.serial_layers inserts serial_adapter in no layer")
RULE(trial_mask_lengths_differ, trial, TRIAL, f.peft.parallel_layers = "11101111011",
     "TRIAL: spec.peft.parallel_layers has 11 layers, another mask 12")
TEST(trial_mask_too_long)
{
    wire_fixture_t f;
    char mask[258];

    wire_fixture_init(&f);
    memset(mask, '1', 257);
    mask[257] = '\0';
    f.peft.serial_layers = f.peft.parallel_layers = f.peft.prefix_layers = f.peft.lora_layers = mask;
    f.peft.houlsby_layers = mask;
    expect_refused(AUTOPEFT__KIND__KIND_TRIAL, &f.trial.base,
                   "TRIAL: spec.peft.serial_layers is longer than 256 layers");
    mask[256] = '\0'; /* MAX_LAYERS itself is fine */
    expect_valid(AUTOPEFT__KIND__KIND_TRIAL, &f.trial.base);
}
RULE(trial_peft_text_control, trial, TRIAL, f.peft.text = "sa=48\tpa=96",
     "TRIAL: spec.peft.text has control character 0x09 at offset 5")

/* Synthetic mode. */
RULE(trial_synthetic_without_mode, trial, TRIAL, f.spec.synthetic = &f.synthetic,
     "TRIAL: spec.synthetic is set but spec.mode is not TRIAL_MODE_SYNTHETIC")
RULE(trial_synthetic_missing, syn_trial, TRIAL, f.syn_spec.synthetic = NULL,
     "TRIAL: spec.synthetic missing")
RULE(trial_synthetic_layers_zero, syn_trial, TRIAL, f.synthetic.layers = 0,
     "TRIAL: spec.synthetic.layers is 0, expected 1..256")
RULE(trial_synthetic_hidden_missing, syn_trial, TRIAL, f.synthetic.has_hidden = 0,
     "TRIAL: spec.synthetic.hidden missing")
RULE(trial_synthetic_noise_negative, syn_trial, TRIAL, f.synthetic.noise = -1,
     "TRIAL: spec.synthetic.noise is -1, expected a finite number >= 0")
RULE(trial_study_name_control, trial, TRIAL, f.trial.study_name = "a\x7f",
     "TRIAL: study_name has control character 0x7f at offset 1")

/* ---- HEARTBEAT and PROGRESS ------------------------------------------------------------------ */
RULE(heartbeat_state_unknown, heartbeat, HEARTBEAT, f.heartbeat.state = (Autopeft__WorkerState)12,
     "HEARTBEAT: state has unknown value 12, which is not a valid WorkerState")
RULE(heartbeat_progress_above_one, heartbeat, HEARTBEAT, f.heartbeat.progress = 1.01f,
     "HEARTBEAT: progress is 1.01, expected [0, 1]")
RULE(heartbeat_progress_nan, heartbeat, HEARTBEAT, f.heartbeat.progress = NAN,
     "HEARTBEAT: progress is not finite (nan)")
RULE(heartbeat_trial_incomplete, heartbeat, HEARTBEAT, f.hb_ref.has_trial_id = 0,
     "HEARTBEAT: trial.trial_id missing")
RULE(progress_trial_missing, progress, PROGRESS, f.progress.trial = NULL,
     "PROGRESS: trial missing")
RULE(progress_epoch_beyond_epochs, progress, PROGRESS, f.progress.epoch = 4,
     "PROGRESS: epoch is 4, expected 1..3")
RULE(progress_epoch_zero, progress, PROGRESS, f.progress.epoch = 0,
     "PROGRESS: epoch is 0, expected 1..3")
RULE(progress_step_beyond_total, progress, PROGRESS, f.progress.step = 6316,
     "PROGRESS: step is 6316, expected 0..6315")
RULE(progress_loss_inf, progress, PROGRESS, f.progress.loss = INFINITY,
     "PROGRESS: loss is not finite (inf)")
RULE(progress_metric_nan, progress, PROGRESS, f.progress.metric = NAN,
     "PROGRESS: metric is not finite (nan)")
RULE(progress_eta_negative, progress, PROGRESS, f.progress.eta_s = -1,
     "PROGRESS: eta_s is -1, expected a finite number >= 0")
RULE(progress_message_too_long, progress, PROGRESS, f.progress.message = repeat('m', 65537),
     "PROGRESS: message is longer than 65536 bytes")

/* A curve of n points of epochs 1..n (static storage: each test runs in its own process). */
static void long_curve(Autopeft__Progress *p, size_t n)
{
    static Autopeft__EpochRecord recs[AUTOPEFT__CONSTANTS__MAX_HISTORY + 1];
    static Autopeft__EpochRecord *ptrs[AUTOPEFT__CONSTANTS__MAX_HISTORY + 1];

    for (size_t i = 0; i < n; i++) {
        recs[i] = (Autopeft__EpochRecord)AUTOPEFT__EPOCH_RECORD__INIT;
        recs[i].epoch = (uint32_t)i + 1, recs[i].has_epoch = 1;
        recs[i].objective = 0.5, recs[i].has_objective = 1;
        ptrs[i] = &recs[i];
    }
    p->n_curve = n;
    p->curve = ptrs;
    p->has_epochs = p->has_epoch = 0;
}

TEST(progress_curve_of_max_history_points_is_valid)
{
    wire_fixture_t f;

    wire_fixture_init(&f);
    long_curve(&f.progress, AUTOPEFT__CONSTANTS__MAX_HISTORY);
    expect_valid(AUTOPEFT__KIND__KIND_PROGRESS, &f.progress.base);
}

RULE(progress_curve_too_long, progress, PROGRESS,
     long_curve(&f.progress, AUTOPEFT__CONSTANTS__MAX_HISTORY + 1),
     "PROGRESS: curve has 1001 points, at most 1000")
RULE(progress_curve_epoch_missing, progress, PROGRESS, f.curve[1].has_epoch = 0,
     "PROGRESS: curve[1].epoch missing")
RULE(progress_curve_epoch_zero, progress, PROGRESS, f.curve[0].epoch = 0,
     "PROGRESS: curve[0].epoch is 0, expected >= 1")
RULE(progress_curve_epochs_repeat, progress, PROGRESS, f.curve[1].epoch = 1,
     "PROGRESS: curve[1].epoch is 1 after 1, expected strictly increasing epochs")
RULE(progress_curve_epochs_decrease, progress, PROGRESS, (f.curve[0].epoch = 5),
     "PROGRESS: curve[1].epoch is 2 after 5, expected strictly increasing epochs")
RULE(progress_curve_objective_missing, progress, PROGRESS, f.curve[0].has_objective = 0,
     "PROGRESS: curve[0].objective missing")
RULE(progress_curve_objective_nan, progress, PROGRESS, f.curve[1].objective = NAN,
     "PROGRESS: curve[1].objective is not finite (nan)")
RULE(progress_curve_seconds_negative, progress, PROGRESS, f.curve[0].seconds = -1,
     "PROGRESS: curve[0].seconds is -1, expected >= 0")

/* ---- RESULT --------------------------------------------------------------------------------- */
RULE(result_trial_missing, result, RESULT, f.result.trial = NULL, "RESULT: trial missing")
RULE(result_status_missing, result, RESULT, f.result.has_status = 0, "RESULT: status missing")
RULE(result_status_unknown, result, RESULT, f.result.status = (Autopeft__ResultStatus)9,
     "RESULT: status has unknown value 9, which is not a valid ResultStatus")
RULE(result_failed_without_error, result, RESULT,
     f.result.status = AUTOPEFT__RESULT_STATUS__RESULT_STATUS_FAILED,
     "RESULT: error (status FAILED) is empty")
RULE(result_ok_without_objective, result, RESULT, f.result.has_objective = 0,
     "RESULT: objective (status OK) missing")
RULE(result_ok_without_params, result, RESULT, f.result.params = NULL,
     "RESULT: params (status OK) missing")
RULE(result_objective_nan, result, RESULT, f.result.objective = NAN,
     "RESULT: objective is not finite (nan)")
RULE(result_params_deployed_missing, result, RESULT, f.params.has_deployed = 0,
     "RESULT: params.deployed missing")
RULE(result_params_backbone_zero, result, RESULT, f.params.backbone = 0,
     "RESULT: params.backbone is 0, expected 1..18446744073709551615")
RULE(result_params_percent_negative, result, RESULT, f.params.percent = -1,
     "RESULT: params.percent is -1, expected a finite number >= 0")
RULE(result_params_modules_exceed_total, result, RESULT, f.params.modules_deployed = 1295107,
     "RESULT: params.modules_deployed is 1295107, expected 0..1295106")
RULE(result_metric_name_missing, result, RESULT, f.metrics[1].name = NULL,
     "RESULT: metrics[1].name missing")
RULE(result_metric_value_missing, result, RESULT, f.metrics[2].has_value = 0,
     "RESULT: metrics[2].value missing")
RULE(result_metric_value_inf, result, RESULT, f.metrics[0].value = -INFINITY,
     "RESULT: metrics[0].value is not finite (-inf)")
RULE(result_metric_repeated, result, RESULT, f.metrics[2].name = "accuracy",
     "RESULT: metrics[2] repeats the name of metrics[0]")
RULE(result_best_epoch_beyond_run, result, RESULT, f.result.best_epoch = 5,
     "RESULT: best_epoch is 5, expected 1..4")
RULE(result_history_epoch_zero, result, RESULT, f.history[2].epoch = 0,
     "RESULT: history[2].epoch is 0, expected >= 1")
RULE(result_history_loss_nan, result, RESULT, f.history[3].train_loss = NAN,
     "RESULT: history[3].train_loss is not finite (nan)")
RULE(result_history_seconds_negative, result, RESULT, f.history[1].seconds = -2,
     "RESULT: history[1].seconds is -2, expected >= 0")
RULE(result_timing_negative, result, RESULT, f.timings.train_s = -0.5,
     "RESULT: timings.train_s is -0.5, expected a finite number >= 0")
RULE(result_error_not_utf8, result, RESULT, f.result.error = "out of memory \xff",
     "RESULT: error is not valid UTF-8 at offset 14")
TEST(result_too_many_metrics)
{
    wire_fixture_t f;
    Autopeft__Metric ms[65], *mp[65];
    char names[65][8];

    wire_fixture_init(&f);
    for (int i = 0; i < 65; i++) {
        ms[i] = (Autopeft__Metric)AUTOPEFT__METRIC__INIT;
        snprintf(names[i], sizeof names[i], "m%d", i);
        ms[i].name = names[i];
        ms[i].value = i, ms[i].has_value = 1;
        mp[i] = &ms[i];
    }
    f.result.metrics = mp;
    f.result.n_metrics = 64;
    expect_valid(AUTOPEFT__KIND__KIND_RESULT, &f.result.base);
    f.result.n_metrics = 65;
    expect_refused(AUTOPEFT__KIND__KIND_RESULT, &f.result.base,
                   "RESULT: metrics has 65 entries, at most 64");
}
TEST(result_too_much_history)
{
    static Autopeft__EpochRecord hs[1001];
    static Autopeft__EpochRecord *hp[1001];
    wire_fixture_t f;

    wire_fixture_init(&f);
    for (int i = 0; i < 1001; i++) {
        hs[i] = (Autopeft__EpochRecord)AUTOPEFT__EPOCH_RECORD__INIT;
        hs[i].epoch = (uint32_t)i + 1, hs[i].has_epoch = 1;
        hp[i] = &hs[i];
    }
    f.result.history = hp;
    f.result.n_history = 1000;
    f.result.epochs_run = 1000;
    expect_valid(AUTOPEFT__KIND__KIND_RESULT, &f.result.base);
    f.result.n_history = 1001;
    expect_refused(AUTOPEFT__KIND__KIND_RESULT, &f.result.base,
                   "RESULT: history has 1001 entries, at most 1000");
}

/* ---- ACK, CANCEL, SHUTDOWN, GOODBYE, ERROR --------------------------------------------------- */
RULE(ack_trial_missing, ack, ACK, f.ack.trial = NULL, "ACK: trial missing")
RULE(ack_status_missing, ack, ACK, f.ack.has_status = 0, "ACK: status missing")
RULE(ack_status_unspecified, ack, ACK, f.ack.status = 0,
     "ACK: status has the unspecified value 0, which is not a valid AckStatus")
RULE(cancel_trial_missing, cancel, CANCEL, f.cancel.trial = NULL, "CANCEL: trial missing")
RULE(cancel_attempt_missing, cancel, CANCEL, f.cancel_ref.has_attempt = 0,
     "CANCEL: trial.attempt missing")
RULE(shutdown_reason_not_utf8, shutdown, SHUTDOWN, f.shutdown.reason = "\x80",
     "SHUTDOWN: reason is not valid UTF-8 at offset 0")
RULE(goodbye_reason_too_long, goodbye, GOODBYE, f.goodbye.reason = repeat('g', 65537),
     "GOODBYE: reason is longer than 65536 bytes")
RULE(error_code_missing, error, ERROR, f.error.has_code = 0, "ERROR: code missing")
RULE(error_code_unknown, error, ERROR, f.error.code = (Autopeft__ErrorCode)77,
     "ERROR: code has unknown value 77, which is not a valid ErrorCode")
RULE(error_refused_kind_unknown, error, ERROR, f.error.refused_kind = (Autopeft__Kind)99,
     "ERROR: refused_kind has unknown value 99, which is not a valid Kind")
RULE(error_expected_version_zero, error, ERROR, f.error.expected_version = 0,
     "ERROR: expected_version is 0, expected 1..65535")

/* ---- what the rules accept ------------------------------------------------------------------- */
TEST(accepts_minimal_and_boundary_messages)
{
    wire_fixture_t f;
    Autopeft__Heartbeat hb = AUTOPEFT__HEARTBEAT__INIT;
    Autopeft__Shutdown sd = AUTOPEFT__SHUTDOWN__INIT;
    Autopeft__Goodbye gb = AUTOPEFT__GOODBYE__INIT;

    /* The coordinator's heartbeat to an idle worker carries nothing. */
    expect_valid(AUTOPEFT__KIND__KIND_HEARTBEAT, &hb.base);
    expect_valid(AUTOPEFT__KIND__KIND_SHUTDOWN, &sd.base);
    expect_valid(AUTOPEFT__KIND__KIND_GOODBYE, &gb.base);

    wire_fixture_init(&f);
    /* Non-ASCII host names, line breaks in texts, limits themselves. */
    f.hello.host = "rechner-k\xc3\xb6ln-\xe2\x82\xac-\xf0\x9f\x9a\x80";
    f.hello.worker_id = repeat('w', 256);
    f.hello.n_capabilities = 0;
    f.hello.running = NULL;
    expect_valid(AUTOPEFT__KIND__KIND_HELLO, &f.hello.base);
    f.welcome.heartbeat_interval_ms = 10;
    f.welcome.heartbeat_liveness = 100;
    f.welcome.max_frame_bytes = 4096;
    expect_valid(AUTOPEFT__KIND__KIND_WELCOME, &f.welcome.base);
    f.progress.message = "line one\nline two\ttabbed\r\n";
    f.progress.epoch = 3;
    f.progress.step = f.progress.steps_total;
    expect_valid(AUTOPEFT__KIND__KIND_PROGRESS, &f.progress.base);

    /* The full fine-tuning baseline has every module off and no masks. */
    f.recipe.full_finetune = 1;
    f.peft = (Autopeft__PeftConfig)AUTOPEFT__PEFT_CONFIG__INIT;
    f.recipe.warmup_ratio = 1.0f;
    f.recipe.dropout = 0.0f;
    f.task.data_dir = NULL; /* train_file and dev_file suffice */
    expect_valid(AUTOPEFT__KIND__KIND_TRIAL, &f.trial.base);

    /* A failed trial needs its error, not an objective; a cancelled one needs neither. */
    f.result.status = AUTOPEFT__RESULT_STATUS__RESULT_STATUS_FAILED;
    f.result.error = "worker: out of memory allocating activations (2.1 GiB)";
    f.result.has_objective = 0;
    f.result.params = NULL;
    expect_valid(AUTOPEFT__KIND__KIND_RESULT, &f.result.base);
    f.result.status = AUTOPEFT__RESULT_STATUS__RESULT_STATUS_CANCELLED;
    f.result.error = NULL;
    f.result.n_metrics = f.result.n_history = 0;
    f.result.timings = NULL;
    expect_valid(AUTOPEFT__KIND__KIND_RESULT, &f.result.base);
}

TEST(validate_refuses_wrong_type_and_unknown_kind)
{
    wire_fixture_t f;

    wire_fixture_init(&f);
    ASSERT_ERR(wire_validate(AUTOPEFT__KIND__KIND_ACK, &f.cancel.base), ERR_INVAL);
    ASSERT_STR_EQ(err_msg(), "ACK: message is a Cancel, expected a Ack");
    ASSERT_ERR(wire_validate(AUTOPEFT__KIND__KIND_ACK, NULL), ERR_INVAL);
    ASSERT_STR_EQ(err_msg(), "ACK: no message");
    ASSERT_ERR(wire_validate((Autopeft__Kind)0, &f.ack.base), ERR_INVAL);
    ASSERT_STR_EQ(err_msg(), "unknown message kind 0");
    /* A submessage of the wrong type where the schema wants another (a bug in the sender). */
    f.trial.spec = (Autopeft__TrialSpec *)(void *)&f.recipe;
    ASSERT_ERR(wire_validate(AUTOPEFT__KIND__KIND_TRIAL, &f.trial.base), ERR_INVAL);
    ASSERT_STR_EQ(err_msg(), "TRIAL: spec holds a Recipe, not a TrialSpec");
}

/* Every string field of the schema has a class (id, path, text, mask) in wire_validate.c, so a
 * new string field cannot silently fall back to the text cap. */
static void check_classes(const ProtobufCMessageDescriptor *d)
{
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];

        if (fd->type == PROTOBUF_C_TYPE_STRING && wire__string_class(d, fd->name) < 0)
            FAIL("string field %s.%s has no class in wire_validate.c", d->name, fd->name);
        if (fd->type == PROTOBUF_C_TYPE_MESSAGE)
            check_classes(fd->descriptor);
    }
}

TEST(every_string_field_has_a_class)
{
    for (int k = 1; wire_descriptor((Autopeft__Kind)k); k++)
        check_classes(wire_descriptor((Autopeft__Kind)k));
    ASSERT_EQ(wire__string_class(&autopeft__hello__descriptor, "no_such_field"), -1);
}
