/* The trial runner's inputs, through the worker's cache (trial_int.h): the task's files, the
 * vocabulary, the tokenised splits and the checkpoint. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/hfconfig.h"
#include "common/log.h"
#include "common/mem.h"
#include "worker/inputs/checkpoint.h"
#include "worker/inputs/embedded.h"
#include "worker/trial/trial_int.h"

/* ---- cached objects ------------------------------------------------------------------------ */

typedef struct {
    vocab_t *vocab;
    tokenizer_options_t opts;
} vocab_entry_t;

static void free_vocab_entry(void *p)
{
    vocab_entry_t *v = p;

    vocab_free(&v->vocab);
    free(v);
}

static void free_model_entry(void *p)
{
    trial__model_t *m = p;

    model_free(&m->model);
    free(m);
}

static void free_values(char **values, int n)
{
    for (int i = 0; values && i < n; i++)
        free(values[i]);
    free(values);
}

static void free_data_entry(void *p)
{
    trial__data_t *d = p;

    tokset_free(&d->set);
    free_values(d->values, d->nvalues);
    free(d);
}

/* ---- the task ----------------------------------------------------------------------------- */

typedef struct {
    const data_task_t *glue;     /* NULL: custom */
    data_spec_t spec;            /* custom */
    char train[4096], dev[4096];
    const embedded_task_t *emb;  /* the embedded default task (glue is its SST-2 layout) */
    uint64_t emb_seed;
} task_files_t;

static bool is_file(const char *path)
{
    return access(path, R_OK) == 0;
}

/* The files of the task; without need_train (evaluating a saved trial) a dev file alone is
 * enough. */
static int resolve_files(const trial_spec_t *s, bool need_train, task_files_t *t)
{
    memset(t, 0, sizeof *t);
    if (s->task_embedded)
        return 0;   /* trial__load fills in the generated task */
    if (s->task && strcmp(s->task, "custom") != 0) {
        int rc = data_task_find(s->task, &t->glue);
        if (rc != 0)
            return err_prefix(rc, "task '%s': ", s->task);
    }
    if (s->train_file || s->dev_file) {
        if (!s->dev_file || (need_train && !s->train_file))
            return err_set(ERR_INVAL, "give both a train file and a dev file (or a data "
                           "folder)");
        snprintf(t->train, sizeof t->train, "%s", s->train_file ? s->train_file : s->dev_file);
        snprintf(t->dev, sizeof t->dev, "%s", s->dev_file);
    } else if (s->data_dir && t->glue) {
        /* The GLUE root (DIR/SST-2/train.tsv) or the task's own folder (DIR/train.tsv). */
        if (data_task_path(t->glue, s->data_dir, DATA_TRAIN, t->train, sizeof t->train) != 0 ||
            data_task_path(t->glue, s->data_dir, DATA_DEV, t->dev, sizeof t->dev) != 0)
            return err_set(ERR_RANGE, "%s: path too long", s->data_dir);
        if (!is_file(t->train)) {
            snprintf(t->train, sizeof t->train, "%s/%s", s->data_dir, t->glue->train_file);
            snprintf(t->dev, sizeof t->dev, "%s/%s", s->data_dir, t->glue->dev_file);
            if (!is_file(t->train))
                return err_set(ERR_IO, "%s: neither %s/%s/%s nor %s exists", s->data_dir,
                               s->data_dir, t->glue->folder, t->glue->train_file, t->train);
        }
    } else if (s->data_dir) {
        const char *ext = s->format ? s->format : "tsv";
        snprintf(t->train, sizeof t->train, "%s/train.%s", s->data_dir, ext);
        snprintf(t->dev, sizeof t->dev, "%s/dev.%s", s->data_dir, ext);
    } else {
        return err_set(ERR_INVAL, "no data: give a data folder or train and dev files");
    }
    if (t->glue)
        return 0;
    /* The user's own files: columns by name. */
    if (!s->text_column || !s->label_column)
        return err_set(ERR_INVAL, "a custom task needs the text and label columns (or a GLUE "
                       "task name: cola, sst2, mrpc, stsb, qqp, mnli, qnli, rte, wnli)");
    if (s->format) {
        if (strcmp(s->format, "tsv") == 0)
            t->spec.format = TABLE_TSV;
        else if (strcmp(s->format, "csv") == 0)
            t->spec.format = TABLE_CSV;
        else if (strcmp(s->format, "jsonl") == 0 || strcmp(s->format, "json") == 0)
            t->spec.format = TABLE_JSONL;
        else
            return err_set(ERR_INVAL, "format '%s': expected tsv, csv or jsonl", s->format);
    } else if (table_format_for_path(t->train, &t->spec.format) != 0) {
        return err_prefix(err_code(), "give the format: ");
    }
    t->spec.text = s->text_column;
    t->spec.pair = s->pair_column;
    t->spec.label = s->label_column;
    t->spec.regression = s->num_labels == 1;
    return 0;
}

/* ---- the pieces --------------------------------------------------------------------------- */

static int load_vocab(trialcache_t *c, const char *dir, int model_vocab, vocab_entry_t **out,
                      char *key_out, size_t key_len)
{
    char key[TRIALCACHE_KEY_MAX] = "vocab|", path[4200];
    vocab_entry_t *v;
    int rc;

    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    if ((rc = trialcache_key_file(key, sizeof key, path)) != 0)
        return rc;
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    if (is_file(path) && (rc = trialcache_key_file(key, sizeof key, path)) != 0)
        return rc;
    if ((rc = trialcache_key_add(key, sizeof key, "|%d", model_vocab)) != 0)
        return rc;
    snprintf(key_out, key_len, "%s", key);
    if ((*out = trialcache_get(c, TRIALCACHE_VOCAB, key)) != NULL)
        return 0;
    v = mem_alloc(1, sizeof *v, "vocabulary");
    if (!v)
        return ERR_NOMEM;
    if ((rc = checkpoint_load_vocab(dir, model_vocab, &v->vocab, &v->opts)) != 0) {
        free(v);
        return rc;
    }
    if ((rc = trialcache_put(c, TRIALCACHE_VOCAB, key, v, 0, free_vocab_entry)) != 0)
        return rc;
    *out = v;
    return 0;
}

/* How a trial's splits are tokenised: with which vocabulary (and its cache key), to what
 * length, on how many threads. */
typedef struct {
    const char *vocab_key;
    const vocab_entry_t *vocab;
    int max_length, threads;
} tokenise_t;

/* One split, tokenised. values: the class values it must use (custom dev files: the train
 * file's), or NULL to infer them. */
static int load_split(trialcache_t *c, const task_files_t *t, data_split_t split,
                      const tokenise_t *tk, char *const *values, int nvalues,
                      trial__data_t **out, bool *hit)
{
    const char *path = split == DATA_TRAIN ? t->train : t->dev;
    char key[TRIALCACHE_KEY_MAX] = "data|";
    data_spec_t spec = t->spec;
    trial__data_t *d = NULL;
    data_t *raw = NULL;
    int rc;

    if (t->emb)
        rc = trialcache_key_add(key, sizeof key, "embedded:%llu:%s",
                                (unsigned long long)t->emb_seed,
                                split == DATA_TRAIN ? "train" : "dev");
    else if ((rc = trialcache_key_file(key, sizeof key, path)) != 0)
        return rc;
    if (rc != 0)
        return rc;
    if (t->glue)
        rc = trialcache_key_add(key, sizeof key, "|glue=%s", t->glue->name);
    else
        rc = trialcache_key_add(key, sizeof key, "|custom=%d,%d,%s,%s,%s,%d", (int)spec.format,
                                spec.quoted, spec.text, spec.pair ? spec.pair : "", spec.label,
                                spec.regression);
    for (int i = 0; values && i < nvalues && rc == 0; i++)
        rc = trialcache_key_add(key, sizeof key, ",%zu:%s", strlen(values[i]), values[i]);
    if (rc != 0 || (rc = trialcache_key_add(key, sizeof key, "|%s|len=%d", tk->vocab_key,
                                            tk->max_length)) != 0)
        return rc;
    if ((*out = trialcache_get(c, TRIALCACHE_DATA, key)) != NULL) {
        *hit = true;
        return 0;
    }
    *hit = false;
    if (values && nvalues > 0 && !spec.regression) {
        spec.labels = (const char *const *)values;
        spec.nlabels = nvalues;
    }
    rc = t->emb    ? embedded_load_data(t->emb, split, &raw)
         : t->glue ? data_load_task(t->glue, path, &raw)
                   : data_load_file(path, &spec, &raw);
    if (rc != 0)
        return rc;
    if (data_skipped(raw))
        log_warn("%s: %zu malformed rows skipped (first: %s)", path, data_skipped(raw),
                 data_skip_message(raw, 0));
    d = mem_alloc(1, sizeof *d, "data set");
    if (!d) {
        rc = ERR_NOMEM;
        goto out;
    }
    if ((rc = tokset_build(raw, tk->vocab->vocab, &tk->vocab->opts, tk->max_length, tk->threads,
                           &d->set)) != 0)
        goto out;
    if (!data_regression(raw)) {
        d->nvalues = data_num_labels(raw);
        d->values = mem_alloc((size_t)d->nvalues, sizeof *d->values, "label values");
        if (!d->values) {
            rc = ERR_NOMEM;
            goto out;
        }
        for (int i = 0; i < d->nvalues; i++)
            if (!(d->values[i] = mem_strdup(data_label_value(raw, i)))) {
                rc = ERR_NOMEM;
                goto out;
            }
    }
    rc = trialcache_put(c, TRIALCACHE_DATA, key, d, tokset_bytes(d->set), free_data_entry);
    if (rc == 0)
        *out = d;
    d = NULL;
out:
    if (d)
        free_data_entry(d);
    data_free(&raw);
    return rc;
}

/* The embedded default model's vocabulary: the generated task's. */
static int load_embedded_vocab(trialcache_t *c, const embedded_task_t *t, uint64_t seed,
                               vocab_entry_t **out, char *key_out, size_t key_len)
{
    vocab_entry_t *v;
    int rc;

    snprintf(key_out, key_len, "vocab|embedded:%llu", (unsigned long long)seed);
    if ((*out = trialcache_get(c, TRIALCACHE_VOCAB, key_out)) != NULL)
        return 0;
    v = mem_alloc(1, sizeof *v, "vocabulary");
    if (!v)
        return ERR_NOMEM;
    tokenizer_options_default(&v->opts);
    if ((rc = embedded_load_vocab(t, &v->vocab)) != 0) {
        free(v);
        return rc;
    }
    if ((rc = trialcache_put(c, TRIALCACHE_VOCAB, key_out, v, 0, free_vocab_entry)) != 0)
        return rc;
    *out = v;
    return 0;
}

/* The embedded default model: random weights from its seed, as embedded_model describes. The
 * head counts as missing, as a pretraining checkpoint's would: every trial initialises it from
 * its own seed. */
static int load_embedded_model(trialcache_t *c, const embedded_task_t *t, int labels,
                               trial__model_t **out, bool *hit)
{
    char key[TRIALCACHE_KEY_MAX];
    embedded_model_t em;
    model_opts_t o;
    trial__model_t *m;
    shape_t sh;
    int rc;

    embedded_model(t, &em);
    snprintf(key, sizeof key, "model|embedded:%llu|labels=%d", (unsigned long long)em.seed,
             labels);
    if ((*out = trialcache_get(c, TRIALCACHE_MODEL, key)) != NULL) {
        *hit = true;
        return 0;
    }
    *hit = false;
    sh = em.shape;
    sh.labels = labels;
    model_opts_default(&o, &sh);
    o.initializer_range = (float)em.initializer_range;
    o.hidden_dropout = (float)em.hidden_dropout;
    o.attention_dropout = (float)em.attention_dropout;
    m = mem_alloc(1, sizeof *m, "model");
    if (!m)
        return ERR_NOMEM;
    m->model = model_new(&o);
    if (!m->model) {
        free(m);
        return err_code() ? err_code() : ERR_NOMEM;
    }
    model_init_random(m->model, em.seed);
    for (int i = 0; i < model_tensor_count(m->model); i++) {
        model_tensor_t *mt = model_tensor(m->model, i);
        mt->loaded = strncmp(mt->name, "pooler.", 7) != 0 && strncmp(mt->name, "classifier.", 11);
    }
    m->hidden_dropout = o.hidden_dropout;
    m->attention_dropout = o.attention_dropout;
    m->classifier_dropout = o.classifier_dropout;
    if ((rc = trialcache_put(c, TRIALCACHE_MODEL, key, m,
                             model_param_count(&sh, true) * sizeof(float),
                             free_model_entry)) != 0)
        return rc;
    *out = m;
    return 0;
}

static int load_model(trialcache_t *c, const char *dir, int labels, uint64_t seed, bool quiet,
                      trial__model_t **out, bool *hit)
{

    char key[TRIALCACHE_KEY_MAX] = "model|", path[4200];
    trial__model_t *m;
    const model_opts_t *o;
    int rc;

    snprintf(path, sizeof path, "%s/config.json", dir);
    if ((rc = trialcache_key_file(key, sizeof key, path)) != 0)
        return rc;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if ((rc = trialcache_key_file(key, sizeof key, path)) != 0 ||
        (rc = trialcache_key_add(key, sizeof key, "|labels=%d", labels)) != 0)
        return rc;
    if ((*out = trialcache_get(c, TRIALCACHE_MODEL, key)) != NULL) {
        *hit = true;
        return 0;
    }
    *hit = false;
    m = mem_alloc(1, sizeof *m, "model");
    if (!m)
        return ERR_NOMEM;
    if ((rc = checkpoint_load(dir, labels, seed, quiet ? CHECKPOINT_QUIET_HEAD : 0, &m->model,
                               NULL)) != 0) {
        free(m);
        return rc;
    }
    o = model_opts(m->model);
    m->hidden_dropout = o->hidden_dropout;
    m->attention_dropout = o->attention_dropout;
    m->classifier_dropout = o->classifier_dropout;
    if ((rc = trialcache_put(c, TRIALCACHE_MODEL, key, m,
                             model_param_count(&o->shape, true) * sizeof(float),
                             free_model_entry)) != 0)
        return rc;
    *out = m;
    return 0;
}

/* The embedded default task and model come from a generator (about 20 ms): run it when the
 * trial uses either, and take the generated task as the trial's. */
static int generate_embedded(const trial_spec_t *s, embedded_task_t **emb, task_files_t *files)
{
    embedded_opts_t eo;
    int rc;

    if (!s->model_embedded && !s->task_embedded)
        return 0;
    embedded_opts_default(&eo);
    eo.seed = s->model_seed;
    if ((rc = embedded_generate(&eo, emb)) != 0)
        return err_prefix(rc, "the embedded default task: ");
    if (s->task_embedded) {
        files->emb = *emb;
        files->emb_seed = s->model_seed;
        files->glue = embedded_data_task();
    }
    return 0;
}

/* The model's sizes, before anything is read: the vocabulary must fit its embeddings, the
 * length its positions. Labels are the task's, known once the train file is read. */
static int model_shape(const trial_spec_t *s, const embedded_task_t *emb, shape_t *shape)
{
    int rc;

    if (s->model_embedded) {
        embedded_model_t em;
        embedded_model(emb, &em);
        *shape = em.shape;
    } else if ((rc = hfconfig_shape(s->model_dir, 2, shape)) != 0) {
        return rc;
    }
    if (s->max_length > shape->positions)
        return err_set(ERR_INVAL, "maximum length %d: the model has %d positions "
                       "(max_position_embeddings)", s->max_length, shape->positions);
    return 0;
}

/* The task's labels, the metrics to report and the objective: a GLUE task's, or those of the
 * classes (or regression) of custom data; the trial's metric, when it names one, must apply. */
static int choose_metrics(const trial_spec_t *s, const task_files_t *files, bool saved,
                          trial__inputs_t *in)
{
    metric_t m;
    int rc;

    if (files->glue) {
        snprintf(in->task, sizeof in->task, "%s", files->emb ? "embedded" : files->glue->name);
        in->labels = files->glue->num_labels;
        in->metrics = files->glue->metrics;
        in->objective = files->glue->objective;
    } else {
        snprintf(in->task, sizeof in->task, "custom");
        in->labels = tokset_num_labels((saved ? in->dev : in->train)->set);
        if (s->num_labels > 1 && s->num_labels != in->labels)
            return err_set(ERR_INVAL, "%s: %d classes in the file, but %d labels were given",
                           files->train, in->labels, s->num_labels);
        in->metrics = in->labels == 1 ? METRIC_BIT(METRIC_PEARSON) | METRIC_BIT(METRIC_SPEARMAN)
                      : METRIC_BIT(METRIC_ACCURACY) | METRIC_BIT(METRIC_MCC) |
                            (in->labels == 2 ? METRIC_BIT(METRIC_F1) : 0);
        in->objective = in->labels == 1 ? METRIC_SPEARMAN : METRIC_ACCURACY;
    }
    if (!s->metric)
        return 0;
    if ((rc = metrics_parse(s->metric, &m)) != 0)
        return rc;
    if ((in->labels == 1) != (m == METRIC_PEARSON || m == METRIC_SPEARMAN) ||
        (m == METRIC_F1 && in->labels != 2))
        return err_set(ERR_INVAL, "metric '%s' does not apply to a %s task", s->metric,
                       in->labels == 1 ? "regression"
                                       : in->labels == 2 ? "two-class" : "multi-class");
    in->objective = m;
    in->metrics |= METRIC_BIT(m);
    return 0;
}

int trial__load(trialcache_t *c, const trial_spec_t *s, int threads, const trial__saved_t *saved,
                trial__inputs_t *in)
{
    char vkey[TRIALCACHE_KEY_MAX];
    vocab_entry_t *v = NULL;
    embedded_task_t *emb = NULL;
    task_files_t files;
    tokenise_t tk;
    shape_t shape;
    bool hit_train, hit_dev;
    double t0 = clock_s(), t1;
    int rc;

    memset(in, 0, sizeof *in);
    if (!s->model_dir && !s->model_embedded)
        return err_set(ERR_INVAL, "no model folder");
    if ((rc = resolve_files(s, saved == NULL, &files)) != 0 ||
        (rc = generate_embedded(s, &emb, &files)) != 0)
        return rc;
    if ((rc = model_shape(s, emb, &shape)) != 0)
        goto out;
    rc = s->model_embedded ? load_embedded_vocab(c, emb, s->model_seed, &v, vkey, sizeof vkey)
                           : load_vocab(c, s->model_dir, shape.vocab, &v, vkey, sizeof vkey);
    if (rc != 0)
        goto out;
    t1 = clock_s();
    in->load_s += t1 - t0;
    tk = (tokenise_t){vkey, v, s->max_length, threads};
    hit_train = true;
    if (!saved && (rc = load_split(c, &files, DATA_TRAIN, &tk, NULL, 0, &in->train,
                                   &hit_train)) != 0)
        goto out;
    if ((rc = load_split(c, &files, DATA_DEV, &tk, saved ? saved->values : in->train->values,
                         saved ? saved->nvalues : in->train->nvalues, &in->dev, &hit_dev)) != 0)
        goto out;
    in->data_cached = hit_train && hit_dev;
    in->tokenize_s = clock_s() - t1;
    t1 = clock_s();
    if ((rc = choose_metrics(s, &files, saved != NULL, in)) != 0)
        goto out;
    rc = s->model_embedded
             ? load_embedded_model(c, emb, in->labels, &in->model, &in->model_cached)
             : load_model(c, s->model_dir, in->labels, s->seed, saved != NULL, &in->model,
                          &in->model_cached);
    if (rc == 0)
        in->load_s += clock_s() - t1;
out:
    embedded_free(&emb);
    return rc;
}
