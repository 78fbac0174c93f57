/* The TRIAL message (trial_msg.h). */
#include "coordinator/runtime/trial_msg.h"

#include "common/rng.h"

Autopeft__TrialRef trial_msg_ref(uint64_t trial_id, uint32_t attempt)
{
    Autopeft__TrialRef r = AUTOPEFT__TRIAL_REF__INIT;

    r.has_trial_id = r.has_attempt = true;
    r.trial_id = trial_id;
    r.attempt = attempt;
    return r;
}

/* A Hugging Face folder, or the embedded default model with its seed. */
static void model_spec(Autopeft__ModelSpec *model, const config_t *c)
{
    autopeft__model_spec__init(model);
    if (c->model_path[0]) {
        model->path = (char *)c->model_path;
    } else {
        model->has_embedded_default = model->has_embedded_seed = true;
        model->embedded_default = true;
        model->embedded_seed = c->model_seed;
    }
}

/* Text of an optional key: NULL when the configuration left it empty. */
static char *given(const char *text)
{
    return text[0] ? (char *)text : NULL;
}

/* The data files and columns, or the embedded default task. */
static void task_spec(Autopeft__TaskSpec *task, const config_t *c)
{
    autopeft__task_spec__init(task);
    task->name = (char *)c->task_name;
    if (c->data_dir[0] || c->train_file[0]) {
        task->data_dir = given(c->data_dir);
        task->train_file = given(c->train_file);
        task->dev_file = given(c->dev_file);
    } else {
        task->has_embedded_default = true;
        task->embedded_default = true;
    }
    task->format = given(c->format);
    task->text_column = given(c->text_column);
    task->pair_column = given(c->pair_column);
    task->label_column = given(c->label_column);
    task->metric = given(c->metric);
    if (c->num_labels > 0) {
        task->has_num_labels = true;
        task->num_labels = (uint32_t)c->num_labels;
    }
}

static Autopeft__Precision precision_msg(precision_t p)
{
    switch (p) {
    case PRECISION_BF16: return AUTOPEFT__PRECISION__PRECISION_BF16;
    case PRECISION_FP16: return AUTOPEFT__PRECISION__PRECISION_FP16;
    default: return AUTOPEFT__PRECISION__PRECISION_FP32;
    }
}

/* The [recipe] section: every field is sent. */
static void recipe(Autopeft__Recipe *rec, const config_t *c)
{
    autopeft__recipe__init(rec);
    rec->has_epochs = rec->has_learning_rate = rec->has_batch_size = rec->has_max_length = true;
    rec->epochs = (uint32_t)c->epochs;
    rec->learning_rate = (float)c->learning_rate;
    rec->batch_size = (uint32_t)c->batch_size;
    rec->max_length = (uint32_t)c->max_length;
    rec->has_warmup_ratio = rec->has_weight_decay = rec->has_max_grad_norm = true;
    rec->warmup_ratio = (float)c->warmup_ratio;
    rec->weight_decay = (float)c->weight_decay;
    rec->max_grad_norm = (float)c->max_grad_norm;
    rec->has_max_train_examples = rec->has_max_eval_examples = rec->has_patience = true;
    rec->max_train_examples = (uint32_t)c->max_train_examples;
    rec->max_eval_examples = (uint32_t)c->max_eval_examples;
    rec->patience = (uint32_t)c->patience;
    rec->has_dropout = rec->has_threads = rec->has_full_finetune = rec->has_lora_alpha = true;
    rec->dropout = (float)c->dropout;
    rec->threads = (uint32_t)c->threads;
    rec->full_finetune = c->full_finetune;
    rec->lora_alpha = (float)c->lora_alpha;
    rec->has_prefix_bottleneck = rec->has_eval_batch_size = true;
    rec->prefix_bottleneck = (uint32_t)c->prefix_bottleneck;
    rec->eval_batch_size = (uint32_t)c->eval_batch_size;
    rec->has_precision = true;
    rec->precision = precision_msg(c->precision);
}

/* Sizes, one layer mask per active module and the text form of configuration c, the strings
 * written into buf (TRIAL_MSG_PEFT_TEXT bytes). */
static void peft_config(Autopeft__PeftConfig *p, const space_config_t *c, char *buf)
{
    uint32_t *sizes[SPACE_NMODULES] = {&p->serial_adapter, &p->parallel_adapter,
                                       &p->prefix_length, &p->lora_rank,
                                       &p->houlsby_adapter};
    protobuf_c_boolean *has[SPACE_NMODULES] = {&p->has_serial_adapter, &p->has_parallel_adapter,
                                               &p->has_prefix_length, &p->has_lora_rank,
                                               &p->has_houlsby_adapter};
    char **masks[SPACE_NMODULES] = {&p->serial_layers, &p->parallel_layers, &p->prefix_layers,
                                    &p->lora_layers, &p->houlsby_layers};

    autopeft__peft_config__init(p);
    for (int m = 0; m < SPACE_NMODULES; m++) {
        char *mask = buf + (size_t)m * (SPACE_MAX_LAYERS + 1);
        *sizes[m] = space_config_active(c, (space_module_t)m) ? c->size[m] : 0;
        *has[m] = true;
        if (*sizes[m] == 0)
            continue;
        for (int l = 0; l < c->layers; l++)
            mask[l] = space_config_layer(c, (space_module_t)m, l) ? '1' : '0';
        mask[c->layers] = '\0';
        *masks[m] = mask;
    }
    p->text = buf + SPACE_NMODULES * (SPACE_MAX_LAYERS + 1);
    if (space_config_format(c, p->text, SPACE_TEXT_MAX) != 0)
        p->text = NULL;
}

/* The synthetic objective's settings for trial t. */
static void synthetic_spec(Autopeft__SyntheticSpec *syn, const config_t *c, const study_trial_t *t)
{
    uint64_t h = rng_mix64(c->seed ^ rng_mix64(t->id));

    autopeft__synthetic_spec__init(syn);
    syn->has_duration_ms = syn->has_noise = syn->has_fail = true;
    syn->has_hidden = syn->has_layers = true;
    syn->duration_ms = (uint32_t)c->syn_duration_ms;
    syn->noise = (float)c->syn_noise;
    /* Forced failures are a deterministic function of the trial, so tests can count them. */
    syn->fail = (double)(h >> 11) * 0x1.0p-53 < c->syn_fail_rate;
    syn->hidden = (uint32_t)c->shape.hidden;
    syn->layers = (uint32_t)c->shape.layers;
}

void trial_msg_init(trial_msg_t *m, const config_t *cfg, const study_trial_t *t,
                    const char *save_dir)
{
    autopeft__trial__init(&m->trial);
    autopeft__trial_spec__init(&m->spec);
    m->ref = trial_msg_ref(t->id, t->attempt);
    m->trial.ref = &m->ref;
    m->trial.study_name = (char *)cfg->name;
    m->trial.spec = &m->spec;
    model_spec(&m->model, cfg);
    task_spec(&m->task, cfg);
    recipe(&m->recipe, cfg);
    m->recipe.full_finetune = cfg->full_finetune || t->full_finetune;
    peft_config(&m->peft, &t->config, m->peft_text);
    m->spec.model = &m->model;
    m->spec.task = &m->task;
    m->spec.recipe = &m->recipe;
    m->spec.peft = &m->peft;
    m->spec.has_seed = m->spec.has_data_seed = true;
    m->spec.seed = t->seed;
    m->spec.data_seed = cfg->seed;
    m->spec.has_report_curve = true;
    m->spec.report_curve = cfg->fidelity != CONFIG_FIDELITY_NONE;
    m->spec.has_mode = true;
    if (cfg->mode == CONFIG_MODE_SYNTHETIC) {
        synthetic_spec(&m->synthetic, cfg, t);
        m->spec.mode = AUTOPEFT__TRIAL_MODE__TRIAL_MODE_SYNTHETIC;
        m->spec.synthetic = &m->synthetic;
    } else {
        m->spec.mode = AUTOPEFT__TRIAL_MODE__TRIAL_MODE_TRAIN;
        m->spec.save_dir = (char *)save_dir;
    }
}
