/* The worker daemon's edge (edge.h): wire messages to and from the trainers' types. */
#include "worker/daemon/edge.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mem.h"

/* ---- TRIAL -------------------------------------------------------------------------------- */

static trainer_mode_t mode_of(Autopeft__TrialMode m)
{
    switch (m) {
    case AUTOPEFT__TRIAL_MODE__TRIAL_MODE_TRAIN: return TRAINER_MODE_TRAIN;
    case AUTOPEFT__TRIAL_MODE__TRIAL_MODE_SYNTHETIC: return TRAINER_MODE_SYNTHETIC;
    default: return TRAINER_MODE_NONE;
    }
}

static void model_of(const Autopeft__ModelSpec *m, trial_spec_t *s)
{
    s->model_dir = m->path;
    s->model_embedded = m->has_embedded_default && m->embedded_default;
    s->model_seed = m->has_embedded_seed ? m->embedded_seed : 1;
}

/* The format as sent ("glue" included): the exec trainer passes it on as it came. */
static void task_of(const Autopeft__TaskSpec *t, trial_spec_t *s)
{
    s->task = t->name;
    s->task_embedded = t->has_embedded_default && t->embedded_default;
    s->data_dir = t->data_dir;
    s->train_file = t->train_file;
    s->dev_file = t->dev_file;
    s->format = t->format;
    s->text_column = t->text_column;
    s->pair_column = t->pair_column;
    s->label_column = t->label_column;
    s->num_labels = t->has_num_labels ? (int)t->num_labels : 0;
    s->metric = t->metric;
}

static int capped(uint32_t v)
{
    return (int)(v > INT32_MAX ? INT32_MAX : v);
}

static precision_t precision_of(Autopeft__Precision p)
{
    switch (p) {
    case AUTOPEFT__PRECISION__PRECISION_BF16: return PRECISION_BF16;
    case AUTOPEFT__PRECISION__PRECISION_FP16: return PRECISION_FP16;
    default: return PRECISION_FP32;
    }
}

static void recipe_of(const Autopeft__Recipe *r, trial_spec_t *s)
{
    if (r->has_epochs)
        s->epochs = (int)r->epochs;
    if (r->has_learning_rate)
        s->learning_rate = r->learning_rate;
    if (r->has_batch_size)
        s->batch_size = (int)r->batch_size;
    if (r->has_max_length)
        s->max_length = (int)r->max_length;
    if (r->has_warmup_ratio)
        s->warmup_ratio = r->warmup_ratio;
    if (r->has_weight_decay)
        s->weight_decay = r->weight_decay;
    if (r->has_max_grad_norm)
        s->max_grad_norm = r->max_grad_norm;
    if (r->has_max_train_examples)
        s->max_train_examples = capped(r->max_train_examples);
    if (r->has_max_eval_examples)
        s->max_eval_examples = capped(r->max_eval_examples);
    if (r->has_patience)
        s->patience = (int)r->patience;
    if (r->has_dropout)
        s->dropout = r->dropout;
    if (r->has_threads)
        s->threads = (int)r->threads;
    s->full_finetune = r->has_full_finetune && r->full_finetune;
    if (r->has_lora_alpha)
        s->lora_alpha = r->lora_alpha;
    if (r->has_prefix_bottleneck)
        s->prefix_bottleneck = (int)r->prefix_bottleneck;
    if (r->has_eval_batch_size && r->eval_batch_size > 0)
        s->eval_batch_size = (int)r->eval_batch_size;
    s->precision = r->has_precision ? precision_of(r->precision) : PRECISION_FP32;
}

/* The PeftConfig as a configuration as deep as its masks (the runner checks that depth
 * against the model's). No active module: layers 0, "the head alone". */
static int config_of(const Autopeft__PeftConfig *p, space_config_t *c)
{
    const uint32_t sizes[SPACE_NMODULES] = {p->serial_adapter, p->parallel_adapter,
                                            p->prefix_length, p->lora_rank,
                                            p->houlsby_adapter};
    const char *masks[SPACE_NMODULES] = {p->serial_layers, p->parallel_layers, p->prefix_layers,
                                         p->lora_layers, p->houlsby_layers};
    int layers = 0;

    memset(c, 0, sizeof *c);
    for (int m = 0; m < SPACE_NMODULES && !layers; m++)
        if (sizes[m] && masks[m])
            layers = (int)strlen(masks[m]);
    if (!layers)
        return 0;
    if (layers > SPACE_MAX_LAYERS)
        return err_set(ERR_INVAL, "model of %d layers", layers);
    c->layers = layers;
    for (int m = 0; m < SPACE_NMODULES; m++) {
        c->size[m] = sizes[m];
        if (!sizes[m])
            continue;
        if (!masks[m] || strlen(masks[m]) != (size_t)layers) {
            int rc = err_set(ERR_INVAL, "the %s mask has %zu layers, the model %d",
                             space_module_name((space_module_t)m),
                             masks[m] ? strlen(masks[m]) : 0, layers);
            memset(c, 0, sizeof *c);
            return rc;
        }
        for (int l = 0; l < layers; l++)
            space_config_set_layer(c, (space_module_t)m, l, masks[m][l] == '1');
    }
    space_config_canonicalise(c);
    return 0;
}

static void synthetic_of(const Autopeft__SyntheticSpec *y, trainer_trial_t *t)
{
    t->has_synthetic = y != NULL;
    if (!y)
        return;
    t->synthetic.duration_ms = y->has_duration_ms ? y->duration_ms : 0;
    t->synthetic.noise = y->has_noise ? y->noise : 0;
    t->synthetic.fail = y->has_fail && y->fail;
    t->synthetic.hidden = (int)y->hidden;
    t->synthetic.layers = (int)y->layers;
}

int edge_trial(const Autopeft__Trial *w, trainer_trial_t *out)
{
    const Autopeft__TrialSpec *s = w->spec;

    memset(out, 0, sizeof *out);
    out->trial_id = w->ref->trial_id;
    out->attempt = w->ref->attempt;
    out->study = w->study_name;
    out->mode = mode_of(s->mode);
    trial_spec_default(&out->spec);
    model_of(s->model, &out->spec);
    task_of(s->task, &out->spec);
    recipe_of(s->recipe, &out->spec);
    out->spec.seed = s->has_seed ? s->seed : 1;
    out->spec.data_seed = s->has_data_seed ? s->data_seed : out->spec.seed;
    out->report_curve = s->has_report_curve && s->report_curve;
    out->spec.save_dir = s->save_dir;
    out->config_text = s->peft->text;
    synthetic_of(s->synthetic, out);
    return config_of(s->peft, &out->spec.config);
}

/* ---- HELLO, HEARTBEAT and PROGRESS ---------------------------------------------------------- */

Autopeft__Capability edge_capability(trainer_kind_t kind)
{
    switch (kind) {
    case TRAINER_KIND_BUILTIN: return AUTOPEFT__CAPABILITY__CAPABILITY_BUILTIN_TRAINER;
    case TRAINER_KIND_EXEC: return AUTOPEFT__CAPABILITY__CAPABILITY_EXEC_TRAINER;
    case TRAINER_KIND_SYNTHETIC: return AUTOPEFT__CAPABILITY__CAPABILITY_SYNTHETIC;
    }
    return AUTOPEFT__CAPABILITY__CAPABILITY_UNSPECIFIED;
}

Autopeft__WorkerState edge_state(trainer_state_t state)
{
    switch (state) {
    case TRAINER_STATE_LOADING: return AUTOPEFT__WORKER_STATE__WORKER_STATE_LOADING;
    case TRAINER_STATE_EVALUATING: return AUTOPEFT__WORKER_STATE__WORKER_STATE_EVALUATING;
    default: return AUTOPEFT__WORKER_STATE__WORKER_STATE_TRAINING;
    }
}

/* Records for epochs h[0..n) into *recs and *ptrs (heap, n each); false when memory runs out
 * (nothing allocated). Seconds and train loss are left out when not finite or not known. */
static bool epoch_records(const trainer_epoch_t *h, int n, Autopeft__EpochRecord **recs,
                          Autopeft__EpochRecord ***ptrs)
{
    *recs = mem_alloc((size_t)n, sizeof **recs, "epoch records");
    *ptrs = mem_alloc((size_t)n, sizeof **ptrs, "epoch records");
    if (!*recs || !*ptrs) {
        free(*recs);
        free(*ptrs);
        *recs = NULL;
        *ptrs = NULL;
        return false;
    }
    for (int i = 0; i < n; i++) {
        Autopeft__EpochRecord *e = &(*recs)[i];
        autopeft__epoch_record__init(e);
        e->has_epoch = e->has_objective = true;
        e->epoch = h[i].epoch;
        e->objective = h[i].objective;
        if (h[i].seconds >= 0 && isfinite(h[i].seconds)) {
            e->has_seconds = true;
            e->seconds = h[i].seconds;
        }
        if (h[i].train_loss != 0 && isfinite(h[i].train_loss)) {
            e->has_train_loss = true;
            e->train_loss = h[i].train_loss;
        }
        (*ptrs)[i] = e;
    }
    return true;
}

/* The longest prefix of the curve that the wire accepts: epochs from 1, strictly increasing,
 * finite objectives, at most TRAINER_MAX_HISTORY points. */
static int curve_valid_prefix(const trainer_epoch_t *c, int n)
{
    int k = 0;

    if (!c)
        return 0;
    if (n > TRAINER_MAX_HISTORY)
        n = TRAINER_MAX_HISTORY;
    while (k < n && c[k].epoch >= 1 && (k == 0 || c[k].epoch > c[k - 1].epoch) &&
           isfinite(c[k].objective))
        k++;
    return k;
}

void edge_progress(edge_progress_t *e, const trainer_progress_t *q, Autopeft__TrialRef *ref)
{
    Autopeft__Progress *p = &e->msg;
    int n = curve_valid_prefix(q->curve, q->ncurve);

    memset(e, 0, sizeof *e);
    autopeft__progress__init(p);
    p->trial = ref;
    if (q->epoch >= 1 && q->epoch <= q->epochs && q->epochs <= 1000) {
        p->has_epoch = p->has_epochs = true;
        p->epoch = q->epoch;
        p->epochs = q->epochs;
    }
    if (q->steps_total > 0 && q->step <= q->steps_total) {
        p->has_step = p->has_steps_total = true;
        p->step = q->step;
        p->steps_total = q->steps_total;
    }
    if (q->has_loss && isfinite(q->loss)) {
        p->has_loss = true;
        p->loss = q->loss;
    }
    if (q->has_metric && isfinite(q->metric)) {
        p->has_metric = true;
        p->metric = q->metric;
    }
    if (q->examples_per_s > 0 && isfinite(q->examples_per_s)) {
        p->has_examples_per_s = true;
        p->examples_per_s = q->examples_per_s;
    }
    if (q->eta_s > 0 && isfinite(q->eta_s)) {
        p->has_eta_s = true;
        p->eta_s = q->eta_s;
    }
    p->message = (char *)q->message;
    if (n > 0 && epoch_records(q->curve, n, &e->curve, &e->curve_ptrs)) {
        p->n_curve = (size_t)n;
        p->curve = e->curve_ptrs;
    }
}

void edge_progress_free(edge_progress_t *e)
{
    free(e->curve);
    free(e->curve_ptrs);
    e->curve = NULL;
    e->curve_ptrs = NULL;
}

/* ---- RESULT ------------------------------------------------------------------------------- */

static Autopeft__ResultStatus status_of(trainer_status_t s)
{
    switch (s) {
    case TRAINER_STATUS_OK: return AUTOPEFT__RESULT_STATUS__RESULT_STATUS_OK;
    case TRAINER_STATUS_FAILED: return AUTOPEFT__RESULT_STATUS__RESULT_STATUS_FAILED;
    case TRAINER_STATUS_CANCELLED: return AUTOPEFT__RESULT_STATUS__RESULT_STATUS_CANCELLED;
    case TRAINER_STATUS_STOPPED: return AUTOPEFT__RESULT_STATUS__RESULT_STATUS_STOPPED;
    default: return AUTOPEFT__RESULT_STATUS__RESULT_STATUS_UNSPECIFIED;
    }
}

static void result_metrics(edge_result_t *e, const trainer_result_t *r)
{
    int n = r->nmetrics < TRAINER_MAX_METRICS ? r->nmetrics : TRAINER_MAX_METRICS;

    for (int i = 0; i < n; i++) {
        autopeft__metric__init(&e->metrics[i]);
        e->metrics[i].name = (char *)r->metrics[i].name;
        e->metrics[i].has_value = true;
        e->metrics[i].value = r->metrics[i].value;
        e->metric_ptrs[i] = &e->metrics[i];
    }
    e->msg.n_metrics = (size_t)n;
    e->msg.metrics = e->metric_ptrs;
}

static void result_params(edge_result_t *e, const trainer_result_t *r)
{
    Autopeft__ParamCounts *pc = &e->params;

    pc->has_trainable = pc->has_deployed = pc->has_backbone = pc->has_percent = true;
    pc->trainable = r->trainable;
    pc->deployed = r->deployed;
    pc->backbone = r->backbone;
    pc->percent = r->percent;
    pc->has_modules_trainable = pc->has_modules_deployed = pc->has_head = true;
    pc->modules_trainable = r->modules_trainable;
    pc->modules_deployed = r->modules_deployed;
    pc->head = r->head;
    e->msg.params = pc;
}

static void result_timings(edge_result_t *e, const trainer_result_t *r)
{
    Autopeft__Timings *tm = &e->timings;

    tm->has_load_s = tm->has_tokenize_s = tm->has_train_s = tm->has_eval_s = true;
    tm->has_total_s = true;
    tm->load_s = r->load_s;
    tm->tokenize_s = r->tokenize_s;
    tm->train_s = r->train_s;
    tm->eval_s = r->eval_s;
    tm->total_s = r->total_s;
    if (r->examples_per_s > 0) {
        tm->has_examples_per_s = true;
        tm->examples_per_s = r->examples_per_s;
    }
    e->msg.timings = tm;
}

static void result_history(edge_result_t *e, const trainer_result_t *r)
{
    int n = r->nhistory < TRAINER_MAX_HISTORY ? r->nhistory : TRAINER_MAX_HISTORY;

    if (n > 0 && epoch_records(r->history, n, &e->history, &e->history_ptrs)) {
        e->msg.n_history = (size_t)n;
        e->msg.history = e->history_ptrs;
    }
}

void edge_result(edge_result_t *e, const Autopeft__TrialRef *ref, const char *worker_id,
                 const trainer_result_t *r)
{
    memset(e, 0, sizeof *e);
    autopeft__result__init(&e->msg);
    autopeft__trial_ref__init(&e->ref);
    autopeft__param_counts__init(&e->params);
    autopeft__timings__init(&e->timings);
    e->ref = *ref;
    e->msg.trial = &e->ref;
    e->msg.has_status = true;
    e->msg.status = status_of(r->status);
    e->msg.worker_id = (char *)worker_id;
    if (r->status != TRAINER_STATUS_OK && r->status != TRAINER_STATUS_STOPPED) {
        e->msg.error = r->error[0] ? (char *)r->error : "failed without a message";
        e->msg.has_retryable = true;
        e->msg.retryable = r->retryable;
        return;
    }
    if (r->status == TRAINER_STATUS_STOPPED) {
        /* The reason (a stop is no failure, so it is not retryable either). */
        if (r->error[0])
            e->msg.error = (char *)r->error;
        e->msg.has_epochs_run = true;
        e->msg.epochs_run = r->epochs_run;
    }
    if (r->status == TRAINER_STATUS_OK || r->best_epoch) {
        e->msg.has_objective = true;
        e->msg.objective = r->objective;
        if (r->objective_name[0])
            e->msg.objective_name = (char *)r->objective_name;
        result_metrics(e, r);
    }
    if (r->best_epoch && r->epochs_run >= r->best_epoch) {
        e->msg.has_best_epoch = e->msg.has_epochs_run = true;
        e->msg.best_epoch = r->best_epoch;
        e->msg.epochs_run = r->epochs_run;
    }
    if (r->has_params)
        result_params(e, r);
    result_timings(e, r);
    result_history(e, r);
}

void edge_result_free(edge_result_t *e)
{
    free(e->history);
    free(e->history_ptrs);
    e->history = NULL;
    e->history_ptrs = NULL;
}
