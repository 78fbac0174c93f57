/* AdamW, schedule and clipping: see optim.h. */
#include "worker/engine/optim.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/err.h"
#include "common/mem.h"
#include "worker/engine/simd.h"

struct optim {
    peft_t *p;
    optim_opts_t o;
    float *m, *v;
    int step;
};

void optim_opts_default(optim_opts_t *o)
{
    *o = (optim_opts_t){
        .lr = 1e-4, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01,
        .max_grad_norm = 1.0,
    };
}

static int check(const optim_opts_t *o)
{
    if (!(o->lr >= 0.0 && o->lr < 1e3))
        return err_set(ERR_INVAL, "learning rate %g: expected [0, 1000)", o->lr);
    if (!(o->beta1 >= 0.0 && o->beta1 < 1.0) || !(o->beta2 >= 0.0 && o->beta2 < 1.0))
        return err_set(ERR_INVAL, "Adam betas %g, %g: expected [0, 1)", o->beta1, o->beta2);
    if (!(o->eps > 0.0 && o->eps < 1.0))
        return err_set(ERR_INVAL, "Adam epsilon %g: expected (0, 1)", o->eps);
    if (!(o->weight_decay >= 0.0 && o->weight_decay < 10.0))
        return err_set(ERR_INVAL, "weight decay %g: expected [0, 10)", o->weight_decay);
    if (!(o->max_grad_norm >= 0.0 && isfinite(o->max_grad_norm)))
        return err_set(ERR_INVAL, "maximum gradient norm %g: expected >= 0", o->max_grad_norm);
    if (o->warmup_steps < 0 || o->total_steps < 0)
        return err_set(ERR_INVAL, "warmup %d / total %d steps: expected >= 0", o->warmup_steps,
                       o->total_steps);
    return 0;
}

optim_t *optim_new(peft_t *p, const optim_opts_t *o)
{
    optim_t *op;

    if (check(o) != 0)
        return NULL;
    op = mem_alloc(1, sizeof *op, "optimiser");
    if (!op)
        return NULL;
    op->p = p;
    op->o = *o;
    op->m = mem_alloc_aligned(peft_size(p), sizeof(float), "Adam moments");
    op->v = mem_alloc_aligned(peft_size(p), sizeof(float), "Adam moments");
    if (!op->m || !op->v)
        optim_free(&op);
    return op;
}

void optim_free(optim_t **op)
{
    if (!op || !*op)
        return;
    free((*op)->m);
    free((*op)->v);
    free(*op);
    *op = NULL;
}

double optim_lr(const optim_t *o, int k)
{
    int w = o->o.warmup_steps, t = o->o.total_steps;
    double f;

    if (k < w)
        f = (double)k / (w > 1 ? w : 1);
    else if (t > 0)
        f = fmax(0.0, (double)(t - k) / (t - w > 1 ? t - w : 1));
    else
        f = 1.0;
    return o->o.lr * f;
}

int optim_steps_done(const optim_t *o)
{
    return o->step;
}

/* One step's AdamW scalars, computed in double and rounded to float as PyTorch does for a float
 * tensor. */
typedef struct {
    float decay;       /* 1 - lr * weight_decay, for the tensors that decay */
    float b1, b2;      /* the betas */
    float bc2_sqrt;    /* sqrt(1 - beta2^k), the second moment's bias correction */
    float eps;
    float step;        /* lr / (1 - beta1^k) */
} adamw_t;

/* One tensor's AdamW update (weight decay where decays). */
SIMD_FN
static void adamw(float *restrict p, const float *restrict g, float *restrict m, float *restrict v,
                  size_t n, bool decays, const adamw_t *s)
{
    float decay = decays ? s->decay : 1.0f, b1 = s->b1, b2 = s->b2, bc2_sqrt = s->bc2_sqrt;
    float eps = s->eps, step = s->step;
    float c1 = 1.0f - b1, c2 = 1.0f - b2;

    for (size_t i = 0; i < n; i++) {
        float gi = g[i];

        p[i] *= decay;
        m[i] = m[i] * b1 + c1 * gi;
        v[i] = v[i] * b2 + c2 * gi * gi;
        p[i] -= step * (m[i] / (sqrtf(v[i]) / bc2_sqrt + eps));
    }
}

/* The sum of squares in double, over eight running sums: one sum is a chain of dependent adds
 * (a few cycles an element, milliseconds on the prefix MLP's millions of parameters). */
SIMD_FN
static double sum_squares(const float *restrict g, size_t n)
{
    double s[8] = {0};
    size_t i = 0;

    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            s[k] += (double)g[i + k] * g[i + k];
    for (; i < n; i++)
        s[0] += (double)g[i] * g[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* One step's update over the flat buffer, in parts (pool tasks). */
typedef struct {
    optim_t *o;
    adamw_t s;
    int parts;
} update_t;

static void update_part(void *arg, int part, int tid)
{
    const update_t *u = arg;
    optim_t *o = u->o;
    peft_t *p = o->p;
    float *g = peft_grad_buffer(p), *w = peft_param_buffer(p);
    long b, e;

    (void)tid;
    pool_split((long)peft_size(p), u->parts, part, 64, &b, &e);
    for (int t = 0; t < peft_tensor_count(p) && b < e; t++) {
        const peft_tensor_t *pt = peft_tensor(p, t);
        long lo = (long)pt->offset, hi = lo + (long)pt->count;

        lo = lo > b ? lo : b;
        hi = hi < e ? hi : e;
        if (lo < hi)
            adamw(w + lo, g + lo, o->m + lo, o->v + lo, (size_t)(hi - lo), pt->decay, &u->s);
    }
}

int optim_step(optim_t *o, double *grad_norm, double *lr_out)
{
    peft_t *p = o->p;
    float *g = peft_grad_buffer(p);
    size_t n = peft_size(p);
    double norm = sqrt(sum_squares(g, n)), lr = optim_lr(o, o->step), bc1, bc2;
    update_t u;
    int k;

    if (!isfinite(norm))
        return err_set(ERR_NUMERIC, "gradient norm is not finite at step %d", o->step + 1);
    if (o->o.max_grad_norm > 0.0) {
        double coef = o->o.max_grad_norm / (norm + 1e-6);

        if (coef < 1.0)
            for (size_t i = 0; i < n; i++)
                g[i] *= (float)coef;
    }
    k = ++o->step;
    bc1 = 1.0 - pow(o->o.beta1, k);
    bc2 = 1.0 - pow(o->o.beta2, k);
    u = (update_t){.o = o,
                   .s = {.decay = (float)(1.0 - lr * o->o.weight_decay), .b1 = (float)o->o.beta1,
                         .b2 = (float)o->o.beta2, .bc2_sqrt = (float)sqrt(bc2),
                         .eps = (float)o->o.eps, .step = (float)(lr / bc1)},
                   .parts = 1};
    /* a part per thread when there is enough to share (the update is memory-bound) */
    if (o->o.pool && n >= (1u << 16))
        u.parts = pool_threads(o->o.pool);
    if (u.parts > 1)
        pool_run(o->o.pool, u.parts, update_part, &u);
    else
        update_part(&u, 0, 0);
    if (grad_norm)
        *grad_norm = norm;
    if (lr_out)
        *lr_out = lr;
    return 0;
}
