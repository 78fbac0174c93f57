/* Exporting saved trials (trial_export.h): the saved folder opened and checked, autopeft's own
 * layout (--format safetensors), and the helpers the libraries' layouts share
 * (trial_export_hf.c). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/file.h"
#include "common/hfconfig.h"
#include "common/mem.h"
#include "common/version.h"
#include "worker/inputs/embedded.h"
#include "worker/trial/trial_export.h"
#include "worker/trial/trial_int.h"

#define EXPORT_FORMAT "autopeft-export"
#define EXPORT_VERSION 1

static const char *const format_names[] = {"safetensors", "adapters", "peft"};

int trial_export_format_parse(const char *name, trial_export_format_t *out)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(name, format_names[i]) == 0) {
            *out = (trial_export_format_t)i;
            return 0;
        }
    return err_set(ERR_INVAL, "format '%s': expected adapters, peft or safetensors", name);
}

/* ---- the saved weights --------------------------------------------------------------------- */

/* Every tensor of the configuration, the head's and the modules', is in the file with its
 * shape; *count is how many that is. */
static int check_tensors(const trial__export_t *x, size_t *count)
{
    const space_config_t *c = &x->saved.config;
    int d = x->hidden, labels = x->saved.labels;
    char name[TRIAL__TENSOR_NAME];
    trial__bottleneck_t b;
    size_t n = 4;

    if (!trial__export_tensor(x, "bert.pooler.dense.weight", d, d) ||
        !trial__export_tensor(x, "bert.pooler.dense.bias", d, 0) ||
        !trial__export_tensor(x, "classifier.weight", labels, d) ||
        !trial__export_tensor(x, "classifier.bias", labels, 0))
        return err_code();
    for (int l = 0; l < c->layers; l++) {
        int r_lora = (int)c->size[SPACE_LORA], P = (int)c->size[SPACE_PT];

        if (space_config_layer(c, SPACE_SA, l) &&
            trial__export_bottleneck(x, l, "sa", (int)c->size[SPACE_SA], &b) != 0)
            return err_code();
        if (space_config_layer(c, SPACE_PA, l) &&
            trial__export_bottleneck(x, l, "pa", (int)c->size[SPACE_PA], &b) != 0)
            return err_code();
        if (space_config_layer(c, SPACE_HA, l) &&
            (trial__export_bottleneck(x, l, "ha.attn", (int)c->size[SPACE_HA], &b) != 0 ||
             trial__export_bottleneck(x, l, "ha.ffn", (int)c->size[SPACE_HA], &b) != 0))
            return err_code();
        n += 4 * (size_t)(space_config_layer(c, SPACE_SA, l) + space_config_layer(c, SPACE_PA, l) +
                          2 * space_config_layer(c, SPACE_HA, l));
        if (space_config_layer(c, SPACE_LORA, l)) {
            static const char *const parts[] = {"q.a", "q.b", "v.a", "v.b"};
            for (int i = 0; i < 4; i++) {
                snprintf(name, sizeof name, "peft.layer.%d.lora.%s", l, parts[i]);
                if (!trial__export_tensor(x, name, i % 2 ? d : r_lora, i % 2 ? r_lora : d))
                    return err_code();
            }
            n += 4;
        }
        if (space_config_layer(c, SPACE_PT, l)) {
            snprintf(name, sizeof name, "peft.layer.%d.prefix.key", l);
            if (!trial__export_tensor(x, name, P, d))
                return err_code();
            snprintf(name, sizeof name, "peft.layer.%d.prefix.value", l);
            if (!trial__export_tensor(x, name, P, d))
                return err_code();
            n += 2;
        }
    }
    *count = n;
    return 0;
}

/* The first tensor of the file that is not the configuration's: name, or NULL. */
static const char *stray_tensor(const trial__export_t *x)
{
    for (size_t i = 0; i < safetensors_count(x->st); i++) {
        const char *name = safetensors_at(x->st, i)->name;
        if (strncmp(name, "peft.", 5) != 0 && strncmp(name, "bert.pooler.", 12) != 0 &&
            strncmp(name, "classifier.", 11) != 0)
            return name;
    }
    return NULL;
}

static int open_saved(const char *dir, trial__export_t *x)
{
    size_t expected = 0;
    int rc;

    memset(x, 0, sizeof *x);
    x->dir = dir;
    if ((rc = trial__saved_read(dir, &x->saved)) != 0)
        return rc;
    snprintf(x->st_path, sizeof x->st_path, "%s/peft.safetensors", dir);
    x->hidden = x->saved.hidden;
    if (x->hidden <= 0)
        return err_set(ERR_PARSE, "%s/trial.json: \"model.hidden\": expected the model's width",
                       dir);
    if ((rc = safetensors_open(x->st_path, &x->st)) != 0 || (rc = check_tensors(x, &expected)) != 0)
        return rc;
    if (!x->saved.full_finetune && safetensors_count(x->st) != expected) {
        const char *stray = stray_tensor(x);
        return err_set(ERR_INVAL, "%s: %zu tensors, the configuration in trial.json has %zu%s%s%s",
                       x->st_path, safetensors_count(x->st), expected,
                       stray ? " ('" : "", stray ? stray : "", stray ? "' is not one of them)" : "");
    }
    return 0;
}

static void close_saved(trial__export_t *x)
{
    safetensors_free(&x->st);
    trial__saved_free(&x->saved);
}

/* ---- --format safetensors ------------------------------------------------------------------ */

/* Each active module's size and layers. */
static json_t *modules_json(const space_config_t *c)
{
    json_t *o = json_object();

    for (int m = 0; o && m < SPACE_NMODULES; m++)
        if (space_config_active(c, (space_module_t)m) &&
            json_object_set_new(o, space_module_name((space_module_t)m),
                                json_pack("{s:i, s:o}", "size", (int)c->size[m], "layers",
                                          trial__export_layers(c, (space_module_t)m, true))) != 0) {
            json_decref(o);
            return NULL;
        }
    return o;
}

/* The model: the path and shape trial.json gives, and what the base model's config.json adds
 * (heads, sizes, LayerNorm epsilon) when it can be read; the embedded model's from its
 * generator. */
static json_t *model_json(const trial__export_t *x)
{
    const trial__saved_t *s = &x->saved;
    json_t *o = json_pack("{s:s?, s:b, s:i, s:i, s:i}", "path", s->model_path[0] ? s->model_path
                                                                                  : NULL,
                          "embedded", s->model_embedded, "hidden", x->hidden, "layers",
                          s->config.layers, "labels", s->labels);
    shape_t sh;
    double eps = 0;
    bool known = false;

    if (!o)
        return NULL;
    if (s->model_embedded) {
        embedded_opts_t eo;
        embedded_task_t *t = NULL;
        embedded_model_t em;

        embedded_opts_default(&eo);
        eo.seed = s->model_seed;
        if (embedded_generate(&eo, &t) == 0) {
            embedded_model(t, &em);
            sh = em.shape;
            eps = 1e-12;
            known = true;
            json_object_set_new(o, "seed", json_integer((json_int_t)s->model_seed));
        }
        embedded_free(&t);
    } else if (s->model_path[0]) {
        char path[4200];
        hfconfig_t *hc = NULL;

        snprintf(path, sizeof path, "%s/config.json", s->model_path);
        if (hfconfig_load(path, &hc) == 0) {
            sh = hc->shape;
            eps = hc->layer_norm_eps;
            known = sh.hidden == x->hidden && sh.layers == s->config.layers;
        }
        hfconfig_free(&hc);
    }
    err_clear();
    if (known)
        json_object_update_new(o, json_pack("{s:i, s:i, s:i, s:i, s:i, s:f}", "heads", sh.heads,
                                            "intermediate", sh.intermediate, "vocab", sh.vocab,
                                            "positions", sh.positions, "type_vocab",
                                            sh.type_vocab, "layer_norm_eps", eps));
    return o;
}

static json_t *task_json(const trial__saved_t *s)
{
    json_t *values = json_array();

    for (int i = 0; values && i < s->nvalues; i++)
        json_array_append_new(values, json_string(s->values[i]));
    return json_pack("{s:s, s:s, s:i, s:b, s:o}", "name", s->task, "metric", s->metric, "labels",
                     s->labels, "regression", s->labels == 1, "label_values", values);
}

static int export_safetensors(const trial__export_t *x, const char *out)
{
    const space_config_t *c = &x->saved.config;
    char path[4200], text[SPACE_TEXT_MAX] = "";
    const char *meta[] = {"format", "pt", "autopeft_config", text, NULL};
    size_t n = safetensors_count(x->st);
    safetensors_entry_t *e = NULL;
    uint64_t(*shapes)[SAFETENSORS_MAX_DIMS] = NULL;
    json_t *root;
    int rc;

    if (space_config_active(c, SPACE_SA) || space_config_active(c, SPACE_PA) ||
        space_config_active(c, SPACE_PT) || space_config_active(c, SPACE_LORA) ||
        space_config_active(c, SPACE_HA))
        space_config_format(c, text, sizeof text);
    if ((rc = file_mkdirs(out)) != 0)
        return rc;
    e = mem_alloc(n, sizeof *e, "tensor list");
    shapes = mem_alloc(n, sizeof *shapes, "tensor shapes");
    if (!e || !shapes) {
        rc = ERR_NOMEM;
        goto out;
    }
    /* The tensors as saved, in the file's order, each with its own dtype. */
    for (size_t i = 0; i < n; i++) {
        const safetensors_tensor_t *t = safetensors_at(x->st, i);
        memcpy(shapes[i], t->shape, sizeof shapes[i]);
        e[i] = (safetensors_entry_t){t->name, t->dtype, t->ndim, shapes[i],
                                     safetensors_data(x->st, t)};
    }
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    if ((rc = safetensors_write(path, e, n, meta)) != 0)
        goto out;
    root = json_pack("{s:s, s:i, s:s, s:s, s:o, s:b, s:f, s:f, s:i, s:o, s:o}", "format",
                     EXPORT_FORMAT, "version", EXPORT_VERSION, "software_version",
                     version_string(), "config", text, "modules", modules_json(c),
                     "full_finetune", x->saved.full_finetune, "lora_alpha",
                     trial__export_lora_alpha(x), "lora_scale",
                     c->size[SPACE_LORA] ? trial__export_lora_alpha(x) / c->size[SPACE_LORA] : 1.0,
                     "prefix_length", (int)c->size[SPACE_PT], "model", model_json(x), "task",
                     task_json(&x->saved));
    rc = trial__dump_json(root, out, "autopeft_config.json");
out:
    free(e);
    free(shapes);
    return rc;
}

/* ---- entry --------------------------------------------------------------------------------- */

int trial_export(const char *saved, trial_export_format_t f, const char *out)
{
    trial__export_t x;
    int rc;

    if (!saved || !out || (unsigned)f > TRIAL_EXPORT_PEFT)
        return err_set(ERR_INVAL, "trial_export: bad arguments");
    if (strlen(saved) > 4000 || strlen(out) > 4000)
        return err_set(ERR_RANGE, "%.64s...: path too long", strlen(saved) > 4000 ? saved : out);
    rc = open_saved(saved, &x);
    if (rc == 0)
        rc = f == TRIAL_EXPORT_ADAPTERS ? trial__export_adapters(&x, out)
             : f == TRIAL_EXPORT_PEFT   ? trial__export_peft(&x, out)
                                        : export_safetensors(&x, out);
    close_saved(&x);
    return rc;
}
