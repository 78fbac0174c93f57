/* `autopeft export` as a user runs it: tiny models trained and saved with `autopeft train
 * --save`, exported in each format; the files' tensor names, shapes and configuration fields
 * are docs/export.md's; configurations a library cannot compute are refused with their reason;
 * and (with /usr/bin/python3 and torch) a BERT rebuilt from the base checkpoint and the
 * exported files alone, by each library's definition of the modules
 * (tests/reference/export_reference.py), gives the logits of `autopeft eval --logits`. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/harness.h"
#include "tests/integration/cli_util.h"
#include "tests/tiny_task.h"
#include "worker/inputs/safetensors.h"

#define tmp_path cli_tmp_path
/* How far the reference's float64 logits may be from the engine's float32 ones. Measured:
 * about 2e-7 on these models, whose logits are O(1); a module left out or a flag read wrong
 * moves them by 1e-3 or more. */
#define REFERENCE_TOL 1e-5
#define LAYERS 3

/* A trained and saved trial: its folders and the logits `autopeft eval` gives. */
typedef struct {
    char model[1024], data[1024], saved[1024], inputs[1100], logits[1100];
} trained_t;

static void make_task(trained_t *t)
{
    snprintf(t->model, sizeof t->model, "%s", tmp_path("model"));
    snprintf(t->data, sizeof t->data, "%s", tmp_path("data"));
    if (access(t->model, F_OK) == 0)
        return;
    tiny_write_model(t->model, LAYERS, 5);
    tiny_write_task(t->data, 120, 30, 4, false);
}

/* Trains peft (NULL: the head alone; "full": full fine-tuning) into folder `name`, writes its
 * inputs beside it, and evaluates the saved weights with --logits. */
static void train(trained_t *t, const char *name, const char *peft, const char *alpha)
{
    cli_result_t r = {0};
    char *argv[40];
    int n = 0, base;

    make_task(t);
    snprintf(t->saved, sizeof t->saved, "%s", tmp_path(name));
    snprintf(t->inputs, sizeof t->inputs, "%s-inputs", t->saved);
    snprintf(t->logits, sizeof t->logits, "%s-logits.json", t->saved);
    for (const char *a[] = {"train", "--model", t->model, "--task", "sst2", "--data", t->data,
                            "--epochs", "2", "--lr", "5e-3", "--dropout", "0", "--threads", "1",
                            "--max-length", "32", "--quiet", NULL},
                    **p = a;
         *p; p++)
        argv[n++] = (char *)*p;
    if (peft && strcmp(peft, "full") == 0) {
        argv[n++] = "--full-finetune";
    } else if (peft) {
        argv[n++] = "--peft";
        argv[n++] = (char *)peft;
    }
    if (alpha) {
        argv[n++] = "--lora-alpha";
        argv[n++] = (char *)alpha;
    }
    base = n;
    argv[n++] = "--save";
    argv[n++] = t->saved;
    argv[n] = NULL;
    cli_run(&r, NULL, argv);
    if (r.status != 0)
        FAIL("train %s: %d: %s", peft ? peft : "(head)", r.status, r.err);
    argv[base] = "--write-inputs";
    argv[base + 1] = t->inputs;
    cli_run(&r, NULL, argv);
    if (r.status != 0)
        FAIL("train --write-inputs %s: %d: %s", peft ? peft : "(head)", r.status, r.err);
    CLI_RUN(&r, NULL, "eval", "--peft", t->saved, "--data", t->data, "--logits", t->logits,
            "--quiet");
    if (r.status != 0)
        FAIL("eval %s: %d: %s", t->saved, r.status, r.err);
    cli_result_free(&r);
}

/* `autopeft export SAVED --format F --out DIR`: the exit status, stderr in err (may be NULL). */
static int run_export(const char *saved, const char *format, const char *out, char *err, size_t cap)
{
    cli_result_t r = CLI_RESULT("export", (char *)saved, "--format", (char *)format, "--out",
                                (char *)out);
    int status = r.status;

    if (err)
        snprintf(err, cap, "%s", r.err);
    if (status == 0)
        ASSERT_CONTAINS(r.out, out);
    else
        ASSERT_STR_EQ(r.out, "");
    cli_result_free(&r);
    return status;
}

static void export_ok(const char *saved, const char *format, const char *out)
{
    char err[4096];

    if (run_export(saved, format, out, err, sizeof err) != 0)
        FAIL("export %s --format %s: %s", saved, format, err);
}

/* The export is refused (status 1, nothing written) with both texts in its message. */
static void export_refused(const char *saved, const char *format, const char *says,
                           const char *says2)
{
    char err[4096], out[1100];

    snprintf(out, sizeof out, "%s-refused-%s", saved, format);
    ASSERT_EQ(run_export(saved, format, out, err, sizeof err), 1);
    ASSERT_CONTAINS(err, "autopeft export: ");
    ASSERT_CONTAINS(err, says);
    ASSERT_CONTAINS(err, says2);
    ASSERT_TRUE(access(out, F_OK) != 0);
}

/* ---- files ------------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    uint64_t d0, d1;   /* d1 0: a vector */
} want_t;

/* The file holds exactly these F32 tensors with these shapes. */
static void check_tensors(const char *dir, const char *file, const want_t *w, size_t n)
{
    char path[1300];
    safetensors_t *st = NULL;

    snprintf(path, sizeof path, "%s/%s", dir, file);
    ASSERT_OK(safetensors_open(path, &st));
    for (size_t i = 0; i < n; i++) {
        const safetensors_tensor_t *t = safetensors_find(st, w[i].name);
        if (!t)
            FAIL("%s: no tensor %s", path, w[i].name);
        ASSERT_EQ(t->dtype, SAFETENSORS_F32);
        ASSERT_EQ(t->ndim, w[i].d1 ? 2 : 1);
        ASSERT_EQ_U(t->shape[0], w[i].d0);
        if (w[i].d1)
            ASSERT_EQ_U(t->shape[1], w[i].d1);
    }
    if (safetensors_count(st) != n)
        FAIL("%s: %zu tensors, expected %zu", path, safetensors_count(st), n);
    safetensors_free(&st);
}

static json_t *load_json(const char *dir, const char *file)
{
    char path[1300];
    json_error_t e;
    json_t *j;

    snprintf(path, sizeof path, "%s/%s", dir, file);
    j = json_load_file(path, 0, &e);
    if (!j)
        FAIL("%s: not JSON: %s", path, e.text);
    return j;
}

/* The value at a dotted path ("config.configs.0.leave_out"); the test fails when absent. */
static json_t *at(json_t *o, const char *path)
{
    char buf[256], *save = NULL;

    snprintf(buf, sizeof buf, "%s", path);
    for (char *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save)) {
        char *end;
        long i = strtol(k, &end, 10);
        o = *end == '\0' && json_is_array(o) ? json_array_get(o, (size_t)i) : json_object_get(o, k);
        if (!o)
            FAIL("no %s (at %s)", path, k);
    }
    return o;
}

/* The value at path equals the JSON text want. */
static void expect(json_t *o, const char *path, const char *want)
{
    json_error_t e;
    json_t *w = json_loads(want, JSON_DECODE_ANY, &e), *v = at(o, path);

    ASSERT_NOT_NULL(w);
    if (!json_equal(v, w) && !(json_is_number(v) && json_is_number(w) &&
                               json_number_value(v) == json_number_value(w))) {
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        FAIL("%s: %s, expected %s", path, s, want);
    }
    json_decref(w);
}

/* ---- the reference ------------------------------------------------------------------------ */

static bool have_torch(void)
{
    return access("/usr/bin/python3", X_OK) == 0 &&
           system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0;
}

/* The largest |difference| between the reference's logits for the export in dir and eval's. */
static double reference_gap(const trained_t *t, const char *format, const char *dir)
{
    static char text[1 << 20], mine[1 << 20];
    char script[1024], cmd[8192], err[1100];
    json_t *ref, *ours, *a, *b;
    double gap = 0;
    size_t n = 0;
    FILE *p;

    harness_src_path("tests/reference/export_reference.py", script, sizeof script);
    snprintf(err, sizeof err, "%s-reference.err", dir);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' --model '%s' --inputs '%s/data.safetensors' "
             "--format %s --export '%s' 2>'%s'", script, t->model, t->inputs, format, dir, err);
    p = popen(cmd, "r");
    ASSERT_NOT_NULL(p);
    n = fread(text, 1, sizeof text - 1, p);
    text[n] = '\0';
    if (pclose(p) != 0) {
        cli_slurp(err, mine, sizeof mine, NULL);
        FAIL("%s failed:\n%s", cmd, mine);
    }
    ref = cli_json(text);
    cli_slurp(t->logits, mine, sizeof mine, NULL);
    ours = cli_json(mine);
    a = json_object_get(ref, "logits");
    b = json_object_get(ours, "logits");
    ASSERT_EQ(json_array_size(a), json_array_size(b));
    ASSERT_EQ(json_array_size(a), 30);
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *ra = json_array_get(a, i), *rb = json_array_get(b, i);
        ASSERT_EQ(json_array_size(ra), json_array_size(rb));
        for (size_t k = 0; k < json_array_size(ra); k++)
            gap = fmax(gap, fabs(json_number_value(json_array_get(ra, k)) -
                                 json_number_value(json_array_get(rb, k))));
    }
    json_decref(ref);
    json_decref(ours);
    return gap;
}

static void check_reference(const trained_t *t, const char *format, const char *dir)
{
    double gap = reference_gap(t, format, dir);

    printf("%s --format %s: reference logits within %.3g of autopeft's\n", t->saved, format, gap);
    if (!(gap <= REFERENCE_TOL))
        FAIL("%s --format %s: the reference's logits differ from autopeft eval's by %g (> %g)",
             t->saved, format, gap, REFERENCE_TOL);
}

/* ---- tests -------------------------------------------------------------------------------- */

TEST(help_and_bad_usage)
{
    static const char *const texts[] = {"--trial N", "--format FORMAT", "--out DIR",
                                        "adapter.safetensors", "adapter_model.safetensors",
                                        "autopeft_config.json", "keep_weights", NULL};
    static const cli_bad_t bad[] = {
        {{"--format", "peft", "--out", "o"}, {"give the saved trial's folder", ""}},
        {{"s", "--format", "onnx", "--out", "o"}, {"format 'onnx'", "adapters, peft or"}},
        {{"s", "--out", "o"}, {"--format is required", ""}},
        {{"s", "--format", "peft"}, {"--out DIR is required", ""}},
        {{"s", "--bogus"}, {"unknown option '--bogus'", "--help"}},
        {{"s", "t", "--format", "peft", "--out", "o"}, {"unexpected argument 't'", ""}},
        {{"s", "--trial", "x", "--format", "peft"}, {"--trial", "integer"}},
        {{"s", "--trial", "0", "--format", "peft"}, {"--trial", ""}},
        {{"s", "--format", "peft", "--format", "peft"}, {"--format is given twice", ""}},
        {{"s", "--format"}, {"needs a value", "--format"}},
    };

    cli_check_help("export", texts);
    cli_check_bad_usage("export", bad, sizeof bad / sizeof bad[0]);
}

TEST_TIMEOUT(saved_and_study_folders, 120)
{
    trained_t t;
    cli_result_t r = {0};
    char study[1100], kept[1100], link[1300], out[1100], saved[1024];

    make_task(&t);
    snprintf(study, sizeof study, "%s", tmp_path("study"));
    snprintf(kept, sizeof kept, "%s", tmp_path("elsewhere"));
    snprintf(out, sizeof out, "%s", tmp_path("out"));
    ASSERT_EQ(mkdir(study, 0755), 0);
    snprintf(link, sizeof link, "%s/study.db", study);
    cli_write_text(link, "");
    /* The study's weights_dir elsewhere: STUDY/weights is a symlink to it. */
    ASSERT_EQ(mkdir(kept, 0755), 0);
    snprintf(link, sizeof link, "%s/weights", study);
    ASSERT_EQ(symlink(kept, link), 0);
    train(&t, "elsewhere/trial-3", "lora=4@101", NULL);
    snprintf(saved, sizeof saved, "%s", t.saved);

    CLI_RUN(&r, NULL, "export", study, "--trial", "3", "--format", "peft", "--out", out);
    if (r.status != 0)
        FAIL("export %s --trial 3: %s", study, r.err);
    snprintf(link, sizeof link, "%s/adapter_model.safetensors", out);
    ASSERT_EQ(access(link, R_OK), 0);
    CLI_RUN(&r, NULL, "export", study, "--trial", "7", "--format", "peft", "--out", out);
    ASSERT_EQ(r.status, 1);
    ASSERT_CONTAINS(r.err, "the study did not keep trial 7's weights");
    ASSERT_CONTAINS(r.err, "keep_weights");
    ASSERT_CONTAINS(r.err, "[study]");
    CLI_RUN(&r, NULL, "export", study, "--format", "peft", "--out", out);
    ASSERT_EQ(r.status, 2);
    ASSERT_CONTAINS(r.err, "is a study folder: give --trial N");
    CLI_RUN(&r, NULL, "export", saved, "--trial", "3", "--format", "peft", "--out", out);
    ASSERT_EQ(r.status, 2);
    ASSERT_CONTAINS(r.err, "--trial is only for a study folder");
    CLI_RUN(&r, NULL, "export", t.data, "--format", "peft", "--out", out);
    ASSERT_EQ(r.status, 1);
    ASSERT_CONTAINS(r.err, "neither a saved trial");

    /* A trial.json whose configuration the weights do not have is named. */
    snprintf(link, sizeof link, "%s/trial.json", saved);
    {
        static char text[1 << 16];
        char *p;
        cli_slurp(link, text, sizeof text, NULL);
        p = strstr(text, "lora=4 layers=101");
        ASSERT_NOT_NULL(p);
        p[5] = '8';
        cli_write_text(link, text);
    }
    CLI_RUN(&r, NULL, "export", saved, "--format", "safetensors", "--out", out);
    ASSERT_EQ(r.status, 1);
    ASSERT_CONTAINS(r.err, "peft.layer.0.lora.q.a");
    ASSERT_CONTAINS(r.err, "expected F32 [8, 32]");
    cli_result_free(&r);
}

TEST_TIMEOUT(adapters_and_safetensors_layouts, 120)
{
    trained_t t;
    char out[1100];
    json_t *j;
    /* sa in layer 0, pa in 1, ha in 2: one bottleneck per layer, as adapters needs. */
    static const want_t adapter[] = {
        {"bert.encoder.layer.0.output.adapters.autopeft.adapter_down.0.weight", 8, 32},
        {"bert.encoder.layer.0.output.adapters.autopeft.adapter_down.0.bias", 8, 0},
        {"bert.encoder.layer.0.output.adapters.autopeft.adapter_up.weight", 32, 8},
        {"bert.encoder.layer.0.output.adapters.autopeft.adapter_up.bias", 32, 0},
        {"bert.encoder.layer.1.output.adapters.autopeft.adapter_down.0.weight", 6, 32},
        {"bert.encoder.layer.1.output.adapters.autopeft.adapter_down.0.bias", 6, 0},
        {"bert.encoder.layer.1.output.adapters.autopeft.adapter_up.weight", 32, 6},
        {"bert.encoder.layer.1.output.adapters.autopeft.adapter_up.bias", 32, 0},
        {"bert.encoder.layer.2.attention.output.adapters.autopeft.adapter_down.0.weight", 4, 32},
        {"bert.encoder.layer.2.attention.output.adapters.autopeft.adapter_down.0.bias", 4, 0},
        {"bert.encoder.layer.2.attention.output.adapters.autopeft.adapter_up.weight", 32, 4},
        {"bert.encoder.layer.2.attention.output.adapters.autopeft.adapter_up.bias", 32, 0},
        {"bert.encoder.layer.2.output.adapters.autopeft.adapter_down.0.weight", 4, 32},
        {"bert.encoder.layer.2.output.adapters.autopeft.adapter_down.0.bias", 4, 0},
        {"bert.encoder.layer.2.output.adapters.autopeft.adapter_up.weight", 32, 4},
        {"bert.encoder.layer.2.output.adapters.autopeft.adapter_up.bias", 32, 0},
        {"bert.encoder.layer.1.attention.self.query.loras.autopeft.lora_A", 4, 32},
        {"bert.encoder.layer.1.attention.self.query.loras.autopeft.lora_B", 32, 4},
        {"bert.encoder.layer.1.attention.self.value.loras.autopeft.lora_A", 4, 32},
        {"bert.encoder.layer.1.attention.self.value.loras.autopeft.lora_B", 32, 4},
        {"bert.encoder.layer.2.attention.self.query.loras.autopeft.lora_A", 4, 32},
        {"bert.encoder.layer.2.attention.self.query.loras.autopeft.lora_B", 32, 4},
        {"bert.encoder.layer.2.attention.self.value.loras.autopeft.lora_A", 4, 32},
        {"bert.encoder.layer.2.attention.self.value.loras.autopeft.lora_B", 32, 4},
        /* P = 2 rows of 2 prefix layers x (keys, values) x d = 32 */
        {"bert.prefix_tuning.prefix_tunings.autopeft.self_prefix.control_trans", 2 * 2 * 2 * 32, 0},
    };
    static const want_t head[] = {
        {"heads.autopeft.1.weight", 32, 32}, {"heads.autopeft.1.bias", 32, 0},
        {"heads.autopeft.4.weight", 2, 32},  {"heads.autopeft.4.bias", 2, 0},
    };

    train(&t, "mixed", "sa=8@100 pa=6@010 ha=4@001 pt=2@110 lora=4@011", "8");
    snprintf(out, sizeof out, "%s", tmp_path("mixed-adapters"));
    export_ok(t.saved, "adapters", out);
    check_tensors(out, "adapter.safetensors", adapter, sizeof adapter / sizeof adapter[0]);
    check_tensors(out, "model_head.safetensors", head, 4);
    j = load_json(out, "adapter_config.json");
    expect(j, "name", "\"autopeft\"");
    expect(j, "model_type", "\"bert\"");
    expect(j, "model_class", "\"BertAdapterModel\"");
    expect(j, "hidden_size", "32");
    expect(j, "version", "\"adapters.1.2.0\"");
    expect(j, "config.architecture", "\"union\"");
    ASSERT_EQ(json_array_size(at(j, "config.configs")), 5);
    /* seq_bn (Pfeiffer): LN2(x + h + SA(LN2(x + h))) */
    expect(j, "config.configs.0.mh_adapter", "false");
    expect(j, "config.configs.0.output_adapter", "true");
    expect(j, "config.configs.0.original_ln_before", "true");
    expect(j, "config.configs.0.original_ln_after", "true");
    expect(j, "config.configs.0.residual_before_ln", "true");
    expect(j, "config.configs.0.is_parallel", "false");
    expect(j, "config.configs.0.scaling", "1.0");
    expect(j, "config.configs.0.reduction_factor", "4.0");
    expect(j, "config.configs.0.non_linearity", "\"relu\"");
    expect(j, "config.configs.0.leave_out", "[1, 2]");
    /* par_bn: LN2(x + h + 4 PA(x)); 32 // (32 / 6.5) = 6 */
    expect(j, "config.configs.1.is_parallel", "true");
    expect(j, "config.configs.1.scaling", "4.0");
    expect(j, "config.configs.1.original_ln_before", "false");
    expect(j, "config.configs.1.reduction_factor", "4.923076923076923");
    expect(j, "config.configs.1.leave_out", "[0, 2]");
    /* double_seq_bn (Houlsby), relu */
    expect(j, "config.configs.2.mh_adapter", "true");
    expect(j, "config.configs.2.output_adapter", "true");
    expect(j, "config.configs.2.original_ln_before", "false");
    expect(j, "config.configs.2.residual_before_ln", "true");
    expect(j, "config.configs.2.non_linearity", "\"relu\"");
    expect(j, "config.configs.2.reduction_factor", "8.0");
    expect(j, "config.configs.2.leave_out", "[0, 1]");
    expect(j, "config.configs.3.architecture", "\"prefix_tuning\"");
    expect(j, "config.configs.3.flat", "true");
    expect(j, "config.configs.3.prefix_length", "2");
    expect(j, "config.configs.3.use_gating", "false");
    expect(j, "config.configs.3.leave_out", "[2]");
    expect(j, "config.configs.4.architecture", "\"lora\"");
    expect(j, "config.configs.4.r", "4");
    expect(j, "config.configs.4.alpha", "8");
    expect(j, "config.configs.4.attn_matrices", "[\"q\", \"v\"]");
    expect(j, "config.configs.4.selfattn_lora", "true");
    expect(j, "config.configs.4.composition_mode", "\"add\"");
    expect(j, "config.configs.4.leave_out", "[0]");
    json_decref(j);
    j = load_json(out, "head_config.json");
    expect(j, "name", "\"autopeft\"");
    expect(j, "model_class", "\"BertAdapterModel\"");
    expect(j, "config.head_type", "\"classification\"");
    expect(j, "config.num_labels", "2");
    expect(j, "config.layers", "2");
    expect(j, "config.activation_function", "\"tanh\"");
    expect(j, "config.use_pooler", "false");
    expect(j, "config.label2id", "{\"0\": 0, \"1\": 1}");
    json_decref(j);

    /* autopeft's own layout: the tensors as saved, the configuration beside them. */
    snprintf(out, sizeof out, "%s", tmp_path("mixed-safetensors"));
    export_ok(t.saved, "safetensors", out);
    {
        static const want_t own[] = {
            {"bert.pooler.dense.weight", 32, 32}, {"bert.pooler.dense.bias", 32, 0},
            {"classifier.weight", 2, 32},         {"classifier.bias", 2, 0},
            {"peft.layer.0.sa.down.weight", 8, 32}, {"peft.layer.0.sa.down.bias", 8, 0},
            {"peft.layer.0.sa.up.weight", 32, 8},   {"peft.layer.0.sa.up.bias", 32, 0},
            {"peft.layer.1.pa.down.weight", 6, 32}, {"peft.layer.1.pa.down.bias", 6, 0},
            {"peft.layer.1.pa.up.weight", 32, 6},   {"peft.layer.1.pa.up.bias", 32, 0},
            {"peft.layer.2.ha.attn.down.weight", 4, 32}, {"peft.layer.2.ha.attn.down.bias", 4, 0},
            {"peft.layer.2.ha.attn.up.weight", 32, 4},   {"peft.layer.2.ha.attn.up.bias", 32, 0},
            {"peft.layer.2.ha.ffn.down.weight", 4, 32},  {"peft.layer.2.ha.ffn.down.bias", 4, 0},
            {"peft.layer.2.ha.ffn.up.weight", 32, 4},    {"peft.layer.2.ha.ffn.up.bias", 32, 0},
            {"peft.layer.1.lora.q.a", 4, 32}, {"peft.layer.1.lora.q.b", 32, 4},
            {"peft.layer.1.lora.v.a", 4, 32}, {"peft.layer.1.lora.v.b", 32, 4},
            {"peft.layer.2.lora.q.a", 4, 32}, {"peft.layer.2.lora.q.b", 32, 4},
            {"peft.layer.2.lora.v.a", 4, 32}, {"peft.layer.2.lora.v.b", 32, 4},
            {"peft.layer.0.prefix.key", 2, 32}, {"peft.layer.0.prefix.value", 2, 32},
            {"peft.layer.1.prefix.key", 2, 32}, {"peft.layer.1.prefix.value", 2, 32},
        };
        check_tensors(out, "model.safetensors", own, sizeof own / sizeof own[0]);
    }
    j = load_json(out, "autopeft_config.json");
    expect(j, "format", "\"autopeft-export\"");
    expect(j, "config", "\"sa=8@100 pa=6@010 pt=2@110 lora=4@011 ha=4@001\"");
    expect(j, "modules.sa", "{\"size\": 8, \"layers\": [0]}");
    expect(j, "modules.pa", "{\"size\": 6, \"layers\": [1]}");
    expect(j, "modules.pt", "{\"size\": 2, \"layers\": [0, 1]}");
    expect(j, "modules.lora", "{\"size\": 4, \"layers\": [1, 2]}");
    expect(j, "modules.ha", "{\"size\": 4, \"layers\": [2]}");
    expect(j, "lora_alpha", "8");
    expect(j, "lora_scale", "2");
    expect(j, "full_finetune", "false");
    expect(j, "model.hidden", "32");
    expect(j, "model.layers", "3");
    expect(j, "model.heads", "4");
    expect(j, "model.intermediate", "64");
    expect(j, "model.layer_norm_eps", "1e-12");
    expect(j, "task.name", "\"sst2\"");
    expect(j, "task.labels", "2");
    expect(j, "task.label_values", "[\"0\", \"1\"]");
    json_decref(j);
    export_refused(t.saved, "peft", "has sa", "no bottleneck adapters");
}

TEST_TIMEOUT(peft_layout, 120)
{
    trained_t t;
    char out[1100];
    json_t *j;
    static const want_t want[] = {
        {"base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight", 4, 32},
        {"base_model.model.bert.encoder.layer.0.attention.self.query.lora_B.weight", 32, 4},
        {"base_model.model.bert.encoder.layer.0.attention.self.value.lora_A.weight", 4, 32},
        {"base_model.model.bert.encoder.layer.0.attention.self.value.lora_B.weight", 32, 4},
        {"base_model.model.bert.encoder.layer.2.attention.self.query.lora_A.weight", 4, 32},
        {"base_model.model.bert.encoder.layer.2.attention.self.query.lora_B.weight", 32, 4},
        {"base_model.model.bert.encoder.layer.2.attention.self.value.lora_A.weight", 4, 32},
        {"base_model.model.bert.encoder.layer.2.attention.self.value.lora_B.weight", 32, 4},
        {"base_model.model.bert.pooler.dense.weight", 32, 32},
        {"base_model.model.bert.pooler.dense.bias", 32, 0},
        {"base_model.model.classifier.weight", 2, 32},
        {"base_model.model.classifier.bias", 2, 0},
    };

    train(&t, "lora", "lora=4@101", NULL);
    snprintf(out, sizeof out, "%s", tmp_path("lora-peft"));
    export_ok(t.saved, "peft", out);
    check_tensors(out, "adapter_model.safetensors", want, sizeof want / sizeof want[0]);
    j = load_json(out, "adapter_config.json");
    expect(j, "peft_type", "\"LORA\"");
    expect(j, "task_type", "\"SEQ_CLS\"");
    expect(j, "r", "4");
    expect(j, "lora_alpha", "4");   /* no --lora-alpha: alpha = r, scaling 1 */
    expect(j, "lora_dropout", "0");
    expect(j, "target_modules", "[\"query\", \"value\"]");
    expect(j, "layers_to_transform", "[0, 2]");
    expect(j, "layers_pattern", "\"layer\"");
    expect(j, "bias", "\"none\"");
    expect(j, "use_rslora", "false");
    expect(j, "modules_to_save", "[\"classifier\", \"pooler\"]");
    ASSERT_CONTAINS(json_string_value(at(j, "base_model_name_or_path")), "model");
    json_decref(j);
    /* The same LoRA as an adapters union of one. */
    snprintf(out, sizeof out, "%s", tmp_path("lora-adapters"));
    export_ok(t.saved, "adapters", out);
    j = load_json(out, "adapter_config.json");
    ASSERT_EQ(json_array_size(at(j, "config.configs")), 1);
    expect(j, "config.configs.0.architecture", "\"lora\"");
    expect(j, "config.configs.0.alpha", "4");
    expect(j, "config.configs.0.leave_out", "[1]");
    json_decref(j);
}

TEST_TIMEOUT(refused_configurations, 180)
{
    trained_t t;
    char out[1100];

    /* Two bottlenecks in one layer: autopeft's LN2(x + h + SA(LN2(x + h)) + 4 PA(x)) is no
     * adapters configuration. */
    train(&t, "sapa", "sa=8 pa=6 pt=2 layers=111", NULL);
    export_refused(t.saved, "adapters", "layer 0 has both sa and pa", "--format safetensors");
    export_refused(t.saved, "peft", "has sa", "no bottleneck adapters");
    snprintf(out, sizeof out, "%s", tmp_path("sapa-safetensors"));
    export_ok(t.saved, "safetensors", out);
    train(&t, "saha", "sa=8@110 ha=4@011", NULL);
    export_refused(t.saved, "adapters", "layer 1 has both sa and ha", "FFN output");
    train(&t, "paha", "pa=8@001 ha=4@001", NULL);
    export_refused(t.saved, "adapters", "layer 2 has both pa and ha", "");
    export_refused(t.saved, "peft", "has pa", "");
    train(&t, "pt", "pt=2 layers=111", NULL);
    export_refused(t.saved, "peft", "has pt", "every layer");
    train(&t, "head", NULL, NULL);
    export_refused(t.saved, "adapters", "no module", "--format safetensors");
    export_refused(t.saved, "peft", "no module", "");
    train(&t, "full", "full", NULL);
    export_refused(t.saved, "adapters", "fine-tuned every weight", "whole model");
    export_refused(t.saved, "peft", "fine-tuned every weight", "");
    snprintf(out, sizeof out, "%s", tmp_path("full-safetensors"));
    export_ok(t.saved, "safetensors", out);
}

/* Edits the par_bn config's scaling in dir/adapter_config.json. */
static void set_par_scaling(const char *dir, double scaling)
{
    char path[1300];
    json_t *j = load_json(dir, "adapter_config.json");

    json_object_set_new(at(j, "config.configs.1"), "scaling", json_real(scaling));
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    ASSERT_EQ(json_dump_file(j, path, JSON_INDENT(2) | JSON_REAL_PRECISION(17)), 0);
    json_decref(j);
}

TEST_TIMEOUT(reference_gives_autopeft_logits, 300)
{
    static const struct {
        const char *name, *peft, *alpha, *formats[3];
    } cases[] = {
        {"mixed", "sa=8@100 pa=6@010 ha=4@001 pt=2@110 lora=4@011", "8",
         {"adapters", "safetensors"}},
        {"lora", "lora=4@101", NULL, {"peft", "adapters", "safetensors"}},
        {"every", "sa=8 pa=6 pt=2 lora=4 ha=4 layers=111", "2", {"safetensors"}},
        {"ha-odd", "ha=5@110 pa=3@001", NULL, {"adapters", "safetensors"}},
        {"full", "full", NULL, {"safetensors"}},
    };
    trained_t t, mixed;
    char out[1200];
    double gap;

    if (!have_torch())
        HARNESS_SKIP("/usr/bin/python3 with torch is not installed (make bench-deps installs "
                     "python3-torch): the reference of tests/reference/export_reference.py "
                     "cannot run");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        train(&t, cases[i].name, cases[i].peft, cases[i].alpha);
        for (int f = 0; f < 3 && cases[i].formats[f]; f++) {
            snprintf(out, sizeof out, "%s-%s", t.saved, cases[i].formats[f]);
            export_ok(t.saved, cases[i].formats[f], out);
            check_reference(&t, cases[i].formats[f], out);
        }
        if (i == 0)
            mixed = t;
    }
    /* The reference reads the flags: par_bn's scaling 4 taken as 1 is far off. */
    snprintf(out, sizeof out, "%s-adapters", mixed.saved);
    set_par_scaling(out, 1.0);
    gap = reference_gap(&mixed, "adapters", out);
    printf("par_bn scaling 1 instead of 4: the reference is %.3g away\n", gap);
    if (!(gap > 1e-3))
        FAIL("par_bn with scaling 1 gives logits within %g of scaling 4's: the check is blind", gap);
}
