/* Trainer helpers and the synthetic (fast-mode) trainer (trainer.h). */
#include "worker/trial/trainer.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/mem.h"
#include "common/rng.h"
#include "common/shape.h"
#include "common/utf8.h"

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

    out->status = TRAINER_STATUS_FAILED;
    out->retryable = retryable;
    va_start(ap, fmt);
    vsnprintf(out->error, sizeof out->error, fmt, ap);
    va_end(ap);
    trainer_sanitize(out->error, false);
    if (!out->error[0])
        snprintf(out->error, sizeof out->error, "failed");
}

int trainer_config_at(const space_config_t *c, int layers, space_config_t *out)
{
    memset(out, 0, sizeof *out);
    if (layers < 1 || layers > SPACE_MAX_LAYERS)
        return err_set(ERR_INVAL, "model of %d layers", layers);
    out->layers = layers;
    if (c->layers == layers) {
        *out = *c;
        space_config_canonicalise(out);
        return 0;
    }
    for (int m = 0; m < SPACE_NMODULES; m++)
        if (space_config_active(c, (space_module_t)m))
            return err_set(ERR_INVAL, "the %s mask has %d layers, the model %d",
                           space_module_name((space_module_t)m), c->layers, layers);
    return 0;   /* no module, at any depth */
}

int trainer_counts(const trainer_trial_t *t, int hidden, int layers, trainer_result_t *out)
{
    int bottleneck = t->spec.prefix_bottleneck;
    space_config_t c;
    space_counts_t n;
    shape_t s;
    int rc;

    shape_default(&s, hidden, layers);
    s.labels = t->spec.num_labels > 0 ? t->spec.num_labels : 2;
    if ((rc = trainer_config_at(&t->spec.config, layers, &c)) != 0 ||
        (rc = space_config_count(&c, &s, bottleneck > 0 ? bottleneck : SPACE_PREFIX_BOTTLENECK,
                                 &n)))
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

double trainer_synthetic_objective(const space_config_t *config, const trainer_synthetic_t *y,
                                   uint64_t seed)
{
    static const double weight[SPACE_NMODULES] = {0.85, 0.75, 0.5, 0.7, 0.85};
    int hidden = y->hidden, layers = y->layers;
    double v[SPACE_MAX_LAYERS], vsum = 0, keep = 1, csum = 0, q, f;
    space_config_t c;
    rng_t r;

    if (trainer_config_at(config, layers, &c) != 0 || hidden < 1)
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
    if (y->noise > 0) {
        rng_seed_stream(&r, seed, space_config_hash(&c));
        f += y->noise * rng_normal(&r);
    }
    return f;
}

/* ---- the synthetic trainer ---------------------------------------------------------------- */

#define SLICE_MS 50

static int synth_run(trainer_t *t, const trainer_trial_t *trial, const trainer_env_t *env,
                     trainer_result_t *out)
{
    const trainer_synthetic_t *y = &trial->synthetic;
    double t0 = clock_s(), total_ms;
    const uint32_t epochs = 3;

    (void)t;
    if (!trial->has_synthetic) {
        trainer_fail(out, false, "the synthetic trainer runs TRIAL_MODE_SYNTHETIC trials only");
        return 0;
    }
    total_ms = y->duration_ms;
    /* Pretend to train: sleep in slices, reporting progress and watching for a cancel. */
    for (;;) {
        double done_ms = (clock_s() - t0) * 1000, left = total_ms - done_ms;
        trainer_progress_t p;
        struct timespec ts;
        if (atomic_load(env->cancel)) {
            out->status = TRAINER_STATUS_CANCELLED;
            snprintf(out->error, sizeof out->error, "cancelled after %.0f ms", done_ms);
            return 0;
        }
        if (left <= 0)
            break;
        memset(&p, 0, sizeof p);
        p.state = TRAINER_STATE_TRAINING;
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
    if (y->fail) {
        trainer_fail(out, false, "synthetic failure (forced by [synthetic] fail_rate)");
        return 0;
    }
    out->objective = trainer_synthetic_objective(&trial->spec.config, y, trial->spec.seed);
    if (!isfinite(out->objective)) {
        trainer_fail(out, false, "the configuration does not fit a model of %d layers",
                     y->layers);
        return 0;
    }
    if (trainer_counts(trial, y->hidden, y->layers, out) != 0) {
        trainer_fail(out, false, "%s", err_msg());
        return 0;
    }
    out->status = TRAINER_STATUS_OK;
    snprintf(out->objective_name, sizeof out->objective_name, "synthetic");
    out->nmetrics = 1;
    snprintf(out->metrics[0].name, sizeof out->metrics[0].name, "synthetic");
    out->metrics[0].value = out->objective;
    out->best_epoch = out->epochs_run = epochs;
    out->total_s = out->train_s = clock_s() - t0;
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
    .kind = TRAINER_KIND_SYNTHETIC,
    .mode = TRAINER_MODE_SYNTHETIC,
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
