/* Hugging Face model folders into and out of the engine's model: see checkpoint.h. */
#include "worker/inputs/checkpoint.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/file.h"
#include "common/log.h"
#include "common/mem.h"

void checkpoint_opts_from_config(const hfconfig_t *c, int labels, model_opts_t *out)
{
    shape_t s = c->shape;

    s.labels = labels;
    model_opts_default(out, &s);
    out->layer_norm_eps = (float)c->layer_norm_eps;
    out->hidden_dropout = (float)c->hidden_dropout;
    out->attention_dropout = (float)c->attention_dropout;
    out->classifier_dropout = (float)c->classifier_dropout;
    out->initializer_range = (float)c->initializer_range;
    out->pad_token_id = c->pad_token_id;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}


/* The model-table name of a file's tensor name: "bert." dropped, LayerNorm gamma/beta renamed.
 * False when it does not fit (names are capped far below MODEL_NAME_MAX in practice). */
static bool canonical_name(const char *name, char *out, size_t len, bool *prefixed, bool *legacy)
{
    size_t n;

    *prefixed = starts_with(name, "bert.");
    if (*prefixed)
        name += 5;
    n = strlen(name);
    if (n >= len)
        return false;
    memcpy(out, name, n + 1);
    *legacy = false;
    /* TensorFlow-era BERT checkpoints name LayerNorm parameters gamma and beta; transformers
     * renames them on load. Only LayerNorm tensors are renamed, so a module that happens to
     * have a "beta" of its own is not mistaken for a bias. */
    if (strstr(out, "LayerNorm.")) {
        if (model_name_ends_with(out, ".gamma") && n - 6 + 7 < len) {
            strcpy(out + n - 6, ".weight");
            *legacy = true;
        } else if (model_name_ends_with(out, ".beta") && n - 5 + 5 < len) {
            strcpy(out + n - 5, ".bias");
            *legacy = true;
        }
    }
    return true;
}

static bool is_ignored(const char *canon)
{
    /* BertForPreTraining / BertForMaskedLM heads, and the position-id buffer older
     * transformers versions saved. */
    return starts_with(canon, "cls.") || strcmp(canon, "embeddings.position_ids") == 0;
}

static bool is_encoder_name(const char *canon)
{
    return starts_with(canon, "embeddings.") || starts_with(canon, "encoder.") ||
           starts_with(canon, "pooler.") || starts_with(canon, "classifier.");
}

static void fmt_dims(char *buf, size_t len, const uint64_t *dims, int ndim)
{
    size_t off = 0;

    off += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%llu", i ? ", " : "",
                                (unsigned long long)dims[i]);
    if (off < len)
        snprintf(buf + off, len - off, "]");
}

static int check_shape(const model_t *m, const safetensors_t *st, const safetensors_tensor_t *t,
                       const model_tensor_t *mt)
{
    const shape_t *s = &model_opts(m)->shape;
    char got[128], want[128];
    uint64_t wdims[2] = {(uint64_t)mt->dims[0], (uint64_t)mt->dims[1]};
    bool ok = t->ndim == mt->ndim;

    for (int i = 0; ok && i < mt->ndim; i++)
        ok = t->shape[i] == wdims[i];
    if (ok)
        return 0;
    fmt_dims(got, sizeof got, t->shape, t->ndim);
    fmt_dims(want, sizeof want, wdims, mt->ndim);
    if (starts_with(mt->name, "classifier."))
        return err_set(ERR_INVAL, "%s: tensor '%s': shape %s, expected %s: the checkpoint's "
                       "classifier has another number of labels than the task's %d (a model "
                       "fine-tuned for another task; remove its classifier to start a new one)",
                       safetensors_label(st), t->name, got, want, s->labels);
    return err_set(ERR_INVAL, "%s: tensor '%s': shape %s, expected %s from config.json "
                   "(hidden_size %d, intermediate_size %d, vocab_size %d, "
                   "max_position_embeddings %d, type_vocab_size %d)",
                   safetensors_label(st), t->name, got, want, s->hidden, s->intermediate,
                   s->vocab, s->positions, s->type_vocab);
}

static int read_tensor(const safetensors_t *st, const safetensors_tensor_t *t, model_tensor_t *mt)
{
    int rc;

    switch (t->dtype) {
    case SAFETENSORS_F32:
    case SAFETENSORS_F16:
    case SAFETENSORS_BF16:
    case SAFETENSORS_F64:
        break;
    default:
        return err_set(ERR_UNSUPPORTED, "%s: tensor '%s': dtype %s; expected a floating-point "
                       "type (F32, F16, BF16 or F64)", safetensors_label(st), t->name,
                       safetensors_dtype_name(t->dtype));
    }
    rc = safetensors_read_f32(st, t, mt->data, mt->count);
    if (rc != 0)
        return rc;
    /* A NaN or infinity in a weight would only show up later as a non-finite training loss,
     * far from its cause. */
    for (size_t i = 0; i < mt->count; i++)
        if (!isfinite(mt->data[i]))
            return err_set(ERR_NUMERIC, "%s: tensor '%s': element %zu is %g; weights must be "
                           "finite", safetensors_label(st), t->name, i, (double)mt->data[i]);
    return 0;
}

/* Tells a tensor of a layer past the model's depth from an unknown sub-module. */
static int unknown_tensor(const model_t *m, const safetensors_t *st, const char *name,
                          const char *canon)
{
    int layer;

    if (sscanf(canon, "encoder.layer.%d.", &layer) == 1 && layer >= model_opts(m)->shape.layers)
        return err_set(ERR_INVAL, "%s: tensor '%s': layer %d, but config.json has "
                       "num_hidden_layers %d", safetensors_label(st), name, layer,
                       model_opts(m)->shape.layers);
    return err_set(ERR_INVAL, "%s: tensor '%s': not a tensor of a BERT encoder (unknown name "
                   "under embeddings, encoder, pooler or classifier); the checkpoint is not "
                   "a model this engine can run", safetensors_label(st), name);
}

int checkpoint_fill(model_t *m, const safetensors_t *st, checkpoint_info_t *info)
{
    checkpoint_info_t local;
    char canon[MODEL_NAME_MAX], first[MODEL_NAME_MAX] = "";
    int missing = 0, rc;

    if (!info)
        info = &local;
    memset(info, 0, sizeof *info);
    for (size_t i = 0; i < safetensors_count(st); i++) {
        const safetensors_tensor_t *t = safetensors_at(st, i);
        model_tensor_t *mt;
        bool prefixed, legacy;

        if (!canonical_name(t->name, canon, sizeof canon, &prefixed, &legacy)) {
            if (is_encoder_name(t->name + (starts_with(t->name, "bert.") ? 5 : 0)))
                return unknown_tensor(m, st, t->name, t->name);
            info->ignored++;
            continue;
        }
        if (is_ignored(canon)) {
            info->ignored++;
            continue;
        }
        mt = model_find(m, canon);
        if (!mt) {
            if (is_encoder_name(canon))
                return unknown_tensor(m, st, t->name, canon);
            log_warn("%s: tensor '%s' is not part of a BERT sequence classifier; ignored",
                     safetensors_label(st), t->name);
            info->ignored++;
            continue;
        }
        if (mt->loaded)
            return err_set(ERR_INVAL, "%s: tensor '%s': '%s' was already read under another "
                           "name (with and without \"bert.\", or gamma/beta and weight/bias)",
                           safetensors_label(st), t->name, canon);
        if ((rc = check_shape(m, st, t, mt)) != 0 || (rc = read_tensor(st, t, mt)) != 0)
            return rc;
        mt->loaded = true;
        info->loaded++;
        info->prefixed += prefixed;
        info->legacy += legacy;
    }
    for (int i = 0; i < model_tensor_count(m); i++) {
        const model_tensor_t *mt = model_tensor(m, i);

        if (mt->loaded || starts_with(mt->name, "pooler.") || starts_with(mt->name, "classifier."))
            continue;
        if (!missing++)
            snprintf(first, sizeof first, "%s", mt->name);
    }
    if (missing) {
        char more[64] = "";
        if (missing > 1)
            snprintf(more, sizeof more, " (and %d more)", missing - 1);
        return err_set(ERR_NOTFOUND, "%s: tensor '%s' (or 'bert.%s') is missing%s: the "
                       "checkpoint lacks part of the encoder that config.json describes",
                       safetensors_label(st), first, first, more);
    }
    return 0;
}

static int path_in(char *buf, size_t len, const char *dir, const char *file)
{
    if ((size_t)snprintf(buf, len, "%s/%s", dir, file) >= len)
        return err_set(ERR_RANGE, "%.64s...: path too long", dir);
    return 0;
}

int checkpoint_init_missing(model_t *m, uint64_t seed)
{
    int n = model_init_missing(m, seed);

    for (int i = 0; i < model_tensor_count(m) && n > 0; i++)
        if (!model_tensor(m, i)->loaded)
            log_debug("model: %s not in the checkpoint, initialised", model_tensor(m, i)->name);
    return n;
}

int checkpoint_load(const char *dir, int labels, uint64_t seed, unsigned flags, model_t **out,
                    checkpoint_info_t *info)
{
    char path[CHECKPOINT_PATH_MAX + 32];
    checkpoint_info_t local;
    hfconfig_t *cfg = NULL;
    safetensors_t *st = NULL;
    model_opts_t o;
    model_t *m = NULL;
    int rc;

    *out = NULL;
    if (!info)
        info = &local;
    if ((rc = path_in(path, sizeof path, dir, "config.json")) != 0 ||
        (rc = hfconfig_load(path, &cfg)) != 0)
        goto out;
    checkpoint_opts_from_config(cfg, labels, &o);
    m = model_new(&o);
    if (!m) {
        rc = err_prefix(err_code() ? err_code() : ERR_NOMEM, "%s: ", path);
        goto out;
    }
    if ((rc = path_in(path, sizeof path, dir, "model.safetensors")) != 0)
        goto out;
    if (access(path, F_OK) != 0) {
        char alt[CHECKPOINT_PATH_MAX + 32];
        bool bin = path_in(alt, sizeof alt, dir, "pytorch_model.bin") == 0 &&
                   access(alt, F_OK) == 0;
        rc = err_set(ERR_IO, "%s: %s%s", path, strerror(errno),
                     bin ? " (the folder has pytorch_model.bin: only safetensors is read; "
                           "save the model with save_pretrained(..., safe_serialization=True))"
                         : "");
        goto out;
    }
    if ((rc = safetensors_open(path, &st)) != 0 || (rc = checkpoint_fill(m, st, info)) != 0)
        goto out;
    info->initialised = checkpoint_init_missing(m, seed);
    if (info->initialised) {
        size_t off = 0;
        for (int i = 0; i < model_tensor_count(m) && off < sizeof info->initialised_names; i++) {
            const model_tensor_t *mt = model_tensor(m, i);
            if (!mt->loaded)
                off += (size_t)snprintf(info->initialised_names + off,
                                        sizeof info->initialised_names - off, "%s%s",
                                        off ? ", " : "", mt->name);
        }
        log_at(flags & CHECKPOINT_QUIET_HEAD ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN,
               "%s: no %s in the checkpoint; initialised at random (N(0, %g)) as Hugging Face "
               "does: the task head starts untrained", path, info->initialised_names,
               (double)o.initializer_range);
    }
    log_debug("%s: %d tensors loaded (%d with \"bert.\", %d legacy names), %d ignored, %d "
              "initialised", path, info->loaded, info->prefixed, info->legacy, info->ignored,
              info->initialised);
    *out = m;
    m = NULL;
out:
    safetensors_free(&st);
    hfconfig_free(&cfg);
    model_free(&m);
    return rc;
}

int checkpoint_load_vocab(const char *dir, int model_vocab, vocab_t **vocab,
                          tokenizer_options_t *opts)
{
    char path[CHECKPOINT_PATH_MAX + 32];
    vocab_t *v = NULL;
    int rc;

    *vocab = NULL;
    tokenizer_options_default(opts);
    if ((rc = path_in(path, sizeof path, dir, "vocab.txt")) != 0 ||
        (rc = vocab_load(path, &v)) != 0)
        return rc;
    if (model_vocab > 0 && vocab_size(v) > model_vocab) {
        rc = err_set(ERR_INVAL, "%s: %d tokens, but the model's word embeddings have %d rows "
                     "(vocab_size in config.json): ids past %d would have no embedding", path,
                     vocab_size(v), model_vocab, model_vocab - 1);
        goto out;
    }
    if ((rc = path_in(path, sizeof path, dir, "tokenizer_config.json")) != 0)
        goto out;
    if (access(path, F_OK) == 0 && (rc = tokenizer_config_load(path, v, opts)) != 0)
        goto out;
    *vocab = v;
    v = NULL;
out:
    vocab_free(&v);
    return rc;
}

int checkpoint_write(const char *dir, model_t *m, const hfconfig_t *cfg, unsigned flags)
{
    char path[CHECKPOINT_PATH_MAX + 32];
    int n = model_tensor_count(m), k = 0, rc;
    safetensors_entry_t *e = mem_alloc((size_t)n, sizeof *e, "tensor list");
    uint64_t(*dims)[2] = mem_alloc((size_t)n, sizeof *dims, "tensor shapes");
    char(*names)[MODEL_NAME_MAX + 8] = mem_alloc((size_t)n, sizeof *names, "tensor names");
    const char *const meta[] = {"format", "pt", NULL};
    shape_t ms = model_opts(m)->shape, cs = cfg->shape;

    if (!e || !dims || !names) {
        rc = ERR_NOMEM;
        goto out;
    }
    if (memcmp(&ms, &cs, sizeof ms) != 0) {
        rc = err_set(ERR_INVAL, "%s: the configuration's shape is not the model's", dir);
        goto out;
    }
    if ((rc = file_mkdirs(dir)) != 0 || (rc = path_in(path, sizeof path, dir, "config.json")) != 0 ||
        (rc = hfconfig_write(cfg, path)) != 0)
        goto out;
    for (int i = 0; i < n; i++) {
        const model_tensor_t *t = model_tensor(m, i);
        bool cls = starts_with(t->name, "classifier.");

        if ((cls && !(flags & CHECKPOINT_WRITE_CLASSIFIER)) ||
            (starts_with(t->name, "pooler.") && (flags & CHECKPOINT_WRITE_NO_POOLER)))
            continue;
        snprintf(names[k], sizeof names[k], "%s%s", cls ? "" : "bert.", t->name);
        dims[k][0] = (uint64_t)t->dims[0];
        dims[k][1] = (uint64_t)t->dims[1];
        e[k] = (safetensors_entry_t){names[k], SAFETENSORS_F32, t->ndim, dims[k], t->data};
        k++;
    }
    if ((rc = path_in(path, sizeof path, dir, "model.safetensors")) != 0)
        goto out;
    rc = safetensors_write(path, e, (size_t)k, meta);
out:
    free(e);
    free(dims);
    free(names);
    return rc;
}

int checkpoint_write_tokenizer_config(const char *dir, bool lower_case, int positions)
{
    char path[CHECKPOINT_PATH_MAX + 32];
    json_t *o = json_pack("{s:s, s:b, s:i}", "tokenizer_class", "BertTokenizer",
                          "do_lower_case", lower_case, "model_max_length", positions);
    int rc;

    if (!o)
        return err_set(ERR_NOMEM, "%s: cannot build tokenizer_config.json", dir);
    if ((rc = path_in(path, sizeof path, dir, "tokenizer_config.json")) == 0 &&
        json_dump_file(o, path, JSON_INDENT(2)) != 0)
        rc = err_set(ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    json_decref(o);
    return rc;
}
