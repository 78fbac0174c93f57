/* `autopeft init-model`, `autopeft train` and `autopeft eval` as a user runs them: the built
 * program, its JSON on stdout, its progress and errors on stderr, its exit statuses. */
#include <jansson.h>

#include "tests/harness.h"
#include "tests/integration/cli_util.h"
#include "tests/tiny_task.h"

typedef cli_result_t run_t;

/* Runs `autopeft ARGS...`, stdin from /dev/null. */
#define RUN(r, ...) CLI_RUN(r, NULL, __VA_ARGS__)
#define tmp_path cli_tmp_path

static json_t *parse_out(const run_t *r)
{
    json_error_t e;
    json_t *o = json_loads(r->out, 0, &e);

    if (!o)
        FAIL("stdout is not JSON (%s): %s\nstderr: %s", e.text, r->out, r->err);
    return o;
}

static double num(json_t *o, const char *a, const char *b)
{
    json_t *v = json_object_get(o, a);
    if (b)
        v = json_object_get(v, b);
    if (!json_is_number(v))
        FAIL("no number at %s.%s", a, b ? b : "");
    return json_number_value(v);
}

static bool same_file(const char *a, const char *b)
{
    static char x[1 << 20], y[1 << 20];
    FILE *f = fopen(a, "rb"), *g = fopen(b, "rb");
    size_t n, m;

    ASSERT_TRUE(f && g);
    n = fread(x, 1, sizeof x, f);
    m = fread(y, 1, sizeof y, g);
    fclose(f);
    fclose(g);
    return n == m && memcmp(x, y, n) == 0;
}

TEST_TIMEOUT(init_model_writes_a_seeded_checkpoint, 60)
{
    run_t *r = calloc(1, sizeof *r);
    char a[1100], b[1100];

    RUN(r, "init-model", "--hidden", "16", "--layers", "2", "--positions", "32", "--seed", "4",
        "--out", (char *)tmp_path("m1"));
    ASSERT_EQ(r->status, 0);
    ASSERT_CONTAINS(r->err, "generated vocabulary of 109 tokens");
    ASSERT_CONTAINS(r->out, "hidden 16, 2 layers, 1 heads, intermediate 64, vocab 109");
    RUN(r, "init-model", "--hidden", "16", "--layers", "2", "--positions", "32", "--seed", "4",
        "--out", (char *)tmp_path("deeper/m2"));
    ASSERT_EQ(r->status, 0);
    snprintf(a, sizeof a, "%s/model.safetensors", tmp_path("m1"));
    snprintf(b, sizeof b, "%s/model.safetensors", tmp_path("deeper/m2"));
    ASSERT_TRUE(same_file(a, b));
    RUN(r, "init-model", "--hidden", "16", "--layers", "2", "--positions", "32", "--seed", "5",
        "--out", (char *)tmp_path("m3"));
    snprintf(b, sizeof b, "%s/model.safetensors", tmp_path("m3"));
    ASSERT_FALSE(same_file(a, b));
    /* The folder reads back as a checkpoint: tokenize uses its vocabulary. */
    RUN(r, "init-model", "--like", (char *)tmp_path("m1"), "--out", (char *)tmp_path("m4"));
    ASSERT_EQ(r->status, 0);
    ASSERT_CONTAINS(r->out, "hidden 16, 2 layers");

    RUN(r, "init-model", "--hidden", "16", "--layers", "2");
    ASSERT_EQ(r->status, 2);
    ASSERT_CONTAINS(r->err, "--out DIR is required");
    RUN(r, "init-model", "--hidden", "16", "--shape", "bert-tiny", "--out", "x");
    ASSERT_EQ(r->status, 2);
    ASSERT_CONTAINS(r->err, "exactly one of");
    RUN(r, "init-model", "--hidden", "16", "--layers", "0", "--out", "x");
    ASSERT_EQ(r->status, 2);
    ASSERT_CONTAINS(r->err, "--layers");
    RUN(r, "init-model", "--hidden", "30", "--layers", "2", "--heads", "4", "--out", "x");
    ASSERT_EQ(r->status, 2);
    ASSERT_CONTAINS(r->err, "heads");
    RUN(r, "init-model", "--like", "/nonexistent", "--out", "x");
    ASSERT_EQ(r->status, 1);
    ASSERT_CONTAINS(r->err, "/nonexistent/config.json");
    /* writing a random model needs no BLAS: no word of OpenBLAS even at info level */
    setenv("AUTOPEFT_LOG_LEVEL", "info", 1);
    RUN(r, "init-model", "--hidden", "16", "--layers", "1", "--out", (char *)tmp_path("m5"));
    ASSERT_EQ(r->status, 0);
    ASSERT_TRUE(strstr(r->err, "OpenBLAS") == NULL);
    unsetenv("AUTOPEFT_LOG_LEVEL");
    cli_result_free(r);
    free(r);
}

TEST_TIMEOUT(train_then_eval_gives_the_same_metric, 120)
{
    run_t *r = calloc(1, sizeof *r);
    char model[1100], data[1100], vocab[1200], save[1100];
    json_t *o, *e;

    snprintf(model, sizeof model, "%s", tmp_path("model"));
    snprintf(data, sizeof data, "%s", tmp_path("data"));
    snprintf(save, sizeof save, "%s", tmp_path("saved"));
    tiny_write_vocab(data);
    tiny_write_task(data, 300, 80, 3, false);
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", data);
    RUN(r, "init-model", "--hidden", "32", "--layers", "2", "--heads", "4", "--positions", "32",
        "--init-range", "0.1", "--vocab-file", vocab, "--out", model);
    ASSERT_EQ(r->status, 0);
    RUN(r, "train", "--model", model, "--task", "sst2", "--data", data, "--peft",
        "sa=16 pa=8 pt=0 layers=11", "--epochs", "3", "--lr", "3e-3", "--batch-size", "16",
        "--max-length", "32", "--dropout", "0", "--threads", "1", "--save", save);
    if (r->status != 0)
        FAIL("train: status %d: %s", r->status, r->err);
    o = parse_out(r);
    ASSERT_STR_EQ(json_string_value(json_object_get(o, "status")), "ok");
    ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(o, "objective"), "name")),
                  "accuracy");
    ASSERT_EQ(json_array_size(json_object_get(o, "history")), 3);
    ASSERT_TRUE(num(o, "params", "trainable") > num(o, "params", "head"));
    ASSERT_NEAR(num(o, "params", "percent_deployed"),
                100 * num(o, "params", "modules_deployed") / num(o, "params", "backbone"), 1e-9);
    ASSERT_EQ((int)num(o, "data", "train_examples"), 300);
    ASSERT_TRUE(num(o, "timings", "examples_per_s") > 0);
    ASSERT_STR_EQ(json_string_value(json_object_get(o, "config")), "sa=16 pa=8 pt=0 layers=11");
    /* Not a terminal: plain progress lines, one per evaluation at least. */
    ASSERT_CONTAINS(r->err, "epoch 1/3  train loss");
    ASSERT_CONTAINS(r->err, "dev accuracy");
    ASSERT_FALSE(strchr(r->err, '\r') != NULL);

    RUN(r, "eval", "--peft", save, "--data", data, "--threads", "1");
    if (r->status != 0)
        FAIL("eval: status %d: %s", r->status, r->err);
    e = parse_out(r);
    ASSERT_NEAR(num(e, "objective", "value"), num(o, "objective", "value"), 0);
    ASSERT_NEAR(num(e, "metrics", "accuracy"), num(o, "metrics", "accuracy"), 0);
    ASSERT_NEAR(num(e, "params", "deployed"), num(o, "params", "deployed"), 0);
    json_decref(e);
    json_decref(o);

    /* STS-B-like data as a custom regression task. */
    tiny_write_task(data, 100, 40, 5, true);
    RUN(r, "train", "--model", model, "--task", "custom", "--data", data, "--text-column",
        "sentence", "--label-column", "label", "--num-labels", "1", "--peft", "sa=8 layers=11",
        "--epochs", "1", "--max-length", "32", "--threads", "1", "--quiet");
    if (r->status != 0)
        FAIL("train: status %d: %s", r->status, r->err);
    o = parse_out(r);
    ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(o, "objective"), "name")),
                  "spearman");
    num(o, "metrics", "pearson");
    ASSERT_NEAR(num(o, "metrics", "spearman"), num(o, "objective", "value"), 0);
    ASSERT_TRUE(strstr(r->err, "epoch") == NULL);   /* --quiet: no progress */
    json_decref(o);
    cli_result_free(r);
    free(r);
}

TEST_TIMEOUT(train_flags_and_errors, 60)
{
    run_t *r = calloc(1, sizeof *r);
    char model[1100], data[1100];

    snprintf(model, sizeof model, "%s", tmp_path("model"));
    snprintf(data, sizeof data, "%s", tmp_path("data"));
    tiny_write_model(model, 2, 1);
    tiny_write_task(data, 20, 10, 3, false);

    RUN(r, "train", "--help");
    ASSERT_EQ(r->status, 0);
    ASSERT_CONTAINS(r->out, "Usage: autopeft train");
    ASSERT_CONTAINS(r->out, "--max-train-examples");
    RUN(r, "help", "eval");
    ASSERT_EQ(r->status, 0);
    ASSERT_CONTAINS(r->out, "Usage: autopeft eval");
    RUN(r, "--help");
    ASSERT_CONTAINS(r->out, "init-model");

    /* Warnings only by default (an empty AUTOPEFT_LOG_LEVEL counts as unset, and cli_run
     * leaves a set one alone); the variable is obeyed. */
    setenv("AUTOPEFT_LOG_LEVEL", "info", 1);
    RUN(r, "train", "--model", model, "--task", "sst2", "--data", data, "--epochs", "1",
        "--max-length", "32", "--quiet");
    ASSERT_EQ(r->status, 0);
    ASSERT_CONTAINS(r->err, "OpenBLAS core");
    setenv("AUTOPEFT_LOG_LEVEL", "", 1);
    RUN(r, "train", "--model", model, "--task", "sst2", "--data", data, "--epochs", "1",
        "--max-length", "32", "--quiet");
    ASSERT_EQ(r->status, 0);
    ASSERT_TRUE(strstr(r->err, "OpenBLAS core") == NULL);
    setenv("AUTOPEFT_LOG_LEVEL", "warn", 1);

    RUN(r, "train", "--task", "sst2", "--data", data);
    ASSERT_EQ(r->status, 2);
    ASSERT_CONTAINS(r->err, "--model DIR is required");
    RUN(r, "train", "--model", model, "--data", data);
    ASSERT_EQ(r->status, 2);
    ASSERT_CONTAINS(r->err, "--task NAME is required");
    RUN(r, "train", "--model", model, "--task", "sst2");
    ASSERT_EQ(r->status, 2);
    ASSERT_CONTAINS(r->err, "give the data");
    RUN(r, "train", "--model", model, "--task", "sst2", "--data", data, "--lr", "fast");
    ASSERT_EQ(r->status, 2);
    ASSERT_CONTAINS(r->err, "--lr");
    RUN(r, "train", "--model", model, "--task", "sst2", "--data", data, "--epochs", "0");
    ASSERT_EQ(r->status, 2);
    ASSERT_CONTAINS(r->err, "--epochs");
    RUN(r, "train", "--model", model, "--task", "sst2", "--data", data, "--peft",
        "sa=8 layers=111");
    ASSERT_EQ(r->status, 2);
    ASSERT_CONTAINS(r->err, "--peft:");
    RUN(r, "train", "--model", model, "--task", "sst2", "--data", data, "--bogus");
    ASSERT_EQ(r->status, 2);
    RUN(r, "train", "--model", model, "--task", "sst2", "--data", data, "--train", "x");
    ASSERT_EQ(r->status, 2);
    ASSERT_CONTAINS(r->err, "exclude each other");
    RUN(r, "eval", "--peft", data, "--data", data, "--epochs", "2");
    ASSERT_EQ(r->status, 2);
    ASSERT_CONTAINS(r->err, "--epochs is an option of autopeft train");
    RUN(r, "eval", "--data", data);
    ASSERT_EQ(r->status, 2);
    ASSERT_CONTAINS(r->err, "--peft SAVED_DIR is required");

    /* Failures of the trial itself: status 1, the reason on stderr, nothing on stdout. */
    RUN(r, "train", "--model", model, "--task", "sst2", "--data", "/nonexistent",
        "--max-length", "32");
    ASSERT_EQ(r->status, 1);
    ASSERT_CONTAINS(r->err, "/nonexistent");
    ASSERT_STR_EQ(r->out, "");
    RUN(r, "train", "--model", model, "--task", "sst2", "--data", data);
    ASSERT_EQ(r->status, 1);
    ASSERT_CONTAINS(r->err, "maximum length 128: the model has 32 positions");
    RUN(r, "eval", "--peft", data, "--data", data);
    ASSERT_EQ(r->status, 1);
    ASSERT_CONTAINS(r->err, "trial.json");
    cli_result_free(r);
    free(r);
}
