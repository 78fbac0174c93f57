/* The trial runner: training, evaluation, early stopping, results (trial.h). Inputs come from
 * trial_load.c, saved weights from trial_save.c. */
#include "worker/trial/trial.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/rng.h"
#include "worker/engine/engine.h"
#include "worker/engine/optim.h"
#include "worker/inputs/checkpoint.h"
#include "worker/trial/trial_int.h"

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return (x > y) - (x < y);
}

/* The examples a trial uses: all, or the first max of a shuffle drawn from r. Sorted, so
 * that the subset is a set (the epochs shuffle it again). */
static int subset(size_t n, int max, rng_t *r, uint32_t **out, size_t *k)
{
    uint32_t *idx;

    if (n > UINT32_MAX)
        return err_set(ERR_RANGE, "%zu examples; at most %u", n, UINT32_MAX);
    idx = mem_alloc(n ? n : 1, sizeof *idx, "example indices");
    if (!idx)
        return ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        idx[i] = (uint32_t)i;
    *k = n;
    if (max > 0 && (size_t)max < n) {
        rng_shuffle(r, idx, n);
        *k = (size_t)max;
        qsort(idx, *k, sizeof *idx, cmp_u32);
    }
    *out = idx;
    return 0;
}

/* A batch under construction. */
typedef struct {
    int cap_n;
    size_t cap_tokens;
    int32_t *len, *ids, *types, *classes;
    float *targets;
    engine_batch_t b;
    size_t tokens;
} batch_t;

static int batch_init(batch_t *b, int cap_n, size_t cap_tokens)
{
    memset(b, 0, sizeof *b);
    b->cap_n = cap_n;
    b->cap_tokens = cap_tokens;
    b->len = mem_alloc((size_t)cap_n, sizeof *b->len, "batch");
    b->classes = mem_alloc((size_t)cap_n, sizeof *b->classes, "batch");
    b->targets = mem_alloc((size_t)cap_n, sizeof *b->targets, "batch");
    b->ids = mem_alloc(cap_tokens, sizeof *b->ids, "batch");
    b->types = mem_alloc(cap_tokens, sizeof *b->types, "batch");
    return b->len && b->classes && b->targets && b->ids && b->types ? 0 : ERR_NOMEM;
}

static void batch_free(batch_t *b)
{
    free(b->len);
    free(b->classes);
    free(b->targets);
    free(b->ids);
    free(b->types);
}

/* Adds example i of t when it fits; false when the batch is full. */
static bool batch_add(batch_t *b, const tokset_t *t, size_t i)
{
    int len;
    const int32_t *ids = tokset_ids(t, i, &len);

    if (b->b.n >= b->cap_n || b->tokens + (size_t)len > b->cap_tokens)
        return false;
    memcpy(b->ids + b->tokens, ids, (size_t)len * sizeof *ids);
    memcpy(b->types + b->tokens, tokset_types(t, i), (size_t)len * sizeof *ids);
    b->len[b->b.n] = len;
    b->classes[b->b.n] = tokset_class(t, i);
    b->targets[b->b.n] = tokset_target(t, i);
    b->tokens += (size_t)len;
    b->b.n++;
    return true;
}

static void batch_reset(batch_t *b, bool regression)
{
    b->b = (engine_batch_t){0, b->len, b->ids, b->types, 0, regression ? NULL : b->classes,
                            regression ? b->targets : NULL};
    b->tokens = 0;
}

/* The run's state, shared by its helpers. */
typedef struct {
    const trial_spec_t *s;
    const trainer_env_t *env;
    trainer_result_t *out;
    trial__inputs_t in;
    peft_t *peft;
    engine_t *engine;
    optim_t *optim;
    batch_t batch;
    uint32_t *train_idx, *eval_idx;
    uint32_t *train_pos;          /* tracing: the batch order as positions in the subset */
    size_t ntrain, neval;
    int32_t *pred_i, *gold_i;
    float *pred_f, *gold_f, *logits;
    float *dev_logits;            /* tracing or logits_path: every dev example's logits */
    FILE *trace;
    double t0, train_s, eval_s, last_eval_s;
    uint64_t steps_total, seen;   /* optimiser steps planned, examples trained on */
    int one_class;                /* the class of every prediction of the last evaluation; -1 */
    int threads, max_tokens;
    int warmup_steps;
} run_t;

static bool cancelled(const run_t *r)
{
    return r->env->cancel && atomic_load(r->env->cancel);
}

/* Reports p, a progress whose state, epoch, step and numbers the caller set, with what the
 * run knows: the fraction done, the epochs and the steps planned. */
static void progress(run_t *r, trainer_progress_t p)
{
    if (!r->env->progress)
        return;
    p.fraction = r->steps_total ? (double)p.step / (double)r->steps_total : 0;
    p.epochs = (uint32_t)r->s->epochs;
    p.steps_total = r->steps_total;
    r->env->progress(r->env->ctx, &p);
}

/* Evaluates the dev subset: metrics into m, the objective into *obj. ERR_CANCELLED when the
 * trial was cancelled meanwhile. */
static int evaluate(run_t *r, metrics_t *m, double *obj)
{
    const tokset_t *dev = r->in.dev->set;
    int labels = r->in.labels, rc, n = 0;
    size_t k = 0;
    double t0 = clock_s();

    /* Batches of eval_batch_size sequences within the token cap: a function of the dev
     * subset, the size and the cap only, so a saved trial is evaluated again in the same
     * batches. */
    int per = r->s->eval_batch_size > 0 ? r->s->eval_batch_size : r->s->batch_size;

    while (k < r->neval) {
        batch_reset(&r->batch, labels == 1);
        while (k < r->neval && r->batch.b.n < per && batch_add(&r->batch, dev, r->eval_idx[k]))
            k++;
        if (cancelled(r))
            return ERR_CANCELLED;
        if ((rc = engine_eval(r->engine, &r->batch.b, r->logits, NULL)) != 0)
            return rc;
        if (r->dev_logits)
            memcpy(r->dev_logits + (size_t)n * labels, r->logits,
                   (size_t)r->batch.b.n * labels * sizeof(float));
        for (int i = 0; i < r->batch.b.n; i++, n++) {
            const float *z = r->logits + (size_t)i * labels;
            if (labels == 1) {
                r->pred_f[n] = z[0];
                r->gold_f[n] = r->batch.targets[i];
            } else {
                int best = 0;
                for (int c = 1; c < labels; c++)
                    if (z[c] > z[best])   /* the first maximum, as numpy's argmax */
                        best = c;
                r->pred_i[n] = best;
                r->gold_i[n] = r->batch.classes[i];
            }
        }
    }
    r->one_class = labels > 1 && n > 0 ? r->pred_i[0] : -1;
    for (int i = 1; i < n && r->one_class >= 0; i++)
        if (r->pred_i[i] != r->one_class)
            r->one_class = -1;
    rc = labels == 1 ? metrics_regression(r->pred_f, r->gold_f, (size_t)n, m)
                     : metrics_classification(r->pred_i, r->gold_i, (size_t)n, labels, m);
    if (rc != 0)
        return rc;
    if (!(m->computed & METRIC_BIT(r->in.objective)))
        return err_set(ERR_INTERNAL, "objective %s not computed",
                       metrics_name(r->in.objective));
    *obj = m->value[r->in.objective];
    r->last_eval_s = clock_s() - t0;
    r->eval_s += r->last_eval_s;
    return 0;
}

static void set_metrics(run_t *r, const metrics_t *m)
{
    trainer_result_t *out = r->out;

    out->nmetrics = 0;
    for (int k = 0; k < METRIC__COUNT; k++)
        if ((r->in.metrics & METRIC_BIT(k)) && (m->computed & METRIC_BIT(k)) &&
            out->nmetrics < TRAINER_MAX_METRICS) {
            snprintf(out->metrics[out->nmetrics].name, TRAINER_NAME_MAX, "%s",
                     metrics_name((metric_t)k));
            out->metrics[out->nmetrics++].value = m->value[k];
        }
}

/* One epoch of training; ERR_CANCELLED when cancelled between steps. */
static int train_epoch(run_t *r, int epoch, double *mean_loss)
{
    const tokset_t *train = r->in.train->set;
    bool reg = r->in.labels == 1;
    double sum = 0, t0 = clock_s();
    size_t k = 0, seen = 0;
    int nb = 0, rc;
    rng_t rng;

    rng_seed_stream(&rng, r->s->seed, STREAM_EPOCH + (uint64_t)epoch);
    rng_shuffle(&rng, r->train_idx, r->ntrain);
    if (r->trace) {
        rng_seed_stream(&rng, r->s->seed, STREAM_EPOCH + (uint64_t)epoch);
        rng_shuffle(&rng, r->train_pos, r->ntrain);
    }
    while (k < r->ntrain) {
        double loss, step_s, lr;
        uint64_t done;
        size_t first = k;

        if (cancelled(r))
            return ERR_CANCELLED;
        batch_reset(&r->batch, reg);
        for (int i = 0; i < r->s->batch_size && k < r->ntrain; i++, k++)
            if (!batch_add(&r->batch, train, r->train_idx[k]))
                return err_set(ERR_INTERNAL, "a training batch does not fit the engine");
        if ((rc = engine_train(r->engine, &r->batch.b, &loss, r->trace ? r->logits : NULL)) != 0 ||
            (rc = optim_step(r->optim, NULL, &lr)) != 0)
            return rc;
        if (r->trace)
            trial__trace_step(r->trace, (uint64_t)optim_steps_done(r->optim), epoch, loss, lr,
                              r->train_pos + first, r->batch.b.n, r->logits, r->in.labels);
        sum += loss;
        nb++;
        seen += (size_t)r->batch.b.n;
        r->seen += (uint64_t)r->batch.b.n;
        r->out->epochs_run = (uint32_t)epoch;
        step_s = clock_s() - t0;
        done = (uint64_t)optim_steps_done(r->optim);
        {
            double per_step = (r->train_s + step_s) / (double)done;
            double eta = per_step * (double)(r->steps_total - done) +
                         r->last_eval_s * (r->s->epochs - epoch + 1);
            progress(r, (trainer_progress_t){.state = TRAINER_STATE_TRAINING,
                                             .epoch = (uint32_t)epoch, .step = done,
                                             .has_loss = true, .loss = (float)(sum / nb),
                                             .eta_s = eta,
                                             .examples_per_s = (double)seen / step_s});
        }
    }
    r->train_s += clock_s() - t0;
    *mean_loss = nb ? sum / nb : 0;
    return 0;
}

static void fill_counts(run_t *r, const space_config_t *c, bool ft)
{
    space_counts_t n;
    const shape_t *s = &model_opts(r->in.model->model)->shape;
    trainer_result_t *out = r->out;

    /* The configuration fits the model (peft_new accepted it), so counting cannot fail. */
    space_config_count(c, s, peft_prefix_bottleneck(r->peft) ? peft_prefix_bottleneck(r->peft)
                                                            : SPACE_PREFIX_BOTTLENECK, &n);
    out->has_params = true;
    out->backbone = n.backbone;
    out->head = n.head;
    out->modules_trainable = n.modules_trainable;
    out->modules_deployed = n.modules_deployed;
    if (ft) {
        /* Every backbone weight trains and ships: the baseline costs 100% plus any module. */
        out->modules_trainable += n.backbone;
        out->modules_deployed += n.backbone;
    }
    out->trainable = out->modules_trainable + out->head;
    out->deployed = out->modules_deployed + out->head;
    out->percent = 100.0 * (double)out->modules_deployed / (double)out->backbone;
}

static int cmp_int_desc(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;

    return (x < y) - (x > y);
}

/* Tokens of the largest batch the trial can form: the batch_size longest training examples
 * (evaluation batches are packed up to the same count). The engine sizes its activations for
 * it, so short sentences (SST-2's are about 13 word pieces) do not pay for batch x max_length
 * tokens of memory that would be allocated, zeroed and never used. */
static int batch_tokens(run_t *r, int *out)
{
    const trial_spec_t *s = r->s;
    const tokset_t *t = r->in.train ? r->in.train->set : r->in.dev->set;
    const uint32_t *idx = r->in.train ? r->train_idx : r->eval_idx;
    size_t n = r->in.train ? r->ntrain : r->neval, k = (size_t)s->batch_size;
    long total = 0;
    int *len;

    len = mem_alloc(n ? n : 1, sizeof *len, "lengths");
    if (!len)
        return ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        len[i] = tokset_len(t, idx[i]);
    qsort(len, n, sizeof *len, cmp_int_desc);
    for (size_t i = 0; i < n && i < k; i++)
        total += len[i];
    free(len);
    if (total < s->max_length)
        total = s->max_length;   /* room for any single example, dev ones included */
    *out = (int)total;
    return 0;
}

/* What the trial is, for the caller's trial_info_t: known once its inputs are loaded. */
static void describe(const run_t *r, const space_config_t *config, bool ft, trial_info_t *info)
{
    snprintf(info->task, sizeof info->task, "%s", r->in.task);
    info->labels = r->in.labels;
    info->regression = r->in.labels == 1;
    info->shape = model_opts(r->in.model->model)->shape;
    info->model_cached = r->in.model_cached;
    info->data_cached = r->in.data_cached;
    info->full_finetune = ft;
    space_config_format(config, info->config_text, sizeof info->config_text);
}

/* A cached model keeps the previous trial's head and dropout: set both again. */
static int prepare_model(run_t *r)
{
    const trial__model_t *m = r->in.model;
    double dropout = r->s->dropout;

    checkpoint_init_missing(m->model, r->s->seed);
    if (dropout >= 0)
        return model_set_dropout(m->model, (float)dropout, (float)dropout, -1.0f);
    return model_set_dropout(m->model, m->hidden_dropout, m->attention_dropout,
                             m->classifier_dropout);
}

/* The PEFT parameters of the configuration (the saved ones when evaluating), and their
 * counts into the result. */
static int make_peft(run_t *r, const space_config_t *config, bool ft, const trial__saved_t *saved)
{
    const trial_spec_t *spec = r->s;
    int bottleneck = saved ? saved->prefix_bottleneck : spec->prefix_bottleneck;
    peft_opts_t po;
    int rc;

    peft_opts_default(&po);
    po.full_finetune = ft;
    po.lora_alpha = (float)(saved ? saved->lora_alpha : spec->lora_alpha);
    po.seed = spec->seed;
    po.prefix_flat = saved != NULL;   /* saved weights are the deployment form */
    if (bottleneck > 0)
        po.prefix_bottleneck = bottleneck;
    r->peft = peft_new(r->in.model->model, config, &po);
    if (!r->peft)
        return err_code() ? err_code() : ERR_NOMEM;
    if (saved && (rc = trial__saved_apply(spec->eval_dir, r->peft)) != 0)
        return rc;
    fill_counts(r, config, ft);
    return 0;
}

/* The fidelity subsets of the train and dev sets (the saved trial's dev subset when asked),
 * and the optimiser steps they make. */
static int take_subsets(run_t *r, const trial__saved_t *saved, trial_info_t *info)
{
    const trial_spec_t *spec = r->s;
    int rc, max_eval = spec->max_eval_examples;
    uint64_t data_seed = spec->data_seed ? spec->data_seed : spec->seed, eval_seed = data_seed;
    rng_t train_rng, eval_rng;

    if (saved && max_eval < 0) {
        max_eval = saved->max_eval_examples;
        eval_seed = saved->data_seed;
    }
    info->train_total = r->in.train ? tokset_count(r->in.train->set) : 0;
    info->eval_total = tokset_count(r->in.dev->set);
    info->train_truncated = r->in.train ? tokset_truncated(r->in.train->set) : 0;
    info->eval_truncated = tokset_truncated(r->in.dev->set);
    rng_seed_stream(&train_rng, data_seed, STREAM_TRAIN_SUBSET);
    rng_seed_stream(&eval_rng, eval_seed, STREAM_EVAL_SUBSET);
    if ((rc = subset(info->train_total, spec->max_train_examples, &train_rng, &r->train_idx,
                     &r->ntrain)) != 0 ||
        (rc = subset(info->eval_total, max_eval, &eval_rng, &r->eval_idx, &r->neval)) != 0)
        return rc;
    info->train_used = r->ntrain;
    info->eval_used = r->neval;
    if (r->neval == 0 || (!saved && r->ntrain == 0))
        return err_set(ERR_INVAL, "no examples to %s", r->neval ? "train on" : "evaluate");
    r->steps_total = saved ? 0 : (uint64_t)spec->epochs *
                                     ((r->ntrain + (size_t)spec->batch_size - 1) /
                                      (size_t)spec->batch_size);
    if (r->steps_total > INT32_MAX)
        return err_set(ERR_RANGE, "%llu optimiser steps", (unsigned long long)r->steps_total);
    return 0;
}

/* The engine (sized for the largest batch, or the saved run's dev batches), the optimiser
 * (when training) and the buffers of batches, logits and predictions. */
static int make_engine(run_t *r, const trial__saved_t *saved)
{
    const trial_spec_t *spec = r->s;
    engine_opts_t eo;
    engine_info_t ei;
    optim_opts_t oo;
    int rc;

    engine_opts_default(&eo);
    eo.threads = r->threads;
    eo.max_batch = spec->batch_size > spec->eval_batch_size ? spec->batch_size
                                                             : spec->eval_batch_size;
    eo.max_len = spec->max_length;
    if (saved && saved->eval_max_tokens > 0)
        eo.max_tokens = saved->eval_max_tokens;   /* the dev batches of the saved run */
    else if ((rc = batch_tokens(r, &eo.max_tokens)) != 0)
        return rc;
    r->max_tokens = eo.max_tokens;
    eo.seed = rng_mix64(spec->seed ^ STREAM_DROPOUT);
    r->engine = engine_new(r->in.model->model, r->peft, &eo);
    if (!r->engine)
        return err_code() ? err_code() : ERR_NOMEM;
    engine_info(r->engine, &ei);
    log_debug("engine: %d threads, lowest trained layer %d of %d, %.1f MB of activations",
              ei.threads, ei.lowest_trained, ei.layers, ei.stored_floats * 4.0 / 1e6);
    optim_opts_default(&oo);
    oo.lr = spec->learning_rate;
    oo.weight_decay = spec->weight_decay;
    oo.max_grad_norm = spec->max_grad_norm;
    oo.total_steps = (int)r->steps_total;
    /* Hugging Face's Trainer: ceil(total * warmup_ratio). */
    oo.warmup_steps = (int)ceil((double)r->steps_total * spec->warmup_ratio);
    r->warmup_steps = oo.warmup_steps;
    oo.pool = engine_pool(r->engine);
    if (!saved && !(r->optim = optim_new(r->peft, &oo)))
        return err_code() ? err_code() : ERR_NOMEM;
    if ((rc = batch_init(&r->batch, eo.max_batch, (size_t)eo.max_tokens)) != 0 ||
        !(r->logits = mem_alloc((size_t)eo.max_batch * r->in.labels, sizeof(float), "logits")) ||
        !(r->pred_i = mem_alloc(r->neval, sizeof(int32_t), "predictions")) ||
        !(r->gold_i = mem_alloc(r->neval, sizeof(int32_t), "predictions")) ||
        !(r->pred_f = mem_alloc(r->neval, sizeof(float), "predictions")) ||
        !(r->gold_f = mem_alloc(r->neval, sizeof(float), "predictions")))
        return ERR_NOMEM;
    if ((spec->trace_path || spec->logits_path) &&
        !(r->dev_logits = mem_alloc(r->neval * (size_t)r->in.labels, sizeof(float), "logits")))
        return ERR_NOMEM;
    if (spec->trace_path && !saved) {
        if (!(r->train_pos = mem_alloc(r->ntrain, sizeof *r->train_pos, "positions")))
            return ERR_NOMEM;
        for (size_t i = 0; i < r->ntrain; i++)
            r->train_pos[i] = (uint32_t)i;
        if (!(r->trace = fopen(spec->trace_path, "w")))
            return err_set(ERR_IO, "%s: %s", spec->trace_path, strerror(errno));
    }
    return 0;
}

/* Model, configuration, PEFT parameters, subsets, engine, optimiser and buffers. 0 with
 * out untouched, or an error code (out not filled: the caller reports it). */
static int setup(run_t *r, trialcache_t *cache, const trial__saved_t *saved, trial_info_t *info)
{
    const trial_spec_t *spec = r->s;
    space_config_t config = saved ? saved->config : spec->config;
    bool ft = saved ? saved->full_finetune : spec->full_finetune;
    const shape_t *shape;
    int rc;

    if ((rc = trial__load(cache, spec, r->threads, saved, &r->in)) != 0)
        return rc;
    shape = &model_opts(r->in.model->model)->shape;
    if (config.layers == 0) {
        memset(&config, 0, sizeof config);
        config.layers = shape->layers;
    }
    describe(r, &config, ft, info);
    if (config.layers != shape->layers)
        return err_set(ERR_INVAL, "the configuration has %d layers, the model %d",
                       config.layers, shape->layers);
    if (saved && saved->labels != r->in.labels)
        return err_set(ERR_INVAL, "the saved trial has %d labels, task %s has %d",
                       saved->labels, r->in.task, r->in.labels);
    if ((rc = prepare_model(r)) != 0 || (rc = make_peft(r, &config, ft, saved)) != 0 ||
        (rc = take_subsets(r, saved, info)) != 0)
        return rc;
    return make_engine(r, saved);
}

/* Appends the epoch to the history and reports the curve so far: the daemon sends each new
 * point at once (multi-fidelity search decides on it). */
static void record_epoch(run_t *r, int epoch, double obj, double loss, trainer_progress_t p)
{
    trainer_result_t *out = r->out;

    if (out->nhistory >= TRAINER_MAX_HISTORY)
        return;
    out->history[out->nhistory].epoch = (uint32_t)epoch;
    out->history[out->nhistory].objective = obj;
    out->history[out->nhistory].train_loss = (float)loss;
    out->history[out->nhistory].seconds = clock_s() - r->t0;
    out->nhistory++;
    p.state = TRAINER_STATE_TRAINING;
    p.has_metric = true;
    p.metric = obj;
    p.curve = out->history;
    p.ncurve = out->nhistory;
    progress(r, p);
}

/* The best epoch so far. */
typedef struct {
    double obj;
    metrics_t m;
    int epoch, one_class, bad_epochs;
} best_t;

/* Trains and evaluates one epoch, keeping the best (its weights into best_w when given).
 * *early when patience says stop; ERR_CANCELLED when cancelled (or stopped) meanwhile. */
static int run_epoch(run_t *r, int epoch, best_t *b, float *best_w, bool *early)
{
    trainer_progress_t p;
    double obj = 0, loss = 0;
    metrics_t m;
    int rc;

    if ((rc = train_epoch(r, epoch, &loss)) != 0)
        return rc;
    p = (trainer_progress_t){.state = TRAINER_STATE_EVALUATING, .epoch = (uint32_t)epoch,
                             .step = (uint64_t)optim_steps_done(r->optim),
                             .has_loss = true, .loss = (float)loss};
    progress(r, p);
    if ((rc = evaluate(r, &m, &obj)) != 0)
        return rc;
    log_debug("epoch %d: train loss %.4f, %s %.4f", epoch, loss,
              metrics_name(r->in.objective), obj);
    if (obj > b->obj) {
        b->obj = obj;
        b->m = m;
        b->epoch = epoch;
        b->one_class = r->one_class;
        b->bad_epochs = 0;
        if (best_w)
            memcpy(best_w, peft_param_buffer(r->peft), peft_size(r->peft) * sizeof(float));
    } else {
        b->bad_epochs++;
    }
    if (r->trace)
        trial__trace_eval(r->trace, epoch, obj, r->dev_logits, r->neval, r->in.labels);
    record_epoch(r, epoch, obj, loss, p);
    if (r->s->patience > 0 && b->bad_epochs >= r->s->patience) {
        log_debug("early stop after epoch %d: %d epochs without improvement", epoch,
                  b->bad_epochs);
        *early = true;
    }
    return 0;
}

/* The epochs, with evaluation and early stopping; the best epoch's weights are left in the
 * PEFT buffer when best is given. Returns 0 (out filled with OK, or with STOPPED when the
 * coordinator stopped it: the epoch in progress is dropped), ERR_CANCELLED, or an error. */
static int train(run_t *r, float *best)
{
    best_t b = {.obj = -INFINITY, .one_class = -1};
    bool early = false;
    int rc = 0;

    for (int epoch = 1; epoch <= r->s->epochs && !early && rc == 0; epoch++)
        rc = run_epoch(r, epoch, &b, best, &early);
    if (rc == ERR_CANCELLED && trainer_stopping(r->env)) {
        trainer_stop(r->out, (uint32_t)r->s->epochs);
        if (b.epoch)
            set_metrics(r, &b.m);
        return 0;
    }
    if (rc != 0)
        return rc;
    if (best)
        memcpy(peft_param_buffer(r->peft), best, peft_size(r->peft) * sizeof(float));
    if (b.one_class >= 0)
        log_warn("the best epoch (%d) predicts class %d for every one of the %zu dev examples: "
                 "the model has not learned the task, and its %s is that of a constant answer "
                 "(a higher learning rate or more epochs may help)",
                 b.epoch, b.one_class, r->neval, metrics_name(r->in.objective));
    r->out->status = TRAINER_STATUS_OK;
    r->out->objective = b.obj;
    r->out->best_epoch = (uint32_t)b.epoch;
    set_metrics(r, &b.m);
    return 0;
}

/* Reads the saved trial of sp->eval_dir into *saved, and takes from it what sp leaves out:
 * what the saved trial was trained on (model, task), its maximum length and dev batches. */
static int read_saved(trial_spec_t *sp, trial__saved_t *saved)
{
    int rc = trial__saved_read(sp->eval_dir, saved);

    if (rc != 0)
        return rc;
    if (!sp->model_dir && !sp->model_embedded) {
        if (saved->model_path[0])
            sp->model_dir = saved->model_path;
        sp->model_embedded = saved->model_embedded;
        sp->model_seed = saved->model_seed;
    }
    if (!sp->task && !sp->task_embedded) {
        sp->task_embedded = saved->task_embedded;
        if (!saved->task_embedded && saved->task[0] && strcmp(saved->task, "custom") != 0)
            sp->task = saved->task;
    }
    if (sp->max_length <= 0)
        sp->max_length = saved->max_length;
    if (sp->eval_batch_size <= 0 && saved->eval_batch_size > 0)
        sp->eval_batch_size = saved->eval_batch_size;
    return 0;
}

/* The saved weights on the dev subset: out filled with OK, or an error. */
static int evaluate_saved(run_t *r)
{
    metrics_t m;
    double obj;
    int rc = evaluate(r, &m, &obj);

    if (rc == 0 && r->s->logits_path)
        rc = trial__write_logits(r->s->logits_path, obj, r->dev_logits, r->neval, r->in.labels,
                                 r->in.labels == 1 ? NULL : r->gold_i,
                                 r->in.labels == 1 ? r->gold_f : NULL);
    if (rc == 0) {
        r->out->status = TRAINER_STATUS_OK;
        r->out->objective = obj;
        set_metrics(r, &m);
    }
    return rc;
}

/* Trains; with save_dir, writes the best epoch's weights there. */
static int train_and_save(run_t *r, trial_info_t *info)
{
    const trial_spec_t *sp = r->s;
    float *best = NULL;
    int rc;

    if (sp->save_dir && !(best = mem_alloc(peft_size(r->peft), sizeof(float), "best weights")))
        return ERR_NOMEM;
    rc = train(r, best);
    info->steps = (uint64_t)optim_steps_done(r->optim);
    /* A stopped trial is not saved: its weights are those of an unfinished run. */
    if (rc == 0 && best && r->out->status == TRAINER_STATUS_OK &&
        (rc = trial__save(sp->save_dir, sp, &r->in, r->peft, r->out, r->max_tokens)) != 0)
        err_prefix(rc, "saving the trained weights to %s: ", sp->save_dir);
    free(best);
    return rc;
}

/* Writes the inputs training would use (spec->inputs_dir) instead of training: out is OK
 * without an objective. */
static int write_inputs(run_t *r, const trial_info_t *info)
{
    trial__plan_t p = {r->s, &r->in, r->peft, r->train_idx, r->eval_idx, r->ntrain, r->neval,
                       r->warmup_steps, (int)r->steps_total, r->max_tokens, r->out, info};
    int rc = trial__write_inputs(r->s->inputs_dir, &p);

    if (rc == 0)
        r->out->status = TRAINER_STATUS_OK;
    return rc;
}

/* The result's status from how the run ended (rc: 0, ERR_CANCELLED, ERR_NUMERIC for a diverged
 * loss, or another error), its objective's name and its timings. */
static void conclude(run_t *r, int rc, const trial_info_t *info)
{
    trainer_result_t *out = r->out;

    if (rc == ERR_CANCELLED) {
        out->status = TRAINER_STATUS_CANCELLED;
        snprintf(out->error, sizeof out->error, "cancelled in epoch %u after %llu steps",
                 out->epochs_run, (unsigned long long)info->steps);
    } else if (rc == ERR_NUMERIC && r->optim) {
        trainer_fail(out, false, "training diverged in epoch %u, step %d (%s); a lower "
                     "learning rate may help", out->epochs_run, optim_steps_done(r->optim),
                     err_msg());
    } else if (rc != 0) {
        /* Out of memory may pass on another worker; bad inputs will not. */
        trainer_fail(out, rc == ERR_NOMEM, "%s", err_msg());
    }
    if (out->status == TRAINER_STATUS_OK ||
        (out->status == TRAINER_STATUS_STOPPED && out->best_epoch))
        snprintf(out->objective_name, sizeof out->objective_name, "%s",
                 metrics_name(r->in.objective));
    out->load_s = r->in.load_s;
    out->tokenize_s = r->in.tokenize_s;
    out->train_s = r->train_s;
    out->eval_s = r->eval_s;
    out->total_s = clock_s() - r->t0;
    out->examples_per_s = r->train_s > 0 ? (double)r->seen / r->train_s : 0;
}

static void run_free(run_t *r)
{
    batch_free(&r->batch);
    free(r->logits);
    free(r->pred_i);
    free(r->gold_i);
    free(r->pred_f);
    free(r->gold_f);
    free(r->train_idx);
    free(r->train_pos);
    free(r->eval_idx);
    free(r->dev_logits);
    if (r->trace && fclose(r->trace) != 0)
        log_warn("%s: %s", r->s->trace_path, strerror(errno));
    optim_free(&r->optim);
    engine_free(&r->engine);
    peft_free(&r->peft);
}

int trial_run(trialcache_t *cache, const trial_spec_t *spec, const trainer_env_t *env,
              trainer_result_t *out, trial_info_t *info)
{
    run_t r;
    trial_info_t local;
    trial__saved_t saved;
    trial_spec_t sp = *spec;
    bool have_saved;
    int rc;

    memset(&r, 0, sizeof r);
    r.s = &sp;
    r.env = env;
    r.out = out;
    r.t0 = clock_s();
    if (!info)
        info = &local;
    memset(info, 0, sizeof *info);
    r.threads = spec->threads > 0 ? spec->threads : env->threads > 0 ? env->threads : 1;
    if (env->threads > 0 && r.threads > env->threads)
        r.threads = env->threads;
    info->threads = r.threads;
    progress(&r, (trainer_progress_t){.state = TRAINER_STATE_LOADING});
    rc = spec->eval_dir ? read_saved(&sp, &saved) : 0;
    have_saved = spec->eval_dir && rc == 0;
    if (rc == 0)
        rc = trial_spec_check(&sp);
    if (rc == 0)
        rc = setup(&r, cache, have_saved ? &saved : NULL, info);
    if (rc == 0)
        rc = have_saved       ? evaluate_saved(&r)
             : sp.inputs_dir ? write_inputs(&r, info)
                             : train_and_save(&r, info);
    conclude(&r, rc, info);
    run_free(&r);
    if (have_saved)
        trial__saved_free(&saved);
    trialcache_unpin_all(cache);
    return 0;
}
