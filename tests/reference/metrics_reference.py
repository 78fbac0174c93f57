#!/usr/bin/python3
"""Reference values for worker/inputs/metrics.c from scikit-learn and scipy, the libraries GLUE's
evaluation (and Hugging Face's glue metric) call: accuracy, f1_score, matthews_corrcoef,
scipy.stats.pearsonr and spearmanr. Writes metrics_cases.json next to this script.

Degenerate cases (a constant side) are included with scipy's answer (NaN, written as null);
metrics.c documents that it returns 0 there, and the C test checks that rule."""
import json
import os
import warnings

import numpy as np
import scipy
import sklearn
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

HERE = os.path.dirname(os.path.abspath(__file__))


def cls_case(name, pred, gold, k):
    pred, gold = np.asarray(pred), np.asarray(gold)
    case = {"name": name, "kind": "classification", "k": k, "pred": pred.tolist(),
            "gold": gold.tolist(), "accuracy": float(accuracy_score(gold, pred)),
            "mcc": float(matthews_corrcoef(gold, pred))}
    if k == 2:
        case["f1"] = float(f1_score(gold, pred, zero_division=0))
    return case


def reg_case(name, pred, gold):
    pred = np.asarray(pred, dtype=np.float32)
    gold = np.asarray(gold, dtype=np.float32)
    p64, g64 = pred.astype(np.float64), gold.astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pr = float(pearsonr(p64, g64)[0])
        sr = float(spearmanr(p64, g64)[0])
    return {"name": name, "kind": "regression",
            "pred_bits": pred.view(np.uint32).tolist(), "gold_bits": gold.view(np.uint32).tolist(),
            "pearson": None if np.isnan(pr) else pr, "spearman": None if np.isnan(sr) else sr}


def main():
    rng = np.random.default_rng(20230128)
    cases = []
    gold = rng.integers(0, 2, 500)
    noisy = np.where(rng.random(500) < 0.8, gold, 1 - gold)
    cases.append(cls_case("binary_80pct", noisy, gold, 2))
    cases.append(cls_case("binary_imbalanced", (rng.random(300) < 0.1).astype(int),
                          (rng.random(300) < 0.3).astype(int), 2))
    cases.append(cls_case("binary_perfect", gold[:50], gold[:50], 2))
    cases.append(cls_case("binary_inverted", 1 - gold[:50], gold[:50], 2))
    cases.append(cls_case("binary_constant_prediction", np.zeros(40, int), gold[:40], 2))
    cases.append(cls_case("binary_no_positive", np.zeros(10, int), np.zeros(10, int), 2))
    g3 = rng.integers(0, 3, 400)
    p3 = np.where(rng.random(400) < 0.6, g3, rng.integers(0, 3, 400))
    cases.append(cls_case("three_class", p3, g3, 3))
    cases.append(cls_case("single_example", [1], [1], 2))
    x = rng.normal(size=300)
    cases.append(reg_case("regression_noisy", x + rng.normal(scale=0.7, size=300), x))
    # STS-B-like: scores on a 0.2 grid, many ties on both sides.
    s = np.round(rng.uniform(0, 5, 250) * 5) / 5
    cases.append(reg_case("regression_ties", np.round((s + rng.normal(scale=1, size=250)) * 2) / 2,
                          s))
    cases.append(reg_case("regression_anticorrelated", -x[:100] * 3 + 1, x[:100]))
    cases.append(reg_case("regression_constant_prediction", np.full(20, 2.5), x[:20]))
    cases.append(reg_case("regression_two_points", [1.0, 2.0], [3.0, 5.0]))
    with open(os.path.join(HERE, "metrics_cases.json"), "w") as f:
        json.dump({"generator": "metrics_reference.py",
                   "versions": {"numpy": np.__version__, "scipy": scipy.__version__,
                                "sklearn": sklearn.__version__},
                   "cases": cases}, f)
        f.write("\n")
    print("metrics_reference: wrote metrics_cases.json (%d cases)" % len(cases))


if __name__ == "__main__":
    main()
