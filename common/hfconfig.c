#include "common/hfconfig.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mem.h"

/* Defaults of transformers' BertConfig, used where config.json omits a key (as transformers
 * does). */
#define DEF_VOCAB 30522
#define DEF_HIDDEN 768
#define DEF_LAYERS 12
#define DEF_HEADS 12
#define DEF_INTERMEDIATE 3072
#define DEF_DROPOUT 0.1
#define DEF_POSITIONS 512
#define DEF_TYPE_VOCAB 2
#define DEF_INIT_RANGE 0.02
#define DEF_EPS 1e-12

/* Model types we are asked for and cannot run, with the reason, so that the refusal teaches
 * something instead of just saying no. */
static const struct {
    const char *type;
    const char *why;
} refused[] = {
    {"roberta", "RoBERTa offsets position ids by padding_idx + 1, has one token type and uses a "
                "byte-level BPE tokenizer; none of that is implemented"},
    {"xlm-roberta", "XLM-R offsets position ids by padding_idx + 1 and uses a SentencePiece "
                    "tokenizer; neither is implemented"},
    {"camembert", "CamemBERT is RoBERTa-shaped (offset position ids, SentencePiece tokenizer)"},
    {"distilbert", "DistilBERT uses other key and tensor names and has no token types"},
    {"albert", "ALBERT factorises the embeddings and shares weights across layers"},
    {"electra", "ELECTRA projects embeddings of another width into the encoder"},
    {"deberta", "DeBERTa uses disentangled relative attention"},
    {"deberta-v2", "DeBERTa uses disentangled relative attention"},
    {"mpnet", "MPNet uses relative position buckets"},
};

static int bad(const char *label, int code, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int bad(const char *label, int code, const char *key, const char *fmt, ...)
{
    char msg[700];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(code, "%s: \"%s\": %s", label, key, msg);
}

/* An integer key in [min, max], or def when absent. */
static int get_int(json_t *root, const char *label, const char *key, long min, long max, long def,
                   int *out)
{
    json_t *v = json_object_get(root, key);
    json_int_t x;

    if (!v) {
        *out = (int)def;
        return 0;
    }
    if (!json_is_integer(v))
        return bad(label, ERR_PARSE, key, "expected an integer");
    x = json_integer_value(v);
    if (x < min || x > max)
        return bad(label, x < min ? ERR_INVAL : ERR_RANGE, key,
                   "%lld is outside [%ld, %ld]", (long long)x, min, max);
    *out = (int)x;
    return 0;
}

/* A number key in [min, max) (max_incl: closed), or def when absent (or null if null_ok). */
static int get_num(json_t *root, const char *label, const char *key, double min, double max,
                   bool max_incl, double def, bool null_ok, double *out)
{
    json_t *v = json_object_get(root, key);
    double x;

    if (!v || (null_ok && json_is_null(v))) {
        *out = def;
        return 0;
    }
    if (!json_is_number(v))
        return bad(label, ERR_PARSE, key, "expected a number%s", null_ok ? " or null" : "");
    x = json_number_value(v);
    if (!(x >= min) || !(max_incl ? x <= max : x < max))
        return bad(label, ERR_INVAL, key, "%g is outside [%g, %g%c", x, min, max,
                   max_incl ? ']' : ')');
    *out = x;
    return 0;
}

static int get_bool_false(json_t *root, const char *label, const char *key, const char *why)
{
    json_t *v = json_object_get(root, key);

    if (!v || json_is_false(v) || json_is_null(v))
        return 0;
    if (!json_is_true(v))
        return bad(label, ERR_PARSE, key, "expected true or false");
    return bad(label, ERR_UNSUPPORTED, key, "true is not supported: %s", why);
}

static int check_model_type(json_t *root, const char *label)
{
    json_t *mt = json_object_get(root, "model_type");
    json_t *arch = json_object_get(root, "architectures"), *a;
    size_t i;

    if (mt) {
        const char *t = json_string_value(mt);

        if (!t)
            return bad(label, ERR_PARSE, "model_type", "expected a string");
        if (strcmp(t, "bert") == 0)
            return 0;
        for (i = 0; i < sizeof refused / sizeof refused[0]; i++)
            if (strcmp(t, refused[i].type) == 0)
                return bad(label, ERR_UNSUPPORTED, "model_type", "'%s' is not supported: %s", t,
                           refused[i].why);
        return bad(label, ERR_UNSUPPORTED, "model_type",
                   "'%.64s' is not supported (only 'bert': post-LayerNorm encoder, absolute "
                   "positions, WordPiece)", t);
    }
    /* Old checkpoints (Google's bert_config.json) carry no model_type; accept them when every
     * listed architecture is a BERT one, as AutoConfig would by name. */
    if (!json_is_array(arch) || json_array_size(arch) == 0)
        return bad(label, ERR_INVAL, "model_type",
                   "missing, and no \"architectures\" to tell the model; add \"model_type\": "
                   "\"bert\" if this is a BERT checkpoint");
    json_array_foreach(arch, i, a) {
        const char *name = json_string_value(a);
        if (!name || strncmp(name, "Bert", 4) != 0)
            return bad(label, ERR_UNSUPPORTED, "model_type",
                       "missing, and architecture '%.64s' is not a BERT one",
                       name ? name : "(not a string)");
    }
    return 0;
}

static int check_activation(json_t *root, const char *label)
{
    json_t *v = json_object_get(root, "hidden_act");
    const char *act;

    if (!v)
        return 0; /* BertConfig's default is "gelu" */
    if (!(act = json_string_value(v)))
        return bad(label, ERR_PARSE, "hidden_act", "expected a string");
    if (strcmp(act, "gelu") == 0)
        return 0;
    if (strcmp(act, "gelu_new") == 0 || strcmp(act, "gelu_pytorch_tanh") == 0 ||
        strcmp(act, "gelu_fast") == 0 || strcmp(act, "quick_gelu") == 0 ||
        strcmp(act, "gelu_accurate") == 0)
        return bad(label, ERR_UNSUPPORTED, "hidden_act",
                   "'%s' is an approximation of GELU (tanh or sigmoid); the engine computes "
                   "exact erf GELU ('gelu') only, and running this model with it would change "
                   "its outputs", act);
    return bad(label, ERR_UNSUPPORTED, "hidden_act",
               "'%.64s' is not supported; the engine implements 'gelu' (exact erf) only", act);
}

static int set_default_labels(hfconfig_t *c)
{
    c->label_names = mem_alloc((size_t)c->shape.labels, sizeof *c->label_names, "label names");
    if (!c->label_names)
        return ERR_NOMEM;
    for (int i = 0; i < c->shape.labels; i++) {
        char name[32];
        snprintf(name, sizeof name, "LABEL_%d", i);
        if (!(c->label_names[i] = mem_strdup(name)))
            return ERR_NOMEM;
    }
    return 0;
}

/* num_labels, id2label, label2id, problem_type. */
static int read_labels(json_t *root, const char *label, hfconfig_t *c)
{
    json_t *id2label = json_object_get(root, "id2label");
    json_t *label2id = json_object_get(root, "label2id");
    json_t *pt = json_object_get(root, "problem_type");
    json_t *v;
    const char *key;
    int num = 0, rc;
    bool have_num = json_object_get(root, "num_labels") != NULL;

    if ((rc = get_int(root, label, "num_labels", 1, SHAPE_MAX_LABELS, 2, &num)) != 0)
        return rc;
    if (id2label && !json_is_object(id2label))
        return bad(label, ERR_PARSE, "id2label", "expected an object of \"index\": \"name\"");
    if (label2id && !json_is_object(label2id))
        return bad(label, ERR_PARSE, "label2id", "expected an object of \"name\": index");
    if (id2label) {
        size_t n = json_object_size(id2label);

        if (n < 1 || n > SHAPE_MAX_LABELS)
            return bad(label, n ? ERR_RANGE : ERR_INVAL, "id2label", "%zu labels (1..%d allowed)",
                       n, SHAPE_MAX_LABELS);
        if (have_num && (size_t)num != n)
            return bad(label, ERR_INVAL, "id2label", "has %zu labels but \"num_labels\" is %d",
                       n, num);
        num = (int)n;
    }
    c->shape.labels = num;
    if (pt && !json_is_null(pt)) {
        const char *t = json_string_value(pt);

        if (!t)
            return bad(label, ERR_PARSE, "problem_type", "expected a string or null");
        if (strcmp(t, "regression") == 0) {
            if (num != 1)
                return bad(label, ERR_UNSUPPORTED, "problem_type",
                           "regression with %d outputs; only single-output regression "
                           "(num_labels 1) is supported", num);
        } else if (strcmp(t, "multi_label_classification") == 0) {
            return bad(label, ERR_UNSUPPORTED, "problem_type",
                       "multi-label classification (sigmoid + BCE) is not supported");
        } else if (strcmp(t, "single_label_classification") != 0) {
            return bad(label, ERR_INVAL, "problem_type",
                       "'%.64s' is not one of regression, single_label_classification, "
                       "multi_label_classification", t);
        } else if (num == 1) {
            return bad(label, ERR_INVAL, "problem_type",
                       "single_label_classification needs at least 2 labels");
        }
    }
    c->regression = num == 1;
    if ((rc = set_default_labels(c)) != 0)
        return rc;
    if (!id2label)
        return 0;
    json_object_foreach(id2label, key, v) {
        char *end;
        long idx;

        errno = 0;
        idx = strtol(key, &end, 10);
        if (!*key || *end || errno || idx < 0 || idx >= num)
            return bad(label, ERR_INVAL, "id2label", "key '%.32s' is not an index in [0, %d)",
                       key, num);
        if (!json_is_string(v) || strlen(json_string_value(v)) > HFCONFIG_MAX_LABEL_NAME)
            return bad(label, ERR_PARSE, "id2label",
                       "the name of label %ld is not a string of at most %d bytes", idx,
                       HFCONFIG_MAX_LABEL_NAME);
        free(c->label_names[idx]);
        if (!(c->label_names[idx] = mem_strdup(json_string_value(v))))
            return ERR_NOMEM;
    }
    /* A duplicate index ("0" and "00") would leave a gap; JSON_REJECT_DUPLICATES cannot see it. */
    for (int i = 0; i < num; i++) {
        char want[32];
        snprintf(want, sizeof want, "%d", i);
        if (!json_object_get(id2label, want))
            return bad(label, ERR_INVAL, "id2label", "label %d is missing", i);
    }
    return 0;
}

static int read_shape(json_t *root, const char *label, hfconfig_t *c)
{
    shape_t *s = &c->shape;
    json_t *v;
    int rc;

    if ((rc = get_int(root, label, "vocab_size", 1, SHAPE_MAX_VOCAB, DEF_VOCAB, &s->vocab)) ||
        (rc = get_int(root, label, "hidden_size", 1, SHAPE_MAX_HIDDEN, DEF_HIDDEN, &s->hidden)) ||
        (rc = get_int(root, label, "num_hidden_layers", 1, SHAPE_MAX_LAYERS, DEF_LAYERS,
                      &s->layers)) ||
        (rc = get_int(root, label, "num_attention_heads", 1, SHAPE_MAX_HIDDEN, DEF_HEADS,
                      &s->heads)) ||
        (rc = get_int(root, label, "intermediate_size", 1, SHAPE_MAX_INTERMEDIATE,
                      DEF_INTERMEDIATE, &s->intermediate)) ||
        (rc = get_int(root, label, "max_position_embeddings", 1, SHAPE_MAX_POSITIONS,
                      DEF_POSITIONS, &s->positions)) ||
        (rc = get_int(root, label, "type_vocab_size", 1, SHAPE_MAX_TYPE_VOCAB, DEF_TYPE_VOCAB,
                      &s->type_vocab)))
        return rc;
    if (s->hidden % s->heads != 0)
        return bad(label, ERR_INVAL, "num_attention_heads",
                   "%d does not divide hidden_size %d", s->heads, s->hidden);
    v = json_object_get(root, "embedding_size");
    if (v && !(json_is_integer(v) && json_integer_value(v) == s->hidden))
        return bad(label, ERR_UNSUPPORTED, "embedding_size",
                   "embeddings of another width than hidden_size need a projection BERT "
                   "does not have");
    return 0;
}

int hfconfig_parse(const char *text, size_t len, const char *label, hfconfig_t **out)
{
    json_error_t jerr;
    json_t *root = NULL, *v;
    hfconfig_t *c = NULL;
    int rc;

    *out = NULL;
    if (len > HFCONFIG_MAX_BYTES)
        return err_set(ERR_RANGE, "%s: %zu bytes, over the limit of %d for a config.json", label,
                       len, HFCONFIG_MAX_BYTES);
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return err_set(ERR_PARSE, "%s: line %d, column %d: %s", label, jerr.line, jerr.column,
                       jerr.text);
    if (!json_is_object(root)) {
        rc = err_set(ERR_PARSE, "%s: expected a JSON object", label);
        goto out;
    }
    c = mem_alloc(1, sizeof *c, "model config");
    if (!c) {
        rc = ERR_NOMEM;
        goto out;
    }
    if ((rc = check_model_type(root, label)) || (rc = read_shape(root, label, c)) ||
        (rc = check_activation(root, label)) ||
        (rc = get_num(root, label, "layer_norm_eps", 1e-30, 1, false, DEF_EPS, false,
                      &c->layer_norm_eps)) ||
        (rc = get_num(root, label, "hidden_dropout_prob", 0, 1, false, DEF_DROPOUT, false,
                      &c->hidden_dropout)) ||
        (rc = get_num(root, label, "attention_probs_dropout_prob", 0, 1, false, DEF_DROPOUT,
                      false, &c->attention_dropout)) ||
        (rc = get_num(root, label, "classifier_dropout", 0, 1, false, c->hidden_dropout, true,
                      &c->classifier_dropout)) ||
        (rc = get_num(root, label, "initializer_range", 0, 1, true, DEF_INIT_RANGE, false,
                      &c->initializer_range)) ||
        (rc = get_bool_false(root, label, "is_decoder", "the engine is an encoder")) ||
        (rc = get_bool_false(root, label, "add_cross_attention", "the engine is an encoder")) ||
        (rc = read_labels(root, label, c)))
        goto out;
    v = json_object_get(root, "position_embedding_type");
    if (v && !(json_is_string(v) && strcmp(json_string_value(v), "absolute") == 0)) {
        rc = bad(label, ERR_UNSUPPORTED, "position_embedding_type",
                 "only \"absolute\" is supported (relative_key and relative_key_query add "
                 "distance embeddings to attention)");
        goto out;
    }
    v = json_object_get(root, "pad_token_id");
    if (!v || json_is_null(v)) {
        c->pad_token_id = v ? -1 : 0;
    } else if ((rc = get_int(root, label, "pad_token_id", 0, c->shape.vocab - 1, 0,
                             &c->pad_token_id)) != 0) {
        goto out;
    }
    *out = c;
    c = NULL;
    rc = 0;
out:
    hfconfig_free(&c);
    json_decref(root);
    return rc;
}

int hfconfig_load(const char *path, hfconfig_t **out)
{
    FILE *f;
    char *buf = NULL;
    size_t n;
    int rc;

    *out = NULL;
    f = fopen(path, "rb");
    if (!f)
        return err_set(ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    buf = mem_alloc(HFCONFIG_MAX_BYTES + 1, 1, "config.json");
    if (!buf) {
        fclose(f);
        return ERR_NOMEM;
    }
    n = fread(buf, 1, HFCONFIG_MAX_BYTES + 1, f);
    if (ferror(f)) {
        rc = err_set(ERR_IO, "%s: read failed: %s", path, strerror(errno));
    } else if (n > HFCONFIG_MAX_BYTES) {
        rc = err_set(ERR_RANGE, "%s: larger than %d bytes; not a config.json", path,
                     HFCONFIG_MAX_BYTES);
    } else {
        rc = hfconfig_parse(buf, n, path, out);
    }
    fclose(f);
    free(buf);
    return rc;
}

int hfconfig_shape(const char *dir, int labels, shape_t *out)
{
    char path[4096 + 16];
    hfconfig_t *c = NULL;
    int rc;

    if (strlen(dir) > 4096)
        return err_set(ERR_RANGE, "%.64s...: model folder path too long", dir);
    snprintf(path, sizeof path, "%s/config.json", dir);
    if ((rc = hfconfig_load(path, &c)) != 0)
        return rc;
    c->shape.labels = labels;
    rc = shape_check(&c->shape);
    if (rc == 0)
        *out = c->shape;
    else
        err_prefix(rc, "%s: ", path);
    hfconfig_free(&c);
    return rc;
}

void hfconfig_free(hfconfig_t **cp)
{
    hfconfig_t *c;

    if (!cp || !*cp)
        return;
    c = *cp;
    if (c->label_names)
        for (int i = 0; i < c->shape.labels; i++)
            free(c->label_names[i]);
    free(c->label_names);
    free(c);
    *cp = NULL;
}

int hfconfig_new(const shape_t *shape, hfconfig_t **out)
{
    hfconfig_t *c;
    int rc;

    *out = NULL;
    if (shape->hidden < 1 || shape->hidden > SHAPE_MAX_HIDDEN || shape->layers < 1 ||
        shape->layers > SHAPE_MAX_LAYERS || shape->heads < 1 || shape->hidden % shape->heads ||
        shape->intermediate < 1 || shape->intermediate > SHAPE_MAX_INTERMEDIATE ||
        shape->vocab < 1 || shape->vocab > SHAPE_MAX_VOCAB || shape->positions < 1 ||
        shape->positions > SHAPE_MAX_POSITIONS || shape->type_vocab < 1 ||
        shape->type_vocab > SHAPE_MAX_TYPE_VOCAB || shape->labels < 1 ||
        shape->labels > SHAPE_MAX_LABELS)
        return err_set(ERR_INVAL, "model shape out of range (hidden %d, layers %d, heads %d, "
                       "intermediate %d, vocab %d, positions %d, types %d, labels %d)",
                       shape->hidden, shape->layers, shape->heads, shape->intermediate,
                       shape->vocab, shape->positions, shape->type_vocab, shape->labels);
    c = mem_alloc(1, sizeof *c, "model config");
    if (!c)
        return ERR_NOMEM;
    c->shape = *shape;
    c->layer_norm_eps = DEF_EPS;
    c->hidden_dropout = c->attention_dropout = c->classifier_dropout = DEF_DROPOUT;
    c->initializer_range = DEF_INIT_RANGE;
    c->regression = shape->labels == 1;
    if ((rc = set_default_labels(c)) != 0) {
        hfconfig_free(&c);
        return rc;
    }
    *out = c;
    return 0;
}

int hfconfig_write(const hfconfig_t *c, const char *path)
{
    json_t *root = json_object(), *id2label = json_object(), *label2id = json_object();
    int rc = 0;

    if (!root || !id2label || !label2id) {
        rc = err_set(ERR_NOMEM, "%s: cannot build the config", path);
        goto out;
    }
    for (int i = 0; i < c->shape.labels; i++) {
        char idx[32];
        snprintf(idx, sizeof idx, "%d", i);
        json_object_set_new(id2label, idx, json_string(c->label_names[i]));
        json_object_set_new(label2id, c->label_names[i], json_integer(i));
    }
    json_object_set_new(root, "architectures",
                        json_pack("[s]", "BertForSequenceClassification"));
    json_object_set_new(root, "model_type", json_string("bert"));
    json_object_set_new(root, "vocab_size", json_integer(c->shape.vocab));
    json_object_set_new(root, "hidden_size", json_integer(c->shape.hidden));
    json_object_set_new(root, "num_hidden_layers", json_integer(c->shape.layers));
    json_object_set_new(root, "num_attention_heads", json_integer(c->shape.heads));
    json_object_set_new(root, "intermediate_size", json_integer(c->shape.intermediate));
    json_object_set_new(root, "hidden_act", json_string("gelu"));
    json_object_set_new(root, "hidden_dropout_prob", json_real(c->hidden_dropout));
    json_object_set_new(root, "attention_probs_dropout_prob", json_real(c->attention_dropout));
    json_object_set_new(root, "classifier_dropout", json_real(c->classifier_dropout));
    json_object_set_new(root, "max_position_embeddings", json_integer(c->shape.positions));
    json_object_set_new(root, "type_vocab_size", json_integer(c->shape.type_vocab));
    json_object_set_new(root, "initializer_range", json_real(c->initializer_range));
    json_object_set_new(root, "layer_norm_eps", json_real(c->layer_norm_eps));
    json_object_set_new(root, "pad_token_id",
                        c->pad_token_id < 0 ? json_null() : json_integer(c->pad_token_id));
    json_object_set_new(root, "position_embedding_type", json_string("absolute"));
    if (c->regression)
        json_object_set_new(root, "problem_type", json_string("regression"));
    json_object_set_new(root, "id2label", id2label);
    json_object_set_new(root, "label2id", label2id);
    id2label = label2id = NULL;
    /* JSON_REAL_PRECISION(17) makes every double read back to the same value. */
    if (json_dump_file(root, path, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) != 0)
        rc = err_set(ERR_IO, "%s: cannot write: %s", path, strerror(errno));
out:
    json_decref(id2label);
    json_decref(label2id);
    json_decref(root);
    return rc;
}
