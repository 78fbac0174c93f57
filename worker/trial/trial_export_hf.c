/* Saved trials in the layouts of two Python libraries (trial_export.h, docs/export.md): the
 * AdapterHub `adapters` library (adapters 1.2's configuration classes, parameter names and
 * file names) and Hugging Face `peft` (LoRA). Each writer first checks that the library
 * computes exactly autopeft's function for the configuration, and refuses it (ERR_UNSUPPORTED,
 * nothing written) otherwise.
 *
 * autopeft's modules in a layer with attention output o (after its dropout), FFN input x (the
 * attention LayerNorm's output) and FFN output h (after its dropout) (worker/engine/peft.h):
 *   LN1(x_in + o + HA_attn(o));  out = LN2(x + h' + SA(LN2(x + h')) + 4 PA(x)), h' = h + HA_ffn(h)
 * In adapters, a bottleneck config at the FFN output ("output_adapter") gets the hidden states h,
 * the residual x and the LayerNorm LN2 (BertOutput's bottleneck_layer_forward):
 *   seq_bn  (original_ln_before, residual_before_ln):  LN2(x + h + SA(LN2(x + h)))
 *   par_bn  (is_parallel, scaling 4):                  LN2(x + h + 4 PA(x))
 *   double_seq_bn (mh_adapter and output_adapter, original_ln_before off): LN2(x + h + HA(h)),
 *           and LN1(x_in + o + HA(o)) at the attention output
 * which are autopeft's, one module at a time. One adapter holds one bottleneck per location and
 * layer, so a layer with two of sa, pa and ha is refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/file.h"
#include "common/mem.h"
#include "worker/trial/trial_int.h"

/* The adapter's name in the files (load_adapter(..., load_as=...) renames it). */
#define ADAPTER_NAME "autopeft"
/* The library version whose layout this is; >= 1.1.0, so that the loader keeps LoRA's alpha
 * (AdapterLoader._fix_backward_compat resets alpha to r for older files). */
#define ADAPTERS_VERSION "adapters.1.2.0"

static const char *const bottleneck_modules[] = {"sa", "pa", "ha"};

/* ---- what adapters and peft can hold ------------------------------------------------------- */

static bool any_module(const space_config_t *c)
{
    for (int m = 0; m < SPACE_NMODULES; m++)
        if (space_config_active(c, (space_module_t)m))
            return true;
    return false;
}

static int check_common(const trial__export_t *x, const char *library)
{
    if (x->saved.full_finetune)
        return err_set(ERR_UNSUPPORTED, "%s/trial.json: the trial fine-tuned every weight: that "
                       "is a whole model, not a %s adapter (use --format safetensors)", x->dir,
                       library);
    if (!any_module(&x->saved.config))
        return err_set(ERR_UNSUPPORTED, "%s/trial.json: the configuration has no module (the "
                       "head alone): there is no %s adapter to write (use --format safetensors)",
                       x->dir, library);
    return 0;
}

/* One bottleneck (sa, pa or ha) per layer: they all sit at the FFN output in adapters. */
static int check_adapters(const trial__export_t *x)
{
    const space_config_t *c = &x->saved.config;
    static const space_module_t mod[] = {SPACE_SA, SPACE_PA, SPACE_HA};
    int rc = check_common(x, "adapters");

    for (int l = 0; rc == 0 && l < c->layers; l++) {
        int on[3], n = 0;
        for (int i = 0; i < 3; i++)
            if (space_config_layer(c, mod[i], l))
                on[n++] = i;
        if (n > 1)
            rc = err_set(ERR_UNSUPPORTED,
                         "%s/trial.json: layer %d has both %s and %s: in adapters an adapter has "
                         "one bottleneck per layer at the FFN output (seq_bn, par_bn and "
                         "double_seq_bn all sit there; ModelAdaptersConfig.match refuses two), "
                         "so this configuration has no adapters form (docs/export.md); give "
                         "the modules disjoint layers, or use --format safetensors",
                         x->dir, l, bottleneck_modules[on[0]], bottleneck_modules[on[1]]);
    }
    return rc;
}

static int check_peft(const trial__export_t *x)
{
    const space_config_t *c = &x->saved.config;
    int rc = check_common(x, "peft");

    if (rc != 0)
        return rc;
    for (int i = 0; i < 3; i++) {
        space_module_t m = i == 0 ? SPACE_SA : i == 1 ? SPACE_PA : SPACE_HA;
        if (space_config_active(c, m))
            return err_set(ERR_UNSUPPORTED, "%s/trial.json: the configuration has %s: peft has "
                           "no bottleneck adapters (sa, pa, ha); use --format adapters or "
                           "--format safetensors", x->dir, bottleneck_modules[i]);
    }
    if (space_config_active(c, SPACE_PT))
        return err_set(ERR_UNSUPPORTED, "%s/trial.json: the configuration has pt: peft's prefix "
                       "tuning is a method of its own (PREFIX_TUNING), which one adapter cannot "
                       "join to LoRA, and it puts prefixes in every layer (no layer mask); use "
                       "--format adapters or --format safetensors", x->dir);
    return 0;
}

/* ---- adapters: the configuration ----------------------------------------------------------- */

/* A reduction factor f with int(d // f) == r in Python, as BottleneckLayer computes the
 * bottleneck: d / r when r divides d (exact), else d / (r + 1/2), whose quotient r + 1/2 is
 * safely above r and below r + 1 whatever the rounding. */
static double reduction_factor(int d, int r)
{
    return d % r == 0 ? (double)(d / r) : (double)d / (r + 0.5);
}

/* A BnConfig with every field (BnConfig.to_dict's), the flags given, the rest the defaults. */
static json_t *bn_config(const trial__export_t *x, space_module_t m, bool mh, bool ln_before,
                         bool parallel, double scaling, const char *init)
{
    const space_config_t *c = &x->saved.config;

    return json_pack(
        "{s:b, s:b, s:f, s:s, s:b, s:b, s:b, s:b, s:s, s:n, s:b, s:f, s:b, s:b, s:b, s:n, s:n,"
        " s:b, s:o, s:f, s:b, s:i, s:b, s:b, s:b, s:b, s:s, s:f, s:b, s:s, s:i, s:b, s:f}",
        "mh_adapter", mh, "output_adapter", 1, "reduction_factor",
        reduction_factor(x->hidden, (int)c->size[m]), "non_linearity", "relu",
        "original_ln_before", ln_before, "original_ln_after", 1, "ln_before", 0, "ln_after", 0,
        "init_weights", init, "init_weights_seed", "is_parallel", parallel, "scaling", scaling,
        "use_gating", 0, "residual_before_ln", 1, "adapter_residual_before_ln", 0, "inv_adapter",
        "inv_adapter_reduction_factor", "cross_adapter", 0, "leave_out",
        trial__export_layers(c, m, false), "dropout", 0.0, "phm_layer", 0, "phm_dim", 4,
        "factorized_phm_W", 1, "shared_W_phm", 0, "shared_phm_rule", 1, "factorized_phm_rule", 0,
        "phm_c_init", "normal", "phm_init_range", 0.0001, "learn_phm", 1,
        "hypercomplex_nonlinearity", "glorot-uniform", "phm_rank", 1, "phm_bias", 1,
        "stochastic_depth", 0.0);
}

static json_t *prefix_config(const trial__export_t *x)
{
    const space_config_t *c = &x->saved.config;
    int bn = x->saved.prefix_bottleneck > 0 ? x->saved.prefix_bottleneck : SPACE_PREFIX_BOTTLENECK;

    return json_pack("{s:s, s:b, s:b, s:o, s:b, s:i, s:i, s:s, s:f, s:b, s:b, s:n}",
                     "architecture", "prefix_tuning", "encoder_prefix", 1, "cross_prefix", 1,
                     "leave_out", trial__export_layers(c, SPACE_PT, false), "flat", 1,
                     "prefix_length", (int)c->size[SPACE_PT], "bottleneck_size", bn,
                     "non_linearity", "tanh", "dropout", 0.0, "use_gating", 0, "shared_gating", 1,
                     "init_weights_seed");
}

static json_t *lora_config(const trial__export_t *x)
{
    const space_config_t *c = &x->saved.config;

    return json_pack("{s:s, s:b, s:b, s:b, s:o, s:i, s:f, s:f, s:[s, s], s:s, s:s, s:n, s:b, "
                     "s:b, s:n, s:n, s:n}",
                     "architecture", "lora", "selfattn_lora", 1, "intermediate_lora", 0,
                     "output_lora", 0, "leave_out", trial__export_layers(c, SPACE_LORA, false),
                     "r", (int)c->size[SPACE_LORA], "alpha", trial__export_lora_alpha(x),
                     "dropout", 0.0, "attn_matrices", "q", "v", "composition_mode", "add",
                     "init_weights", "lora", "init_weights_seed", "use_gating", 0, "use_dora", 0,
                     "vera_d", "vera_b", "dtype");
}

/* The ConfigUnion of the active modules, in the order sa, pa, ha, pt, lora. */
static json_t *union_config(const trial__export_t *x)
{
    const space_config_t *c = &x->saved.config;
    json_t *configs = json_array();

    if (!configs)
        return NULL;
    if (space_config_active(c, SPACE_SA))
        json_array_append_new(configs, bn_config(x, SPACE_SA, false, true, false, 1.0, "bert"));
    if (space_config_active(c, SPACE_PA))
        json_array_append_new(configs,
                              bn_config(x, SPACE_PA, false, false, true, 4.0, "mam_adapter"));
    if (space_config_active(c, SPACE_HA))
        json_array_append_new(configs, bn_config(x, SPACE_HA, true, false, false, 1.0, "bert"));
    if (space_config_active(c, SPACE_PT))
        json_array_append_new(configs, prefix_config(x));
    if (space_config_active(c, SPACE_LORA))
        json_array_append_new(configs, lora_config(x));
    return json_pack("{s:s, s:o}", "architecture", "union", "configs", configs);
}

/* What save_adapter and save_head put around a configuration (build_full_config). */
static json_t *full_config(const trial__export_t *x, json_t *config)
{
    const trial__saved_t *s = &x->saved;

    return json_pack("{s:o, s:i, s:s, s:s, s:s, s:s, s:s}", "config", config, "hidden_size",
                     x->hidden, "model_class", "BertAdapterModel", "model_name",
                     s->model_path[0] ? s->model_path : s->model_embedded ? "embedded" : "",
                     "model_type", "bert", "name", ADAPTER_NAME, "version", ADAPTERS_VERSION);
}

/* {label: index}: the task's class values, else LABEL_i as transformers names them. */
static json_t *label2id(const trial__saved_t *s)
{
    json_t *o = json_object();
    char name[32];

    for (int i = 0; o && i < s->labels; i++) {
        snprintf(name, sizeof name, "LABEL_%d", i);
        json_object_set_new(o, s->nvalues == s->labels ? s->values[i] : name, json_integer(i));
    }
    return o;
}

/* A flex classification head of two layers on [CLS] (use_pooler off): Dropout, Linear(d, d),
 * tanh, Dropout, Linear(d, labels), which is BERT's pooler and classifier, modules 1 and 4. */
static json_t *head_config(const trial__export_t *x)
{
    json_t *o = full_config(x, json_pack("{s:s, s:i, s:i, s:s, s:o, s:b, s:b, s:n}", "head_type",
                                         "classification", "num_labels", x->saved.labels,
                                         "layers", 2, "activation_function", "tanh", "label2id",
                                         label2id(&x->saved), "use_pooler", 0, "bias", 1,
                                         "dropout_prob"));

    if (o)
        json_object_set_new(o, "label2id", label2id(&x->saved));
    return o;
}

/* ---- adapters: the weights ----------------------------------------------------------------- */

static int add_bottleneck(trial__tensors_t *t, const trial__export_t *x, int l, const char *what,
                          const char *site, int r)
{
    trial__bottleneck_t b;
    char name[TRIAL__TENSOR_NAME];
    int d = x->hidden, rc;

    if ((rc = trial__export_bottleneck(x, l, what, r, &b)) != 0)
        return rc;
#define ADD(part, nd, rows, cols, data)                                                       \
    (snprintf(name, sizeof name, "bert.encoder.layer.%d.%s.adapters." ADAPTER_NAME ".%s", l,   \
              site, part),                                                                     \
     trial__tensors_add(t, name, nd, rows, cols, data))
    if ((rc = ADD("adapter_down.0.weight", 2, r, d, b.down_w)) != 0 ||
        (rc = ADD("adapter_down.0.bias", 1, r, 0, b.down_b)) != 0 ||
        (rc = ADD("adapter_up.weight", 2, d, r, b.up_w)) != 0 ||
        (rc = ADD("adapter_up.bias", 1, d, 0, b.up_b)) != 0)
        return rc;
#undef ADD
    return 0;
}

/* The LoRA matrices of layer l under prefix (adapters: "bert.encoder.layer.L.attention.self.";
 * peft: the same after "base_model.model."), with the library's part names. */
static int add_lora(trial__tensors_t *t, const trial__export_t *x, int l, const char *prefix,
                    const char *a_part, const char *b_part)
{
    static const char *const proj[] = {"query", "value"}, *const ours[] = {"q", "v"};
    char name[TRIAL__TENSOR_NAME];
    int d = x->hidden, r = (int)x->saved.config.size[SPACE_LORA], rc;

    for (int i = 0; i < 2; i++) {
        const float *a, *b;

        snprintf(name, sizeof name, "peft.layer.%d.lora.%s.a", l, ours[i]);
        if (!(a = trial__export_tensor(x, name, r, d)))
            return err_code();
        snprintf(name, sizeof name, "peft.layer.%d.lora.%s.b", l, ours[i]);
        if (!(b = trial__export_tensor(x, name, d, r)))
            return err_code();
        snprintf(name, sizeof name, "%sbert.encoder.layer.%d.attention.self.%s.%s", prefix, l,
                 proj[i], a_part);
        if ((rc = trial__tensors_add(t, name, 2, r, d, a)) != 0)
            return rc;
        snprintf(name, sizeof name, "%sbert.encoder.layer.%d.attention.self.%s.%s", prefix, l,
                 proj[i], b_part);
        if ((rc = trial__tensors_add(t, name, 2, d, r, b)) != 0)
            return rc;
    }
    return 0;
}

/* adapters' flat prefix: one vector that FlatPrefixTuning views as [P, n * 2, heads, d / heads]
 * for the n layers with prefixes in increasing order, keys before values:
 * buf[p][2i + 0][:] = key of the i-th such layer, row p; buf[p][2i + 1][:] = its value. */
static float *prefix_vector(const trial__export_t *x, size_t *len)
{
    const space_config_t *c = &x->saved.config;
    int d = x->hidden, P = (int)c->size[SPACE_PT], n = space_config_layer_count(c, SPACE_PT);
    size_t row = (size_t)n * 2 * d;
    char name[TRIAL__TENSOR_NAME];
    float *buf = mem_alloc((size_t)P * row, sizeof *buf, "prefix vector");

    for (int l = 0, i = 0; buf && l < c->layers; l++) {
        const float *kv[2];
        if (!space_config_layer(c, SPACE_PT, l))
            continue;
        snprintf(name, sizeof name, "peft.layer.%d.prefix.key", l);
        kv[0] = trial__export_tensor(x, name, P, d);
        snprintf(name, sizeof name, "peft.layer.%d.prefix.value", l);
        kv[1] = kv[0] ? trial__export_tensor(x, name, P, d) : NULL;
        if (!kv[1]) {
            free(buf);
            return NULL;
        }
        for (int p = 0; p < P; p++)
            for (int k = 0; k < 2; k++)
                memcpy(buf + p * row + (size_t)(2 * i + k) * d, kv[k] + (size_t)p * d,
                       (size_t)d * sizeof *buf);
        i++;
    }
    *len = (size_t)P * row;
    return buf;
}

static int adapter_tensors(const trial__export_t *x, trial__tensors_t *t, float **prefix)
{
    const space_config_t *c = &x->saved.config;
    int rc = 0;
    size_t len;

    for (int l = 0; rc == 0 && l < c->layers; l++) {
        if (space_config_layer(c, SPACE_SA, l))
            rc = add_bottleneck(t, x, l, "sa", "output", (int)c->size[SPACE_SA]);
        else if (space_config_layer(c, SPACE_PA, l))
            rc = add_bottleneck(t, x, l, "pa", "output", (int)c->size[SPACE_PA]);
        else if (space_config_layer(c, SPACE_HA, l) &&
                 (rc = add_bottleneck(t, x, l, "ha.attn", "attention.output",
                                      (int)c->size[SPACE_HA])) == 0)
            rc = add_bottleneck(t, x, l, "ha.ffn", "output", (int)c->size[SPACE_HA]);
        if (rc == 0 && space_config_layer(c, SPACE_LORA, l))
            rc = add_lora(t, x, l, "", "loras." ADAPTER_NAME ".lora_A",
                          "loras." ADAPTER_NAME ".lora_B");
    }
    if (rc == 0 && space_config_active(c, SPACE_PT)) {
        if (!(*prefix = prefix_vector(x, &len)))
            return err_code() ? err_code() : ERR_NOMEM;
        rc = trial__tensors_add(t, "bert.prefix_tuning.prefix_tunings." ADAPTER_NAME
                                   ".self_prefix.control_trans", 1, len, 0, *prefix);
    }
    return rc;
}

/* The head's four tensors under prefix + pooler and classifier names. */
static int add_head(trial__tensors_t *t, const trial__export_t *x, const char *pooler,
                    const char *classifier)
{
    int d = x->hidden, labels = x->saved.labels, rc;
    char name[TRIAL__TENSOR_NAME];
    const float *pw = trial__export_tensor(x, "bert.pooler.dense.weight", d, d);
    const float *pb = trial__export_tensor(x, "bert.pooler.dense.bias", d, 0);
    const float *cw = trial__export_tensor(x, "classifier.weight", labels, d);
    const float *cb = trial__export_tensor(x, "classifier.bias", labels, 0);

    if (!pw || !pb || !cw || !cb)
        return err_code();
#define ADD(base, part, nd, rows, cols, data)                                                 \
    (snprintf(name, sizeof name, "%s.%s", base, part),                                         \
     trial__tensors_add(t, name, nd, rows, cols, data))
    if ((rc = ADD(pooler, "weight", 2, d, d, pw)) != 0 ||
        (rc = ADD(pooler, "bias", 1, d, 0, pb)) != 0 ||
        (rc = ADD(classifier, "weight", 2, labels, d, cw)) != 0 ||
        (rc = ADD(classifier, "bias", 1, labels, 0, cb)) != 0)
        return rc;
#undef ADD
    return 0;
}

int trial__export_adapters(const trial__export_t *x, const char *out)
{
    static const char *const meta[] = {"format", "pt", NULL};
    trial__tensors_t t = {0}, head = {0};
    char path[4200];
    float *prefix = NULL;
    int rc;

    if ((rc = check_adapters(x)) != 0 || (rc = adapter_tensors(x, &t, &prefix)) != 0 ||
        (rc = add_head(&head, x, "heads." ADAPTER_NAME ".1", "heads." ADAPTER_NAME ".4")) != 0 ||
        (rc = file_mkdirs(out)) != 0)
        goto out;
    snprintf(path, sizeof path, "%s/adapter.safetensors", out);
    if ((rc = trial__tensors_write(&t, path, meta)) != 0)
        goto out;
    snprintf(path, sizeof path, "%s/model_head.safetensors", out);
    if ((rc = trial__tensors_write(&head, path, meta)) != 0 ||
        (rc = trial__dump_json(full_config(x, union_config(x)), out, "adapter_config.json")) != 0)
        goto out;
    rc = trial__dump_json(head_config(x), out, "head_config.json");
out:
    trial__tensors_free(&t);
    trial__tensors_free(&head);
    free(prefix);
    return rc;
}

/* ---- peft ---------------------------------------------------------------------------------- */

int trial__export_peft(const trial__export_t *x, const char *out)
{
    static const char *const meta[] = {"format", "pt", NULL};
    const space_config_t *c = &x->saved.config;
    const trial__saved_t *s = &x->saved;
    trial__tensors_t t = {0};
    char path[4200];
    json_t *root;
    int rc;

    if ((rc = check_peft(x)) != 0)
        goto out;
    for (int l = 0; rc == 0 && l < c->layers; l++)
        if (space_config_layer(c, SPACE_LORA, l))
            rc = add_lora(&t, x, l, "base_model.model.", "lora_A.weight", "lora_B.weight");
    if (rc != 0 || (rc = add_head(&t, x, "base_model.model.bert.pooler.dense",
                                  "base_model.model.classifier")) != 0 ||
        (rc = file_mkdirs(out)) != 0)
        goto out;
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", out);
    if ((rc = trial__tensors_write(&t, path, meta)) != 0)
        goto out;
    root = json_pack("{s:s, s:s, s:s?, s:n, s:b, s:i, s:f, s:f, s:[s, s], s:o, s:s, s:s, s:b, "
                     "s:b, s:b, s:b, s:[s, s], s:{}, s:{}}",
                     "peft_type", "LORA", "task_type", "SEQ_CLS", "base_model_name_or_path",
                     s->model_path[0] ? s->model_path : NULL, "revision", "inference_mode", 1,
                     "r", (int)c->size[SPACE_LORA], "lora_alpha", trial__export_lora_alpha(x),
                     "lora_dropout", 0.0, "target_modules", "query", "value",
                     "layers_to_transform", trial__export_layers(c, SPACE_LORA, true),
                     "layers_pattern", "layer", "bias", "none", "fan_in_fan_out", 0, "use_rslora",
                     0, "use_dora", 0, "init_lora_weights", 1, "modules_to_save", "classifier",
                     "pooler", "rank_pattern", "alpha_pattern");
    rc = trial__dump_json(root, out, "adapter_config.json");
out:
    trial__tensors_free(&t);
    return rc;
}
