/* Tests of worker/inputs/metrics.c against scikit-learn / scipy values
 * (tests/reference/metrics_cases.json, from metrics_reference.py). */
#include <jansson.h>

#include "tests/harness.h"
#include "worker/inputs/metrics.h"

static json_t *load_cases(void)
{
    char path[1024];
    json_error_t jerr;
    json_t *root = json_load_file(harness_src_path("tests/reference/metrics_cases.json", path,
                                                   sizeof path), 0, &jerr);

    if (!root)
        FAIL("cannot read %s: %s", path, jerr.text);
    return root;
}

static int32_t *ints(json_t *a)
{
    int32_t *v = malloc((json_array_size(a) + 1) * sizeof *v);
    for (size_t i = 0; i < json_array_size(a); i++)
        v[i] = (int32_t)json_integer_value(json_array_get(a, i));
    return v;
}

static float *floats(json_t *a)
{
    float *v = malloc((json_array_size(a) + 1) * sizeof *v);
    for (size_t i = 0; i < json_array_size(a); i++) {
        uint32_t u = (uint32_t)json_integer_value(json_array_get(a, i));
        memcpy(&v[i], &u, 4);
    }
    return v;
}

/* scipy's NaN (null) for a constant side is 0 here, by the rule in metrics.h. */
static double expected(json_t *c, const char *key)
{
    json_t *v = json_object_get(c, key);
    return json_is_null(v) ? 0.0 : json_real_value(v) + (double)json_integer_value(v);
}

TEST(match_sklearn_and_scipy)
{
    json_t *root = load_cases(), *c;
    size_t i;
    int ncls = 0, nreg = 0;

    json_array_foreach(json_object_get(root, "cases"), i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        metrics_t m;

        if (strcmp(json_string_value(json_object_get(c, "kind")), "classification") == 0) {
            json_t *p = json_object_get(c, "pred");
            int32_t *pred = ints(p), *gold = ints(json_object_get(c, "gold"));
            int k = (int)json_integer_value(json_object_get(c, "k"));

            ASSERT_OK(metrics_classification(pred, gold, json_array_size(p), k, &m));
            printf("%s: acc %.6f mcc %.6f\n", name, m.value[METRIC_ACCURACY],
                   m.value[METRIC_MCC]);
            ASSERT_NEAR(m.value[METRIC_ACCURACY], expected(c, "accuracy"), 1e-12);
            ASSERT_NEAR(m.value[METRIC_MCC], expected(c, "mcc"), 1e-12);
            if (k == 2) {
                ASSERT_TRUE(m.computed & METRIC_BIT(METRIC_F1));
                ASSERT_NEAR(m.value[METRIC_F1], expected(c, "f1"), 1e-12);
            } else {
                ASSERT_FALSE(m.computed & METRIC_BIT(METRIC_F1));
            }
            free(pred);
            free(gold);
            ncls++;
        } else {
            json_t *p = json_object_get(c, "pred_bits");
            float *pred = floats(p), *gold = floats(json_object_get(c, "gold_bits"));

            ASSERT_OK(metrics_regression(pred, gold, json_array_size(p), &m));
            printf("%s: pearson %.6f spearman %.6f\n", name, m.value[METRIC_PEARSON],
                   m.value[METRIC_SPEARMAN]);
            ASSERT_NEAR(m.value[METRIC_PEARSON], expected(c, "pearson"), 1e-9);
            ASSERT_NEAR(m.value[METRIC_SPEARMAN], expected(c, "spearman"), 1e-9);
            free(pred);
            free(gold);
            nreg++;
        }
    }
    ASSERT_GE(ncls, 6);
    ASSERT_GE(nreg, 4);
    json_decref(root);
}

TEST(bad_inputs_and_names)
{
    int32_t p[3] = {0, 1, 2}, g[3] = {0, 1, 1};
    float x[2] = {1, NAN}, y[2] = {1, 2};
    metrics_t m;
    metric_t id;
    double v;

    ASSERT_ERR(metrics_classification(p, g, 3, 2, &m), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "outside");
    ASSERT_ERR(metrics_classification(p, g, 0, 2, &m), ERR_INVAL);
    ASSERT_ERR(metrics_regression(x, y, 2, &m), ERR_NUMERIC);
    ASSERT_ERR(metrics_spearman(x, y, 2, &v), ERR_NUMERIC);
    ASSERT_OK(metrics_parse("matthews_correlation", &id));
    ASSERT_EQ(id, METRIC_MCC);
    ASSERT_OK(metrics_parse("spearman", &id));
    ASSERT_EQ(id, METRIC_SPEARMAN);
    ASSERT_ERR(metrics_parse("auc", &id), ERR_INVAL);
    ASSERT_STR_EQ(metrics_name(METRIC_F1), "f1");
    ASSERT_TRUE(metrics_name(METRIC__COUNT) == NULL);
    /* A three-class MCC from hand counts: perfect is 1. */
    ASSERT_OK(metrics_mcc(p, p, 3, 3, &v));
    ASSERT_NEAR(v, 1.0, 1e-15);
}
