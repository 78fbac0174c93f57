/* Scaled dot-product attention of one sequence and one head, with optional prefix keys and
 * values (prefix tuning) and attention dropout; its backward pass; and a naive oracle.
 *
 * The engine packs a batch without padding, so a sequence's keys are exactly its tokens: this
 * equals Hugging Face's padded computation, whose masked keys get exp(-huge) = 0 weight. The
 * nq query rows are the sequence's first nq tokens (all of them, or only [CLS] in the top
 * layer, whose other outputs nothing reads).
 *
 *   S = scale * [Q Pk^T | Q K^T]      [nq, np + nk]
 *   P = softmax(S) by rows             (stored for the backward pass)
 *   ctx = dropout(P) [Pv; V]           [nq, dh]
 *
 * Dropout coordinates of P[i][j] are (drop_row0 + i * drop_row_step, j), so that a query row
 * keeps its mask whichever rows are computed. */
#ifndef AUTOPEFT_ATTN_H
#define AUTOPEFT_ATTN_H

#include <stdint.h>

typedef struct {
    int nq, nk, np, dh;
    const float *q;           /* [nq, dh], leading dimension ldq */
    const float *k, *v;       /* [nk, dh], leading dimension ldkv */
    const float *pk, *pv;     /* [np, dh], leading dimension ldp (np = 0: unused) */
    int ldq, ldkv, ldp;
    float scale;              /* 1/sqrt(dh) */
    float drop_p;             /* attention dropout; 0 = none */
    uint64_t drop_key, drop_row0, drop_row_step;
} attn_t;

/* probs [nq, np + nk] receives P; scratch holds nq * (np + nk) floats; ctx [nq, dh] (ldc).
 * Returns the FLOPs of its matrix products (as attn_backward). */
double attn_forward(const attn_t *a, float *probs, float *scratch, float *ctx, int ldc);

/* What attn_backward writes, each NULL when not wanted: dq [nq, dh] (leading dimension ldq)
 * and dk, dv [nk, dh] (ldkv) are overwritten; dpk, dpv [np, dh] (ldp) accumulate (prefixes are
 * shared by a batch's sequences). */
typedef struct {
    float *dq;
    float *dk, *dv;
    float *dpk, *dpv;
    int ldq, ldkv, ldp;
} attn_grads_t;

/* Gradients into g from dctx [nq, dh] (lddc) and the stored probs. scratch holds
 * 2 * nq * (np + nk) floats. */
double attn_backward(const attn_t *a, const float *probs, const float *dctx, int lddc,
                     const attn_grads_t *g, float *scratch);

/* Oracle: the forward pass in double with plain loops (dropout included). */
void attn_forward_ref(const attn_t *a, float *ctx, int ldc);

#endif
