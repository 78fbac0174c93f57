/* `autopeft inputs`, `autopeft train --write-inputs` and `--trace`, `autopeft eval --logits`:
 * what another trainer gets of a trial is what the built-in trainer trains on. */
#include <jansson.h>

#include "tests/harness.h"
#include "tests/integration/cli_util.h"
#include "tests/tiny_task.h"
#include "worker/inputs/safetensors.h"

#define RUN(r, ...) CLI_RUN(r, NULL, __VA_ARGS__)
#define tmp_path cli_tmp_path

static bool same_file(const char *dir_a, const char *dir_b, const char *name)
{
    static char x[1 << 21], y[1 << 21];
    char a[1200], b[1200];
    size_t n, m;

    snprintf(a, sizeof a, "%s/%s", dir_a, name);
    snprintf(b, sizeof b, "%s/%s", dir_b, name);
    cli_slurp(a, x, sizeof x, &n);
    cli_slurp(b, y, sizeof y, &m);
    return n == m && memcmp(x, y, n) == 0;
}

/* The int32 tensor NAME of FILE into out (at most cap values); its count. */
static size_t read_i32(const char *file, const char *name, int32_t *out, size_t cap)
{
    safetensors_t *st = NULL;
    const safetensors_tensor_t *t;
    size_t n;

    ASSERT_OK(safetensors_open(file, &st));
    t = safetensors_find(st, name);
    ASSERT_NOT_NULL(t);
    ASSERT_EQ(t->dtype, SAFETENSORS_I32);
    n = (size_t)(t->nbytes / 4);
    ASSERT_TRUE(n <= cap);
    memcpy(out, safetensors_data(st, t), n * 4);
    safetensors_free(&st);
    return n;
}

TEST_TIMEOUT(inputs_are_what_the_builtin_trainer_trains_on, 120)
{
    cli_result_t *r = calloc(1, sizeof *r);
    char model[1100], data[1100], vocab[1200], spec[1200], file[1300], text[1 << 16];
    static int32_t order[2 * 60];
    size_t n, k = 0;
    json_t *o, *line;
    FILE *f;
    char peft[] = "sa=8 pa=0 pt=2 lora=4 layers=01";

    snprintf(model, sizeof model, "%s", tmp_path("model"));
    snprintf(data, sizeof data, "%s", tmp_path("data"));
    tiny_write_vocab(data);
    tiny_write_task(data, 100, 30, 3, false);
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", data);
    RUN(r, "init-model", "--hidden", "32", "--layers", "2", "--heads", "4", "--positions", "32",
        "--vocab-file", vocab, "--out", model);
    ASSERT_EQ(r->status, 0);
#define TRIAL_FLAGS                                                                             \
    "--model", model, "--task", "sst2", "--data", data, "--peft", peft, "--epochs", "2",       \
        "--batch-size", "16", "--max-train-examples", "60", "--dropout", "0", "--seed", "7",   \
        "--threads", "1", "--max-length", "32", "--quiet"
    RUN(r, "train", TRIAL_FLAGS, "--write-inputs", (char *)tmp_path("a"));
    if (r->status != 0)
        FAIL("train --write-inputs: %d: %s", r->status, r->err);
    o = cli_json(r->out);
    ASSERT_STR_EQ(json_string_value(json_object_get(o, "config")), peft);
    ASSERT_TRUE(json_object_get(o, "objective") == NULL);
    json_decref(o);

    /* The same trial as the --exec JSON gives it (the writer's keys, docs/guide.md). */
    snprintf(spec, sizeof spec, "%s", tmp_path("spec.json"));
    snprintf(text, sizeof text,
             "{\"trial_id\":5,\"attempt\":1,\"seed\":7,\"data_seed\":7,\"threads\":1,"
             "\"model\":{\"path\":\"%s\"},\"task\":{\"name\":\"sst2\",\"data_dir\":\"%s\"},"
             "\"recipe\":{\"epochs\":2,\"learning_rate\":1e-4,\"batch_size\":16,"
             "\"max_length\":32,\"warmup_ratio\":0.06,\"weight_decay\":0.01,"
             "\"max_grad_norm\":1.0,\"dropout\":0.0,\"max_train_examples\":60,"
             "\"max_eval_examples\":0,\"patience\":0,\"lora_alpha\":0.0,"
             "\"prefix_bottleneck\":800,\"eval_batch_size\":64,\"full_finetune\":false},"
             "\"peft\":{\"serial_adapter\":8,\"parallel_adapter\":0,\"prefix_length\":2,"
             "\"lora_rank\":4,\"houlsby_adapter\":0,\"serial_layers\":\"01\","
             "\"prefix_layers\":\"01\",\"lora_layers\":\"01\",\"text\":\"%s\"}}",
             model, data, peft);
    cli_write_text(spec, text);
    RUN(r, "inputs", "--spec", spec, "--out", (char *)tmp_path("b"), "--quiet");
    if (r->status != 0)
        FAIL("inputs: %d: %s", r->status, r->err);
    {
        char a[1100], b[1100];
        snprintf(a, sizeof a, "%s", tmp_path("a"));
        snprintf(b, sizeof b, "%s", tmp_path("b"));
        ASSERT_TRUE(same_file(a, b, "data.safetensors"));
        ASSERT_TRUE(same_file(a, b, "init.safetensors"));
        ASSERT_TRUE(same_file(a, b, "inputs.json"));
    }

    /* Each epoch's order is the one the trainer's steps take, batch by batch. */
    snprintf(file, sizeof file, "%s/data.safetensors", tmp_path("a"));
    n = read_i32(file, "order", order, sizeof order / sizeof order[0]);
    ASSERT_EQ(n, 120);
    RUN(r, "train", TRIAL_FLAGS, "--trace", (char *)tmp_path("trace.jsonl"));
    if (r->status != 0)
        FAIL("train --trace: %d: %s", r->status, r->err);
    f = fopen(tmp_path("trace.jsonl"), "r");
    ASSERT_NOT_NULL(f);
    int steps = 0, evals = 0;
    while (fgets(text, sizeof text, f)) {
        json_t *rows, *logits;
        size_t i;
        line = cli_json(text);
        if (json_object_get(line, "eval")) {
            evals++;
            ASSERT_EQ(json_array_size(json_object_get(line, "logits")), 30);
            json_decref(line);
            continue;
        }
        steps++;
        rows = json_object_get(line, "rows");
        logits = json_object_get(line, "logits");
        ASSERT_EQ(json_array_size(rows), json_array_size(logits));
        ASSERT_EQ(json_array_size(json_array_get(logits, 0)), 2);
        json_array_foreach(rows, i, o)
            ASSERT_EQ(json_integer_value(o), order[k++]);
        json_decref(line);
    }
    fclose(f);
    ASSERT_EQ(k, 120);
    ASSERT_EQ(steps, 8);   /* 2 epochs of ceil(60 / 16) */
    ASSERT_EQ(evals, 2);

    /* Bad specs are named. */
    cli_write_text(spec, "{\"model\":{\"path\":\"x\"},\"task\":{},\"recipe\":{\"epochs\":\"3\"},"
                         "\"peft\":{}}");
    RUN(r, "inputs", "--spec", spec, "--out", (char *)tmp_path("c"));
    ASSERT_EQ(r->status, 2);
    ASSERT_CONTAINS(r->err, "\"recipe.epochs\"");
    cli_write_text(spec, "[1]");
    RUN(r, "inputs", "--spec", spec, "--out", (char *)tmp_path("c"));
    ASSERT_EQ(r->status, 2);
    ASSERT_CONTAINS(r->err, "expected a JSON object");
    RUN(r, "inputs", "--out", (char *)tmp_path("c"));
    ASSERT_EQ(r->status, 2);
    ASSERT_CONTAINS(r->err, "--spec FILE and --out DIR are required");
    RUN(r, "train", TRIAL_FLAGS, "--write-inputs", "x", "--trace", "y");
    ASSERT_EQ(r->status, 2);
    ASSERT_CONTAINS(r->err, "--write-inputs trains nothing");
#undef TRIAL_FLAGS
    cli_result_free(r);
    free(r);
}

TEST_TIMEOUT(eval_logits_give_the_reported_objective, 120)
{
    cli_result_t *r = calloc(1, sizeof *r);
    char model[1100], data[1100], save[1100], logits[1100];
    static char text[1 << 20];
    json_t *o, *rows, *gold, *x;
    size_t i;
    int right = 0;
    double objective;

    snprintf(model, sizeof model, "%s", tmp_path("model"));
    snprintf(data, sizeof data, "%s", tmp_path("data"));
    snprintf(save, sizeof save, "%s", tmp_path("saved"));
    snprintf(logits, sizeof logits, "%s", tmp_path("logits.json"));
    tiny_write_model(model, 2, 3);
    tiny_write_task(data, 80, 40, 4, false);
    RUN(r, "train", "--model", model, "--task", "sst2", "--data", data, "--peft",
        "sa=8 layers=11", "--epochs", "2", "--lr", "3e-3", "--threads", "1", "--max-length", "32",
        "--quiet",
        "--save", save);
    if (r->status != 0)
        FAIL("train: %d: %s", r->status, r->err);
    RUN(r, "eval", "--peft", save, "--data", data, "--logits", logits, "--quiet");
    if (r->status != 0)
        FAIL("eval: %d: %s", r->status, r->err);
    o = cli_json(r->out);
    objective = json_number_value(json_object_get(json_object_get(o, "objective"), "value"));
    json_decref(o);
    cli_slurp(logits, text, sizeof text, NULL);
    o = cli_json(text);
    rows = json_object_get(o, "logits");
    gold = json_object_get(o, "gold");
    ASSERT_EQ(json_array_size(rows), 40);
    ASSERT_EQ(json_array_size(gold), 40);
    json_array_foreach(rows, i, x) {
        double z0 = json_number_value(json_array_get(x, 0));
        double z1 = json_number_value(json_array_get(x, 1));
        right += (z1 > z0 ? 1 : 0) == json_integer_value(json_array_get(gold, i));
    }
    ASSERT_NEAR(right / 40.0, objective, 1e-12);
    ASSERT_NEAR(json_number_value(json_object_get(o, "objective")), objective, 1e-8);
    json_decref(o);
    RUN(r, "train", "--model", model, "--task", "sst2", "--data", data, "--logits", logits);
    ASSERT_EQ(r->status, 2);
    ASSERT_CONTAINS(r->err, "--logits is an option of autopeft eval");
    cli_result_free(r);
    free(r);
}

/* The "recipe" object's "precision" of the JSON file dir/name. */
static void check_precision(const char *dir, const char *name, const char *want)
{
    char file[1300], *text;
    json_t *o;

    snprintf(file, sizeof file, "%s/%s", dir, name);
    text = harness_slurp(file, NULL);
    o = cli_json(text);
    ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(o, "recipe"), "precision")),
                  want);
    json_decref(o);
    free(text);
}

/* The recipe's precision of a trial's inputs, for a trainer that trains under autocast: from
 * train --precision and from the --exec JSON's recipe.precision; training itself refuses any
 * but fp32. */
TEST_TIMEOUT(precision_goes_into_the_inputs_and_training_refuses_it, 120)
{
    cli_result_t *r = calloc(1, sizeof *r);
    char spec[1200];
    json_t *o;
#define EMB_FLAGS                                                                               \
    "--model", "embedded", "--task", "embedded", "--epochs", "1", "--max-train-examples", "50", \
        "--max-eval-examples", "20", "--threads", "1", "--quiet"

    RUN(r, "train", EMB_FLAGS, "--precision", "bf16", "--write-inputs", (char *)tmp_path("bf"));
    if (r->status != 0)
        FAIL("train --write-inputs --precision bf16: %d: %s", r->status, r->err);
    check_precision(tmp_path("bf"), "inputs.json", "bf16");
    check_precision(tmp_path("bf"), "trial.json", "bf16");
    RUN(r, "train", EMB_FLAGS, "--write-inputs", (char *)tmp_path("fp"));
    ASSERT_EQ(r->status, 0);
    check_precision(tmp_path("fp"), "inputs.json", "fp32");

    /* The --exec JSON's recipe.precision, read back by autopeft inputs. */
    snprintf(spec, sizeof spec, "%s", tmp_path("spec.json"));
    cli_write_text(spec, "{\"seed\":3,\"model\":{\"embedded_default\":true,\"embedded_seed\":1},"
                         "\"task\":{\"name\":\"embedded\",\"embedded_default\":true},"
                         "\"recipe\":{\"epochs\":1,\"max_length\":24,\"max_train_examples\":50,"
                         "\"max_eval_examples\":20,\"precision\":\"fp16\"},\"peft\":{}}");
    RUN(r, "inputs", "--spec", spec, "--out", (char *)tmp_path("spec-out"), "--quiet");
    if (r->status != 0)
        FAIL("inputs: %d: %s", r->status, r->err);
    check_precision(tmp_path("spec-out"), "inputs.json", "fp16");
    cli_write_text(spec, "{\"model\":{\"embedded_default\":true},\"task\":{\"name\":\"embedded\","
                         "\"embedded_default\":true},\"recipe\":{\"precision\":\"fp8\"},"
                         "\"peft\":{}}");
    RUN(r, "inputs", "--spec", spec, "--out", (char *)tmp_path("c"));
    ASSERT_EQ(r->status, 2);
    ASSERT_CONTAINS(r->err, "\"recipe.precision\"");

    /* Training: float32 only, said before anything loads; a bad name is a usage error. */
    RUN(r, "train", EMB_FLAGS, "--precision", "bf16");
    ASSERT_EQ(r->status, 1);
    ASSERT_CONTAINS(r->err, "the built-in trainer trains in float32 only");
    ASSERT_CONTAINS(r->err, "--exec trainer such as autopeft-torch-train");
    RUN(r, "train", EMB_FLAGS, "--precision", "fp32");
    ASSERT_EQ(r->status, 0);
    o = cli_json(r->out);
    ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(o, "recipe"), "precision")),
                  "fp32");
    json_decref(o);
    RUN(r, "train", EMB_FLAGS, "--precision", "half");
    ASSERT_EQ(r->status, 2);
    ASSERT_CONTAINS(r->err, "--precision: expected fp32, bf16 or fp16, got 'half'");
    RUN(r, "eval", "--peft", (char *)tmp_path("x"), "--precision", "bf16");
    ASSERT_EQ(r->status, 2);
#undef EMB_FLAGS
    cli_result_free(r);
    free(r);
}
