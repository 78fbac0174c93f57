/* Saved trials (trial_int.h): the trained weights in safetensors and the configuration, recipe
 * and result in JSON, so that `autopeft eval` can rebuild the same model and evaluate it.
 *
 * DIR/peft.safetensors holds the deployment form (peft_eject: prefixes flat, without their
 * MLP) under Hugging Face names where they exist ("bert.pooler.dense.weight",
 * "classifier.weight", and for full fine-tuning "bert.encoder.layer.0...."), the modules under
 * worker/engine/peft.h's names ("peft.layer.3.sa.down.weight"). DIR/trial.json says how to rebuild
 * the model they belong to. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/file.h"
#include "common/mem.h"
#include "common/version.h"
#include "worker/inputs/checkpoint.h"
#include "worker/inputs/safetensors.h"
#include "worker/trial/trial_int.h"

#define SAVED_FORMAT "autopeft-trial"
#define SAVED_VERSION 1
#define SAVED_MAX_JSON (1 << 20)

static bool is_backbone(const char *name)
{
    return strncmp(name, "embeddings.", 11) == 0 || strncmp(name, "encoder.", 8) == 0 ||
           strncmp(name, "pooler.", 7) == 0;
}

static json_t *recipe_json(const trial_spec_t *s, int eval_max_tokens)
{
    return json_pack("{s:i, s:f, s:i, s:i, s:i, s:i, s:f, s:f, s:f, s:f, s:i, s:i, s:i, s:I, "
                     "s:I, s:s}",
                     "epochs", s->epochs, "learning_rate", s->learning_rate, "batch_size",
                     s->batch_size, "eval_batch_size", s->eval_batch_size, "eval_max_tokens",
                     eval_max_tokens, "max_length",
                     s->max_length, "warmup_ratio", s->warmup_ratio, "weight_decay",
                     s->weight_decay, "max_grad_norm", s->max_grad_norm, "dropout", s->dropout,
                     "max_train_examples", s->max_train_examples, "max_eval_examples",
                     s->max_eval_examples, "patience", s->patience, "seed",
                     (json_int_t)s->seed, "data_seed",
                     (json_int_t)(s->data_seed ? s->data_seed : s->seed), "precision",
                     precision_name(s->precision));
}

static json_t *result_json(const trainer_result_t *res)
{
    json_t *metrics = json_object();

    for (int i = 0; metrics && i < res->nmetrics; i++)
        json_object_set_new(metrics, res->metrics[i].name, json_real(res->metrics[i].value));
    return json_pack("{s:i, s:s, s:f, s:o, s:{s:I, s:I, s:I, s:I, s:f}}", "best_epoch",
                     (int)res->best_epoch, "objective_name", res->objective_name, "objective",
                     res->objective, "metrics", metrics, "params", "trainable",
                     (json_int_t)res->trainable, "deployed", (json_int_t)res->deployed,
                     "head", (json_int_t)res->head, "backbone", (json_int_t)res->backbone,
                     "percent", res->percent);
}

int trial__write_json(const char *dir, const trial_spec_t *s, const trial__inputs_t *in,
                      const peft_t *p, const trainer_result_t *res, int eval_max_tokens)
{
    char text[SPACE_TEXT_MAX];
    const shape_t *sh = peft_shape(p);
    json_t *root, *values = json_array();

    space_config_format(peft_config(p), text, sizeof text);
    for (int i = 0; values && i < in->dev->nvalues; i++)
        json_array_append_new(values, json_string(in->dev->values[i]));
    root = json_pack("{s:s, s:i, s:s, s:s, s:b, s:f, s:i, s:{s:s?, s:b, s:I, s:i, s:i, s:i}, "
                     "s:{s:s, s:b, s:s, s:i, s:o}, s:o, s:o}",
                     "format", SAVED_FORMAT, "version", SAVED_VERSION, "software_version",
                     version_string(), "config", text, "full_finetune", s->full_finetune,
                     "lora_alpha", (double)peft_opts(p)->lora_alpha, "prefix_bottleneck",
                     peft_prefix_bottleneck(p), "model", "path", s->model_dir, "embedded",
                     s->model_embedded, "seed", (json_int_t)s->model_seed, "hidden",
                     sh->hidden, "layers", sh->layers, "labels", sh->labels, "task", "name",
                     in->task, "embedded", s->task_embedded, "metric",
                     metrics_name(in->objective), "labels", in->labels, "label_values", values,
                     "recipe", recipe_json(s, eval_max_tokens), "result",
                     res ? result_json(res) : json_null());
    return trial__dump_json(root, dir, "trial.json");
}

int trial__dump_json(json_t *root, const char *dir, const char *name)
{
    char path[4200];
    int rc = 0;

    if (!root)
        return err_set(ERR_NOMEM, "%s: cannot build %s", dir, name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (json_dump_file(root, path, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) != 0)
        rc = err_set(ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    json_decref(root);
    return rc;
}

int trial__save(const char *dir, const trial_spec_t *s, const trial__inputs_t *in, const peft_t *p,
                const trainer_result_t *res, int eval_max_tokens)
{
    char path[4200], text[SPACE_TEXT_MAX];
    peft_t *q = NULL;
    int n, rc;
    safetensors_entry_t *e = NULL;
    uint64_t(*dims)[2] = NULL;
    char(*names)[PEFT_NAME_MAX + 8] = NULL;
    const char *meta[] = {"format", "pt", "autopeft_config", text, NULL};

    if (strlen(dir) > 4000)
        return err_set(ERR_RANGE, "%.64s...: path too long", dir);
    if ((rc = file_mkdirs(dir)) != 0)
        return rc;
    q = peft_eject(p);
    if (!q)
        return err_code() ? err_code() : ERR_NOMEM;
    n = peft_tensor_count(q);
    e = mem_alloc((size_t)n, sizeof *e, "tensor list");
    dims = mem_alloc((size_t)n, sizeof *dims, "tensor shapes");
    names = mem_alloc((size_t)n, sizeof *names, "tensor names");
    if (!e || !dims || !names) {
        rc = ERR_NOMEM;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        const peft_tensor_t *t = peft_tensor(q, i);
        snprintf(names[i], sizeof names[i], "%s%s", is_backbone(t->name) ? "bert." : "",
                 t->name);
        dims[i][0] = (uint64_t)t->dims[0];
        dims[i][1] = (uint64_t)t->dims[1];
        e[i] = (safetensors_entry_t){names[i], SAFETENSORS_F32, t->ndim, dims[i],
                                     peft_param_buffer(q) + t->offset};
    }
    space_config_format(peft_config(q), text, sizeof text);
    snprintf(path, sizeof path, "%s/peft.safetensors", dir);
    if ((rc = safetensors_write(path, e, (size_t)n, meta)) == 0)
        rc = trial__write_json(dir, s, in, q, res, eval_max_tokens);
out:
    free(e);
    free(dims);
    free(names);
    peft_free(&q);
    return rc;
}

static int bad(const char *path, const char *key, const char *what)
{
    return err_set(ERR_PARSE, "%s: \"%s\": %s", path, key, what);
}

int trial__saved_read(const char *dir, trial__saved_t *out)
{
    char path[4200], *text = NULL;
    size_t n;
    FILE *f;
    int rc;

    memset(out, 0, sizeof *out);
    if (strlen(dir) > 4000)
        return err_set(ERR_RANGE, "%.64s...: path too long", dir);
    snprintf(path, sizeof path, "%s/trial.json", dir);
    f = fopen(path, "rb");
    if (!f)
        return err_set(ERR_IO, "%s: %s (not a folder written by autopeft train --save)", path,
                       strerror(errno));
    text = mem_alloc(SAVED_MAX_JSON + 1, 1, "trial.json");
    n = text ? fread(text, 1, SAVED_MAX_JSON + 1, f) : 0;
    if (!text)
        rc = ERR_NOMEM;
    else if (ferror(f))
        rc = err_set(ERR_IO, "%s: read failed", path);
    else if (n > SAVED_MAX_JSON)
        rc = err_set(ERR_RANGE, "%s: larger than %d bytes", path, SAVED_MAX_JSON);
    else
        rc = trial__saved_parse(text, n, path, out);
    fclose(f);
    free(text);
    return rc;
}

/* v when it is an integer in [lo, hi], else 0. */
static int int_in(const json_t *v, json_int_t lo, json_int_t hi)
{
    return json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi
               ? (int)json_integer_value(v)
               : 0;
}

static int check_header(const json_t *root, const char *path)
{
    const json_t *v = json_object_get(root, "format");

    if (!json_is_string(v) || strcmp(json_string_value(v), SAVED_FORMAT) != 0)
        return bad(path, "format", "expected \"" SAVED_FORMAT "\" (not a trial saved by autopeft)");
    v = json_object_get(root, "version");
    if (!json_is_integer(v) || json_integer_value(v) != SAVED_VERSION)
        return err_set(ERR_VERSION, "%s: \"version\": expected %d", path, SAVED_VERSION);
    return 0;
}

/* The configuration (on the model's depth) and how its modules were built. */
static int parse_config(const json_t *root, const json_t *model, const char *path,
                        trial__saved_t *out)
{
    const json_t *v = json_object_get(model, "layers");
    int rc, layers;

    if (!json_is_integer(v) || json_integer_value(v) < 1 ||
        json_integer_value(v) > SHAPE_MAX_LAYERS)
        return bad(path, "model.layers", "expected an integer in 1..256");
    layers = (int)json_integer_value(v);
    v = json_object_get(root, "config");
    if (!json_is_string(v))
        return bad(path, "config", "expected the configuration's text");
    if (strcmp(json_string_value(v), "") != 0 &&
        (rc = space_config_parse(json_string_value(v), layers, &out->config)) != 0)
        return err_prefix(rc, "%s: \"config\": ", path);
    out->config.layers = layers;
    out->full_finetune = json_is_true(json_object_get(root, "full_finetune"));
    v = json_object_get(root, "lora_alpha");
    out->lora_alpha = json_is_number(v) ? json_number_value(v) : 0;
    if (!(out->lora_alpha >= 0 && out->lora_alpha <= 1e6))
        return bad(path, "lora_alpha", "expected a number in [0, 1e6]");
    out->prefix_bottleneck = int_in(json_object_get(root, "prefix_bottleneck"), 1,
                                    SPACE_MAX_PREFIX_BOTTLENECK);
    return 0;
}

/* The custom task's class label values, one per label, as trained. */
static int parse_values(const json_t *v, const char *path, trial__saved_t *out)
{
    size_t i;
    json_t *x;

    if (!json_is_array(v) || json_array_size(v) == 0)
        return 0;
    if (json_array_size(v) != (size_t)out->labels)
        return bad(path, "task.label_values", "expected one value per label");
    out->values = mem_alloc(json_array_size(v), sizeof *out->values, "label values");
    if (!out->values)
        return ERR_NOMEM;
    json_array_foreach(v, i, x) {
        if (!json_is_string(x))
            return bad(path, "task.label_values", "expected strings");
        if (!(out->values[i] = mem_strdup(json_string_value(x))))
            return ERR_NOMEM;
        out->nvalues++;
    }
    return 0;
}

static int parse_task(const json_t *task, const char *path, trial__saved_t *out)
{
    const json_t *v = json_object_get(task, "labels");

    if (!json_is_integer(v) || json_integer_value(v) < 1 ||
        json_integer_value(v) > SHAPE_MAX_LABELS)
        return bad(path, "task.labels", "expected an integer >= 1");
    out->labels = (int)json_integer_value(v);
    v = json_object_get(task, "name");
    snprintf(out->task, sizeof out->task, "%s", json_is_string(v) ? json_string_value(v) : "");
    v = json_object_get(task, "metric");
    snprintf(out->metric, sizeof out->metric, "%s", json_is_string(v) ? json_string_value(v) : "");
    out->task_embedded = json_is_true(json_object_get(task, "embedded"));
    return parse_values(json_object_get(task, "label_values"), path, out);
}

/* What evaluating again needs of the recipe and the model; what is missing or out of range
 * is left to the caller's defaults (0), seeds to 1. */
static void parse_recipe_model(const json_t *recipe, const json_t *model, trial__saved_t *out)
{
    const json_t *v;

    out->max_eval_examples = int_in(json_object_get(recipe, "max_eval_examples"), 0, INT32_MAX);
    out->max_length = int_in(json_object_get(recipe, "max_length"), 3, SHAPE_MAX_POSITIONS);
    out->eval_batch_size = int_in(json_object_get(recipe, "eval_batch_size"), 1, TRIAL_MAX_BATCH);
    out->eval_max_tokens = int_in(json_object_get(recipe, "eval_max_tokens"), 1, 1 << 20);
    v = json_object_get(model, "path");
    if (json_is_string(v) && strlen(json_string_value(v)) < sizeof out->model_path)
        snprintf(out->model_path, sizeof out->model_path, "%s", json_string_value(v));
    out->model_embedded = json_is_true(json_object_get(model, "embedded"));
    out->hidden = int_in(json_object_get(model, "hidden"), 1, SHAPE_MAX_HIDDEN);
    v = json_object_get(model, "seed");
    out->model_seed = json_is_integer(v) ? (uint64_t)json_integer_value(v) : 1;
    v = json_object_get(recipe, "seed");
    out->seed = json_is_integer(v) ? (uint64_t)json_integer_value(v) : 1;
    v = json_object_get(recipe, "data_seed");
    out->data_seed = json_is_integer(v) ? (uint64_t)json_integer_value(v) : out->seed;
}

int trial__saved_parse(const char *text, size_t len, const char *path, trial__saved_t *out)
{
    json_error_t jerr;
    json_t *root, *task, *model, *recipe;
    int rc;

    memset(out, 0, sizeof *out);
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return err_set(ERR_PARSE, "%s: line %d: %s", path, jerr.line, jerr.text);
    model = json_object_get(root, "model");
    task = json_object_get(root, "task");
    recipe = json_object_get(root, "recipe");
    if ((rc = check_header(root, path)) == 0 && (rc = parse_config(root, model, path, out)) == 0 &&
        (rc = parse_task(task, path, out)) == 0)
        parse_recipe_model(recipe, model, out);
    if (rc != 0)
        trial__saved_free(out);
    json_decref(root);
    return rc;
}

void trial__saved_free(trial__saved_t *s)
{
    for (int i = 0; i < s->nvalues; i++)
        free(s->values[i]);
    free(s->values);
    s->values = NULL;
    s->nvalues = 0;
}

int trial__saved_apply(const char *dir, peft_t *p)
{
    char path[4200];
    safetensors_t *st = NULL;
    bool *seen = NULL;
    int rc = 0, matched = 0;

    snprintf(path, sizeof path, "%s/peft.safetensors", dir);
    if ((rc = safetensors_open(path, &st)) != 0)
        return rc;
    seen = mem_alloc((size_t)peft_tensor_count(p), sizeof *seen, "tensor flags");
    if (!seen) {
        rc = ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < safetensors_count(st); i++) {
        const safetensors_tensor_t *t = safetensors_at(st, i);
        const char *name = strncmp(t->name, "bert.", 5) == 0 ? t->name + 5 : t->name;
        const peft_tensor_t *pt;
        float *data;
        bool ok;

        pt = peft_find(p, name, &data);
        if (pt && seen[pt - peft_tensor(p, 0)]) {
            rc = err_set(ERR_INVAL, "%s: tensor '%s' is there twice (with and without "
                         "\"bert.\")", path, t->name);
            goto out;
        }
        if (!pt) {
            rc = err_set(ERR_INVAL, "%s: tensor '%s' does not belong to the configuration in "
                         "trial.json", path, t->name);
            goto out;
        }
        ok = t->ndim == pt->ndim && t->shape[0] == (uint64_t)pt->dims[0] &&
             (pt->ndim == 1 || t->shape[1] == (uint64_t)pt->dims[1]);
        if (!ok) {
            rc = err_set(ERR_INVAL, "%s: tensor '%s': shape differs from the configuration's "
                         "[%d, %d]", path, t->name, pt->dims[0], pt->ndim > 1 ? pt->dims[1] : 1);
            goto out;
        }
        if ((rc = safetensors_read_f32(st, t, data, pt->count)) != 0)
            goto out;
        seen[pt - peft_tensor(p, 0)] = true;
        matched++;
    }
    if (matched != peft_tensor_count(p))
        rc = err_set(ERR_INVAL, "%s: %d tensors, the configuration in trial.json has %d", path,
                     matched, peft_tensor_count(p));
out:
    free(seen);
    safetensors_free(&st);
    return rc;
}
