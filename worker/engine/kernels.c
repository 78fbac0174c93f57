/* Numerical kernels: see kernels.h. */
#include "worker/engine/kernels.h"

#include <cblas.h>
#include <math.h>
#include <stddef.h>

#include "worker/engine/simd.h"

/* Sums of rows are taken in 16 independent lanes, which the compiler turns into vector adds
 * (one reduction in order would forbid it), then added pairwise. */
#define LANES 16

/* ---- matrix products --------------------------------------------------------------------- */

void kernels_gemm(unsigned op, int m, int n, int k, float alpha, const float *a, int lda,
                  const float *b, int ldb, float beta, float *c, int ldc)
{
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0) {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                c[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[(size_t)i * ldc + j];
        return;
    }
    cblas_sgemm(CblasRowMajor, op & GEMM_TA ? CblasTrans : CblasNoTrans,
                op & GEMM_TB ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c,
                ldc);
}

void kernels_gemm_ref(unsigned op, int m, int n, int k, float alpha, const float *a, int lda,
                      const float *b, int ldb, float beta, float *c, int ldc)
{
    bool ta = op & GEMM_TA, tb = op & GEMM_TB;

    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            double s = 0.0;

            for (int p = 0; p < k; p++) {
                double x = ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
                double y = tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
                s += x * y;
            }
            float *cij = &c[(size_t)i * ldc + j];
            *cij = (float)(alpha * s + (beta == 0.0f ? 0.0 : (double)beta * *cij));
        }
    }
}

/* ---- small helpers ----------------------------------------------------------------------- */

SIMD_INLINE float lanes_total(const float *acc)
{
    float t[LANES];

    for (int j = 0; j < LANES; j++)
        t[j] = acc[j];
    for (int w = LANES / 2; w > 0; w /= 2)
        for (int j = 0; j < w; j++)
            t[j] += t[j + w];
    return t[0];
}

SIMD_INLINE float row_sum(const float *x, int d)
{
    float acc[LANES] = {0};
    int i = 0;

    for (; i + LANES <= d; i += LANES)
        for (int j = 0; j < LANES; j++)
            acc[j] += x[i + j];
    for (int j = 0; i < d; i++, j++)
        acc[j] += x[i];
    return lanes_total(acc);
}

/* sum of (x - m)^2 */
SIMD_INLINE float row_sqdev(const float *x, float m, int d)
{
    float acc[LANES] = {0};
    int i = 0;

    for (; i + LANES <= d; i += LANES)
        for (int j = 0; j < LANES; j++)
            acc[j] += (x[i + j] - m) * (x[i + j] - m);
    for (int j = 0; i < d; i++, j++)
        acc[j] += (x[i] - m) * (x[i] - m);
    return lanes_total(acc);
}

SIMD_INLINE float row_dot(const float *x, const float *y, int d)
{
    float acc[LANES] = {0};
    int i = 0;

    for (; i + LANES <= d; i += LANES)
        for (int j = 0; j < LANES; j++)
            acc[j] += x[i + j] * y[i + j];
    for (int j = 0; i < d; i++, j++)
        acc[j] += x[i] * y[i];
    return lanes_total(acc);
}

SIMD_INLINE float row_max(const float *x, int d)
{
    float acc[LANES];
    int i = 0;

    for (int j = 0; j < LANES; j++)
        acc[j] = -INFINITY;
    for (; i + LANES <= d; i += LANES)
        for (int j = 0; j < LANES; j++)
            acc[j] = x[i + j] > acc[j] ? x[i + j] : acc[j];
    for (int j = 0; i < d; i++, j++)
        acc[j] = x[i] > acc[j] ? x[i] : acc[j];
    for (int w = LANES / 2; w > 0; w /= 2)
        for (int j = 0; j < w; j++)
            acc[j] = acc[j + w] > acc[j] ? acc[j + w] : acc[j];
    return acc[0];
}

/* ---- dropout ------------------------------------------------------------------------------ */

/* The decision for element (row, col) is a keyed hash: the row and the key give a 32-bit row
 * key once per row, then two rounds of MurmurHash3's 32-bit finaliser mix in the column with
 * 32-bit operations only (so the inner loop vectorises on AVX2 too). */
SIMD_INLINE uint32_t fmix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

static inline uint32_t row_key(uint64_t key, uint64_t row)
{
    return (uint32_t)key ^ fmix32((uint32_t)row * 0x9e3779b9u + fmix32((uint32_t)(row >> 32)));
}

SIMD_INLINE uint32_t drop_bits(uint32_t rkey, uint32_t k2, uint32_t col)
{
    return fmix32(fmix32(col ^ rkey) + k2) >> 8;
}

/* Kept when the top 24 bits of the hash are at or above p * 2^24. */
static inline uint32_t drop_threshold(float p)
{
    return (uint32_t)((double)p * 16777216.0);
}

bool kernels_dropout_keep(uint64_t key, uint64_t row, uint32_t col, float p)
{
    return drop_bits(row_key(key, row), (uint32_t)(key >> 32), col) >= drop_threshold(p);
}

SIMD_FN
void kernels_dropout(float *x, int n, int d, int ld, uint64_t key, uint64_t row0, float p)
{
    uint32_t thr, k2 = (uint32_t)(key >> 32);
    float scale;

    if (p <= 0.0f)
        return;
    thr = drop_threshold(p);
    scale = 1.0f / (1.0f - p);
    for (int i = 0; i < n; i++) {
        float *restrict xr = x + (size_t)i * ld;
        uint32_t rk = row_key(key, row0 + (uint64_t)i);

        for (int j = 0; j < d; j++)
            xr[j] = drop_bits(rk, k2, (uint32_t)j) >= thr ? xr[j] * scale : 0.0f;
    }
}

SIMD_FN
void kernels_bias_dropout_add(float *y, const float *bias, const float *res, int n, int d,
                              uint64_t key, uint64_t row0, float p)
{
    uint32_t thr = drop_threshold(p), k2 = (uint32_t)(key >> 32);
    float scale = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;

    for (int i = 0; i < n; i++) {
        float *restrict yr = y + (size_t)i * d;
        const float *restrict rr = res + (size_t)i * d;
        uint32_t rk = row_key(key, row0 + (uint64_t)i);

        if (p > 0.0f) {
            for (int j = 0; j < d; j++) {
                float v = (yr[j] + bias[j]) * scale;

                yr[j] = (drop_bits(rk, k2, (uint32_t)j) >= thr ? v : 0.0f) + rr[j];
            }
        } else {
            for (int j = 0; j < d; j++)
                yr[j] = yr[j] + bias[j] + rr[j];
        }
    }
}

/* ---- element-wise ------------------------------------------------------------------------- */

SIMD_FN
void kernels_add_bias(float *x, const float *bias, int n, int d)
{
    for (int i = 0; i < n; i++) {
        float *restrict xr = x + (size_t)i * d;

        for (int j = 0; j < d; j++)
            xr[j] += bias[j];
    }
}

SIMD_FN
void kernels_colsum(float *db, const float *dy, int n, int d)
{
    for (int i = 0; i < n; i++) {
        const float *restrict r = dy + (size_t)i * d;
        float *restrict o = db;

        for (int j = 0; j < d; j++)
            o[j] += r[j];
    }
}

SIMD_FN
void kernels_axpy(float *y, float a, const float *x, long n)
{
    float *restrict yy = y;
    const float *restrict xx = x;

    for (long i = 0; i < n; i++)
        yy[i] += a * xx[i];
}

SIMD_FN
void kernels_mul(float *dx, const float *dy, const float *deriv, long n)
{
    for (long i = 0; i < n; i++)
        dx[i] = dy[i] * deriv[i];
}

/* GELU of one row, its derivative when wanted. */
SIMD_INLINE void gelu_row(float *restrict x, float *restrict deriv, int d)
{
    const float inv_sqrt_2pi = 0.39894228040143268f;

    if (deriv) {
        for (int j = 0; j < d; j++) {
            float u = x[j];
            float phi = simd_phif(u);

            deriv[j] = phi + u * inv_sqrt_2pi * simd_expf(-0.5f * u * u);
            x[j] = u * phi;
        }
    } else {
        for (int j = 0; j < d; j++)
            x[j] = x[j] * simd_phif(x[j]);
    }
}

SIMD_FN
void kernels_bias_gelu(float *x, float *deriv, const float *bias, int n, int d)
{
    for (int i = 0; i < n; i++) {
        float *restrict xr = x + (size_t)i * d;

        if (bias)
            for (int j = 0; j < d; j++)
                xr[j] += bias[j];
        gelu_row(xr, deriv ? deriv + (size_t)i * d : NULL, d);
    }
}

float kernels_gelu_ref(float x)
{
    return (float)(0.5 * x * (1.0 + erf(x / sqrt(2.0))));
}

float kernels_gelu_deriv_ref(float x)
{
    return (float)(0.5 * (1.0 + erf(x / sqrt(2.0))) + x * exp(-0.5 * (double)x * x) / sqrt(2.0 * M_PI));
}

SIMD_FN
void kernels_bias_relu(float *x, const float *bias, int n, int d)
{
    for (int i = 0; i < n; i++) {
        float *restrict xr = x + (size_t)i * d;

        if (bias)
            for (int j = 0; j < d; j++)
                xr[j] += bias[j];
        for (int j = 0; j < d; j++)
            xr[j] = xr[j] > 0.0f ? xr[j] : 0.0f;
    }
}

SIMD_FN
void kernels_relu_bwd(float *dx, const float *dy, const float *y, long n)
{
    for (long i = 0; i < n; i++) {
        float g = dy[i];

        dx[i] = y[i] > 0.0f ? g : 0.0f;
    }
}

void kernels_bias_tanh(float *x, const float *bias, int n, int d)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
            float *v = &x[(size_t)i * d + j];

            *v = tanhf(bias ? *v + bias[j] : *v);
        }
}

void kernels_tanh_bwd(float *dx, const float *dy, const float *y, long n)
{
    for (long i = 0; i < n; i++)
        dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}

/* ---- LayerNorm ------------------------------------------------------------------------------ */

SIMD_FN
void kernels_layernorm_fwd(float *y, float *xhat, float *rstd, const float *x, const float *g,
                           const float *b, int n, int d, float eps)
{
    for (int i = 0; i < n; i++) {
        const float *xr = x + (size_t)i * d;
        float *yr = y + (size_t)i * d;
        float mean = row_sum(xr, d) / (float)d;
        float var = row_sqdev(xr, mean, d) / (float)d;
        float rs = 1.0f / sqrtf(var + eps);

        if (rstd)
            rstd[i] = rs;
        if (xhat) {
            float *restrict hr = xhat + (size_t)i * d;

            for (int j = 0; j < d; j++)
                hr[j] = (xr[j] - mean) * rs;
            for (int j = 0; j < d; j++)
                yr[j] = hr[j] * g[j] + b[j];
        } else {
            for (int j = 0; j < d; j++)
                yr[j] = (xr[j] - mean) * rs * g[j] + b[j];
        }
    }
}

void kernels_layernorm_fwd_ref(float *y, const float *x, const float *g, const float *b, int n,
                               int d, float eps)
{
    for (int i = 0; i < n; i++) {
        const float *xr = x + (size_t)i * d;
        double mean = 0.0, var = 0.0;

        for (int j = 0; j < d; j++)
            mean += xr[j];
        mean /= d;
        for (int j = 0; j < d; j++)
            var += (xr[j] - mean) * (xr[j] - mean);
        var /= d;
        for (int j = 0; j < d; j++)
            y[(size_t)i * d + j] = (float)((xr[j] - mean) / sqrt(var + eps) * g[j] + b[j]);
    }
}

SIMD_FN
void kernels_layernorm_bwd(float *dx, float *dg, float *db, const float *dy, const float *xhat,
                           const float *rstd, const float *g, int n, int d, bool accumulate)
{
    for (int i = 0; i < n; i++) {
        const float *restrict dyr = dy + (size_t)i * d;
        const float *restrict hr = xhat + (size_t)i * d;
        float *dxr = dx + (size_t)i * d;
        float acc1[LANES] = {0}, acc2[LANES] = {0};
        float c1, c2, rs = rstd[i];
        int j = 0;

        if (dg)
            for (int k = 0; k < d; k++)
                dg[k] += dyr[k] * hr[k];
        if (db)
            for (int k = 0; k < d; k++)
                db[k] += dyr[k];
        for (; j + LANES <= d; j += LANES)
            for (int k = 0; k < LANES; k++) {
                float t = dyr[j + k] * g[j + k];

                acc1[k] += t;
                acc2[k] += t * hr[j + k];
            }
        for (int k = 0; j < d; j++, k++) {
            float t = dyr[j] * g[j];

            acc1[k] += t;
            acc2[k] += t * hr[j];
        }
        c1 = lanes_total(acc1) / (float)d;
        c2 = lanes_total(acc2) / (float)d;
        if (accumulate)
            for (int k = 0; k < d; k++)
                dxr[k] += rs * (dyr[k] * g[k] - c1 - hr[k] * c2);
        else
            for (int k = 0; k < d; k++)
                dxr[k] = rs * (dyr[k] * g[k] - c1 - hr[k] * c2);
    }
}

SIMD_FN
void kernels_layernorm_params(float *dg, float *db, const float *dy, const float *xhat, int n,
                              int d)
{
    for (int i = 0; i < n; i++) {
        const float *restrict dyr = dy + (size_t)i * d;
        const float *restrict hr = xhat + (size_t)i * d;

        for (int k = 0; k < d; k++) {
            dg[k] += dyr[k] * hr[k];
            db[k] += dyr[k];
        }
    }
}

/* ---- softmax ------------------------------------------------------------------------------ */

SIMD_FN
void kernels_softmax(float *s, int n, int d, int ld, float scale)
{
    for (int i = 0; i < n; i++) {
        float *restrict r = s + (size_t)i * ld;
        float m = row_max(r, d), inv;

        for (int j = 0; j < d; j++)
            r[j] = simd_expf((r[j] - m) * scale);
        inv = 1.0f / row_sum(r, d);
        for (int j = 0; j < d; j++)
            r[j] *= inv;
    }
}

void kernels_softmax_ref(float *s, int n, int d, int ld, float scale)
{
    for (int i = 0; i < n; i++) {
        float *r = s + (size_t)i * ld;
        double m = -INFINITY, sum = 0.0;

        for (int j = 0; j < d; j++)
            m = r[j] > m ? r[j] : m;
        for (int j = 0; j < d; j++)
            sum += exp(((double)r[j] - m) * scale);
        for (int j = 0; j < d; j++)
            r[j] = (float)(exp(((double)r[j] - m) * scale) / sum);
    }
}

SIMD_FN
void kernels_softmax_bwd(float *dp, const float *p, int n, int d, int ld, float scale)
{
    for (int i = 0; i < n; i++) {
        float *restrict dr = dp + (size_t)i * ld;
        const float *restrict pr = p + (size_t)i * ld;
        float dot = row_dot(dr, pr, d);

        for (int j = 0; j < d; j++)
            dr[j] = scale * pr[j] * (dr[j] - dot);
    }
}

/* ---- embeddings and losses ------------------------------------------------------------------ */

SIMD_FN
void kernels_embed(float *y, const int32_t *ids, const int32_t *positions, const int32_t *types,
                   const float *word, const float *pos, const float *type, int n, int d)
{
    for (int i = 0; i < n; i++) {
        const float *restrict w = word + (size_t)ids[i] * d;
        const float *restrict p = pos + (size_t)positions[i] * d;
        const float *restrict t = type + (size_t)(types ? types[i] : 0) * d;
        float *restrict yr = y + (size_t)i * d;

        for (int j = 0; j < d; j++)
            yr[j] = w[j] + p[j] + t[j];
    }
}

void kernels_embed_bwd(float *dword, float *dpos, float *dtype, const float *dy,
                       const int32_t *ids, const int32_t *positions, const int32_t *types, int n,
                       int d)
{
    for (int i = 0; i < n; i++) {
        const float *r = dy + (size_t)i * d;

        if (dword)
            kernels_axpy(dword + (size_t)ids[i] * d, 1.0f, r, d);
        if (dpos)
            kernels_axpy(dpos + (size_t)positions[i] * d, 1.0f, r, d);
        if (dtype)
            kernels_axpy(dtype + (size_t)(types ? types[i] : 0) * d, 1.0f, r, d);
    }
}

double kernels_cross_entropy(float *dlogits, const float *logits, const int32_t *labels, int n,
                             int c)
{
    double loss = 0.0;

    for (int i = 0; i < n; i++) {
        const float *r = logits + (size_t)i * c;
        double m = -INFINITY, sum = 0.0;

        for (int j = 0; j < c; j++)
            m = r[j] > m ? r[j] : m;
        for (int j = 0; j < c; j++)
            sum += exp((double)r[j] - m);
        loss += m + log(sum) - r[labels[i]];
        if (dlogits)
            for (int j = 0; j < c; j++)
                dlogits[(size_t)i * c + j] =
                    (float)((exp((double)r[j] - m) / sum - (j == labels[i])) / n);
    }
    return loss / n;
}

double kernels_mse(float *dlogits, const float *logits, const float *targets, int n)
{
    double loss = 0.0;

    for (int i = 0; i < n; i++) {
        double e = (double)logits[i] - targets[i];

        loss += e * e;
        if (dlogits)
            dlogits[i] = (float)(2.0 * e / n);
    }
    return loss / n;
}

float kernels_expf(float x)
{
    return simd_expf(x);
}

float kernels_phif(float x)
{
    return simd_phif(x);
}
