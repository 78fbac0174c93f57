#!/usr/bin/python3
"""Times scikit-learn's GaussianProcessRegressor fit for `autopeft-bench suggest`.

Usage: gp_sklearn_fit.py DATA REPS
DATA is the benchmark's text file: a line "n d", then n lines of d inputs and the target.
Prints one line per repetition: "fit_s SECONDS lml LOG_MARGINAL_LIKELIHOOD".

The model is the usual ARD setup: ConstantKernel * Matern(nu=2.5, one lengthscale per input)
+ WhiteKernel, normalize_y=True, n_restarts_optimizer=5 (six L-BFGS-B runs), one thread
(the benchmark sets OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=1).
"""
import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel


def main():
    path, reps = sys.argv[1], int(sys.argv[2])
    with open(path) as f:
        n, d = (int(t) for t in f.readline().split())
        data = np.loadtxt(f).reshape(n, d + 1)
    x, y = data[:, :d], data[:, d]
    warnings.simplefilter("ignore", ConvergenceWarning)
    for rep in range(reps):
        kernel = ConstantKernel(1.0) * Matern(length_scale=np.ones(d), nu=2.5) + WhiteKernel(1e-2)
        gpr = GaussianProcessRegressor(kernel=kernel, n_restarts_optimizer=5, normalize_y=True,
                                       random_state=rep)
        t0 = time.perf_counter()
        gpr.fit(x, y)
        t1 = time.perf_counter()
        print("fit_s %.6f lml %.6f" % (t1 - t0, gpr.log_marginal_likelihood_value_), flush=True)


if __name__ == "__main__":
    main()
