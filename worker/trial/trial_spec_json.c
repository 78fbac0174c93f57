/* The --exec trial JSON (trainer_exec.c writes it, docs/guide.md) read back into a trial
 * specification (trial_spec_json.h), so that a trainer of its own can ask this one for what it
 * would train on (`autopeft inputs`). */
#include "worker/trial/trial_spec_json.h"

#include <jansson.h>
#include <string.h>

#include "common/err.h"

const char *const trial_exec_size_keys[SPACE_NMODULES] = {
    "serial_adapter", "parallel_adapter", "prefix_length", "lora_rank", "houlsby_adapter"};
const char *const trial_exec_mask_keys[SPACE_NMODULES] = {
    "serial_layers", "parallel_layers", "prefix_layers", "lora_layers", "houlsby_layers"};

static int bad(const char *label, const char *key, const char *what)
{
    return err_set(ERR_PARSE, "%s: \"%s\": %s", label, key, what);
}

/* o[key] when present: a string into *out (NULL stays NULL for null or absent). */
static int get_str(const json_t *o, const char *key, const char *label, const char *path,
                   const char **out)
{
    const json_t *v = json_object_get(o, key);

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return bad(label, path, "expected a string");
    *out = json_string_value(v);
    if (!**out)
        *out = NULL;
    return 0;
}

static int get_int(const json_t *o, const char *key, const char *label, const char *path,
                   long long lo, long long hi, int *out)
{
    const json_t *v = json_object_get(o, key);

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return bad(label, path, "expected an integer in range");
    *out = (int)json_integer_value(v);
    return 0;
}

static int get_u64(const json_t *o, const char *key, const char *label, uint64_t *out)
{
    const json_t *v = json_object_get(o, key);

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return bad(label, key, "expected a non-negative integer");
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int get_real(const json_t *o, const char *key, const char *label, const char *path,
                    double *out)
{
    const json_t *v = json_object_get(o, key);

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v))
        return bad(label, path, "expected a number");
    *out = json_number_value(v);
    return 0;
}

static int read_model(const json_t *m, const char *label, trial_spec_t *s)
{
    const json_t *v;
    int rc;

    if (!json_is_object(m))
        return bad(label, "model", "expected an object");
    if ((rc = get_str(m, "path", label, "model.path", &s->model_dir)) != 0)
        return rc;
    s->model_embedded = json_is_true(json_object_get(m, "embedded_default"));
    v = json_object_get(m, "embedded_seed");
    if (v && !json_is_integer(v))
        return bad(label, "model.embedded_seed", "expected an integer");
    if (v)
        s->model_seed = (uint64_t)json_integer_value(v);
    if (!s->model_dir && !s->model_embedded)
        return bad(label, "model", "neither \"path\" nor \"embedded_default\"");
    return 0;
}

static int read_task(const json_t *k, const char *label, trial_spec_t *s)
{
    static const struct {
        const char *key;
        size_t off;
    } strs[] = {
        {"name", offsetof(trial_spec_t, task)},
        {"data_dir", offsetof(trial_spec_t, data_dir)},
        {"train_file", offsetof(trial_spec_t, train_file)},
        {"dev_file", offsetof(trial_spec_t, dev_file)},
        {"format", offsetof(trial_spec_t, format)},
        {"text_column", offsetof(trial_spec_t, text_column)},
        {"pair_column", offsetof(trial_spec_t, pair_column)},
        {"label_column", offsetof(trial_spec_t, label_column)},
        {"metric", offsetof(trial_spec_t, metric)},
    };
    char path[64];
    int rc;

    if (!json_is_object(k))
        return bad(label, "task", "expected an object");
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        snprintf(path, sizeof path, "task.%s", strs[i].key);
        if ((rc = get_str(k, strs[i].key, label, path,
                          (const char **)((char *)s + strs[i].off))) != 0)
            return rc;
    }
    s->task_embedded = json_is_true(json_object_get(k, "embedded_default"));
    return get_int(k, "num_labels", label, "task.num_labels", 1, SHAPE_MAX_LABELS,
                   &s->num_labels);
}

static int read_recipe(const json_t *r, const char *label, trial_spec_t *s)
{
    static const struct {
        const char *key;
        size_t off;
        long long lo, hi;
    } ints[] = {
        {"epochs", offsetof(trial_spec_t, epochs), 1, TRIAL_MAX_EPOCHS},
        {"batch_size", offsetof(trial_spec_t, batch_size), 1, TRIAL_MAX_BATCH},
        {"eval_batch_size", offsetof(trial_spec_t, eval_batch_size), 0, TRIAL_MAX_BATCH},
        {"max_length", offsetof(trial_spec_t, max_length), 0, SHAPE_MAX_POSITIONS},
        {"max_train_examples", offsetof(trial_spec_t, max_train_examples), 0, INT32_MAX},
        {"max_eval_examples", offsetof(trial_spec_t, max_eval_examples), 0, INT32_MAX},
        {"patience", offsetof(trial_spec_t, patience), 0, TRIAL_MAX_EPOCHS},
        {"prefix_bottleneck", offsetof(trial_spec_t, prefix_bottleneck), 0,
         SPACE_MAX_PREFIX_BOTTLENECK},
    };
    static const struct {
        const char *key;
        size_t off;
    } reals[] = {
        {"learning_rate", offsetof(trial_spec_t, learning_rate)},
        {"warmup_ratio", offsetof(trial_spec_t, warmup_ratio)},
        {"weight_decay", offsetof(trial_spec_t, weight_decay)},
        {"max_grad_norm", offsetof(trial_spec_t, max_grad_norm)},
        {"dropout", offsetof(trial_spec_t, dropout)},
        {"lora_alpha", offsetof(trial_spec_t, lora_alpha)},
    };
    char path[64];
    int rc;

    if (!json_is_object(r))
        return bad(label, "recipe", "expected an object");
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        snprintf(path, sizeof path, "recipe.%s", ints[i].key);
        if ((rc = get_int(r, ints[i].key, label, path, ints[i].lo, ints[i].hi,
                          (int *)((char *)s + ints[i].off))) != 0)
            return rc;
    }
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++) {
        snprintf(path, sizeof path, "recipe.%s", reals[i].key);
        if ((rc = get_real(r, reals[i].key, label, path,
                           (double *)((char *)s + reals[i].off))) != 0)
            return rc;
    }
    s->full_finetune = json_is_true(json_object_get(r, "full_finetune"));
    {
        const char *p = NULL;
        if ((rc = get_str(r, "precision", label, "recipe.precision", &p)) != 0)
            return rc;
        if (p && precision_parse(p, &s->precision) != 0)
            return bad(label, "recipe.precision", "expected \"fp32\", \"bf16\" or \"fp16\"");
    }
    return 0;
}

/* The configuration from the sizes and the masks ('0'/'1' per layer, bottom first); its depth
 * is the masks'. No active module: layers 0 (the head alone, or full fine-tuning). */
static int read_peft(const json_t *p, const char *label, trial_spec_t *s)
{
    space_config_t *c = &s->config;
    char path[64];
    int rc;

    if (!json_is_object(p))
        return bad(label, "peft", "expected an object");
    memset(c, 0, sizeof *c);
    for (int m = 0; m < SPACE_NMODULES; m++) {
        const char *mask = NULL;
        int size = 0;
        size_t n;

        snprintf(path, sizeof path, "peft.%s", trial_exec_size_keys[m]);
        if ((rc = get_int(p, trial_exec_size_keys[m], label, path, 0, SPACE_MAX_SIZE, &size)) != 0)
            return rc;
        snprintf(path, sizeof path, "peft.%s", trial_exec_mask_keys[m]);
        if ((rc = get_str(p, trial_exec_mask_keys[m], label, path, &mask)) != 0)
            return rc;
        if (size == 0 || !mask)
            continue;
        n = strlen(mask);
        if (n > SPACE_MAX_LAYERS || strspn(mask, "01") != n)
            return bad(label, path, "expected one '0' or '1' per layer");
        if (c->layers && (size_t)c->layers != n)
            return bad(label, path, "a mask of another depth than the other modules'");
        c->layers = (int)n;
        c->size[m] = (uint32_t)size;
        for (int l = 0; l < (int)n; l++)
            space_config_set_layer(c, (space_module_t)m, l, mask[l] == '1');
    }
    if (c->layers)
        space_config_canonicalise(c);
    return 0;
}

int trial_spec_from_exec_json(const char *text, size_t len, const char *label,
                              trial_spec_t *out, void **doc)
{
    json_error_t jerr;
    json_t *root;
    int rc;

    *doc = NULL;
    trial_spec_default(out);
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return err_set(ERR_PARSE, "%s: line %d: %s", label, jerr.line, jerr.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return err_set(ERR_PARSE, "%s: expected a JSON object (the trial of --exec)", label);
    }
    if ((rc = get_u64(root, "seed", label, &out->seed)) == 0 &&
        (rc = get_u64(root, "data_seed", label, &out->data_seed)) == 0 &&
        (rc = get_str(root, "save_dir", label, "save_dir", &out->save_dir)) == 0 &&
        (rc = read_model(json_object_get(root, "model"), label, out)) == 0 &&
        (rc = read_task(json_object_get(root, "task"), label, out)) == 0 &&
        (rc = read_recipe(json_object_get(root, "recipe"), label, out)) == 0)
        rc = read_peft(json_object_get(root, "peft"), label, out);
    if (rc != 0) {
        json_decref(root);
        return rc;
    }
    *doc = root;
    return 0;
}

void trial_spec_json_free(void **doc)
{
    json_decref(*doc);
    *doc = NULL;
}
