/* Trainer helpers and the synthetic (fast-mode) trainer (trainer.h). */
#include "worker/trial/trainer.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/mem.h"
#include "common/rng.h"
#include "common/shape.h"
#include "common/space.h"
#include "common/utf8.h"
#include "common/wire.h"

void trainer_free(trainer_t **tp)
{
    if (*tp && (*tp)->ops->free)
        (*tp)->ops->free(*tp);
    *tp = NULL;
}

void trainer_sanitize(char *s, bool one_line)
{
    size_t n = strlen(s), i = 0;

    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t k = utf8_sequence((const unsigned char *)s + i, n - i);
        if (k == 0) {
            s[i++] = '?';
            continue;
        }
        if (k == 1 && (c == 0x7f || (c < 0x20 && (one_line || (c != '\n' && c != '\t' &&
                                                              c != '\r')))))
            s[i] = '?';
        i += k;
    }
}

void trainer_fail(trainer_result_t *out, bool retryable, const char *fmt, ...)
{
    va_list ap;

    out->status = AUTOPEFT__RESULT_STATUS__RESULT_STATUS_FAILED;
    out->retryable = retryable;
    va_start(ap, fmt);
    vsnprintf(out->error, sizeof out->error, fmt, ap);
    va_end(ap);
    trainer_sanitize(out->error, false);
    if (!out->error[0])
        snprintf(out->error, sizeof out->error, "failed");
}

int trainer_peft_config(const Autopeft__PeftConfig *p, int layers, space_config_t *c)
{
    const uint32_t sizes[SPACE_NMODULES] = {p->serial_adapter, p->parallel_adapter,
                                            p->prefix_length, p->lora_rank};
    const char *masks[SPACE_NMODULES] = {p->serial_layers, p->parallel_layers, p->prefix_layers,
                                         p->lora_layers};

    memset(c, 0, sizeof *c);
    if (layers < 1 || layers > SPACE_MAX_LAYERS)
        return err_set(ERR_INVAL, "model of %d layers", layers);
    c->layers = layers;
    for (int m = 0; m < SPACE_NMODULES; m++) {
        c->size[m] = sizes[m];
        if (!sizes[m])
            continue;
        if (!masks[m] || strlen(masks[m]) != (size_t)layers)
            return err_set(ERR_INVAL, "the %s mask has %zu layers, the model %d",
                           space_module_name((space_module_t)m), masks[m] ? strlen(masks[m]) : 0,
                           layers);
        for (int l = 0; l < layers; l++)
            space_config_set_layer(c, (space_module_t)m, l, masks[m][l] == '1');
    }
    space_config_canonicalise(c);
    return 0;
}

int trainer_counts(const Autopeft__PeftConfig *peft, int hidden, int layers, int labels,
                   int prefix_bottleneck, trainer_result_t *out)
{
    space_config_t c;
    space_counts_t n;
    shape_t s;
    int rc;

    shape_default(&s, hidden, layers);
    s.labels = labels > 0 ? labels : 2;
    if ((rc = trainer_peft_config(peft, layers, &c)) != 0 ||
        (rc = space_config_count(&c, &s, prefix_bottleneck > 0 ? prefix_bottleneck
                                                                : SPACE_PREFIX_BOTTLENECK, &n)))
        return rc;
    out->has_params = true;
    out->trainable = n.trainable;
    out->deployed = n.deployed;
    out->modules_trainable = n.modules_trainable;
    out->modules_deployed = n.modules_deployed;
    out->head = n.head;
    out->backbone = n.backbone;
    out->percent = n.percent;
    return 0;
}

/* ---- the synthetic objective -------------------------------------------------------------- */

double trainer_synthetic_objective(const Autopeft__PeftConfig *peft, int hidden, int layers,
                                   uint64_t seed, double noise)
{
    static const double weight[SPACE_NMODULES] = {0.85, 0.75, 0.5, 0.7};
    double v[SPACE_MAX_LAYERS], vsum = 0, keep = 1, csum = 0, q, f;
    char text[SPACE_TEXT_MAX];
    space_config_t c;
    rng_t r;

    if (trainer_peft_config(peft, layers, &c) != 0 || hidden < 1)
        return NAN;
    /* Upper layers matter more (task-specific features), with a bump two thirds of the way up
     * where adapters help most; every layer has some value. */
    for (int l = 0; l < layers; l++) {
        double t = layers > 1 ? (double)l / (layers - 1) : 1;
        v[l] = 0.3 + 0.7 * pow(t, 1.3) + 0.4 * exp(-pow((t - 0.67) / 0.15, 2));
        vsum += v[l];
    }
    for (int m = 0; m < SPACE_NMODULES; m++) {
        double cm, cover = 0;
        if (!space_config_active(&c, (space_module_t)m))
            continue;
        /* Diminishing returns in the size: log scale up to the model's width. */
        cm = log2(1.0 + c.size[m]) / log2(1.0 + hidden);
        if (cm > 1)
            cm = 1;
        for (int l = 0; l < layers; l++)
            if (space_config_layer(&c, (space_module_t)m, l))
                cover += v[l];
        csum += cm;
        keep *= 1 - weight[m] * cm * pow(cover / vsum, 0.7);
    }
    q = 1 - keep;
    f = 0.50 + 0.42 * (1 - exp(-3 * q)) / (1 - exp(-3)) -
        0.05 * pow(fmax(0, csum - 1.8), 2);
    if (noise > 0) {
        space_config_format(&c, text, sizeof text);
        rng_seed_stream(&r, seed, space_config_hash(&c));
        f += noise * rng_normal(&r);
    }
    return f;
}

/* ---- the synthetic trainer ---------------------------------------------------------------- */

#define SLICE_MS 50

static double mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int synth_run(trainer_t *t, const Autopeft__Trial *trial, const trainer_env_t *env,
                     trainer_result_t *out)
{
    const Autopeft__TrialSpec *s = trial->spec;
    const Autopeft__SyntheticSpec *y = s->synthetic;
    double t0 = mono(), total_ms;
    const uint32_t epochs = 3;
    int labels = s->task->has_num_labels ? (int)s->task->num_labels : 2;
    int bottleneck = s->recipe->has_prefix_bottleneck ? (int)s->recipe->prefix_bottleneck : 0;

    (void)t;
    if (!y) {
        trainer_fail(out, false, "the synthetic trainer runs TRIAL_MODE_SYNTHETIC trials only");
        return 0;
    }
    total_ms = y->has_duration_ms ? y->duration_ms : 0;
    /* Pretend to train: sleep in slices, reporting progress and watching for a cancel. */
    for (;;) {
        double done_ms = (mono() - t0) * 1000, left = total_ms - done_ms;
        trainer_progress_t p;
        struct timespec ts;
        if (atomic_load(env->cancel)) {
            out->status = AUTOPEFT__RESULT_STATUS__RESULT_STATUS_CANCELLED;
            snprintf(out->error, sizeof out->error, "cancelled after %.0f ms", done_ms);
            return 0;
        }
        if (left <= 0)
            break;
        memset(&p, 0, sizeof p);
        p.state = AUTOPEFT__WORKER_STATE__WORKER_STATE_TRAINING;
        p.fraction = done_ms / total_ms;
        p.epochs = epochs;
        p.epoch = 1 + (uint32_t)(p.fraction * epochs);
        if (p.epoch > epochs)
            p.epoch = epochs;
        p.steps_total = 100;
        p.step = (uint64_t)(p.fraction * 100);
        p.has_loss = true;
        p.loss = (float)(0.7 * (1 - p.fraction) + 0.2);
        p.eta_s = left / 1000;
        env->progress(env->ctx, &p);
        if (left > SLICE_MS)
            left = SLICE_MS;
        ts.tv_sec = 0;
        ts.tv_nsec = (long)(left * 1e6);
        nanosleep(&ts, NULL);
    }
    if (y->has_fail && y->fail) {
        trainer_fail(out, false, "synthetic failure (forced by [synthetic] fail_rate)");
        return 0;
    }
    out->objective = trainer_synthetic_objective(s->peft, (int)y->hidden, (int)y->layers,
                                                 s->seed, y->has_noise ? y->noise : 0);
    if (!isfinite(out->objective)) {
        trainer_fail(out, false, "the configuration does not fit a model of %u layers",
                     y->layers);
        return 0;
    }
    if (trainer_counts(s->peft, (int)y->hidden, (int)y->layers, labels, bottleneck, out) != 0) {
        trainer_fail(out, false, "%s", err_msg());
        return 0;
    }
    out->status = AUTOPEFT__RESULT_STATUS__RESULT_STATUS_OK;
    snprintf(out->objective_name, sizeof out->objective_name, "synthetic");
    out->nmetrics = 1;
    snprintf(out->metrics[0].name, sizeof out->metrics[0].name, "synthetic");
    out->metrics[0].value = out->objective;
    out->best_epoch = out->epochs_run = epochs;
    out->total_s = out->train_s = mono() - t0;
    out->nhistory = 1;
    out->history[0].epoch = epochs;
    out->history[0].objective = out->objective;
    out->history[0].seconds = out->total_s;
    return 0;
}

static void synth_free(trainer_t *t)
{
    free(t);
}

static const trainer_ops_t synth_ops = {
    .name = "synthetic",
    .capability = AUTOPEFT__CAPABILITY__CAPABILITY_SYNTHETIC,
    .mode = AUTOPEFT__TRIAL_MODE__TRIAL_MODE_SYNTHETIC,
    .run = synth_run,
    .free = synth_free,
};

trainer_t *trainer_synthetic_new(void)
{
    trainer_t *t = mem_alloc(1, sizeof *t, "synthetic trainer");

    if (t)
        t->ops = &synth_ops;
    return t;
}
