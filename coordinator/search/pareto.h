/* Pareto fronts and exact hypervolume for two objectives, both maximised.
 *
 * Points are (f0, f1) pairs stored row-major (n x 2). The search maximises (task metric,
 * -parameter %), so a front point is a configuration that no other beats on both.
 *
 * Reference point rule (pareto_ref_point, used when the user gives none): over the Pareto
 * front of the points, nadir - frac * (ideal - nadir) per objective, with frac = 0.1 by default
 * (the rule of BoTorch's infer_reference_point); an objective whose front has no spread gets
 * nadir - frac * max(|nadir|, 1). The strategy overrides the cost objective's coordinate with
 * the exact cost of the most expensive configuration of the space (docs/search.md). */
#ifndef AUTOPEFT_PARETO_H
#define AUTOPEFT_PARETO_H

#include <stdbool.h>

#define PARETO_REF_FRAC 0.1

/* keep[i] = true for the points no other point dominates (>= on both, > on one); of several
 * equal points only the first is kept. Returns the number kept. O(n log n). ERR_NOMEM < 0. */
int pareto_front(const double *pts, int n, bool *keep);

/* The front of the points strictly better than ref on both objectives, as a staircase: out
 * (at most n x 2) sorted by f0 ascending, hence f1 descending. Returns its size, or < 0. */
int pareto_staircase(const double *pts, int n, const double ref[2], double *out);

/* Hypervolume dominated by the points and bounded below by ref. O(n log n); 0 for n = 0,
 * < 0 only on allocation failure. */
double pareto_hv(const double *pts, int n, const double ref[2]);

/* Hypervolume of a staircase (from pareto_staircase), O(m). */
double pareto_hv_staircase(const double *front, int m, const double ref[2]);

/* Hypervolume improvement of point p over a staircase: hv(front + p) - hv(front), O(m). */
double pareto_hvi(const double *front, int m, const double ref[2], const double p[2]);

/* The reference point rule above. n >= 1. */
void pareto_ref_point(const double *pts, int n, double frac, double ref[2]);

#endif
