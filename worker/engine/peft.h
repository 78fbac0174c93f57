/* The trainable parameters of one trial: the task head, the PEFT modules of a configuration,
 * and (full fine-tuning) a private copy of the backbone. They live in one buffer carved by a
 * size table; the gradients mirror it in a second buffer, so the optimiser is a flat loop.
 *
 * Tensors and their names (d = hidden, r = a module's size, P = prefix length, bn = the prefix
 * MLP's width; Linear weights [out, in] as PyTorch):
 *   (full fine-tuning) every backbone tensor under its Hugging Face name (worker/engine/model.h)
 *   pooler.dense.weight [d, d], .bias [d]; classifier.weight [labels, d], .bias [labels]
 *   peft.prefix.embedding [P, d]; peft.prefix.dense.weight [bn, d], .bias [bn]   (MLP mode)
 *   peft.layer.N.sa.down.weight [r, d], .bias [r]; peft.layer.N.sa.up.weight [d, r], .bias [d]
 *   peft.layer.N.pa.down.* / pa.up.*                     (as sa)
 *   peft.layer.N.ha.attn.down.* / ha.attn.up.* / ha.ffn.down.* / ha.ffn.up.*   (as sa)
 *   peft.layer.N.lora.q.a [r, d], lora.q.b [d, r], lora.v.a, lora.v.b
 *   peft.layer.N.prefix.out.weight [2d, bn], .bias [2d]  (MLP mode: keys then values)
 *   peft.layer.N.prefix.key [P, d], prefix.value [P, d]  (flat mode)
 *
 * Modules (DESIGN.md): in a layer with FFN input x and FFN output h,
 *   out = LN2(x + h + SA(LN2(x + h)) + 4 PA(x)),  SA, PA: up(relu(down(.)))
 * with LN2 the layer's own (frozen) output LayerNorm, both times. Houlsby's adapters (ha) act
 * on a sublayer's output o (after its dropout) before the residual and the LayerNorm,
 * o + HA(o) with HA = up(relu(down(.))): the attention output's (HA_attn, before LN1) and the
 * FFN's (HA_ffn: h above becomes h + HA_ffn(h)). LoRA adds
 * (alpha/r) x A^T B^T to the query and value projections. Prefix tuning prepends P keys and
 * values to the layer's attention, from tanh(E W1^T + b1) W2_N^T + b2_N (the MLP, shared
 * first half), or from flat tensors; peft_eject turns the first into the second.
 *
 * Initialisation (seeded; each tensor from its own stream named by its name, so a module's
 * values do not depend on which others are present): SA and HA N(0, 0.02) weights; PA down and LoRA A
 * Kaiming-uniform, U(+-1/sqrt(fan_in)); PA up and LoRA B zero; biases zero; prefix MLP as
 * PyTorch's defaults (embedding N(0, 1), Linear weight and bias U(+-1/sqrt(fan_in))); flat
 * prefixes N(0, 1). The head is copied from the model (whose loader initialised any part the
 * checkpoint lacked), the backbone too in full fine-tuning. */
#ifndef AUTOPEFT_PEFT_H
#define AUTOPEFT_PEFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/space.h"
#include "worker/engine/model.h"

#define PEFT_NAME_MAX MODEL_NAME_MAX
/* Caps on module sizes from a configuration (the search space stays far below them). */
#define PEFT_MAX_BOTTLENECK 65536
#define PEFT_MAX_PREFIX 4096

typedef struct {
    bool full_finetune;      /* train every weight (the baseline PEFT is compared against) */
    bool prefix_flat;        /* train flat prefixes, without the reparameterisation MLP */
    int prefix_bottleneck;   /* the MLP's width; 0 = SPACE_PREFIX_BOTTLENECK (800) */
    float lora_alpha;        /* LoRA scaling is alpha / r; 0 = r (scaling 1) */
    uint64_t seed;           /* initialisation */
} peft_opts_t;

typedef struct {
    char name[PEFT_NAME_MAX];
    int ndim;
    int dims[2];
    size_t offset;           /* in floats, into the parameter and gradient buffers */
    size_t count;
    bool decay;              /* weight decay applies (not biases, not LayerNorm weights) */
} peft_tensor_t;

typedef struct {
    float *w, *b;
} peft_linear_t;

typedef struct {
    bool sa, pa, lora, prefix, ha;
    peft_linear_t sa_down, sa_up, pa_down, pa_up;
    peft_linear_t ha_attn_down, ha_attn_up, ha_ffn_down, ha_ffn_up;
    float *lora_qa, *lora_qb, *lora_va, *lora_vb;
    peft_linear_t prefix_out;        /* MLP mode */
    float *prefix_k, *prefix_v;      /* flat mode */
} peft_layer_t;

/* Views of the parameters or of the gradients. */
typedef struct {
    model_view_t backbone;           /* full fine-tuning only (else all NULL) */
    model_head_t head;
    float *prefix_emb;               /* MLP mode */
    peft_linear_t prefix_dense;
    peft_layer_t *layer;             /* [layers] */
} peft_view_t;

typedef struct peft peft_t;

void peft_opts_default(peft_opts_t *o);

/* Trainable parameters for configuration c on model m; NULL (err_set says why) when c does not
 * fit the model (layer count, sizes beyond the caps) or memory runs out. A configuration with
 * no module trains the head alone. */
peft_t *peft_new(const model_t *m, const space_config_t *c, const peft_opts_t *o);
void peft_free(peft_t **pp);
/* The deployment form: prefixes computed by the MLP and stored flat, everything else copied.
 * The engine gives identical outputs with either. */
peft_t *peft_eject(const peft_t *p);

const space_config_t *peft_config(const peft_t *p);
const peft_opts_t *peft_opts(const peft_t *p);
const shape_t *peft_shape(const peft_t *p);
bool peft_on(const peft_t *p, space_module_t m, int layer);
int peft_prefix_len(const peft_t *p);       /* 0 when no layer has prefixes */
int peft_prefix_bottleneck(const peft_t *p);
bool peft_prefix_mlp(const peft_t *p);      /* prefixes come from the MLP */
float peft_lora_scale(const peft_t *p);
/* Lowest layer holding a trainable module; -1 in full fine-tuning (the embeddings train);
 * the layer count when only the head trains. */
int peft_lowest_layer(const peft_t *p);

const peft_view_t *peft_params(const peft_t *p);
const peft_view_t *peft_grads(const peft_t *p);
float *peft_param_buffer(peft_t *p);
float *peft_grad_buffer(peft_t *p);
size_t peft_size(const peft_t *p);          /* floats in each buffer */
int peft_tensor_count(const peft_t *p);
const peft_tensor_t *peft_tensor(const peft_t *p, int i);
/* The tensor of a name and its parameter data; NULL and ERR_NOTFOUND if none. */
const peft_tensor_t *peft_find(const peft_t *p, const char *name, float **data);
void peft_zero_grad(peft_t *p);

/* The prefix MLP (MLP mode): t [P, bn] = tanh(E W1^T + b1), then for every layer with prefixes
 * kv[l] [P, 2d] = t W2_l^T + b2_l (kv holds layers * P * 2d floats; other layers untouched). */
void peft_prefix_forward(const peft_t *p, float *t, float *kv);
/* Its backward: from dkv (as kv) and t, accumulates the MLP's gradients; dt is scratch [P, bn]. */
void peft_prefix_backward(peft_t *p, const float *t, const float *dkv, float *dt);

#endif
