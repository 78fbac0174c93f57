/* Numerical kernels of the engine: plain functions over float arrays with explicit sizes,
 * output first. Matrices are row-major; a "[n, d]" array has n rows of d floats unless a
 * leading dimension (ld*) says otherwise. Kernels are single-threaded: the engine splits rows
 * over its pool and calls them on each part.
 *
 * Each kernel has a naive oracle beside it (suffix _ref): a direct loop in double precision
 * with libm's functions, used by the tests only. The fast paths vectorise (AVX-512 / AVX2
 * clones chosen at load time) and use their own exp and erf, accurate to a few float ulps.
 *
 * Dropout masks are not stored: a kept/dropped decision is a hash of (key, row, column), so the
 * backward pass regenerates the forward pass's mask from the same key and indices, and the
 * result does not depend on how rows are split over threads. The key comes from the engine's
 * seeded rng_t, one per training step and site. */
#ifndef AUTOPEFT_KERNELS_H
#define AUTOPEFT_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

/* ---- matrix products (OpenBLAS) ------------------------------------------------------------- */

/* How kernels_gemm reads its operands (BLAS's transpose arguments, named): op(A) = A^T with
 * GEMM_TA, op(B) = B^T with GEMM_TB, or'd together; GEMM_NN for neither. Higher bits belong to
 * callers that pass more in the same word (the engine's pass, worker/engine/engine_impl.h) and
 * are ignored here. */
#define GEMM_NN 0u
#define GEMM_TA 1u
#define GEMM_TB 2u

/* C[m, n] = alpha * op(A) op(B) + beta * C, op as above; row-major with leading dimensions lda,
 * ldb, ldc (the argument order of cblas_sgemm, which every reader of BLAS code knows). Every
 * matrix product of the engine goes through this function. */
void kernels_gemm(unsigned op, int m, int n, int k, float alpha, const float *a, int lda,
                  const float *b, int ldb, float beta, float *c, int ldc);
void kernels_gemm_ref(unsigned op, int m, int n, int k, float alpha, const float *a, int lda,
                      const float *b, int ldb, float beta, float *c, int ldc);

/* ---- element-wise and row kernels ------------------------------------------------------------ */

/* x[n, d] += bias[d] on every row. */
void kernels_add_bias(float *x, const float *bias, int n, int d);
/* db[d] += sum over rows of dy[n, d] (a bias gradient). */
void kernels_colsum(float *db, const float *dy, int n, int d);
/* y[i] += a * x[i]. */
void kernels_axpy(float *y, float a, const float *x, long n);

/* Dropout of probability p in place on x[n, d] (leading dimension ld): element (i, j) is kept
 * and scaled by 1/(1-p) when the hash of (key, row0 + i, j) says so, else zeroed. The same
 * call on the gradient is the backward pass. p == 0 does nothing. */
void kernels_dropout(float *x, int n, int d, int ld, uint64_t key, uint64_t row0, float p);
/* The kept/dropped decision alone (for tests and oracles). */
bool kernels_dropout_keep(uint64_t key, uint64_t row, uint32_t col, float p);

/* y[n, d] = dropout(y + bias) + res: the attention and FFN outputs before their LayerNorm.
 * Element (i, j) has dropout coordinates (row0 + i, j). */
void kernels_bias_dropout_add(float *y, const float *bias, const float *res, int n, int d,
                              uint64_t key, uint64_t row0, float p);

/* LayerNorm over rows: y = g * xhat + b, xhat = (x - mean) * rstd, rstd = 1/sqrt(var + eps)
 * (biased variance, as PyTorch). xhat [n, d] and rstd [n] are stored when not NULL. y may be x. */
void kernels_layernorm_fwd(float *y, float *xhat, float *rstd, const float *x, const float *g,
                           const float *b, int n, int d, float eps);
void kernels_layernorm_fwd_ref(float *y, const float *x, const float *g, const float *b, int n,
                               int d, float eps);
/* Backward: dx (= or +=, accumulate) from dy, xhat, rstd; dg and db accumulate when not NULL
 * (a frozen LayerNorm passes NULL). dx may be dy when not accumulating. */
void kernels_layernorm_bwd(float *dx, float *dg, float *db, const float *dy, const float *xhat,
                           const float *rstd, const float *g, int n, int d, bool accumulate);

/* The LayerNorm parameters' gradients alone: dg += sum over rows of dy * xhat, db += of dy. */
void kernels_layernorm_params(float *dg, float *db, const float *dy, const float *xhat, int n,
                              int d);

/* Exact GELU, x * Phi(x) with Phi the standard normal CDF, in place on x[n, d] after adding
 * bias[d] (NULL: none). deriv (NULL: not wanted) receives GELU'(x) = Phi(x) + x phi(x), which is
 * all the backward pass needs. */
void kernels_bias_gelu(float *x, float *deriv, const float *bias, int n, int d);
float kernels_gelu_ref(float x);
float kernels_gelu_deriv_ref(float x);
/* dx[i] = dy[i] * deriv[i] (the backward of GELU, ReLU and dropout-free masks); dx may be dy. */
void kernels_mul(float *dx, const float *dy, const float *deriv, long n);

/* ReLU in place on x[n, d] after adding bias[d] (NULL: none). */
void kernels_bias_relu(float *x, const float *bias, int n, int d);
/* dx = dy where y > 0, else 0 (in place on dy allowed). */
void kernels_relu_bwd(float *dx, const float *dy, const float *y, long n);

/* tanh in place after adding bias (NULL: none); backward dx = dy * (1 - y^2). */
void kernels_bias_tanh(float *x, const float *bias, int n, int d);
void kernels_tanh_bwd(float *dx, const float *dy, const float *y, long n);

/* Row softmax of scale * s in place on s[n, d] (leading dimension ld). */
void kernels_softmax(float *s, int n, int d, int ld, float scale);
void kernels_softmax_ref(float *s, int n, int d, int ld, float scale);
/* In place on dp: dp = scale * p * (dp - rowsum(dp * p)), the gradient of the scores. */
void kernels_softmax_bwd(float *dp, const float *p, int n, int d, int ld, float scale);

/* Embeddings: y[n, d] = word[ids] + pos[positions] + type[types] (types NULL: type 0). */
void kernels_embed(float *y, const int32_t *ids, const int32_t *positions, const int32_t *types,
                   const float *word, const float *pos, const float *type, int n, int d);
/* Their backward: rows of dy added into the tables' gradients (NULL tables skipped). */
void kernels_embed_bwd(float *dword, float *dpos, float *dtype, const float *dy,
                       const int32_t *ids, const int32_t *positions, const int32_t *types, int n,
                       int d);

/* Losses, mean over n rows. Cross-entropy of logits[n, c] against labels in [0, c); MSE of
 * logits[n] against targets. dlogits (NULL: not wanted) receives d(loss)/d(logits). */
double kernels_cross_entropy(float *dlogits, const float *logits, const int32_t *labels, int n,
                             int c);
double kernels_mse(float *dlogits, const float *logits, const float *targets, int n);

/* exp and the normal CDF used by the fast kernels, exposed for their accuracy tests. */
float kernels_expf(float x);
float kernels_phif(float x);

#endif
