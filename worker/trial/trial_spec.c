/* A trial's specification: defaults and checks (trial_spec.h). */
#include "worker/trial/trial_spec.h"

#include <math.h>
#include <string.h>

#include "common/err.h"
#include "common/shape.h"

void trial_spec_default(trial_spec_t *s)
{
    memset(s, 0, sizeof *s);
    s->epochs = 3;
    s->batch_size = 32;
    s->eval_batch_size = 64;
    s->max_length = 128;
    s->learning_rate = 1e-4;
    s->warmup_ratio = 0.06;
    s->weight_decay = 0.01;
    s->max_grad_norm = 1.0;
    s->dropout = -1;
    s->seed = 1;
}

int trial_spec_check(const trial_spec_t *s)
{
    if (s->epochs < 1 || s->epochs > TRIAL_MAX_EPOCHS)
        return err_set(ERR_INVAL, "epochs %d: expected 1..%d", s->epochs, TRIAL_MAX_EPOCHS);
    if (s->batch_size < 1 || s->batch_size > TRIAL_MAX_BATCH)
        return err_set(ERR_INVAL, "batch size %d: expected 1..%d", s->batch_size,
                       TRIAL_MAX_BATCH);
    if (s->eval_batch_size < 0 || s->eval_batch_size > TRIAL_MAX_BATCH)
        return err_set(ERR_INVAL, "eval batch size %d: expected 1..%d", s->eval_batch_size,
                       TRIAL_MAX_BATCH);
    if (s->max_length < 3 || s->max_length > SHAPE_MAX_POSITIONS)
        return err_set(ERR_INVAL, "maximum length %d: expected 3..%d", s->max_length,
                       SHAPE_MAX_POSITIONS);
    if ((long)s->batch_size * s->max_length > (1 << 20))
        return err_set(ERR_RANGE, "batch size x maximum length = %ld tokens; at most %d",
                       (long)s->batch_size * s->max_length, 1 << 20);
    if (!(s->learning_rate > 0 && s->learning_rate < 10))
        return err_set(ERR_INVAL, "learning rate %g: expected (0, 10)", s->learning_rate);
    if (!(s->warmup_ratio >= 0 && s->warmup_ratio <= 1))
        return err_set(ERR_INVAL, "warmup ratio %g: expected [0, 1]", s->warmup_ratio);
    if (!(s->weight_decay >= 0 && s->weight_decay <= 100))
        return err_set(ERR_INVAL, "weight decay %g: expected [0, 100]", s->weight_decay);
    if (!(s->max_grad_norm >= 0 && isfinite(s->max_grad_norm)))
        return err_set(ERR_INVAL, "gradient clipping norm %g: expected >= 0 (0: off)",
                       s->max_grad_norm);
    if (!(s->dropout < 1) || isnan(s->dropout))
        return err_set(ERR_INVAL, "dropout %g: expected [0, 1)", s->dropout);
    if (s->max_train_examples < 0 || s->max_eval_examples < (s->eval_dir ? -1 : 0) ||
        s->patience < 0 ||
        s->threads < 0 || s->prefix_bottleneck < 0 || !(s->lora_alpha >= 0))
        return err_set(ERR_INVAL, "negative fidelity, patience, threads, bottleneck or alpha");
    /* Writing the inputs trains nothing: another trainer reads the precision from them. */
    if (s->precision != PRECISION_FP32 && !s->inputs_dir && !s->eval_dir)
        return err_set(ERR_UNSUPPORTED, "the built-in trainer trains in float32 only; [recipe] "
                       "precision = %s (--precision) needs an --exec trainer such as "
                       "autopeft-torch-train", precision_name(s->precision));
    return 0;
}
