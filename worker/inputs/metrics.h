/* Evaluation metrics as GLUE reports them (the formulas of scikit-learn and scipy, which GLUE's
 * evaluation script and Hugging Face's glue metric call), computed in double precision.
 *
 * Degenerate inputs have defined, finite values so that a search objective is never NaN:
 * MCC is 0 when a row or column of the confusion matrix is empty (scikit-learn's choice); F1 is 0
 * with no true and no predicted positives (scikit-learn's zero_division default, without its
 * warning); Pearson and Spearman are 0 when either side is constant (scipy returns NaN there:
 * a constant prediction carries no correlation, and 0 keeps the optimiser sane). */
#ifndef AUTOPEFT_METRICS_H
#define AUTOPEFT_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    METRIC_ACCURACY = 0,
    METRIC_F1,        /* binary, positive class 1 */
    METRIC_MCC,       /* Matthews correlation (multi-class form, as scikit-learn) */
    METRIC_PEARSON,
    METRIC_SPEARMAN,  /* Pearson of the ranks, ties given their average rank */
    METRIC__COUNT
} metric_t;

#define METRIC_BIT(m) (1u << (m))

typedef struct {
    double value[METRIC__COUNT];
    unsigned computed;   /* METRIC_BIT of each value filled in */
} metrics_t;

/* "accuracy", "f1", "mcc", "pearson", "spearman"; NULL out of range. */
const char *metrics_name(metric_t m);
/* Parses those names (and "matthews_correlation", "spearmanr"); ERR_INVAL listing them. */
int metrics_parse(const char *name, metric_t *out);

double metrics_accuracy(const int32_t *pred, const int32_t *gold, size_t n);
/* Binary F1 of class 1 (labels other than 1 count as negative). */
double metrics_f1(const int32_t *pred, const int32_t *gold, size_t n);
/* Labels in [0, k); ERR_INVAL (returned through *out untouched) otherwise. */
int metrics_mcc(const int32_t *pred, const int32_t *gold, size_t n, int k, double *out);
double metrics_pearson(const float *x, const float *y, size_t n);
int metrics_spearman(const float *x, const float *y, size_t n, double *out);

/* Classification: accuracy and MCC always, F1 too when k == 2. n >= 1. */
int metrics_classification(const int32_t *pred, const int32_t *gold, size_t n, int k,
                           metrics_t *out);
/* Regression: Pearson and Spearman. n >= 1; non-finite inputs are ERR_NUMERIC. */
int metrics_regression(const float *pred, const float *gold, size_t n, metrics_t *out);

#endif
