/* What other trainers need (trial_int.h): the inputs a trial trains on, written for a trainer
 * outside this process (`autopeft inputs`, docs/training.md), and the traces and logits that
 * compare one trainer with another.
 *
 * DIR/data.safetensors holds the tokenised subsets and each epoch's batch order;
 * DIR/init.safetensors the initial trainable weights in the training form (prefix MLP
 * included) under worker/engine/peft.h's names; DIR/inputs.json the rest: configuration,
 * model shape and dropout, task, recipe with its schedule, data counts, exact parameter
 * counts. Nothing is derived twice: the orders are drawn with the runner's own streams, the
 * weights are the runner's own initial ones. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/file.h"
#include "common/hfconfig.h"
#include "common/mem.h"
#include "common/rng.h"
#include "worker/inputs/checkpoint.h"
#include "worker/inputs/safetensors.h"
#include "worker/trial/trial_int.h"

#define INPUTS_FORMAT "autopeft-inputs"
#define INPUTS_VERSION 1

/* One split's tensors for data.safetensors. */
typedef struct {
    int32_t *ids, *types, *labels32;
    int64_t *offsets, *labels;
    float *targets;
    uint64_t ntok, n;
} split_t;

static void split_free(split_t *s)
{
    free(s->ids);
    free(s->types);
    free(s->offsets);
    free(s->labels);
    free(s->targets);
}

/* The rows idx[0..n) of t, end to end. */
static int split_fill(split_t *s, const tokset_t *t, const uint32_t *idx, size_t n, bool regression)
{
    uint64_t tok = 0;

    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < n; i++)
        tok += (uint64_t)tokset_len(t, idx[i]);
    s->n = n;
    s->ntok = tok;
    s->ids = mem_alloc(tok ? tok : 1, sizeof *s->ids, "token ids");
    s->types = mem_alloc(tok ? tok : 1, sizeof *s->types, "token types");
    s->offsets = mem_alloc(n + 1, sizeof *s->offsets, "offsets");
    if (regression)
        s->targets = mem_alloc(n ? n : 1, sizeof *s->targets, "targets");
    else
        s->labels = mem_alloc(n ? n : 1, sizeof *s->labels, "labels");
    if (!s->ids || !s->types || !s->offsets || (!s->targets && !s->labels))
        return ERR_NOMEM;
    tok = 0;
    for (size_t i = 0; i < n; i++) {
        int len;
        const int32_t *ids = tokset_ids(t, idx[i], &len);

        s->offsets[i] = (int64_t)tok;
        memcpy(s->ids + tok, ids, (size_t)len * sizeof *ids);
        memcpy(s->types + tok, tokset_types(t, idx[i]), (size_t)len * sizeof *ids);
        tok += (uint64_t)len;
        if (regression)
            s->targets[i] = tokset_target(t, idx[i]);
        else
            s->labels[i] = tokset_class(t, idx[i]);
    }
    s->offsets[n] = (int64_t)tok;
    return 0;
}

/* Epoch e's order (row e-1) as positions into the subset: the runner shuffles its index array
 * in place each epoch with stream STREAM_EPOCH + e, and a shuffle's permutation depends on
 * the generator and the length only, so shuffling positions the same way gives its order. */
static int32_t *epoch_orders(uint64_t seed, int epochs, size_t n)
{
    uint32_t *pos = mem_alloc(n ? n : 1, sizeof *pos, "positions");
    int32_t *order = mem_alloc((size_t)epochs * (n ? n : 1), sizeof *order, "epoch orders");
    rng_t rng;

    if (!pos || !order) {
        free(pos);
        free(order);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        pos[i] = (uint32_t)i;
    for (int e = 1; e <= epochs; e++) {
        rng_seed_stream(&rng, seed, STREAM_EPOCH + (uint64_t)e);
        rng_shuffle(&rng, pos, n);
        for (size_t i = 0; i < n; i++)
            order[(size_t)(e - 1) * n + i] = (int32_t)pos[i];
    }
    free(pos);
    return order;
}

typedef struct {
    safetensors_entry_t e[16];
    uint64_t shape[16][2];
    char names[16][32];
    size_t n;
} entries_t;

static void add(entries_t *t, const char *prefix, const char *name, safetensors_dtype_t dt,
                int ndim, uint64_t d0, uint64_t d1, const void *data)
{
    size_t i = t->n++;

    snprintf(t->names[i], sizeof t->names[i], "%s%s", prefix, name);
    t->shape[i][0] = d0;
    t->shape[i][1] = d1;
    t->e[i] = (safetensors_entry_t){t->names[i], dt, ndim, t->shape[i], data};
}

static void add_split(entries_t *t, const char *prefix, const split_t *s)
{
    add(t, prefix, "ids", SAFETENSORS_I32, 1, s->ntok, 0, s->ids);
    add(t, prefix, "types", SAFETENSORS_I32, 1, s->ntok, 0, s->types);
    add(t, prefix, "offsets", SAFETENSORS_I64, 1, s->n + 1, 0, s->offsets);
    if (s->targets)
        add(t, prefix, "targets", SAFETENSORS_F32, 1, s->n, 0, s->targets);
    else
        add(t, prefix, "labels", SAFETENSORS_I64, 1, s->n, 0, s->labels);
}

static int write_data(const char *dir, const trial__plan_t *p)
{
    const trial_spec_t *s = p->spec;
    bool reg = p->in->labels == 1;
    split_t train, dev;
    entries_t t = {0};
    int32_t *order = NULL;
    char path[4200];
    int rc;

    memset(&dev, 0, sizeof dev);
    if ((rc = split_fill(&train, p->in->train->set, p->train_idx, p->ntrain, reg)) != 0 ||
        (rc = split_fill(&dev, p->in->dev->set, p->eval_idx, p->neval, reg)) != 0)
        goto out;
    if (!(order = epoch_orders(s->seed, s->epochs, p->ntrain))) {
        rc = ERR_NOMEM;
        goto out;
    }
    add_split(&t, "train.", &train);
    add_split(&t, "dev.", &dev);
    add(&t, "", "order", SAFETENSORS_I32, 2, (uint64_t)s->epochs, p->ntrain, order);
    snprintf(path, sizeof path, "%s/data.safetensors", dir);
    rc = safetensors_write(path, t.e, t.n, NULL);
out:
    split_free(&train);
    split_free(&dev);
    free(order);
    return rc;
}

/* Every trainable tensor at its initial value, training form, engine names. */
static int write_init(const char *dir, peft_t *peft)
{
    int n = peft_tensor_count(peft), rc;
    safetensors_entry_t *e = mem_alloc((size_t)n, sizeof *e, "tensor list");
    uint64_t(*dims)[2] = mem_alloc((size_t)n, sizeof *dims, "tensor shapes");
    const float *base = peft_param_buffer(peft);
    char path[4200];

    if (!e || !dims) {
        free(e);
        free(dims);
        return ERR_NOMEM;
    }
    for (int i = 0; i < n; i++) {
        const peft_tensor_t *pt = peft_tensor(peft, i);

        dims[i][0] = (uint64_t)pt->dims[0];
        dims[i][1] = (uint64_t)pt->dims[1];
        e[i] = (safetensors_entry_t){pt->name, SAFETENSORS_F32, pt->ndim, dims[i],
                                     base + pt->offset};
    }
    snprintf(path, sizeof path, "%s/init.safetensors", dir);
    rc = safetensors_write(path, e, (size_t)n, NULL);
    free(e);
    free(dims);
    return rc;
}

static json_t *modules_json(const peft_t *peft)
{
    static const char *const keys[SPACE_NMODULES] = {"sa", "pa", "pt", "lora", "ha"};
    const space_config_t *c = peft_config(peft);
    json_t *o = json_object();

    for (int m = 0; m < SPACE_NMODULES; m++) {
        json_t *layers = json_array();

        for (int l = 0; l < c->layers; l++)
            if (peft_on(peft, (space_module_t)m, l))
                json_array_append_new(layers, json_integer(l));
        json_object_set_new(o, keys[m],
                            json_pack("{s:i, s:o}", "size",
                                      json_array_size(layers) ? (int)c->size[m] : 0, "layers",
                                      layers));
    }
    return o;
}

static json_t *model_json(const trial__plan_t *p, const char *dir)
{
    const model_opts_t *mo = model_opts(p->in->model->model);
    const shape_t *sh = &mo->shape;
    char abs[PATH_MAX];
    const char *mdir = p->spec->model_dir ? p->spec->model_dir : dir;

    /* Absolute, so that the folder can be read from anywhere. */
    if (realpath(mdir, abs))
        mdir = abs;
    return json_pack("{s:s, s:b, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:f, s:f}",
                     "dir", mdir, "embedded", p->spec->model_embedded, "hidden", sh->hidden,
                     "layers", sh->layers, "heads", sh->heads, "intermediate", sh->intermediate,
                     "vocab", sh->vocab, "positions", sh->positions, "type_vocab",
                     sh->type_vocab, "labels", sh->labels, "layer_norm_eps",
                     (double)mo->layer_norm_eps, "hidden_dropout", (double)mo->hidden_dropout,
                     "attention_dropout", (double)mo->attention_dropout, "classifier_dropout",
                     (double)(mo->classifier_dropout < 0 ? mo->hidden_dropout
                                                         : mo->classifier_dropout));
}

static json_t *task_json(const trial__plan_t *p)
{
    const trial__inputs_t *in = p->in;
    json_t *metrics = json_array(), *values = json_array();

    for (int k = 0; k < METRIC__COUNT; k++)
        if (in->metrics & METRIC_BIT(k))
            json_array_append_new(metrics, json_string(metrics_name((metric_t)k)));
    for (int i = 0; i < in->dev->nvalues; i++)
        json_array_append_new(values, json_string(in->dev->values[i]));
    return json_pack("{s:s, s:i, s:b, s:s, s:o, s:o}", "name", in->task, "labels", in->labels,
                     "regression", in->labels == 1, "objective", metrics_name(in->objective),
                     "metrics", metrics, "label_values", values);
}

static json_t *recipe_json(const trial__plan_t *p)
{
    const trial_spec_t *s = p->spec;

    return json_pack("{s:i, s:i, s:i, s:i, s:f, s:i, s:i, s:f, s:f, s:i, s:I, s:s}", "epochs",
                     s->epochs, "batch_size", s->batch_size, "eval_batch_size",
                     s->eval_batch_size > 0 ? s->eval_batch_size : s->batch_size, "max_length",
                     s->max_length, "learning_rate", s->learning_rate, "warmup_steps",
                     p->warmup_steps, "total_steps", p->total_steps, "weight_decay",
                     s->weight_decay, "max_grad_norm", s->max_grad_norm, "patience",
                     s->patience, "seed", (json_int_t)s->seed, "precision",
                     precision_name(s->precision));
}

static json_t *counts_json(const trainer_result_t *r)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:f}", "trainable", (json_int_t)r->trainable,
                     "deployed", (json_int_t)r->deployed, "modules_trainable",
                     (json_int_t)r->modules_trainable, "modules_deployed",
                     (json_int_t)r->modules_deployed, "head", (json_int_t)r->head, "backbone",
                     (json_int_t)r->backbone, "percent", r->percent);
}

static int write_inputs_json(const char *dir, const trial__plan_t *p)
{
    const trial_info_t *info = p->info;
    json_t *root;

    root = json_pack("{s:s, s:i, s:s, s:b, s:o, s:f, s:f, s:i, s:b, s:o, s:o, s:o, "
                     "s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:o}",
                     "format", INPUTS_FORMAT, "version", INPUTS_VERSION, "config",
                     info->config_text, "full_finetune", p->spec->full_finetune, "modules",
                     modules_json(p->peft), "lora_alpha",
                     (double)(peft_opts(p->peft)->lora_alpha > 0
                                  ? peft_opts(p->peft)->lora_alpha
                                  : (float)peft_config(p->peft)->size[SPACE_LORA]),
                     "lora_scale",
                     peft_lora_scale(p->peft) > 0 ? (double)peft_lora_scale(p->peft) : 1.0,
                     "prefix_bottleneck", peft_prefix_bottleneck(p->peft), "prefix_mlp",
                     peft_prefix_mlp(p->peft), "model", model_json(p, dir), "task",
                     task_json(p), "recipe", recipe_json(p), "data", "train_used",
                     (json_int_t)info->train_used, "train_total", (json_int_t)info->train_total,
                     "eval_used", (json_int_t)info->eval_used, "eval_total",
                     (json_int_t)info->eval_total, "train_truncated",
                     (json_int_t)info->train_truncated, "eval_truncated",
                     (json_int_t)info->eval_truncated, "params", counts_json(p->counts));
    return trial__dump_json(root, dir, "inputs.json");
}

/* The embedded model has no folder of its own: DIR becomes its checkpoint. */
static int write_embedded_model(const char *dir, const trial__plan_t *p)
{
    model_t *m = p->in->model->model;
    const model_opts_t *mo = model_opts(m);
    hfconfig_t *cfg = NULL;
    int rc = hfconfig_new(&mo->shape, &cfg);

    if (rc != 0)
        return rc;
    cfg->layer_norm_eps = mo->layer_norm_eps;
    cfg->hidden_dropout = mo->hidden_dropout;
    cfg->attention_dropout = mo->attention_dropout;
    cfg->classifier_dropout = mo->classifier_dropout < 0 ? mo->hidden_dropout
                                                         : mo->classifier_dropout;
    cfg->initializer_range = mo->initializer_range;
    rc = checkpoint_write(dir, m, cfg, 0);
    hfconfig_free(&cfg);
    return rc;
}

int trial__write_inputs(const char *dir, const trial__plan_t *p)
{
    int rc;

    if (strlen(dir) > 4000)
        return err_set(ERR_RANGE, "%.64s...: path too long", dir);
    if ((rc = file_mkdirs(dir)) != 0 || (rc = write_data(dir, p)) != 0 ||
        (rc = write_init(dir, p->peft)) != 0 ||
        (p->spec->model_embedded && (rc = write_embedded_model(dir, p)) != 0) ||
        (rc = trial__write_json(dir, p->spec, p->in, p->peft, NULL, p->eval_max_tokens)) != 0 ||
        (rc = write_inputs_json(dir, p)) != 0)
        return err_prefix(rc, "writing the trial's inputs to %s: ", dir);
    return 0;
}

/* ---- traces and logits ------------------------------------------------------------------- */

/* A float32 that reads back to the same bits. */
static void put_float(FILE *f, double v)
{
    fprintf(f, "%.9g", v);
}

static void put_rows(FILE *f, const float *logits, size_t n, int labels)
{
    fputc('[', f);
    for (size_t i = 0; i < n; i++) {
        fputs(i ? ",[" : "[", f);
        for (int c = 0; c < labels; c++) {
            if (c)
                fputc(',', f);
            put_float(f, logits[i * (size_t)labels + (size_t)c]);
        }
        fputc(']', f);
    }
    fputc(']', f);
}

void trial__trace_step(FILE *f, uint64_t step, int epoch, double loss, double lr,
                       const uint32_t *rows, int n, const float *logits, int labels)
{
    fprintf(f, "{\"step\": %llu, \"epoch\": %d, \"loss\": ", (unsigned long long)step, epoch);
    put_float(f, loss);
    fputs(", \"lr\": ", f);
    put_float(f, lr);
    fputs(", \"rows\": [", f);
    for (int i = 0; i < n; i++)
        fprintf(f, i ? ",%u" : "%u", rows[i]);
    fputs("], \"logits\": ", f);
    put_rows(f, logits, (size_t)n, labels);
    fputs("}\n", f);
}

void trial__trace_eval(FILE *f, int epoch, double objective, const float *logits, size_t n,
                       int labels)
{
    fprintf(f, "{\"eval\": %d, \"objective\": ", epoch);
    put_float(f, objective);
    fputs(", \"logits\": ", f);
    put_rows(f, logits, n, labels);
    fputs("}\n", f);
}

int trial__write_logits(const char *path, double objective, const float *logits, size_t n,
                        int labels, const int32_t *gold_i, const float *gold_f)
{
    FILE *f = fopen(path, "w");
    int rc = 0;

    if (!f)
        return err_set(ERR_IO, "%s: %s", path, strerror(errno));
    fputs("{\"objective\": ", f);
    put_float(f, objective);
    fputs(", \"logits\": ", f);
    put_rows(f, logits, n, labels);
    fputs(", \"gold\": [", f);
    for (size_t i = 0; i < n; i++) {
        if (i)
            fputc(',', f);
        if (gold_f)
            put_float(f, gold_f[i]);
        else
            fprintf(f, "%d", gold_i[i]);
    }
    fputs("]}\n", f);
    if (ferror(f))
        rc = err_set(ERR_IO, "%s: write failed", path);
    if (fclose(f) != 0 && rc == 0)
        rc = err_set(ERR_IO, "%s: %s", path, strerror(errno));
    return rc;
}
