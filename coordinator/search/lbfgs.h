/* Limited-memory BFGS minimisation of a smooth function with a strong-Wolfe line search
 * (Nocedal and Wright, Numerical Optimization, algorithms 7.4, 3.5 and 3.6).
 *
 * The objective may refuse a point (return non-zero or a non-finite value): the line search
 * then treats it as +infinity and shortens the step, so box constraints and numerical failures
 * (a kernel matrix that cannot be factorised) are handled without special cases. */
#ifndef AUTOPEFT_LBFGS_H
#define AUTOPEFT_LBFGS_H

/* f(x) into *f and its gradient into g (n values); 0, or non-zero to refuse x. */
typedef int (*lbfgs_fn)(void *ctx, const double *x, double *f, double *g);

typedef struct {
    int history;     /* correction pairs kept (m); default 10 */
    int max_iter;    /* iterations; default 200 */
    int max_evals;   /* function evaluations, line searches included; default 1000 */
    double gtol;     /* stop when max |g_i| <= gtol; default 1e-5 */
    double ftol;     /* stop when an iteration lowers f by <= ftol * max(|f|, 1); default 1e-10 */
} lbfgs_opts_t;

typedef enum {
    LBFGS_CONVERGED_GRAD = 0,
    LBFGS_CONVERGED_F,
    LBFGS_MAX_ITER,
    LBFGS_MAX_EVALS,
    LBFGS_LINE_SEARCH    /* no acceptable step: usually the optimum within rounding */
} lbfgs_stop_t;

typedef struct {
    double f;
    int iters, evals;
    lbfgs_stop_t stop;
} lbfgs_result_t;

void lbfgs_opts_default(lbfgs_opts_t *o);
/* Minimises from x (n values, replaced by the best point found). ERR_INVAL for bad options;
 * ERR_NUMERIC when the starting point itself is refused. */
int lbfgs_minimize(int n, double *x, lbfgs_fn fn, void *ctx, const lbfgs_opts_t *o,
                   lbfgs_result_t *res);

#endif
