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

bool trainer_stopping(const trainer_env_t *env)
{
    return env->stop && atomic_load(env->stop);
}

void trainer_stop(trainer_result_t *out, uint32_t epochs)
{
    int n = out->nhistory < TRAINER_MAX_HISTORY ? out->nhistory : TRAINER_MAX_HISTORY;

    out->status = TRAINER_STATUS_STOPPED;
    out->retryable = false;
    out->objective = 0;
    out->best_epoch = out->epochs_run = 0;
    for (int i = 0; i < n; i++)
        if (!out->best_epoch || out->history[i].objective > out->objective) {
            out->objective = out->history[i].objective;
            out->best_epoch = out->history[i].epoch;
        }
    if (n > 0)
        out->epochs_run = out->history[n - 1].epoch;
    if (!n)
        snprintf(out->error, sizeof out->error, "stopped before its first evaluation");
    else if (epochs)
        snprintf(out->error, sizeof out->error, "stopped after epoch %u of %u", out->epochs_run,
                 epochs);
    else
        snprintf(out->error, sizeof out->error, "stopped after epoch %u", out->epochs_run);
}

/* ---- the synthetic objective and curve ---------------------------------------------------- */

/* Stream of the curve's per-epoch noise (the last epoch's is the objective's own). */
#define STREAM_CURVE 0x6375727665ull
/* The share of configurations whose curve starts slowly (convex). */
#define SLOW_FRACTION 0.25

/* The noiseless synthetic objective of config on y's shape, and the configuration's quality
 * q in [0, 1) (1 - the product of what each module leaves unlearnt) into *q_out and its
 * canonical form into *c. NaN when it does not fit. */
static double synthetic_clean(const space_config_t *config, const trainer_synthetic_t *y,
                              space_config_t *c, double *q_out)
{
    static const double weight[SPACE_NMODULES] = {0.85, 0.75, 0.5, 0.7, 0.85};
    int hidden = y->hidden, layers = y->layers;
    double v[SPACE_MAX_LAYERS], vsum = 0, keep = 1, csum = 0, q;

    if (trainer_config_at(config, layers, c) != 0 || hidden < 1)
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
        if (!space_config_active(c, (space_module_t)m))
            continue;
        /* Diminishing returns in the size: log scale up to the model's width. */
        cm = log2(1.0 + c->size[m]) / log2(1.0 + hidden);
        if (cm > 1)
            cm = 1;
        for (int l = 0; l < layers; l++)
            if (space_config_layer(c, (space_module_t)m, l))
                cover += v[l];
        csum += cm;
        keep *= 1 - weight[m] * cm * pow(cover / vsum, 0.7);
    }
    q = 1 - keep;
    *q_out = q;
    return 0.50 + 0.42 * (1 - exp(-3 * q)) / (1 - exp(-3)) - 0.05 * pow(fmax(0, csum - 1.8), 2);
}

double trainer_synthetic_objective(const space_config_t *config, const trainer_synthetic_t *y,
                                   uint64_t seed)
{
    space_config_t c;
    double q, f = synthetic_clean(config, y, &c, &q);
    rng_t r;

    if (isfinite(f) && y->noise > 0) {
        rng_seed_stream(&r, seed, space_config_hash(&c));
        f += y->noise * rng_normal(&r);
    }
    return f;
}

/* The share g(x) of the way from the start to the end of the curve learnt at x = epoch/epochs,
 * for rate k: (1 - e^(-kx)) / (1 - e^(-k)), concave for k > 0 (fast, then a plateau), convex for
 * k < 0 (a slow start), x itself for k near 0; g(0) = 0, g(1) = 1 exactly. */
static double curve_share(double x, double k)
{
    if (fabs(k) < 1e-9)
        return x;
    return -expm1(-k * x) / -expm1(-k);
}

/* The configuration's learning rate k, from h in [0, 1), a hash of the configuration: a quarter
 * of the configurations (h < 0.25) start slowly, k = 6h - 1.5 in [-1.5, 0); the others learn
 * fast, k = (1 + 7 (h - 0.25) / 0.75) (1.5 - q) in (0.5, 12], the faster the smaller their
 * quality q, so small configurations tend to reach their low plateau first. */
static double curve_rate(const space_config_t *c, double q)
{
    double h = (double)(rng_mix64(space_config_hash(c) ^ STREAM_CURVE) >> 11) * 0x1.0p-53;

    if (h < SLOW_FRACTION)
        return 6 * h - 1.5;
    return (1 + 7 * (h - SLOW_FRACTION) / (1 - SLOW_FRACTION)) * (1.5 - q);
}

double trainer_synthetic_curve(const space_config_t *config, const trainer_synthetic_t *y,
                               uint64_t seed, uint32_t epoch, uint32_t epochs)
{
    space_config_t c;
    double q, f = synthetic_clean(config, y, &c, &q), m0, m;
    rng_t r;

    if (!isfinite(f) || epoch < 1 || epoch > epochs)
        return NAN;
    if (epoch == epochs)
        return trainer_synthetic_objective(config, y, seed);
    m0 = fmin(0.5, f);
    m = f - (f - m0) * (1 - curve_share((double)epoch / epochs, curve_rate(&c, q)));
    if (y->noise > 0) {
        rng_seed_stream(&r, seed ^ STREAM_CURVE, space_config_hash(&c) + epoch);
        m += y->noise * rng_normal(&r);
    }
    return m;
}

/* ---- the synthetic trainer ---------------------------------------------------------------- */

#define SLICE_MS 50

/* Sleeps ms in slices of at most SLICE_MS, reporting p's progress of epoch `epoch` along the
 * way. false when the attempt was cancelled (or stopped) meanwhile. */
static bool synth_sleep(const trainer_env_t *env, trainer_progress_t *p, double ms,
                        double t0, double total_ms)
{
    double end = clock_s() + ms / 1000;

    for (;;) {
        double left = (end - clock_s()) * 1000, done_ms = (clock_s() - t0) * 1000;
        struct timespec ts;
        if (atomic_load(env->cancel))
            return false;
        if (left <= 0)
            return true;
        p->fraction = total_ms > 0 ? fmin(1, done_ms / total_ms) : 0;
        p->step = (uint64_t)(p->fraction * (double)p->steps_total);
        p->has_loss = true;
        p->loss = (float)(0.7 * (1 - p->fraction) + 0.2);
        p->eta_s = (total_ms - done_ms) / 1000;
        env->progress(env->ctx, p);
        if (left > SLICE_MS)
            left = SLICE_MS;
        ts.tv_sec = 0;
        ts.tv_nsec = (long)(left * 1e6);
        nanosleep(&ts, NULL);
    }
}

/* The epochs: each sleeps its share of duration_ms, then its curve point goes into
 * out->history and is reported. false when cancelled or stopped (out not concluded). */
static bool synth_epochs(const trainer_trial_t *trial, const trainer_env_t *env,
                         trainer_result_t *out, double t0)
{
    const trainer_synthetic_t *y = &trial->synthetic;
    uint32_t epochs = (uint32_t)trial->spec.epochs;
    double per_ms = (double)y->duration_ms / epochs;
    trainer_progress_t p;

    memset(&p, 0, sizeof p);
    p.state = TRAINER_STATE_TRAINING;
    p.epochs = epochs;
    p.steps_total = 100 * (uint64_t)epochs;
    for (uint32_t e = 1; e <= epochs; e++) {
        trainer_epoch_t *h = &out->history[out->nhistory];
        p.epoch = e;
        if (!synth_sleep(env, &p, per_ms, t0, y->duration_ms) || atomic_load(env->cancel))
            return false;
        h->epoch = e;
        h->objective = trainer_synthetic_curve(&trial->spec.config, y, trial->spec.seed, e,
                                               epochs);
        h->train_loss = (float)(0.7 * (1 - (double)e / epochs) + 0.2);
        h->seconds = clock_s() - t0;
        out->nhistory++;
        out->epochs_run = e;
        p.fraction = (double)e / epochs;
        p.step = 100 * (uint64_t)e;
        p.has_metric = true;
        p.metric = h->objective;
        p.curve = out->history;
        p.ncurve = out->nhistory;
        env->progress(env->ctx, &p);
        p.curve = NULL;
    }
    return true;
}

static void synth_name(trainer_result_t *out)
{
    snprintf(out->objective_name, sizeof out->objective_name, "synthetic");
    out->nmetrics = 1;
    snprintf(out->metrics[0].name, sizeof out->metrics[0].name, "synthetic");
    out->metrics[0].value = out->objective;
}

static int synth_run(trainer_t *t, const trainer_trial_t *trial, const trainer_env_t *env,
                     trainer_result_t *out)
{
    const trainer_synthetic_t *y = &trial->synthetic;
    double t0 = clock_s();
    int epochs = trial->spec.epochs;

    (void)t;
    if (!trial->has_synthetic) {
        trainer_fail(out, false, "the synthetic trainer runs TRIAL_MODE_SYNTHETIC trials only");
        return 0;
    }
    if (epochs < 1 || epochs > TRAINER_MAX_HISTORY) {
        trainer_fail(out, false, "epochs %d: expected 1..%d", epochs, TRAINER_MAX_HISTORY);
        return 0;
    }
    if (!isfinite(trainer_synthetic_objective(&trial->spec.config, y, trial->spec.seed))) {
        trainer_fail(out, false, "the configuration does not fit a model of %d layers",
                     y->layers);
        return 0;
    }
    if (trainer_counts(trial, y->hidden, y->layers, out) != 0) {
        trainer_fail(out, false, "%s", err_msg());
        return 0;
    }
    out->total_s = out->train_s = clock_s() - t0;
    if (!synth_epochs(trial, env, out, t0)) {
        out->total_s = out->train_s = clock_s() - t0;
        if (trainer_stopping(env)) {
            trainer_stop(out, (uint32_t)epochs);
            if (out->best_epoch)
                synth_name(out);
            return 0;
        }
        out->status = TRAINER_STATUS_CANCELLED;
        snprintf(out->error, sizeof out->error, "cancelled after %.0f ms", out->total_s * 1000);
        return 0;
    }
    out->total_s = out->train_s = clock_s() - t0;
    if (y->fail) {
        trainer_fail(out, false, "synthetic failure (forced by [synthetic] fail_rate)");
        return 0;
    }
    /* The last epoch is the result, as the objective always was: the curve models how a run
     * gets there, not early stopping. */
    out->status = TRAINER_STATUS_OK;
    out->objective = out->history[out->nhistory - 1].objective;
    out->best_epoch = out->epochs_run = (uint32_t)epochs;
    synth_name(out);
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
