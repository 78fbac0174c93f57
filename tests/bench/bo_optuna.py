#!/usr/bin/python3
"""Optuna baselines for `autopeft-bench bo` (tests/bench/bench_bo.c).

Usage: bo_optuna.py PROBLEM.json SAMPLER SEED TRIALS
  SAMPLER: nsga2 (NSGAIISampler) or tpe (TPESampler(multivariate=True), i.e. MOTPE)

PROBLEM.json is written by the benchmark: the synthetic problem's layer values, adjacency bonus,
size ladder and the exact parameter-% table by (size levels, layer count) (tests/bench/synth.h
documents the formula). Each trial suggests the three size levels (integers, 0 = largest,
last = off) and one bit per layer; configurations outside the space (no module or no layer on)
are told as pruned and asked again, not counted. The study maximises the noisy metric and
minimises the parameter %.

Prints one line per completed trial:
  trial I LEV_SA LEV_PA LEV_PT BITS METRIC_TRUE METRIC_OBSERVED PERCENT
(BITS: layer 0 first). The benchmark recomputes METRIC_TRUE and PERCENT from the
configuration with its own C code and stops on any difference, so both sides provably evaluate
the same problem.
"""
import json
import math
import sys

import numpy as np
import warnings

import optuna
from optuna.trial import TrialState


def metric(p, lev, bits):
    hidden = p["hidden"]
    c = [math.log2(1.0 + p["sizes"][l]) / math.log2(1.0 + hidden) for l in lev]
    a = 1.0 - (1.0 - 0.9 * c[0]) * (1.0 - 0.75 * c[1])
    q = 1.0 - (1.0 - a) * (1.0 - 0.55 * c[2])
    u, prev = 0.0, 0
    for layer, b in enumerate(bits):
        u += b * p["v"][layer] + (p["gamma"] if (b and prev) else 0.0)
        prev = b
    e = q * (u / p["umax"]) ** 0.6
    over = c[0] + c[1] + c[2] - 1.6
    pen = 0.04 * over * over if over > 0.0 else 0.0
    return 0.55 + 0.35 * (1.0 - math.exp(-3.0 * e)) / (1.0 - math.exp(-3.0)) - pen


def main():
    path, sampler_name, seed, trials = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    with open(path) as f:
        p = json.load(f)
    layers, nlev = p["layers"], p["nlev"]
    pct = np.array(p["pct"]).reshape(nlev, nlev, nlev, layers + 1)
    # multivariate TPE is marked experimental in Optuna 3.1: say so once here, not per run.
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if sampler_name == "nsga2":
        sampler = optuna.samplers.NSGAIISampler(seed=seed)
    elif sampler_name == "tpe":
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True)
    else:
        raise SystemExit("unknown sampler " + sampler_name)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    noise = np.random.default_rng(seed)
    done = 0
    while done < trials:
        t = study.ask()
        lev = [t.suggest_int(m, 0, nlev - 1) for m in ("sa", "pa", "pt")]
        bits = [t.suggest_int("l%d" % i, 0, 1) for i in range(layers)]
        if all(l == nlev - 1 for l in lev) or not any(bits):
            study.tell(t, state=TrialState.PRUNED)
            continue
        f_true = metric(p, lev, bits)
        y = f_true + p["noise_sd"] * noise.standard_normal()
        cost = float(pct[lev[0], lev[1], lev[2], sum(bits)])
        study.tell(t, [y, cost])
        print("trial %d %d %d %d %s %.17g %.17g %.17g" % (
            done, lev[0], lev[1], lev[2], "".join(str(b) for b in bits), f_true, y, cost),
            flush=True)
        done += 1


if __name__ == "__main__":
    main()
