/* Tests of worker/engine/kernels.c: each fast kernel against its naive oracle, and every backward
 * kernel against central finite differences of its forward kernel.
 *
 * A finite-difference check takes a scalar L(x) = sum(w * f(x)) with fixed random weights w,
 * accumulated in double, and compares dL/dx from the backward kernel with
 * (L(x + h e_i) - L(x - h e_i)) / 2h for every input element i. */
#include <math.h>

#include "common/rng.h"
#include "tests/harness.h"
#include "worker/engine/kernels.h"

static void fill_normal(rng_t *r, float *x, long n, double scale)
{
    for (long i = 0; i < n; i++)
        x[i] = (float)(scale * rng_normal(r));
}

static double wsum(const float *w, const float *y, long n)
{
    double s = 0.0;

    for (long i = 0; i < n; i++)
        s += (double)w[i] * y[i];
    return s;
}

/* Largest |a - b| relative to the largest |b| (with a floor). */
static double max_rel_diff(const float *a, const float *b, long n, double floor_)
{
    double m = floor_, d = 0.0;

    for (long i = 0; i < n; i++)
        m = fmax(m, fabs(b[i]));
    for (long i = 0; i < n; i++)
        d = fmax(d, fabs((double)a[i] - b[i]));
    return d / m;
}

TEST(gemm_matches_naive_for_every_transpose)
{
    rng_t r;
    enum { M = 37, N = 29, K = 41, LD = 50 };
    static float a[LD * LD], b[LD * LD], c1[LD * LD], c2[LD * LD];

    rng_seed(&r, 1);
    fill_normal(&r, a, LD * LD, 1.0);
    fill_normal(&r, b, LD * LD, 1.0);
    for (int t = 0; t < 4; t++) {
        unsigned op = (t & 1 ? GEMM_TA : GEMM_NN) | (t & 2 ? GEMM_TB : GEMM_NN);

        fill_normal(&r, c1, LD * LD, 1.0);
        memcpy(c2, c1, sizeof c1);
        kernels_gemm(op, M, N, K, 0.7f, a, LD, b, LD, 0.3f, c1, LD);
        kernels_gemm_ref(op, M, N, K, 0.7f, a, LD, b, LD, 0.3f, c2, LD);
        ASSERT_TRUE(max_rel_diff(c1, c2, LD * LD, 1.0) < 1e-5);
        /* beta = 0 ignores what C held, NaN included */
        c1[0] = NAN;
        kernels_gemm(op, M, N, K, 1.0f, a, LD, b, LD, 0.0f, c1, LD);
        ASSERT_TRUE(isfinite(c1[0]));
    }
    /* k = 0 scales C by beta */
    c1[0] = 2.0f;
    kernels_gemm(GEMM_NN, 1, 1, 0, 1.0f, a, 1, b, 1, 0.5f, c1, 1);
    ASSERT_NEAR(c1[0], 1.0f, 0);
}

TEST(expf_and_phi_are_accurate)
{
    double worst_exp = 0, worst_phi = 0, worst_tail = 0;

    for (float x = -87.0f; x <= 88.0f; x += 0.0137f) {
        double e = exp((double)x);
        worst_exp = fmax(worst_exp, fabs(kernels_expf(x) - e) / e);
    }
    for (float x = -12.0f; x <= 12.0f; x += 0.00137f) {
        double p = 0.5 * erfc(-x / sqrt(2.0));
        /* absolute where Phi is near 1, relative where it is small; below x = -4 (Phi < 3e-5)
         * the float rounding of x^2/2 in the exponent dominates: up to 1e-5 relative */
        double err = fabs(kernels_phif(x) - p) / fmin(1.0, p);
        if (x > -4.0f)
            worst_phi = fmax(worst_phi, err);
        else
            worst_tail = fmax(worst_tail, err);
    }
    printf("worst relative error: exp %.3g, Phi %.3g, left tail %.3g\n", worst_exp, worst_phi,
           worst_tail);
    ASSERT_TRUE(worst_exp < 4e-7);
    ASSERT_TRUE(worst_phi < 2e-6);
    ASSERT_TRUE(worst_tail < 5e-5);
    ASSERT_NEAR(kernels_expf(-100.0f), 0.0, 0);
    ASSERT_NEAR(kernels_phif(-40.0f), 0.0, 1e-30);
    ASSERT_NEAR(kernels_phif(40.0f), 1.0, 0);
}

TEST(gelu_matches_erf_oracle_and_its_derivative_fd)
{
    enum { N = 3, D = 45 };
    float x[N * D], y[N * D], dv[N * D], bias[D];
    rng_t r;

    rng_seed(&r, 2);
    fill_normal(&r, x, N * D, 3.0);
    fill_normal(&r, bias, D, 0.5);
    memcpy(y, x, sizeof x);
    kernels_bias_gelu(y, dv, bias, N, D);
    for (int i = 0; i < N * D; i++) {
        float u = x[i] + bias[i % D];
        double h = 1e-3;

        ASSERT_NEAR(y[i], kernels_gelu_ref(u), 2e-6 * fmax(1.0, fabs(u)));
        ASSERT_NEAR(dv[i], kernels_gelu_deriv_ref(u), 2e-6);
        /* the oracle's derivative agrees with finite differences of the oracle's GELU */
        ASSERT_NEAR(kernels_gelu_deriv_ref(u),
                    (kernels_gelu_ref((float)(u + h)) - kernels_gelu_ref((float)(u - h))) / (2 * h),
                    2e-3);
    }
    /* without derivative or bias */
    memcpy(y, x, sizeof x);
    kernels_bias_gelu(y, NULL, NULL, N, D);
    for (int i = 0; i < N * D; i++)
        ASSERT_NEAR(y[i], kernels_gelu_ref(x[i]), 2e-6 * fmax(1.0, fabs(x[i])));
}

TEST(layernorm_forward_matches_oracle)
{
    enum { N = 5, D = 67 };
    float x[N * D], y[N * D], y2[N * D], xh[N * D], rs[N], g[D], b[D];
    rng_t r;

    rng_seed(&r, 3);
    fill_normal(&r, x, N * D, 2.0);
    for (int i = 0; i < N * D; i++)
        x[i] += 10.0f; /* a large mean: the two-pass variance must not cancel */
    fill_normal(&r, g, D, 1.0);
    fill_normal(&r, b, D, 1.0);
    kernels_layernorm_fwd(y, xh, rs, x, g, b, N, D, 1e-12f);
    kernels_layernorm_fwd_ref(y2, x, g, b, N, D, 1e-12f);
    ASSERT_TRUE(max_rel_diff(y, y2, N * D, 1.0) < 1e-5);
    for (int i = 0; i < N * D; i++)
        ASSERT_NEAR(xh[i] * g[i % D] + b[i % D], y[i], 1e-5);
    /* in place */
    kernels_layernorm_fwd(x, NULL, NULL, x, g, b, N, D, 1e-12f);
    ASSERT_TRUE(max_rel_diff(x, y2, N * D, 1.0) < 1e-5);
}

TEST(layernorm_backward_fd)
{
    enum { N = 3, D = 19 };
    float x[N * D], y[N * D], xh[N * D], rs[N], g[D], b[D], w[N * D];
    float dx[N * D], dg[D] = {0}, db[D] = {0};
    rng_t r;
    const double h = 1e-2;

    rng_seed(&r, 4);
    fill_normal(&r, x, N * D, 1.0);
    fill_normal(&r, g, D, 1.0);
    fill_normal(&r, b, D, 1.0);
    fill_normal(&r, w, N * D, 1.0);
    kernels_layernorm_fwd(y, xh, rs, x, g, b, N, D, 1e-5f);
    kernels_layernorm_bwd(dx, dg, db, w, xh, rs, g, N, D, false);
    for (int i = 0; i < N * D; i++) {
        float save = x[i];
        double lp, lm;

        x[i] = (float)(save + h);
        kernels_layernorm_fwd_ref(y, x, g, b, N, D, 1e-5f);
        lp = wsum(w, y, N * D);
        x[i] = (float)(save - h);
        kernels_layernorm_fwd_ref(y, x, g, b, N, D, 1e-5f);
        lm = wsum(w, y, N * D);
        x[i] = save;
        ASSERT_NEAR(dx[i], (lp - lm) / (2 * h), 2e-3 * fmax(1.0, fabs(dx[i])));
    }
    for (int j = 0; j < D; j++) {
        float gs = g[j], bs = b[j];
        double lp, lm;

        g[j] = (float)(gs + h);
        kernels_layernorm_fwd_ref(y, x, g, b, N, D, 1e-5f);
        lp = wsum(w, y, N * D);
        g[j] = (float)(gs - h);
        kernels_layernorm_fwd_ref(y, x, g, b, N, D, 1e-5f);
        lm = wsum(w, y, N * D);
        g[j] = gs;
        ASSERT_NEAR(dg[j], (lp - lm) / (2 * h), 2e-3 * fmax(1.0, fabs(dg[j])));
        b[j] = (float)(bs + h);
        kernels_layernorm_fwd_ref(y, x, g, b, N, D, 1e-5f);
        lp = wsum(w, y, N * D);
        b[j] = (float)(bs - h);
        kernels_layernorm_fwd_ref(y, x, g, b, N, D, 1e-5f);
        lm = wsum(w, y, N * D);
        b[j] = bs;
        ASSERT_NEAR(db[j], (lp - lm) / (2 * h), 2e-3 * fmax(1.0, fabs(db[j])));
    }
    /* accumulate adds to what dx held */
    {
        float dx2[N * D];

        for (int i = 0; i < N * D; i++)
            dx2[i] = 1.0f;
        kernels_layernorm_bwd(dx2, NULL, NULL, w, xh, rs, g, N, D, true);
        for (int i = 0; i < N * D; i++)
            ASSERT_NEAR(dx2[i], dx[i] + 1.0f, 1e-5);
    }
}

TEST(softmax_matches_oracle_and_backward_fd)
{
    enum { N = 4, D = 23, LD = 30 };
    float s[N * LD], p[N * LD], p2[N * LD], w[N * LD], ds[N * LD];
    rng_t r;
    const float scale = 0.35f;
    const double h = 1e-2;

    rng_seed(&r, 5);
    fill_normal(&r, s, N * LD, 4.0);
    fill_normal(&r, w, N * LD, 1.0);
    memcpy(p, s, sizeof s);
    memcpy(p2, s, sizeof s);
    kernels_softmax(p, N, D, LD, scale);
    kernels_softmax_ref(p2, N, D, LD, scale);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++)
            ASSERT_NEAR(p[i * LD + j], p2[i * LD + j], 1e-6);
    /* columns past d are left alone */
    ASSERT_NEAR(p[LD - 1], s[LD - 1], 0);
    memcpy(ds, w, sizeof w);
    kernels_softmax_bwd(ds, p, N, D, LD, scale);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) {
            float save = s[i * LD + j];
            double lp = 0, lm = 0;

            s[i * LD + j] = (float)(save + h);
            memcpy(p2, s, sizeof s);
            kernels_softmax_ref(p2, N, D, LD, scale);
            for (int k = 0; k < D; k++)
                lp += (double)w[i * LD + k] * p2[i * LD + k];
            s[i * LD + j] = (float)(save - h);
            memcpy(p2, s, sizeof s);
            kernels_softmax_ref(p2, N, D, LD, scale);
            for (int k = 0; k < D; k++)
                lm += (double)w[i * LD + k] * p2[i * LD + k];
            s[i * LD + j] = save;
            ASSERT_NEAR(ds[i * LD + j], (lp - lm) / (2 * h), 1e-3);
        }
}

TEST(relu_tanh_backward_fd)
{
    enum { N = 64 };
    float x[N], y[N], w[N], dx[N], b[1] = {0.25f};
    rng_t r;
    const double h = 1e-3;

    rng_seed(&r, 6);
    fill_normal(&r, x, N, 1.0);
    fill_normal(&r, w, N, 1.0);
    memcpy(y, x, sizeof x);
    kernels_bias_relu(y, b, N, 1);
    kernels_relu_bwd(dx, w, y, N);
    for (int i = 0; i < N; i++) {
        double u = x[i] + 0.25;

        ASSERT_NEAR(y[i], u > 0 ? u : 0, 1e-6);
        if (fabs(u) > 2 * h)
            ASSERT_NEAR(dx[i], u > 0 ? w[i] : 0, 0);
    }
    memcpy(y, x, sizeof x);
    kernels_bias_tanh(y, b, N, 1);
    kernels_tanh_bwd(dx, w, y, N);
    for (int i = 0; i < N; i++) {
        double fd = (tanh(x[i] + 0.25 + h) - tanh(x[i] + 0.25 - h)) / (2 * h) * w[i];

        ASSERT_NEAR(y[i], tanh(x[i] + 0.25), 1e-6);
        ASSERT_NEAR(dx[i], fd, 1e-5);
    }
}

TEST(dropout_is_deterministic_unbiased_and_its_own_backward)
{
    enum { N = 64, D = 96 };
    static float x[N * D], y[N * D], g[N * D];
    const float p = 0.1f;
    const uint64_t key = 0x1234567890abcdefull;
    long kept = 0;

    for (int i = 0; i < N * D; i++)
        x[i] = y[i] = g[i] = 1.0f + (float)(i % 7);
    kernels_dropout(y, N, D, D, key, 1000, p);
    /* the same mask, split in two calls with the matching row offset */
    kernels_dropout(g, N / 2, D, D, key, 1000, p);
    kernels_dropout(g + N / 2 * D, N - N / 2, D, D, key, 1000 + N / 2, p);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) {
            float v = y[i * D + j];
            bool keep = kernels_dropout_keep(key, 1000 + (uint64_t)i, (uint32_t)j, p);

            ASSERT_NEAR(v, keep ? x[i * D + j] / (1.0f - p) : 0.0f, 1e-6);
            ASSERT_NEAR(g[i * D + j], v, 0);
            kept += keep;
        }
    /* 6144 draws at 0.9: a 5-sigma band */
    ASSERT_TRUE(fabs(kept / (double)(N * D) - 0.9) < 5 * sqrt(0.09 / (N * D)));
    /* another key gives another mask */
    memcpy(g, x, sizeof x);
    kernels_dropout(g, N, D, D, key + 1, 1000, p);
    ASSERT_TRUE(memcmp(g, y, sizeof y) != 0);
    /* the fused bias + dropout + residual agrees with the plain kernel */
    {
        static float f[N * D], res[N * D], bias[D];

        for (int j = 0; j < D; j++)
            bias[j] = 0.5f * j;
        for (int i = 0; i < N * D; i++) {
            f[i] = x[i];
            res[i] = -1.0f;
            g[i] = x[i] + bias[i % D];
        }
        kernels_bias_dropout_add(f, bias, res, N, D, key, 7, p);
        kernels_dropout(g, N, D, D, key, 7, p);
        for (int i = 0; i < N * D; i++)
            ASSERT_NEAR(f[i], g[i] - 1.0f, 1e-5);
    }
}

TEST(losses_and_their_gradients_fd)
{
    enum { N = 5, C = 3 };
    float z[N * C], dz[N * C], t[N], dt[N];
    int32_t lab[N] = {0, 2, 1, 1, 0};
    rng_t r;
    const double h = 1e-2;

    rng_seed(&r, 7);
    fill_normal(&r, z, N * C, 2.0);
    fill_normal(&r, t, N, 1.0);
    kernels_cross_entropy(dz, z, lab, N, C);
    for (int i = 0; i < N * C; i++) {
        float save = z[i];
        double lp, lm;

        z[i] = (float)(save + h);
        lp = kernels_cross_entropy(NULL, z, lab, N, C);
        z[i] = (float)(save - h);
        lm = kernels_cross_entropy(NULL, z, lab, N, C);
        z[i] = save;
        ASSERT_NEAR(dz[i], (lp - lm) / (2 * h), 1e-4);
    }
    kernels_mse(dt, z, t, N);
    for (int i = 0; i < N; i++) {
        float save = z[i];
        double lp, lm;

        z[i] = (float)(save + h);
        lp = kernels_mse(NULL, z, t, N);
        z[i] = (float)(save - h);
        lm = kernels_mse(NULL, z, t, N);
        z[i] = save;
        ASSERT_NEAR(dt[i], (lp - lm) / (2 * h), 1e-4);
    }
    /* a closed form: uniform logits over 3 classes give log 3 */
    for (int i = 0; i < N * C; i++)
        z[i] = 0.25f;
    ASSERT_NEAR(kernels_cross_entropy(NULL, z, lab, N, C), log(3.0), 1e-12);
}

TEST(embeddings_forward_and_backward)
{
    enum { V = 7, P = 5, T = 2, D = 3, N = 4 };
    float word[V * D], pos[P * D], type[T * D], y[N * D], dy[N * D];
    float dword[V * D] = {0}, dpos[P * D] = {0}, dtype[T * D] = {0};
    int32_t ids[N] = {3, 3, 6, 0}, posi[N] = {0, 1, 2, 0}, types[N] = {0, 1, 1, 0};

    for (int i = 0; i < V * D; i++)
        word[i] = (float)i;
    for (int i = 0; i < P * D; i++)
        pos[i] = 100.0f * i;
    for (int i = 0; i < T * D; i++)
        type[i] = 10000.0f * i;
    kernels_embed(y, ids, posi, types, word, pos, type, N, D);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++)
            ASSERT_NEAR(y[i * D + j],
                        word[ids[i] * D + j] + pos[posi[i] * D + j] + type[types[i] * D + j], 0);
    for (int i = 0; i < N * D; i++)
        dy[i] = 1.0f;
    kernels_embed_bwd(dword, dpos, dtype, dy, ids, posi, types, N, D);
    ASSERT_NEAR(dword[3 * D], 2.0f, 0); /* id 3 used twice */
    ASSERT_NEAR(dword[1 * D], 0.0f, 0);
    ASSERT_NEAR(dpos[0], 2.0f, 0);
    ASSERT_NEAR(dtype[D], 2.0f, 0);
}
