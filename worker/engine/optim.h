/* AdamW over a trial's trainable buffer, as PyTorch's torch.optim.AdamW (decoupled weight
 * decay, bias-corrected moments), with Hugging Face's linear warmup/decay schedule and
 * gradient-norm clipping (torch.nn.utils.clip_grad_norm_). Moments mirror the parameter
 * buffer's layout, so the update is one loop per tensor (tensors differ only in whether weight
 * decay applies: not to biases and LayerNorm weights, as Hugging Face's Trainer).
 *
 * A step k (0-based) uses the learning rate lr * f(k), f rising linearly from 0 over the
 * warmup steps, then falling linearly to 0 at total_steps (the schedule is stepped after the
 * optimiser, so the first step of a warmup has rate 0, as in Hugging Face's Trainer). */
#ifndef AUTOPEFT_OPTIM_H
#define AUTOPEFT_OPTIM_H

#include "worker/engine/peft.h"
#include "worker/engine/pool.h"

typedef struct {
    double lr;              /* peak learning rate */
    double beta1, beta2;    /* 0.9, 0.999 */
    double eps;             /* 1e-8 */
    double weight_decay;    /* 0.01 */
    double max_grad_norm;   /* 1.0; 0 = no clipping */
    int warmup_steps;       /* 0 */
    int total_steps;        /* 0 = no decay after warmup */
    pool_t *pool;           /* threads to split the update over (the engine's: engine_pool);
                             * NULL = the calling thread. The result is the same either way. */
} optim_opts_t;

typedef struct optim optim_t;

void optim_opts_default(optim_opts_t *o);
/* NULL (err_set says why) on bad options or no memory. */
optim_t *optim_new(peft_t *p, const optim_opts_t *o);
void optim_free(optim_t **op);

/* The schedule's learning rate at step k. */
double optim_lr(const optim_t *o, int k);
/* One update from the gradients in p: clips them (in place), applies AdamW at the scheduled
 * rate, advances the step. grad_norm (the norm before clipping) and lr may be NULL.
 * ERR_NUMERIC, parameters untouched, when the gradient norm is not finite. */
int optim_step(optim_t *o, double *grad_norm, double *lr);
int optim_steps_done(const optim_t *o);

#endif
