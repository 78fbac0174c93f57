/* The PyTorch trainer (worker/torch/autopeft_torch_train.py) against the built-in one: from
 * the same inputs (`autopeft train --write-inputs`), the same loss, learning rate, rows and
 * logits at every step, and the same dev logits at every evaluation; its saved weights give
 * `autopeft eval` its metric; a study runs on it through `autopeft-worker --exec`; what it
 * cannot do is refused by name; SIGTERM ends it with the epochs it evaluated.
 *
 * It needs Debian's python3-torch (`make deps` installs it); without it the tests are skipped
 * and say so. */
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/harness.h"
#include "tests/integration/cli_util.h"
#include "tests/integration/runtime_util.h"
#include "tests/tiny_task.h"

#define PYTHON "/usr/bin/python3"
#define RUN(r, ...) CLI_RUN(r, NULL, __VA_ARGS__)
#define tmp_path cli_tmp_path
/* Per-step tolerance of loss and logits, relative to max(1, the largest |logit| of the line):
 * float32 on both sides, summed in different orders; 16 steps of training measured within
 * 7e-6 (full fine-tuning included). */
#define STEP_TOL 1e-4

static void need_torch(void)
{
    if (access(PYTHON, X_OK) != 0 ||
        system(PYTHON " -c 'import torch' >/dev/null 2>&1") != 0)
        HARNESS_SKIP(PYTHON " cannot import torch: install python3-torch (make deps does)");
}

static const char *trainer_script(void)
{
    static char path[1024];
    return harness_src_path("worker/torch/autopeft_torch_train.py", path, sizeof path);
}

/* Runs the PyTorch trainer with ARGS (NULL-terminated), stdin from IN (NULL: /dev/null),
 * stdout and stderr into files of the test's folder; its exit status (or -signal). */
static int run_torch(const char *in, const char *out, const char *err, char *const *args)
{
    char *argv[40];
    int n = 0, st;
    pid_t pid;

    argv[n++] = PYTHON;
    argv[n++] = (char *)trainer_script();
    for (int i = 0; args[i] && n < 38; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        if (!freopen(in ? in : "/dev/null", "r", stdin) || !freopen(out, "w", stdout) ||
            !freopen(err, "w", stderr))
            _exit(127);
        execv(PYTHON, argv);
        _exit(127);
    }
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}
#define TORCH(in, out, err, ...) run_torch((in), (out), (err), (char *const[]){__VA_ARGS__, NULL})

/* The largest |x| of a row-major logits array (an array of rows); *n its count of numbers. */
static double logits_scale(json_t *rows, size_t *n)
{
    double m = 0;
    size_t i, j;
    json_t *row, *x;

    *n = 0;
    json_array_foreach(rows, i, row) json_array_foreach(row, j, x)
    {
        m = fmax(m, fabs(json_number_value(x)));
        (*n)++;
    }
    return m;
}

/* |a - b| of every logit, relative to max(1, the largest |a|); fails on a shape mismatch. */
static double logits_diff(json_t *a, json_t *b, const char *what, int line)
{
    size_t na, nb, i, j;
    double scale = fmax(1.0, logits_scale(a, &na)), worst = 0;
    json_t *row, *x;

    logits_scale(b, &nb);
    if (na != nb || json_array_size(a) != json_array_size(b))
        FAIL("%s line %d: %zu logits in %zu rows vs %zu in %zu", what, line, na,
             json_array_size(a), nb, json_array_size(b));
    json_array_foreach(a, i, row) json_array_foreach(row, j, x)
    {
        double y = json_number_value(json_array_get(json_array_get(b, i), j));
        worst = fmax(worst, fabs(json_number_value(x) - y) / scale);
    }
    return worst;
}

typedef struct {
    int steps, evals;
    double loss, logits;   /* the worst relative differences */
} parity_t;

/* The traces of the two trainers, line by line. */
static parity_t compare_traces(const char *c_trace, const char *py_trace, const char *what)
{
    static char a[1 << 22], b[1 << 22];
    FILE *fa = fopen(c_trace, "r"), *fb = fopen(py_trace, "r");
    parity_t p = {0};
    int line = 0;

    ASSERT_NOT_NULL(fa);
    ASSERT_NOT_NULL(fb);
    while (fgets(a, sizeof a, fa)) {
        json_t *x, *y;
        line++;
        if (!fgets(b, sizeof b, fb))
            FAIL("%s: the PyTorch trace ends at line %d, the C trace goes on", what, line);
        x = cli_json(a);
        y = cli_json(b);
        if (json_object_get(x, "step")) {
            double lx = json_number_value(json_object_get(x, "loss"));
            double ly = json_number_value(json_object_get(y, "loss"));
            double rx = json_number_value(json_object_get(x, "lr"));
            double ry = json_number_value(json_object_get(y, "lr"));
            ASSERT_EQ(cli_json_u64(y, "step"), cli_json_u64(x, "step"));
            ASSERT_EQ(cli_json_u64(y, "epoch"), cli_json_u64(x, "epoch"));
            if (!json_equal(json_object_get(x, "rows"), json_object_get(y, "rows")))
                FAIL("%s line %d: the batches' rows differ", what, line);
            ASSERT_NEAR(ry, rx, 1e-6 * fabs(rx));
            p.loss = fmax(p.loss, fabs(lx - ly) / fmax(1.0, fabs(lx)));
            p.steps++;
        } else {
            ASSERT_EQ(cli_json_u64(y, "eval"), cli_json_u64(x, "eval"));
            p.evals++;
        }
        p.logits = fmax(p.logits, logits_diff(json_object_get(x, "logits"),
                                              json_object_get(y, "logits"), what, line));
        json_decref(x);
        json_decref(y);
    }
    if (fgets(b, sizeof b, fb))
        FAIL("%s: the PyTorch trace has more than the C trace's %d lines", what, line);
    fclose(fa);
    fclose(fb);
    return p;
}

/* One configuration trained by both from the same inputs: every step and evaluation compared. */
static void parity(const char *name, char *const *flags)
{
    char inputs[1100], ctrace[1100], ptrace[1100], out[1100], err[1100];
    char *args[40];
    cli_result_t *r = calloc(1, sizeof *r);
    int n = 0;
    parity_t p;

    snprintf(inputs, sizeof inputs, "%s/%s-inputs", harness_tmpdir(), name);
    snprintf(ctrace, sizeof ctrace, "%s/%s-c.jsonl", harness_tmpdir(), name);
    snprintf(ptrace, sizeof ptrace, "%s/%s-py.jsonl", harness_tmpdir(), name);
    snprintf(out, sizeof out, "%s/%s.out", harness_tmpdir(), name);
    snprintf(err, sizeof err, "%s/%s.err", harness_tmpdir(), name);
    args[n++] = "train";
    for (int i = 0; flags[i]; i++)
        args[n++] = flags[i];
    args[n++] = "--quiet";
    args[n++] = "--write-inputs";
    args[n++] = inputs;
    args[n] = NULL;
    cli_run(r, NULL, args);
    if (r->status != 0)
        FAIL("%s: train --write-inputs: %d: %s", name, r->status, r->err);
    args[n - 2] = "--trace";
    args[n - 1] = ctrace;
    cli_run(r, NULL, args);
    if (r->status != 0)
        FAIL("%s: train --trace: %d: %s", name, r->status, r->err);
    if (TORCH(NULL, out, err, "--inputs", inputs, "--trace", ptrace, "--threads", "2") != 0)
        FAIL("%s: the PyTorch trainer failed: %s", name, harness_slurp(err, NULL));
    p = compare_traces(ctrace, ptrace, name);
    printf("  %s: %d steps, %d evaluations: worst loss %.2e, logits %.2e (tolerance %.0e)\n",
           name, p.steps, p.evals, p.loss, p.logits, STEP_TOL);
    ASSERT_GT(p.steps, 8);
    ASSERT_GE(p.evals, 2);
    if (p.loss > STEP_TOL || p.logits > STEP_TOL)
        FAIL("%s: loss %.3g, logits %.3g apart (tolerance %g)", name, p.loss, p.logits,
             STEP_TOL);
    cli_result_free(r);
    free(r);
}

#define EMBEDDED_FLAGS                                                                        \
    "--model", "embedded", "--task", "embedded", "--max-train-examples", "256",               \
        "--max-eval-examples", "200", "--epochs", "2", "--weight-decay", "0.01",              \
        "--max-grad-norm", "0.5", "--threads", "2"

TEST_TIMEOUT(steps_match_the_builtin_trainer, 600)
{
    char model[1100], data[1100];

    need_torch();
    /* every module in the top three layers, clipping, decay and warmup at work */
    parity("all", (char *[]){EMBEDDED_FLAGS, "--lr", "2e-3", "--peft",
                             "sa=8 pa=4 pt=2 lora=2 ha=3 layers=0111", "--lora-alpha", "4",
                             NULL});
    /* each module with its own mask */
    parity("separate", (char *[]){EMBEDDED_FLAGS, "--lr", "2e-3", "--peft",
                                  "sa=8@1100 pa=4@0011 pt=3@0110 lora=2@1010 ha=5@0101",
                                  NULL});
    /* the head alone, and full fine-tuning with a module */
    parity("head", (char *[]){EMBEDDED_FLAGS, "--lr", "2e-3", NULL});
    parity("full", (char *[]){EMBEDDED_FLAGS, "--lr", "1e-3", "--full-finetune", "--peft",
                              "sa=4 layers=0001", NULL});

    /* regression (MSE, Spearman) on a checkpoint folder, with dropout turned off */
    snprintf(model, sizeof model, "%s", tmp_path("model"));
    snprintf(data, sizeof data, "%s", tmp_path("data"));
    tiny_write_model(model, 2, 3);
    tiny_write_task(data, 120, 40, 5, true);
    parity("regression",
           (char *[]){"--model", model, "--task", "custom", "--data", data, "--text-column",
                      "sentence", "--label-column", "label", "--num-labels", "1", "--peft",
                      "sa=8 pt=3 lora=4 layers=11", "--epochs", "2", "--batch-size", "16",
                      "--lr", "3e-3", "--dropout", "0", "--max-length", "32", "--threads", "2",
                      NULL});
}
