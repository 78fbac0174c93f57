/* Benchmark of the frame layer (common/wire.c): frames per second through wire_encode +
 * wire_decode (both validate) of a TRIAL and a RESULT as the daemons send them, against raw
 * protobuf-c (packed size, malloc, pack, unpack, free) of the same messages in the same run.
 *
 *   autopeft-bench wire [--seconds S] [--rounds R]
 *
 * Rounds alternate between the paths so that load from other processes hits all alike; the
 * table gives the median round and the spread (min..max) across rounds. wire_validate alone is
 * shown too: the wire path runs it twice per frame (once to send, once to receive). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/parse.h"
#include "common/wire.h"
#include "tests/bench/bench.h"

#define MAX_ROUNDS 50

/* A TRIAL as the coordinator sends one for BERT-base on SST-2. */
typedef struct {
    Autopeft__TrialRef ref;
    Autopeft__ModelSpec model;
    Autopeft__TaskSpec task;
    Autopeft__Recipe recipe;
    Autopeft__PeftConfig peft;
    Autopeft__TrialSpec spec;
    Autopeft__Trial trial;
} trial_msg_t;

/* A RESULT of a 10-epoch trial with three metrics. */
typedef struct {
    Autopeft__TrialRef ref;
    Autopeft__Metric metrics[3];
    Autopeft__Metric *metric_ptrs[3];
    Autopeft__EpochRecord history[10];
    Autopeft__EpochRecord *history_ptrs[10];
    Autopeft__ParamCounts params;
    Autopeft__Timings timings;
    Autopeft__Result result;
} result_msg_t;

static void make_trial(trial_msg_t *t)
{
    memset(t, 0, sizeof *t);
    t->ref = (Autopeft__TrialRef)AUTOPEFT__TRIAL_REF__INIT;
    t->ref.trial_id = 1234, t->ref.has_trial_id = 1;
    t->ref.attempt = 1, t->ref.has_attempt = 1;
    t->model = (Autopeft__ModelSpec)AUTOPEFT__MODEL_SPEC__INIT;
    t->model.path = "/scratch/models/bert-base-uncased";
    t->task = (Autopeft__TaskSpec)AUTOPEFT__TASK_SPEC__INIT;
    t->task.name = "sst2";
    t->task.data_dir = "/scratch/glue/SST-2";
    t->task.metric = "accuracy";
    t->task.num_labels = 2, t->task.has_num_labels = 1;
    t->recipe = (Autopeft__Recipe)AUTOPEFT__RECIPE__INIT;
    t->recipe.epochs = 10, t->recipe.has_epochs = 1;
    t->recipe.learning_rate = 1e-4f, t->recipe.has_learning_rate = 1;
    t->recipe.batch_size = 32, t->recipe.has_batch_size = 1;
    t->recipe.max_length = 128, t->recipe.has_max_length = 1;
    t->recipe.warmup_ratio = 0.06f, t->recipe.has_warmup_ratio = 1;
    t->recipe.weight_decay = 0.01f, t->recipe.has_weight_decay = 1;
    t->recipe.max_grad_norm = 1.0f, t->recipe.has_max_grad_norm = 1;
    t->recipe.dropout = 0.1f, t->recipe.has_dropout = 1;
    t->recipe.prefix_bottleneck = 800, t->recipe.has_prefix_bottleneck = 1;
    t->peft = (Autopeft__PeftConfig)AUTOPEFT__PEFT_CONFIG__INIT;
    t->peft.serial_adapter = 48, t->peft.has_serial_adapter = 1;
    t->peft.parallel_adapter = 0, t->peft.has_parallel_adapter = 1;
    t->peft.prefix_length = 12, t->peft.has_prefix_length = 1;
    t->peft.serial_layers = "111011110111";
    t->peft.prefix_layers = "111011110111";
    t->peft.text = "sa=48 pa=0 pt=12 layers=111011110111";
    t->spec = (Autopeft__TrialSpec)AUTOPEFT__TRIAL_SPEC__INIT;
    t->spec.model = &t->model;
    t->spec.task = &t->task;
    t->spec.recipe = &t->recipe;
    t->spec.peft = &t->peft;
    t->spec.seed = 1234, t->spec.has_seed = 1;
    t->spec.mode = AUTOPEFT__TRIAL_MODE__TRIAL_MODE_TRAIN, t->spec.has_mode = 1;
    t->spec.save_dir = "/scratch/runs/sst2/trials/1234";
    t->trial = (Autopeft__Trial)AUTOPEFT__TRIAL__INIT;
    t->trial.ref = &t->ref;
    t->trial.study_name = "sst2-bert-base";
    t->trial.spec = &t->spec;
}

static void make_result(result_msg_t *r)
{
    static char *const names[3] = {"accuracy", "f1", "loss"};

    memset(r, 0, sizeof *r);
    r->ref = (Autopeft__TrialRef)AUTOPEFT__TRIAL_REF__INIT;
    r->ref.trial_id = 1234, r->ref.has_trial_id = 1;
    r->ref.attempt = 1, r->ref.has_attempt = 1;
    for (int i = 0; i < 3; i++) {
        r->metrics[i] = (Autopeft__Metric)AUTOPEFT__METRIC__INIT;
        r->metrics[i].name = names[i];
        r->metrics[i].value = 0.9 + 0.01 * i, r->metrics[i].has_value = 1;
        r->metric_ptrs[i] = &r->metrics[i];
    }
    for (int i = 0; i < 10; i++) {
        Autopeft__EpochRecord *e = &r->history[i];
        *e = (Autopeft__EpochRecord)AUTOPEFT__EPOCH_RECORD__INIT;
        e->epoch = (uint32_t)i + 1, e->has_epoch = 1;
        e->objective = 0.85 + 0.007 * i, e->has_objective = 1;
        e->train_loss = 0.5f - 0.03f * (float)i, e->has_train_loss = 1;
        e->seconds = 70.0 + i, e->has_seconds = 1;
        r->history_ptrs[i] = e;
    }
    r->params = (Autopeft__ParamCounts)AUTOPEFT__PARAM_COUNTS__INIT;
    r->params.trainable = 2302338, r->params.has_trainable = 1;
    r->params.deployed = 1295106, r->params.has_deployed = 1;
    r->params.modules_deployed = 1293568, r->params.has_modules_deployed = 1;
    r->params.head = 1538, r->params.has_head = 1;
    r->params.backbone = 109482240, r->params.has_backbone = 1;
    r->params.percent = 100.0 * 1293568 / 109482240, r->params.has_percent = 1;
    r->timings = (Autopeft__Timings)AUTOPEFT__TIMINGS__INIT;
    r->timings.train_s = 700.0, r->timings.has_train_s = 1;
    r->timings.eval_s = 35.0, r->timings.has_eval_s = 1;
    r->timings.total_s = 741.0, r->timings.has_total_s = 1;
    r->result = (Autopeft__Result)AUTOPEFT__RESULT__INIT;
    r->result.trial = &r->ref;
    r->result.status = AUTOPEFT__RESULT_STATUS__RESULT_STATUS_OK, r->result.has_status = 1;
    r->result.objective = 0.913, r->result.has_objective = 1;
    r->result.objective_name = "accuracy";
    r->result.n_metrics = 3;
    r->result.metrics = r->metric_ptrs;
    r->result.best_epoch = 9, r->result.has_best_epoch = 1;
    r->result.epochs_run = 10, r->result.has_epochs_run = 1;
    r->result.params = &r->params;
    r->result.timings = &r->timings;
    r->result.n_history = 10;
    r->result.history = r->history_ptrs;
    r->result.worker_id = "node017/31337/9f2c4e1ab07d5c33";
}

/* One frame through the wire layer: encode (validates), decode (validates), release. */
static int wire_once(Autopeft__Kind kind, const ProtobufCMessage *msg)
{
    uint8_t *frame;
    size_t len;
    wire_msg_t m;

    if (wire_encode(kind, msg, &frame, &len) != 0 || wire_decode(frame, len, &m) != 0)
        return -1;
    wire_msg_free(&m);
    free(frame);
    return 0;
}

/* The same through protobuf-c alone. */
static int raw_once(const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(len);
    ProtobufCMessage *back;

    if (!buf || protobuf_c_message_pack(msg, buf) != len)
        return -1;
    back = protobuf_c_message_unpack(msg->descriptor, NULL, len, buf);
    if (!back)
        return -1;
    protobuf_c_message_free_unpacked(back, NULL);
    free(buf);
    return 0;
}

typedef enum { PATH_WIRE, PATH_RAW, PATH_VALIDATE } path_kind_t;

/* Frames (or validations) per second over about `seconds`, in batches so the clock is read
 * rarely. */
static double rate(Autopeft__Kind kind, const ProtobufCMessage *msg, path_kind_t path,
                   double seconds)
{
    double t0 = bench_now(), t;
    long n = 0;

    do {
        for (int i = 0; i < 256; i++) {
            int rc = path == PATH_WIRE ? wire_once(kind, msg)
                     : path == PATH_RAW ? raw_once(msg)
                                        : wire_validate(kind, msg);
            if (rc != 0) {
                fprintf(stderr, "bench wire: path %d failed\n", (int)path);
                exit(1);
            }
        }
        n += 256;
        t = bench_now() - t0;
    } while (t < seconds);
    return (double)n / t;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    double median, min, max;
} stats_t;

static stats_t summarise(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return (stats_t){n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]), v[0], v[n - 1]};
}

BENCH(wire, "TRIAL and RESULT frames/s through wire_encode+wire_decode vs raw protobuf-c")
{
    double seconds = 0.25, r[6][MAX_ROUNDS];
    int rounds = 7;
    trial_msg_t trial;
    result_msg_t result;
    const char *labels[6] = {"TRIAL  wire (encode+decode+validate)", "TRIAL  protobuf-c pack+unpack",
                             "RESULT wire (encode+decode+validate)", "RESULT protobuf-c pack+unpack",
                             "TRIAL  wire_validate alone", "RESULT wire_validate alone"};
    stats_t s[6];
    size_t trial_bytes, result_bytes;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            if (parse_double(argv[++i], 0.01, 60, "--seconds", &seconds) != 0)
                return 2;
        } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            if (parse_int(argv[++i], 1, MAX_ROUNDS, "--rounds", &rounds) != 0)
                return 2;
        } else {
            fprintf(stderr, "usage: autopeft-bench wire [--seconds S] [--rounds R]\n");
            return 2;
        }
    }
    make_trial(&trial);
    make_result(&result);
    trial_bytes = 12 + protobuf_c_message_get_packed_size(&trial.trial.base);
    result_bytes = 12 + protobuf_c_message_get_packed_size(&result.result.base);
    /* Warm-up: caches, allocator pools, page faults. */
    rate(AUTOPEFT__KIND__KIND_TRIAL, &trial.trial.base, PATH_WIRE, 0.05);
    rate(AUTOPEFT__KIND__KIND_RESULT, &result.result.base, PATH_RAW, 0.05);
    for (int k = 0; k < rounds; k++) {
        r[0][k] = rate(AUTOPEFT__KIND__KIND_TRIAL, &trial.trial.base, PATH_WIRE, seconds);
        r[1][k] = rate(AUTOPEFT__KIND__KIND_TRIAL, &trial.trial.base, PATH_RAW, seconds);
        r[2][k] = rate(AUTOPEFT__KIND__KIND_RESULT, &result.result.base, PATH_WIRE, seconds);
        r[3][k] = rate(AUTOPEFT__KIND__KIND_RESULT, &result.result.base, PATH_RAW, seconds);
        r[4][k] = rate(AUTOPEFT__KIND__KIND_TRIAL, &trial.trial.base, PATH_VALIDATE, seconds / 2);
        r[5][k] = rate(AUTOPEFT__KIND__KIND_RESULT, &result.result.base, PATH_VALIDATE,
                       seconds / 2);
    }
    printf("frames: TRIAL %zu bytes, RESULT %zu bytes; %d rounds of %.2f s per path\n\n",
           trial_bytes, result_bytes, rounds, seconds);
    printf("%-38s %14s %12s %22s\n", "path", "per s", "us each", "spread (per s)");
    for (int i = 0; i < 6; i++) {
        s[i] = summarise(r[i], rounds);
        printf("%-38s %14.0f %12.2f %10.0f..%-10.0f\n", labels[i], s[i].median, 1e6 / s[i].median,
               s[i].min, s[i].max);
    }
    /* Time per TRIAL+RESULT pair through wire over the same through protobuf-c. */
    double overhead = (1 / s[0].median + 1 / s[2].median) / (1 / s[1].median + 1 / s[3].median);
    printf("\nwire / protobuf-c time: TRIAL %.2fx, RESULT %.2fx, both %.2fx\n",
           s[1].median / s[0].median, s[3].median / s[2].median, overhead);
    printf("BENCH wire trial_frames_per_s=%.0f result_frames_per_s=%.0f overhead_vs_protobuf=%.2f\n",
           s[0].median, s[2].median, overhead);
    return 0;
}
