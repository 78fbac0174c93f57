#include "worker/inputs/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mem.h"

static const char *const names[METRIC__COUNT] = {"accuracy", "f1", "mcc", "pearson", "spearman"};

const char *metrics_name(metric_t m)
{
    return (int)m >= 0 && m < METRIC__COUNT ? names[m] : NULL;
}

int metrics_parse(const char *name, metric_t *out)
{
    for (int i = 0; i < METRIC__COUNT; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (metric_t)i;
            return 0;
        }
    }
    /* The names Hugging Face's glue metric uses. */
    if (strcmp(name, "matthews_correlation") == 0) {
        *out = METRIC_MCC;
        return 0;
    }
    if (strcmp(name, "spearmanr") == 0) {
        *out = METRIC_SPEARMAN;
        return 0;
    }
    return err_set(ERR_INVAL, "unknown metric '%s' (expected accuracy, f1, mcc, pearson or "
                   "spearman)", name);
}

double metrics_accuracy(const int32_t *pred, const int32_t *gold, size_t n)
{
    size_t right = 0;

    for (size_t i = 0; i < n; i++)
        right += pred[i] == gold[i];
    return n ? (double)right / (double)n : 0.0;
}

double metrics_f1(const int32_t *pred, const int32_t *gold, size_t n)
{
    size_t tp = 0, fp = 0, fn = 0;

    for (size_t i = 0; i < n; i++) {
        tp += pred[i] == 1 && gold[i] == 1;
        fp += pred[i] == 1 && gold[i] != 1;
        fn += pred[i] != 1 && gold[i] == 1;
    }
    /* 2PR / (P + R) written with counts; 0 when there is no positive at all. */
    return tp ? 2.0 * (double)tp / (double)(2 * tp + fp + fn) : 0.0;
}

int metrics_mcc(const int32_t *pred, const int32_t *gold, size_t n, int k, double *out)
{
    double *t = NULL, *p = NULL, c = 0, s = (double)n, tp = 0, tt = 0, pp = 0, den;

    if (k < 1)
        return err_set(ERR_INVAL, "MCC needs at least one class");
    t = mem_alloc((size_t)k, sizeof *t, "MCC counts");
    p = mem_alloc((size_t)k, sizeof *p, "MCC counts");
    if (!t || !p) {
        free(t);
        free(p);
        return ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (pred[i] < 0 || pred[i] >= k || gold[i] < 0 || gold[i] >= k) {
            free(t);
            free(p);
            return err_set(ERR_INVAL, "MCC: label %d / prediction %d at %zu outside [0, %d)",
                           gold[i], pred[i], i, k);
        }
        t[gold[i]]++;
        p[pred[i]]++;
        c += pred[i] == gold[i];
    }
    /* scikit-learn's multi-class form: (c s - t.p) / sqrt((s^2 - p.p)(s^2 - t.t)); the counts
     * are integers below 2^53, so the sums are exact. */
    for (int j = 0; j < k; j++) {
        tp += t[j] * p[j];
        tt += t[j] * t[j];
        pp += p[j] * p[j];
    }
    free(t);
    free(p);
    den = (s * s - pp) * (s * s - tt);
    *out = den > 0 ? (c * s - tp) / sqrt(den) : 0.0;
    return 0;
}

double metrics_pearson(const float *x, const float *y, size_t n)
{
    double mx = 0, my = 0, sxx = 0, syy = 0, sxy = 0, r;

    if (n == 0)
        return 0.0;
    for (size_t i = 0; i < n; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= (double)n;
    my /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double dx = x[i] - mx, dy = y[i] - my;
        sxx += dx * dx;
        syy += dy * dy;
        sxy += dx * dy;
    }
    if (sxx <= 0 || syy <= 0)
        return 0.0;
    r = sxy / (sqrt(sxx) * sqrt(syy));
    return r > 1 ? 1 : r < -1 ? -1 : r;
}

typedef struct {
    float v;
    size_t i;
} item_t;

static int cmp_item(const void *a, const void *b)
{
    const item_t *x = a, *y = b;

    if (x->v != y->v)
        return x->v < y->v ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Ranks 1..n, tied values sharing the mean of the ranks they span (scipy.stats.rankdata
 * "average"). */
static int rank(const float *v, size_t n, float *out, item_t *tmp)
{
    for (size_t i = 0; i < n; i++)
        tmp[i] = (item_t){v[i], i};
    qsort(tmp, n, sizeof *tmp, cmp_item);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        double r;

        while (j + 1 < n && tmp[j + 1].v == tmp[i].v)
            j++;
        /* Ranks i+1 .. j+1 average to (i + j) / 2 + 1: a multiple of 0.5 below 2^24, exact in
         * float for every n we accept. */
        r = (double)(i + j) / 2.0 + 1.0;
        for (size_t k = i; k <= j; k++)
            out[tmp[k].i] = (float)r;
        i = j + 1;
    }
    return 0;
}

int metrics_spearman(const float *x, const float *y, size_t n, double *out)
{
    float *rx, *ry;
    item_t *tmp;

    if (n > (1u << 24))
        return err_set(ERR_RANGE, "Spearman over %zu values: ranks would not be exact", n);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]) || !isfinite(y[i]))
            return err_set(ERR_NUMERIC, "Spearman: value %zu is not finite", i);
    rx = mem_alloc(n ? n : 1, sizeof *rx, "ranks");
    ry = mem_alloc(n ? n : 1, sizeof *ry, "ranks");
    tmp = mem_alloc(n ? n : 1, sizeof *tmp, "ranks");
    if (!rx || !ry || !tmp) {
        free(rx);
        free(ry);
        free(tmp);
        return ERR_NOMEM;
    }
    rank(x, n, rx, tmp);
    rank(y, n, ry, tmp);
    *out = metrics_pearson(rx, ry, n);
    free(rx);
    free(ry);
    free(tmp);
    return 0;
}

int metrics_classification(const int32_t *pred, const int32_t *gold, size_t n, int k,
                           metrics_t *out)
{
    int rc;

    memset(out, 0, sizeof *out);
    if (n == 0)
        return err_set(ERR_INVAL, "no examples to evaluate");
    if ((rc = metrics_mcc(pred, gold, n, k, &out->value[METRIC_MCC])) != 0)
        return rc;
    out->value[METRIC_ACCURACY] = metrics_accuracy(pred, gold, n);
    out->computed = METRIC_BIT(METRIC_ACCURACY) | METRIC_BIT(METRIC_MCC);
    if (k == 2) {
        out->value[METRIC_F1] = metrics_f1(pred, gold, n);
        out->computed |= METRIC_BIT(METRIC_F1);
    }
    return 0;
}

int metrics_regression(const float *pred, const float *gold, size_t n, metrics_t *out)
{
    int rc;

    memset(out, 0, sizeof *out);
    if (n == 0)
        return err_set(ERR_INVAL, "no examples to evaluate");
    for (size_t i = 0; i < n; i++)
        if (!isfinite(pred[i]) || !isfinite(gold[i]))
            return err_set(ERR_NUMERIC, "regression %s %zu is not finite",
                           isfinite(pred[i]) ? "target" : "prediction", i);
    out->value[METRIC_PEARSON] = metrics_pearson(pred, gold, n);
    if ((rc = metrics_spearman(pred, gold, n, &out->value[METRIC_SPEARMAN])) != 0)
        return rc;
    out->computed = METRIC_BIT(METRIC_PEARSON) | METRIC_BIT(METRIC_SPEARMAN);
    return 0;
}
